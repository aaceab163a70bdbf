//! The parameters of a PostgreSQL store: versions, labels, paths, deletion and destruction
//! ([`ParamStore`]).

use coffer_core::keyring::BoxFuture;
use tokio_postgres::{GenericClient, Row};
use zeroize::Zeroizing;

use super::PgStore;
use super::audit::append;
use super::tx::{lock_writes, snapshot};
use crate::error::Error;
use crate::params::{
    CURRENT, Claim, Destroyed, Label, LabelMove, LeaseRequest, Listing, NewVersion, PREVIOUS,
    ParamName, ParamPath, ParamResult, ParamState, ParamStore, ParamSummary, PathEntry, PutOutcome,
    RotationPlan, StoredVersion, VersionMeta, Which as ParamWhich,
};
use crate::store::rows::{
    RawVersion, bad_row, by_path_query, check_delete, check_promote, check_put, check_unlabel,
    destroy_detail, held_version, label_detail, live, moves_current, path_entry, promote_detail,
    put_detail, range, read_detail, stored_version, subpaths_of, tags_json, unlabel_detail,
    value_bytes, written,
};
use crate::store::test_pause::pause as test_pause;

/// The columns of a version, as `v` (`param_versions`), with its labels.
const COLUMNS: &str = "v.name, v.version, v.type, v.value, v.key_ref, v.description, v.tags,
    v.created_at, v.author, v.expires_at, v.destroyed_at,
    (SELECT string_agg(l.label, ',') FROM param_labels l
      WHERE l.name = v.name AND l.version = v.version)";

impl PgStore {
    pub(super) async fn state_in(
        &self,
        tx: &impl GenericClient,
        name: &ParamName,
    ) -> ParamResult<Option<ParamState>> {
        let row = tx
            .query_opt(
                "SELECT latest, created_at, deleted_at FROM params WHERE name = $1",
                &[&name.as_str()],
            )
            .await
            .map_err(self.perr())?;
        row.map(|r| {
            Ok(ParamState {
                name: name.clone(),
                latest: number(&r, 0, &self.location, name, "bad latest version")?,
                created_at: r.try_get(1).map_err(self.perr())?,
                deleted_at: r.try_get(2).map_err(self.perr())?,
            })
        })
        .transpose()
    }

    pub(super) async fn live_state(
        &self,
        tx: &impl GenericClient,
        name: &ParamName,
    ) -> ParamResult<ParamState> {
        live(name, self.state_in(tx, name).await?)
    }

    pub(super) async fn version_in(
        &self,
        tx: &impl GenericClient,
        name: &ParamName,
        version: u32,
    ) -> ParamResult<Option<StoredVersion>> {
        let row = tx
            .query_opt(
                &format!(
                    "SELECT {COLUMNS} FROM param_versions v WHERE v.name = $1 AND v.version = $2"
                ),
                &[&name.as_str(), &i64::from(version)],
            )
            .await
            .map_err(self.perr())?;
        row.map(|r| stored_version(raw_version(&r).map_err(self.perr())?, &self.location))
            .transpose()
    }

    pub(super) async fn label_version(
        &self,
        tx: &impl GenericClient,
        name: &ParamName,
        label: &Label,
    ) -> ParamResult<Option<u32>> {
        let row = tx
            .query_opt(
                "SELECT version FROM param_labels WHERE name = $1 AND label = $2",
                &[&name.as_str(), &label.as_str()],
            )
            .await
            .map_err(self.perr())?;
        row.map(|r| number(&r, 0, &self.location, name, "bad label version"))
            .transpose()
    }

    /// Rows of `base` (a query ending in a `WHERE` clause over `params p`) for the
    /// parameters below `path`, by name.
    pub(super) async fn query_under(
        &self,
        tx: &impl GenericClient,
        base: &str,
        path: &ParamPath,
        recursive: bool,
    ) -> ParamResult<Vec<Row>> {
        let rows = if recursive {
            let (lo, hi) = range(path);
            tx.query(
                &format!("{base} AND p.name > $1 AND p.name < $2 ORDER BY p.name"),
                &[&lo, &hi],
            )
            .await
        } else {
            tx.query(
                &format!("{base} AND p.parent = $1 ORDER BY p.name"),
                &[&path.as_str()],
            )
            .await
        };
        rows.map_err(self.perr())
    }

    pub(super) async fn put_tx(&self, new: &NewVersion) -> ParamResult<PutOutcome> {
        let err = self.perr();
        let mut client = self.client.lock().await;
        let tx = client.transaction().await.map_err(&err)?;
        lock_writes(&tx).await.map_err(&err)?;
        let name = &new.name;
        let state = self.state_in(&tx, name).await?;
        if let Some(stale) = check_put(new, state.as_ref())? {
            return Ok(stale);
        }
        let version = i64::from(new.version);
        if state.is_none() {
            tx.execute(
                "INSERT INTO params (name, parent, latest, created_at) VALUES ($1, $2, $3, $4)",
                &[
                    &name.as_str(),
                    &name.parent().as_str(),
                    &version,
                    &new.created_at,
                ],
            )
            .await
            .map_err(&err)?;
        } else {
            tx.execute(
                "UPDATE params SET latest = $2 WHERE name = $1",
                &[&name.as_str(), &version],
            )
            .await
            .map_err(&err)?;
        }
        tx.execute(
            "INSERT INTO param_versions (name, version, type, value, key_ref, description, tags,
                                         created_at, author, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            &[
                &name.as_str(),
                &version,
                &new.param_type.as_str(),
                &value_bytes(&new.value),
                &new.key_ref,
                &new.description,
                &tags_json(&new.tags)?,
                &new.created_at,
                &new.author,
                &new.expires_at,
            ],
        )
        .await
        .map_err(&err)?;
        for label in &new.labels {
            tx.execute(
                "INSERT INTO param_labels (name, label, version) VALUES ($1, $2, $3)
                 ON CONFLICT (name, label) DO UPDATE SET version = excluded.version",
                &[&name.as_str(), &label.as_str(), &version],
            )
            .await
            .map_err(&err)?;
        }
        if moves_current(new) {
            tx.execute(
                "INSERT INTO param_labels (name, label, version) VALUES ($1, 'current', $2)
                 ON CONFLICT (name, label) DO UPDATE SET version = excluded.version",
                &[&name.as_str(), &version],
            )
            .await
            .map_err(&err)?;
        }
        let pending = append(
            &tx,
            self.signer()?,
            "put",
            name.as_str(),
            &put_detail(new),
            &err,
        )
        .await?;
        test_pause("put: in transaction");
        tx.commit().await.map_err(&err)?;
        pending.committed();
        Ok(written(new.clone()))
    }

    pub(super) async fn get_tx(
        &self,
        name: &ParamName,
        which: &ParamWhich,
    ) -> ParamResult<StoredVersion> {
        let mut client = self.client.lock().await;
        let tx = snapshot(&mut client).await.map_err(self.perr())?;
        let state = self.live_state(&tx, name).await?;
        let version = match which {
            ParamWhich::Latest => {
                let current = Label::parse(CURRENT)?;
                self.label_version(&tx, name, &current)
                    .await?
                    .ok_or_else(|| Error::NoCurrent(name.clone()))?
            }
            ParamWhich::Label(label) if label.as_str() == CURRENT => self
                .label_version(&tx, name, label)
                .await?
                .ok_or_else(|| Error::NoCurrent(name.clone()))?,
            ParamWhich::Version(v) => *v,
            ParamWhich::Label(label) => {
                self.label_version(&tx, name, label)
                    .await?
                    .ok_or_else(|| Error::NoLabel {
                        name: name.clone(),
                        label: label.clone(),
                    })?
            }
        };
        let found = self.version_in(&tx, name, version).await?;
        tx.commit().await.map_err(self.perr())?;
        found.ok_or_else(|| Error::NoVersion {
            name: name.clone(),
            version,
            latest: state.latest,
        })
    }

    pub(super) async fn list_tx(&self, path: &ParamPath, recursive: bool) -> ParamResult<Listing> {
        let err = self.perr();
        let mut client = self.client.lock().await;
        let tx = snapshot(&mut client).await.map_err(&err)?;
        let base = format!(
            "SELECT {COLUMNS}, p.created_at FROM params p
             JOIN param_versions v ON v.name = p.name AND v.version = p.latest
             WHERE p.deleted_at IS NULL"
        );
        let rows = self.query_under(&tx, &base, path, recursive).await?;
        let mut subpaths = Vec::new();
        if !recursive {
            let (lo, hi) = range(path);
            let parents = tx
                .query(
                    "SELECT DISTINCT parent FROM params
                     WHERE deleted_at IS NULL AND parent > $1 AND parent < $2",
                    &[&lo, &hi],
                )
                .await
                .map_err(&err)?;
            let parents = parents
                .iter()
                .map(|r| r.try_get::<_, String>(0))
                .collect::<Result<Vec<_>, _>>()
                .map_err(&err)?;
            subpaths = subpaths_of(&self.location, &lo, parents)?;
        }
        tx.commit().await.map_err(&err)?;
        drop(client);
        let params = rows
            .iter()
            .map(|r| {
                Ok(ParamSummary {
                    latest: stored_version(raw_version(r).map_err(self.perr())?, &self.location)?
                        .meta,
                    created_at: r.try_get(12).map_err(self.perr())?,
                })
            })
            .collect::<ParamResult<Vec<_>>>()?;
        Ok(Listing { params, subpaths })
    }

    pub(super) async fn history_tx(
        &self,
        name: &ParamName,
    ) -> ParamResult<(ParamState, Vec<VersionMeta>)> {
        let mut client = self.client.lock().await;
        let tx = snapshot(&mut client).await.map_err(self.perr())?;
        let state = self
            .state_in(&tx, name)
            .await?
            .ok_or_else(|| Error::NotFound(name.clone()))?;
        let rows = tx
            .query(
                &format!(
                    "SELECT {COLUMNS} FROM param_versions v WHERE v.name = $1 ORDER BY v.version"
                ),
                &[&name.as_str()],
            )
            .await
            .map_err(self.perr())?;
        tx.commit().await.map_err(self.perr())?;
        let versions = rows
            .iter()
            .map(|r| {
                stored_version(raw_version(r).map_err(self.perr())?, &self.location).map(|v| v.meta)
            })
            .collect::<ParamResult<Vec<_>>>()?;
        Ok((state, versions))
    }

    pub(super) async fn label_tx(
        &self,
        name: &ParamName,
        version: u32,
        labels: &[Label],
    ) -> ParamResult<Vec<LabelMove>> {
        let err = self.perr();
        let mut client = self.client.lock().await;
        let tx = client.transaction().await.map_err(&err)?;
        lock_writes(&tx).await.map_err(&err)?;
        let state = self.live_state(&tx, name).await?;
        let found = self.version_in(&tx, name, version).await?;
        held_version(name, version, state.latest, found)?;
        let mut moves = Vec::with_capacity(labels.len());
        for label in labels {
            let from = self.label_version(&tx, name, label).await?;
            tx.execute(
                "INSERT INTO param_labels (name, label, version) VALUES ($1, $2, $3)
                 ON CONFLICT (name, label) DO UPDATE SET version = excluded.version",
                &[&name.as_str(), &label.as_str(), &i64::from(version)],
            )
            .await
            .map_err(&err)?;
            moves.push(LabelMove {
                label: label.clone(),
                from,
                to: version,
            });
        }
        let pending = append(
            &tx,
            self.signer()?,
            "label",
            name.as_str(),
            &label_detail(&moves),
            &err,
        )
        .await?;
        tx.commit().await.map_err(&err)?;
        pending.committed();
        Ok(moves)
    }

    pub(super) async fn unlabel_tx(
        &self,
        name: &ParamName,
        labels: &[Label],
    ) -> ParamResult<Vec<(Label, u32)>> {
        check_unlabel(name, labels)?;
        let err = self.perr();
        let mut client = self.client.lock().await;
        let tx = client.transaction().await.map_err(&err)?;
        lock_writes(&tx).await.map_err(&err)?;
        self.live_state(&tx, name).await?;
        let mut removed = Vec::with_capacity(labels.len());
        for label in labels {
            let row = tx
                .query_opt(
                    "DELETE FROM param_labels WHERE name = $1 AND label = $2 RETURNING version",
                    &[&name.as_str(), &label.as_str()],
                )
                .await
                .map_err(&err)?;
            let Some(row) = row else {
                return Err(Error::NoLabel {
                    name: name.clone(),
                    label: label.clone(),
                });
            };
            let v = number(&row, 0, &self.location, name, "bad label version")?;
            removed.push((label.clone(), v));
        }
        let pending = append(
            &tx,
            self.signer()?,
            "unlabel",
            name.as_str(),
            &unlabel_detail(&removed),
            &err,
        )
        .await?;
        tx.commit().await.map_err(&err)?;
        pending.committed();
        Ok(removed)
    }

    pub(super) async fn promote_tx(
        &self,
        name: &ParamName,
        new: u32,
        old: Option<u32>,
    ) -> ParamResult<()> {
        let err = self.perr();
        let mut client = self.client.lock().await;
        let tx = client.transaction().await.map_err(&err)?;
        lock_writes(&tx).await.map_err(&err)?;
        self.live_state(&tx, name).await?;
        let mut labels = [None, None];
        for (i, label) in ["pending", "current"].into_iter().enumerate() {
            let row = tx
                .query_opt(
                    "SELECT version FROM param_labels WHERE name = $1 AND label = $2",
                    &[&name.as_str(), &label],
                )
                .await
                .map_err(&err)?;
            labels[i] = row
                .map(|r| number(&r, 0, &self.location, name, "bad label version"))
                .transpose()?;
        }
        check_promote(name, new, old, labels[0], labels[1])?;
        let set = "INSERT INTO param_labels (name, label, version) VALUES ($1, $2, $3)
                   ON CONFLICT (name, label) DO UPDATE SET version = excluded.version";
        tx.execute(set, &[&name.as_str(), &CURRENT, &i64::from(new)])
            .await
            .map_err(&err)?;
        if let Some(old) = old {
            let old_live = self
                .version_in(&tx, name, old)
                .await?
                .is_some_and(|v| v.meta.destroyed_at.is_none());
            if old_live {
                tx.execute(set, &[&name.as_str(), &PREVIOUS, &i64::from(old)])
                    .await
                    .map_err(&err)?;
            } else {
                // `previous` names the version before `current`: a destroyed one is no
                // rollback.
                tx.execute(
                    "DELETE FROM param_labels WHERE name = $1 AND label = 'previous'",
                    &[&name.as_str()],
                )
                .await
                .map_err(&err)?;
            }
        }
        for sql in [
            "DELETE FROM param_labels WHERE name = $1 AND label = 'pending'",
            "UPDATE param_rotations SET pending_run = NULL WHERE name = $1",
        ] {
            tx.execute(sql, &[&name.as_str()]).await.map_err(&err)?;
        }
        let pending = append(
            &tx,
            self.signer()?,
            "rotate",
            name.as_str(),
            &promote_detail(new, old),
            &err,
        )
        .await?;
        test_pause("promote: in transaction");
        tx.commit().await.map_err(&err)?;
        pending.committed();
        Ok(())
    }

    pub(super) async fn set_deleted(
        &self,
        name: &ParamName,
        deleted: Option<i64>,
    ) -> ParamResult<()> {
        let err = self.perr();
        let mut client = self.client.lock().await;
        let tx = client.transaction().await.map_err(&err)?;
        lock_writes(&tx).await.map_err(&err)?;
        let state = check_delete(name, self.state_in(&tx, name).await?, deleted)?;
        tx.execute(
            "UPDATE params SET deleted_at = $2 WHERE name = $1",
            &[&name.as_str(), &deleted],
        )
        .await
        .map_err(&err)?;
        let verb = if deleted.is_some() { "rm" } else { "restore" };
        let detail = format!("latest version {}", state.latest);
        let pending = append(&tx, self.signer()?, verb, name.as_str(), &detail, &err).await?;
        tx.commit().await.map_err(&err)?;
        pending.committed();
        Ok(())
    }

    pub(super) async fn destroy_tx(
        &self,
        name: &ParamName,
        version: Option<u32>,
        now: i64,
    ) -> ParamResult<Destroyed> {
        let err = self.perr();
        let mut client = self.client.lock().await;
        let tx = client.transaction().await.map_err(&err)?;
        lock_writes(&tx).await.map_err(&err)?;
        let state = self
            .state_in(&tx, name)
            .await?
            .ok_or_else(|| Error::NotFound(name.clone()))?;
        let destroyed = match version {
            None => {
                let rows = tx
                    .query(
                        "SELECT version FROM param_versions
                         WHERE name = $1 AND destroyed_at IS NULL ORDER BY version",
                        &[&name.as_str()],
                    )
                    .await
                    .map_err(&err)?;
                let versions = rows
                    .iter()
                    .map(|r| number(r, 0, &self.location, name, "bad version"))
                    .collect::<ParamResult<Vec<_>>>()?;
                for sql in [
                    "DELETE FROM param_labels WHERE name = $1",
                    "DELETE FROM param_versions WHERE name = $1",
                    "DELETE FROM params WHERE name = $1",
                ] {
                    tx.execute(sql, &[&name.as_str()]).await.map_err(&err)?;
                }
                Destroyed {
                    name: name.clone(),
                    versions,
                    whole: true,
                    lingers: None,
                }
            }
            Some(v) => {
                let found = self.version_in(&tx, name, v).await?;
                held_version(name, v, state.latest, found)?;
                let v64 = i64::from(v);
                tx.execute(
                    "UPDATE param_versions SET value = NULL, destroyed_at = $3
                     WHERE name = $1 AND version = $2",
                    &[&name.as_str(), &v64, &now],
                )
                .await
                .map_err(&err)?;
                // `current` stays: `get NAME` then says that the current version was
                // destroyed, rather than reading another one.
                tx.execute(
                    "DELETE FROM param_labels WHERE name = $1 AND version = $2
                         AND label <> 'current'",
                    &[&name.as_str(), &v64],
                )
                .await
                .map_err(&err)?;
                Destroyed {
                    name: name.clone(),
                    versions: vec![v],
                    whole: false,
                    lingers: None,
                }
            }
        };
        let pending = append(
            &tx,
            self.signer()?,
            "destroy",
            name.as_str(),
            &destroy_detail(&destroyed),
            &err,
        )
        .await?;
        tx.commit().await.map_err(&err)?;
        pending.committed();
        // Reclaim the dead row versions that still hold the value (best effort: it needs
        // the table's owner).
        let mut destroyed = destroyed;
        if let Err(e) = client.batch_execute("VACUUM param_versions").await {
            tracing::debug!("vacuum after destroy: {e}");
            destroyed.lingers = Some(format!(
                "dead row versions of the table param_versions, until it is vacuumed (VACUUM \
                 failed: {})",
                e.as_db_error()
                    .map_or_else(|| e.to_string(), |d| d.message().to_owned())
            ));
        }
        Ok(destroyed)
    }
}

fn raw_version(r: &Row) -> Result<RawVersion, tokio_postgres::Error> {
    raw_version_at(r, 0)
}

/// The `COLUMNS` of a row, starting at column `at` (a column of another type, as a
/// database owner may make it, is an error, not a panic).
fn raw_version_at(r: &Row, at: usize) -> Result<RawVersion, tokio_postgres::Error> {
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
    })
}

/// A row of `by_path_query`: the parameter's name, then its current version's `COLUMNS`
/// (all `NULL`: it has none).
fn path_row(r: &Row) -> Result<Result<RawVersion, String>, tokio_postgres::Error> {
    Ok(match r.try_get::<_, Option<String>>(1)? {
        None => Err(r.try_get(0)?),
        Some(_) => Ok(raw_version_at(r, 1)?),
    })
}

/// Column `at` of `r`, a version number of parameter `name`.
fn number(r: &Row, at: usize, location: &str, name: &ParamName, what: &str) -> ParamResult<u32> {
    let n: i64 = r
        .try_get(at)
        .map_err(|e| bad_row(location, name.as_str(), &format!("{what}: {e}")))?;
    u32::try_from(n).map_err(|_| bad_row(location, name.as_str(), what))
}

impl ParamStore for PgStore {
    fn location(&self) -> String {
        self.location.clone()
    }

    fn state<'a>(&'a self, name: &'a ParamName) -> BoxFuture<'a, ParamResult<Option<ParamState>>> {
        Box::pin(self.retry("read", move || async move {
            let client = self.client.lock().await;
            self.state_in(&*client, name).await
        }))
    }

    fn put(&self, new: NewVersion) -> BoxFuture<'_, ParamResult<PutOutcome>> {
        Box::pin(async move {
            let new = &new;
            self.retry("put", move || self.put_tx(new)).await
        })
    }

    fn get<'a>(
        &'a self,
        name: &'a ParamName,
        which: &'a ParamWhich,
    ) -> BoxFuture<'a, ParamResult<StoredVersion>> {
        Box::pin(self.retry("read", move || self.get_tx(name, which)))
    }

    fn get_by_path<'a>(
        &'a self,
        path: &'a ParamPath,
        recursive: bool,
    ) -> BoxFuture<'a, ParamResult<Vec<PathEntry>>> {
        Box::pin(self.retry("read", move || async move {
            let client = self.client.lock().await;
            let base = by_path_query(COLUMNS);
            let rows = self.query_under(&*client, &base, path, recursive).await?;
            rows.iter()
                .map(|r| path_entry(path_row(r).map_err(self.perr())?, &self.location))
                .collect()
        }))
    }

    fn list<'a>(
        &'a self,
        path: &'a ParamPath,
        recursive: bool,
    ) -> BoxFuture<'a, ParamResult<Listing>> {
        Box::pin(self.retry("read", move || self.list_tx(path, recursive)))
    }

    fn history<'a>(
        &'a self,
        name: &'a ParamName,
    ) -> BoxFuture<'a, ParamResult<(ParamState, Vec<VersionMeta>)>> {
        Box::pin(self.retry("read", move || self.history_tx(name)))
    }

    fn label<'a>(
        &'a self,
        name: &'a ParamName,
        version: u32,
        labels: &'a [Label],
    ) -> BoxFuture<'a, ParamResult<Vec<LabelMove>>> {
        Box::pin(self.retry("label", move || self.label_tx(name, version, labels)))
    }

    fn set_pending_run<'a>(
        &'a self,
        name: &'a ParamName,
        holder: &'a str,
        run: Option<&'a [u8]>,
    ) -> BoxFuture<'a, ParamResult<()>> {
        Box::pin(self.retry("record a rotation run", move || {
            self.set_lease_column("pending_run", name, holder, run)
        }))
    }

    fn set_rotation_hook<'a>(
        &'a self,
        name: &'a ParamName,
        holder: &'a str,
        hook: Option<u32>,
    ) -> BoxFuture<'a, ParamResult<()>> {
        Box::pin(self.retry("record a rotation hook", move || {
            self.set_lease_column("lease_hook", name, holder, hook.map(i64::from))
        }))
    }

    fn unlabel<'a>(
        &'a self,
        name: &'a ParamName,
        labels: &'a [Label],
    ) -> BoxFuture<'a, ParamResult<Vec<(Label, u32)>>> {
        Box::pin(self.retry("unlabel", move || self.unlabel_tx(name, labels)))
    }

    fn promote<'a>(
        &'a self,
        name: &'a ParamName,
        new: u32,
        old: Option<u32>,
    ) -> BoxFuture<'a, ParamResult<()>> {
        Box::pin(self.retry("promote", move || self.promote_tx(name, new, old)))
    }

    fn rotation_plans(&self) -> BoxFuture<'_, ParamResult<Vec<RotationPlan>>> {
        Box::pin(self.retry("read", move || self.rotation_plans_tx()))
    }

    fn set_rotation_plan<'a>(&'a self, plan: &'a RotationPlan) -> BoxFuture<'a, ParamResult<()>> {
        Box::pin(self.retry("schedule a rotation", move || {
            self.set_rotation_plan_tx(plan)
        }))
    }

    fn claim_rotation<'a>(&'a self, req: LeaseRequest<'a>) -> BoxFuture<'a, ParamResult<Claim>> {
        Box::pin(self.retry("claim a rotation lease", move || {
            self.claim_rotation_tx(req)
        }))
    }

    fn release_rotation<'a>(
        &'a self,
        name: &'a ParamName,
        holder: &'a str,
        now: i64,
        error: Option<&'a str>,
    ) -> BoxFuture<'a, ParamResult<()>> {
        let _ = now; // the server's clock is used instead
        Box::pin(self.retry("release a rotation lease", move || {
            self.release_rotation_tx(name, holder, error)
        }))
    }

    fn delete<'a>(&'a self, name: &'a ParamName, now: i64) -> BoxFuture<'a, ParamResult<()>> {
        Box::pin(self.retry("rm", move || self.set_deleted(name, Some(now))))
    }

    fn restore<'a>(&'a self, name: &'a ParamName) -> BoxFuture<'a, ParamResult<()>> {
        Box::pin(self.retry("restore", move || self.set_deleted(name, None)))
    }

    fn destroy<'a>(
        &'a self,
        name: &'a ParamName,
        version: Option<u32>,
        now: i64,
    ) -> BoxFuture<'a, ParamResult<Destroyed>> {
        Box::pin(self.retry("destroy", move || self.destroy_tx(name, version, now)))
    }

    fn record_secure_reads<'a>(
        &'a self,
        reads: &'a [(ParamName, u32)],
        context: &'a str,
    ) -> BoxFuture<'a, ParamResult<()>> {
        Box::pin(async move {
            let list: Vec<(&str, &str, String)> = reads
                .iter()
                .map(|(name, version)| {
                    ("get-secure", name.as_str(), read_detail(*version, context))
                })
                .collect();
            self.audit_many(&list).await
        })
    }
}
