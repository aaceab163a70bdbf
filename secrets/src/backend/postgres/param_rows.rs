//! Reading, checking and sealing the heads of a PostgreSQL store's parameters
//! ([`crate::store::param_seal`]), as on SQLite.

use std::collections::BTreeSet;
use std::sync::Arc;

use coffer_core::MacKey;
use tokio_postgres::{GenericClient, Row, Transaction};
use zeroize::Zeroizing;

use super::PgStore;
use super::audit::{Pending, append};
use crate::error::Error;
use crate::params::row_keys::{Pinned, remac};
use crate::params::{ParamPath, ParamResult, RowKeys};
use crate::store::audit_signer::AuditSigner;
use crate::store::param_seal::{
    self, CHANGE_VERBS_SQL, ParamHead, RawHead, VersionFields, head_mac, other_name, version_mac,
};
use crate::store::rows::{RawVersion, range, version_fields};

/// The columns of a version, as `v` (`param_versions`), and its MAC. Its labels (`NULL`
/// here) are taken from its parameter's checked head.
pub(super) const COLUMNS: &str =
    "v.name, v.version, v.type, v.value, v.key_ref, v.description, v.tags,
    v.created_at, v.author, v.expires_at, v.destroyed_at,
    NULL::text, v.mac";

pub(super) fn raw_version(r: &Row) -> Result<RawVersion, tokio_postgres::Error> {
    raw_version_at(r, 0)
}

/// The `COLUMNS` of a row, starting at column `at` (a column of another type, as a
/// database owner may make it, is an error, not a panic).
pub(super) fn raw_version_at(r: &Row, at: usize) -> Result<RawVersion, tokio_postgres::Error> {
    Ok(RawVersion {
        name: r.try_get(at)?,
        version: r.try_get(at + 1)?,
        param_type: r.try_get(at + 2)?,
        value: r.try_get::<_, Option<Vec<u8>>>(at + 3)?.map(Zeroizing::new),
        key_ref: r.try_get(at + 4)?,
        description: r.try_get(at + 5)?,
        tags: r.try_get(at + 6)?,
        created_at: r.try_get(at + 7)?,
        author: r.try_get(at + 8)?,
        expires_at: r.try_get(at + 9)?,
        destroyed_at: r.try_get(at + 10)?,
        labels: r.try_get(at + 11)?,
        mac: r.try_get(at + 12)?,
    })
}

/// The columns of a head, over `params p`. The audit log's `name` has the database's
/// collation, the parameters' `"C"`: compared in the log's, so that its index finds a
/// parameter's last change (in `"C"` it scanned the log's changes once per parameter: `ls -r`
/// of 10,000 took 3.7 s instead of 40 ms).
pub(super) fn head_columns() -> String {
    format!(
        "p.name, p.latest, p.created_at, p.deleted_at, p.seal_seq, p.mac, p.parent, p.born,
         (SELECT string_agg(l.label || '=' || l.version::text, ',') FROM param_labels l
           WHERE l.name = p.name),
         (SELECT string_agg(d.version::text, ',') FROM param_versions d
           WHERE d.name = p.name AND d.destroyed_at IS NOT NULL),
         (SELECT max(a.seq) FROM audit a
           WHERE a.name = p.name COLLATE \"default\" AND a.{CHANGE_VERBS_SQL})"
    )
}

/// The number of [`head_columns`].
pub(super) const HEAD_WIDTH: usize = 11;

/// The [`head_columns`] of a row, starting at column `at` (a column of another type is an
/// error, not a panic).
pub(super) fn raw_head_at(r: &Row, at: usize) -> Result<RawHead, tokio_postgres::Error> {
    Ok(RawHead {
        name: r.try_get(at)?,
        latest: r.try_get(at + 1)?,
        created_at: r.try_get(at + 2)?,
        deleted_at: r.try_get(at + 3)?,
        seal_seq: r.try_get(at + 4)?,
        mac: r.try_get(at + 5)?,
        parent: r.try_get(at + 6)?,
        born: r.try_get(at + 7)?,
        labels: r.try_get(at + 8)?,
        destroyed: r.try_get(at + 9)?,
        last_change: r.try_get(at + 10)?,
    })
}

impl PgStore {
    /// The row keys the store was last given ([`RowKeys`]).
    pub(super) fn row_keys(&self) -> ParamResult<Arc<RowKeys>> {
        self.row_keys.get(&self.location)
    }

    /// In a write transaction: the row keys, after checking that the policies they were
    /// made from are the ones `tx` reads (see the SQLite store's).
    ///
    /// # Errors
    /// The policies changed ([`crate::params::row_keys::policies_moved`]). The keys stay
    /// pinned for the write until the guard returned is dropped.
    pub(super) async fn row_keys_in(&self, tx: &Transaction<'_>) -> ParamResult<Pinned<'_>> {
        let keys = self.row_keys.get(&self.location)?;
        if self.policies_in(tx).await? != *keys.policies() {
            return Err(crate::params::row_keys::policies_moved(&self.location));
        }
        Ok(self.row_keys.pin(keys))
    }

    /// `f` with the MAC key of the rows of `name` ([`RowKeys::mac_key`]).
    fn with_mac_key<T>(&self, name: &str, f: impl FnOnce(&MacKey) -> T) -> ParamResult<T> {
        let signer = self.signer()?;
        let keys = self.row_keys()?;
        Ok(f(keys.mac_key(
            name,
            signer.key().params(),
            &self.location,
        )?))
    }

    /// Checks a head as read (the store's keys must be open).
    pub(super) fn checked_head(&self, raw: RawHead) -> ParamResult<ParamHead> {
        let name = raw.name.clone();
        self.with_mac_key(&name, |key| {
            param_seal::check_head(key, &self.location, raw)
        })?
    }

    /// Checks a version row of the parameter whose checked head is `head`.
    pub(super) fn checked_version(&self, head: &ParamHead, raw: &RawVersion) -> ParamResult<u32> {
        self.with_mac_key(&head.name, |key| {
            crate::store::rows::check_version(key, &self.location, head, raw)
        })?
    }

    /// The checked head of `name`, if it has a row.
    pub(super) async fn head_in(
        &self,
        tx: &impl GenericClient,
        name: &str,
    ) -> ParamResult<Option<ParamHead>> {
        let row = tx
            .query_opt(
                &format!("SELECT {} FROM params p WHERE p.name = $1", head_columns()),
                &[&name],
            )
            .await
            .map_err(self.perr())?;
        row.map(|r| {
            let raw = raw_head_at(&r, 0).map_err(self.perr())?;
            if raw.name != name {
                return Err(other_name(&self.location, name, &raw.name));
            }
            self.checked_head(raw)
        })
        .transpose()
    }

    /// Writes `head` (the checked one, with a change applied) tied to audit entry `seq`.
    pub(super) async fn write_head(
        &self,
        tx: &Transaction<'_>,
        head: &ParamHead,
        seq: i64,
    ) -> ParamResult<()> {
        let mac = self.with_mac_key(&head.name, |key| head_mac(key, head, seq))?;
        tx.execute(
            "UPDATE params SET latest = $2, created_at = $3, deleted_at = $4, seal_seq = $5,
                    mac = $6, born = $7
             WHERE name = $1",
            &[
                &head.name,
                &i64::from(head.latest),
                &head.created_at,
                &head.deleted_at,
                &seq,
                &&mac[..],
                &head.born,
            ],
        )
        .await
        .map_err(self.perr())?;
        Ok(())
    }

    /// The MAC of a version row.
    pub(super) fn mac_of(&self, fields: &VersionFields<'_>) -> ParamResult<Vec<u8>> {
        self.with_mac_key(fields.name, |key| version_mac(key, fields).to_vec())
    }

    /// In a write transaction that changes which key MACs some names' rows: MACs them anew
    /// (see the SQLite store's).
    ///
    /// # Errors
    /// A row fails its check; a key is one whose root this home lacks.
    pub(super) async fn remac_moved(
        &self,
        tx: &Transaction<'_>,
        before: &RowKeys,
        after: &RowKeys,
        paths: &[String],
    ) -> ParamResult<()> {
        let err = self.perr();
        let signer = self.signer()?;
        let store_key = signer.key().params();
        let mut done = BTreeSet::new();
        for path in paths {
            let path = ParamPath::parse(path).map_err(|_| {
                Error::corrupt(format!(
                    "a path of the policies of {} is not valid",
                    self.location
                ))
            })?;
            let (lo, hi) = range(&path);
            let heads = tx
                .query(
                    &format!(
                        "SELECT {} FROM params p WHERE p.name = $1 OR (p.name > $2 AND p.name < $3)
                         ORDER BY p.name",
                        head_columns()
                    ),
                    &[&path.as_str(), &lo, &hi],
                )
                .await
                .map_err(&err)?;
            for h in &heads {
                let raw = raw_head_at(h, 0).map_err(&err)?;
                let name = raw.name.clone();
                if before.governor(&name).key_name() == after.governor(&name).key_name()
                    || !done.insert(name.clone())
                {
                    continue;
                }
                let old = before.mac_key(&name, store_key, &self.location)?;
                let new = after.mac_key(&name, store_key, &self.location)?;
                let versions = tx
                    .query(
                        &format!("SELECT {COLUMNS} FROM param_versions v WHERE v.name = $1"),
                        &[&name],
                    )
                    .await
                    .map_err(&err)?
                    .iter()
                    .map(raw_version)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(&err)?;
                let moved = remac(old, new, &self.location, raw, &versions)?;
                for (version, mac) in &moved.versions {
                    tx.execute(
                        "UPDATE param_versions SET mac = $3 WHERE name = $1 AND version = $2",
                        &[&name, &i64::from(*version), &&mac[..]],
                    )
                    .await
                    .map_err(&err)?;
                }
                tx.execute(
                    "UPDATE params SET mac = $2 WHERE name = $1",
                    &[&name, &&moved.head_mac[..]],
                )
                .await
                .map_err(&err)?;
            }
        }
        Ok(())
    }

    /// In a write transaction: seals every parameter as its rows are now, after one
    /// [`param_seal::STORE_SEAL_VERB`] entry it is tied to (see the SQLite store's).
    pub(super) async fn seal_params(
        &self,
        tx: &Transaction<'_>,
        signer: &Arc<AuditSigner>,
        fresh: bool,
    ) -> Result<Option<Pending>, Error> {
        let err = self.err();
        if fresh {
            let r = tx
                .query_one(
                    "SELECT EXISTS (SELECT 1 FROM params),
                            EXISTS (SELECT 1 FROM params WHERE mac IS NOT NULL
                                    OR seal_seq IS NOT NULL)
                            OR EXISTS (SELECT 1 FROM param_versions WHERE mac IS NOT NULL)
                            OR EXISTS (SELECT 1 FROM policies)
                            OR EXISTS (SELECT 1 FROM policy_seal)
                            OR EXISTS (SELECT 1 FROM meta WHERE key = 'audit_policies')",
                    &[],
                )
                .await
                .map_err(&err)?;
            let (any, sealed): (bool, bool) =
                (r.try_get(0).map_err(&err)?, r.try_get(1).map_err(&err)?);
            if sealed {
                return Err(param_seal::keyed_before(&self.location));
            }
            if !any {
                return Ok(None);
            }
        }
        let marker = append(
            tx,
            signer.clone(),
            param_seal::STORE_SEAL_VERB,
            param_seal::STORE_SEAL_NAME,
            param_seal::STORE_SEAL_DETAIL,
            &err,
        )
        .await?;
        let seq = marker.seq();
        let key = signer.key().params();
        let heads = tx
            .query(
                "SELECT name, latest, created_at, deleted_at FROM params",
                &[],
            )
            .await
            .map_err(&err)?;
        for h in heads {
            let name: String = h.try_get(0).map_err(&err)?;
            let bad = |what: &str| param_seal::tampered(&self.location, &name, what);
            let latest: i64 = h.try_get(1).map_err(&err)?;
            let mut head = ParamHead::new(&name, h.try_get(2).map_err(&err)?, seq);
            head.latest = u32::try_from(latest).map_err(|_| bad("bad latest version"))?;
            head.deleted_at = h.try_get(3).map_err(&err)?;
            for l in tx
                .query(
                    "SELECT label, version FROM param_labels WHERE name = $1",
                    &[&name],
                )
                .await
                .map_err(&err)?
            {
                let version: i64 = l.try_get(1).map_err(&err)?;
                let version = u32::try_from(version).map_err(|_| bad("bad label version"))?;
                head.labels.insert(l.try_get(0).map_err(&err)?, version);
            }
            for row in tx
                .query(
                    &format!("SELECT {COLUMNS} FROM param_versions v WHERE v.name = $1"),
                    &[&name],
                )
                .await
                .map_err(&err)?
            {
                let v = raw_version(&row).map_err(&err)?;
                let version = u32::try_from(v.version).map_err(|_| bad("bad version number"))?;
                if v.destroyed_at.is_some() {
                    head.destroyed.insert(version);
                }
                let mac = version_mac(key, &version_fields(&v, version, head.born));
                tx.execute(
                    "UPDATE param_versions SET mac = $3 WHERE name = $1 AND version = $2",
                    &[&name, &i64::from(version), &&mac[..]],
                )
                .await
                .map_err(&err)?;
            }
            let mac = head_mac(key, &head, seq);
            tx.execute(
                "UPDATE params SET born = $2, seal_seq = $2, mac = $3 WHERE name = $1",
                &[&name, &seq, &&mac[..]],
            )
            .await
            .map_err(&err)?;
        }
        Ok(Some(marker))
    }
}
