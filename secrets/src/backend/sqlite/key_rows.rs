//! Key rows of the SQLite store as read and as sealed: a record with its versions, its seal
//! and its last change, checked against the seal before a change and sealed after it
//! ([`key_seal`]).

use std::sync::Arc;

use coffer_core::MacKey;
use rusqlite::{Connection, OptionalExtension as _, params};

use crate::error::Error;

use super::audit;
use super::{Store, corrupt, db_error};
use crate::store::audit::{AuditEntry, AuditKey};
use crate::store::audit_signer::AuditSigner;
use crate::store::key_paths::{PathsKey, Stage};
use crate::store::key_row_key::{RowsKey, mac_key, paths_before_seal};
use crate::store::key_rows::{KeyRecord, KeyState, Seal, VersionRecord};
use crate::store::key_seal::{self, History};
use crate::store::table::KeyTable as _;

/// A `key_versions` row of one key: version, uuid, created at, root id, MAC.
pub(super) type RawVersion = (i64, Vec<u8>, i64, String, Option<Vec<u8>>);

pub(super) fn raw_version(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawVersion> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
}

/// The newest audit entry of a change to key `?1` ([`key_seal`]).
const LAST_CHANGE: &str = "SELECT seq, at, user, verb, name, detail, prev_hash, hash FROM audit
     WHERE name = ?1 AND substr(verb, 1, 4) = 'key-' AND verb <> 'key-rotate-root'
     ORDER BY seq DESC LIMIT 1";

impl Store {
    pub(super) fn read_key(
        &self,
        conn: &Connection,
        name: &str,
    ) -> Result<Option<KeyRecord>, Error> {
        let Some(mut record) = self.key_row(conn, name)? else {
            return Ok(None);
        };
        let err = |e| db_error(&self.path, e);
        let mut stmt = conn
            .prepare_cached(
                "SELECT version, uuid, created_at, root_id, mac FROM key_versions
                 WHERE name = ?1 ORDER BY version",
            )
            .map_err(err)?;
        let rows: Vec<RawVersion> = stmt
            .query_map([name], raw_version)
            .and_then(Iterator::collect)
            .map_err(err)?;
        record.versions = rows
            .into_iter()
            .map(|r| self.version_record(name, r))
            .collect::<Result<Vec<_>, Error>>()?;
        Ok(Some(record))
    }

    /// The `keys` row of `name` (no versions) with the key's last change.
    pub(super) fn key_row(
        &self,
        conn: &Connection,
        name: &str,
    ) -> Result<Option<KeyRecord>, Error> {
        let err = |e| db_error(&self.path, e);
        let row = conn
            .prepare_cached(
                "SELECT spec, created_at, state, rotation_period_secs, min_decrypt_version,
                        active_version, seal_seq, mac, root
                 FROM keys WHERE name = ?1",
            )
            .and_then(|mut st| {
                st.query_row([name], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, Option<i64>>(3)?,
                        r.get::<_, i64>(4)?,
                        r.get::<_, i64>(5)?,
                        r.get::<_, Option<i64>>(6)?,
                        r.get::<_, Option<Vec<u8>>>(7)?,
                        r.get::<_, Option<String>>(8)?,
                    ))
                })
                .optional()
            })
            .map_err(err)?;
        let Some((spec, created_at, state, period, min, active, seal_seq, mac, root)) = row else {
            return Ok(None);
        };
        let last_change = self.last_change(conn, name)?;
        let bad = |what: &str| corrupt(&self.path, format!("key `{name}`: {what}"));
        Ok(Some(KeyRecord {
            name: name.to_owned(),
            spec,
            created_at,
            state: KeyState::parse(&state).map_err(|e| bad(&e))?,
            rotation_period_secs: period
                .map(u64::try_from)
                .transpose()
                .map_err(|_| bad("bad rotation period"))?,
            min_decrypt_version: u32::try_from(min).map_err(|_| bad("bad minimum version"))?,
            active_version: u32::try_from(active).map_err(|_| bad("bad active version"))?,
            root,
            versions: Vec::new(),
            seal: seal_seq.zip(mac).map(|(seq, mac)| Seal { seq, mac }),
            last_change,
        }))
    }

    /// The newest audit entry of a change to key `name`.
    pub(super) fn last_change(
        &self,
        conn: &Connection,
        name: &str,
    ) -> Result<Option<AuditEntry>, Error> {
        conn.prepare_cached(LAST_CHANGE)
            .and_then(|mut st| st.query_row([name], audit::entry_row).optional())
            .map_err(|e| db_error(&self.path, e))
    }

    pub(super) fn version_record(&self, name: &str, r: RawVersion) -> Result<VersionRecord, Error> {
        let bad = |what: &str| corrupt(&self.path, format!("key `{name}`: {what}"));
        let (version, uuid, created_at, root_id, mac) = r;
        Ok(VersionRecord {
            version: u32::try_from(version).map_err(|_| bad("bad version number"))?,
            uuid: uuid.try_into().map_err(|_| bad("bad version id"))?,
            created_at,
            root_id,
            mac,
        })
    }

    /// In `conn`'s snapshot: the `K_paths` whose `K_keys(K)` MACs the rows of `record`, if
    /// it is not the store's `K_rows` ([`crate::store::key_row_key`]), as this handle's home
    /// unwrapped it.
    pub(super) fn own_key_in(
        &self,
        conn: &Connection,
        record: &KeyRecord,
    ) -> Result<RowsKey, Error> {
        if record.root.is_none() {
            return Ok(None);
        }
        let row = super::key_paths::key_paths_in(conn, &record.name)
            .map_err(|e| db_error(&self.path, e))?;
        self.paths_keys
            .rows_key_in(record, Some(&row), &self.location())
    }

    /// In a write transaction: key `name` as stored, checked against its seal and the log
    /// after it ([`key_seal::Since`]; a change never seals an edit made outside coffer), with
    /// the key its rows are MACed under ([`key_row_key`]: `None`, the store's).
    pub(super) fn checked_key(
        &self,
        tx: &Connection,
        name: &str,
        signer: &AuditSigner,
    ) -> Result<Option<(KeyRecord, RowsKey)>, Error> {
        let Some(record) = self.read_key(tx, name)? else {
            return Ok(None);
        };
        let location = self.location();
        let own = self.own_key_in(tx, &record)?;
        key_seal::check(
            signer.key(),
            mac_key(signer.key(), own.as_deref()),
            &location,
            &record,
        )?;
        let err = |e| db_error(&self.path, e);
        let mut since = key_seal::Since::new(signer.key(), &location, &record)?;
        let mut st = tx
            .prepare_cached(
                "SELECT seq, at, user, verb, name, detail, prev_hash, hash FROM audit
                 WHERE seq >= ?1 ORDER BY seq",
            )
            .map_err(err)?;
        let mut rows = st.query([since.from()]).map_err(err)?;
        while let Some(r) = rows.next().map_err(err)? {
            since.push(&audit::entry_row(r).map_err(err)?)?;
        }
        drop(rows);
        drop(st);
        let head = audit::head(tx).map_err(err)?;
        signer.check_head_mac(&head)?;
        since.finish(&head)?;
        Ok(Some((record, own)))
    }

    /// In a write transaction, after the change whose audit entry is `seq`: writes `record`
    /// (the key as checked, with the change applied, in Rust) whole and seals it. Every
    /// column the MACs cover is written from `record`, never read back, so an edit made in the
    /// database meanwhile (a trigger, another writer) is overwritten or fails its MAC later,
    /// never sealed. Version rows are written only where their MAC is missing or other (a
    /// store being sealed); the checked ones already carry theirs. Returns the record as
    /// written (its last change is entry `seq`).
    pub(super) fn reseal(
        &self,
        tx: &Connection,
        mut record: KeyRecord,
        key: &MacKey,
        seq: i64,
    ) -> Result<KeyRecord, Error> {
        let err = |e| db_error(&self.path, e);
        let name = record.name.clone();
        let period = record
            .rotation_period_secs
            .map(i64::try_from)
            .transpose()
            .map_err(|_| Error::invalid("rotation period too long"))?;
        let (seal, versions) = key_seal::seal(key, &record, seq);
        let changed = tx
            .prepare_cached(
                "UPDATE keys SET spec = ?2, created_at = ?3, state = ?4,
                                 rotation_period_secs = ?5, min_decrypt_version = ?6,
                                 active_version = ?7, seal_seq = ?8, mac = ?9
                 WHERE name = ?1",
            )
            .and_then(|mut st| {
                st.execute(params![
                    name,
                    record.spec,
                    record.created_at,
                    record.state.as_str(),
                    period,
                    record.min_decrypt_version,
                    record.active_version,
                    seal.seq,
                    seal.mac
                ])
            })
            .map_err(err)?;
        if changed != 1 {
            return Err(self.no_such_key(&name));
        }
        let mut st = tx
            .prepare_cached(
                "UPDATE key_versions SET created_at = ?4, mac = ?5
                 WHERE name = ?1 AND version = ?2 AND uuid = ?3",
            )
            .map_err(err)?;
        for (v, (n, mac)) in record.versions.iter_mut().zip(&versions) {
            if v.mac.as_deref() == Some(&mac[..]) {
                continue; // as checked (a version's MAC does not depend on the entry)
            }
            let changed = st
                .execute(params![name, n, &v.uuid[..], v.created_at, &mac[..]])
                .map_err(err)?;
            if changed != 1 {
                return Err(corrupt(
                    &self.path,
                    format!("key `{name}`: version {n} changed during the write"),
                ));
            }
            v.mac = Some(mac.to_vec());
        }
        record.seal = Some(seal);
        record.last_change = None;
        Ok(record)
    }

    /// In the write transaction of a key's first row of paths, or of its move to stage v3
    /// ([`crate::store::key_paths`]): the rows of key `key` (checked under the store's
    /// `K_rows`, as they were until now) MACed anew under its `K_keys(K)`, tied to the same
    /// entry. The caller verified the whole log in the same transaction.
    pub(crate) fn move_own_rows(
        &self,
        tx: &Connection,
        key: &PathsKey,
        audit: &AuditKey,
    ) -> Result<(), Error> {
        let name = key.key_name();
        let record = self
            .read_key(tx, name)?
            .ok_or_else(|| self.no_such_key(name))?;
        if record.root.is_none() {
            return Err(Error::corrupt(format!(
                "key `{name}` in the store {} has a row of paths but is under the store's root \
                 key: its row was changed outside coffer; nothing was changed",
                self.location()
            ))
            .advice(crate::error::Advice::VerifyAudit));
        }
        key_seal::check(audit, audit.rows(), &self.location(), &record)?;
        let Some(seq) = record.seal.as_ref().map(|s| s.seq) else {
            return Err(self.no_such_key(name));
        };
        self.reseal(tx, record, key.keys(), seq)?;
        Ok(())
    }

    /// Seals the path policies as their rows are now, appending nothing (tests).
    ///
    /// # Errors
    /// The audit key is not loaded; SQLite errors.
    #[cfg(any(test, feature = "test-pause"))]
    pub fn reseal_policies_for_tests(&self) -> Result<(), Error> {
        let err = |e| db_error(&self.path, e);
        let signer = self.signer()?;
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(err)?;
        super::policies::reseal_for_tests(&tx, &signer, &err)?;
        tx.commit().map_err(err)
    }

    /// Seals every key as its rows are now, edits made outside coffer included (tests that
    /// move a key's versions back in time, as if made long ago), but the keys whose rows are
    /// under keys of their own (`K_keys(K)`, which this does not have); `store_key_of`, also
    /// key `store_key_of`'s rows under the store's `K_rows`, as a holder of the store's root
    /// key without the key's own root could.
    ///
    /// # Errors
    /// The audit key is not loaded; SQLite errors.
    #[cfg(any(test, feature = "test-pause"))]
    pub fn reseal_for_tests(
        &self,
        own: &[Arc<PathsKey>],
        store_key_of: Option<&str>,
    ) -> Result<(), Error> {
        let err = |e| db_error(&self.path, e);
        let signer = self.signer()?;
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(err)?;
        let _ = self.seal_all(&tx, &signer, None, Some((own, store_key_of)))?;
        let last = self.seal_params(&tx, &signer, false)?;
        super::policies::reseal_for_tests(&tx, &signer, &err)?;
        tx.commit().map_err(err)?;
        if let Some(p) = last {
            p.committed();
        }
        Ok(())
    }

    /// In a write transaction: seals every key, each with a [`key_seal::SEAL_VERB`] entry
    /// (the upgrade of a store of the release before). `tests`: the keys with rows of paths
    /// are sealed under their `K_keys(K)` if given, left out if not, but the one named,
    /// sealed under the store's `K_rows` (tests).
    pub(super) fn seal_all(
        &self,
        tx: &Connection,
        signer: &Arc<AuditSigner>,
        history: Option<&History>,
        tests: Option<(&[Arc<PathsKey>], Option<&str>)>,
    ) -> Result<Option<audit::Pending>, Error> {
        let err = |e| db_error(&self.path, e);
        let names: Vec<String> = tx
            .prepare("SELECT name FROM keys ORDER BY name")
            .and_then(|mut st| st.query_map([], |r| r.get(0))?.collect())
            .map_err(err)?;
        let mut last = None;
        for name in names {
            let record = self
                .read_key(tx, &name)?
                .ok_or_else(|| self.no_such_key(&name))?;
            if let Some(h) = history {
                h.check(&self.location(), &record)?;
            }
            let paths = super::key_paths::key_paths_in(tx, &name).map_err(err)?.row;
            let mut rows = signer.key().rows();
            match (tests, &paths) {
                (None, Some(_)) => return Err(paths_before_seal(&self.location(), &name)),
                (Some((own, forged)), Some(raw)) if forged != Some(name.as_str()) => {
                    match own.iter().find(|k| k.key_name() == name) {
                        Some(k) if k.stage_of_row(raw) == Some(Stage::Keys) => rows = k.keys(),
                        Some(_) => {}
                        None => continue,
                    }
                }
                _ => {}
            }
            let pending = audit::append(
                tx,
                signer.clone(),
                key_seal::SEAL_VERB,
                &name,
                key_seal::SEAL_DETAIL,
                &err,
            )?;
            self.reseal(tx, record, rows, pending.seq())?;
            last = Some(pending);
        }
        Ok(last)
    }
}
