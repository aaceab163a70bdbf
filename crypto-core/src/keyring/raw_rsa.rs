//! The raw RSA keyring (provider id = namespace, provider info = key name).

use super::{BoxFuture, Keyring, ensure_data_key};
use crate::error::{Error, Result, UnwrapReport};
use crate::format::EncryptedDataKey;
use crate::materials::{DecryptionMaterials, EncryptionMaterials};
use crate::primitives::{RsaPadding, RsaPrivateKey, RsaPublicKey};
use std::fmt;

/// Wraps data keys with an RSA public key and unwraps them with the private key.
pub struct RawRsaKeyring {
    namespace: String,
    name: String,
    padding: RsaPadding,
    public: Option<RsaPublicKey>,
    private: Option<RsaPrivateKey>,
}

impl fmt::Debug for RawRsaKeyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawRsaKeyring")
            .field("namespace", &self.namespace)
            .field("name", &self.name)
            .field("padding", &self.padding)
            .field("can_encrypt", &self.public.is_some())
            .field("can_decrypt", &self.private.is_some())
            .finish_non_exhaustive()
    }
}

fn pem_der(pem_text: &[u8], want: &[&str]) -> Result<zeroize::Zeroizing<Vec<u8>>> {
    let p = pem::parse(pem_text).map_err(|e| Error::Key(format!("not a PEM file: {e}")))?;
    if !want.contains(&p.tag()) {
        return Err(Error::Key(format!(
            "PEM block is {:?}, expected {}",
            p.tag(),
            want.join(" or ")
        )));
    }
    Ok(zeroize::Zeroizing::new(p.into_contents()))
}

impl RawRsaKeyring {
    /// A keyring from PEM keys: the public key (SPKI, `PUBLIC KEY`) to encrypt, the private
    /// key (PKCS#8, `PRIVATE KEY`) to decrypt. At least one is needed. The public key is
    /// never derived from the private key.
    ///
    /// # Errors
    /// [`Error::Key`] if a key does not parse or neither is given.
    pub fn new(
        namespace: &str,
        name: &str,
        padding: RsaPadding,
        public_pem: Option<&[u8]>,
        private_pem: Option<&[u8]>,
    ) -> Result<Self> {
        if namespace.is_empty() || name.is_empty() {
            return Err(Error::Key(
                "raw RSA keyring needs a namespace and a key name".into(),
            ));
        }
        if namespace.starts_with("aws-kms") {
            return Err(Error::Key(
                "key namespaces starting with aws-kms are reserved".into(),
            ));
        }
        if public_pem.is_none() && private_pem.is_none() {
            return Err(Error::Key(
                "raw RSA keyring needs a public or a private key".into(),
            ));
        }
        let public = public_pem
            .map(|p| pem_der(p, &["PUBLIC KEY"]).and_then(|d| RsaPublicKey::from_spki_der(&d)))
            .transpose()?;
        let private = private_pem
            .map(|p| pem_der(p, &["PRIVATE KEY"]).and_then(|d| RsaPrivateKey::from_pkcs8_der(&d)))
            .transpose()?;
        Ok(Self {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            padding,
            public,
            private,
        })
    }

    fn label(&self) -> String {
        format!("raw-rsa {}/{}", self.namespace, self.name)
    }

    fn wrap(&self, m: EncryptionMaterials) -> Result<EncryptionMaterials> {
        let public = self.public.as_ref().ok_or_else(|| {
            Error::Key(format!(
                "{}: encrypting needs the RSA public key",
                self.label()
            ))
        })?;
        let m = ensure_data_key(m)?;
        let data_key = m
            .data_key()
            .ok_or_else(|| Error::ApiMisuse("no data key".into()))?;
        let ciphertext = public.encrypt(self.padding, data_key.expose_secret())?;
        m.with_edk(EncryptedDataKey {
            provider_id: self.namespace.clone(),
            provider_info: self.name.as_bytes().to_vec(),
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
        let Some(private) = self.private.as_ref() else {
            report.push(self.label(), "decrypting needs the RSA private key");
            return Err(Error::Unwrap(report));
        };
        for (i, edk) in edks.iter().enumerate() {
            if edk.provider_id != self.namespace || edk.provider_info != self.name.as_bytes() {
                report.push(
                    self.label(),
                    format!("data key #{}: not wrapped by this key", i + 1),
                );
                continue;
            }
            if !m.take_unwrap_attempt(&mut report) {
                continue;
            }
            match private.decrypt(self.padding, &edk.ciphertext) {
                Ok(key) if key.len() == m.suite().data_key_len() => return m.with_data_key(key),
                Ok(_) => report.push(self.label(), format!("data key #{}: wrong length", i + 1)),
                Err(_) => report.push(
                    self.label(),
                    format!(
                        "data key #{}: RSA decryption failed (wrong key or padding)",
                        i + 1
                    ),
                ),
            }
        }
        Err(Error::Unwrap(report))
    }
}

impl Keyring for RawRsaKeyring {
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
