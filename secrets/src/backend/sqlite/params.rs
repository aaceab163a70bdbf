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
use zeroize::Zeroizing;

use super::{Store, audit, corrupt, db_error};
use crate::error::Error;
use crate::home::Home;
use crate::params::{CURRENT, PREVIOUS};
use crate::params::{
    Claim, Destroyed, Label, LabelMove, LeaseRequest, Listing, NewVersion, ParamName, ParamPath,
    ParamResult, ParamState, ParamStore, ParamSummary, PathEntry, PutOutcome, RotationPlan,
    StoredVersion, VersionMeta, Which,
};
use crate::store::rows::{
    RawVersion, by_path_query, check_delete, check_promote, check_put, check_unlabel,
    destroy_detail, held_version, label_detail, live, moves_current, path_entry, promote_detail,
    put_detail, range, read_detail, stored_version, subpaths_of, tags_json, unlabel_detail,
    value_bytes, written,
};
use crate::store::test_pause::pause as test_pause;

/// The parameters of an SQLite store.
#[derive(Debug, Clone)]
pub struct SqliteParamStore {
    pub(super) store: Arc<Store>,
}

/// The columns of a version, as `v` (`param_versions`), with its labels.
const COLUMNS: &str = "v.name, v.version, v.type, v.value, v.key_ref, v.description, v.tags,
    v.created_at, v.author, v.expires_at, v.destroyed_at,
    (SELECT group_concat(l.label, ',') FROM param_labels l
      WHERE l.name = v.name AND l.version = v.version)";

fn raw_version(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawVersion> {
    raw_version_at(r, 0)
}

/// The [`COLUMNS`] of a row, starting at column `at`.
fn raw_version_at(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<RawVersion> {
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
    })
}

/// A row of [`by_path_query`]: the parameter's name, then its current version's
/// [`COLUMNS`] (all `NULL`: it has none).
fn path_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Result<RawVersion, String>> {
    if r.get::<_, Option<String>>(1)?.is_none() {
        return Ok(Err(r.get(0)?));
    }
    raw_version_at(r, 1).map(Ok)
}

/// Runs `base` (a query ending in a `WHERE` clause over `params p`) for the parameters
/// directly below `path`, or at any depth with `recursive`, in name order.
fn query_under<T>(
    conn: &Connection,
    base: &str,
    path: &ParamPath,
    recursive: bool,
    f: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<Vec<T>> {
    if recursive {
        let (lo, hi) = range(path);
        let mut stmt = conn.prepare_cached(&format!(
            "{base} AND p.name > ?1 AND p.name < ?2 ORDER BY p.name"
        ))?;
        stmt.query_map(params![lo, hi], f)?.collect()
    } else {
        let mut stmt = conn.prepare_cached(&format!("{base} AND p.parent = ?1 ORDER BY p.name"))?;
        stmt.query_map([path.as_str()], f)?.collect()
    }
}

impl SqliteParamStore {
    /// The parameters of `store`.
    pub fn new(store: Arc<Store>) -> Self {
        Self { store }
    }

    /// Opens the store of `home` (which must exist).
    ///
    /// # Errors
    /// As [`Store::open`].
    pub fn open(home: &Home) -> Result<Self, Error> {
        Ok(Self::new(Arc::new(Store::open(home)?)))
    }

    /// The underlying store (for its keys).
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    pub(super) fn err(&self) -> impl Fn(rusqlite::Error) -> Error + '_ {
        |e| db_error(&self.store.path, e)
    }

    pub(super) fn bad(&self, name: &str, what: &str) -> Error {
        corrupt(
            &self.store.path,
            format!("parameter `{}`: {what}", name.escape_debug()),
        )
    }

    fn version_meta(&self, raw: RawVersion) -> ParamResult<StoredVersion> {
        stored_version(raw, &self.store.path.display().to_string())
    }

    /// The `params` row of `name`.
    pub(super) fn state_in(
        &self,
        conn: &Connection,
        name: &ParamName,
    ) -> ParamResult<Option<ParamState>> {
        let row: Option<(i64, i64, Option<i64>)> = conn
            .query_row(
                "SELECT latest, created_at, deleted_at FROM params WHERE name = ?1",
                [name.as_str()],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
            .map_err(self.err())?;
        row.map(|(latest, created_at, deleted_at)| {
            Ok(ParamState {
                name: name.clone(),
                latest: u32::try_from(latest)
                    .map_err(|_| self.bad(name.as_str(), "bad latest version"))?,
                created_at,
                deleted_at,
            })
        })
        .transpose()
    }

    /// The state of a parameter that must exist and not be deleted.
    pub(super) fn live_state(
        &self,
        conn: &Connection,
        name: &ParamName,
    ) -> ParamResult<ParamState> {
        live(name, self.state_in(conn, name)?)
    }

    pub(super) fn version_in(
        &self,
        conn: &Connection,
        name: &ParamName,
        version: u32,
    ) -> ParamResult<Option<StoredVersion>> {
        let raw = conn
            .query_row(
                &format!(
                    "SELECT {COLUMNS} FROM param_versions v WHERE v.name = ?1 AND v.version = ?2"
                ),
                params![name.as_str(), version],
                raw_version,
            )
            .optional()
            .map_err(self.err())?;
        raw.map(|r| self.version_meta(r)).transpose()
    }

    fn put_sync(&self, new: NewVersion) -> ParamResult<PutOutcome> {
        let name = &new.name;
        let err = self.err();
        let mut conn = self.store.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&err)?;
        let state = self.state_in(&tx, name)?;
        if let Some(stale) = check_put(&new, state.as_ref())? {
            return Ok(stale);
        }
        if state.is_none() {
            tx.execute(
                "INSERT INTO params (name, parent, latest, created_at) VALUES (?1, ?2, ?3, ?4)",
                params![
                    name.as_str(),
                    name.parent().as_str(),
                    new.version,
                    new.created_at
                ],
            )
            .map_err(&err)?;
        } else {
            tx.execute(
                "UPDATE params SET latest = ?2 WHERE name = ?1",
                params![name.as_str(), new.version],
            )
            .map_err(&err)?;
        }
        tx.execute(
            "INSERT INTO param_versions (name, version, type, value, key_ref, description, tags,
                                         created_at, author, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                name.as_str(),
                new.version,
                new.param_type.as_str(),
                value_bytes(&new.value),
                new.key_ref,
                new.description,
                tags_json(&new.tags)?,
                new.created_at,
                new.author,
                new.expires_at
            ],
        )
        .map_err(&err)?;
        for label in &new.labels {
            tx.execute(
                "INSERT INTO param_labels (name, label, version) VALUES (?1, ?2, ?3)
                 ON CONFLICT (name, label) DO UPDATE SET version = excluded.version",
                params![name.as_str(), label.as_str(), new.version],
            )
            .map_err(&err)?;
        }
        if moves_current(&new) {
            tx.execute(
                "INSERT INTO param_labels (name, label, version) VALUES (?1, 'current', ?2)
                 ON CONFLICT (name, label) DO UPDATE SET version = excluded.version",
                params![name.as_str(), new.version],
            )
            .map_err(&err)?;
        }
        let pending = audit::append(
            &tx,
            self.store.signer()?,
            "put",
            name.as_str(),
            &put_detail(&new),
            &err,
        )?;
        test_pause("put: in transaction");
        tx.commit().map_err(&err)?;
        pending.committed();
        Ok(written(new))
    }

    fn get_sync(&self, name: &ParamName, which: &Which) -> ParamResult<StoredVersion> {
        let err = self.err();
        let mut conn = self.store.lock();
        let tx = conn.transaction().map_err(&err)?;
        let state = self.live_state(&tx, name)?;
        let version = match which {
            Which::Latest => self
                .label_in(&tx, name, CURRENT)?
                .ok_or_else(|| Error::NoCurrent(name.clone()))?,
            Which::Label(label) if label.as_str() == CURRENT => self
                .label_in(&tx, name, CURRENT)?
                .ok_or_else(|| Error::NoCurrent(name.clone()))?,
            Which::Version(v) => *v,
            Which::Label(label) => {
                let v: Option<i64> = tx
                    .query_row(
                        "SELECT version FROM param_labels WHERE name = ?1 AND label = ?2",
                        params![name.as_str(), label.as_str()],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(&err)?;
                let v = v.ok_or_else(|| Error::NoLabel {
                    name: name.clone(),
                    label: label.clone(),
                })?;
                u32::try_from(v).map_err(|_| self.bad(name.as_str(), "bad label version"))?
            }
        };
        self.version_in(&tx, name, version)?
            .ok_or_else(|| Error::NoVersion {
                name: name.clone(),
                version,
                latest: state.latest,
            })
    }

    fn get_by_path_sync(&self, path: &ParamPath, recursive: bool) -> ParamResult<Vec<PathEntry>> {
        let err = self.err();
        let conn = self.store.lock();
        let base = by_path_query(COLUMNS);
        let rows = query_under(&conn, &base, path, recursive, path_row).map_err(&err)?;
        drop(conn);
        let location = self.location();
        rows.into_iter().map(|r| path_entry(r, &location)).collect()
    }

    fn list_sync(&self, path: &ParamPath, recursive: bool) -> ParamResult<Listing> {
        let err = self.err();
        let mut conn = self.store.lock();
        let tx = conn.transaction().map_err(&err)?;
        let base = format!(
            "SELECT {COLUMNS}, p.created_at FROM params p
             JOIN param_versions v ON v.name = p.name AND v.version = p.latest
             WHERE p.deleted_at IS NULL"
        );
        let (lo, hi) = range(path);
        let with_created = |r: &rusqlite::Row<'_>| Ok((raw_version(r)?, r.get::<_, i64>(12)?));
        let rows: Vec<(RawVersion, i64)> =
            query_under(&tx, &base, path, recursive, with_created).map_err(&err)?;
        let mut subpaths = Vec::new();
        if !recursive {
            let mut stmt = tx
                .prepare(
                    "SELECT DISTINCT parent FROM params
                     WHERE deleted_at IS NULL AND parent > ?1 AND parent < ?2",
                )
                .map_err(&err)?;
            let parents: Vec<String> = stmt
                .query_map(params![lo, hi], |r| r.get(0))
                .and_then(Iterator::collect)
                .map_err(&err)?;
            subpaths = subpaths_of(&self.store.path.display().to_string(), &lo, parents)?;
        }
        drop(tx);
        drop(conn);
        let params = rows
            .into_iter()
            .map(|(raw, created_at)| {
                Ok(ParamSummary {
                    latest: self.version_meta(raw)?.meta,
                    created_at,
                })
            })
            .collect::<ParamResult<Vec<_>>>()?;
        Ok(Listing { params, subpaths })
    }

    fn history_sync(&self, name: &ParamName) -> ParamResult<(ParamState, Vec<VersionMeta>)> {
        let err = self.err();
        let mut conn = self.store.lock();
        let tx = conn.transaction().map_err(&err)?;
        let state = self
            .state_in(&tx, name)?
            .ok_or_else(|| Error::NotFound(name.clone()))?;
        let rows: Vec<RawVersion> = {
            let mut stmt = tx
                .prepare(&format!(
                    "SELECT {COLUMNS} FROM param_versions v WHERE v.name = ?1 ORDER BY v.version"
                ))
                .map_err(&err)?;
            stmt.query_map([name.as_str()], raw_version)
                .and_then(Iterator::collect)
                .map_err(&err)?
        };
        drop(tx);
        drop(conn);
        let versions = rows
            .into_iter()
            .map(|r| self.version_meta(r).map(|v| v.meta))
            .collect::<ParamResult<Vec<_>>>()?;
        Ok((state, versions))
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
        let state = self.live_state(&tx, name)?;
        held_version(
            name,
            version,
            state.latest,
            self.version_in(&tx, name, version)?,
        )?;
        let mut moves = Vec::with_capacity(labels.len());
        for label in labels {
            let from: Option<i64> = tx
                .query_row(
                    "SELECT version FROM param_labels WHERE name = ?1 AND label = ?2",
                    params![name.as_str(), label.as_str()],
                    |r| r.get(0),
                )
                .optional()
                .map_err(&err)?;
            tx.execute(
                "INSERT INTO param_labels (name, label, version) VALUES (?1, ?2, ?3)
                 ON CONFLICT (name, label) DO UPDATE SET version = excluded.version",
                params![name.as_str(), label.as_str(), version],
            )
            .map_err(&err)?;
            moves.push(LabelMove {
                label: label.clone(),
                from: from.and_then(|v| u32::try_from(v).ok()),
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
        self.live_state(&tx, name)?;
        let mut removed = Vec::with_capacity(labels.len());
        for label in labels {
            let v: Option<i64> = tx
                .query_row(
                    "DELETE FROM param_labels WHERE name = ?1 AND label = ?2 RETURNING version",
                    params![name.as_str(), label.as_str()],
                    |r| r.get(0),
                )
                .optional()
                .map_err(&err)?;
            let Some(v) = v else {
                return Err(Error::NoLabel {
                    name: name.clone(),
                    label: label.clone(),
                });
            };
            removed.push((
                label.clone(),
                u32::try_from(v).map_err(|_| self.bad(name.as_str(), "bad label version"))?,
            ));
        }
        let pending = audit::append(
            &tx,
            self.store.signer()?,
            "unlabel",
            name.as_str(),
            &unlabel_detail(&removed),
            &err,
        )?;
        tx.commit().map_err(&err)?;
        pending.committed();
        Ok(removed)
    }

    pub(super) fn label_in(
        &self,
        tx: &Connection,
        name: &ParamName,
        label: &str,
    ) -> ParamResult<Option<u32>> {
        let v: Option<i64> = tx
            .query_row(
                "SELECT version FROM param_labels WHERE name = ?1 AND label = ?2",
                params![name.as_str(), label],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.err())?;
        v.map(|v| u32::try_from(v).map_err(|_| self.bad(name.as_str(), "bad label version")))
            .transpose()
    }

    fn promote_sync(&self, name: &ParamName, new: u32, old: Option<u32>) -> ParamResult<()> {
        let err = self.err();
        let mut conn = self.store.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&err)?;
        self.live_state(&tx, name)?;
        let pending = self.label_in(&tx, name, "pending")?;
        let current = self.label_in(&tx, name, "current")?;
        check_promote(name, new, old, pending, current)?;
        let set = "INSERT INTO param_labels (name, label, version) VALUES (?1, ?2, ?3)
                   ON CONFLICT (name, label) DO UPDATE SET version = excluded.version";
        tx.execute(set, params![name.as_str(), CURRENT, new])
            .map_err(&err)?;
        let old_live = match old {
            Some(v) => self
                .version_in(&tx, name, v)?
                .is_some_and(|v| v.meta.destroyed_at.is_none()),
            None => false,
        };
        match old {
            Some(old) if old_live => {
                tx.execute(set, params![name.as_str(), PREVIOUS, old])
                    .map_err(&err)?;
            }
            // `previous` names the version before `current`: a destroyed one is no rollback.
            _ if old.is_some() => {
                tx.execute(
                    "DELETE FROM param_labels WHERE name = ?1 AND label = 'previous'",
                    params![name.as_str()],
                )
                .map_err(&err)?;
            }
            _ => {}
        }
        tx.execute(
            "DELETE FROM param_labels WHERE name = ?1 AND label = 'pending'",
            params![name.as_str()],
        )
        .map_err(&err)?;
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
        let state = check_delete(name, self.state_in(&tx, name)?, deleted)?;
        tx.execute(
            "UPDATE params SET deleted_at = ?2 WHERE name = ?1",
            params![name.as_str(), deleted],
        )
        .map_err(&err)?;
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
        let state = self
            .state_in(&tx, name)?
            .ok_or_else(|| Error::NotFound(name.clone()))?;
        let destroyed = match version {
            None => {
                let versions: Vec<u32> = {
                    let mut stmt = tx
                        .prepare(
                            "SELECT version FROM param_versions
                             WHERE name = ?1 AND destroyed_at IS NULL ORDER BY version",
                        )
                        .map_err(&err)?;
                    stmt.query_map([name.as_str()], |r| r.get(0))
                        .and_then(Iterator::collect)
                        .map_err(&err)?
                };
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
                held_version(name, v, state.latest, self.version_in(&tx, name, v)?)?;
                tx.execute(
                    "UPDATE param_versions SET value = NULL, destroyed_at = ?3
                     WHERE name = ?1 AND version = ?2",
                    params![name.as_str(), v, now],
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

    use super::*;
    use crate::params::conformance::{self, Open};
    use crate::store::rows::claim_decision;

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
