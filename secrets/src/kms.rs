//! `kms:` keys: the AWS KMS client, built once per process from the standard AWS
//! configuration (environment, `~/.aws/config` profiles, `AWS_ENDPOINT_URL`; with no Region
//! there, the Region of the key ARN), with bounded retries and timeouts; and keyrings that build it on first use, so that loading a `kms:`
//! key costs nothing until a data key is needed.
//!
//! Retries: throttling and transient errors (5xx, timeouts, connection failures) are retried
//! by the SDK's standard mode with exponential backoff and jitter, at most
//! [`MAX_ATTEMPTS`] attempts and [`OPERATION_TIMEOUT`] in all; access denied, a missing or
//! disabled key and a bad ciphertext are not retried. `AWS_MAX_ATTEMPTS` may lower or raise
//! the attempts.

use std::sync::Arc;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use coffer_core::keyring::kms::KmsArn;
use coffer_core::keyring::{
    AwsKmsDiscoveryKeyring, AwsKmsKeyring, BoxFuture, DiscoveryFilter, Keyring, RootKey,
};
use coffer_core::materials::{DecryptionMaterials, EncryptionMaterials};
use coffer_core::{EncryptedDataKey, Error, Result};
use tokio::sync::OnceCell;

/// Attempts per KMS call (the first and the retries), unless `AWS_MAX_ATTEMPTS` says.
pub const MAX_ATTEMPTS: u32 = 5;
/// How long one KMS call may take, retries included.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one attempt may take.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long connecting may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

static CLIENT: OnceCell<aws_sdk_kms::Client> = OnceCell::const_new();

/// No AWS Region is configured, and no key ARN gives one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("AWS KMS: no AWS Region is configured")]
pub struct NoRegion;

/// The Region of `key` when it is a KMS ARN.
fn arn_region(key: &str) -> Option<String> {
    KmsArn::parse(key).map(|a| a.region)
}

/// The process's KMS client (built on first use). Its Region is the configured one
/// (`AWS_REGION`, a profile, EC2 instance metadata), else `fallback_region` (the Region of a
/// key ARN).
///
/// # Errors
/// No Region ([`NoRegion`], inside [`Error::Other`]).
pub async fn client(fallback_region: Option<String>) -> Result<aws_sdk_kms::Client> {
    CLIENT
        .get_or_try_init(|| async {
            let attempts = std::env::var("AWS_MAX_ATTEMPTS")
                .ok()
                .and_then(|v| v.parse::<u32>().ok())
                .filter(|n| *n > 0)
                .unwrap_or(MAX_ATTEMPTS);
            let region = aws_config::meta::region::RegionProviderChain::default_provider()
                .or_else(fallback_region.map(aws_config::Region::new));
            let config = aws_config::defaults(BehaviorVersion::latest())
                .region(region)
                .retry_config(
                    RetryConfig::standard()
                        .with_max_attempts(attempts)
                        .with_initial_backoff(Duration::from_millis(50))
                        .with_max_backoff(Duration::from_secs(5)),
                )
                .timeout_config(
                    TimeoutConfig::builder()
                        .connect_timeout(CONNECT_TIMEOUT)
                        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                        .operation_timeout(OPERATION_TIMEOUT)
                        .build(),
                )
                .load()
                .await;
            if config.region().is_none() {
                return Err(Error::Other(Arc::new(NoRegion)));
            }
            tracing::debug!(region = ?config.region(), "AWS KMS client configured");
            Ok(aws_sdk_kms::Client::new(&config))
        })
        .await
        .cloned()
}

/// What a [`LazyKms`] builds.
#[derive(Debug, Clone)]
enum Spec {
    Key(String),
    Discovery(Option<DiscoveryFilter>),
}

/// A KMS keyring built on first use (see the module docs). To decrypt, a key given by alias
/// or bare key id is first resolved to its key ARN (`DescribeKey`), because a data key names
/// the ARN of the key that wrapped it.
#[derive(Debug)]
pub struct LazyKms {
    spec: Spec,
    encrypt: OnceCell<Arc<dyn Keyring>>,
    decrypt: OnceCell<Arc<dyn Keyring>>,
}

impl LazyKms {
    /// The keyring of KMS key `key_id`.
    #[must_use]
    pub fn key(key_id: &str) -> Self {
        Self {
            spec: Spec::Key(key_id.to_owned()),
            encrypt: OnceCell::new(),
            decrypt: OnceCell::new(),
        }
    }

    /// A discovery keyring (decrypt only), limited to `filter` (partition, accounts).
    #[must_use]
    pub fn discovery(filter: Option<(String, Vec<String>)>) -> Self {
        Self {
            spec: Spec::Discovery(filter.map(|(partition, accounts)| DiscoveryFilter {
                partition,
                accounts,
            })),
            encrypt: OnceCell::new(),
            decrypt: OnceCell::new(),
        }
    }

    /// The keyring; `edks` (when decrypting) give a discovery keyring its Region when none
    /// is configured.
    async fn ring(&self, decrypting: bool, edks: &[EncryptedDataKey]) -> Result<&Arc<dyn Keyring>> {
        let cell = if decrypting {
            &self.decrypt
        } else {
            &self.encrypt
        };
        cell.get_or_try_init(|| async {
            let region = match &self.spec {
                Spec::Key(k) => arn_region(k),
                Spec::Discovery(_) => edks
                    .iter()
                    .filter(|e| e.provider_id == coffer_core::keyring::kms::PROVIDER_ID)
                    .find_map(|e| arn_region(std::str::from_utf8(&e.provider_info).ok()?)),
            };
            let client = client(region).await?;
            let ring: Arc<dyn Keyring> = match &self.spec {
                Spec::Key(k) if decrypting => {
                    let arn = key_arn(&client, k).await?;
                    Arc::new(AwsKmsKeyring::new(client, arn)?)
                }
                Spec::Key(k) => Arc::new(AwsKmsKeyring::new(client, k.clone())?),
                Spec::Discovery(f) => Arc::new(AwsKmsDiscoveryKeyring::new(client, f.clone())?),
            };
            Ok(ring)
        })
        .await
    }
}

/// The key ARN of `key` (itself if it is one; else asked of KMS).
async fn key_arn(client: &aws_sdk_kms::Client, key: &str) -> Result<String> {
    if KmsArn::parse(key).is_some_and(|a| a.resource_type == "key") {
        return Ok(key.to_owned());
    }
    let out = client
        .describe_key()
        .key_id(key)
        .send()
        .await
        .map_err(|e| {
            Error::Key(format!(
                "AWS KMS DescribeKey {key}: {}",
                aws_sdk_kms::error::DisplayErrorContext(&e)
            ))
        })?;
    out.key_metadata()
        .and_then(|m| m.arn())
        .map(str::to_owned)
        .ok_or_else(|| {
            Error::Key(format!(
                "AWS KMS DescribeKey {key}: no key ARN in the answer"
            ))
        })
}

impl Keyring for LazyKms {
    fn on_encrypt<'a>(
        &'a self,
        materials: EncryptionMaterials,
    ) -> BoxFuture<'a, Result<EncryptionMaterials>> {
        Box::pin(async move { self.ring(false, &[]).await?.on_encrypt(materials).await })
    }

    fn on_decrypt<'a>(
        &'a self,
        materials: DecryptionMaterials,
        edks: &'a [EncryptedDataKey],
    ) -> BoxFuture<'a, Result<DecryptionMaterials>> {
        Box::pin(async move {
            self.ring(true, edks)
                .await?
                .on_decrypt(materials, edks)
                .await
        })
    }
}

/// An AWS KMS key as the root of the key hierarchy: coffer-core's
/// [`coffer_core::keyring::KmsRootKey`] over the process's KMS client, built on first use
/// (loading a store whose root is in KMS costs nothing until a branch key is unwrapped).
pub struct KmsRootKey {
    arn: String,
    root: OnceCell<coffer_core::keyring::KmsRootKey>,
}

/// The key only, whether or not its client was built.
impl std::fmt::Debug for KmsRootKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KmsRootKey")
            .field("arn", &self.arn)
            .finish_non_exhaustive()
    }
}

impl KmsRootKey {
    /// The root key `arn` (a key ARN: the id recorded in the store).
    #[must_use]
    pub fn new(arn: String) -> Self {
        Self {
            arn,
            root: OnceCell::new(),
        }
    }

    async fn root(&self) -> Result<&coffer_core::keyring::KmsRootKey> {
        self.root
            .get_or_try_init(|| async {
                let client = client(arn_region(&self.arn)).await?;
                Ok(coffer_core::keyring::KmsRootKey::new(
                    client,
                    self.arn.clone(),
                ))
            })
            .await
    }
}

impl RootKey for KmsRootKey {
    fn id(&self) -> String {
        format!("kms:{}", self.arn)
    }

    fn wrap<'a>(&'a self, key: &'a [u8], aad: &'a [u8]) -> BoxFuture<'a, Result<Vec<u8>>> {
        Box::pin(async move { self.root().await?.wrap(key, aad).await })
    }

    fn unwrap<'a>(
        &'a self,
        wrapped: &'a [u8],
        aad: &'a [u8],
    ) -> BoxFuture<'a, Result<zeroize::Zeroizing<Vec<u8>>>> {
        Box::pin(async move { self.root().await?.unwrap(wrapped, aad).await })
    }
}

/// The key ARN of `key` (a key id, ARN, alias name or alias ARN), asked of KMS: what a KMS
/// root records.
///
/// # Errors
/// KMS cannot describe the key.
pub async fn resolve(key: &str) -> Result<String> {
    key_arn(&client(arn_region(key)).await?, key).await
}
