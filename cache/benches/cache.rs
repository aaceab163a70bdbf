//! Cache hit latency (goal: under 1 µs) and hit throughput from 2 threads, for the local
//! cache alone and through the caching materials manager.

#![allow(clippy::unwrap_used, reason = "bench")]

use std::sync::Arc;
use std::time::{Duration, Instant};

use coffer_cache::{CachingCmm, Limits, LocalCache};
use coffer_core::cmm::{DefaultCmm, EncryptionRequest, MaterialsManager};
use coffer_core::keyring::RawAesKeyring;
use coffer_core::{AlgorithmSuite, CommitmentPolicy, EncryptionContext};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures::executor::block_on;

fn request() -> EncryptionRequest {
    let mut c = EncryptionContext::new();
    c.insert("purpose", "bench");
    EncryptionRequest::new(
        c,
        Some(AlgorithmSuite::Aes256GcmHkdfSha512CommitKey),
        CommitmentPolicy::RequireEncryptRequireDecrypt,
        Some(1024),
    )
}

fn cmm(cache: Arc<LocalCache>) -> Arc<CachingCmm> {
    let ring = RawAesKeyring::new("bench", "k", &[7; 32]).unwrap();
    let limits = Limits {
        max_age: Duration::from_secs(3600),
        max_messages: u64::MAX,
        max_bytes: u64::MAX,
    };
    Arc::new(CachingCmm::new(Arc::new(DefaultCmm::new(Arc::new(ring))), cache, limits).unwrap())
}

fn hits(c: &mut Criterion) {
    let cache = Arc::new(LocalCache::default());
    let m = cmm(cache.clone());
    let _ = block_on(m.get_encryption_materials(request())).unwrap();
    // Fill the cache so that lookups run against 1000 entries.
    for i in 0..999u32 {
        let mut r = request();
        r.context.insert("i", i.to_string());
        let _ = block_on(m.get_encryption_materials(r)).unwrap();
    }
    let id = coffer_cache::ids::encryption(
        b"bench",
        Some(AlgorithmSuite::Aes256GcmHkdfSha512CommitKey),
        &request().context,
    )
    .unwrap();
    cache.put(
        id,
        coffer_cache::Cached::Encrypt(block_on(m.get_encryption_materials(request())).unwrap()),
        Duration::from_secs(3600),
        coffer_cache::Usage {
            messages: 0,
            bytes: 0,
        },
    );
    let limits = coffer_cache::Usage {
        messages: u64::MAX,
        bytes: u64::MAX,
    };
    let mut g = c.benchmark_group("cache hit");
    g.throughput(Throughput::Elements(1));
    g.bench_function("LocalCache::take_encryption", |b| {
        b.iter(|| cache.take_encryption(&id, 1024, limits).unwrap());
    });
    g.bench_function("CachingCmm::get_encryption_materials", |b| {
        b.iter(|| block_on(m.get_encryption_materials(request())).unwrap());
    });
    g.finish();

    let mut g = c.benchmark_group("cache hits, 2 threads");
    g.throughput(Throughput::Elements(2));
    g.bench_function("LocalCache::take_encryption", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            std::thread::scope(|s| {
                for _ in 0..2 {
                    s.spawn(|| {
                        for _ in 0..iters {
                            let _ = cache.take_encryption(&id, 1024, limits).unwrap();
                        }
                    });
                }
            });
            start.elapsed()
        });
    });
    g.finish();
}

criterion_group!(benches, hits);
criterion_main!(benches);
