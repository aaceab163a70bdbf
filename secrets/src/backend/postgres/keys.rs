//! The keys of a PostgreSQL store: records, versions, the root ([`KeyTable`]).

use std::sync::Arc;

use coffer_core::keyring::{BoxFuture, RootKey};
use tokio_postgres::{GenericClient, Transaction};

use super::audit::append;
use super::tx::{lock_writes, snapshot};
use super::{PgStore, int};
use crate::error::{Advice, Error};
use crate::home::Home;
use crate::store::audit::{AuditEntry, AuditKey, AuditTip, Head};
use crate::store::audit_signer::AuditSigner;
use crate::store::key_rows::{
    AddVersion, KeyRecord, KeyState, Lookup, VersionRecord, VersionRow, Which, check_retire,
    period_detail, state_verb,
};
use crate::store::passphrase::PassphraseCache;
use crate::store::root::{self, Protection};
use crate::store::rows::damaged;
use crate::store::table::{KeyTable, no_such_key};
use crate::store::test_pause::pause as test_pause;

impl PgStore {
    pub(super) async fn read_key(
        &self,
        tx: &impl GenericClient,
        name: &str,
    ) -> Result<Option<KeyRecord>, Error> {
        let err = self.err();
        let loc = &self.location;
        let Some(row) = tx
            .query_opt(
                "SELECT spec, created_at, state, rotation_period_secs, min_decrypt_version,
                        active_version
                 FROM keys WHERE name = $1",
                &[&name],
            )
            .await
            .map_err(&err)?
        else {
            return Ok(None);
        };
        let rows = tx
            .query(
                "SELECT version, uuid, created_at, root_id FROM key_versions
                 WHERE name = $1 ORDER BY version",
                &[&name],
            )
            .await
            .map_err(&err)?;
        let what = |w: &str| format!("key `{name}`: {w}");
        let versions = rows
            .iter()
            .map(|r| {
                Ok(VersionRecord {
                    version: int(loc, r.get(0), &what("version"))?,
                    uuid: uuid_of(loc, name, r.get(1))?,
                    created_at: r.get(2),
                    root_id: r.get(3),
                })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        let state: String = row.get(2);
        Ok(Some(KeyRecord {
            name: name.to_owned(),
            spec: row.get(0),
            created_at: row.get(1),
            state: KeyState::parse(&state).map_err(|e| damaged(loc, what(&e)))?,
            rotation_period_secs: row
                .get::<_, Option<i64>>(3)
                .map(|p| int(loc, p, &what("rotation period")))
                .transpose()?,
            min_decrypt_version: int(loc, row.get(4), &what("minimum version"))?,
            active_version: int(loc, row.get(5), &what("active version"))?,
            versions,
        }))
    }
}

fn uuid_of(location: &str, name: &str, bytes: Vec<u8>) -> Result<[u8; 16], Error> {
    bytes
        .try_into()
        .map_err(|_| damaged(location, format!("key `{name}`: bad version id")))
}

/// Inserts version `v` of key `name` (wrapped) in `tx`.
async fn insert_version(
    tx: &Transaction<'_>,
    name: &str,
    v: &VersionRecord,
    wrapped: &[u8],
) -> Result<u64, tokio_postgres::Error> {
    tx.execute(
        "INSERT INTO key_versions (name, version, uuid, created_at, wrapped, root_id)
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            &name,
            &i64::from(v.version),
            &&v.uuid[..],
            &v.created_at,
            &wrapped,
            &v.root_id,
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
        Box::pin(self.retry("record the root key", move || async move {
            const ROOT_ID: &str = "SELECT value FROM meta WHERE key = 'root_id'";
            let err = self.err();
            let mut client = self.client.lock().await;
            // Recorded already (every open but the first): no lock needed.
            if let Some(row) = client.query_opt(ROOT_ID, &[]).await.map_err(&err)? {
                return Ok(row.get(0));
            }
            let tx = client.transaction().await.map_err(&err)?;
            lock_writes(&tx).await.map_err(&err)?;
            if let Some(row) = tx.query_opt(ROOT_ID, &[]).await.map_err(&err)? {
                return Ok(row.get(0));
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
                let name: String = row.get(0);
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
            if self.read_key(&tx, &record.name).await?.is_some() {
                return Err(
                    Error::conflict(format!("key `{}` already exists", record.name))
                        .advice(Advice::ShowKey(record.name.clone())),
                );
            }
            self.check_root(&tx, &first.root_id).await?;
            let period = record
                .rotation_period_secs
                .map(i64::try_from)
                .transpose()
                .map_err(|_| Error::invalid("rotation period too long"))?;
            tx.execute(
                "INSERT INTO keys (name, spec, created_at, state, rotation_period_secs,
                                   min_decrypt_version, active_version)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[
                    &record.name,
                    &record.spec,
                    &record.created_at,
                    &record.state.as_str(),
                    &period,
                    &i64::from(record.min_decrypt_version),
                    &i64::from(record.active_version),
                ],
            )
            .await
            .map_err(&err)?;
            insert_version(&tx, &record.name, first, wrapped)
                .await
                .map_err(&err)?;
            let detail = format!("version 1, {}", record.spec);
            let pending = append(
                &tx,
                self.signer()?,
                "key-create",
                &record.name,
                &detail,
                &err,
            )
            .await?;
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
            self.check_root(&tx, &new.root_id).await?;
            let Some(key) = self.read_key(&tx, name).await? else {
                return Ok(AddVersion::NoKey);
            };
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
            insert_version(&tx, name, new, wrapped)
                .await
                .map_err(&err)?;
            tx.execute(
                "UPDATE keys SET active_version = $2 WHERE name = $1",
                &[&name, &i64::from(new.version)],
            )
            .await
            .map_err(&err)?;
            let detail = format!(
                "version {} (was {expected_active}){}",
                new.version,
                if due_at.is_some() { ", due" } else { "" }
            );
            let pending = append(&tx, self.signer()?, "key-rotate", name, &detail, &err).await?;
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
                    "UPDATE keys SET state = $2 WHERE name = $1",
                    &state.as_str(),
                    state_verb(state),
                    |k| Ok((k.state != state).then(String::new)),
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
            let period = period_secs
                .map(i64::try_from)
                .transpose()
                .map_err(|_| Error::invalid("rotation period too long"))?;
            let (_, after) = self
                .update_key(
                    name,
                    "UPDATE keys SET rotation_period_secs = $2 WHERE name = $1",
                    &period,
                    "key-set-rotation",
                    |_| Ok(Some(period_detail(period_secs))),
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
                    "UPDATE keys SET min_decrypt_version = $2 WHERE name = $1",
                    &i64::from(min),
                    "key-retire",
                    |k| {
                        check_retire(k, min)?;
                        Ok(Some(format!(
                            "min decrypt version {min} (was {})",
                            k.min_decrypt_version
                        )))
                    },
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
            // One statement (one snapshot, one round trip): the key and the version.
            let stmt = self
                .version_row
                .get_or_try_init(|| {
                    client.prepare(
                        "SELECT k.state, k.min_decrypt_version, k.active_version,
                                v.version, v.uuid, v.wrapped, v.root_id
                         FROM keys k LEFT JOIN key_versions v ON v.name = k.name
                              AND CASE WHEN $2::bytea IS NULL
                                       THEN v.version = k.active_version
                                       ELSE v.uuid = $2 END
                         WHERE k.name = $1",
                    )
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
            let what = |w: &str| format!("key `{name}`: {w}");
            let state: String = row.get(0);
            let state = KeyState::parse(&state).map_err(|e| damaged(loc, what(&e)))?;
            let active: i64 = row.get(2);
            let Some(version) = row.get::<_, Option<i64>>(3) else {
                if uuid.is_none() {
                    return Err(damaged(
                        loc,
                        what(&format!("active version {active} is missing")),
                    ));
                }
                return Ok(Lookup::NoVersion);
            };
            Ok(Lookup::Found(VersionRow {
                state,
                min_decrypt_version: int(loc, row.get(1), &what("minimum version"))?,
                version: int(loc, version, &what("version"))?,
                uuid: uuid_of(loc, name, row.get(4))?,
                wrapped: row.get(5),
                root_id: row.get(6),
            }))
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
    ) -> BoxFuture<'a, Result<bool, Error>> {
        Box::pin(Self::create_audit_key(self, store_id, wrapped, key))
    }

    fn audit_log(&self) -> BoxFuture<'_, Result<(Vec<AuditEntry>, Head), Error>> {
        Box::pin(Self::audit_log(self))
    }

    fn set_audit_signer(&self, signer: Arc<AuditSigner>) {
        Self::set_audit_signer(self, signer);
    }
}

impl PgStore {
    /// Runs `update` (`UPDATE keys SET … WHERE name = $1`, with `value` as `$2`) in a write
    /// transaction if `check`, given the key as it is, returns the audit detail (`None`:
    /// nothing to do); appends `(verb, detail)` to the audit log. Returns the key before and
    /// after.
    pub(super) async fn update_key(
        &self,
        name: &str,
        update: &str,
        value: &(dyn tokio_postgres::types::ToSql + Sync),
        verb: &str,
        check: impl Fn(&KeyRecord) -> Result<Option<String>, Error>,
    ) -> Result<Option<(KeyRecord, KeyRecord)>, Error> {
        let check = &check;
        self.retry(verb, move || {
            self.update_key_tx(name, update, value, verb, check)
        })
        .await
    }

    /// One attempt of [`PgStore::update_key`].
    pub(super) async fn update_key_tx(
        &self,
        name: &str,
        update: &str,
        value: &(dyn tokio_postgres::types::ToSql + Sync),
        verb: &str,
        check: &impl Fn(&KeyRecord) -> Result<Option<String>, Error>,
    ) -> Result<Option<(KeyRecord, KeyRecord)>, Error> {
        let err = self.err();
        let mut client = self.client.lock().await;
        let tx = client.transaction().await.map_err(&err)?;
        lock_writes(&tx).await.map_err(&err)?;
        let before = self
            .read_key(&tx, name)
            .await?
            .ok_or_else(|| self.no_such_key(name))?;
        let Some(detail) = check(&before)? else {
            return Ok(None);
        };
        tx.execute(update, &[&name, value]).await.map_err(&err)?;
        let pending = append(&tx, self.signer()?, verb, name, &detail, &err).await?;
        let after = self
            .read_key(&tx, name)
            .await?
            .ok_or_else(|| self.no_such_key(name))?;
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
        match current.map(|r| r.get::<_, String>(0)) {
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
