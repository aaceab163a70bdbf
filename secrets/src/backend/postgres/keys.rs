//! The keys of a PostgreSQL store: records, versions, the root ([`KeyTable`]).

use std::sync::Arc;

use coffer_core::keyring::{BoxFuture, RootKey};
use tokio_postgres::Transaction;

use super::PgStore;
use super::audit::{append, entry_at};
use super::key_rows::{KEY_COLUMNS, KEY_COLUMNS_AT, KEY_WIDTH, LAST_CHANGE_JOIN, VERSION_COLUMNS};
use super::tx::{lock_writes, snapshot};
use crate::error::{Advice, Error};
use crate::home::Home;
use crate::store::audit::{
    AuditEntry, AuditKey, AuditTip, Head, KEY_FORMAT_KEYS_SEALED, KEY_FORMAT_SEALED,
};
use crate::store::audit_signer::AuditSigner;
use crate::store::key_paths::{KeyPathsRow, PathsKey};
use crate::store::key_row_key::mac_key;
use crate::store::key_rows::{
    AddVersion, KeyRecord, KeyState, Lookup, VersionRecord, VersionRow, Which, check_retire,
    period_detail, state_verb,
};
use crate::store::key_seal::{self, History};
use crate::store::passphrase::PassphraseCache;
use crate::store::root::{self, Protection};
use crate::store::rows::damaged;
use crate::store::table::{KeyTable, no_such_key};
use crate::store::test_pause::pause as test_pause;

impl PgStore {
    /// See [`KeyTable::seal_rows`].
    async fn seal_rows_tx(
        &self,
        wrapped_old: &[u8],
        wrapped_new: &[u8],
        history: &History,
    ) -> Result<bool, Error> {
        let err = self.err();
        let signer = self.signer()?;
        let mut client = self.client.lock().await;
        let tx = client.transaction().await.map_err(&err)?;
        lock_writes(&tx).await.map_err(&err)?;
        let stored = tx
            .query_opt(
                "SELECT value, (SELECT value FROM meta WHERE key = 'audit_key_format')
                 FROM meta WHERE key = 'audit_key'",
                &[],
            )
            .await
            .map_err(&err)?;
        let Some(r) = stored else {
            return Ok(false);
        };
        let key: String = r.try_get(0).map_err(&err)?;
        let format: Option<String> = r.try_get(1).map_err(&err)?;
        let format = crate::store::audit::key_format(format.as_deref());
        if key != hex::encode(wrapped_old) || format == KEY_FORMAT_SEALED {
            return Ok(false);
        }
        if format != KEY_FORMAT_KEYS_SEALED {
            let _ = append(
                &tx,
                signer.clone(),
                key_seal::STORE_SEAL_VERB,
                key_seal::STORE_SEAL_NAME,
                key_seal::STORE_SEAL_DETAIL,
                &err,
            )
            .await?;
            let _ = self.seal_all(&tx, &signer, history).await?;
        }
        let last = self.seal_params(&tx, &signer, false).await?;
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('audit_key', $1), ('audit_key_format', $2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            &[&hex::encode(wrapped_new), &KEY_FORMAT_SEALED.to_string()],
        )
        .await
        .map_err(&err)?;
        tx.commit().await.map_err(&err)?;
        if let Some(last) = last {
            last.committed();
        }
        Ok(true)
    }
}

/// Inserts version `v` of key `name` (wrapped, with its MAC) in `tx`.
async fn insert_version(
    tx: &Transaction<'_>,
    name: &str,
    v: &VersionRecord,
    wrapped: &[u8],
) -> Result<u64, tokio_postgres::Error> {
    tx.execute(
        "INSERT INTO key_versions (name, version, uuid, created_at, wrapped, root_id, mac)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[
            &name,
            &i64::from(v.version),
            &&v.uuid[..],
            &v.created_at,
            &wrapped,
            &v.root_id,
            &v.mac,
        ],
    )
    .await
}

impl KeyTable for PgStore {
    fn location(&self) -> String {
        self.location.clone()
    }

    fn load_root(
        &self,
        home: &Home,
        passphrase: &mut PassphraseCache,
    ) -> Result<(Arc<dyn RootKey>, Protection), Error> {
        let path = home.root_key_path();
        let (material, protection) = root::load_with_protection(&path, || passphrase.get(&path))?;
        Ok((material.into_root_key()?, protection))
    }

    fn adopt_root_id<'a>(&'a self, root_id: &'a str) -> BoxFuture<'a, Result<String, Error>> {
        if let Some(id) = self.root_id.get() {
            return Box::pin(std::future::ready(Ok(id.clone())));
        }
        Box::pin(self.retry("record the root key", move || async move {
            const ROOT_ID: &str = "SELECT value FROM meta WHERE key = 'root_id'";
            let err = self.err();
            let mut client = self.client.lock().await;
            // Recorded already (every open but the first): no lock needed.
            if let Some(row) = client.query_opt(ROOT_ID, &[]).await.map_err(&err)? {
                return row.try_get(0).map_err(&err);
            }
            let tx = client.transaction().await.map_err(&err)?;
            lock_writes(&tx).await.map_err(&err)?;
            if let Some(row) = tx.query_opt(ROOT_ID, &[]).await.map_err(&err)? {
                return row.try_get(0).map_err(&err);
            }
            tx.execute(
                "INSERT INTO meta (key, value) VALUES ('root_id', $1)",
                &[&root_id],
            )
            .await
            .map_err(&err)?;
            tx.commit().await.map_err(&err)?;
            Ok(root_id.to_owned())
        }))
    }

    fn get_key<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<Option<KeyRecord>, Error>> {
        Box::pin(self.retry("read", move || async move {
            let mut client = self.client.lock().await;
            let tx = snapshot(&mut client).await.map_err(self.err())?;
            let key = self.read_key(&tx, name).await?;
            tx.commit().await.map_err(self.err())?;
            Ok(key)
        }))
    }

    fn list_keys(&self) -> BoxFuture<'_, Result<Vec<KeyRecord>, Error>> {
        Box::pin(self.retry("read", move || async move {
            let mut client = self.client.lock().await;
            let tx = snapshot(&mut client).await.map_err(self.err())?;
            let names = tx
                .query("SELECT name FROM keys ORDER BY name", &[])
                .await
                .map_err(self.err())?;
            let mut keys = Vec::with_capacity(names.len());
            for row in names {
                let name: String = row.try_get(0).map_err(self.err())?;
                keys.extend(self.read_key(&tx, &name).await?);
            }
            tx.commit().await.map_err(self.err())?;
            Ok(keys)
        }))
    }

    fn insert_key<'a>(
        &'a self,
        record: &'a KeyRecord,
        first: &'a VersionRecord,
        wrapped: &'a [u8],
    ) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(self.retry("key create", move || async move {
            let err = self.err();
            let mut client = self.client.lock().await;
            let tx = client.transaction().await.map_err(&err)?;
            lock_writes(&tx).await.map_err(&err)?;
            let signer = self.signer()?;
            if self.read_key(&tx, &record.name).await?.is_some() {
                return Err(
                    Error::conflict(format!("key `{}` already exists", record.name))
                        .advice(Advice::ShowKey(record.name.clone())),
                );
            }
            let row = tx
                .query_one(
                    &format!(
                        "SELECT EXISTS (SELECT 1 FROM key_versions WHERE name = $1),
                                e.seq, e.at, e.actor, e.verb, e.name, e.detail, e.prev_hash,
                                e.hash
                         FROM (SELECT $1::text AS name) k {LAST_CHANGE_JOIN}"
                    ),
                    &[&record.name],
                )
                .await
                .map_err(&err)?;
            let orphans: bool = row.try_get(0).map_err(&err)?;
            let last = entry_at(&row, 1).map_err(&err)?;
            if orphans || last.is_some() {
                return Err(key_seal::deleted_outside(
                    &self.location,
                    &record.name,
                    last.as_ref(),
                ));
            }
            match &record.root {
                None => self.check_root(&tx, &first.root_id).await?,
                Some(own) => {
                    crate::store::key_rows::check_own_root(&record.name, own, &first.root_id)?
                }
            }
            let period = record
                .rotation_period_secs
                .map(i64::try_from)
                .transpose()
                .map_err(|_| Error::invalid("rotation period too long"))?;
            let detail = format!("version 1, {}", record.spec);
            let pending = append(
                &tx,
                signer.clone(),
                "key-create",
                &record.name,
                &detail,
                &err,
            )
            .await?;
            // Written once, sealed to the entry just appended.
            let own = self.own_key_in(&tx, record).await?;
            let rows = mac_key(signer.key(), own.as_deref());
            let mut written = record.clone();
            let mut first = first.clone();
            first.mac = Some(key_seal::version_mac(rows, &record.name, &first).to_vec());
            written.versions = vec![first.clone()];
            let (seal, _) = key_seal::seal(rows, &written, pending.seq());
            tx.execute(
                "INSERT INTO keys (name, spec, created_at, state, rotation_period_secs,
                                   min_decrypt_version, active_version, seal_seq, mac, root)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
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
                    &record.root,
                ],
            )
            .await
            .map_err(&err)?;
            insert_version(&tx, &record.name, &first, wrapped)
                .await
                .map_err(&err)?;
            tx.commit().await.map_err(&err)?;
            pending.committed();
            Ok(())
        }))
    }

    fn add_version<'a>(
        &'a self,
        name: &'a str,
        expected_active: u32,
        new: &'a VersionRecord,
        wrapped: &'a [u8],
        due_at: Option<i64>,
    ) -> BoxFuture<'a, Result<AddVersion, Error>> {
        Box::pin(self.retry("key rotate", move || async move {
            let err = self.err();
            let loc = &self.location;
            let mut client = self.client.lock().await;
            let tx = client.transaction().await.map_err(&err)?;
            lock_writes(&tx).await.map_err(&err)?;
            let signer = self.signer()?;
            let Some((mut key, own)) = self.checked_key(&tx, name, &signer).await? else {
                return Ok(AddVersion::NoKey);
            };
            let rows = mac_key(signer.key(), own.as_deref());
            match &key.root {
                None => self.check_root(&tx, &new.root_id).await?,
                Some(own) => crate::store::key_rows::check_own_root(name, own, &new.root_id)?,
            }
            if key.state == KeyState::Disabled {
                return Ok(AddVersion::Disabled);
            }
            if key.active_version != expected_active {
                return Ok(AddVersion::Changed);
            }
            key.versions
                .iter()
                .find(|v| v.version == key.active_version)
                .ok_or_else(|| {
                    damaged(
                        loc,
                        format!("key `{name}`: active version {expected_active} is missing"),
                    )
                })?;
            if key.versions.last().map(|v| v.version) != Some(key.active_version) {
                return Err(damaged(
                    loc,
                    format!("key `{name}`: a version is newer than the active version"),
                ));
            }
            if Some(new.version) != expected_active.checked_add(1) {
                return Err(Error::backend(format!(
                    "internal error: version {} does not follow version {expected_active} of \
                     key `{name}`",
                    new.version
                )));
            }
            if let Some(now) = due_at {
                if key.next_rotation().is_none_or(|t| t > now) {
                    return Ok(AddVersion::NotDue);
                }
            }
            let mut new = new.clone();
            new.mac = Some(key_seal::version_mac(rows, name, &new).to_vec());
            insert_version(&tx, name, &new, wrapped)
                .await
                .map_err(&err)?;
            let detail = format!(
                "version {} (was {expected_active}){}",
                new.version,
                if due_at.is_some() { ", due" } else { "" }
            );
            let pending = append(&tx, signer.clone(), "key-rotate", name, &detail, &err).await?;
            key.active_version = new.version;
            key.versions.push(new);
            self.reseal(&tx, key, rows, pending.seq()).await?;
            test_pause("rotate: in transaction");
            tx.commit().await.map_err(&err)?;
            pending.committed();
            Ok(AddVersion::Added)
        }))
    }

    fn set_state<'a>(
        &'a self,
        name: &'a str,
        state: KeyState,
    ) -> BoxFuture<'a, Result<bool, Error>> {
        Box::pin(async move {
            let changed = self
                .update_key(
                    name,
                    state_verb(state),
                    |k| Ok((k.state != state).then(String::new)),
                    |k| k.state = state,
                )
                .await?;
            Ok(changed.is_some())
        })
    }

    fn set_rotation_period<'a>(
        &'a self,
        name: &'a str,
        period_secs: Option<u64>,
    ) -> BoxFuture<'a, Result<KeyRecord, Error>> {
        Box::pin(async move {
            if period_secs.is_some_and(|p| i64::try_from(p).is_err()) {
                return Err(Error::invalid("rotation period too long"));
            }
            let (_, after) = self
                .update_key(
                    name,
                    "key-set-rotation",
                    |_| Ok(Some(period_detail(period_secs))),
                    |k| k.rotation_period_secs = period_secs,
                )
                .await?
                .ok_or_else(|| self.no_such_key(name))?;
            Ok(after)
        })
    }

    fn set_min_decrypt_version<'a>(
        &'a self,
        name: &'a str,
        min: u32,
    ) -> BoxFuture<'a, Result<(u32, KeyRecord), Error>> {
        Box::pin(async move {
            let (before, after) = self
                .update_key(
                    name,
                    "key-retire",
                    |k| {
                        check_retire(k, min)?;
                        Ok(Some(format!(
                            "min decrypt version {min} (was {})",
                            k.min_decrypt_version
                        )))
                    },
                    |k| k.min_decrypt_version = min,
                )
                .await?
                .ok_or_else(|| self.no_such_key(name))?;
            Ok((before.min_decrypt_version, after))
        })
    }

    fn version_row<'a>(
        &'a self,
        name: &'a str,
        which: Which<'a>,
    ) -> BoxFuture<'a, Result<Lookup, Error>> {
        Box::pin(self.retry("read", move || async move {
            let err = self.err();
            let loc = &self.location;
            let client = self.client.lock().await;
            let uuid: Option<&[u8]> = match which {
                Which::Active => None,
                Which::Uuid(u) => Some(&u[..]),
            };
            // One statement (one snapshot, one round trip): the key, its last change and
            // the version.
            let stmt = self
                .version_row
                .get_or_try_init(|| async {
                    let sql = format!(
                        "SELECT {KEY_COLUMNS}, {VERSION_COLUMNS}, v.wrapped
                         FROM keys k LEFT JOIN key_versions v ON v.name = k.name
                              AND CASE WHEN $2::bytea IS NULL
                                       THEN v.version = k.active_version
                                       ELSE v.uuid = $2 END
                         {LAST_CHANGE_JOIN}
                         WHERE k.name = $1"
                    );
                    client.prepare(&sql).await
                })
                .await
                .map_err(&err)?;
            let Some(row) = client
                .query_opt(stmt, &[&name, &uuid])
                .await
                .map_err(&err)?
            else {
                return Ok(Lookup::NoKey);
            };
            let mut key = self.key_from(name, &row)?;
            let at = KEY_COLUMNS_AT + KEY_WIDTH;
            if row.try_get::<_, Option<i64>>(at).map_err(&err)?.is_none() {
                if uuid.is_none() {
                    return Err(damaged(
                        loc,
                        format!(
                            "key `{name}`: active version {} is missing",
                            key.active_version
                        ),
                    ));
                }
                return Ok(Lookup::NoVersion);
            }
            key.versions = vec![self.version_from(name, &row, at)?];
            let wrapped = row.try_get(at + 5).map_err(&err)?;
            Ok(Lookup::Found(Box::new(VersionRow { key, wrapped })))
        }))
    }

    fn audit_tip(&self, seen: Option<i64>) -> BoxFuture<'_, Result<AuditTip, Error>> {
        Box::pin(Self::audit_tip(self, seen))
    }

    fn audit_tip_recent(&self, seen: Option<i64>) -> BoxFuture<'_, Result<AuditTip, Error>> {
        Box::pin(Self::audit_tip_recent(self, seen))
    }

    fn create_audit_key<'a>(
        &'a self,
        store_id: &'a str,
        wrapped: &'a [u8],
        key: &'a Arc<AuditKey>,
        history: &'a History,
    ) -> BoxFuture<'a, Result<bool, Error>> {
        Box::pin(Self::create_audit_key(
            self, store_id, wrapped, key, history,
        ))
    }

    fn audit_log(&self) -> BoxFuture<'_, Result<(Vec<AuditEntry>, Head), Error>> {
        Box::pin(Self::audit_log(self))
    }

    fn whole_audit_log(&self) -> BoxFuture<'_, Result<(Vec<AuditEntry>, Head), Error>> {
        Box::pin(Self::whole_audit_log(self))
    }

    fn seal_rows<'a>(
        &'a self,
        wrapped_old: &'a [u8],
        wrapped_new: &'a [u8],
        history: &'a History,
    ) -> BoxFuture<'a, Result<bool, Error>> {
        Box::pin(self.retry("seal the store's rows", move || {
            self.seal_rows_tx(wrapped_old, wrapped_new, history)
        }))
    }

    fn set_audit_signer(&self, signer: Arc<AuditSigner>) {
        Self::set_audit_signer(self, signer);
    }

    fn key_paths_row<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, Result<(KeyPathsRow, Option<AuditEntry>), Error>> {
        Box::pin(async move {
            let err = self.err();
            let mut client = self.client.lock().await;
            let tx = client
                .build_transaction()
                .read_only(true)
                .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                .start()
                .await
                .map_err(&err)?;
            let rows = self
                .key_paths_in(&tx, std::slice::from_ref(&name.to_owned()))
                .await?;
            let row = rows.into_iter().next().unwrap_or_else(|| KeyPathsRow {
                name: name.to_owned(),
                row: None,
                last_entry: None,
            });
            let entry = match &row.row {
                Some(raw) => {
                    let r = tx
                        .query_opt(
                            "SELECT seq, at, actor, verb, name, detail, prev_hash, hash
                             FROM audit WHERE seq = $1",
                            &[&raw.seal_seq],
                        )
                        .await
                        .map_err(&err)?;
                    match r {
                        Some(r) => entry_at(&r, 0).map_err(&err)?,
                        None => None,
                    }
                }
                None => None,
            };
            tx.commit().await.map_err(&err)?;
            Ok((row, entry))
        })
    }

    fn use_paths_key(&self, key: Arc<PathsKey>, rows_under_it: bool) {
        self.paths_keys.keep(key, rows_under_it);
    }
}

impl PgStore {
    /// In a write transaction, if `check`, given the key as it is (checked against its
    /// seal), returns the audit detail (`None`: nothing to do): appends `(verb, detail)` to
    /// the audit log and writes the key with `apply` applied, sealed. Returns the key before
    /// and after.
    pub(super) async fn update_key(
        &self,
        name: &str,
        verb: &str,
        check: impl Fn(&KeyRecord) -> Result<Option<String>, Error>,
        apply: impl Fn(&mut KeyRecord),
    ) -> Result<Option<(KeyRecord, KeyRecord)>, Error> {
        let (check, apply) = (&check, &apply);
        self.retry(verb, move || self.update_key_tx(name, verb, check, apply))
            .await
    }

    /// One attempt of [`PgStore::update_key`].
    pub(super) async fn update_key_tx(
        &self,
        name: &str,
        verb: &str,
        check: &impl Fn(&KeyRecord) -> Result<Option<String>, Error>,
        apply: &impl Fn(&mut KeyRecord),
    ) -> Result<Option<(KeyRecord, KeyRecord)>, Error> {
        let err = self.err();
        let mut client = self.client.lock().await;
        let tx = client.transaction().await.map_err(&err)?;
        lock_writes(&tx).await.map_err(&err)?;
        let signer = self.signer()?;
        let (before, own) = self
            .checked_key(&tx, name, &signer)
            .await?
            .ok_or_else(|| self.no_such_key(name))?;
        let Some(detail) = check(&before)? else {
            return Ok(None);
        };
        let pending = append(&tx, signer.clone(), verb, name, &detail, &err).await?;
        let mut changed = before.clone();
        apply(&mut changed);
        let rows = mac_key(signer.key(), own.as_deref());
        let after = self.reseal(&tx, changed, rows, pending.seq()).await?;
        tx.commit().await.map_err(&err)?;
        pending.committed();
        Ok(Some((before, after)))
    }

    /// In a write transaction: the store's root is `root_id`, or none is recorded.
    pub(super) async fn check_root(
        &self,
        tx: &Transaction<'_>,
        root_id: &str,
    ) -> Result<(), Error> {
        let current = tx
            .query_opt("SELECT value FROM meta WHERE key = 'root_id'", &[])
            .await
            .map_err(self.err())?;
        let current = current
            .map(|r| r.try_get::<_, String>(0))
            .transpose()
            .map_err(self.err())?;
        match current {
            Some(c) if c != root_id => Err(Error::denied(format!(
                "the root key of the store {} is {c}, not this one ({root_id}); nothing was \
                 changed",
                self.location
            ))
            .advice(Advice::SameRootKey)),
            _ => Ok(()),
        }
    }

    /// The error for a key that is not in this store.
    pub fn no_such_key(&self, name: &str) -> Error {
        no_such_key(&self.location, name)
    }
}
