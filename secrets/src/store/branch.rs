//! [`LocalKeyStore`]: the store's keys as a [`BranchKeyStore`] for the hierarchical keyring.
//!
//! The branch key id is the key name; a branch key version is the version's UUID. Unwrapped
//! versions are kept in a `coffer-cache` [`LocalCache`] for a time to live
//! ([`BRANCH_KEY_TTL`], or [`LocalKeyStore::with_cache`]), so a process unwraps each version
//! under the root key (a KMS call, for a KMS root) at most once per period however many
//! messages it handles ([`LocalKeyStore::root_unwraps`] counts). The state checks (disabled key, retired version) run on every call, against the
//! database.
//!
//! Rotation ([`LocalKeyStore::rotate_key`], [`LocalKeyStore::rotate_if_due`]) wraps the new
//! version first and then adds it in one transaction that re-checks what it was made from
//! (see "Rotation" in [`crate::store`]).

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use coffer_cache::{Cached, LocalCache, Usage};

use coffer_core::keyring::{BoxFuture, BranchKey, BranchKeyStore, RootKey};
use zeroize::Zeroizing;

use super::audit::{AuditKey, Verified};
use super::audit_key::Trust;
use super::key_rows::{
    AddVersion, KeyRecord, KeySpec, KeyState, Lookup, VersionRecord, VersionRow, Which,
    branch_key_aad, format_uuid, new_uuid,
};
use super::own_keys::PathsKeys;
use super::roots::OwnRoots;
use super::seen::SeenFile;
use super::table::{KeyTable, no_such_key, root_mismatch};
use super::test_pause::pause as test_pause;
#[cfg(feature = "sqlite")]
use crate::backend::sqlite::Store;
use crate::error::{Advice, Error};
use crate::home::Home;

/// How long an unwrapped branch key version is kept before the root key is asked again.
pub const BRANCH_KEY_TTL: Duration = Duration::from_secs(15 * 60);

/// The store's keys, unwrapped with its root key: the branch key store of the hierarchical
/// keyring.
///
/// ```no_run
/// # async fn run() -> Result<(), coffer::error::Error> {
/// use coffer::home::Home;
/// use coffer::store::{KeySpec, PassphraseSource, open_keys};
///
/// let keys = open_keys(&Home::new("/etc/coffer"), &PassphraseSource::None)?;
/// keys.create_key("app", KeySpec::Aes256, Some(90 * 86_400)).await?;
/// # Ok(()) }
/// ```
pub struct LocalKeyStore {
    pub(super) table: Arc<dyn KeyTable>,
    root: Arc<dyn RootKey>,
    root_id: String,
    /// The home's record of the store's audit log, if a home opened it.
    pub(super) seen: Option<SeenFile>,
    /// The audit key, once the log was opened ([`LocalKeyStore::audit_key`]).
    audit: tokio::sync::OnceCell<Arc<AuditKey>>,
    cache: Arc<LocalCache>,
    ttl: Duration,
    root_unwraps: AtomicU64,
    /// The roots of keys with roots of their own that the home holds.
    pub(super) own_roots: OwnRoots,
    /// The `K_paths` of those keys, as unwrapped ([`super::own_keys`]).
    pub(super) paths_keys: PathsKeys,
}

impl fmt::Debug for LocalKeyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalKeyStore")
            .field("store", &self.table.location())
            .field("root_id", &self.root_id)
            .field("root_unwraps", &self.root_unwraps)
            .finish_non_exhaustive()
    }
}

impl Drop for LocalKeyStore {
    fn drop(&mut self) {
        tracing::debug!(
            "local key store closed: {} root unwrap(s) in this process",
            self.root_unwraps()
        );
    }
}

/// What a rotation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    /// The key.
    pub name: String,
    /// The version that was active before.
    pub previous_version: u32,
    /// The new, active version.
    pub version: VersionRecord,
}

/// A CLI error carried through `coffer-core` (its hints survive: the report walks the chain).
fn core(e: Error) -> coffer_core::Error {
    coffer_core::Error::Other(Arc::new(e))
}

impl LocalKeyStore {
    /// The keys of `store` under `root`. Checks that `root` is the root key the store's keys
    /// are wrapped with (a store with no root recorded yet adopts it).
    ///
    /// # Errors
    /// Another root key; SQLite errors.
    #[cfg(feature = "sqlite")]
    pub fn new(store: Arc<Store>, root: Arc<dyn RootKey>) -> Result<Self, Error> {
        let recorded = store.adopt_root_id(&root.id())?;
        Self::checked(store, root, &recorded)
    }

    /// The keys in `table` (any store) under `root`, checked as `LocalKeyStore::new` does.
    ///
    /// # Errors
    /// Another root key; store errors.
    pub async fn open(table: Arc<dyn KeyTable>, root: Arc<dyn RootKey>) -> Result<Self, Error> {
        let recorded = table.adopt_root_id(&root.id()).await?;
        Self::checked(table, root, &recorded)
    }

    fn checked(
        table: Arc<dyn KeyTable>,
        root: Arc<dyn RootKey>,
        recorded: &str,
    ) -> Result<Self, Error> {
        let root_id = root.id();
        if recorded != root_id {
            return Err(root_mismatch(&table.location(), &root_id, recorded));
        }
        Ok(Self {
            table,
            root,
            root_id,
            seen: None,
            audit: tokio::sync::OnceCell::new(),
            cache: Arc::new(LocalCache::default()),
            ttl: BRANCH_KEY_TTL,
            root_unwraps: AtomicU64::new(0),
            own_roots: OwnRoots::default(),
            paths_keys: PathsKeys::default(),
        })
    }

    /// Checks the store's audit log against (and records it in) `seen`, a home's record, when
    /// it is opened.
    #[must_use]
    pub fn with_seen(mut self, seen: SeenFile) -> Self {
        self.seen = Some(seen);
        self
    }

    /// Finds the roots of keys with roots of their own in `home` ([`super::roots`]).
    #[must_use]
    pub fn with_own_roots(mut self, home: &Home) -> Self {
        self.own_roots = OwnRoots::of(home);
        self
    }

    /// If `key` has a root of its own that this machine cannot use, the error that says so:
    /// no file for it in this home ([`super::roots::is_missing_root`]), or a file that holds
    /// another root or names a KMS key or token this machine cannot reach.
    pub fn root_unusable(&self, key: &KeyRecord) -> Option<Error> {
        self.own_roots
            .missing(key)
            .or_else(|| self.root_for(key).err())
    }

    /// [`LocalKeyStore::root_unusable`], and for a key with a root of its own that this home
    /// has a file for, the proof that the root is the one that wraps it: its active version
    /// unwraps (a token's label or a KMS key's name alone could be another machine's key of
    /// the same name). What a change below a path of the key, or of the key, asks first.
    pub async fn root_unproven(&self, key: &KeyRecord) -> Option<Error> {
        self.root_proof(key, true).await
    }

    /// [`LocalKeyStore::root_unproven`], with the active version's rows checked first if
    /// `check` (not when the check of the key's rows is what failed, [`super::own_keys`]).
    pub(super) async fn root_proof(&self, key: &KeyRecord, check: bool) -> Option<Error> {
        if let Some(e) = self.root_unusable(key) {
            return Some(e);
        }
        key.root.as_ref()?;
        let row = match self.table.version_row(&key.name, Which::Active).await {
            Ok(Lookup::Found(row)) => *row,
            Ok(Lookup::NoKey | Lookup::NoVersion) => return Some(self.no_such_key(&key.name)),
            Err(e) => return Some(e),
        };
        if check {
            if let Err(e) = Box::pin(self.check_row(&row)).await {
                return Some(e);
            }
        }
        Box::pin(self.material(&key.name, row)).await.err()
    }

    /// The names of the keys whose roots of their own this home holds files for.
    ///
    /// # Errors
    /// The home's `roots` directory cannot be read.
    pub fn held_roots(&self) -> Result<Vec<String>, Error> {
        self.own_roots.held()
    }

    /// The root that wraps the versions of `key`: its own, or the store's.
    pub(super) fn root_for(&self, key: &KeyRecord) -> Result<Arc<dyn RootKey>, Error> {
        Ok(self
            .own_roots
            .root_of(key)?
            .unwrap_or_else(|| self.root.clone()))
    }

    /// The store's audit key: on the first call, unwrapped (or made, for a store upgraded
    /// from a release without one) and the log's head checked, against the home's record
    /// too ([`crate::store::audit_key::attach`]); from then on this handle's writes are
    /// signed with it. Every write of the key hierarchy calls it first.
    ///
    /// # Errors
    /// A head that fails its check; a store rolled back, forked or replaced; store errors.
    pub async fn audit_key(&self) -> Result<Arc<AuditKey>, Error> {
        self.audit
            .get_or_try_init(|| {
                super::audit_key::attach(
                    self.table.as_ref(),
                    self.root.as_ref(),
                    self.seen.clone(),
                    Trust::Record,
                )
            })
            .await
            .cloned()
    }

    /// Checks the whole audit log with the store's key, writing nothing to the store (a store
    /// without an audit key is an error); with the number of entries from before the log was
    /// keyed (a store upgraded from an earlier release), which are hashed but not
    /// authenticated. A log that holds is recorded as what the home has seen.
    ///
    /// # Errors
    /// As [`LocalKeyStore::audit_key`]; no audit key; store errors.
    pub async fn verify_audit(&self) -> Result<(Verified, u64), Error> {
        let key = super::audit_key::attach(
            self.table.as_ref(),
            self.root.as_ref(),
            self.seen.clone(),
            Trust::Verify,
        )
        .await?;
        let (entries, head) = self.table.whole_audit_log().await?;
        let unkeyed = u64::try_from(head.keyed_from.saturating_sub(1)).unwrap_or(0);
        let verified = super::audit::verify(&entries, &head, &key);
        if let (Verified::Ok(_), Some(seen)) = (&verified, &self.seen) {
            let (count, hash) = (head.count, &head.hash);
            if let Err(e) = seen.record(key.store_id(), count, hash, false, count) {
                tracing::warn!("cannot record the store's audit head: {e}");
            }
        }
        Ok((verified, unkeyed))
    }

    /// `coffer audit accept`: checks the whole log with the store's key and, if it holds,
    /// makes it what the home has seen, whatever the home saw before (a restored backup).
    ///
    /// # Errors
    /// The log fails verification (nothing is recorded); store errors.
    pub async fn accept_audit(&self) -> Result<u64, Error> {
        let key =
            super::audit_key::attach(self.table.as_ref(), self.root.as_ref(), None, Trust::Accept)
                .await?;
        let (entries, head) = self.table.whole_audit_log().await?;
        match super::audit::verify(&entries, &head, &key) {
            Verified::Ok(n) => {
                if let Some(seen) = &self.seen {
                    seen.record(key.store_id(), head.count, &head.hash, true, 0)?;
                }
                Ok(n)
            }
            Verified::Bad { seq, why } => Err(Error::corrupt(format!(
                "the audit log of the store {} fails verification at entry {seq}: {why}; it \
                 was not accepted",
                self.table.location()
            ))),
        }
    }

    /// Keeps unwrapped versions in `cache` for `ttl` (a shared cache, a test clock).
    #[must_use]
    pub fn with_cache(mut self, cache: Arc<LocalCache>, ttl: Duration) -> Self {
        self.cache = cache;
        self.ttl = ttl;
        self
    }

    /// Where the keys are.
    pub fn table(&self) -> &Arc<dyn KeyTable> {
        &self.table
    }

    /// The error for a key that is not in this store.
    pub fn no_such_key(&self, name: &str) -> Error {
        no_such_key(&self.table.location(), name)
    }

    /// How many times this process unwrapped a branch key version under the root key.
    pub fn root_unwraps(&self) -> u64 {
        self.root_unwraps.load(Ordering::Relaxed)
    }

    /// Creates key `name` with its first version: fresh random material, wrapped under the
    /// root key and bound to (name, 1, uuid).
    ///
    /// # Errors
    /// The key exists; the root key or the store failed.
    pub async fn create_key(
        &self,
        name: &str,
        spec: KeySpec,
        rotation_period_secs: Option<u64>,
    ) -> Result<KeyRecord, Error> {
        self.create_key_under(name, spec, rotation_period_secs, None)
            .await
    }

    /// As [`LocalKeyStore::create_key`], under the root of its own whose id is `root`
    /// ([`super::roots::create_root`] made it; the home holds its file), or the store's.
    ///
    /// # Errors
    /// As [`LocalKeyStore::create_key`]; the home does not hold the root.
    pub async fn create_key_under(
        &self,
        name: &str,
        spec: KeySpec,
        rotation_period_secs: Option<u64>,
        root: Option<String>,
    ) -> Result<KeyRecord, Error> {
        super::key_rows::validate_name(name)?;
        if root.as_deref() == Some(self.root_id.as_str()) {
            return Err(Error::invalid(format!(
                "key `{name}`: its own root would be the store's root key ({}), which every \
                 machine of the store holds",
                self.root_id
            )));
        }
        self.audit_key().await?;
        let mut record = KeyRecord {
            name: name.to_owned(),
            spec: spec.as_str().to_owned(),
            created_at: 0,
            state: KeyState::Enabled,
            rotation_period_secs,
            min_decrypt_version: 1,
            active_version: 1,
            root,
            versions: Vec::new(),
            seal: None,
            last_change: None,
        };
        let (first, wrapped) = self.new_version(name, 1, &self.root_for(&record)?).await?;
        record.created_at = first.created_at;
        record.versions = vec![first.clone()];
        self.table.insert_key(&record, &first, &wrapped).await?;
        tracing::info!(key = name, version = 1, "key created");
        // As stored: sealed.
        self.key(name).await?.ok_or_else(|| self.no_such_key(name))
    }

    /// Fresh material for version `version` of key `name`, wrapped under `root` and bound to
    /// (name, version, uuid). The material itself is wiped when this returns.
    async fn new_version(
        &self,
        name: &str,
        version: u32,
        root: &Arc<dyn RootKey>,
    ) -> Result<(VersionRecord, Vec<u8>), Error> {
        let uuid = new_uuid()?;
        let mut material = Zeroizing::new([0u8; coffer_core::keyring::hierarchy::BRANCH_KEY_LEN]);
        coffer_core::fill_random(&mut material[..])
            .map_err(|_| Error::backend("the system's random number generator failed"))?;
        let aad = branch_key_aad(name, version, &uuid);
        let wrapped = root
            .wrap(&material[..], &aad)
            .await
            .map_err(|e| Error::backend("cannot wrap the new key").caused_by(e))?;
        let record = VersionRecord {
            version,
            uuid,
            created_at: crate::time::now_unix(),
            root_id: root.id(),
            mac: None,
        };
        Ok((record, wrapped))
    }

    /// Rotates key `name`: adds a version and makes it active. Versions below it still
    /// decrypt (down to the minimum decryption version).
    ///
    /// # Errors
    /// No such key; a disabled key; the root key or the store failed.
    pub async fn rotate_key(&self, name: &str) -> Result<Rotation, Error> {
        self.rotate(name, None)
            .await?
            .ok_or_else(|| Error::backend(format!("key `{name}` was not rotated")))
    }

    /// Rotates key `name` if it is enabled and its rotation period has passed at `now` (Unix
    /// seconds) since its active version was made; `None` if not (any more: another process
    /// may have rotated it meanwhile). The check is repeated in the transaction that adds the
    /// version, so concurrent callers rotate a due key once.
    ///
    /// # Errors
    /// No such key; the root key or the store failed.
    pub async fn rotate_if_due(&self, name: &str, now: i64) -> Result<Option<Rotation>, Error> {
        self.rotate(name, Some(now)).await
    }

    async fn rotate(&self, name: &str, due_at: Option<i64>) -> Result<Option<Rotation>, Error> {
        // Each retry follows a rotation by another process that committed first.
        const ATTEMPTS: usize = 8;
        self.audit_key().await?;
        let disabled = || {
            Error::conflict(format!("key `{name}` is disabled: it cannot be rotated"))
                .advice(Advice::EnableKey(name.to_owned()))
        };
        for _ in 0..ATTEMPTS {
            // Checked: whether the key is disabled or due is decided on its sealed row.
            let record = self
                .key(name)
                .await?
                .ok_or_else(|| self.no_such_key(name))?;
            if record.state == KeyState::Disabled {
                return match due_at {
                    Some(_) => Ok(None),
                    None => Err(disabled()),
                };
            }
            if let Some(now) = due_at {
                if record.next_rotation().is_none_or(|t| t > now) {
                    return Ok(None);
                }
            }
            let previous = record.active_version;
            let version = previous.checked_add(1).ok_or_else(|| {
                Error::backend(format!("key `{name}` has no version numbers left"))
            })?;
            let root = self.root_for(&record)?;
            if record.root.is_some() {
                // The root here must be the one that wraps the key: its name alone (a token's
                // label, a KMS key's ARN) could be another machine's key of the same name.
                self.active(name).await?;
            }
            let (new, wrapped) = self.new_version(name, version, &root).await?;
            test_pause("rotate: wrapped");
            match self
                .table
                .add_version(name, previous, &new, &wrapped, due_at)
                .await?
            {
                AddVersion::Added => {
                    test_pause("rotate: committed");
                    tracing::info!(key = name, version, "key rotated");
                    return Ok(Some(Rotation {
                        name: name.to_owned(),
                        previous_version: previous,
                        version: new,
                    }));
                }
                AddVersion::Changed => {
                    tracing::debug!(key = name, "rotated by another process meanwhile");
                }
                AddVersion::NotDue => return Ok(None),
                AddVersion::Disabled if due_at.is_some() => return Ok(None),
                AddVersion::Disabled => return Err(disabled()),
                AddVersion::NoKey => return Err(self.no_such_key(name)),
            }
        }
        Err(Error::conflict(format!(
            "key `{name}` kept changing while coffer tried to rotate it; nothing was changed"
        ))
        .advice(Advice::TryAgain))
    }

    fn cache_id(root_id: &str, name: &str, uuid: &[u8; 16]) -> coffer_cache::CacheId {
        coffer_cache::ids::branch_key(&[], root_id, name, Some(uuid))
    }

    /// Unwraps `row` of key `name` (or takes it from the cache).
    async fn material(&self, name: &str, row: VersionRow) -> Result<BranchKey, Error> {
        let v = row.version()?;
        let root_id = row.key.root.as_deref().unwrap_or(&self.root_id);
        let id = Self::cache_id(root_id, name, &v.uuid);
        if let Some(k) = self.cache.get_branch_key(&id) {
            return Ok(k);
        }
        if v.root_id != root_id {
            return Err(Error::denied(format!(
                "version {} of key `{name}` is wrapped by root key {}, not by {}",
                v.version,
                v.root_id,
                match &row.key.root {
                    Some(r) => format!("the key's own root {r}"),
                    None => format!("this store's root key {}", self.root_id),
                }
            )));
        }
        let root = self.root_for(&row.key)?;
        let aad = branch_key_aad(name, v.version, &v.uuid);
        self.root_unwraps.fetch_add(1, Ordering::Relaxed);
        let material = root.unwrap(&row.wrapped, &aad).await.map_err(|e| {
            if let Some(own) = &row.key.root {
                return Error::denied(format!(
                    "version {} of key `{name}` does not unwrap under its own root {own} on \
                     this machine: the root file or token here holds another key of that name, \
                     access to it was denied, or the row in the store {} was altered",
                    v.version,
                    self.table.location()
                ))
                .caused_by(e);
            }
            Error::corrupt(format!(
                "version {} of key `{name}` does not unwrap under the root key: its row in \
                 the store {} was altered or moved",
                v.version,
                self.table.location()
            ))
            .caused_by(e)
        })?;
        let key = BranchKey::new(name, v.uuid, &material).map_err(|e| {
            Error::backend(format!("version {} of key `{name}`", v.version)).caused_by(e)
        })?;
        tracing::debug!(
            key = name,
            version = v.version,
            "branch key version unwrapped"
        );
        self.cache.put(
            id,
            Cached::BranchKey(key.clone()),
            self.ttl,
            Usage {
                messages: 0,
                bytes: 0,
            },
        );
        Ok(key)
    }

    /// Checks the rows of `row` against their seal ([`super::key_seal`]) under their key
    /// ([`super::key_row_key`]): a key's state, minimum decryption version and active
    /// version are believed only then. A key with a root of its own that this home does not
    /// hold cannot be checked, or used: that error.
    async fn check_row(&self, row: &VersionRow) -> Result<(), Error> {
        self.check_record(&row.key).await
    }

    /// Key `name` as stored, checked against its seal, if it exists. A key with a root of
    /// its own that this home does not hold is as stored: its rows are under its own key,
    /// which only its root's holders derive, and nothing here uses it.
    ///
    /// # Errors
    /// A row that fails its check; store errors.
    pub async fn key(&self, name: &str) -> Result<Option<KeyRecord>, Error> {
        self.audit_key().await?;
        let Some(record) = self.table.get_key(name).await? else {
            return Ok(None);
        };
        self.check_held(&record).await?;
        Ok(Some(record))
    }

    /// Every key, checked against its seal (as [`LocalKeyStore::key`]).
    ///
    /// # Errors
    /// A row that fails its check; store errors.
    pub async fn keys(&self) -> Result<Vec<KeyRecord>, Error> {
        self.audit_key().await?;
        let records = self.table.list_keys().await?;
        for r in &records {
            self.check_held(r).await?;
        }
        Ok(records)
    }

    fn disabled(name: &str) -> Error {
        Error::conflict(format!("key `{name}` is disabled"))
            .advice(Advice::EnableKey(name.to_owned()))
    }

    async fn active(&self, name: &str) -> Result<BranchKey, Error> {
        let row = match self.table.version_row(name, Which::Active).await? {
            Lookup::Found(row) => *row,
            Lookup::NoKey | Lookup::NoVersion => return Err(self.no_such_key(name)),
        };
        self.check_row(&row).await?;
        if row.key.state == KeyState::Disabled {
            return Err(Self::disabled(name));
        }
        self.material(name, row).await
    }

    async fn version(&self, name: &str, uuid: &[u8; 16]) -> Result<BranchKey, Error> {
        let row = match self.table.version_row(name, Which::Uuid(uuid)).await? {
            Lookup::Found(row) => *row,
            Lookup::NoKey => return Err(self.no_such_key(name)),
            Lookup::NoVersion => {
                return Err(Error::missing(format!(
                    "key `{name}` has no version {} (was the message encrypted under another \
                     store's key of the same name?)",
                    format_uuid(uuid)
                )));
            }
        };
        self.check_row(&row).await?;
        if row.key.state == KeyState::Disabled {
            return Err(Self::disabled(name));
        }
        let (version, min) = (row.version()?.version, row.key.min_decrypt_version);
        if version < min {
            return Err(Error::conflict(format!(
                "version {version} of key `{name}` was retired (versions below {min} may not \
                 decrypt)"
            ))
            .advice(Advice::LowerMinimum {
                key: name.to_owned(),
                version,
            }));
        }
        self.material(name, row).await
    }
}

impl BranchKeyStore for LocalKeyStore {
    fn active_branch_key<'a>(
        &'a self,
        id: &'a str,
    ) -> BoxFuture<'a, coffer_core::Result<BranchKey>> {
        Box::pin(async move { self.active(id).await.map_err(core) })
    }

    fn branch_key_version<'a>(
        &'a self,
        id: &'a str,
        version: &'a [u8; 16],
    ) -> BoxFuture<'a, coffer_core::Result<BranchKey>> {
        Box::pin(async move { self.version(id, version).await.map_err(core) })
    }
}
