//! Keyrings: generate, wrap and unwrap data keys.
//!
//! A keyring is immutable (`&self`); the per-message state lives in the materials it takes
//! and returns. Local keyrings finish at once (`std::future::ready`); network or HSM
//! keyrings may await.

pub mod hierarchy;
#[cfg(feature = "kms")]
pub mod kms;
#[cfg(feature = "kms")]
mod kms_root;
mod multi;
#[cfg(feature = "pkcs11")]
pub mod pkcs11;
mod raw_aes;
mod raw_rsa;

pub use crate::primitives::RsaPadding;
pub use hierarchy::{BranchKey, BranchKeyStore, HierarchicalKeyring, LocalRootKey, RootKey};
#[cfg(feature = "kms")]
pub use kms::{AwsKmsDiscoveryKeyring, AwsKmsKeyring, DiscoveryFilter};
#[cfg(feature = "kms")]
pub use kms_root::KmsRootKey;
pub use multi::MultiKeyring;
pub use raw_aes::RawAesKeyring;
pub use raw_rsa::RawRsaKeyring;

use crate::error::Result;
use crate::format::EncryptedDataKey;
use crate::materials::{DecryptionMaterials, EncryptionMaterials};
use std::fmt;
use std::future::Future;
use std::pin::Pin;

/// Boxed future, so the traits stay dyn-compatible without a proc-macro.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A source of data keys.
pub trait Keyring: Send + Sync + fmt::Debug {
    /// Generates the data key if the materials have none, then adds at least one
    /// encrypted data key. Consumes and returns the materials, so a failing keyring
    /// cannot leave them half-modified.
    fn on_encrypt<'a>(
        &'a self,
        materials: EncryptionMaterials,
    ) -> BoxFuture<'a, Result<EncryptionMaterials>>;

    /// Recovers the data key from one of `edks`. On failure returns
    /// [`crate::Error::Unwrap`] listing each key tried and why.
    fn on_decrypt<'a>(
        &'a self,
        materials: DecryptionMaterials,
        edks: &'a [EncryptedDataKey],
    ) -> BoxFuture<'a, Result<DecryptionMaterials>>;
}

impl std::str::FromStr for RsaPadding {
    type Err = crate::Error;

    fn from_str(s: &str) -> Result<Self> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "pkcs1" => Self::Pkcs1,
            "oaep-sha1" => Self::OaepSha1,
            "oaep-sha256" => Self::OaepSha256,
            "oaep-sha384" => Self::OaepSha384,
            "oaep-sha512" => Self::OaepSha512,
            _ => {
                return Err(crate::Error::ApiMisuse(format!(
                    "unknown RSA padding {s:?}: use pkcs1, oaep-sha1, oaep-sha256, oaep-sha384 or oaep-sha512"
                )));
            }
        })
    }
}

/// Generates a random data key for the materials' suite if they have none.
pub(crate) fn ensure_data_key(m: EncryptionMaterials) -> Result<EncryptionMaterials> {
    if m.data_key().is_some() {
        return Ok(m);
    }
    let mut key = zeroize::Zeroizing::new(vec![0u8; m.suite().data_key_len()]);
    crate::primitives::fill_random(&mut key)?;
    m.with_data_key(crate::secret::DataKey::new(key))
}
