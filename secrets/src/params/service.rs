//! [`Params`]: the parameter service over any [`ParamStore`]: encryption of `secure-string`
//! values, the checks on the way out, and retries of writes that raced.

use crate::error::Advice;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use coffer_core::cmm::{DefaultCmm, MaterialsManager};
use coffer_core::keyring::{BoxFuture, Keyring};
use coffer_core::{AlgorithmSuite, DecryptConfig, EncryptConfig, EncryptionContext, Threads};
use zeroize::Zeroizing;

use crate::store::key_paths::PathsKey;

use super::{
    CONTEXT_NAME, CONTEXT_VERSION, Error, Expect, Label, NewVersion, ParamName, ParamPath,
    ParamResult, ParamStore, ParamType, PathEntry, PutOutcome, RotationPlan, SecretValue, Selector,
    StoredValue, StoredVersion, VersionMeta, Which,
};

/// The suite of `secure-string` values: 0x0478, committing, unsigned (see the module docs of
/// [`crate::params`] for why no signature).
pub const VALUE_SUITE: AlgorithmSuite = AlgorithmSuite::Aes256GcmHkdfSha512CommitKey;

/// How many times a write is retried after other writers came first (`--overwrite`). Each
/// retry means another version was committed, so the store always makes progress.
pub(super) const PUT_ATTEMPTS: usize = 10_000;

/// The keys of `secure-string` values.
pub trait ValueKeys: Send + Sync + fmt::Debug {
    /// The keyring new values are encrypted with, and the key reference recorded with them.
    fn encrypt_keyring(&self) -> BoxFuture<'_, ParamResult<(Arc<dyn Keyring>, String)>>;

    /// The keyring values are decrypted with.
    fn decrypt_keyring(&self) -> BoxFuture<'_, ParamResult<Arc<dyn Keyring>>>;

    /// The key given for this run's writes, as values record it ([`super::policy::recorded_key`]),
    /// if one was: a write below a path policy that names another is refused.
    fn chosen_key(&self) -> Option<String> {
        None
    }

    /// The keyring of `key` (as values record it: a path policy's key), to encrypt with.
    ///
    /// # Errors
    /// No such key; it cannot be loaded. By default only the keys of [`Self::chosen_key`]
    /// are known.
    fn keyring_of<'a>(&'a self, key: &'a str) -> BoxFuture<'a, ParamResult<Arc<dyn Keyring>>> {
        Box::pin(async move {
            match self.chosen_key() {
                Some(k) if k == key => Ok(self.encrypt_keyring().await?.0),
                _ => Err(Error::missing(format!(
                    "no key {key} is known to these keys"
                ))),
            }
        })
    }

    /// If `key` (as values record it) is a key with a root of its own that this machine
    /// cannot use, the error that says so: a read refuses its values before trying to
    /// decrypt them, and one over a path leaves them out if the home has no file for the root
    /// ([`crate::store::roots::is_missing_root`]). None by default.
    fn root_unusable<'a>(&'a self, key: &'a str) -> BoxFuture<'a, ParamResult<Option<Error>>> {
        let _ = key;
        Box::pin(std::future::ready(Ok(None)))
    }

    /// Opens what signs the store's audit log (the store's own keys: its root key), before
    /// a write. Keys that are not a store's have nothing to open.
    fn unlock(&self) -> BoxFuture<'_, ParamResult<()>> {
        Box::pin(std::future::ready(Ok(())))
    }

    /// The keys with roots of their own whose root files this home holds, each with whether
    /// the store has such a key ([`crate::store::key_paths`]: the policies are checked
    /// against what each attests). None by default.
    fn held_roots(&self) -> BoxFuture<'_, ParamResult<Vec<(String, bool)>>> {
        Box::pin(std::future::ready(Ok(Vec::new())))
    }

    /// The `K_paths` of key `key` (one of [`Self::held_roots`]) from its row secret as
    /// wrapped by its root.
    ///
    /// # Errors
    /// The root cannot be used or does not unwrap it. By default no key has one.
    fn paths_key<'a>(
        &'a self,
        key: &'a str,
        wrapped: &'a [u8],
    ) -> BoxFuture<'a, ParamResult<Arc<PathsKey>>> {
        let _ = wrapped;
        Box::pin(std::future::ready(Err(Error::missing(format!(
            "no key {key} is known to these keys"
        )))))
    }

    /// The audit entry this home last saw key `key`'s paths sealed to, if any
    /// ([`crate::store::seen_paths`]). None by default.
    fn paths_seen<'a>(&'a self, key: &'a str) -> BoxFuture<'a, ParamResult<Option<i64>>> {
        let _ = key;
        Box::pin(std::future::ready(Ok(None)))
    }

    /// Records that this home saw key `key`'s paths sealed to entry `seq`. Nothing by
    /// default.
    fn saw_paths<'a>(&'a self, key: &'a str, seq: i64) -> BoxFuture<'a, ParamResult<()>> {
        let _ = (key, seq);
        Box::pin(std::future::ready(Ok(())))
    }

    /// A new row secret for key `key` (one of [`Self::held_roots`]): wrapped by its root,
    /// and its `K_paths` (the store's transaction that writes the row verifies the whole log
    /// first: [`ParamStore::first_key_paths`]).
    ///
    /// # Errors
    /// As [`Self::paths_key`].
    fn new_paths_key<'a>(
        &'a self,
        key: &'a str,
    ) -> BoxFuture<'a, ParamResult<(Vec<u8>, Arc<PathsKey>)>> {
        Box::pin(std::future::ready(Err(Error::missing(format!(
            "no key {key} is known to these keys"
        )))))
    }
}

/// One keyring for both (tests, services with a key of their own).
#[derive(Debug, Clone)]
pub struct FixedKeys {
    keyring: Arc<dyn Keyring>,
    key_ref: String,
}

impl FixedKeys {
    /// `keyring`, recorded with values as `key_ref`.
    pub fn new(keyring: Arc<dyn Keyring>, key_ref: impl Into<String>) -> Self {
        Self {
            keyring,
            key_ref: key_ref.into(),
        }
    }
}

impl ValueKeys for FixedKeys {
    fn encrypt_keyring(&self) -> BoxFuture<'_, ParamResult<(Arc<dyn Keyring>, String)>> {
        Box::pin(std::future::ready(Ok((
            self.keyring.clone(),
            self.key_ref.clone(),
        ))))
    }

    fn decrypt_keyring(&self) -> BoxFuture<'_, ParamResult<Arc<dyn Keyring>>> {
        Box::pin(std::future::ready(Ok(self.keyring.clone())))
    }

    fn chosen_key(&self) -> Option<String> {
        Some(self.key_ref.clone())
    }
}

/// The version after `latest`.
pub(super) fn next_version(name: &ParamName, latest: u32) -> ParamResult<u32> {
    latest
        .checked_add(1)
        .ok_or_else(|| Error::invalid(format!("{name} has no version numbers left")))
}

/// What [`Params::read_path`] found.
#[derive(Debug)]
pub struct PathValues {
    /// The readable values, by name.
    pub values: Vec<Param>,
    /// The parameters with no readable `current` version, each with the reason
    /// ([`Error::Destroyed`] or [`Error::NoCurrent`]).
    pub unreadable: Vec<Error>,
}

/// `e` as the error of a read of the version labelled `current` (when `current`).
fn mark_current(e: Error, current: bool) -> Error {
    match e {
        Error::Destroyed {
            name, version, at, ..
        } => Error::Destroyed {
            name,
            version,
            at,
            current,
        },
        other => other,
    }
}

/// A version with its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    /// What it is.
    pub meta: VersionMeta,
    /// The value (decrypted if it was secure).
    pub value: SecretValue,
}

/// A `put`.
#[derive(Debug, Clone)]
pub struct PutRequest {
    /// The parameter.
    pub name: ParamName,
    /// The type.
    pub param_type: ParamType,
    /// The value.
    pub value: SecretValue,
    /// The condition on the name.
    pub expect: Expect,
    /// `--label`.
    pub labels: Vec<Label>,
    /// `--description`.
    pub description: Option<String>,
    /// `--tag`.
    pub tags: BTreeMap<String, String>,
    /// Unix seconds.
    pub expires_at: Option<i64>,
    /// The OS user.
    pub author: String,
}

/// How the type of a new version relates to the latest version's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeRule {
    /// The latest version's type if it is secure ([`PutRequest::param_type`] for a new
    /// parameter): `put` without `--type`. Over a clear version this is refused
    /// ([`Error::ClearNotAsked`]): the store's type column alone never decides that a
    /// value goes unencrypted.
    Keep,
    /// [`PutRequest::param_type`], which must be the latest version's: `put --type T`.
    Same,
    /// [`PutRequest::param_type`], whatever the latest version's: `put --type T
    /// --change-type`.
    Change,
}

/// The parameter service (see [`crate::params`]): a store and the keys of its secure values.
///
/// ```no_run
/// # async fn run() -> Result<(), coffer::error::Error> {
/// use coffer::params::{ParamPath, Selector};
///
/// let secrets = coffer::client::Secrets::open("/etc/coffer")?;
/// let params = secrets.params();
/// let current = params.get(&Selector::parse("/app/db-password")?).await?;
/// let previous = params.get(&Selector::parse("/app/db-password:previous")?).await?;
/// assert_eq!(current.meta.name, previous.meta.name);
/// let all = params.get_by_path(&ParamPath::parse("/app")?, true).await?;
/// # let _ = all;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Params {
    pub(super) store: Arc<dyn ParamStore>,
    pub(super) keys: Arc<dyn ValueKeys>,
    max_value_bytes: usize,
}

impl Params {
    /// The parameters of `store`, with `keys` for secure values; values up to
    /// `max_value_bytes`.
    pub fn new(
        store: Arc<dyn ParamStore>,
        keys: Arc<dyn ValueKeys>,
        max_value_bytes: usize,
    ) -> Self {
        Self {
            store,
            keys,
            max_value_bytes,
        }
    }

    /// The store, its keys opened ([`ValueKeys::unlock`]): every row read is checked
    /// against its MAC ([`crate::store::param_seal`]), and every write appends to the keyed
    /// audit log.
    ///
    /// # Errors
    /// The keys cannot be opened (no root key, a store rolled back since this home saw it).
    pub async fn store(&self) -> ParamResult<&dyn ParamStore> {
        Ok(self.checked_store().await?.0)
    }

    /// The store as it is, its keys opened or not (tests that opened them).
    /// It is given the row keys of the policies as they are now, if its keys are open.
    #[cfg(test)]
    pub(crate) fn opened_store(&self) -> &dyn ParamStore {
        let _ = futures::executor::block_on(self.checked_policies());
        self.store.as_ref()
    }

    /// The store, for writes that need no value key: every write appends to the store's
    /// audit log, which is keyed, so this opens the store's keys first
    /// ([`ValueKeys::unlock`]). Its writes skip [`Params::check_root`]: use
    /// [`Params::label`], [`Params::delete`], [`Params::destroy`] and the rest for those.
    ///
    /// # Errors
    /// The keys cannot be opened (no root key, a store rolled back since this home saw it).
    pub async fn writable_store(&self) -> ParamResult<&dyn ParamStore> {
        Ok(self.checked_store().await?.0)
    }

    /// The store, its keys opened and given the row keys of the policies it holds now
    /// ([`super::RowKeys`]), and those policies (checked: [`Params::checked_policies`]).
    ///
    /// # Errors
    /// The keys cannot be opened; the policies fail a check.
    pub(crate) async fn checked_store(&self) -> ParamResult<(&dyn ParamStore, super::Policies)> {
        self.keys.unlock().await?;
        let policies = self.checked_policies().await?;
        Ok((self.store.as_ref(), policies))
    }

    /// The store, its keys opened, with the row keys it was last given: for a use right
    /// after [`Params::checked_store`] or [`Params::checked_policies`].
    ///
    /// # Errors
    /// The keys cannot be opened.
    pub(crate) async fn unlocked_store(&self) -> ParamResult<&dyn ParamStore> {
        self.keys.unlock().await?;
        Ok(self.store.as_ref())
    }

    /// Writes a new version; see [`Expect`]. Its type must be the latest version's
    /// ([`TypeRule::Same`]; see [`Params::put_with`]).
    ///
    /// # Errors
    /// As [`Params::put_with`].
    pub async fn put(&self, req: PutRequest) -> ParamResult<VersionMeta> {
        self.put_with(req, TypeRule::Same).await
    }

    /// Writes a new version; see [`Expect`]; `rule` says what its type may be. Secure values
    /// are encrypted for the version they become, again if another writer came first. The
    /// type is checked against the version just before the one written, so a write that
    /// succeeds follows a version of the type checked.
    ///
    /// # Errors
    /// As [`ParamStore::put`]; a value over the limit or holding a NUL byte; a change of
    /// type that `rule` refuses ([`Error::TypeChange`]); the key failed.
    pub async fn put_with(&self, req: PutRequest, rule: TypeRule) -> ParamResult<VersionMeta> {
        // The policies checked anew if another process changes them before the write's
        // transaction: they decide the key of the value and of its rows.
        super::row_keys::again_if_policies_moved(|| self.put_once(&req, rule)).await
    }

    /// One attempt of [`Params::put_with`].
    async fn put_once(&self, req: &PutRequest, rule: TypeRule) -> ParamResult<VersionMeta> {
        self.check_value(&req.value)?;
        self.keys.unlock().await?;
        // Read once: the policies decide both whether this home may write here and, for a
        // secure value, its key.
        let policies = self.checked_policies().await?;
        self.check_root_in(&policies, &req.name).await?;
        crate::store::test_pause::pause("put: checked");
        let mut version = self.first_version(req).await?;
        let mut keyring = None;
        for _ in 0..PUT_ATTEMPTS {
            let new = self
                .new_version(req, version, rule, &policies, &mut keyring)
                .await?;
            match self.store.put(new).await? {
                PutOutcome::Written(meta) => return Ok(meta),
                PutOutcome::Stale { latest } => {
                    tracing::debug!(name = %req.name, version, latest, "another writer came first");
                    version = next_version(&req.name, latest)?;
                }
            }
        }
        Err(Error::conflict(format!(
            "cannot write {}: other writers kept coming first",
            req.name
        ))
        .advice(Advice::TryAgain))
    }

    /// Refuses a value over the limit or holding a NUL byte.
    pub(super) fn check_value(&self, value: &SecretValue) -> ParamResult<()> {
        if value.len() > self.max_value_bytes {
            return Err(Error::TooLarge {
                len: super::ValueLen::Exact(value.len()),
                max: self.max_value_bytes,
            });
        }
        if let Some(at) = value.expose().find('\0') {
            return Err(Error::BadValue(format!(
                "the value holds a NUL byte (at byte {at}), which no environment variable can \
                 carry: store binary data as base64"
            )));
        }
        Ok(())
    }

    /// The version a write of `req` tries first.
    pub(super) async fn first_version(&self, req: &PutRequest) -> ParamResult<u32> {
        Ok(match req.expect {
            Expect::New => 1,
            Expect::Version(n) => n
                .checked_add(1)
                .ok_or_else(|| Error::invalid(format!("expected version {n} is too large")))?,
            Expect::Any => match self.store.state(&req.name).await? {
                Some(s) => next_version(&req.name, s.latest)?,
                None => 1,
            },
        })
    }

    /// Version `version` of `req` as the store receives it: its type under `rule`, its value
    /// encrypted for it if secure, under the key `policies` give its name (`keyring` keeps
    /// the key found for the attempts after the first).
    pub(super) async fn new_version(
        &self,
        req: &PutRequest,
        version: u32,
        rule: TypeRule,
        policies: &super::Policies,
        keyring: &mut Option<(Arc<dyn Keyring>, String)>,
    ) -> ParamResult<NewVersion> {
        let param_type = self.type_of_next(req, version, rule).await?;
        let (value, key_ref) = if param_type.is_secure() {
            let (ring, key_ref) = match keyring {
                Some(k) => &*k,
                None => &*keyring.insert(self.keyring_for_write(policies, &req.name).await?),
            };
            (
                StoredValue::Sealed(seal(ring, &req.name, version, &req.value).await?),
                Some(key_ref.clone()),
            )
        } else {
            (StoredValue::Clear(req.value.clone()), None)
        };
        Ok(NewVersion {
            name: req.name.clone(),
            version,
            expect: req.expect,
            param_type,
            value,
            description: req.description.clone(),
            tags: req.tags.clone(),
            labels: req.labels.clone(),
            created_at: crate::time::now_unix(),
            expires_at: req.expires_at,
            author: req.author.clone(),
            key_ref,
        })
    }

    /// The type of `version` of `req.name` under `rule`, from the type of the version before
    /// it (none for a first version, or when that version is not there: then the store's
    /// write refuses or goes first, and no type is changed).
    pub(super) async fn type_of_next(
        &self,
        req: &PutRequest,
        version: u32,
        rule: TypeRule,
    ) -> ParamResult<ParamType> {
        if rule == TypeRule::Change {
            return Ok(req.param_type);
        }
        let before = match version.checked_sub(1).filter(|v| *v > 0) {
            None => None,
            Some(v) => match self.store.get(&req.name, &Which::Version(v)).await {
                Ok(stored) => Some((v, stored.meta.param_type)),
                Err(Error::NotFound(_) | Error::NoVersion { .. }) => None,
                Err(e) => return Err(e),
            },
        };
        match (rule, before) {
            (TypeRule::Keep, Some((_, t))) if t.is_secure() => Ok(t),
            // The type column is the store's word, and the store is not trusted: a clear
            // version is written only when the user says so, never because a row says so.
            (TypeRule::Keep, Some((v, t))) => Err(Error::ClearNotAsked {
                name: req.name.clone(),
                version: v,
                latest_type: t,
            }),
            (TypeRule::Same, Some((v, t))) if t != req.param_type => Err(Error::TypeChange {
                name: req.name.clone(),
                version: v,
                latest_type: t,
                new_type: req.param_type,
            }),
            _ => Ok(req.param_type),
        }
    }

    /// The value of one version. Refuses deleted parameters, destroyed and expired values;
    /// a bare name reads the version labelled `current`, never another (a `pending` value
    /// is read only when asked for by its label or number). A secure value read is recorded
    /// in the audit log (`get-secure`) before it is returned.
    ///
    /// # Errors
    /// Not found, deleted, destroyed, expired, no `current` version; a secure value that does
    /// not decrypt or belongs to another row.
    pub async fn get(&self, sel: &Selector) -> ParamResult<Param> {
        // The policies first: they decide whether this home may read the name at all, and
        // the key its rows are checked with.
        let (store, policies) = self.checked_store().await?;
        let mut ring = Opener {
            policies: Some(policies),
            ..Opener::default()
        };
        self.root_gate(&mut ring, &sel.name).await?;
        let stored = store.get(&sel.name, &sel.which).await?;
        let current = match &sel.which {
            Which::Latest => true,
            Which::Label(l) => l.as_str() == super::CURRENT,
            Which::Version(_) => false,
        };
        if let Some(at) = stored.meta.expires_at {
            if at <= crate::time::now_unix() && stored.value != StoredValue::Destroyed {
                return Err(Error::Expired {
                    name: stored.meta.name,
                    version: stored.meta.version,
                    at,
                });
            }
        }
        let secure = stored.meta.param_type.is_secure();
        let param = self
            .open(stored, &mut ring)
            .await
            .map_err(|e| mark_current(e, current))?;
        if secure {
            let read = [(param.meta.name.clone(), param.meta.version)];
            self.unlocked_store()
                .await?
                .record_secure_reads(&read, "")
                .await?;
        }
        Ok(param)
    }

    /// The `current` value of every parameter under `path` (one query), decrypted; expired
    /// values are included (see [`VersionMeta::is_expired`]): the caller decides. A
    /// parameter whose current version was destroyed, or that has none, is in
    /// [`PathValues::unreadable`] with the reason. Each secure value read is recorded in
    /// the audit log (one `get-secure` entry per value, all in one transaction) before the
    /// values are returned.
    ///
    /// # Errors
    /// The store failed; a secure value does not decrypt.
    pub async fn read_path(&self, path: &ParamPath, recursive: bool) -> ParamResult<PathValues> {
        let (store, policies) = self.checked_store().await?;
        let rows = store.get_by_path(path, recursive).await?;
        let mut ring = Opener {
            policies: Some(policies),
            ..Opener::default()
        };
        let mut values = Vec::with_capacity(rows.len());
        let mut unreadable = Vec::new();
        for row in rows {
            match row {
                PathEntry::NoCurrent(name) => unreadable.push(Error::NoCurrent(name)),
                // Its rows cannot be checked here: the error that says which key and root.
                PathEntry::Unheld(name, key) => {
                    let set = ring.policies.take().unwrap_or_default();
                    let e = self.check_root_in(&set, &name).await;
                    ring.policies = Some(set);
                    unreadable.push(e.err().unwrap_or_else(|| {
                        super::row_keys::unheld(&store.location(), name.as_str(), &key)
                    }));
                }
                PathEntry::Current(stored) if stored.value == StoredValue::Destroyed => {
                    unreadable.push(Error::Destroyed {
                        at: stored.meta.destroyed_at.unwrap_or(0),
                        name: stored.meta.name,
                        version: stored.meta.version,
                        current: true,
                    });
                }
                PathEntry::Current(stored) => match self.open(stored, &mut ring).await {
                    Ok(p) => values.push(p),
                    // Under a key whose root this home does not hold: left out, said why.
                    Err(e) if crate::store::roots::is_missing_root(&e) => unreadable.push(e),
                    Err(e) => return Err(e),
                },
            }
        }
        let reads: Vec<(ParamName, u32)> = values
            .iter()
            .filter(|p| p.meta.param_type.is_secure())
            .map(|p| (p.meta.name.clone(), p.meta.version))
            .collect();
        let context = format!("by path {path}{}", if recursive { " -r" } else { "" });
        self.unlocked_store()
            .await?
            .record_secure_reads(&reads, &context)
            .await?;
        Ok(PathValues { values, unreadable })
    }

    /// The `current` value of every parameter under `path`, as [`Params::read_path`], but a
    /// parameter with no readable current version is an error rather than left out.
    ///
    /// # Errors
    /// As [`Params::read_path`]; the first unreadable parameter.
    pub async fn get_by_path(&self, path: &ParamPath, recursive: bool) -> ParamResult<Vec<Param>> {
        let read = self.read_path(path, recursive).await?;
        match read.unreadable.into_iter().next() {
            Some(e) => Err(e),
            None => Ok(read.values),
        }
    }

    /// Decrypts (and checks) a stored version; `ring` keeps the decryption keyring and the
    /// path policies for the next. A secure version below a path policy must be under the
    /// policy's key ([`super::policy`]).
    ///
    /// # Errors
    /// A destroyed value; a secure value under another key than its path policy's, that does
    /// not decrypt or that belongs to another row.
    async fn open(&self, stored: StoredVersion, ring: &mut Opener) -> ParamResult<Param> {
        let StoredVersion { meta, value } = stored;
        self.root_gate(ring, &meta.name).await?;
        let value = match value {
            StoredValue::Clear(v) => v,
            StoredValue::Destroyed => {
                return Err(Error::Destroyed {
                    at: meta.destroyed_at.unwrap_or(0),
                    name: meta.name,
                    version: meta.version,
                    current: false,
                });
            }
            StoredValue::Sealed(message) => {
                if let Some(policies) = &ring.policies {
                    super::policy::check_read(policies, &meta)?;
                }
                // Under a key whose root this home was found not to hold: that error again,
                // without trying.
                if let Some(key) = meta.key_ref.as_deref() {
                    if ring.missing.get(key) == Some(&true) {
                        if let Some(e) = self.keys.root_unusable(key).await? {
                            return Err(e);
                        }
                    }
                }
                let cmm = match &ring.cmm {
                    Some(c) => c.clone(),
                    None => {
                        let c: Arc<dyn MaterialsManager> =
                            Arc::new(DefaultCmm::new(self.keys.decrypt_keyring().await?));
                        ring.cmm = Some(c.clone());
                        c
                    }
                };
                match unseal(cmm.as_ref(), &meta, &message).await {
                    Ok(v) => v,
                    // A value that does not decrypt because this home cannot use its key's
                    // root: the error that says which key and root (which a read over a path
                    // leaves out), not the decryption's. Asked only then: a read that
                    // decrypts costs no look-up of the key.
                    Err(e) => {
                        if let Some(key) = meta.key_ref.as_deref() {
                            if self.lacks_root(ring, key).await? {
                                if let Some(better) = self.keys.root_unusable(key).await? {
                                    return Err(better);
                                }
                            }
                        }
                        return Err(e);
                    }
                }
            }
        };
        Ok(Param { meta, value })
    }
}

impl Params {
    /// Below a path whose key this home cannot use, no value of any type is read (nor said to
    /// be expired): that error ([`Params::check_root`]), the policies and the answer kept in
    /// `ring` for the next.
    async fn root_gate(&self, ring: &mut Opener, name: &ParamName) -> ParamResult<()> {
        if ring.policies.is_none() {
            ring.policies = Some(self.checked_policies().await?);
        }
        let policy = ring.policies.as_ref().and_then(|set| set.for_name(name));
        if let Some(key) = policy.map(|p| p.key.clone()) {
            if self.lacks_root(ring, &key).await? {
                let set = ring.policies.take().unwrap_or_default();
                let e = self.check_root_in(&set, name).await;
                ring.policies = Some(set);
                e?;
            }
        }
        Ok(())
    }

    /// Whether this home cannot use the root of `key` (as values record it), asked once per
    /// key per `ring`.
    async fn lacks_root(&self, ring: &mut Opener, key: &str) -> ParamResult<bool> {
        if let Some(&lacks) = ring.missing.get(key) {
            return Ok(lacks);
        }
        let lacks = self.keys.root_unusable(key).await?.is_some();
        ring.missing.insert(key.to_owned(), lacks);
        Ok(lacks)
    }
}

/// What reads keep from one to the next: the decryption keyring, the path policies, and
/// which keys' roots this home cannot use.
#[derive(Default)]
struct Opener {
    cmm: Option<Arc<dyn MaterialsManager>>,
    policies: Option<super::Policies>,
    /// By key reference: whether this home lacks the key's own root.
    missing: std::collections::HashMap<String, bool>,
}

/// Encryption context key of a sealed rotation plan: the parameter's name.
pub const CONTEXT_PLAN: &str = "coffer:rotation-plan";

/// What a rotation plan's seal covers: the name and every setting a run acts on.
/// A plan stored before coffer recorded the hooks' directory is sealed without it.
fn plan_bytes(plan: &RotationPlan) -> ParamResult<Vec<u8>> {
    let settings = (
        plan.name.as_str(),
        plan.every_secs,
        &plan.generate,
        &plan.set_hook,
        &plan.test_hook,
        plan.hook_timeout_secs,
    );
    match &plan.workdir {
        None => serde_json::to_vec(&settings),
        Some(dir) => serde_json::to_vec(&(settings, dir)),
    }
    .map_err(|e| Error::invalid(format!("cannot encode the rotation plan: {e}")))
}

/// Encryption context key of the sealed settings of a rotation run: the parameter's name
/// (with [`CONTEXT_VERSION`], the pending version it staged).
pub const CONTEXT_RUN: &str = "coffer:rotation-run";

impl Params {
    /// Seals `plan`'s settings (an ESDK message under the store's keys, the name in its
    /// encryption context), for [`RotationPlan::seal`].
    ///
    /// # Errors
    /// As [`Params::check_root`]; the key failed.
    pub async fn seal_plan(&self, plan: &RotationPlan) -> ParamResult<Vec<u8>> {
        // A schedule (its hooks run with the new secret) is set only where the parameter
        // may be changed.
        self.check_root(&plan.name).await?;
        let (ring, _) = self.keys.encrypt_keyring().await?;
        let cmm: Arc<dyn MaterialsManager> = Arc::new(DefaultCmm::new(ring));
        let cfg = EncryptConfig::default()
            .with_suite(Some(VALUE_SUITE))
            .with_threads(Threads::Fixed(std::num::NonZeroUsize::MIN));
        let mut ctx = EncryptionContext::new();
        ctx.insert(CONTEXT_PLAN, plan.name.as_str());
        coffer_core::encrypt(cmm, &cfg, &ctx, &plan_bytes(plan)?)
            .await
            .map_err(|e| Error::Encrypt {
                name: plan.name.clone(),
                source: e.into(),
            })
    }

    /// Checks that `plan` is as it was sealed: refused if the seal is missing, does not
    /// open, names another parameter, or covers other settings.
    ///
    /// # Errors
    /// [`Error::PlanTampered`].
    pub async fn check_plan(&self, plan: &RotationPlan) -> ParamResult<()> {
        let tampered = |why: &str| Error::PlanTampered {
            name: plan.name.clone(),
            why: why.to_owned(),
        };
        let Some(seal) = &plan.seal else {
            return Err(tampered("it has no seal"));
        };
        let cmm = DefaultCmm::new(self.keys.decrypt_keyring().await?);
        let cfg = DecryptConfig::default()
            .with_max_encrypted_data_keys(Some(16))
            .with_threads(Threads::Fixed(std::num::NonZeroUsize::MIN));
        let opened = coffer_core::decrypt(&cmm, &cfg, None, seal)
            .await
            .map_err(|_| tampered("its seal does not open under the store's keys"))?;
        if opened.context.get(CONTEXT_PLAN) != Some(plan.name.as_str()) {
            return Err(tampered("its seal belongs to another parameter"));
        }
        if opened.plaintext != plan_bytes(plan)? {
            return Err(tampered("its settings differ from the sealed ones"));
        }
        Ok(())
    }
}

impl Params {
    /// Seals `settings` (the hooks and generator of the run that stages version `version` of
    /// `name`) under the store's keys, the name and version in the encryption context.
    ///
    /// # Errors
    /// The key failed.
    pub async fn seal_run(
        &self,
        name: &ParamName,
        version: u32,
        settings: &[u8],
    ) -> ParamResult<Vec<u8>> {
        let (ring, _) = self.keys.encrypt_keyring().await?;
        let cmm: Arc<dyn MaterialsManager> = Arc::new(DefaultCmm::new(ring));
        let cfg = EncryptConfig::default()
            .with_suite(Some(VALUE_SUITE))
            .with_threads(Threads::Fixed(std::num::NonZeroUsize::MIN));
        let mut ctx = EncryptionContext::new();
        ctx.insert(CONTEXT_RUN, name.as_str());
        ctx.insert(CONTEXT_VERSION, version.to_string());
        coffer_core::encrypt(cmm, &cfg, &ctx, settings)
            .await
            .map_err(|e| Error::Encrypt {
                name: name.clone(),
                source: e.into(),
            })
    }

    /// The settings [`Params::seal_run`] sealed for version `version` of `name`.
    ///
    /// # Errors
    /// [`Error::Resume`]: the seal does not open under the store's keys, or names
    /// another parameter or version.
    pub async fn open_run(
        &self,
        name: &ParamName,
        version: u32,
        sealed: &[u8],
    ) -> ParamResult<Vec<u8>> {
        let refused = |why: &str| Error::Resume {
            name: name.clone(),
            version,
            why: format!("the recorded settings of the run that staged it {why}: refused"),
            new_value: false,
        };
        let cmm = DefaultCmm::new(self.keys.decrypt_keyring().await?);
        let cfg = DecryptConfig::default()
            .with_max_encrypted_data_keys(Some(16))
            .with_threads(Threads::Fixed(std::num::NonZeroUsize::MIN));
        let opened = coffer_core::decrypt(&cmm, &cfg, None, sealed)
            .await
            .map_err(|_| refused("do not open under the store's keys (changed outside coffer?)"))?;
        let v = version.to_string();
        if opened.context.get(CONTEXT_RUN) != Some(name.as_str())
            || opened.context.get(CONTEXT_VERSION) != Some(v.as_str())
        {
            return Err(refused("belong to another parameter or version"));
        }
        Ok(opened.plaintext)
    }
}

/// The encryption context of version `version` of `name`.
pub fn value_context(name: &ParamName, version: u32) -> EncryptionContext {
    let mut ctx = EncryptionContext::new();
    ctx.insert(CONTEXT_NAME, name.as_str());
    ctx.insert(CONTEXT_VERSION, version.to_string());
    ctx
}

async fn seal(
    ring: &Arc<dyn Keyring>,
    name: &ParamName,
    version: u32,
    value: &SecretValue,
) -> ParamResult<Vec<u8>> {
    let cmm: Arc<dyn MaterialsManager> = Arc::new(DefaultCmm::new(ring.clone()));
    let cfg = EncryptConfig::default()
        .with_suite(Some(VALUE_SUITE))
        .with_threads(Threads::Fixed(std::num::NonZeroUsize::MIN));
    coffer_core::encrypt(
        cmm,
        &cfg,
        &value_context(name, version),
        value.expose().as_bytes(),
    )
    .await
    .map_err(|e| Error::Encrypt {
        name: name.clone(),
        source: e.into(),
    })
}

async fn unseal(
    cmm: &dyn MaterialsManager,
    meta: &VersionMeta,
    message: &[u8],
) -> ParamResult<SecretValue> {
    let cfg = DecryptConfig::default()
        .with_max_encrypted_data_keys(Some(16))
        .with_threads(Threads::Fixed(std::num::NonZeroUsize::MIN));
    let decrypted = coffer_core::decrypt(cmm, &cfg, None, message)
        .await
        .map_err(|e| Error::Decrypt {
            name: meta.name.clone(),
            version: meta.version,
            key_ref: meta.key_ref.clone(),
            source: e.into(),
        })?;
    let plaintext = Zeroizing::new(decrypted.plaintext);
    let ctx = &decrypted.context;
    let (n, v) = (ctx.get(CONTEXT_NAME), ctx.get(CONTEXT_VERSION));
    let version = meta.version.to_string();
    if n != Some(meta.name.as_str()) || v != Some(version.as_str()) {
        return Err(Error::WrongRow {
            name: meta.name.clone(),
            version: meta.version,
            found: format!(
                "{}:{}",
                n.unwrap_or("(no name)").escape_debug(),
                v.unwrap_or("(no version)").escape_debug()
            ),
        });
    }
    SecretValue::from_bytes(plaintext)
}
