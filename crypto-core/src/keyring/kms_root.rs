//! An AWS KMS key as the root of a key hierarchy (feature `kms`): branch key versions are
//! wrapped with KMS `Encrypt` and unwrapped with `Decrypt` naming the key, their row bound as
//! the KMS encryption context (`coffer:branch-key` = base64 of the authenticated data), so KMS
//! refuses a wrapped version moved to another row. The answer of `Decrypt` is checked: it
//! must come from the root key itself.

use std::collections::HashMap;
use std::fmt;

use aws_sdk_kms::Client;
use aws_sdk_kms::error::DisplayErrorContext;
use aws_sdk_kms::primitives::Blob;
use base64::Engine as _;
use zeroize::Zeroizing;

use super::BoxFuture;
use super::hierarchy::RootKey;
use super::kms::same_key;
use crate::error::{Error, Result};

/// The encryption context key that binds a wrapped branch key to its row.
pub const ROOT_CONTEXT_KEY: &str = "coffer:branch-key";

/// An AWS KMS key as a [`RootKey`]: KMS is called once per branch key version a process
/// unwraps (the branch key store caches what it unwrapped).
pub struct KmsRootKey {
    client: Client,
    arn: String,
}

/// The key only: the client's configuration (credentials providers, endpoints) is not shown.
impl fmt::Debug for KmsRootKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KmsRootKey")
            .field("arn", &self.arn)
            .finish_non_exhaustive()
    }
}

impl KmsRootKey {
    /// The root key `arn` (a key ARN: its id, `kms:ARN`, is what a store records), called
    /// through `client`.
    #[must_use]
    pub fn new(client: Client, arn: impl Into<String>) -> Self {
        Self {
            client,
            arn: arn.into(),
        }
    }

    fn context(aad: &[u8]) -> HashMap<String, String> {
        std::iter::once((
            ROOT_CONTEXT_KEY.to_owned(),
            base64::engine::general_purpose::STANDARD.encode(aad),
        ))
        .collect()
    }
}

impl RootKey for KmsRootKey {
    fn id(&self) -> String {
        format!("kms:{}", self.arn)
    }

    fn wrap<'a>(&'a self, key: &'a [u8], aad: &'a [u8]) -> BoxFuture<'a, Result<Vec<u8>>> {
        Box::pin(async move {
            let out = self
                .client
                .encrypt()
                .key_id(&self.arn)
                .plaintext(Blob::new(key.to_vec()))
                .set_encryption_context(Some(Self::context(aad)))
                .send()
                .await
                .map_err(|e| {
                    Error::Key(format!(
                        "AWS KMS Encrypt with the root key {}: {}",
                        self.arn,
                        DisplayErrorContext(&e)
                    ))
                })?;
            out.ciphertext_blob()
                .map(|b| b.as_ref().to_vec())
                .filter(|c| !c.is_empty())
                .ok_or_else(|| Error::Key("AWS KMS Encrypt returned no ciphertext".into()))
        })
    }

    fn unwrap<'a>(
        &'a self,
        wrapped: &'a [u8],
        aad: &'a [u8],
    ) -> BoxFuture<'a, Result<Zeroizing<Vec<u8>>>> {
        Box::pin(async move {
            let out = self
                .client
                .decrypt()
                .key_id(&self.arn)
                .ciphertext_blob(Blob::new(wrapped.to_vec()))
                .set_encryption_context(Some(Self::context(aad)))
                .send()
                .await
                .map_err(|e| {
                    Error::Key(format!(
                        "AWS KMS Decrypt with the root key {}: {}",
                        self.arn,
                        DisplayErrorContext(&e)
                    ))
                })?;
            let used = out.key_id().unwrap_or_default();
            if !same_key(used, &self.arn) {
                return Err(Error::Key(format!(
                    "AWS KMS decrypted with {used}, not the root key {}",
                    self.arn
                )));
            }
            Ok(Zeroizing::new(
                out.plaintext()
                    .map(|b| b.as_ref().to_vec())
                    .unwrap_or_default(),
            ))
        })
    }
}
