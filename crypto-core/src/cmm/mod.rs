//! Materials managers: turn a request into encryption or decryption materials.

mod default;
mod required_context;

pub use default::DefaultCmm;
pub use required_context::RequiredContextCmm;

use crate::context::EncryptionContext;
use crate::error::Result;
use crate::format::EncryptedDataKey;
pub use crate::keyring::BoxFuture;
use crate::materials::{DecryptionMaterials, EncryptionMaterials};
use crate::suite::{AlgorithmSuite, CommitmentPolicy};
use std::fmt;

/// What an encryption asks a materials manager for.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct EncryptionRequest {
    /// The caller's encryption context.
    pub context: EncryptionContext,
    /// The requested suite (`None`: the policy's default).
    pub suite: Option<AlgorithmSuite>,
    /// The commitment policy.
    pub commitment_policy: CommitmentPolicy,
    /// Plaintext length, when known (for caching limits).
    pub plaintext_length: Option<u64>,
    /// Context keys to authenticate but not store in the header.
    pub required_keys: Vec<String>,
}

impl EncryptionRequest {
    /// A request with no required keys.
    #[must_use]
    pub fn new(
        context: EncryptionContext,
        suite: Option<AlgorithmSuite>,
        commitment_policy: CommitmentPolicy,
        plaintext_length: Option<u64>,
    ) -> Self {
        Self {
            context,
            suite,
            commitment_policy,
            plaintext_length,
            required_keys: Vec::new(),
        }
    }
}

/// What a decryption asks a materials manager for.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DecryptionRequest {
    /// The message's suite.
    pub suite: AlgorithmSuite,
    /// The commitment policy.
    pub commitment_policy: CommitmentPolicy,
    /// The message's encrypted data keys.
    pub edks: Vec<EncryptedDataKey>,
    /// The context stored in the message header.
    pub context: EncryptionContext,
    /// The context the caller expects (required pairs not stored in the header go here).
    pub reproduced_context: Option<EncryptionContext>,
    /// The most unwrap attempts the keyrings may make (`None`: no limit); see
    /// [`DecryptionMaterials::take_unwrap_attempt`].
    pub max_unwrap_attempts: Option<u16>,
}

impl DecryptionRequest {
    /// A request, with the default limit of unwrap attempts.
    #[must_use]
    pub fn new(
        suite: AlgorithmSuite,
        commitment_policy: CommitmentPolicy,
        edks: Vec<EncryptedDataKey>,
        context: EncryptionContext,
        reproduced_context: Option<EncryptionContext>,
    ) -> Self {
        Self {
            suite,
            commitment_policy,
            edks,
            context,
            reproduced_context,
            max_unwrap_attempts: Some(crate::DEFAULT_MAX_UNWRAP_ATTEMPTS),
        }
    }

    /// Sets the most unwrap attempts (default [`crate::DEFAULT_MAX_UNWRAP_ATTEMPTS`]).
    #[must_use]
    pub fn with_max_unwrap_attempts(mut self, max: Option<u16>) -> Self {
        self.max_unwrap_attempts = max;
        self
    }
}

/// Produces materials for messages.
pub trait MaterialsManager: Send + Sync + fmt::Debug {
    /// Materials to encrypt one message.
    fn get_encryption_materials(
        &self,
        request: EncryptionRequest,
    ) -> BoxFuture<'_, Result<EncryptionMaterials>>;

    /// Materials to decrypt one message.
    fn decrypt_materials(
        &self,
        request: DecryptionRequest,
    ) -> BoxFuture<'_, Result<DecryptionMaterials>>;
}
