//! The key table of the SQLite store: key records, versions and the root they are wrapped
//! under ([`super::KeyTable`] for [`Store`]).

use std::path::Path;
use std::sync::Arc;

use coffer_core::keyring::{BoxFuture, RootKey};

use rusqlite::{Connection, OptionalExtension as _, TransactionBehavior, params};

use crate::error::{Advice, Error};

use super::audit;
use super::key_rows::{RawVersion, raw_version};
use super::stored_root_id;
use super::{Store, corrupt, db_error};
use crate::home::Home;
use crate::store::audit::{AuditEntry, AuditKey, AuditTip, Head};
use crate::store::audit_signer::AuditSigner;
use crate::store::key_paths::{KeyPathsRow, PathsKey};
use crate::store::key_row_key::mac_key;
use crate::store::key_rows::{
    AddVersion, KeyRecord, KeyState, Lookup, SwitchRoot, VersionRecord, VersionRow, Which,
    WrappedVersion, check_retire, period_detail, state_verb,
};
use crate::store::key_seal::{self, History};
use crate::store::passphrase::PassphraseCache;
use crate::store::root::Protection;
use crate::store::table::{self, KeyTable, no_such_key};
use crate::store::test_pause::pause as test_pause;

/// A `key_versions` row as SQLite returns it: name, version, uuid, wrapped, root id.
type RawVersionRow = (String, i64, Vec<u8>, Vec<u8>, String);

impl Store {
    /// Inserts a new key with its first version (already wrapped).
    ///
    /// # Errors
    /// The key exists (exit 1); SQLite errors.
    pub(crate) fn insert_key(
        &self,
        record: &KeyRecord,
        first: &VersionRecord,
        wrapped: &[u8],
    ) -> Result<(), Error> {
        let err = |e| db_error(&self.path, e);
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let exists: bool = tx
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM keys WHERE name = ?1)",
                [&record.name],
                |r| r.get(0),
            )
            .map_err(err)?;
        if exists {
            return Err(
                Error::conflict(format!("key `{}` already exists", record.name))
                    .advice(Advice::ShowKey(record.name.clone())),
            );
        }
        let orphans: bool = tx
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM key_versions WHERE name = ?1)",
                [&record.name],
                |r| r.get(0),
            )
            .map_err(err)?;
        let last = self.last_change(&tx, &record.name)?;
        if orphans || last.is_some() {
            return Err(key_seal::deleted_outside(
                &self.location(),
                &record.name,
                last.as_ref(),
            ));
        }
        match &record.root {
            None => check_root_tx(&tx, &self.path, &first.root_id)?,
            Some(own) => crate::store::key_rows::check_own_root(&record.name, own, &first.root_id)?,
        }
        let period = record
            .rotation_period_secs
            .map(i64::try_from)
            .transpose()
            .map_err(|_| Error::invalid("rotation period too long"))?;
        let signer = self.signer()?;
        let pending = audit::append(
            &tx,
            signer.clone(),
            "key-create",
            &record.name,
            &format!("version 1, {}", record.spec),
            &err,
        )?;
        // Written once, sealed to the entry just appended.
        let mut written = record.clone();
        written.versions = vec![first.clone()];
        let own = self.own_key_in(&tx, record)?;
        let (seal, macs) = key_seal::seal(
            mac_key(signer.key(), own.as_deref()),
            &written,
            pending.seq(),
        );
        tx.execute(
            "INSERT INTO keys (name, spec, created_at, state, rotation_period_secs,
                               min_decrypt_version, active_version, seal_seq, mac, root)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                record.name,
                record.spec,
                record.created_at,
                record.state.as_str(),
                period,
                record.min_decrypt_version,
                record.active_version,
                seal.seq,
                seal.mac,
                record.root
            ],
        )
        .map_err(err)?;
        tx.execute(
            "INSERT INTO key_versions (name, version, uuid, created_at, wrapped, root_id, mac)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                record.name,
                first.version,
                &first.uuid[..],
                first.created_at,
                wrapped,
                first.root_id,
                &macs[0].1[..]
            ],
        )
        .map_err(err)?;
        tx.commit().map_err(err)?;
        pending.committed();
        Ok(())
    }

    /// Every key, by name.
    ///
    /// # Errors
    /// SQLite errors; damaged rows.
    pub fn list_keys(&self) -> Result<Vec<KeyRecord>, Error> {
        // One snapshot: each row with its last change (see `key_seal`).
        let mut conn = self.lock();
        let conn = conn.transaction().map_err(|e| db_error(&self.path, e))?;
        let names: Vec<String> = {
            let mut stmt = conn
                .prepare("SELECT name FROM keys ORDER BY name")
                .map_err(|e| db_error(&self.path, e))?;
            stmt.query_map([], |r| r.get(0))
                .and_then(Iterator::collect)
                .map_err(|e| db_error(&self.path, e))?
        };
        names
            .iter()
            .filter_map(|n| self.read_key(&conn, n).transpose())
            .collect()
    }

    /// One key, if it exists.
    ///
    /// # Errors
    /// SQLite errors; damaged rows.
    pub fn get_key(&self, name: &str) -> Result<Option<KeyRecord>, Error> {
        // One snapshot: the row with its last change (see `key_seal`).
        let mut conn = self.lock();
        let tx = conn.transaction().map_err(|e| db_error(&self.path, e))?;
        self.read_key(&tx, name)
    }

    /// Enables or disables a key. Returns whether the state changed.
    ///
    /// # Errors
    /// No such key (exit 1); SQLite errors.
    pub fn set_state(&self, name: &str, state: KeyState) -> Result<bool, Error> {
        let err = |e| db_error(&self.path, e);
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let signer = self.signer()?;
        let Some((mut current, own)) = self.checked_key(&tx, name, &signer)? else {
            return Err(self.no_such_key(name));
        };
        if current.state == state {
            return Ok(false);
        }
        let pending = audit::append(&tx, signer.clone(), state_verb(state), name, "", &err)?;
        current.state = state;
        let rows = mac_key(signer.key(), own.as_deref());
        self.reseal(&tx, current, rows, pending.seq())?;
        tx.commit().map_err(err)?;
        pending.committed();
        Ok(true)
    }

    /// Adds version `new` of key `name` and makes it active, if the active version is still
    /// `expected_active` and the store's root is still `new.root_id`; with `due_at`, only if
    /// the key is enabled and its rotation period has passed at `due_at` (Unix seconds).
    ///
    /// # Errors
    /// The store's root key changed meanwhile; damaged rows; SQLite errors.
    pub(crate) fn add_version(
        &self,
        name: &str,
        expected_active: u32,
        new: &VersionRecord,
        wrapped: &[u8],
        due_at: Option<i64>,
    ) -> Result<AddVersion, Error> {
        let err = |e| db_error(&self.path, e);
        let bad = |what: &str| corrupt(&self.path, format!("key `{name}`: {what}"));
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let signer = self.signer()?;
        let Some((mut key, own)) = self.checked_key(&tx, name, &signer)? else {
            return Ok(AddVersion::NoKey);
        };
        let rows = mac_key(signer.key(), own.as_deref());
        match &key.root {
            None => check_root_tx(&tx, &self.path, &new.root_id)?,
            Some(own) => crate::store::key_rows::check_own_root(name, own, &new.root_id)?,
        }
        let (active, period) = (
            i64::from(key.active_version),
            key.rotation_period_secs
                .map(i64::try_from)
                .transpose()
                .map_err(|_| bad("bad rotation period"))?,
        );
        if key.state == KeyState::Disabled {
            return Ok(AddVersion::Disabled);
        }
        if active != i64::from(expected_active) {
            return Ok(AddVersion::Changed);
        }
        let (max, active_created): (i64, Option<i64>) = tx
            .query_row(
                "SELECT max(version),
                        (SELECT created_at FROM key_versions WHERE name = ?1 AND version = ?2)
                 FROM key_versions WHERE name = ?1",
                params![name, active],
                |r| Ok((r.get::<_, Option<i64>>(0)?.unwrap_or(0), r.get(1)?)),
            )
            .map_err(err)?;
        let Some(active_created) = active_created else {
            return Err(bad(&format!("active version {active} is missing")));
        };
        if max != active {
            return Err(bad(&format!(
                "version {max} is newer than the active version {active}"
            )));
        }
        if i64::from(new.version) != active + 1 {
            return Err(Error::backend(format!(
                "internal error: version {} does not follow version {active} of key `{name}`",
                new.version
            )));
        }
        if let Some(now) = due_at {
            let due = period.is_some_and(|p| active_created.saturating_add(p) <= now);
            if !due {
                return Ok(AddVersion::NotDue);
            }
        }
        let mut new = new.clone();
        new.mac = Some(key_seal::version_mac(rows, name, &new).to_vec());
        tx.execute(
            "INSERT INTO key_versions (name, version, uuid, created_at, wrapped, root_id, mac)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                name,
                new.version,
                &new.uuid[..],
                new.created_at,
                wrapped,
                new.root_id,
                new.mac
            ],
        )
        .map_err(err)?;
        let detail = format!(
            "version {} (was {active}){}",
            new.version,
            if due_at.is_some() { ", due" } else { "" }
        );
        let pending = audit::append(&tx, signer.clone(), "key-rotate", name, &detail, &err)?;
        key.active_version = new.version;
        key.versions.push(new);
        self.reseal(&tx, key, rows, pending.seq())?;
        test_pause("rotate: in transaction");
        tx.commit().map_err(err)?;
        pending.committed();
        Ok(AddVersion::Added)
    }

    /// Sets (or with `None` clears) the rotation period of key `name`. Returns the key.
    ///
    /// # Errors
    /// No such key (exit 1); SQLite errors.
    pub fn set_rotation_period(
        &self,
        name: &str,
        period_secs: Option<u64>,
    ) -> Result<KeyRecord, Error> {
        let err = |e| db_error(&self.path, e);
        if period_secs.is_some_and(|p| i64::try_from(p).is_err()) {
            return Err(Error::invalid("rotation period too long"));
        }
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let signer = self.signer()?;
        let Some((mut record, own)) = self.checked_key(&tx, name, &signer)? else {
            return Err(self.no_such_key(name));
        };
        let pending = audit::append(
            &tx,
            signer.clone(),
            "key-set-rotation",
            name,
            &period_detail(period_secs),
            &err,
        )?;
        record.rotation_period_secs = period_secs;
        let rows = mac_key(signer.key(), own.as_deref());
        let record = self.reseal(&tx, record, rows, pending.seq())?;
        tx.commit().map_err(err)?;
        pending.committed();
        Ok(record)
    }

    /// Sets the minimum decryption version of key `name` to `min` (raising or lowering it);
    /// `min` may not exceed the active version. Returns the previous minimum and the key.
    ///
    /// # Errors
    /// No such key, or `min` above the active version (exit 1); SQLite errors.
    pub fn set_min_decrypt_version(&self, name: &str, min: u32) -> Result<(u32, KeyRecord), Error> {
        let err = |e| db_error(&self.path, e);
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let signer = self.signer()?;
        let Some((before, own)) = self.checked_key(&tx, name, &signer)? else {
            return Err(self.no_such_key(name));
        };
        check_retire(&before, min)?;
        let detail = format!(
            "min decrypt version {min} (was {})",
            before.min_decrypt_version
        );
        let pending = audit::append(&tx, signer.clone(), "key-retire", name, &detail, &err)?;
        let mut record = before.clone();
        record.min_decrypt_version = min;
        let rows = mac_key(signer.key(), own.as_deref());
        let record = self.reseal(&tx, record, rows, pending.seq())?;
        tx.commit().map_err(err)?;
        pending.committed();
        Ok((before.min_decrypt_version, record))
    }

    /// The store's root id and every version row with its wrapped material, read together.
    ///
    /// # Errors
    /// Damaged rows; SQLite errors.
    pub(crate) fn wrapped_versions(&self) -> Result<(Option<String>, Vec<WrappedVersion>), Error> {
        let err = |e| db_error(&self.path, e);
        let mut conn = self.lock();
        let tx = conn.transaction().map_err(err)?;
        let root_id: Option<String> = stored_root_id(&tx).map_err(err)?;
        let rows: Vec<RawVersionRow> = {
            let mut stmt = tx
                .prepare(
                    "SELECT name, version, uuid, wrapped, root_id FROM key_versions
                     ORDER BY name, version",
                )
                .map_err(err)?;
            stmt.query_map([], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .and_then(Iterator::collect)
            .map_err(err)?
        };
        drop(tx);
        let versions = rows
            .into_iter()
            .map(|(name, version, uuid, wrapped, root_id)| {
                let bad = |what: &str| corrupt(&self.path, format!("key `{name}`: {what}"));
                Ok(WrappedVersion {
                    version: u32::try_from(version).map_err(|_| bad("bad version number"))?,
                    uuid: uuid.try_into().map_err(|_| bad("bad version id"))?,
                    name,
                    wrapped,
                    root_id,
                })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        Ok((root_id, versions))
    }

    /// Switches the store from root `old_id` to `new_id` in one transaction: each row of
    /// `rewrapped` (as read by [`Store::wrapped_versions`]) gets its new wrapped material, if
    /// it is unchanged and no row was added; then `side_file` runs (it writes the new root's
    /// side file) and the transaction commits. See "Root rotation" in the module docs. The
    /// `kept` versions of the keys `own` (with roots of their own, as their sealed rows say)
    /// are left as they are, if the keys with roots of their own are still exactly those.
    ///
    /// # Errors
    /// `side_file` failed (nothing committed); SQLite errors.
    pub(crate) fn switch_root(
        &self,
        old_id: &str,
        new_id: &str,
        rewrapped: &[(WrappedVersion, Vec<u8>)],
        (own, kept): (&std::collections::BTreeSet<String>, usize),
        audit_key: &(Vec<u8>, Vec<u8>),
        side_file: impl FnOnce() -> Result<(), Error>,
    ) -> Result<SwitchRoot, Error> {
        let err = |e| db_error(&self.path, e);
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let current: Option<String> = stored_root_id(&tx).map_err(err)?;
        if current.as_deref() != Some(old_id) {
            return Ok(SwitchRoot::RootChanged);
        }
        let count: i64 = tx
            .query_row("SELECT count(*) FROM key_versions", [], |r| r.get(0))
            .map_err(err)?;
        if usize::try_from(count).ok() != rewrapped.len().checked_add(kept) {
            return Ok(SwitchRoot::RowsChanged);
        }
        // A key's root changed in the database since its row was checked would be left out.
        let now_own: std::collections::BTreeSet<String> = tx
            .prepare("SELECT name FROM keys WHERE root IS NOT NULL")
            .and_then(|mut st| st.query_map([], |r| r.get(0))?.collect())
            .map_err(err)?;
        if &now_own != own {
            return Ok(SwitchRoot::RowsChanged);
        }
        {
            let mut update = tx
                .prepare(
                    "UPDATE key_versions SET wrapped = ?6, root_id = ?7
                     WHERE name = ?1 AND version = ?2 AND uuid = ?3 AND wrapped = ?4
                       AND root_id = ?5",
                )
                .map_err(err)?;
            for (row, wrapped) in rewrapped {
                let n = update
                    .execute(params![
                        row.name,
                        row.version,
                        &row.uuid[..],
                        row.wrapped,
                        row.root_id,
                        wrapped,
                        new_id
                    ])
                    .map_err(err)?;
                if n != 1 {
                    return Ok(SwitchRoot::RowsChanged);
                }
            }
        }
        tx.execute("UPDATE meta SET value = ?1 WHERE key = 'root_id'", [new_id])
            .map_err(err)?;
        // The audit key, re-wrapped: unless it changed since it was read.
        let n = tx
            .execute(
                "UPDATE meta SET value = ?2 WHERE key = 'audit_key' AND value = ?1",
                [hex::encode(&audit_key.0), hex::encode(&audit_key.1)],
            )
            .map_err(err)?;
        if n != 1 {
            return Ok(SwitchRoot::RowsChanged);
        }
        let detail = format!(
            "root {old_id} -> {new_id}, {} versions re-wrapped",
            rewrapped.len()
        );
        let pending = audit::append(
            &tx,
            self.signer()?,
            "key-rotate-root",
            "root",
            &detail,
            &err,
        )?;
        side_file()?;
        test_pause("root: in transaction (side file written)");
        tx.commit().map_err(err)?;
        pending.committed();
        Ok(SwitchRoot::Done)
    }

    /// Runs `f` under the store's write lock if the store's root is `root_id` (else returns
    /// `None` without running it). `f` may not write to the store; it is for the files that
    /// must change in step with it (see "Root rotation" in the module docs).
    ///
    /// # Errors
    /// SQLite errors.
    pub(crate) fn locked_if_root<T>(
        &self,
        root_id: &str,
        f: impl FnOnce() -> T,
    ) -> Result<Option<T>, Error> {
        let err = |e| db_error(&self.path, e);
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let current: Option<String> = stored_root_id(&tx).map_err(err)?;
        let out = (current.as_deref() == Some(root_id)).then(f);
        tx.rollback().map_err(err)?;
        Ok(out)
    }

    /// The error for a root key that is not the store's.
    pub(crate) fn root_mismatch(&self, root_id: &str, recorded: &str) -> Error {
        table::root_mismatch(&self.path.display().to_string(), root_id, recorded)
    }

    /// The error for a key that does not exist.
    pub(crate) fn no_such_key(&self, name: &str) -> Error {
        no_such_key(&self.path.display().to_string(), name)
    }

    /// The row of one version of key `name`, with the key's row (one snapshot).
    pub(crate) fn version_row(&self, name: &str, which: Which<'_>) -> Result<Lookup, Error> {
        let err = |e| db_error(&self.path, e);
        let mut conn = self.lock();
        let tx = conn.transaction().map_err(err)?;
        let Some(mut key) = self.key_row(&tx, name)? else {
            return Ok(Lookup::NoKey);
        };
        let row = |r: &rusqlite::Row<'_>| Ok((raw_version(r)?, r.get::<_, Vec<u8>>(5)?));
        let found: Option<(RawVersion, Vec<u8>)> = match which {
            Which::Active => tx
                .prepare_cached(
                    "SELECT version, uuid, created_at, root_id, mac, wrapped FROM key_versions
                     WHERE name = ?1 AND version = ?2",
                )
                .and_then(|mut st| st.query_row(params![name, key.active_version], row)),
            Which::Uuid(uuid) => tx
                .prepare_cached(
                    "SELECT version, uuid, created_at, root_id, mac, wrapped FROM key_versions
                     WHERE name = ?1 AND uuid = ?2",
                )
                .and_then(|mut st| st.query_row(params![name, &uuid[..]], row)),
        }
        .optional()
        .map_err(err)?;
        drop(tx);
        let Some((version, wrapped)) = found else {
            if matches!(which, Which::Active) {
                return Err(corrupt(
                    &self.path,
                    format!(
                        "key `{name}`: active version {} is missing",
                        key.active_version
                    ),
                ));
            }
            return Ok(Lookup::NoVersion);
        };
        key.versions = vec![self.version_record(name, version)?];
        Ok(Lookup::Found(Box::new(VersionRow { key, wrapped })))
    }
}

/// In a transaction: checks that the store's root is `root_id` (or that none is recorded).
pub(super) fn check_root_tx(tx: &Connection, path: &Path, root_id: &str) -> Result<(), Error> {
    let current: Option<String> = stored_root_id(tx).map_err(|e| db_error(path, e))?;
    match current {
        Some(c) if c != root_id => Err(Error::conflict(format!(
            "the root key of the store {} changed while this command ran (now {c}); nothing \
             was changed",
            path.display()
        ))
        .advice(Advice::TryAgain)),
        _ => Ok(()),
    }
}

impl KeyTable for Store {
    fn location(&self) -> String {
        self.path().display().to_string()
    }

    fn load_root(
        &self,
        home: &Home,
        passphrase: &mut PassphraseCache,
    ) -> Result<(Arc<dyn RootKey>, Protection), Error> {
        super::switch::load_root(home, self, passphrase)
    }

    fn adopt_root_id<'a>(&'a self, root_id: &'a str) -> BoxFuture<'a, Result<String, Error>> {
        Box::pin(std::future::ready(Self::adopt_root_id(self, root_id)))
    }

    fn get_key<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<Option<KeyRecord>, Error>> {
        Box::pin(std::future::ready(Self::get_key(self, name)))
    }

    fn list_keys(&self) -> BoxFuture<'_, Result<Vec<KeyRecord>, Error>> {
        Box::pin(std::future::ready(Self::list_keys(self)))
    }

    fn insert_key<'a>(
        &'a self,
        record: &'a KeyRecord,
        first: &'a VersionRecord,
        wrapped: &'a [u8],
    ) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(std::future::ready(Self::insert_key(
            self, record, first, wrapped,
        )))
    }

    fn add_version<'a>(
        &'a self,
        name: &'a str,
        expected_active: u32,
        new: &'a VersionRecord,
        wrapped: &'a [u8],
        due_at: Option<i64>,
    ) -> BoxFuture<'a, Result<AddVersion, Error>> {
        Box::pin(std::future::ready(Self::add_version(
            self,
            name,
            expected_active,
            new,
            wrapped,
            due_at,
        )))
    }

    fn version_row<'a>(
        &'a self,
        name: &'a str,
        which: Which<'a>,
    ) -> BoxFuture<'a, Result<Lookup, Error>> {
        Box::pin(std::future::ready(Self::version_row(self, name, which)))
    }

    fn set_state<'a>(
        &'a self,
        name: &'a str,
        state: KeyState,
    ) -> BoxFuture<'a, Result<bool, Error>> {
        Box::pin(std::future::ready(Self::set_state(self, name, state)))
    }

    fn set_rotation_period<'a>(
        &'a self,
        name: &'a str,
        period_secs: Option<u64>,
    ) -> BoxFuture<'a, Result<KeyRecord, Error>> {
        Box::pin(std::future::ready(Self::set_rotation_period(
            self,
            name,
            period_secs,
        )))
    }

    fn set_min_decrypt_version<'a>(
        &'a self,
        name: &'a str,
        min: u32,
    ) -> BoxFuture<'a, Result<(u32, KeyRecord), Error>> {
        Box::pin(std::future::ready(Self::set_min_decrypt_version(
            self, name, min,
        )))
    }

    fn audit_tip(&self, seen: Option<i64>) -> BoxFuture<'_, Result<AuditTip, Error>> {
        Box::pin(std::future::ready(Self::audit_tip(self, seen)))
    }

    fn create_audit_key<'a>(
        &'a self,
        store_id: &'a str,
        wrapped: &'a [u8],
        key: &'a Arc<AuditKey>,
        history: &'a History,
    ) -> BoxFuture<'a, Result<bool, Error>> {
        Box::pin(std::future::ready(Self::create_audit_key(
            self, store_id, wrapped, key, history,
        )))
    }

    fn audit_log(&self) -> BoxFuture<'_, Result<(Vec<AuditEntry>, Head), Error>> {
        Box::pin(std::future::ready(Self::audit_log(self)))
    }

    fn seal_rows<'a>(
        &'a self,
        wrapped_old: &'a [u8],
        wrapped_new: &'a [u8],
        history: &'a History,
    ) -> BoxFuture<'a, Result<bool, Error>> {
        Box::pin(std::future::ready(Self::seal_rows(
            self,
            wrapped_old,
            wrapped_new,
            history,
        )))
    }

    fn set_audit_signer(&self, signer: Arc<AuditSigner>) {
        Self::set_audit_signer(self, signer);
    }

    fn key_paths_row<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, Result<(KeyPathsRow, Option<AuditEntry>), Error>> {
        Box::pin(std::future::ready((|| {
            let err = |e| db_error(&self.path, e);
            let mut conn = self.lock();
            let tx = conn.transaction().map_err(err)?;
            let row = super::key_paths::key_paths_in(&tx, name).map_err(err)?;
            let entry = match &row.row {
                Some(raw) => tx
                    .prepare_cached(
                        "SELECT seq, at, user, verb, name, detail, prev_hash, hash FROM audit
                         WHERE seq = ?1",
                    )
                    .and_then(|mut st| st.query_row([raw.seal_seq], audit::entry_row).optional())
                    .map_err(err)?,
                None => None,
            };
            Ok((row, entry))
        })()))
    }

    fn use_paths_key(&self, key: Arc<PathsKey>, rows_under_it: bool) {
        self.paths_keys.keep(key, rows_under_it);
    }
}
