//! The parameters of a PostgreSQL store: versions, labels, paths, deletion and destruction
//! ([`ParamStore`]).

use std::sync::Arc;

use coffer_core::keyring::BoxFuture;
use tokio_postgres::GenericClient;

use super::PgStore;
use super::audit::append;
use super::param_rows::{COLUMNS, raw_version};
use super::tx::lock_writes;
use crate::error::Error;
use crate::params::policy::check_write;
use crate::params::{
    BatchOutcome, CURRENT, Claim, Destroyed, Label, LabelMove, LeaseRequest, Listing, NewVersion,
    PREVIOUS, ParamName, ParamPath, ParamResult, ParamState, ParamStore, PathEntry, Policies,
    Policy, PutOutcome, RotationPlan, RowKeys, StoredVersion, VersionMeta, Which as ParamWhich,
};
use crate::store::key_paths::{KeyPathsRow, PathsKey};
use crate::store::param_seal::ParamHead;
use crate::store::rows::{
    RawVersion, all_written, check_delete, check_promote, check_put, check_unlabel, destroy_detail,
    held_version, label_detail, live, missing_version, moves_current, new_fields, promote_detail,
    put_detail, read_detail, single, stale_at, state_of, stored_version, tags_json, unlabel_detail,
    value_bytes, version_fields,
};
use crate::store::test_pause::pause as test_pause;

impl PgStore {
    /// A version row, checked against its MAC and its parameter's checked head, with the
    /// head's labels of it.
    pub(super) fn sealed(&self, head: &ParamHead, raw: RawVersion) -> ParamResult<StoredVersion> {
        let version = self.checked_version(head, &raw)?;
        let mut v = stored_version(raw, &self.location)?;
        v.meta.labels = head.labels_of(version);
        Ok(v)
    }

    pub(super) async fn state_in(
        &self,
        tx: &impl GenericClient,
        name: &ParamName,
    ) -> ParamResult<Option<ParamState>> {
        Ok(self
            .head_in(tx, name.as_str())
            .await?
            .map(|h| state_of(name, &h)))
    }

    /// The checked head of a parameter that must exist and not be deleted.
    pub(super) async fn live_head(
        &self,
        tx: &impl GenericClient,
        name: &ParamName,
    ) -> ParamResult<ParamHead> {
        let head = self.head_in(tx, name.as_str()).await?;
        live(name, head.as_ref().map(|h| state_of(name, h)))?;
        head.ok_or_else(|| Error::NotFound(name.clone()))
    }

    pub(super) async fn live_state(
        &self,
        tx: &impl GenericClient,
        name: &ParamName,
    ) -> ParamResult<ParamState> {
        live(name, self.state_in(tx, name).await?)
    }

    /// Version `version` of the parameter whose checked head is `head`, checked.
    pub(super) async fn raw_version_in(
        &self,
        tx: &impl GenericClient,
        head: &ParamHead,
        version: u32,
    ) -> ParamResult<Option<RawVersion>> {
        let row = tx
            .query_opt(
                &format!(
                    "SELECT {COLUMNS} FROM param_versions v WHERE v.name = $1 AND v.version = $2"
                ),
                &[&head.name, &i64::from(version)],
            )
            .await
            .map_err(self.perr())?;
        match row {
            Some(r) => {
                let raw = raw_version(&r).map_err(self.perr())?;
                self.checked_version(head, &raw)?;
                Ok(Some(raw))
            }
            None if (1..=head.latest).contains(&version) => {
                Err(missing_version(&self.location, &head.name, version))
            }
            None => Ok(None),
        }
    }

    pub(super) async fn version_in(
        &self,
        tx: &impl GenericClient,
        head: &ParamHead,
        version: u32,
    ) -> ParamResult<Option<StoredVersion>> {
        self.raw_version_in(tx, head, version)
            .await?
            .map(|raw| self.sealed(head, raw))
            .transpose()
    }

    pub(super) async fn put_tx(&self, new: &NewVersion) -> ParamResult<PutOutcome> {
        single(
            self.put_all_tx(std::slice::from_ref(new), "put: in transaction")
                .await?,
        )
    }

    /// Every version of `news` in one transaction ([`ParamStore::put_all`]); the test
    /// pause `pause` after the first is written there.
    pub(super) async fn put_all_tx(
        &self,
        news: &[NewVersion],
        pause: &str,
    ) -> ParamResult<BatchOutcome> {
        let err = self.perr();
        let mut client = self.client.lock().await;
        let tx = client.transaction().await.map_err(&err)?;
        lock_writes(&tx).await.map_err(&err)?;
        let keys = self.row_keys_in(&tx).await?;
        let mut pendings = Vec::with_capacity(news.len());
        for (index, new) in news.iter().enumerate() {
            match self.put_in(&tx, keys.policies(), new).await? {
                Ok(pending) => pendings.push(pending),
                // Dropped, the transaction rolls back: nothing is written.
                Err(stale) => return Ok(stale_at(index, &stale)),
            }
            if index == 0 {
                test_pause(pause);
            }
        }
        tx.commit().await.map_err(&err)?;
        pendings
            .into_iter()
            .for_each(super::audit::Pending::committed);
        Ok(all_written(news))
    }

    /// One version of a write, inside the caller's transaction `tx` (which holds the write
    /// lock), under `policies` (as checked in it): the entry it records, or the outcome of a
    /// stale write (nothing written).
    async fn put_in(
        &self,
        tx: &tokio_postgres::Transaction<'_>,
        policies: &Policies,
        new: &NewVersion,
    ) -> ParamResult<Result<super::audit::Pending, PutOutcome>> {
        let err = self.perr();
        let name = &new.name;
        let head = self.head_in(tx, name.as_str()).await?;
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
        let version = i64::from(new.version);
        // The entry first: a new parameter's head names it as the put that made it.
        let pending = append(
            tx,
            self.signer()?,
            "put",
            name.as_str(),
            &put_detail(new),
            &err,
        )
        .await?;
        let mut head = match head {
            Some(h) => h,
            None => {
                tx.execute(
                    "INSERT INTO params (name, parent, latest, created_at)
                     VALUES ($1, $2, $3, $4)",
                    &[
                        &name.as_str(),
                        &name.parent().as_str(),
                        &version,
                        &new.created_at,
                    ],
                )
                .await
                .map_err(&err)?;
                ParamHead::new(name.as_str(), new.created_at, pending.seq())
            }
        };
        head.latest = new.version;
        let tags = tags_json(&new.tags)?;
        let mac = self.mac_of(&new_fields(new, &tags, head.born))?;
        tx.execute(
            "INSERT INTO param_versions (name, version, type, value, key_ref, description, tags,
                                         created_at, author, expires_at, mac)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            &[
                &name.as_str(),
                &version,
                &new.param_type.as_str(),
                &value_bytes(&new.value),
                &new.key_ref,
                &new.description,
                &tags,
                &new.created_at,
                &new.author,
                &new.expires_at,
                &mac,
            ],
        )
        .await
        .map_err(&err)?;
        let mut labels: Vec<&str> = new.labels.iter().map(Label::as_str).collect();
        if moves_current(new) {
            labels.push(CURRENT);
        }
        for label in labels {
            tx.execute(
                "INSERT INTO param_labels (name, label, version) VALUES ($1, $2, $3)
                 ON CONFLICT (name, label) DO UPDATE SET version = excluded.version",
                &[&name.as_str(), &label, &version],
            )
            .await
            .map_err(&err)?;
            head.labels.insert(label.to_owned(), new.version);
        }
        self.write_head(tx, &head, pending.seq()).await?;
        Ok(Ok(pending))
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
        let _keys = self.row_keys_in(&tx).await?;
        let mut head = self.live_head(&tx, name).await?;
        let found = self.version_in(&tx, &head, version).await?;
        held_version(name, version, head.latest, found)?;
        let mut moves = Vec::with_capacity(labels.len());
        for label in labels {
            tx.execute(
                "INSERT INTO param_labels (name, label, version) VALUES ($1, $2, $3)
                 ON CONFLICT (name, label) DO UPDATE SET version = excluded.version",
                &[&name.as_str(), &label.as_str(), &i64::from(version)],
            )
            .await
            .map_err(&err)?;
            moves.push(LabelMove {
                label: label.clone(),
                from: head.labels.insert(label.as_str().to_owned(), version),
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
        self.write_head(&tx, &head, pending.seq()).await?;
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
        let _keys = self.row_keys_in(&tx).await?;
        let mut head = self.live_head(&tx, name).await?;
        let mut removed = Vec::with_capacity(labels.len());
        for label in labels {
            let Some(v) = head.labels.remove(label.as_str()) else {
                return Err(Error::NoLabel {
                    name: name.clone(),
                    label: label.clone(),
                });
            };
            tx.execute(
                "DELETE FROM param_labels WHERE name = $1 AND label = $2",
                &[&name.as_str(), &label.as_str()],
            )
            .await
            .map_err(&err)?;
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
        self.write_head(&tx, &head, pending.seq()).await?;
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
        let _keys = self.row_keys_in(&tx).await?;
        let mut head = self.live_head(&tx, name).await?;
        let pending = head.labels.get("pending").copied();
        let current = head.labels.get(CURRENT).copied();
        check_promote(name, new, old, pending, current)?;
        let set = "INSERT INTO param_labels (name, label, version) VALUES ($1, $2, $3)
                   ON CONFLICT (name, label) DO UPDATE SET version = excluded.version";
        tx.execute(set, &[&name.as_str(), &CURRENT, &i64::from(new)])
            .await
            .map_err(&err)?;
        head.labels.insert(CURRENT.to_owned(), new);
        if let Some(old) = old {
            if old <= head.latest && !head.destroyed.contains(&old) {
                tx.execute(set, &[&name.as_str(), &PREVIOUS, &i64::from(old)])
                    .await
                    .map_err(&err)?;
                head.labels.insert(PREVIOUS.to_owned(), old);
            } else {
                // `previous` names the version before `current`: a destroyed one is no
                // rollback.
                tx.execute(
                    "DELETE FROM param_labels WHERE name = $1 AND label = 'previous'",
                    &[&name.as_str()],
                )
                .await
                .map_err(&err)?;
                head.labels.remove(PREVIOUS);
            }
        }
        for sql in [
            "DELETE FROM param_labels WHERE name = $1 AND label = 'pending'",
            "UPDATE param_rotations SET pending_run = NULL WHERE name = $1",
        ] {
            tx.execute(sql, &[&name.as_str()]).await.map_err(&err)?;
        }
        head.labels.remove("pending");
        let pending = append(
            &tx,
            self.signer()?,
            "rotate",
            name.as_str(),
            &promote_detail(new, old),
            &err,
        )
        .await?;
        self.write_head(&tx, &head, pending.seq()).await?;
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
        let _keys = self.row_keys_in(&tx).await?;
        let head = self.head_in(&tx, name.as_str()).await?;
        let state = check_delete(name, head.as_ref().map(|h| state_of(name, h)), deleted)?;
        let Some(mut head) = head else {
            return Err(Error::NotFound(name.clone()));
        };
        head.deleted_at = deleted;
        let verb = if deleted.is_some() { "rm" } else { "restore" };
        let detail = format!("latest version {}", state.latest);
        let pending = append(&tx, self.signer()?, verb, name.as_str(), &detail, &err).await?;
        self.write_head(&tx, &head, pending.seq()).await?;
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
        let _keys = self.row_keys_in(&tx).await?;
        let mut head = self
            .head_in(&tx, name.as_str())
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
                let mut versions = Vec::with_capacity(rows.len());
                for r in &rows {
                    let v: i64 = r.try_get(0).map_err(&err)?;
                    versions.push(u32::try_from(v).map_err(|_| {
                        missing_version(&self.location, name.as_str(), head.latest)
                    })?);
                }
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
                let raw = self.raw_version_in(&tx, &head, v).await?;
                let found = raw
                    .as_ref()
                    .map(|r| stored_version(r.clone(), &self.location))
                    .transpose()?;
                held_version(name, v, head.latest, found)?;
                let Some(raw) = raw else {
                    return Err(missing_version(&self.location, name.as_str(), v));
                };
                let mut fields = version_fields(&raw, v, head.born);
                fields.value = None;
                fields.destroyed_at = Some(now);
                let mac = self.mac_of(&fields)?;
                let v64 = i64::from(v);
                tx.execute(
                    "UPDATE param_versions SET value = NULL, destroyed_at = $3, mac = $4
                     WHERE name = $1 AND version = $2",
                    &[&name.as_str(), &v64, &now, &mac],
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
        let pending = append(
            &tx,
            self.signer()?,
            "destroy",
            name.as_str(),
            &destroy_detail(&destroyed),
            &err,
        )
        .await?;
        if !destroyed.whole {
            self.write_head(&tx, &head, pending.seq()).await?;
        }
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

    fn put_all(&self, news: Vec<NewVersion>) -> BoxFuture<'_, ParamResult<BatchOutcome>> {
        Box::pin(async move {
            let news = &news;
            self.retry("put", move || {
                self.put_all_tx(news, "put all: in transaction")
            })
            .await
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
        Box::pin(self.retry("read", move || self.get_by_path_tx(path, recursive)))
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

    fn use_row_keys(&self, keys: Arc<RowKeys>) {
        self.row_keys.set(keys);
    }

    fn policies(&self) -> BoxFuture<'_, ParamResult<Policies>> {
        Box::pin(self.retry("read", move || self.policies_tx()))
    }

    fn set_policy<'a>(
        &'a self,
        policy: &'a Policy,
        keys: &'a [Arc<PathsKey>],
    ) -> BoxFuture<'a, ParamResult<Option<Policy>>> {
        Box::pin(self.retry("set a policy", move || self.set_policy_tx(policy, keys)))
    }

    fn remove_policy<'a>(
        &'a self,
        path: &'a ParamPath,
        keys: &'a [Arc<PathsKey>],
    ) -> BoxFuture<'a, ParamResult<Policy>> {
        Box::pin(self.retry("remove a policy", move || self.remove_policy_tx(path, keys)))
    }

    fn key_paths<'a>(
        &'a self,
        names: &'a [String],
    ) -> BoxFuture<'a, ParamResult<Vec<KeyPathsRow>>> {
        Box::pin(self.retry("read", move || self.key_paths_tx(names)))
    }

    fn first_key_paths<'a>(
        &'a self,
        key: &'a Arc<PathsKey>,
        secret: &'a [u8],
    ) -> BoxFuture<'a, ParamResult<()>> {
        Box::pin(self.retry("seal the paths of a key", move || {
            self.first_key_paths_tx(key, secret)
        }))
    }

    fn move_key_rows<'a>(&'a self, key: &'a Arc<PathsKey>) -> BoxFuture<'a, ParamResult<()>> {
        Box::pin(self.retry("seal the rows of a key", move || self.move_key_rows_tx(key)))
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
