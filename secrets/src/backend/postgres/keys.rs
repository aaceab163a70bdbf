//! The keys of a PostgreSQL store: records, versions, the root ([`KeyTable`]).

use std::sync::Arc;

use coffer_core::keyring::{BoxFuture, RootKey};
use tokio_postgres::{GenericClient, Transaction};

use super::audit::{Pending, append, entry_at, head};
use super::tx::{lock_writes, snapshot};
use super::{PgStore, int};
use crate::error::{Advice, Error};
use crate::home::Home;
use crate::store::audit::{AuditEntry, AuditKey, AuditTip, Head, KEY_FORMAT_SEALED};
use crate::store::audit_signer::AuditSigner;
use crate::store::key_rows::{
    AddVersion, KeyRecord, KeyState, Lookup, Seal, VersionRecord, VersionRow, Which, check_retire,
    period_detail, state_verb,
};
use crate::store::key_seal::{self, History};
use crate::store::passphrase::PassphraseCache;
use crate::store::root::{self, Protection};
use crate::store::rows::damaged;
use crate::store::table::{KeyTable, no_such_key};
use crate::store::test_pause::pause as test_pause;

/// The columns of a key's row (`k`, `keys`) and of its last change (`e`), as
/// [`PgStore::key_from`] reads them from [`KEY_COLUMNS_AT`] on.
const KEY_COLUMNS: &str = "k.spec, k.created_at, k.state, k.rotation_period_secs,
    k.min_decrypt_version, k.active_version, k.seal_seq, k.mac,
    e.seq, e.at, e.actor, e.verb, e.name, e.detail, e.prev_hash, e.hash";

/// Where [`KEY_COLUMNS`] start in a row.
const KEY_COLUMNS_AT: usize = 0;

/// The join of a key's last change (`e`) to `keys k` ([`crate::store::key_seal`]).
const LAST_CHANGE_JOIN: &str = "LEFT JOIN LATERAL (
    SELECT seq, at, actor, verb, name, detail, prev_hash, hash FROM audit a
    WHERE a.name = k.name AND a.verb LIKE 'key-%' AND a.verb <> 'key-rotate-root'
    ORDER BY a.seq DESC LIMIT 1) e ON true";

/// The columns of a version (`v`, `key_versions`), as [`PgStore::version_from`] reads them.
const VERSION_COLUMNS: &str = "v.version, v.uuid, v.created_at, v.root_id, v.mac";

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
    fn key_from(&self, name: &str, row: &tokio_postgres::Row) -> Result<KeyRecord, Error> {
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
            versions: Vec::new(),
            seal: seal_seq.zip(mac).map(|(seq, mac)| Seal { seq, mac }),
            last_change: entry_at(row, at + 8).map_err(col)?,
        })
    }

    /// The version of key `name` in the [`VERSION_COLUMNS`] of `row`, from column `at` on.
    fn version_from(
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

    /// In a write transaction: key `name` as stored, checked against its seal and the log
    /// after it ([`key_seal::Since`]; a change never seals an edit made outside coffer).
    async fn checked_key(
        &self,
        tx: &Transaction<'_>,
        name: &str,
        signer: &AuditSigner,
    ) -> Result<Option<KeyRecord>, Error> {
        let Some(record) = self.read_key(tx, name).await? else {
            return Ok(None);
        };
        key_seal::check(signer.key(), &self.location, &record)?;
        let err = self.err();
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
        Ok(Some(record))
    }

    /// In a write transaction, after the change whose audit entry is `seq`: writes `record`
    /// (the key as checked, with the change applied, in Rust) whole and seals it. Every
    /// column the MACs cover is written from `record`, never read back, so an edit made in the
    /// database meanwhile (a trigger, another writer's transaction) is overwritten or fails
    /// its MAC later, never sealed. Version rows are written only where their MAC is missing
    /// or other (a store being sealed); the checked ones already carry theirs. Returns the
    /// record as written (its last change is entry `seq`).
    async fn reseal(
        &self,
        tx: &Transaction<'_>,
        mut record: KeyRecord,
        key: &AuditKey,
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
            let pending = append(
                tx,
                signer.clone(),
                key_seal::SEAL_VERB,
                &name,
                key_seal::SEAL_DETAIL,
                &err,
            )
            .await?;
            self.reseal(tx, record, signer.key(), pending.seq()).await?;
            last = Some(pending);
        }
        Ok(last)
    }

    /// See [`KeyTable::seal_keys`].
    async fn seal_keys_tx(
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
        let unchanged = match &stored {
            Some(r) => {
                let key: String = r.try_get(0).map_err(&err)?;
                let format: Option<String> = r.try_get(1).map_err(&err)?;
                key == hex::encode(wrapped_old)
                    && crate::store::audit::key_format(format.as_deref()) != KEY_FORMAT_SEALED
            }
            None => false,
        };
        if !unchanged {
            return Ok(false);
        }
        let marker = append(
            &tx,
            signer.clone(),
            key_seal::STORE_SEAL_VERB,
            key_seal::STORE_SEAL_NAME,
            key_seal::STORE_SEAL_DETAIL,
            &err,
        )
        .await?;
        let last = self
            .seal_all(&tx, &signer, history)
            .await?
            .unwrap_or(marker);
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('audit_key', $1), ('audit_key_format', $2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            &[&hex::encode(wrapped_new), &KEY_FORMAT_SEALED.to_string()],
        )
        .await
        .map_err(&err)?;
        tx.commit().await.map_err(&err)?;
        last.committed();
        Ok(true)
    }
}

fn uuid_of(location: &str, name: &str, bytes: Vec<u8>) -> Result<[u8; 16], Error> {
    bytes
        .try_into()
        .map_err(|_| damaged(location, format!("key `{name}`: bad version id")))
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
            self.check_root(&tx, &first.root_id).await?;
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
            let mut written = record.clone();
            let mut first = first.clone();
            first.mac =
                Some(key_seal::version_mac(signer.key().rows(), &record.name, &first).to_vec());
            written.versions = vec![first.clone()];
            let (seal, _) = key_seal::seal(signer.key(), &written, pending.seq());
            tx.execute(
                "INSERT INTO keys (name, spec, created_at, state, rotation_period_secs,
                                   min_decrypt_version, active_version, seal_seq, mac)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
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
            self.check_root(&tx, &new.root_id).await?;
            let signer = self.signer()?;
            let Some(mut key) = self.checked_key(&tx, name, &signer).await? else {
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
            let mut new = new.clone();
            new.mac = Some(key_seal::version_mac(signer.key().rows(), name, &new).to_vec());
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
            self.reseal(&tx, key, signer.key(), pending.seq()).await?;
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
            let at = KEY_COLUMNS_AT + 16;
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

    fn seal_keys<'a>(
        &'a self,
        wrapped_old: &'a [u8],
        wrapped_new: &'a [u8],
        history: &'a History,
    ) -> BoxFuture<'a, Result<bool, Error>> {
        Box::pin(self.retry("seal the key rows", move || {
            self.seal_keys_tx(wrapped_old, wrapped_new, history)
        }))
    }

    fn set_audit_signer(&self, signer: Arc<AuditSigner>) {
        Self::set_audit_signer(self, signer);
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
        let before = self
            .checked_key(&tx, name, &signer)
            .await?
            .ok_or_else(|| self.no_such_key(name))?;
        let Some(detail) = check(&before)? else {
            return Ok(None);
        };
        let pending = append(&tx, signer.clone(), verb, name, &detail, &err).await?;
        let mut changed = before.clone();
        apply(&mut changed);
        let after = self
            .reseal(&tx, changed, signer.key(), pending.seq())
            .await?;
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
