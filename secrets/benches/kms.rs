//! Messages per second under an AWS KMS key, with and without the data-key cache, against
//! the local KMS endpoint (`AWS_ENDPOINT_URL`, as `scripts/kms.sh` sets it). Without an
//! endpoint the bench says so and measures nothing.

#![allow(clippy::unwrap_used, reason = "bench")]

use std::sync::Arc;
use std::time::Duration;

use coffer_cache::{CachingCmm, Limits, LocalCache};
use coffer_core::cmm::{DefaultCmm, MaterialsManager};
use coffer_core::keyring::AwsKmsKeyring;
use coffer_core::{EncryptConfig, EncryptionContext};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn messages(c: &mut Criterion) {
    if std::env::var("AWS_ENDPOINT_URL").map_or(true, |v| v.is_empty()) {
        eprintln!("kms bench: no AWS_ENDPOINT_URL (start one with scripts/kms.sh): skipped");
        return;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = rt.block_on(async {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .load()
            .await;
        aws_sdk_kms::Client::new(&config)
    });
    let arn = rt.block_on(async {
        let k = client.create_key().send().await.unwrap();
        k.key_metadata().unwrap().arn().unwrap().to_owned()
    });
    let ring = Arc::new(AwsKmsKeyring::new(client, arn).unwrap());
    let direct: Arc<dyn MaterialsManager> = Arc::new(DefaultCmm::new(ring.clone()));
    let mut limits = Limits::new(Duration::from_secs(300));
    limits.max_messages = 1000;
    let cached: Arc<dyn MaterialsManager> = Arc::new(
        CachingCmm::new(
            Arc::new(DefaultCmm::new(ring)),
            Arc::new(LocalCache::default()),
            limits,
        )
        .unwrap(),
    );
    let ctx: EncryptionContext = [("purpose", "bench")].into_iter().collect();
    let cfg = EncryptConfig::default();
    let pt = vec![0x5a_u8; 1024];
    let mut g = c.benchmark_group("1 KiB messages under a KMS key (local endpoint)");
    g.throughput(Throughput::Elements(1));
    for (name, cmm) in [
        ("no cache", direct),
        ("cache, 1000 messages per key", cached),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| {
                rt.block_on(coffer_core::encrypt(cmm.clone(), &cfg, &ctx, &pt))
                    .unwrap()
            });
        });
    }
    g.finish();
}

criterion_group!(benches, messages);
criterion_main!(benches);
