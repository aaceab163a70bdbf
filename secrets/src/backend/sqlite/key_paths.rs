//! The SQLite store's `key_paths` rows: what each key with a root of its own attests about
//! the path policies ([`crate::store::key_paths`]).

use std::sync::Arc;

use rusqlite::{Connection, OptionalExtension as _, TransactionBehavior, params};

use super::{SqliteParamStore, audit};
use crate::params::key_paths::{
    before_reseal, changed, claims_of, first_row_allowed, move_allowed, rows_unmoved,
};
use crate::params::{ParamResult, Policies, RowKeys};
use crate::store::key_paths::{KEY_PATHS_VERB, KeyPathsRow, PathsKey, RawKeyPaths, Stage};

/// The row of paths and last entry of key `name`, in `conn`'s snapshot.
pub(super) fn key_paths_in(conn: &Connection, name: &str) -> rusqlite::Result<KeyPathsRow> {
    let row = conn
        .prepare_cached("SELECT secret, paths, holes, seal_seq, mac FROM key_paths WHERE name = ?1")
        .and_then(|mut st| {
            st.query_row([name], |r| {
                Ok(RawKeyPaths {
                    secret: r.get(0)?,
                    paths: r.get(1)?,
                    holes: r.get(2)?,
                    seal_seq: r.get(3)?,
                    mac: r.get(4)?,
                })
            })
            .optional()
        })?;
    let last_entry = conn
        .prepare_cached("SELECT max(seq) FROM audit WHERE name = ?1 AND verb = ?2")
        .and_then(|mut st| st.query_row(params![name, KEY_PATHS_VERB], |r| r.get(0)))?;
    Ok(KeyPathsRow {
        name: name.to_owned(),
        row,
        last_entry,
    })
}

impl SqliteParamStore {
    /// The row and last entry of key `name`, in `conn`'s snapshot.
    fn key_paths_in(&self, conn: &Connection, name: &str) -> ParamResult<KeyPathsRow> {
        key_paths_in(conn, name).map_err(self.err())
    }

    pub(super) fn key_paths_sync(&self, names: &[String]) -> ParamResult<Vec<KeyPathsRow>> {
        let mut conn = self.store.lock();
        let tx = conn.transaction().map_err(self.err())?;
        names.iter().map(|n| self.key_paths_in(&tx, n)).collect()
    }

    pub(super) fn first_key_paths_sync(
        &self,
        key: &Arc<PathsKey>,
        secret: &[u8],
    ) -> ParamResult<()> {
        let err = self.err();
        let name = key.key_name();
        let mut conn = self.store.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&err)?;
        let before = self.key_paths_in(&tx, name)?;
        if before.row.is_some() || before.last_entry.is_some() {
            // Another process gave it its row meanwhile (or it was removed): the check that
            // follows decides.
            return Ok(());
        }
        let entries = super::Store::entries_in(&tx).map_err(&err)?;
        let head = audit::head(&tx).map_err(&err)?;
        let signer = self.row_key()?;
        if !first_row_allowed(&entries, &head, signer.key(), &self.location_text(), name)? {
            return Ok(()); // an entry sealed it: the check that follows refuses the state
        }
        let policies = self.policies_in(&tx)?;
        let claims = claims_of(&policies, name);
        let pending = audit::append(
            &tx,
            self.row_key()?,
            KEY_PATHS_VERB,
            name,
            &claims.detail(),
            &err,
        )?;
        let (paths, holes) = claims.columns();
        tx.execute(
            "INSERT INTO key_paths (name, secret, paths, holes, seal_seq, mac)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                name,
                secret,
                paths,
                holes,
                pending.seq(),
                &key.mac(&claims, pending.seq())[..]
            ],
        )
        .map_err(&err)?;
        // The rows of the names it protects, MACed under the store's key until now, are
        // MACed under its `K_params(K)` from here on, and its own under its `K_keys(K)`.
        let (before, after) = RowKeys::moving_to(policies, key);
        self.remac_moved(&tx, &before, &after, &claims.own)?;
        self.store.move_own_rows(&tx, key, signer.key())?;
        tx.commit().map_err(&err)?;
        pending.committed();
        Ok(())
    }

    pub(super) fn move_key_rows_sync(&self, key: &Arc<PathsKey>) -> ParamResult<()> {
        let err = self.err();
        let name = key.key_name();
        let mut conn = self.store.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&err)?;
        let row = self.key_paths_in(&tx, name)?;
        let policies = self.policies_in(&tx)?;
        let Some(stage) = rows_unmoved(key, &policies, &row) else {
            return Ok(()); // moved meanwhile, or not as it was: the check that follows decides
        };
        let sealed = row.row.as_ref().map_or(0, |r| r.seal_seq);
        let entries = super::Store::entries_in(&tx).map_err(&err)?;
        let head = audit::head(&tx).map_err(&err)?;
        let signer = self.row_key()?;
        if !move_allowed(
            &entries,
            &head,
            signer.key(),
            &self.location_text(),
            name,
            sealed,
        )? {
            return Ok(()); // a later entry sealed it: the check that follows refuses the row
        }
        let claims = claims_of(&policies, name);
        if stage == Stage::Paths {
            let (before, after) = RowKeys::moving_to(policies, key);
            self.remac_moved(&tx, &before, &after, &claims.own)?;
        }
        self.store.move_own_rows(&tx, key, signer.key())?;
        // Sealed to a new entry: the old row put back is then older than the key's last
        // seal (and than what this home saw), never taken for one whose rows are unmoved.
        let pending = audit::append(
            &tx,
            self.row_key()?,
            KEY_PATHS_VERB,
            name,
            &claims.detail(),
            &err,
        )?;
        let (paths, holes) = claims.columns();
        tx.execute(
            "UPDATE key_paths SET paths = ?2, holes = ?3, seal_seq = ?4, mac = ?5
             WHERE name = ?1",
            params![
                name,
                paths,
                holes,
                pending.seq(),
                &key.mac(&claims, pending.seq())[..]
            ],
        )
        .map_err(&err)?;
        crate::store::test_pause::pause("move: in transaction");
        tx.commit().map_err(&err)?;
        pending.committed();
        Ok(())
    }

    /// In the write transaction `tx` of a policy change from `old` to `new`: for each key
    /// with a row whose paths change, appends its entry and seals its row (with its key in
    /// `keys`; a change without it is refused).
    pub(super) fn reseal_key_paths(
        &self,
        tx: &Connection,
        old: &Policies,
        new: &Policies,
        keys: &[Arc<PathsKey>],
    ) -> ParamResult<Vec<audit::Pending>> {
        let err = self.err();
        let mut out = Vec::new();
        for (name, claims) in changed(old, new) {
            let row = self.key_paths_in(tx, &name)?;
            let Some(key) = before_reseal(keys, &self.location_text(), old, &row)? else {
                continue; // a key under the store's root
            };
            let pending = audit::append(
                tx,
                self.row_key()?,
                KEY_PATHS_VERB,
                &name,
                &claims.detail(),
                &err,
            )?;
            let (paths, holes) = claims.columns();
            tx.prepare_cached(
                "UPDATE key_paths SET paths = ?2, holes = ?3, seal_seq = ?4, mac = ?5
                 WHERE name = ?1",
            )
            .and_then(|mut st| {
                st.execute(params![
                    name,
                    paths,
                    holes,
                    pending.seq(),
                    &key.mac(&claims, pending.seq())[..]
                ])
            })
            .map_err(&err)?;
            out.push(pending);
        }
        Ok(out)
    }
}
