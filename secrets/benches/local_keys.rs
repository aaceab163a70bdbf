//! Per-message cost of encrypting and decrypting with a local key (`--key NAME`: the
//! hierarchical keyring over the SQLite store), next to a raw AES key.
//!
//! The branch key version is unwrapped under the root key once, when the store is opened for
//! the first message; every later message derives its wrapping key from the cached version
//! (HMAC-SHA256) and wraps the data key (AES-GCM). `cargo bench -p coffer --bench local_keys`.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use coffer::home::Home;
use coffer::store::{KeySpec, LocalKeyStore, Store};
use coffer_core::cmm::DefaultCmm;
use coffer_core::keyring::{HierarchicalKeyring, Keyring, LocalRootKey, RawAesKeyring};
use coffer_core::{AlgorithmSuite, DecryptConfig, EncryptConfig, EncryptionContext};
use criterion::{Criterion, Throughput};
use futures::executor::block_on;

fn local_keyring(dir: &std::path::Path) -> (Arc<LocalKeyStore>, Arc<dyn Keyring>) {
    let home = Home::new(dir.join("home"));
    home.create_dir().unwrap();
    let store = Arc::new(Store::create(&home).unwrap());
    let root = Arc::new(LocalRootKey::generate().unwrap());
    let keys = Arc::new(LocalKeyStore::new(store, root).unwrap());
    block_on(keys.create_key("app", KeySpec::Aes256, None)).unwrap();
    let ring: Arc<dyn Keyring> = Arc::new(HierarchicalKeyring::new(keys.clone(), "app"));
    (keys, ring)
}

fn per_message(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let (keys, local) = local_keyring(dir.path());
    let raw: Arc<dyn Keyring> = Arc::new(RawAesKeyring::new("bench", "raw", &[7; 32]).unwrap());
    let pt = vec![0x5a_u8; 1024];
    let ctx: EncryptionContext = [("app", "bench")].into_iter().collect();
    let mut g = c.benchmark_group("message-1KiB");
    g.throughput(Throughput::Elements(1));
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(2));
    for suite in [
        AlgorithmSuite::Aes256GcmHkdfSha512CommitKey,
        AlgorithmSuite::Aes256GcmHkdfSha512CommitKeyEcdsaP384,
    ] {
        let cfg = EncryptConfig::default().with_suite(Some(suite));
        for (name, ring) in [("local-key", &local), ("raw-aes", &raw)] {
            let cmm = Arc::new(DefaultCmm::new(ring.clone()));
            g.bench_function(format!("encrypt/{:04x}/{name}", suite.id()), |b| {
                b.iter(|| {
                    block_on(coffer_core::encrypt(
                        cmm.clone(),
                        &cfg,
                        &ctx,
                        black_box(&pt),
                    ))
                })
            });
            let msg = block_on(coffer_core::encrypt(cmm.clone(), &cfg, &ctx, &pt)).unwrap();
            let dcfg = DecryptConfig::default();
            g.bench_function(format!("decrypt/{:04x}/{name}", suite.id()), |b| {
                b.iter(|| {
                    block_on(coffer_core::decrypt(
                        cmm.as_ref(),
                        &dcfg,
                        None,
                        black_box(&msg),
                    ))
                })
            });
        }
    }
    g.finish();
    // However many messages: one root unwrap for the one version.
    assert_eq!(keys.root_unwraps(), 1);
}

criterion::criterion_group!(benches, per_message);
criterion::criterion_main!(benches);
