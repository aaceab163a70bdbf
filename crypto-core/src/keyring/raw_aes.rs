//! The raw AES keyring (ESDK layout: provider id = namespace, provider info = name ‖ tag bits ‖ IV len ‖ IV).

use super::{BoxFuture, Keyring, ensure_data_key};
use crate::error::{Error, Result, UnwrapReport};
use crate::format::EncryptedDataKey;
use crate::materials::{DecryptionMaterials, EncryptionMaterials};
use crate::primitives::{self, GcmKey, IV_LEN, TAG_LEN};
use std::fmt;

const TAG_BITS: u32 = 128;

/// Wraps data keys with a local AES-GCM key.
pub struct RawAesKeyring {
    namespace: String,
    name: String,
    key: GcmKey,
    key_bits: usize,
}

impl fmt::Debug for RawAesKeyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawAesKeyring")
            .field("namespace", &self.namespace)
            .field("name", &self.name)
            .field("key_bits", &self.key_bits)
            .finish_non_exhaustive()
    }
}

impl RawAesKeyring {
    /// A keyring for a 16-, 24- or 32-byte wrapping key.
    ///
    /// # Errors
    /// [`Error::Key`] for another key length or an empty namespace or name.
    pub fn new(namespace: &str, name: &str, key: &[u8]) -> Result<Self> {
        if namespace.is_empty() || name.is_empty() {
            return Err(Error::Key(
                "raw AES keyring needs a namespace and a key name".into(),
            ));
        }
        if namespace.starts_with("aws-kms") {
            return Err(Error::Key(
                "key namespaces starting with aws-kms are reserved".into(),
            ));
        }
        Ok(Self {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            key: GcmKey::new(key)?,
            key_bits: key.len() * 8,
        })
    }

    fn label(&self) -> String {
        format!("raw-aes {}/{}", self.namespace, self.name)
    }

    fn wrap(&self, m: EncryptionMaterials) -> Result<EncryptionMaterials> {
        let m = ensure_data_key(m)?;
        let aad = m.context().serialize()?;
        let mut iv = [0u8; IV_LEN];
        primitives::fill_random(&mut iv)?;
        let data_key = m
            .data_key()
            .ok_or_else(|| Error::ApiMisuse("no data key".into()))?;
        let mut ciphertext = Vec::with_capacity(data_key.len() + TAG_LEN);
        ciphertext.extend_from_slice(data_key.expose_secret());
        let tag = self.key.seal_in_place(&iv, &aad, &mut ciphertext)?;
        ciphertext.extend_from_slice(&tag);
        let mut info = Vec::with_capacity(self.name.len() + 8 + IV_LEN);
        info.extend_from_slice(self.name.as_bytes());
        info.extend_from_slice(&TAG_BITS.to_be_bytes());
        info.extend_from_slice(&12u32.to_be_bytes());
        info.extend_from_slice(&iv);
        m.with_edk(EncryptedDataKey {
            provider_id: self.namespace.clone(),
            provider_info: info,
            ciphertext,
        })
    }

    fn unwrap_key(
        &self,
        m: DecryptionMaterials,
        edks: &[EncryptedDataKey],
    ) -> Result<DecryptionMaterials> {
        if m.data_key().is_some() {
            return Ok(m);
        }
        let mut report = UnwrapReport::default();
        let aad = m.context().serialize()?;
        let want_len = m.suite().data_key_len() + TAG_LEN;
        for (i, edk) in edks.iter().enumerate() {
            let Some(iv) = self.matches(edk) else {
                report.push(
                    self.label(),
                    format!("data key #{}: not wrapped by this key", i + 1),
                );
                continue;
            };
            if edk.ciphertext.len() != want_len {
                report.push(self.label(), format!("data key #{}: wrong length", i + 1));
                continue;
            }
            if !m.take_unwrap_attempt(&mut report) {
                continue;
            }
            let mut buf = zeroize::Zeroizing::new(edk.ciphertext.clone());
            match self.key.open_in_place(&iv, &aad, &mut buf) {
                Ok(pt) => {
                    let key = crate::secret::DataKey::from_slice(pt);
                    return m.with_data_key(key);
                }
                Err(_) => report.push(
                    self.label(),
                    format!(
                        "data key #{}: authentication failed (wrong key material or encryption context)",
                        i + 1
                    ),
                ),
            }
        }
        if edks.is_empty() {
            report.push(self.label(), "message has no encrypted data keys");
        }
        Err(Error::Unwrap(report))
    }

    /// Returns the IV if `edk` is addressed to this key.
    fn matches(&self, edk: &EncryptedDataKey) -> Option<[u8; IV_LEN]> {
        if edk.provider_id != self.namespace {
            return None;
        }
        let info = &edk.provider_info;
        let name = self.name.as_bytes();
        if info.len() != name.len() + 8 + IV_LEN || !info.starts_with(name) {
            return None;
        }
        let rest = &info[name.len()..];
        if rest[..4] != TAG_BITS.to_be_bytes() || rest[4..8] != 12u32.to_be_bytes() {
            return None;
        }
        let mut iv = [0u8; IV_LEN];
        iv.copy_from_slice(&rest[8..]);
        Some(iv)
    }
}

impl Keyring for RawAesKeyring {
    fn on_encrypt<'a>(
        &'a self,
        materials: EncryptionMaterials,
    ) -> BoxFuture<'a, Result<EncryptionMaterials>> {
        Box::pin(std::future::ready(self.wrap(materials)))
    }

    fn on_decrypt<'a>(
        &'a self,
        materials: DecryptionMaterials,
        edks: &'a [EncryptedDataKey],
    ) -> BoxFuture<'a, Result<DecryptionMaterials>> {
        Box::pin(std::future::ready(self.unwrap_key(materials, edks)))
    }
}
