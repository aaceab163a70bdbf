//! Encryption and decryption materials: what keyrings and materials managers produce.

use crate::context::EncryptionContext;
use crate::error::{Error, Result, UnwrapReport};
use crate::format::EncryptedDataKey;
use crate::primitives::{SigningKey, VerificationKey};
use crate::secret::DataKey;
use crate::suite::AlgorithmSuite;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};

/// Materials for encrypting one message. A clone (a cache's copy) holds the same data key
/// and shares the signing key.
#[derive(Debug, Clone)]
#[must_use]
pub struct EncryptionMaterials {
    suite: AlgorithmSuite,
    context: EncryptionContext,
    required_keys: Vec<String>,
    data_key: Option<DataKey>,
    edks: Vec<EncryptedDataKey>,
    signing_key: Option<SigningKey>,
}

impl EncryptionMaterials {
    /// Fresh materials with no data key yet.
    pub fn new(suite: AlgorithmSuite, context: EncryptionContext) -> Self {
        Self {
            suite,
            context,
            required_keys: Vec::new(),
            data_key: None,
            edks: Vec::new(),
            signing_key: None,
        }
    }

    /// The suite.
    #[must_use]
    pub fn suite(&self) -> AlgorithmSuite {
        self.suite
    }

    /// The full encryption context (including required pairs and the signature key).
    #[must_use]
    pub fn context(&self) -> &EncryptionContext {
        &self.context
    }

    /// Keys of the context that are authenticated but not stored in the header.
    #[must_use]
    pub fn required_keys(&self) -> &[String] {
        &self.required_keys
    }

    /// Sets the required-context keys; each must be in the context.
    ///
    /// # Errors
    /// [`Error::Context`] if a key is missing from the context.
    pub fn with_required_keys(mut self, keys: Vec<String>) -> Result<Self> {
        if let Some(k) = keys.iter().find(|k| !self.context.contains_key(k)) {
            return Err(Error::Context(format!(
                "required key {k:?} is not in the context"
            )));
        }
        self.required_keys = keys;
        Ok(self)
    }

    /// The plaintext data key, once a keyring generated it.
    #[must_use]
    pub fn data_key(&self) -> Option<&DataKey> {
        self.data_key.as_ref()
    }

    /// Sets the data key.
    ///
    /// # Errors
    /// [`Error::ApiMisuse`] if one is set already or its length does not fit the suite.
    pub fn with_data_key(mut self, key: DataKey) -> Result<Self> {
        if self.data_key.is_some() {
            return Err(Error::ApiMisuse("materials already have a data key".into()));
        }
        if key.len() != self.suite.data_key_len() {
            return Err(Error::ApiMisuse(format!(
                "data key is {} bytes, suite needs {}",
                key.len(),
                self.suite.data_key_len()
            )));
        }
        self.data_key = Some(key);
        Ok(self)
    }

    /// The encrypted data keys added so far.
    #[must_use]
    pub fn edks(&self) -> &[EncryptedDataKey] {
        &self.edks
    }

    /// Adds an encrypted data key.
    ///
    /// # Errors
    /// [`Error::ApiMisuse`] if there is no data key yet.
    pub fn with_edk(mut self, edk: EncryptedDataKey) -> Result<Self> {
        if self.data_key.is_none() {
            return Err(Error::ApiMisuse(
                "encrypted data key added before the data key".into(),
            ));
        }
        self.edks.push(edk);
        Ok(self)
    }

    /// The signing key (signing suites).
    #[must_use]
    pub fn signing_key(&self) -> Option<&SigningKey> {
        self.signing_key.as_ref()
    }

    pub(crate) fn set_signing_key(&mut self, key: SigningKey) {
        self.signing_key = Some(key);
    }

    pub(crate) fn context_mut(&mut self) -> &mut EncryptionContext {
        &mut self.context
    }

    pub(crate) fn into_parts(
        self,
    ) -> (
        AlgorithmSuite,
        EncryptionContext,
        Vec<String>,
        Option<DataKey>,
        Vec<EncryptedDataKey>,
        Option<SigningKey>,
    ) {
        (
            self.suite,
            self.context,
            self.required_keys,
            self.data_key,
            self.edks,
            self.signing_key,
        )
    }
}

/// The unwrap attempts one message may still make, shared by every copy of its materials.
#[derive(Debug, Clone)]
struct UnwrapBudget {
    limit: u16,
    left: Arc<AtomicU16>,
}

/// Materials for decrypting one message.
///
/// They carry the message's budget of unwrap attempts
/// ([`DecryptionMaterials::take_unwrap_attempt`]); clones share it, so the keyrings of a
/// multi-keyring draw on one budget.
#[derive(Debug, Clone)]
#[must_use]
pub struct DecryptionMaterials {
    suite: AlgorithmSuite,
    context: EncryptionContext,
    required_keys: Vec<String>,
    data_key: Option<DataKey>,
    verification_key: Option<VerificationKey>,
    budget: Option<UnwrapBudget>,
}

impl DecryptionMaterials {
    /// Fresh materials with no data key yet, and a budget of
    /// [`crate::DEFAULT_MAX_UNWRAP_ATTEMPTS`] unwrap attempts.
    pub fn new(suite: AlgorithmSuite, context: EncryptionContext) -> Self {
        Self {
            suite,
            context,
            required_keys: Vec::new(),
            data_key: None,
            verification_key: None,
            budget: None,
        }
        .with_unwrap_limit(Some(crate::DEFAULT_MAX_UNWRAP_ATTEMPTS))
    }

    /// Sets the budget of unwrap attempts (`None`: no limit).
    pub fn with_unwrap_limit(mut self, limit: Option<u16>) -> Self {
        self.budget = limit.map(|limit| UnwrapBudget {
            limit,
            left: Arc::new(AtomicU16::new(limit)),
        });
        self
    }

    /// The budget of unwrap attempts this message started with (`None`: no limit).
    #[must_use]
    pub fn unwrap_limit(&self) -> Option<u16> {
        self.budget.as_ref().map(|b| b.limit)
    }

    /// Takes one unwrap attempt from the message's budget. A keyring calls this before each
    /// key operation on an encrypted data key addressed to its key (an RSA decryption, an
    /// AES-GCM open, a KMS or HSM call) and skips the data key when it returns `false`: the
    /// budget is spent, and `report` has counted the data key as not tried.
    pub fn take_unwrap_attempt(&self, report: &mut UnwrapReport) -> bool {
        let Some(b) = &self.budget else {
            return true;
        };
        let took = b
            .left
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok();
        if !took {
            report.not_tried(b.limit);
        }
        took
    }

    /// The suite.
    #[must_use]
    pub fn suite(&self) -> AlgorithmSuite {
        self.suite
    }

    /// The full encryption context (stored pairs plus reproduced required pairs).
    #[must_use]
    pub fn context(&self) -> &EncryptionContext {
        &self.context
    }

    /// Keys authenticated but not stored in the header.
    #[must_use]
    pub fn required_keys(&self) -> &[String] {
        &self.required_keys
    }

    /// Sets the required-context keys; each must be in the context.
    ///
    /// # Errors
    /// [`Error::Context`] if a key is missing from the context.
    pub fn with_required_keys(mut self, keys: Vec<String>) -> Result<Self> {
        if let Some(k) = keys.iter().find(|k| !self.context.contains_key(k)) {
            return Err(Error::Context(format!(
                "required key {k:?} is not in the context"
            )));
        }
        self.required_keys = keys;
        Ok(self)
    }

    /// The recovered data key.
    #[must_use]
    pub fn data_key(&self) -> Option<&DataKey> {
        self.data_key.as_ref()
    }

    /// Sets the recovered data key.
    ///
    /// # Errors
    /// [`Error::ApiMisuse`] if one is set already or its length does not fit the suite.
    pub fn with_data_key(mut self, key: DataKey) -> Result<Self> {
        if self.data_key.is_some() {
            return Err(Error::ApiMisuse("materials already have a data key".into()));
        }
        if key.len() != self.suite.data_key_len() {
            return Err(Error::Malformed(format!(
                "unwrapped data key is {} bytes, suite needs {}",
                key.len(),
                self.suite.data_key_len()
            )));
        }
        self.data_key = Some(key);
        Ok(self)
    }

    /// The signature verification key (signing suites).
    #[must_use]
    pub fn verification_key(&self) -> Option<&VerificationKey> {
        self.verification_key.as_ref()
    }

    pub(crate) fn set_verification_key(&mut self, key: VerificationKey) {
        self.verification_key = Some(key);
    }

    pub(crate) fn into_parts(
        self,
    ) -> (
        AlgorithmSuite,
        EncryptionContext,
        Vec<String>,
        Option<DataKey>,
        Option<VerificationKey>,
    ) {
        (
            self.suite,
            self.context,
            self.required_keys,
            self.data_key,
            self.verification_key,
        )
    }
}
