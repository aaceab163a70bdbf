//! The AWS KMS keyrings against a local KMS endpoint (moto, started by `scripts/test.sh`,
//! reached through `AWS_ENDPOINT_URL`). Keys and aliases are made through the KMS API. Without
//! an endpoint the tests skip, except under `CI=true`, where that is a failure.
#![cfg(feature = "kms")]
#![allow(clippy::unwrap_used, reason = "tests")]

use std::sync::Arc;

use coffer_core::cmm::DefaultCmm;
use coffer_core::keyring::{
    AwsKmsDiscoveryKeyring, AwsKmsKeyring, DiscoveryFilter, Keyring, MultiKeyring, RawAesKeyring,
};
use coffer_core::{DecryptConfig, EncryptConfig, EncryptionContext, Error};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// The KMS client, or `None` (skip) without an endpoint outside CI.
async fn client() -> Option<aws_sdk_kms::Client> {
    if std::env::var("COFFER_TEST_KMS_ENDPOINT").map_or(true, |v| v.is_empty()) {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "COFFER_TEST_KMS_ENDPOINT is not set: CI runs the KMS tests (scripts/test.sh starts \
             moto)"
        );
        eprintln!("skipped: no COFFER_TEST_KMS_ENDPOINT (scripts/test.sh starts moto)");
        return None;
    }
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await;
    Some(aws_sdk_kms::Client::new(&config))
}

/// A new symmetric key (its ARN), with alias `alias` if given.
async fn new_key(c: &aws_sdk_kms::Client, alias: Option<&str>) -> String {
    let k = c.create_key().send().await.unwrap();
    let meta = k.key_metadata().unwrap();
    if let Some(a) = alias {
        c.create_alias()
            .alias_name(a)
            .target_key_id(meta.key_id())
            .send()
            .await
            .unwrap();
    }
    meta.arn().unwrap().to_owned()
}

fn ctx() -> EncryptionContext {
    [("purpose", "kms-test")].into_iter().collect()
}

async fn encrypt(ring: Arc<dyn Keyring>, pt: &[u8]) -> coffer_core::Result<Vec<u8>> {
    coffer_core::encrypt(
        Arc::new(DefaultCmm::new(ring)),
        &EncryptConfig::default(),
        &ctx(),
        pt,
    )
    .await
}

async fn decrypt(ring: Arc<dyn Keyring>, msg: &[u8]) -> coffer_core::Result<Vec<u8>> {
    let cmm = DefaultCmm::new(ring);
    coffer_core::decrypt(&cmm, &DecryptConfig::default(), None, msg)
        .await
        .map(|o| o.plaintext)
}

fn unique(name: &str) -> String {
    format!(
        "alias/{name}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

#[test]
fn round_trips_under_a_key_an_alias_and_discovery() {
    runtime().block_on(async {
        let Some(c) = client().await else { return };
        let alias = unique("coffer-rt");
        let arn = new_key(&c, Some(&alias)).await;
        let by_arn: Arc<dyn Keyring> = Arc::new(AwsKmsKeyring::new(c.clone(), &arn).unwrap());
        let by_alias: Arc<dyn Keyring> = Arc::new(AwsKmsKeyring::new(c.clone(), &alias).unwrap());
        for ring in [&by_arn, &by_alias] {
            let msg = encrypt(ring.clone(), b"attack at dawn").await.unwrap();
            // The data key names the key ARN, whatever the keyring was given.
            let parsed = coffer_core::Decryptor::new(DecryptConfig::default())
                .read_header(&mut &msg[..])
                .unwrap();
            let edk = &parsed.header().edks[0];
            assert_eq!(edk.provider_id, "aws-kms");
            assert_eq!(edk.provider_info, arn.as_bytes());
            assert_eq!(
                decrypt(by_arn.clone(), &msg).await.unwrap(),
                b"attack at dawn"
            );
            let discovery: Arc<dyn Keyring> =
                Arc::new(AwsKmsDiscoveryKeyring::new(c.clone(), None).unwrap());
            assert_eq!(decrypt(discovery, &msg).await.unwrap(), b"attack at dawn");
            let account = arn.split(':').nth(4).unwrap().to_owned();
            let filtered: Arc<dyn Keyring> = Arc::new(
                AwsKmsDiscoveryKeyring::new(
                    c.clone(),
                    Some(DiscoveryFilter {
                        partition: "aws".into(),
                        accounts: vec![account],
                    }),
                )
                .unwrap(),
            );
            assert_eq!(decrypt(filtered, &msg).await.unwrap(), b"attack at dawn");
            let elsewhere: Arc<dyn Keyring> = Arc::new(
                AwsKmsDiscoveryKeyring::new(
                    c.clone(),
                    Some(DiscoveryFilter {
                        partition: "aws".into(),
                        accounts: vec!["999999999999".into()],
                    }),
                )
                .unwrap(),
            );
            let e = decrypt(elsewhere, &msg).await.unwrap_err();
            assert!(
                e.to_string().contains("outside the discovery filter"),
                "{e}"
            );
        }
        // A keyring given the alias decrypts nothing: data keys name ARNs (as the ESDK).
        let msg = encrypt(by_arn.clone(), b"x").await.unwrap();
        let e = decrypt(by_alias, &msg).await.unwrap_err();
        assert!(e.to_string().contains("another key"), "{e}");
        // Discovery never encrypts.
        let discovery: Arc<dyn Keyring> =
            Arc::new(AwsKmsDiscoveryKeyring::new(c.clone(), None).unwrap());
        let e = encrypt(discovery, b"x").await.unwrap_err();
        assert!(e.to_string().contains("only decrypts"), "{e}");
    });
}

#[test]
fn a_multi_keyring_of_kms_and_raw_aes_decrypts_with_either() {
    runtime().block_on(async {
        let Some(c) = client().await else { return };
        let arn = new_key(&c, None).await;
        let kms: Arc<dyn Keyring> = Arc::new(AwsKmsKeyring::new(c.clone(), &arn).unwrap());
        let aes: Arc<dyn Keyring> = Arc::new(RawAesKeyring::new("ns", "k", &[3; 32]).unwrap());
        for generator in [kms.clone(), aes.clone()] {
            let other = if Arc::ptr_eq(&generator, &kms) {
                aes.clone()
            } else {
                kms.clone()
            };
            let multi: Arc<dyn Keyring> =
                Arc::new(MultiKeyring::new(Some(generator), vec![other]).unwrap());
            let msg = encrypt(multi, b"both").await.unwrap();
            assert_eq!(decrypt(kms.clone(), &msg).await.unwrap(), b"both");
            assert_eq!(decrypt(aes.clone(), &msg).await.unwrap(), b"both");
        }
    });
}

#[test]
fn kms_refusals_are_clear_errors() {
    runtime().block_on(async {
        let Some(c) = client().await else { return };
        let arn = new_key(&c, None).await;
        let ring: Arc<dyn Keyring> = Arc::new(AwsKmsKeyring::new(c.clone(), &arn).unwrap());
        let msg = encrypt(ring.clone(), b"x").await.unwrap();
        // Another key (ARN of a key that does not exist) cannot encrypt.
        let missing =
            arn.rsplit_once('/').unwrap().0.to_owned() + "/00000000-0000-0000-0000-000000000000";
        let none: Arc<dyn Keyring> = Arc::new(AwsKmsKeyring::new(c.clone(), &missing).unwrap());
        let e = encrypt(none, b"x").await.unwrap_err();
        assert!(matches!(e, Error::Key(_)), "{e:?}");
        assert!(e.to_string().contains("GenerateDataKey"), "{e}");
        // The encryption context is bound by KMS: a data key moved to another context fails.
        let mut tampered = msg.clone();
        let pos = tampered.windows(8).position(|w| w == b"kms-test").unwrap();
        tampered[pos] = b'K';
        let e = decrypt(ring.clone(), &tampered).await.unwrap_err();
        let text = e.to_string();
        assert!(text.contains("aws-kms"), "{text}");
        assert!(AwsKmsKeyring::new(c.clone(), " ").is_err());
    });
}

/// A KMS root key wraps a branch key bound to its row: it unwraps with the same row, and KMS
/// refuses the wrapped key under another row or another key.
#[test]
fn a_kms_root_key_binds_the_row() {
    use coffer_core::keyring::{KmsRootKey, RootKey};
    runtime().block_on(async {
        let Some(c) = client().await else { return };
        let arn = new_key(&c, None).await;
        let root = KmsRootKey::new(c.clone(), arn.clone());
        assert_eq!(root.id(), format!("kms:{arn}"));
        let key = [7u8; 32];
        let wrapped = root.wrap(&key, b"row app 1").await.unwrap();
        assert_ne!(wrapped, key);
        assert_eq!(
            &root.unwrap(&wrapped, b"row app 1").await.unwrap()[..],
            &key
        );
        assert!(
            root.unwrap(&wrapped, b"row app 2").await.is_err(),
            "another row"
        );
        let other = KmsRootKey::new(c.clone(), new_key(&c, None).await);
        assert!(
            other.unwrap(&wrapped, b"row app 1").await.is_err(),
            "another key"
        );
    });
}

/// A KMS root key's `Debug` shows the key, never the client's configuration.
#[test]
fn a_kms_root_key_debug_shows_only_the_key() {
    use coffer_core::keyring::KmsRootKey;
    runtime().block_on(async {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("eu-west-1"))
            .load()
            .await;
        let root = KmsRootKey::new(
            aws_sdk_kms::Client::new(&config),
            "arn:aws:kms:eu-west-1:1:key/k",
        );
        assert_eq!(
            format!("{root:?}"),
            "KmsRootKey { arn: \"arn:aws:kms:eu-west-1:1:key/k\", .. }"
        );
    });
}
