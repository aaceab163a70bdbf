//! [`CachingClient`]: values read through [`Secrets`], kept for a time to live.

use std::fmt;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use coffer_cache::TtlCache;
pub use coffer_cache::{Clock, ManualClock, SystemClock};

use super::Secrets;
use crate::params::{Param, ParamPath, ParamResult, Selector};

/// How many entries a [`CachingClient`] keeps unless told otherwise.
pub const DEFAULT_MAX_ENTRIES: usize = 1024;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    /// A selector, as [`Selector`]'s `Display` spells it.
    One(String),
    /// A path and whether the read was recursive.
    Path(String, bool),
}

#[derive(Clone)]
enum Cached {
    One(Arc<Param>),
    Path(Arc<[Param]>),
}

/// A cache in front of [`Secrets`]: a value younger than the time to live is answered from
/// memory; an older one is fetched again. [`CachingClient::refresh`] fetches at once (after a
/// rotation); [`CachingClient::refresh_all`] drops everything.
///
/// - Values are [`Param`]s behind an [`Arc`]: cheap to clone, their [`SecretValue`]s wiped
///   when the last clone is dropped.
/// - At most [`CachingClient::max_entries`] entries (a name or a path read is one entry);
///   the least recently used goes first.
/// - Errors are never cached: a failed fetch drops the entry, and the next call asks the
///   store again.
/// - A cached value whose own expiry (`put --expires`) has passed is fetched again (and
///   refused by the store) even within the time to live.
/// - Thread-safe (`&self` methods; the lock is never held across an `await`) and runtime
///   agnostic: the methods are `async fn`s for the caller's executor. Two tasks that miss the
///   same name at once may both fetch it; the later answer stays.
///
/// [`SecretValue`]: crate::params::SecretValue
///
/// ```no_run
/// # async fn run() -> Result<(), coffer::error::Error> {
/// use std::time::Duration;
/// use coffer::client::{CachingClient, Secrets};
///
/// let cache = CachingClient::new(Secrets::open("/var/lib/coffer")?, Duration::from_secs(300));
/// let token = cache.get("/app/api-token").await?;
/// assert!(!token.value.is_empty());
/// # Ok(()) }
/// ```
pub struct CachingClient {
    secrets: Secrets,
    ttl: Duration,
    entries: TtlCache<Key, Cached>,
}

impl fmt::Debug for CachingClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachingClient")
            .field("secrets", &self.secrets)
            .field("ttl", &self.ttl)
            .field("max_entries", &self.entries.capacity())
            .field("entries", &self.len())
            .finish_non_exhaustive()
    }
}

impl CachingClient {
    /// Caches what `secrets` answers for `ttl`, at most [`DEFAULT_MAX_ENTRIES`] entries.
    pub fn new(secrets: impl Into<Secrets>, ttl: Duration) -> Self {
        Self {
            secrets: secrets.into(),
            ttl,
            entries: TtlCache::new(capacity(DEFAULT_MAX_ENTRIES)),
        }
    }

    /// Keeps at most `max` entries (at least 1); what was cached is dropped.
    #[must_use]
    pub fn max_entries(mut self, max: usize) -> Self {
        self.entries = TtlCache::with_clock(capacity(max), self.entries.clock().clone());
        self
    }

    /// Uses `clock` as the time source ([`ManualClock`] in tests); what was cached is dropped.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.entries = TtlCache::with_clock(self.entries.capacity(), clock);
        self
    }

    /// The service underneath (uncached reads, writes).
    pub fn secrets(&self) -> &Secrets {
        &self.secrets
    }

    /// The time to live.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// How many entries are cached (fresh or not).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value of `name` (`NAME`, `NAME:VERSION`, `NAME:LABEL`): from the cache if it was
    /// fetched less than the time to live ago, else from the store.
    ///
    /// # Errors
    /// As [`Secrets::get`].
    pub async fn get(&self, name: &str) -> ParamResult<Arc<Param>> {
        let sel = Selector::parse(name)?;
        let key = Key::One(sel.to_string());
        if let Some(Cached::One(p)) = self.fresh(&key) {
            if !p.meta.is_expired(crate::time::now_unix()) {
                return Ok(p);
            }
        }
        self.fetch_one(&sel, key).await
    }

    /// The latest values under `path` (see [`Secrets::get_by_path`]), cached by `path` and
    /// `recursive`.
    ///
    /// # Errors
    /// As [`Secrets::get_by_path`].
    pub async fn get_by_path(&self, path: &str, recursive: bool) -> ParamResult<Arc<[Param]>> {
        let path = ParamPath::parse(path)?;
        let key = Key::Path(path.as_str().to_owned(), recursive);
        if let Some(Cached::Path(v)) = self.fresh(&key) {
            return Ok(v);
        }
        self.fetch_path(&path, recursive, key).await
    }

    /// Fetches `name` now, whatever the cache holds, and caches the answer.
    ///
    /// # Errors
    /// As [`Secrets::get`] (the entry is dropped).
    pub async fn refresh(&self, name: &str) -> ParamResult<Arc<Param>> {
        let sel = Selector::parse(name)?;
        let key = Key::One(sel.to_string());
        self.fetch_one(&sel, key).await
    }

    /// Fetches the values under `path` now and caches the answer.
    ///
    /// # Errors
    /// As [`Secrets::get_by_path`] (the entry is dropped).
    pub async fn refresh_path(&self, path: &str, recursive: bool) -> ParamResult<Arc<[Param]>> {
        let path = ParamPath::parse(path)?;
        let key = Key::Path(path.as_str().to_owned(), recursive);
        self.fetch_path(&path, recursive, key).await
    }

    /// Drops every entry: the next read of each name or path fetches it.
    pub fn refresh_all(&self) {
        self.entries.clear();
    }

    /// Drops the entry of `name`, if any (a bad name is no entry).
    pub fn invalidate(&self, name: &str) {
        if let Ok(sel) = Selector::parse(name) {
            self.entries.remove(&Key::One(sel.to_string()));
        }
    }

    /// The entry for `key` if it is younger than the time to live (marked used).
    fn fresh(&self, key: &Key) -> Option<Cached> {
        self.entries.get(key)
    }

    async fn fetch_one(&self, sel: &Selector, key: Key) -> ParamResult<Arc<Param>> {
        match self.secrets.params().get(sel).await {
            Ok(p) => {
                let p = Arc::new(p);
                self.store(key, Cached::One(p.clone()));
                Ok(p)
            }
            Err(e) => {
                self.entries.remove(&key);
                Err(e)
            }
        }
    }

    async fn fetch_path(
        &self,
        path: &ParamPath,
        recursive: bool,
        key: Key,
    ) -> ParamResult<Arc<[Param]>> {
        match self.secrets.params().get_by_path(path, recursive).await {
            Ok(v) => {
                let v: Arc<[Param]> = v.into();
                self.store(key, Cached::Path(v.clone()));
                Ok(v)
            }
            Err(e) => {
                self.entries.remove(&key);
                Err(e)
            }
        }
    }

    fn store(&self, key: Key, value: Cached) {
        self.entries.insert(key, value, self.ttl);
    }
}

/// `max` entries, at least 1.
fn capacity(max: usize) -> NonZeroUsize {
    NonZeroUsize::new(max).unwrap_or(NonZeroUsize::MIN)
}

#[cfg(all(test, feature = "sqlite"))]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic, reason = "tests")]

    use std::collections::BTreeMap;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use coffer_core::keyring::{BoxFuture, Keyring, RawAesKeyring};
    use futures::executor::block_on;
    use zeroize::Zeroizing;

    use super::*;
    use crate::home::Home;
    use crate::params::{
        DEFAULT_MAX_VALUE_BYTES, Destroyed, Expect, FixedKeys, Label, LabelMove, Listing,
        NewVersion, ParamName, ParamState, ParamStore, ParamType, Params, PutOutcome, PutRequest,
        SecretValue, StoredVersion, TypeRule, VersionMeta, Which,
    };
    use crate::store::{SqliteParamStore, Store};

    /// Counts the reads that reach the store.
    #[derive(Debug)]
    struct Counting {
        inner: SqliteParamStore,
        gets: AtomicUsize,
        paths: AtomicUsize,
    }

    impl ParamStore for Counting {
        fn location(&self) -> String {
            self.inner.location()
        }
        fn state<'a>(
            &'a self,
            name: &'a ParamName,
        ) -> BoxFuture<'a, ParamResult<Option<ParamState>>> {
            self.inner.state(name)
        }
        fn put(&self, new: NewVersion) -> BoxFuture<'_, ParamResult<PutOutcome>> {
            self.inner.put(new)
        }
        fn get<'a>(
            &'a self,
            name: &'a ParamName,
            which: &'a Which,
        ) -> BoxFuture<'a, ParamResult<StoredVersion>> {
            self.gets.fetch_add(1, Ordering::SeqCst);
            self.inner.get(name, which)
        }
        fn get_by_path<'a>(
            &'a self,
            path: &'a ParamPath,
            recursive: bool,
        ) -> BoxFuture<'a, ParamResult<Vec<crate::params::PathEntry>>> {
            self.paths.fetch_add(1, Ordering::SeqCst);
            self.inner.get_by_path(path, recursive)
        }
        fn list<'a>(
            &'a self,
            path: &'a ParamPath,
            recursive: bool,
        ) -> BoxFuture<'a, ParamResult<Listing>> {
            self.inner.list(path, recursive)
        }
        fn history<'a>(
            &'a self,
            name: &'a ParamName,
        ) -> BoxFuture<'a, ParamResult<(ParamState, Vec<VersionMeta>)>> {
            self.inner.history(name)
        }
        fn policies(&self) -> BoxFuture<'_, ParamResult<crate::params::Policies>> {
            self.inner.policies()
        }
        fn set_policy<'a>(
            &'a self,
            policy: &'a crate::params::Policy,
            keys: &'a [Arc<crate::store::key_paths::PathsKey>],
        ) -> BoxFuture<'a, ParamResult<Option<crate::params::Policy>>> {
            self.inner.set_policy(policy, keys)
        }
        fn remove_policy<'a>(
            &'a self,
            path: &'a ParamPath,
            keys: &'a [Arc<crate::store::key_paths::PathsKey>],
        ) -> BoxFuture<'a, ParamResult<crate::params::Policy>> {
            self.inner.remove_policy(path, keys)
        }
        fn label<'a>(
            &'a self,
            name: &'a ParamName,
            version: u32,
            labels: &'a [Label],
        ) -> BoxFuture<'a, ParamResult<Vec<LabelMove>>> {
            self.inner.label(name, version, labels)
        }
        fn unlabel<'a>(
            &'a self,
            name: &'a ParamName,
            labels: &'a [Label],
        ) -> BoxFuture<'a, ParamResult<Vec<(Label, u32)>>> {
            self.inner.unlabel(name, labels)
        }
        fn promote<'a>(
            &'a self,
            name: &'a ParamName,
            new: u32,
            old: Option<u32>,
        ) -> BoxFuture<'a, ParamResult<()>> {
            self.inner.promote(name, new, old)
        }
        fn rotation_plans(&self) -> BoxFuture<'_, ParamResult<Vec<crate::params::RotationPlan>>> {
            self.inner.rotation_plans()
        }
        fn set_rotation_plan<'a>(
            &'a self,
            plan: &'a crate::params::RotationPlan,
        ) -> BoxFuture<'a, ParamResult<()>> {
            self.inner.set_rotation_plan(plan)
        }
        fn claim_rotation<'a>(
            &'a self,
            req: crate::params::LeaseRequest<'a>,
        ) -> BoxFuture<'a, ParamResult<crate::params::Claim>> {
            self.inner.claim_rotation(req)
        }
        fn release_rotation<'a>(
            &'a self,
            name: &'a ParamName,
            holder: &'a str,
            now: i64,
            error: Option<&'a str>,
        ) -> BoxFuture<'a, ParamResult<()>> {
            self.inner.release_rotation(name, holder, now, error)
        }
        fn set_pending_run<'a>(
            &'a self,
            name: &'a ParamName,
            holder: &'a str,
            run: Option<&'a [u8]>,
        ) -> BoxFuture<'a, ParamResult<()>> {
            self.inner.set_pending_run(name, holder, run)
        }
        fn set_rotation_hook<'a>(
            &'a self,
            name: &'a ParamName,
            holder: &'a str,
            hook: Option<u32>,
        ) -> BoxFuture<'a, ParamResult<()>> {
            self.inner.set_rotation_hook(name, holder, hook)
        }
        fn delete<'a>(&'a self, name: &'a ParamName, now: i64) -> BoxFuture<'a, ParamResult<()>> {
            self.inner.delete(name, now)
        }
        fn restore<'a>(&'a self, name: &'a ParamName) -> BoxFuture<'a, ParamResult<()>> {
            self.inner.restore(name)
        }
        fn destroy<'a>(
            &'a self,
            name: &'a ParamName,
            version: Option<u32>,
            now: i64,
        ) -> BoxFuture<'a, ParamResult<Destroyed>> {
            self.inner.destroy(name, version, now)
        }
        fn use_row_keys(&self, keys: Arc<crate::params::RowKeys>) {
            self.inner.use_row_keys(keys);
        }
    }

    struct Fixture {
        _dir: tempfile::TempDir,
        store: Arc<Counting>,
        params: Params,
        clock: Arc<ManualClock>,
        cache: CachingClient,
    }

    const TTL: Duration = Duration::from_secs(300);

    fn fixture(max: usize) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path().join("home"));
        home.create_dir().unwrap();
        let st = Arc::new(Store::create(&home).unwrap());
        block_on(crate::store::audit_key::attach_for_tests(st.as_ref()));
        let store = Arc::new(Counting {
            inner: SqliteParamStore::new(st),
            gets: AtomicUsize::new(0),
            paths: AtomicUsize::new(0),
        });
        let ring: Arc<dyn Keyring> =
            Arc::new(RawAesKeyring::new("coffer-test", "k", &[9; 32]).unwrap());
        let params = Params::new(
            store.clone(),
            Arc::new(FixedKeys::new(ring, "aes:test")),
            DEFAULT_MAX_VALUE_BYTES,
        );
        let clock = Arc::new(ManualClock::new());
        let cache = CachingClient::new(params.clone(), TTL)
            .max_entries(max)
            .with_clock(clock.clone());
        Fixture {
            _dir: dir,
            store,
            params,
            clock,
            cache,
        }
    }

    impl Fixture {
        fn put(&self, name: &str, value: &str) {
            // TypeRule::Change: no read of the version before, so that `gets` counts only
            // the cache's reads.
            block_on(self.params.put_with(
                PutRequest {
                    name: ParamName::parse(name).unwrap(),
                    param_type: ParamType::SecureString,
                    value: SecretValue::new(Zeroizing::new(value.to_owned())),
                    expect: Expect::Any,
                    labels: Vec::new(),
                    description: None,
                    tags: BTreeMap::new(),
                    expires_at: None,
                    author: "tester".into(),
                },
                TypeRule::Change,
            ))
            .unwrap();
        }
        fn get(&self, name: &str) -> String {
            block_on(self.cache.get(name))
                .unwrap()
                .value
                .expose()
                .to_owned()
        }
        fn gets(&self) -> usize {
            self.store.gets.load(Ordering::SeqCst)
        }
        fn paths(&self) -> usize {
            self.store.paths.load(Ordering::SeqCst)
        }
    }

    #[test]
    fn a_hit_within_the_ttl_does_not_query_the_store() {
        let f = fixture(16);
        f.put("/app/db", "one");
        assert_eq!(f.get("/app/db"), "one");
        assert_eq!(f.gets(), 1);
        f.clock.advance(TTL - Duration::from_secs(1));
        assert_eq!(f.get("/app/db"), "one");
        assert_eq!(f.get("/app/db"), "one");
        assert_eq!(f.gets(), 1);
        // The same Arc: no copy of the secret.
        let a = block_on(f.cache.get("/app/db")).unwrap();
        let b = block_on(f.cache.get("/app/db")).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
    }

    #[test]
    fn after_the_ttl_a_new_version_is_fetched() {
        let f = fixture(16);
        f.put("/app/db", "one");
        assert_eq!(f.get("/app/db"), "one");
        f.put("/app/db", "two");
        assert_eq!(f.get("/app/db"), "one"); // still cached
        f.clock.advance(TTL);
        assert_eq!(f.get("/app/db"), "two");
        assert_eq!(f.gets(), 2);
        assert_eq!(f.get("/app/db"), "two");
        assert_eq!(f.gets(), 2);
    }

    #[test]
    fn refresh_fetches_at_once() {
        let f = fixture(16);
        f.put("/app/db", "one");
        assert_eq!(f.get("/app/db"), "one");
        f.put("/app/db", "two");
        let p = block_on(f.cache.refresh("/app/db")).unwrap();
        assert_eq!(p.value.expose(), "two");
        assert_eq!(p.meta.version, 2);
        assert_eq!(f.gets(), 2);
        assert_eq!(f.get("/app/db"), "two");
        assert_eq!(f.gets(), 2);
        f.put("/app/db", "three");
        f.cache.refresh_all();
        assert!(f.cache.is_empty());
        assert_eq!(f.get("/app/db"), "three");
        assert_eq!(f.gets(), 3);
        f.cache.invalidate("/app/db");
        assert_eq!(f.get("/app/db"), "three");
        assert_eq!(f.gets(), 4);
    }

    #[test]
    fn selectors_are_cached_apart() {
        let f = fixture(16);
        f.put("/app/db", "one");
        f.put("/app/db", "two");
        assert_eq!(f.get("/app/db:1"), "one");
        assert_eq!(f.get("/app/db"), "two");
        assert_eq!(f.get("/app/db:1"), "one");
        assert_eq!(f.gets(), 2);
    }

    #[test]
    fn get_by_path_is_cached_by_path_and_depth() {
        let f = fixture(16);
        f.put("/app/a", "1");
        f.put("/app/sub/b", "2");
        let flat = block_on(f.cache.get_by_path("/app", false)).unwrap();
        assert_eq!(flat.len(), 1);
        let deep = block_on(f.cache.get_by_path("/app", true)).unwrap();
        assert_eq!(deep.len(), 2);
        assert_eq!(f.paths(), 2);
        f.put("/app/c", "3");
        assert_eq!(
            block_on(f.cache.get_by_path("/app", true)).unwrap().len(),
            2
        );
        assert_eq!(f.paths(), 2);
        f.clock.advance(TTL);
        assert_eq!(
            block_on(f.cache.get_by_path("/app", true)).unwrap().len(),
            3
        );
        assert_eq!(f.paths(), 3);
        let again = block_on(f.cache.refresh_path("/app", false)).unwrap();
        assert_eq!(again.len(), 2);
        assert_eq!(f.paths(), 4);
    }

    #[test]
    fn the_least_recently_used_entry_is_evicted() {
        let f = fixture(2);
        for n in ["/a", "/b", "/c"] {
            f.put(n, n);
        }
        f.get("/a");
        f.get("/b");
        f.get("/a"); // /b is now the least recently used
        assert_eq!(f.gets(), 2);
        f.get("/c");
        assert_eq!(f.cache.len(), 2);
        assert_eq!(f.gets(), 3);
        f.get("/a");
        f.get("/c");
        assert_eq!(f.gets(), 3);
        f.get("/b"); // evicted: fetched again
        assert_eq!(f.gets(), 4);
        assert_eq!(f.cache.len(), 2);
    }

    #[test]
    fn errors_are_not_cached() {
        let f = fixture(16);
        assert!(block_on(f.cache.get("/missing")).is_err());
        assert!(block_on(f.cache.get("/missing")).is_err());
        assert_eq!(f.gets(), 2);
        assert!(f.cache.is_empty());
        f.put("/missing", "here");
        assert_eq!(f.get("/missing"), "here");
        assert_eq!(f.gets(), 3);
        // A failed refresh drops the entry.
        block_on(
            f.params
                .opened_store()
                .destroy(&ParamName::parse("/missing").unwrap(), None, 1),
        )
        .unwrap();
        assert!(block_on(f.cache.refresh("/missing")).is_err());
        assert!(f.cache.is_empty());
        assert!(block_on(f.cache.get("/missing")).is_err());
        assert_eq!(f.gets(), 5);
        // A bad name never reaches the store.
        assert!(block_on(f.cache.get("/bad name!")).is_err());
        assert_eq!(f.gets(), 5);
    }

    #[test]
    fn threads_share_one_cache() {
        let f = fixture(16);
        f.put("/app/db", "one");
        f.get("/app/db");
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..50 {
                        assert_eq!(f.get("/app/db"), "one");
                    }
                });
            }
        });
        assert_eq!(f.gets(), 1);
    }
}
