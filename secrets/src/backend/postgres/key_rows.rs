//! Key rows of a PostgreSQL store as read and as sealed: a record with its versions, its seal
//! and its last change, checked against the seal and the log before a change and sealed
//! after it ([`key_seal`]).

use std::sync::Arc;

use coffer_core::MacKey;
use tokio_postgres::{GenericClient, Transaction};

use super::audit::{Pending, append, entry_at, head};
use super::{PgStore, int};
use crate::error::Error;
use crate::store::audit::AuditKey;
use crate::store::audit_signer::AuditSigner;
use crate::store::key_paths::PathsKey;
use crate::store::key_row_key::{RowsKey, mac_key, paths_before_seal};
use crate::store::key_rows::{KeyRecord, KeyState, Seal, VersionRecord};
use crate::store::key_seal::{self, History};
use crate::store::rows::damaged;

/// The columns of a key's row (`k`, `keys`) and of its last change (`e`), as
/// [`PgStore::key_from`] reads them from [`KEY_COLUMNS_AT`] on.
pub(super) const KEY_COLUMNS: &str = "k.spec, k.created_at, k.state, k.rotation_period_secs,
    k.min_decrypt_version, k.active_version, k.seal_seq, k.mac,
    e.seq, e.at, e.actor, e.verb, e.name, e.detail, e.prev_hash, e.hash, k.root";

/// Where [`KEY_COLUMNS`] start in a row.
pub(super) const KEY_COLUMNS_AT: usize = 0;

/// How many [`KEY_COLUMNS`] there are.
pub(super) const KEY_WIDTH: usize = 17;

/// The join of a key's last change (`e`) to `keys k` ([`crate::store::key_seal`]).
pub(super) const LAST_CHANGE_JOIN: &str = "LEFT JOIN LATERAL (
    SELECT seq, at, actor, verb, name, detail, prev_hash, hash FROM audit a
    WHERE a.name = k.name AND a.verb LIKE 'key-%' AND a.verb <> 'key-rotate-root'
    ORDER BY a.seq DESC LIMIT 1) e ON true";

/// The columns of a version (`v`, `key_versions`), as [`PgStore::version_from`] reads them.
pub(super) const VERSION_COLUMNS: &str = "v.version, v.uuid, v.created_at, v.root_id, v.mac";

impl PgStore {
    pub(super) async fn read_key(
        &self,
        tx: &impl GenericClient,
        name: &str,
    ) -> Result<Option<KeyRecord>, Error> {
        let err = self.err();
        let Some(row) = tx
            .query_opt(
                &format!("SELECT {KEY_COLUMNS} FROM keys k {LAST_CHANGE_JOIN} WHERE k.name = $1"),
                &[&name],
            )
            .await
            .map_err(&err)?
        else {
            return Ok(None);
        };
        let mut record = self.key_from(name, &row)?;
        let rows = tx
            .query(
                &format!(
                    "SELECT {VERSION_COLUMNS} FROM key_versions v
                     WHERE v.name = $1 ORDER BY v.version"
                ),
                &[&name],
            )
            .await
            .map_err(&err)?;
        record.versions = rows
            .iter()
            .map(|r| self.version_from(name, r, 0))
            .collect::<Result<Vec<_>, Error>>()?;
        Ok(Some(record))
    }

    /// The key `name` in the [`KEY_COLUMNS`] of `row` (no versions).
    pub(super) fn key_from(
        &self,
        name: &str,
        row: &tokio_postgres::Row,
    ) -> Result<KeyRecord, Error> {
        let loc = &self.location;
        let what = |w: &str| format!("key `{name}`: {w}");
        let col = |e: tokio_postgres::Error| damaged(loc, what(&e.to_string()));
        let at = KEY_COLUMNS_AT;
        let state: String = row.try_get(at + 2).map_err(col)?;
        let seal_seq: Option<i64> = row.try_get(at + 6).map_err(col)?;
        let mac: Option<Vec<u8>> = row.try_get(at + 7).map_err(col)?;
        Ok(KeyRecord {
            name: name.to_owned(),
            spec: row.try_get(at).map_err(col)?,
            created_at: row.try_get(at + 1).map_err(col)?,
            state: KeyState::parse(&state).map_err(|e| damaged(loc, what(&e)))?,
            rotation_period_secs: row
                .try_get::<_, Option<i64>>(at + 3)
                .map_err(col)?
                .map(|p| int(loc, p, &what("rotation period")))
                .transpose()?,
            min_decrypt_version: int(
                loc,
                row.try_get(at + 4).map_err(col)?,
                &what("minimum version"),
            )?,
            active_version: int(
                loc,
                row.try_get(at + 5).map_err(col)?,
                &what("active version"),
            )?,
            root: row.try_get(at + KEY_WIDTH - 1).map_err(col)?,
            versions: Vec::new(),
            seal: seal_seq.zip(mac).map(|(seq, mac)| Seal { seq, mac }),
            last_change: entry_at(row, at + 8).map_err(col)?,
        })
    }

    /// The version of key `name` in the [`VERSION_COLUMNS`] of `row`, from column `at` on.
    pub(super) fn version_from(
        &self,
        name: &str,
        row: &tokio_postgres::Row,
        at: usize,
    ) -> Result<VersionRecord, Error> {
        let loc = &self.location;
        let what = |w: &str| format!("key `{name}`: {w}");
        let col = |e: tokio_postgres::Error| damaged(loc, what(&e.to_string()));
        Ok(VersionRecord {
            version: int(loc, row.try_get(at).map_err(col)?, &what("version"))?,
            uuid: uuid_of(loc, name, row.try_get(at + 1).map_err(col)?)?,
            created_at: row.try_get(at + 2).map_err(col)?,
            root_id: row.try_get(at + 3).map_err(col)?,
            mac: row.try_get(at + 4).map_err(col)?,
        })
    }

    /// In `c`'s snapshot: the `K_paths` whose `K_keys(K)` MACs the rows of `record`, if it
    /// is not the store's `K_rows` ([`crate::store::key_row_key`]), as this handle's home
    /// unwrapped it.
    pub(super) async fn own_key_in(
        &self,
        c: &impl GenericClient,
        record: &KeyRecord,
    ) -> Result<RowsKey, Error> {
        if record.root.is_none() {
            return Ok(None);
        }
        let row = self
            .key_paths_in(c, std::slice::from_ref(&record.name))
            .await?
            .into_iter()
            .next();
        self.paths_keys
            .rows_key_in(record, row.as_ref(), &self.location)
    }

    /// In a write transaction: key `name` as stored, checked against its seal and the log
    /// after it ([`key_seal::Since`]; a change never seals an edit made outside coffer), with
    /// the key its rows are MACed under ([`key_row_key`]: `None`, the store's).
    pub(super) async fn checked_key(
        &self,
        tx: &Transaction<'_>,
        name: &str,
        signer: &AuditSigner,
    ) -> Result<Option<(KeyRecord, RowsKey)>, Error> {
        let Some(record) = self.read_key(tx, name).await? else {
            return Ok(None);
        };
        let own = self.own_key_in(tx, &record).await?;
        key_seal::check(
            signer.key(),
            mac_key(signer.key(), own.as_deref()),
            &self.location,
            &record,
        )?;
        let err = self.err();
        if super::roles::is_limited(tx).await.map_err(&err)? {
            return Err(super::roles::limited_login(
                &self.location,
                &format!("a change of key `{name}`"),
            ));
        }
        let mut since = key_seal::Since::new(signer.key(), &self.location, &record)?;
        loop {
            let rows = tx
                .query(
                    "SELECT seq, at, actor, verb, name, detail, prev_hash, hash FROM audit
                     WHERE seq >= $1 ORDER BY seq LIMIT 10000",
                    &[&since.from()],
                )
                .await
                .map_err(&err)?;
            for r in &rows {
                if let Some(e) = entry_at(r, 0).map_err(&err)? {
                    since.push(&e)?;
                }
            }
            if rows.len() < 10000 {
                break;
            }
        }
        let head = head(tx, false).await.map_err(&err)?;
        signer.check_head_mac(&head)?;
        since.finish(&head)?;
        Ok(Some((record, own)))
    }

    /// In the write transaction of a key's first row of paths, or of its move to stage v3
    /// ([`crate::store::key_paths`]): the rows of key `key` (checked under the store's
    /// `K_rows`, as they were until now) MACed anew under its `K_keys(K)`, tied to the same
    /// entry. The caller verified the whole log in the same transaction.
    pub(super) async fn move_own_rows(
        &self,
        tx: &Transaction<'_>,
        key: &PathsKey,
        audit: &AuditKey,
    ) -> Result<(), Error> {
        let name = key.key_name();
        let record = self
            .read_key(tx, name)
            .await?
            .ok_or_else(|| self.no_such_key(name))?;
        if record.root.is_none() {
            return Err(Error::corrupt(format!(
                "key `{name}` in the store {} has a row of paths but is under the store's root \
                 key: its row was changed outside coffer; nothing was changed",
                self.location
            ))
            .advice(crate::error::Advice::VerifyAudit));
        }
        key_seal::check(audit, audit.rows(), &self.location, &record)?;
        let Some(seq) = record.seal.as_ref().map(|s| s.seq) else {
            return Err(self.no_such_key(name));
        };
        self.reseal(tx, record, key.keys(), seq).await?;
        Ok(())
    }

    /// In a write transaction, after the change whose audit entry is `seq`: writes `record`
    /// (the key as checked, with the change applied, in Rust) whole and seals it. Every
    /// column the MACs cover is written from `record`, never read back, so an edit made in the
    /// database meanwhile (a trigger, another writer's transaction) is overwritten or fails
    /// its MAC later, never sealed. Version rows are written only where their MAC is missing
    /// or other (a store being sealed); the checked ones already carry theirs. Returns the
    /// record as written (its last change is entry `seq`).
    pub(super) async fn reseal(
        &self,
        tx: &Transaction<'_>,
        mut record: KeyRecord,
        key: &MacKey,
        seq: i64,
    ) -> Result<KeyRecord, Error> {
        let err = self.err();
        let period = record
            .rotation_period_secs
            .map(i64::try_from)
            .transpose()
            .map_err(|_| Error::invalid("rotation period too long"))?;
        let (seal, versions) = key_seal::seal(key, &record, seq);
        let mut numbers = Vec::with_capacity(versions.len());
        let mut uuids = Vec::with_capacity(versions.len());
        let mut created = Vec::with_capacity(versions.len());
        let mut macs = Vec::with_capacity(versions.len());
        for (v, (n, mac)) in record.versions.iter().zip(&versions) {
            if v.mac.as_deref() == Some(&mac[..]) {
                continue; // as checked (a version's MAC does not depend on the entry)
            }
            numbers.push(i64::from(*n));
            uuids.push(v.uuid.to_vec());
            created.push(v.created_at);
            macs.push(mac.to_vec());
        }
        let row = tx
            .query_one(
                "WITH v AS (
                     UPDATE key_versions kv SET created_at = t.created_at, mac = t.mac
                     FROM unnest($10::bigint[], $11::bytea[], $12::bigint[], $13::bytea[])
                          AS t (version, uuid, created_at, mac)
                     WHERE kv.name = $1 AND kv.version = t.version AND kv.uuid = t.uuid
                     RETURNING 1),
                 k AS (
                     UPDATE keys SET spec = $2, created_at = $3, state = $4,
                                     rotation_period_secs = $5, min_decrypt_version = $6,
                                     active_version = $7, seal_seq = $8, mac = $9
                     WHERE name = $1
                     RETURNING 1)
                 SELECT (SELECT count(*) FROM k), (SELECT count(*) FROM v)",
                &[
                    &record.name,
                    &record.spec,
                    &record.created_at,
                    &record.state.as_str(),
                    &period,
                    &i64::from(record.min_decrypt_version),
                    &i64::from(record.active_version),
                    &seal.seq,
                    &seal.mac,
                    &numbers,
                    &uuids,
                    &created,
                    &macs,
                ],
            )
            .await
            .map_err(&err)?;
        let (keys, written): (i64, i64) =
            (row.try_get(0).map_err(&err)?, row.try_get(1).map_err(&err)?);
        if keys != 1 {
            return Err(self.no_such_key(&record.name));
        }
        if usize::try_from(written).ok() != Some(numbers.len()) {
            return Err(damaged(
                &self.location,
                format!("key `{}`: a version changed during the write", record.name),
            ));
        }
        for (v, (_, m)) in record.versions.iter_mut().zip(&versions) {
            v.mac = Some(m.to_vec());
        }
        record.seal = Some(seal);
        record.last_change = None;
        Ok(record)
    }

    /// In a write transaction: seals every key, each with a [`key_seal::SEAL_VERB`] entry
    /// (the upgrade of a store of the release before). Returns the last entry.
    pub(super) async fn seal_all(
        &self,
        tx: &Transaction<'_>,
        signer: &Arc<AuditSigner>,
        history: &History,
    ) -> Result<Option<Pending>, Error> {
        let err = self.err();
        let names: Vec<String> = tx
            .query("SELECT name FROM keys ORDER BY name", &[])
            .await
            .map_err(&err)?
            .iter()
            .map(|r| r.try_get(0))
            .collect::<Result<_, _>>()
            .map_err(&err)?;
        let mut last = None;
        for name in names {
            let record = self
                .read_key(tx, &name)
                .await?
                .ok_or_else(|| self.no_such_key(&name))?;
            history.check(&self.location, &record)?;
            let paths = self.key_paths_in(tx, std::slice::from_ref(&name)).await?;
            if paths.iter().any(|p| p.row.is_some()) {
                return Err(paths_before_seal(&self.location, &name));
            }
            let pending = append(
                tx,
                signer.clone(),
                key_seal::SEAL_VERB,
                &name,
                key_seal::SEAL_DETAIL,
                &err,
            )
            .await?;
            self.reseal(tx, record, signer.key().rows(), pending.seq())
                .await?;
            last = Some(pending);
        }
        Ok(last)
    }
}

pub(super) fn uuid_of(location: &str, name: &str, bytes: Vec<u8>) -> Result<[u8; 16], Error> {
    bytes
        .try_into()
        .map_err(|_| damaged(location, format!("key `{name}`: bad version id")))
}
