//! Data-key wraps per second through a PKCS#11 token, from 1 and 2 threads, against the
//! SoftHSM2 token `scripts/hsm.sh` makes (`COFFER_TEST_PKCS11_MODULE`, `_TOKEN`, `_PIN_FILE`),
//! next to the same wrap in process (raw AES keyring: AES-256-GCM in software), the limit a
//! token's round trip is measured against. Without a token the bench says so and measures
//! nothing.
//!
//!     . scripts/hsm.sh && hsm_start && cargo bench -p coffer-core --features pkcs11 --bench pkcs11

#![allow(clippy::unwrap_used, reason = "bench")]

use std::sync::Arc;
use std::time::{Duration, Instant};

use coffer_core::keyring::pkcs11::{OaepHash, Pkcs11Keyring, Pkcs11Token};
use coffer_core::keyring::{Keyring, RawAesKeyring};
use coffer_core::materials::EncryptionMaterials;
use coffer_core::{AlgorithmSuite, EncryptionContext};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use zeroize::Zeroizing;

/// One wrap: a fresh data key made and wrapped by `ring`.
fn wrap(ring: &dyn Keyring, ctx: &EncryptionContext) {
    let m = EncryptionMaterials::new(AlgorithmSuite::Aes256GcmHkdfSha512CommitKey, ctx.clone());
    let m = futures::executor::block_on(ring.on_encrypt(m)).unwrap();
    assert_eq!(m.edks().len(), 1);
}

/// `iters` wraps split over `threads` threads; the wall time of all of them.
fn wraps(ring: &Arc<dyn Keyring>, ctx: &EncryptionContext, threads: u64, iters: u64) -> Duration {
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            let n = iters / threads + u64::from(t < iters % threads);
            s.spawn(move || {
                for _ in 0..n {
                    wrap(ring.as_ref(), ctx);
                }
            });
        }
    });
    start.elapsed()
}

fn bench(c: &mut Criterion) {
    let Ok(module) = std::env::var("COFFER_TEST_PKCS11_MODULE") else {
        eprintln!("pkcs11 bench: no token (start one with scripts/hsm.sh): skipped");
        return;
    };
    let label = std::env::var("COFFER_TEST_PKCS11_TOKEN").unwrap();
    let pin =
        std::fs::read_to_string(std::env::var("COFFER_TEST_PKCS11_PIN_FILE").unwrap()).unwrap();
    let token = Pkcs11Token::open(module.as_ref(), &label, Some(Zeroizing::new(pin))).unwrap();
    let rings: [(&str, Arc<dyn Keyring>); 3] = [
        (
            "SoftHSM2 AES-GCM",
            Arc::new(Pkcs11Keyring::new(token.clone(), "coffer-aes", OaepHash::Sha1).unwrap()),
        ),
        (
            "SoftHSM2 RSA-OAEP-2048 (public key)",
            Arc::new(Pkcs11Keyring::new(token, "coffer-rsa", OaepHash::Sha1).unwrap()),
        ),
        (
            "in process: raw AES-GCM",
            Arc::new(RawAesKeyring::new("bench", "aes", &[7u8; 32]).unwrap()),
        ),
    ];
    let ctx: EncryptionContext = [("purpose", "bench")].into_iter().collect();
    let mut g = c.benchmark_group("data-key wraps");
    g.throughput(Throughput::Elements(1));
    for (name, ring) in &rings {
        for threads in [1, 2] {
            g.bench_function(format!("{name}, {threads} thread(s)"), |b| {
                b.iter_custom(|iters| wraps(ring, &ctx, threads, iters));
            });
        }
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    targets = bench
}
criterion_main!(benches);
