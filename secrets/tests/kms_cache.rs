//! Data-key caching in front of AWS KMS (a local moto endpoint from `scripts/test.sh`): 10,000
//! messages under a limit of 1,000 messages per data key make 10 `GenerateDataKey` calls,
//! counted by a wrapper around the KMS keyring. Skips without an endpoint, except under
//! `CI=true`.
#![cfg(feature = "kms")]
#![allow(clippy::unwrap_used, reason = "tests")]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use coffer_cache::{CachingCmm, Limits, LocalCache};
use coffer_core::cmm::{BoxFuture, DefaultCmm, MaterialsManager};
use coffer_core::keyring::{AwsKmsKeyring, Keyring};
use coffer_core::materials::{DecryptionMaterials, EncryptionMaterials};
use coffer_core::{DecryptConfig, EncryptConfig, EncryptedDataKey, EncryptionContext, Result};

/// Counts the calls that reach the keyring (each one a KMS request).
#[derive(Debug)]
struct Counting {
    inner: AwsKmsKeyring,
    encrypts: AtomicUsize,
    decrypts: AtomicUsize,
}

impl Keyring for Counting {
    fn on_encrypt<'a>(
        &'a self,
        m: EncryptionMaterials,
    ) -> BoxFuture<'a, Result<EncryptionMaterials>> {
        self.encrypts.fetch_add(1, Ordering::SeqCst);
        self.inner.on_encrypt(m)
    }

    fn on_decrypt<'a>(
        &'a self,
        m: DecryptionMaterials,
        edks: &'a [EncryptedDataKey],
    ) -> BoxFuture<'a, Result<DecryptionMaterials>> {
        self.decrypts.fetch_add(1, Ordering::SeqCst);
        self.inner.on_decrypt(m, edks)
    }
}

#[test]
fn ten_thousand_messages_make_ten_kms_calls() {
    if std::env::var("COFFER_TEST_KMS_ENDPOINT").map_or(true, |v| v.is_empty()) {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "COFFER_TEST_KMS_ENDPOINT is not set: CI runs the KMS tests"
        );
        eprintln!("skipped: no COFFER_TEST_KMS_ENDPOINT");
        return;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .load()
            .await;
        let client = aws_sdk_kms::Client::new(&config);
        let key = client.create_key().send().await.unwrap();
        let arn = key.key_metadata().unwrap().arn().unwrap().to_owned();
        let counting = Arc::new(Counting {
            inner: AwsKmsKeyring::new(client, arn).unwrap(),
            encrypts: AtomicUsize::new(0),
            decrypts: AtomicUsize::new(0),
        });
        let mut limits = Limits::new(Duration::from_secs(3600));
        limits.max_messages = 1000;
        let cmm: Arc<dyn MaterialsManager> = Arc::new(
            CachingCmm::new(
                Arc::new(DefaultCmm::new(counting.clone())),
                Arc::new(LocalCache::default()),
                limits,
            )
            .unwrap(),
        );
        let ctx: EncryptionContext = [("purpose", "count")].into_iter().collect();
        let cfg = EncryptConfig::default();
        let mut messages = Vec::new();
        for i in 0..10_000u32 {
            let msg = coffer_core::encrypt(cmm.clone(), &cfg, &ctx, &i.to_be_bytes())
                .await
                .unwrap();
            if i % 1000 == 0 || i % 1000 == 999 {
                messages.push((i, msg));
            }
        }
        assert_eq!(counting.encrypts.load(Ordering::SeqCst), 10);
        // Decrypting through the same cache: one KMS call per data key.
        for (i, msg) in &messages {
            let out = coffer_core::decrypt(cmm.as_ref(), &DecryptConfig::default(), None, msg)
                .await
                .unwrap();
            assert_eq!(out.plaintext, i.to_be_bytes());
        }
        assert_eq!(counting.decrypts.load(Ordering::SeqCst), 10);
    });
}
