//! The caching materials manager and the branch key cache, against a real keyring: limits,
//! expiry (on a manual clock), partitions, suites never cached, LRU bounds, and usage
//! charged once under concurrency.

#![allow(clippy::unwrap_used, reason = "tests")]

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use coffer_cache::{CachingBranchKeyStore, CachingCmm, Limits, LocalCache, ManualClock};
use coffer_core::cmm::{
    BoxFuture, DecryptionRequest, DefaultCmm, EncryptionRequest, MaterialsManager,
};
use coffer_core::keyring::{BranchKey, BranchKeyStore, RawAesKeyring};
use coffer_core::materials::{DecryptionMaterials, EncryptionMaterials};
use coffer_core::{AlgorithmSuite, CommitmentPolicy, EncryptionContext, Result};
use futures::executor::block_on;

/// A materials manager that counts the calls reaching it.
#[derive(Debug)]
struct Counting {
    inner: DefaultCmm,
    encrypts: AtomicUsize,
    decrypts: AtomicUsize,
}

impl Counting {
    fn new() -> Arc<Self> {
        let ring = RawAesKeyring::new("test", "k", &[7; 32]).unwrap();
        Arc::new(Self {
            inner: DefaultCmm::new(Arc::new(ring)),
            encrypts: AtomicUsize::new(0),
            decrypts: AtomicUsize::new(0),
        })
    }
}

impl MaterialsManager for Counting {
    fn get_encryption_materials(
        &self,
        request: EncryptionRequest,
    ) -> BoxFuture<'_, Result<EncryptionMaterials>> {
        self.encrypts.fetch_add(1, Ordering::SeqCst);
        self.inner.get_encryption_materials(request)
    }

    fn decrypt_materials(
        &self,
        request: DecryptionRequest,
    ) -> BoxFuture<'_, Result<DecryptionMaterials>> {
        self.decrypts.fetch_add(1, Ordering::SeqCst);
        self.inner.decrypt_materials(request)
    }
}

const SUITE: AlgorithmSuite = AlgorithmSuite::Aes256GcmHkdfSha512CommitKey;

fn ctx(v: &str) -> EncryptionContext {
    let mut c = EncryptionContext::new();
    c.insert("purpose", v);
    c
}

fn req(c: &EncryptionContext, len: Option<u64>) -> EncryptionRequest {
    EncryptionRequest::new(
        c.clone(),
        Some(SUITE),
        CommitmentPolicy::RequireEncryptRequireDecrypt,
        len,
    )
}

struct Fixture {
    counting: Arc<Counting>,
    clock: Arc<ManualClock>,
    cmm: CachingCmm,
}

fn fixture(limits: Limits) -> Fixture {
    let counting = Counting::new();
    let clock = Arc::new(ManualClock::new());
    let cache = Arc::new(LocalCache::with_clock(
        NonZeroUsize::new(100).unwrap(),
        clock.clone(),
    ));
    let cmm = CachingCmm::new(counting.clone(), cache, limits).unwrap();
    Fixture {
        counting,
        clock,
        cmm,
    }
}

fn encrypt(f: &Fixture, c: &EncryptionContext, len: u64) -> EncryptionMaterials {
    block_on(f.cmm.get_encryption_materials(req(c, Some(len)))).unwrap()
}

fn calls(f: &Fixture) -> usize {
    f.counting.encrypts.load(Ordering::SeqCst)
}

#[test]
fn a_data_key_is_reused_up_to_max_messages() {
    let mut limits = Limits::new(Duration::from_secs(60));
    limits.max_messages = 3;
    let f = fixture(limits);
    let c = ctx("a");
    let first = encrypt(&f, &c, 10);
    for _ in 0..2 {
        let again = encrypt(&f, &c, 10);
        assert_eq!(again.data_key(), first.data_key());
        assert_eq!(again.edks(), first.edks());
    }
    assert_eq!(calls(&f), 1);
    let fourth = encrypt(&f, &c, 10);
    assert_eq!(calls(&f), 2);
    assert_ne!(fourth.data_key(), first.data_key());
}

#[test]
fn a_data_key_is_reused_up_to_max_bytes() {
    let mut limits = Limits::new(Duration::from_secs(60));
    limits.max_bytes = 100;
    let f = fixture(limits);
    let c = ctx("a");
    let _ = encrypt(&f, &c, 60);
    let _ = encrypt(&f, &c, 40); // exactly 100: still the first key
    assert_eq!(calls(&f), 1);
    let _ = encrypt(&f, &c, 1); // 101: a new key
    assert_eq!(calls(&f), 2);
    // A message larger than the limit is never cached.
    let _ = encrypt(&f, &c, 101);
    let _ = encrypt(&f, &c, 101);
    assert_eq!(calls(&f), 4);
}

#[test]
fn entries_expire_after_max_age() {
    let f = fixture(Limits::new(Duration::from_secs(30)));
    let c = ctx("a");
    let _ = encrypt(&f, &c, 1);
    f.clock.advance(Duration::from_secs(29));
    let _ = encrypt(&f, &c, 1);
    assert_eq!(calls(&f), 1);
    f.clock.advance(Duration::from_secs(1));
    let _ = encrypt(&f, &c, 1);
    assert_eq!(calls(&f), 2);
}

#[test]
fn contexts_suites_and_partitions_do_not_share_keys() {
    let counting = Counting::new();
    let cache = Arc::new(LocalCache::default());
    let limits = Limits::new(Duration::from_secs(60));
    let a = CachingCmm::new(counting.clone(), cache.clone(), limits).unwrap();
    let b = CachingCmm::new(counting.clone(), cache.clone(), limits).unwrap();
    let run = |m: &CachingCmm, c: &EncryptionContext| {
        block_on(m.get_encryption_materials(req(c, Some(1)))).unwrap()
    };
    let ka = run(&a, &ctx("x"));
    let kb = run(&b, &ctx("x"));
    assert_ne!(ka.data_key(), kb.data_key(), "partitions are separate");
    let ky = run(&a, &ctx("y"));
    assert_ne!(ka.data_key(), ky.data_key(), "contexts are separate");
    let shared1 = CachingCmm::new(counting.clone(), cache.clone(), limits)
        .unwrap()
        .with_partition("team");
    let shared2 = CachingCmm::new(counting.clone(), cache, limits)
        .unwrap()
        .with_partition("team");
    assert_eq!(
        run(&shared1, &ctx("x")).data_key(),
        run(&shared2, &ctx("x")).data_key()
    );
}

#[test]
fn what_must_not_be_cached_is_not() {
    let f = fixture(Limits::new(Duration::from_secs(60)));
    let c = ctx("a");
    // No plaintext length.
    for _ in 0..2 {
        let _ = block_on(f.cmm.get_encryption_materials(req(&c, None))).unwrap();
    }
    assert_eq!(calls(&f), 2);
    // Identity-KDF suites (the data key is the message key).
    let mut r = req(&c, Some(1));
    r.suite = Some(AlgorithmSuite::Aes256GcmNoKdf);
    r.commitment_policy = CommitmentPolicy::ForbidEncryptAllowDecrypt;
    for _ in 0..2 {
        let _ = block_on(f.cmm.get_encryption_materials(r.clone())).unwrap();
    }
    assert_eq!(calls(&f), 4);
    // Required context keys.
    let mut r = req(&c, Some(1));
    r.required_keys = vec!["purpose".into()];
    for _ in 0..2 {
        let _ = block_on(f.cmm.get_encryption_materials(r.clone())).unwrap();
    }
    assert_eq!(calls(&f), 6);
    assert!(f.cmm.cache().is_empty());
}

#[test]
fn decryption_materials_are_cached_for_max_age() {
    let f = fixture(Limits::new(Duration::from_secs(10)));
    let c = ctx("a");
    let m = encrypt(&f, &c, 1);
    let dreq = || {
        DecryptionRequest::new(
            SUITE,
            CommitmentPolicy::RequireEncryptRequireDecrypt,
            m.edks().to_vec(),
            m.context().clone(),
            None,
        )
    };
    let d1 = block_on(f.cmm.decrypt_materials(dreq())).unwrap();
    let d2 = block_on(f.cmm.decrypt_materials(dreq())).unwrap();
    assert_eq!(d1.data_key(), d2.data_key());
    assert_eq!(d1.data_key(), m.data_key());
    assert_eq!(f.counting.decrypts.load(Ordering::SeqCst), 1);
    f.clock.advance(Duration::from_secs(10));
    let _ = block_on(f.cmm.decrypt_materials(dreq())).unwrap();
    assert_eq!(f.counting.decrypts.load(Ordering::SeqCst), 2);
    // A reproduced context is never answered from the cache.
    let mut r = dreq();
    r.reproduced_context = Some(c.clone());
    let _ = block_on(f.cmm.decrypt_materials(r)).unwrap();
    assert_eq!(f.counting.decrypts.load(Ordering::SeqCst), 3);
}

#[test]
fn the_cache_holds_at_most_its_capacity() {
    let counting = Counting::new();
    let cache = Arc::new(LocalCache::new(NonZeroUsize::new(3).unwrap()));
    let cmm = CachingCmm::new(
        counting.clone(),
        cache.clone(),
        Limits::new(Duration::from_secs(60)),
    )
    .unwrap();
    for i in 0..10 {
        let _ = block_on(cmm.get_encryption_materials(req(&ctx(&i.to_string()), Some(1)))).unwrap();
    }
    assert_eq!(cache.len(), 3);
    assert_eq!(cache.stats().evicted, 7);
    // The most recent three are still there; the first is not.
    let _ = block_on(cmm.get_encryption_materials(req(&ctx("9"), Some(1)))).unwrap();
    let _ = block_on(cmm.get_encryption_materials(req(&ctx("0"), Some(1)))).unwrap();
    assert_eq!(counting.encrypts.load(Ordering::SeqCst), 11);
}

/// 8 threads take 1000 messages under a limit of 10 messages per key: no data key encrypts
/// more than 10 messages, because a use is checked and charged in one step.
#[test]
fn usage_is_charged_once_under_concurrency() {
    let mut limits = Limits::new(Duration::from_secs(600));
    limits.max_messages = 10;
    let f = Arc::new(fixture(limits));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let f = f.clone();
            std::thread::spawn(move || {
                let c = ctx("shared");
                (0..125)
                    .map(|_| encrypt(&f, &c, 1).edks()[0].ciphertext.clone())
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut uses: std::collections::HashMap<Vec<u8>, u64> = std::collections::HashMap::new();
    for t in threads {
        for key in t.join().unwrap() {
            *uses.entry(key).or_default() += 1;
        }
    }
    assert_eq!(uses.values().sum::<u64>(), 1000);
    let most = uses.values().copied().max().unwrap();
    assert!(most <= 10, "a data key encrypted {most} messages");
    // Every data key came from the wrapped manager, once.
    assert_eq!(calls(&f), uses.len());
    assert!(uses.len() >= 100, "{}", uses.len());
}

#[test]
fn zero_limits_are_refused() {
    let counting = Counting::new();
    let cache = Arc::new(LocalCache::default());
    for limits in [
        Limits::new(Duration::ZERO),
        Limits {
            max_messages: 0,
            ..Limits::new(Duration::from_secs(1))
        },
        Limits {
            max_bytes: 0,
            ..Limits::new(Duration::from_secs(1))
        },
    ] {
        let e = CachingCmm::new(counting.clone(), cache.clone(), limits).unwrap_err();
        assert!(e.to_string().contains("data-key cache"), "{e}");
    }
}

/// A store that counts its calls and serves one fixed key.
#[derive(Debug)]
struct Store {
    calls: AtomicUsize,
}

impl BranchKeyStore for Store {
    fn active_branch_key<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<BranchKey>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move { BranchKey::new(id, [1; 16], &[9; 32]) })
    }

    fn branch_key_version<'a>(
        &'a self,
        id: &'a str,
        version: &'a [u8; 16],
    ) -> BoxFuture<'a, Result<BranchKey>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move { BranchKey::new(id, *version, &[9; 32]) })
    }
}

#[test]
fn branch_keys_are_cached_for_their_ttl() {
    let store = Arc::new(Store {
        calls: AtomicUsize::new(0),
    });
    let clock = Arc::new(ManualClock::new());
    let cache = Arc::new(LocalCache::with_clock(
        NonZeroUsize::new(10).unwrap(),
        clock.clone(),
    ));
    let cached =
        CachingBranchKeyStore::new(store.clone(), cache, "store", "p", Duration::from_secs(5))
            .unwrap();
    for _ in 0..100 {
        let _ = block_on(cached.active_branch_key("k")).unwrap();
        block_on(cached.branch_key_version("k", &[1; 16])).unwrap();
    }
    assert_eq!(store.calls.load(Ordering::SeqCst), 2);
    block_on(cached.branch_key_version("k", &[2; 16])).unwrap();
    let _ = block_on(cached.active_branch_key("other")).unwrap();
    assert_eq!(store.calls.load(Ordering::SeqCst), 4);
    clock.advance(Duration::from_secs(5));
    let _ = block_on(cached.active_branch_key("k")).unwrap();
    assert_eq!(store.calls.load(Ordering::SeqCst), 5);
}
