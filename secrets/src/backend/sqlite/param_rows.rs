//! Reading, checking and sealing the heads of the SQLite store's parameters
//! ([`crate::store::param_seal`]).

use std::collections::BTreeSet;
use std::sync::Arc;

use coffer_core::MacKey;
use rusqlite::{Connection, OptionalExtension as _, params};
use zeroize::Zeroizing;

use super::{SqliteParamStore, Store, audit, db_error};
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
    NULL, v.mac";

pub(super) fn raw_version(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawVersion> {
    raw_version_at(r, 0)
}

/// The [`COLUMNS`] of a row, starting at column `at`.
pub(super) fn raw_version_at(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<RawVersion> {
    Ok(RawVersion {
        name: r.get(at)?,
        version: r.get(at + 1)?,
        param_type: r.get(at + 2)?,
        value: r.get::<_, Option<Vec<u8>>>(at + 3)?.map(Zeroizing::new),
        key_ref: r.get(at + 4)?,
        description: r.get(at + 5)?,
        tags: r.get(at + 6)?,
        created_at: r.get(at + 7)?,
        author: r.get(at + 8)?,
        expires_at: r.get(at + 9)?,
        destroyed_at: r.get(at + 10)?,
        labels: r.get(at + 11)?,
        mac: r.get(at + 12)?,
    })
}

/// The columns of a head, over `params p`.
pub(super) fn head_columns() -> String {
    format!(
        "p.name, p.latest, p.created_at, p.deleted_at, p.seal_seq, p.mac, p.parent, p.born,
         (SELECT group_concat(l.label || '=' || l.version, ',') FROM param_labels l
           WHERE l.name = p.name),
         (SELECT group_concat(d.version, ',') FROM param_versions d
           WHERE d.name = p.name AND d.destroyed_at IS NOT NULL),
         (SELECT max(a.seq) FROM audit a WHERE a.name = p.name AND a.{CHANGE_VERBS_SQL})"
    )
}

/// The number of [`head_columns`].
pub(super) const HEAD_WIDTH: usize = 11;

/// The [`head_columns`] of a row, starting at column `at`.
pub(super) fn raw_head_at(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<RawHead> {
    Ok(RawHead {
        name: r.get(at)?,
        latest: r.get(at + 1)?,
        created_at: r.get(at + 2)?,
        deleted_at: r.get(at + 3)?,
        seal_seq: r.get(at + 4)?,
        mac: r.get(at + 5)?,
        parent: r.get(at + 6)?,
        born: r.get(at + 7)?,
        labels: r.get(at + 8)?,
        destroyed: r.get(at + 9)?,
        last_change: r.get(at + 10)?,
    })
}

impl SqliteParamStore {
    /// The key of the parameter rows' MACs: the store's keys must be open.
    pub(super) fn row_key(&self) -> ParamResult<Arc<AuditSigner>> {
        self.store.signer()
    }

    /// The row keys the store was last given ([`RowKeys`]).
    pub(super) fn row_keys(&self) -> ParamResult<Arc<RowKeys>> {
        self.row_keys.get(&self.location_text())
    }

    /// In a write transaction: the row keys, after checking that the policies they were
    /// made from are the ones `tx` reads (a write after a policy change of another process
    /// would seal rows under a key that is no longer theirs).
    ///
    /// # Errors
    /// The policies changed ([`crate::params::row_keys::policies_moved`]). The keys stay
    /// pinned for the write until the guard returned is dropped.
    pub(super) fn row_keys_in(&self, tx: &Connection) -> ParamResult<Pinned<'_>> {
        let keys = self.row_keys.get(&self.location_text())?;
        if self.policies_in(tx)? != *keys.policies() {
            return Err(crate::params::row_keys::policies_moved(
                &self.location_text(),
            ));
        }
        Ok(self.row_keys.pin(keys))
    }

    /// `f` with the MAC key of the rows of `name` ([`RowKeys::mac_key`]).
    fn with_mac_key<T>(&self, name: &str, f: impl FnOnce(&MacKey) -> T) -> ParamResult<T> {
        let signer = self.row_key()?;
        let keys = self.row_keys()?;
        Ok(f(keys.mac_key(
            name,
            signer.key().params(),
            &self.location_text(),
        )?))
    }

    /// Checks a head as read.
    pub(super) fn checked_head(&self, raw: RawHead) -> ParamResult<ParamHead> {
        let location = self.location_text();
        let name = raw.name.clone();
        self.with_mac_key(&name, |key| param_seal::check_head(key, &location, raw))?
    }

    /// Checks a version row of the parameter whose checked head is `head`.
    pub(super) fn checked_version(&self, head: &ParamHead, raw: &RawVersion) -> ParamResult<u32> {
        let location = self.location_text();
        self.with_mac_key(&head.name, |key| {
            crate::store::rows::check_version(key, &location, head, raw)
        })?
    }

    pub(super) fn location_text(&self) -> String {
        self.store.path.display().to_string()
    }

    /// The checked head of `name`, if it has a row.
    pub(super) fn head_in(&self, conn: &Connection, name: &str) -> ParamResult<Option<ParamHead>> {
        let raw = conn
            .prepare_cached(&format!(
                "SELECT {} FROM params p WHERE p.name = ?1",
                head_columns()
            ))
            .and_then(|mut st| st.query_row([name], |r| raw_head_at(r, 0)).optional())
            .map_err(self.err())?;
        raw.map(|r| {
            if r.name != name {
                return Err(other_name(&self.location_text(), name, &r.name));
            }
            self.checked_head(r)
        })
        .transpose()
    }

    /// Writes `head` (the checked one, with a change applied) tied to audit entry `seq`:
    /// its columns and its MAC, all from `head`.
    pub(super) fn write_head(
        &self,
        tx: &Connection,
        head: &ParamHead,
        seq: i64,
    ) -> ParamResult<()> {
        let mac = self.with_mac_key(&head.name, |key| head_mac(key, head, seq))?;
        tx.prepare_cached(
            "UPDATE params SET latest = ?2, created_at = ?3, deleted_at = ?4, seal_seq = ?5,
                    mac = ?6, born = ?7
             WHERE name = ?1",
        )
        .and_then(|mut st| {
            st.execute(params![
                head.name,
                head.latest,
                head.created_at,
                head.deleted_at,
                seq,
                &mac[..],
                head.born
            ])
        })
        .map_err(self.err())?;
        Ok(())
    }

    /// The MAC of a version row.
    pub(super) fn mac_of(&self, fields: &VersionFields<'_>) -> ParamResult<Vec<u8>> {
        self.with_mac_key(fields.name, |key| version_mac(key, fields).to_vec())
    }
}

impl SqliteParamStore {
    /// In a write transaction that changes which key MACs some names' rows (from `before`
    /// to `after`): MACs anew the rows of every parameter at or below `paths` whose key it
    /// changes, after checking each under its old key ([`remac`]), each parameter once.
    ///
    /// # Errors
    /// A row fails its check; a key is one whose root this home lacks.
    pub(super) fn remac_moved(
        &self,
        tx: &Connection,
        before: &RowKeys,
        after: &RowKeys,
        paths: &[String],
    ) -> ParamResult<()> {
        let err = self.err();
        let signer = self.row_key()?;
        let store_key = signer.key().params();
        let location = self.location_text();
        let mut done = BTreeSet::new();
        for path in paths {
            let path = ParamPath::parse(path).map_err(|_| {
                Error::corrupt(format!("a path of the policies of {location} is not valid"))
            })?;
            let (lo, hi) = range(&path);
            let heads: Vec<RawHead> = tx
                .prepare_cached(&format!(
                    "SELECT {} FROM params p WHERE p.name = ?1 OR (p.name > ?2 AND p.name < ?3)
                     ORDER BY p.name",
                    head_columns()
                ))
                .and_then(|mut st| {
                    st.query_map(params![path.as_str(), lo, hi], |r| raw_head_at(r, 0))?
                        .collect()
                })
                .map_err(&err)?;
            for raw in heads {
                let name = raw.name.clone();
                if before.governor(&name).key_name() == after.governor(&name).key_name()
                    || !done.insert(name.clone())
                {
                    continue;
                }
                let old = before.mac_key(&name, store_key, &location)?;
                let new = after.mac_key(&name, store_key, &location)?;
                let versions: Vec<RawVersion> = tx
                    .prepare_cached(&format!(
                        "SELECT {COLUMNS} FROM param_versions v WHERE v.name = ?1"
                    ))
                    .and_then(|mut st| st.query_map([&name], raw_version)?.collect())
                    .map_err(&err)?;
                let moved = remac(old, new, &location, raw, &versions)?;
                for (version, mac) in &moved.versions {
                    tx.prepare_cached(
                        "UPDATE param_versions SET mac = ?3 WHERE name = ?1 AND version = ?2",
                    )
                    .and_then(|mut st| st.execute(params![name, version, &mac[..]]))
                    .map_err(&err)?;
                }
                tx.prepare_cached("UPDATE params SET mac = ?2 WHERE name = ?1")
                    .and_then(|mut st| st.execute(params![name, &moved.head_mac[..]]))
                    .map_err(&err)?;
            }
        }
        Ok(())
    }
}

impl Store {
    /// In a write transaction: seals every parameter as its rows are now, after one
    /// [`param_seal::STORE_SEAL_VERB`] entry it is tied to (the upgrade of a store of the
    /// release before). A store keyed now (`fresh`) gets the entry only if it has
    /// parameters: one keyed before has it in any case, so that its older wrapping of the
    /// audit key put back is refused.
    pub(super) fn seal_params(
        &self,
        tx: &Connection,
        signer: &Arc<AuditSigner>,
        fresh: bool,
    ) -> Result<Option<audit::Pending>, Error> {
        let err = |e| db_error(&self.path, e);
        if fresh {
            let (any, sealed): (bool, bool) = tx
                .query_row(
                    "SELECT EXISTS (SELECT 1 FROM params),
                            EXISTS (SELECT 1 FROM params WHERE mac IS NOT NULL
                                    OR seal_seq IS NOT NULL)
                            OR EXISTS (SELECT 1 FROM param_versions WHERE mac IS NOT NULL)
                            OR EXISTS (SELECT 1 FROM policies)
                            OR EXISTS (SELECT 1 FROM policy_seal)
                            OR EXISTS (SELECT 1 FROM meta WHERE key = 'audit_policies')",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .map_err(err)?;
            if sealed {
                return Err(param_seal::keyed_before(&self.path.display().to_string()));
            }
            if !any {
                return Ok(None);
            }
        }
        let marker = audit::append(
            tx,
            signer.clone(),
            param_seal::STORE_SEAL_VERB,
            param_seal::STORE_SEAL_NAME,
            param_seal::STORE_SEAL_DETAIL,
            &err,
        )?;
        let seq = marker.seq();
        let key = signer.key().params();
        let location = self.path.display().to_string();
        let heads: Vec<RawHead> = tx
            .prepare(&format!(
                "SELECT {} FROM params p ORDER BY p.name",
                head_columns()
            ))
            .and_then(|mut st| st.query_map([], |r| raw_head_at(r, 0))?.collect())
            .map_err(err)?;
        for raw in heads {
            let bad = |what: &str| param_seal::tampered(&location, &raw.name, what);
            let mut head = ParamHead::new(&raw.name, raw.created_at, seq);
            head.latest = u32::try_from(raw.latest).map_err(|_| bad("bad latest version"))?;
            head.deleted_at = raw.deleted_at;
            let labels: Vec<(String, i64)> = tx
                .prepare_cached("SELECT label, version FROM param_labels WHERE name = ?1")
                .and_then(|mut st| {
                    st.query_map([&raw.name], |r| Ok((r.get(0)?, r.get(1)?)))?
                        .collect()
                })
                .map_err(err)?;
            for (label, version) in labels {
                let v = u32::try_from(version).map_err(|_| bad("bad label version"))?;
                head.labels.insert(label, v);
            }
            let versions: Vec<RawVersion> = tx
                .prepare_cached(&format!(
                    "SELECT {} FROM param_versions v WHERE v.name = ?1",
                    COLUMNS
                ))
                .and_then(|mut st| st.query_map([&raw.name], raw_version)?.collect())
                .map_err(err)?;
            for v in &versions {
                let version = u32::try_from(v.version).map_err(|_| bad("bad version number"))?;
                if v.destroyed_at.is_some() {
                    head.destroyed.insert(version);
                }
                let mac = version_mac(key, &version_fields(v, version, head.born));
                tx.prepare_cached(
                    "UPDATE param_versions SET mac = ?3 WHERE name = ?1 AND version = ?2",
                )
                .and_then(|mut st| st.execute(params![raw.name, version, &mac[..]]))
                .map_err(err)?;
            }
            let mac = head_mac(key, &head, seq);
            tx.prepare_cached(
                "UPDATE params SET born = ?2, seal_seq = ?2, mac = ?3 WHERE name = ?1",
            )
            .and_then(|mut st| st.execute(params![raw.name, seq, &mac[..]]))
            .map_err(err)?;
        }
        Ok(Some(marker))
    }
}
