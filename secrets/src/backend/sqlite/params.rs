//! [`SqliteParamStore`]: the parameter store in `coffer.db` (schema version 2, see
//! [`crate::store`]).
//!
//! Every write is one `BEGIN IMMEDIATE` transaction, so concurrent writers (processes)
//! serialize on SQLite's write lock; the new version's number is checked against
//! `params.latest` inside it, and `(name, version)` is the primary key of `param_versions`,
//! so no version is lost or written twice. Reads of more than one statement run in one
//! (deferred) transaction: one snapshot.
//!
//! Names below a path are found by a range on the primary key: every name below `/a/b` lies
//! between `/a/b/` and `/a/b0` (`0` follows `/` in ASCII), which `LIKE` could not say exactly
//! (`_` is a wildcard there and a name character here).

use std::sync::Arc;

use coffer_core::keyring::BoxFuture;
use rusqlite::{Connection, OptionalExtension as _, TransactionBehavior, params};

use super::SqliteParamStore;
use super::audit;
use super::param_rows::{COLUMNS, raw_version};
use crate::error::Error;
use crate::params::policy::check_write;
use crate::params::{
    BatchOutcome, Claim, Destroyed, Label, LabelMove, LeaseRequest, Listing, NewVersion, ParamName,
    ParamPath, ParamResult, ParamState, ParamStore, PathEntry, Policies, Policy, PutOutcome,
    RotationPlan, RowKeys, StoredVersion, VersionMeta, Which,
};
use crate::params::{CURRENT, PREVIOUS};
use crate::store::key_paths::{KeyPathsRow, PathsKey};
use crate::store::param_seal::ParamHead;
use crate::store::rows::{
    RawVersion, all_written, check_delete, check_promote, check_put, check_unlabel, destroy_detail,
    held_version, label_detail, live, missing_version, moves_current, new_fields, promote_detail,
    put_detail, read_detail, single, stale_at, state_of, stored_version, tags_json, unlabel_detail,
    value_bytes, version_fields,
};
use crate::store::test_pause::pause as test_pause;

impl SqliteParamStore {
    /// A version row, checked against its MAC and its parameter's checked head, with the
    /// head's labels of it.
    pub(super) fn sealed(&self, head: &ParamHead, raw: RawVersion) -> ParamResult<StoredVersion> {
        let version = self.checked_version(head, &raw)?;
        let mut v = stored_version(raw, &self.location_text())?;
        v.meta.labels = head.labels_of(version);
        Ok(v)
    }

    /// The `params` row of `name`, checked.
    pub(super) fn state_in(
        &self,
        conn: &Connection,
        name: &ParamName,
    ) -> ParamResult<Option<ParamState>> {
        Ok(self
            .head_in(conn, name.as_str())?
            .map(|h| state_of(name, &h)))
    }

    /// The checked head of a parameter that must exist and not be deleted.
    pub(super) fn live_head(&self, conn: &Connection, name: &ParamName) -> ParamResult<ParamHead> {
        let head = self.head_in(conn, name.as_str())?;
        live(name, head.as_ref().map(|h| state_of(name, h)))?;
        head.ok_or_else(|| Error::NotFound(name.clone()))
    }

    /// The state of a parameter that must exist and not be deleted.
    pub(super) fn live_state(
        &self,
        conn: &Connection,
        name: &ParamName,
    ) -> ParamResult<ParamState> {
        live(name, self.state_in(conn, name)?)
    }

    /// Version `version` of the parameter whose checked head is `head`, checked.
    pub(super) fn raw_version_in(
        &self,
        conn: &Connection,
        head: &ParamHead,
        version: u32,
    ) -> ParamResult<Option<RawVersion>> {
        let raw = conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM param_versions v WHERE v.name = ?1 AND v.version = ?2"
            ))
            .and_then(|mut st| {
                st.query_row(params![head.name, version], raw_version)
                    .optional()
            })
            .map_err(self.err())?;
        match raw {
            Some(raw) => {
                self.checked_version(head, &raw)?;
                Ok(Some(raw))
            }
            None if (1..=head.latest).contains(&version) => {
                Err(missing_version(&self.location_text(), &head.name, version))
            }
            None => Ok(None),
        }
    }

    pub(super) fn version_in(
        &self,
        conn: &Connection,
        head: &ParamHead,
        version: u32,
    ) -> ParamResult<Option<StoredVersion>> {
        self.raw_version_in(conn, head, version)?
            .map(|raw| self.sealed(head, raw))
            .transpose()
    }

    fn put_sync(&self, new: NewVersion) -> ParamResult<PutOutcome> {
        single(self.put_all_sync(vec![new], "put: in transaction")?)
    }

    /// Every version of `news` in one transaction ([`ParamStore::put_all`]); the test
    /// pause `pause` after the first is written there.
    fn put_all_sync(&self, news: Vec<NewVersion>, pause: &str) -> ParamResult<BatchOutcome> {
        let err = self.err();
        let mut conn = self.store.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&err)?;
        let keys = self.row_keys_in(&tx)?;
        let mut pendings = Vec::with_capacity(news.len());
        for (index, new) in news.iter().enumerate() {
            match self.put_in(&tx, keys.policies(), new)? {
                Ok(pending) => pendings.push(pending),
                // Dropped, the transaction rolls back: nothing is written.
                Err(stale) => return Ok(stale_at(index, &stale)),
            }
            if index == 0 {
                test_pause(pause);
            }
        }
        tx.commit().map_err(&err)?;
        pendings.into_iter().for_each(audit::Pending::committed);
        Ok(all_written(&news))
    }

    /// One version of a write, inside the caller's transaction `tx`, under `policies` (as
    /// checked in it): the entry it records, or the outcome of a stale write (nothing
    /// written).
    fn put_in(
        &self,
        tx: &Connection,
        policies: &Policies,
        new: &NewVersion,
    ) -> ParamResult<Result<audit::Pending, PutOutcome>> {
        let name = &new.name;
        let err = self.err();
        let head = self.head_in(tx, name.as_str())?;
        let state = head.as_ref().map(|h| state_of(name, h));
        if let Some(stale) = check_put(new, state.as_ref())? {
            return Ok(Err(stale));
        }
        // The policies as they are now, not as the value was encrypted for.
        if let Some(key) = new
            .key_ref
            .as_deref()
            .filter(|_| new.param_type.is_secure())
        {
            check_write(policies, name, key)?;
        }
        // The entry first: a new parameter's head names it as the put that made it.
        let pending = audit::append(
            tx,
            self.store.signer()?,
            "put",
            name.as_str(),
            &put_detail(new),
            &err,
        )?;
        let mut head = match head {
            Some(h) => h,
            None => {
                tx.execute(
                    "INSERT INTO params (name, parent, latest, created_at)
                     VALUES (?1, ?2, ?3, ?4)",
                    params![
                        name.as_str(),
                        name.parent().as_str(),
                        new.version,
                        new.created_at
                    ],
                )
                .map_err(&err)?;
                ParamHead::new(name.as_str(), new.created_at, pending.seq())
            }
        };
        head.latest = new.version;
        let tags = tags_json(&new.tags)?;
        let mac = self.mac_of(&new_fields(new, &tags, head.born))?;
        tx.prepare_cached(
            "INSERT INTO param_versions (name, version, type, value, key_ref, description, tags,
                                         created_at, author, expires_at, mac)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )
        .and_then(|mut st| {
            st.execute(params![
                name.as_str(),
                new.version,
                new.param_type.as_str(),
                value_bytes(&new.value),
                new.key_ref,
                new.description,
                tags,
                new.created_at,
                new.author,
                new.expires_at,
                mac
            ])
        })
        .map_err(&err)?;
        let mut labels: Vec<&str> = new.labels.iter().map(Label::as_str).collect();
        if moves_current(new) {
            labels.push(CURRENT);
        }
        for label in labels {
            tx.execute(
                "INSERT INTO param_labels (name, label, version) VALUES (?1, ?2, ?3)
                 ON CONFLICT (name, label) DO UPDATE SET version = excluded.version",
                params![name.as_str(), label, new.version],
            )
            .map_err(&err)?;
            head.labels.insert(label.to_owned(), new.version);
        }
        self.write_head(tx, &head, pending.seq())?;
        Ok(Ok(pending))
    }

    fn label_sync(
        &self,
        name: &ParamName,
        version: u32,
        labels: &[Label],
    ) -> ParamResult<Vec<LabelMove>> {
        let err = self.err();
        let mut conn = self.store.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&err)?;
        let _keys = self.row_keys_in(&tx)?;
        let mut head = self.live_head(&tx, name)?;
        held_version(
            name,
            version,
            head.latest,
            self.version_in(&tx, &head, version)?,
        )?;
        let mut moves = Vec::with_capacity(labels.len());
        for label in labels {
            tx.execute(
                "INSERT INTO param_labels (name, label, version) VALUES (?1, ?2, ?3)
                 ON CONFLICT (name, label) DO UPDATE SET version = excluded.version",
                params![name.as_str(), label.as_str(), version],
            )
            .map_err(&err)?;
            moves.push(LabelMove {
                label: label.clone(),
                from: head.labels.insert(label.as_str().to_owned(), version),
                to: version,
            });
        }
        let pending = audit::append(
            &tx,
            self.store.signer()?,
            "label",
            name.as_str(),
            &label_detail(&moves),
            &err,
        )?;
        self.write_head(&tx, &head, pending.seq())?;
        tx.commit().map_err(&err)?;
        pending.committed();
        Ok(moves)
    }

    fn unlabel_sync(&self, name: &ParamName, labels: &[Label]) -> ParamResult<Vec<(Label, u32)>> {
        check_unlabel(name, labels)?;
        let err = self.err();
        let mut conn = self.store.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&err)?;
        let _keys = self.row_keys_in(&tx)?;
        let mut head = self.live_head(&tx, name)?;
        let mut removed = Vec::with_capacity(labels.len());
        for label in labels {
            let Some(v) = head.labels.remove(label.as_str()) else {
                return Err(Error::NoLabel {
                    name: name.clone(),
                    label: label.clone(),
                });
            };
            tx.execute(
                "DELETE FROM param_labels WHERE name = ?1 AND label = ?2",
                params![name.as_str(), label.as_str()],
            )
            .map_err(&err)?;
            removed.push((label.clone(), v));
        }
        let pending = audit::append(
            &tx,
            self.store.signer()?,
            "unlabel",
            name.as_str(),
            &unlabel_detail(&removed),
            &err,
        )?;
        self.write_head(&tx, &head, pending.seq())?;
        tx.commit().map_err(&err)?;
        pending.committed();
        Ok(removed)
    }

    fn promote_sync(&self, name: &ParamName, new: u32, old: Option<u32>) -> ParamResult<()> {
        let err = self.err();
        let mut conn = self.store.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&err)?;
        let _keys = self.row_keys_in(&tx)?;
        let mut head = self.live_head(&tx, name)?;
        let pending = head.labels.get("pending").copied();
        let current = head.labels.get(CURRENT).copied();
        check_promote(name, new, old, pending, current)?;
        let set = "INSERT INTO param_labels (name, label, version) VALUES (?1, ?2, ?3)
                   ON CONFLICT (name, label) DO UPDATE SET version = excluded.version";
        tx.execute(set, params![name.as_str(), CURRENT, new])
            .map_err(&err)?;
        head.labels.insert(CURRENT.to_owned(), new);
        // `previous` names the version before `current`: a destroyed one is no rollback.
        match old {
            Some(old) if old <= head.latest && !head.destroyed.contains(&old) => {
                tx.execute(set, params![name.as_str(), PREVIOUS, old])
                    .map_err(&err)?;
                head.labels.insert(PREVIOUS.to_owned(), old);
            }
            Some(_) => {
                tx.execute(
                    "DELETE FROM param_labels WHERE name = ?1 AND label = 'previous'",
                    params![name.as_str()],
                )
                .map_err(&err)?;
                head.labels.remove(PREVIOUS);
            }
            None => {}
        }
        tx.execute(
            "DELETE FROM param_labels WHERE name = ?1 AND label = 'pending'",
            params![name.as_str()],
        )
        .map_err(&err)?;
        head.labels.remove("pending");
        tx.execute(
            "UPDATE param_rotations SET pending_run = NULL WHERE name = ?1",
            params![name.as_str()],
        )
        .map_err(&err)?;
        let pending = audit::append(
            &tx,
            self.store.signer()?,
            "rotate",
            name.as_str(),
            &promote_detail(new, old),
            &err,
        )?;
        self.write_head(&tx, &head, pending.seq())?;
        test_pause("promote: in transaction");
        tx.commit().map_err(&err)?;
        pending.committed();
        Ok(())
    }

    fn set_deleted(&self, name: &ParamName, deleted: Option<i64>) -> ParamResult<()> {
        let err = self.err();
        let mut conn = self.store.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&err)?;
        let _keys = self.row_keys_in(&tx)?;
        let mut head = self.head_in(&tx, name.as_str())?;
        let state = check_delete(name, head.as_ref().map(|h| state_of(name, h)), deleted)?;
        let Some(head) = head.as_mut() else {
            return Err(Error::NotFound(name.clone()));
        };
        head.deleted_at = deleted;
        let verb = if deleted.is_some() { "rm" } else { "restore" };
        let detail = format!("latest version {}", state.latest);
        let pending = audit::append(
            &tx,
            self.store.signer()?,
            verb,
            name.as_str(),
            &detail,
            &err,
        )?;
        self.write_head(&tx, head, pending.seq())?;
        tx.commit().map_err(&err)?;
        pending.committed();
        Ok(())
    }

    fn destroy_sync(
        &self,
        name: &ParamName,
        version: Option<u32>,
        now: i64,
    ) -> ParamResult<Destroyed> {
        let err = self.err();
        let mut conn = self.store.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&err)?;
        let _keys = self.row_keys_in(&tx)?;
        let mut head = self
            .head_in(&tx, name.as_str())?
            .ok_or_else(|| Error::NotFound(name.clone()))?;
        let destroyed = match version {
            None => {
                let versions: Vec<u32> = tx
                    .prepare(
                        "SELECT version FROM param_versions
                         WHERE name = ?1 AND destroyed_at IS NULL ORDER BY version",
                    )
                    .and_then(|mut st| st.query_map([name.as_str()], |r| r.get(0))?.collect())
                    .map_err(&err)?;
                for sql in [
                    "DELETE FROM param_labels WHERE name = ?1",
                    "DELETE FROM param_versions WHERE name = ?1",
                    "DELETE FROM params WHERE name = ?1",
                ] {
                    tx.execute(sql, [name.as_str()]).map_err(&err)?;
                }
                Destroyed {
                    name: name.clone(),
                    versions,
                    whole: true,
                    lingers: None,
                }
            }
            Some(v) => {
                let raw = self.raw_version_in(&tx, &head, v)?;
                let found = raw
                    .as_ref()
                    .map(|r| stored_version(r.clone(), &self.location_text()))
                    .transpose()?;
                held_version(name, v, head.latest, found)?;
                let Some(raw) = raw else {
                    return Err(missing_version(&self.location_text(), name.as_str(), v));
                };
                let mut fields = version_fields(&raw, v, head.born);
                fields.value = None;
                fields.destroyed_at = Some(now);
                let mac = self.mac_of(&fields)?;
                tx.execute(
                    "UPDATE param_versions SET value = NULL, destroyed_at = ?3, mac = ?4
                     WHERE name = ?1 AND version = ?2",
                    params![name.as_str(), v, now, mac],
                )
                .map_err(&err)?;
                // `current` stays: `get NAME` then says that the current version was
                // destroyed, rather than reading another one.
                tx.execute(
                    "DELETE FROM param_labels WHERE name = ?1 AND version = ?2
                         AND label <> 'current'",
                    params![name.as_str(), v],
                )
                .map_err(&err)?;
                head.destroyed.insert(v);
                head.unlabel_version(v, CURRENT);
                Destroyed {
                    name: name.clone(),
                    versions: vec![v],
                    whole: false,
                    lingers: None,
                }
            }
        };
        let pending = audit::append(
            &tx,
            self.store.signer()?,
            "destroy",
            name.as_str(),
            &destroy_detail(&destroyed),
            &err,
        )?;
        if !destroyed.whole {
            self.write_head(&tx, &head, pending.seq())?;
        }
        tx.commit().map_err(&err)?;
        pending.committed();
        // The old pages were zeroed (secure_delete); copy the WAL into the database and empty
        // it, so the destroyed value does not linger there either. Another reader may hold
        // the WAL open: then it is emptied at a later checkpoint.
        let mut destroyed = destroyed;
        // First without waiting: a reader that holds the store open keeps the old pages in
        // the WAL, and waiting for it (up to the busy timeout) would not remove them.
        let checkpoint = |mode: &str| {
            conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| {
                Ok(r.get::<_, i64>(0)? == 0 && r.get::<_, i64>(1)? == r.get::<_, i64>(2)?)
            })
        };
        let emptied = match checkpoint("PASSIVE") {
            Ok(true) => checkpoint("TRUNCATE"),
            other => other,
        };
        match emptied {
            Ok(true) => {}
            Ok(false) => {
                destroyed.lingers = Some(format!(
                    "{}-wal until the other processes that have the store open close it (the \
                     last one to close it copies the log into the store and removes it)",
                    self.store.path.display()
                ));
            }
            Err(e) => {
                tracing::debug!("checkpoint after destroy: {e}");
                destroyed.lingers = Some(format!("{}-wal", self.store.path.display()));
            }
        }
        Ok(destroyed)
    }
}

impl ParamStore for SqliteParamStore {
    fn location(&self) -> String {
        format!("sqlite://{}", self.store.path.display())
    }

    fn state<'a>(&'a self, name: &'a ParamName) -> BoxFuture<'a, ParamResult<Option<ParamState>>> {
        Box::pin(async move {
            let conn = self.store.lock();
            self.state_in(&conn, name)
        })
    }

    fn put(&self, new: NewVersion) -> BoxFuture<'_, ParamResult<PutOutcome>> {
        Box::pin(async move { self.put_sync(new) })
    }

    fn put_all(&self, news: Vec<NewVersion>) -> BoxFuture<'_, ParamResult<BatchOutcome>> {
        Box::pin(async move { self.put_all_sync(news, "put all: in transaction") })
    }

    fn get<'a>(
        &'a self,
        name: &'a ParamName,
        which: &'a Which,
    ) -> BoxFuture<'a, ParamResult<StoredVersion>> {
        Box::pin(async move { self.get_sync(name, which) })
    }

    fn get_by_path<'a>(
        &'a self,
        path: &'a ParamPath,
        recursive: bool,
    ) -> BoxFuture<'a, ParamResult<Vec<PathEntry>>> {
        Box::pin(async move { self.get_by_path_sync(path, recursive) })
    }

    fn list<'a>(
        &'a self,
        path: &'a ParamPath,
        recursive: bool,
    ) -> BoxFuture<'a, ParamResult<Listing>> {
        Box::pin(async move { self.list_sync(path, recursive) })
    }

    fn history<'a>(
        &'a self,
        name: &'a ParamName,
    ) -> BoxFuture<'a, ParamResult<(ParamState, Vec<VersionMeta>)>> {
        Box::pin(async move { self.history_sync(name) })
    }

    fn label<'a>(
        &'a self,
        name: &'a ParamName,
        version: u32,
        labels: &'a [Label],
    ) -> BoxFuture<'a, ParamResult<Vec<LabelMove>>> {
        Box::pin(async move { self.label_sync(name, version, labels) })
    }

    fn unlabel<'a>(
        &'a self,
        name: &'a ParamName,
        labels: &'a [Label],
    ) -> BoxFuture<'a, ParamResult<Vec<(Label, u32)>>> {
        Box::pin(async move { self.unlabel_sync(name, labels) })
    }

    fn promote<'a>(
        &'a self,
        name: &'a ParamName,
        new: u32,
        old: Option<u32>,
    ) -> BoxFuture<'a, ParamResult<()>> {
        Box::pin(async move { self.promote_sync(name, new, old) })
    }

    fn rotation_plans(&self) -> BoxFuture<'_, ParamResult<Vec<RotationPlan>>> {
        Box::pin(async move { self.rotation_plans_sync() })
    }

    fn set_rotation_plan<'a>(&'a self, plan: &'a RotationPlan) -> BoxFuture<'a, ParamResult<()>> {
        Box::pin(async move { self.set_rotation_plan_sync(plan) })
    }

    fn claim_rotation<'a>(&'a self, req: LeaseRequest<'a>) -> BoxFuture<'a, ParamResult<Claim>> {
        Box::pin(async move { self.claim_rotation_sync(req) })
    }

    fn release_rotation<'a>(
        &'a self,
        name: &'a ParamName,
        holder: &'a str,
        now: i64,
        error: Option<&'a str>,
    ) -> BoxFuture<'a, ParamResult<()>> {
        Box::pin(async move { self.release_rotation_sync(name, holder, now, error) })
    }

    fn set_pending_run<'a>(
        &'a self,
        name: &'a ParamName,
        holder: &'a str,
        run: Option<&'a [u8]>,
    ) -> BoxFuture<'a, ParamResult<()>> {
        Box::pin(async move { self.set_pending_run_sync(name, holder, run) })
    }

    fn set_rotation_hook<'a>(
        &'a self,
        name: &'a ParamName,
        holder: &'a str,
        hook: Option<u32>,
    ) -> BoxFuture<'a, ParamResult<()>> {
        Box::pin(async move { self.set_rotation_hook_sync(name, holder, hook) })
    }

    fn delete<'a>(&'a self, name: &'a ParamName, now: i64) -> BoxFuture<'a, ParamResult<()>> {
        Box::pin(async move { self.set_deleted(name, Some(now)) })
    }

    fn restore<'a>(&'a self, name: &'a ParamName) -> BoxFuture<'a, ParamResult<()>> {
        Box::pin(async move { self.set_deleted(name, None) })
    }

    fn destroy<'a>(
        &'a self,
        name: &'a ParamName,
        version: Option<u32>,
        now: i64,
    ) -> BoxFuture<'a, ParamResult<Destroyed>> {
        Box::pin(async move { self.destroy_sync(name, version, now) })
    }

    fn use_row_keys(&self, keys: Arc<RowKeys>) {
        self.row_keys.set(keys);
    }

    fn policies(&self) -> BoxFuture<'_, ParamResult<Policies>> {
        Box::pin(async move { self.policies_sync() })
    }

    fn set_policy<'a>(
        &'a self,
        policy: &'a Policy,
        keys: &'a [Arc<PathsKey>],
    ) -> BoxFuture<'a, ParamResult<Option<Policy>>> {
        Box::pin(async move { self.set_policy_sync(policy, keys) })
    }

    fn remove_policy<'a>(
        &'a self,
        path: &'a ParamPath,
        keys: &'a [Arc<PathsKey>],
    ) -> BoxFuture<'a, ParamResult<Policy>> {
        Box::pin(async move { self.remove_policy_sync(path, keys) })
    }

    fn key_paths<'a>(
        &'a self,
        names: &'a [String],
    ) -> BoxFuture<'a, ParamResult<Vec<KeyPathsRow>>> {
        Box::pin(async move { self.key_paths_sync(names) })
    }

    fn first_key_paths<'a>(
        &'a self,
        key: &'a Arc<PathsKey>,
        secret: &'a [u8],
    ) -> BoxFuture<'a, ParamResult<()>> {
        Box::pin(async move { self.first_key_paths_sync(key, secret) })
    }

    fn move_key_rows<'a>(&'a self, key: &'a Arc<PathsKey>) -> BoxFuture<'a, ParamResult<()>> {
        Box::pin(async move { self.move_key_rows_sync(key) })
    }

    fn record_secure_reads<'a>(
        &'a self,
        reads: &'a [(ParamName, u32)],
        context: &'a str,
    ) -> BoxFuture<'a, ParamResult<()>> {
        Box::pin(async move {
            let entries: Vec<(&str, &str, String)> = reads
                .iter()
                .map(|(name, version)| {
                    ("get-secure", name.as_str(), read_detail(*version, context))
                })
                .collect();
            self.store.audit_many(&entries)
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use std::sync::Arc;

    use super::super::Store;
    use super::*;
    use crate::home::Home;
    use crate::params::conformance::{self, Open};
    use crate::store::rows::{claim_decision, range};

    /// Who may take a rotation lease, and when a schedule is due.
    #[test]
    fn claim_decisions() {
        let plan =
            |every: Option<u64>, due: Option<i64>, lease: Option<(&str, i64)>| RotationPlan {
                name: ParamName::parse("/a").unwrap(),
                every_secs: every,
                generate: None,
                set_hook: None,
                test_hook: None,
                hook_timeout_secs: 60,
                next_due: due,
                last_error: None,
                lease: lease.map(|(h, u)| (h.to_owned(), u)),
                lease_hook: None,
                seal: None,
                workdir: None,
                pending_run: None,
            };
        // No row: a manual rotation makes one; a due run has nothing to do.
        assert_eq!(claim_decision(None, "me:1", 100, false, None), None);
        assert_eq!(
            claim_decision(None, "me:1", 100, true, None),
            Some(Claim::NotDue)
        );
        // Due only with a schedule whose time has come.
        let p = plan(Some(60), Some(100), None);
        assert_eq!(claim_decision(Some(&p), "me:1", 100, true, None), None);
        assert_eq!(
            claim_decision(Some(&p), "me:1", 99, true, None),
            Some(Claim::NotDue)
        );
        let p = plan(None, Some(0), None);
        assert_eq!(
            claim_decision(Some(&p), "me:1", 100, true, None),
            Some(Claim::NotDue)
        );
        // A running lease of another holder blocks, unless it ran out or is stolen from a
        // holder known dead; our own lease is ours.
        let p = plan(Some(60), Some(0), Some(("other:2", 200)));
        assert_eq!(
            claim_decision(Some(&p), "me:1", 100, false, None),
            Some(Claim::Held {
                holder: "other:2".into(),
                until: 200,
                hook: None,
                expired: false,
            })
        );
        assert_eq!(claim_decision(Some(&p), "me:1", 200, false, None), None);
        assert_eq!(
            claim_decision(Some(&p), "me:1", 100, false, Some("other:2")),
            None
        );
        assert!(claim_decision(Some(&p), "me:1", 100, false, Some("other:3")).is_some());
        assert_eq!(claim_decision(Some(&p), "other:2", 100, true, None), None);
    }

    fn fresh() -> Open {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path().join("home"));
        home.create_dir().unwrap();
        drop(Store::create(&home).unwrap());
        let path = home.store_path();
        Box::new(move || {
            let _keep = &dir;
            let sqlite = Arc::new(Store::open_file(path.clone()).unwrap());
            futures::executor::block_on(crate::store::audit_key::attach_for_tests(&*sqlite));
            let store: Arc<dyn ParamStore> = Arc::new(SqliteParamStore::new(sqlite));
            store
        })
    }

    #[test]
    fn conformance_suite() {
        conformance::run_all(&fresh);
    }

    #[test]
    fn ranges_bound_the_names_below_a_path() {
        let (lo, hi) = range(&ParamPath::parse("/a/b").unwrap());
        assert_eq!((lo.as_str(), hi.as_str()), ("/a/b/", "/a/b0"));
        let (lo, hi) = range(&ParamPath::root());
        assert_eq!((lo.as_str(), hi.as_str()), ("/", "0"));
    }

    #[test]
    fn a_version_1_store_is_migrated_and_keeps_its_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("coffer.db");
        {
            let c = Connection::open(&path).unwrap();
            c.execute_batch(super::super::schema::MIGRATIONS[0])
                .unwrap();
            c.execute_batch(
                "PRAGMA user_version = 1;
                 INSERT INTO meta VALUES ('schema', '1');
                 INSERT INTO keys VALUES ('k', 'aes-256', 0, 'enabled', NULL, 1, 1);",
            )
            .unwrap();
        }
        let store = Arc::new(Store::open_file(path.clone()).unwrap());
        assert_eq!(
            store.meta("schema").unwrap(),
            Some(super::super::schema::SCHEMA_VERSION.to_string())
        );
        assert!(store.get_key("k").unwrap().is_some());
        let params = SqliteParamStore::new(store);
        let name = ParamName::parse("/x").unwrap();
        assert!(
            futures::executor::block_on(params.state(&name))
                .unwrap()
                .is_none()
        );
        let v: u32 = Connection::open(&path)
            .unwrap()
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, super::super::schema::SCHEMA_VERSION);
    }

    #[test]
    fn a_file_that_is_not_a_database_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("coffer.db");
        let junk = vec![0x5a_u8; 8192];
        std::fs::write(&path, &junk).unwrap();
        let e = Store::open_file(path.clone()).unwrap_err();
        assert!(e.to_string().contains("not an SQLite database"), "{e}");
        assert_eq!(std::fs::read(&path).unwrap(), junk);
    }
}
