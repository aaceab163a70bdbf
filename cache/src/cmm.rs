//! [`CachingCmm`]: a materials manager that reuses data keys from a [`LocalCache`], within
//! security limits, so that a service does not call its key provider (KMS) per message.
//!
//! # What is cached, and what is not
//!
//! - Encryption materials are reused for at most `max_age`, `max_messages` messages and
//!   `max_bytes` plaintext bytes per data key. A request without a plaintext length, or for
//!   more than `max_bytes`, goes to the underlying manager and is not cached (as the ESDK).
//! - Decryption materials are reused for at most `max_age`.
//! - Suites without key derivation (0x0014, 0x0046, 0x0078) are never cached: there the data
//!   key is the message key.
//! - Requests with required encryption context keys, or a reproduced context on decrypt, go
//!   to the underlying manager: the specification's identifiers do not cover them, and a
//!   cached entry must never answer a request it was not made for.
//! - The commitment policy of each request is checked against the cached suite.
//!
//! # The trade-off
//!
//! A cached data key encrypts several messages: whoever obtains it (from this process's
//! memory) reads all of them, and the key provider's audit log shows one call for many
//! messages. Keep the limits as low as the call rate allows.

use std::sync::Arc;
use std::time::Duration;

use coffer_core::cmm::{BoxFuture, DecryptionRequest, EncryptionRequest, MaterialsManager};
use coffer_core::materials::{DecryptionMaterials, EncryptionMaterials};
use coffer_core::suite::Kdf;
use coffer_core::{AlgorithmSuite, Result};

use crate::error::CacheError;
use crate::ids;
use crate::local::{Cached, LocalCache, Usage};

/// The limits on one cached data key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// How long an entry lives (> 0).
    pub max_age: Duration,
    /// Messages per data key (≥ 1; default 2^32).
    pub max_messages: u64,
    /// Plaintext bytes per data key (≥ 1; default 2^63 - 1).
    pub max_bytes: u64,
}

impl Limits {
    /// `max_age`, with the specification's defaults for the rest.
    #[must_use]
    pub fn new(max_age: Duration) -> Self {
        Self {
            max_age,
            max_messages: 1 << 32,
            max_bytes: i64::MAX.unsigned_abs(),
        }
    }

    fn check(&self) -> std::result::Result<(), CacheError> {
        if self.max_age.is_zero() {
            return Err(CacheError::Config("max-age must be more than zero".into()));
        }
        if self.max_messages == 0 {
            return Err(CacheError::Config("max-messages must be 1 or more".into()));
        }
        if self.max_bytes == 0 {
            return Err(CacheError::Config("max-bytes must be 1 or more".into()));
        }
        Ok(())
    }
}

/// A caching materials manager (see the module docs).
#[derive(Debug)]
pub struct CachingCmm {
    inner: Arc<dyn MaterialsManager>,
    cache: Arc<LocalCache>,
    partition: Vec<u8>,
    limits: Limits,
}

fn is_identity(suite: AlgorithmSuite) -> bool {
    suite.kdf() == Kdf::Identity
}

impl CachingCmm {
    /// Caches the materials of `inner` in `cache` under `limits`, in a partition of its
    /// own (a random id: two managers on one cache never share entries unless given the
    /// same partition with [`CachingCmm::with_partition`]).
    ///
    /// # Errors
    /// A zero limit; the random source failed.
    pub fn new(
        inner: Arc<dyn MaterialsManager>,
        cache: Arc<LocalCache>,
        limits: Limits,
    ) -> std::result::Result<Self, CacheError> {
        limits.check()?;
        let mut partition = vec![0u8; 16];
        coffer_core::fill_random(&mut partition)
            .map_err(|e| CacheError::Config(format!("partition id: {e}")))?;
        Ok(Self {
            inner,
            cache,
            partition,
            limits,
        })
    }

    /// Uses partition `id` (managers with the same partition share entries).
    #[must_use]
    pub fn with_partition(mut self, id: impl Into<Vec<u8>>) -> Self {
        self.partition = id.into();
        self
    }

    /// The limits.
    #[must_use]
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// The cache.
    #[must_use]
    pub fn cache(&self) -> &Arc<LocalCache> {
        &self.cache
    }

    async fn encryption(&self, mut request: EncryptionRequest) -> Result<EncryptionMaterials> {
        let cacheable = !request.suite.is_some_and(is_identity)
            && request.required_keys.is_empty()
            && request
                .plaintext_length
                .is_some_and(|n| n <= self.limits.max_bytes);
        let Some(len) = request.plaintext_length.filter(|_| cacheable) else {
            return self.inner.get_encryption_materials(request).await;
        };
        let id = ids::encryption(&self.partition, request.suite, &request.context)?;
        let limits = Usage {
            messages: self.limits.max_messages,
            bytes: self.limits.max_bytes,
        };
        if let Some(m) = self.cache.take_encryption(&id, len, limits) {
            if request.commitment_policy.check_encrypt(m.suite()).is_ok() {
                return Ok(m);
            }
        }
        let policy = request.commitment_policy;
        request.plaintext_length = Some(self.limits.max_bytes);
        let m = self.inner.get_encryption_materials(request).await?;
        if !is_identity(m.suite()) && policy.check_encrypt(m.suite()).is_ok() {
            let used = Usage {
                messages: 1,
                bytes: len,
            };
            self.cache
                .put(id, Cached::Encrypt(m.clone()), self.limits.max_age, used);
        }
        Ok(m)
    }

    async fn decryption(&self, request: DecryptionRequest) -> Result<DecryptionMaterials> {
        if is_identity(request.suite) || request.reproduced_context.is_some() {
            return self.inner.decrypt_materials(request).await;
        }
        request.commitment_policy.check_decrypt(request.suite)?;
        let id = ids::decryption(
            &self.partition,
            request.suite,
            &request.edks,
            &request.context,
        )?;
        if let Some(m) = self.cache.get_decryption(&id) {
            return Ok(m);
        }
        let m = self.inner.decrypt_materials(request).await?;
        self.cache.put(
            id,
            Cached::Decrypt(m.clone()),
            self.limits.max_age,
            Usage {
                messages: 0,
                bytes: 0,
            },
        );
        Ok(m)
    }
}

impl MaterialsManager for CachingCmm {
    fn get_encryption_materials(
        &self,
        request: EncryptionRequest,
    ) -> BoxFuture<'_, Result<EncryptionMaterials>> {
        Box::pin(self.encryption(request))
    }

    fn decrypt_materials(
        &self,
        request: DecryptionRequest,
    ) -> BoxFuture<'_, Result<DecryptionMaterials>> {
        Box::pin(self.decryption(request))
    }
}
