//! The default materials manager: a keyring plus the signature-key rules.

use super::{BoxFuture, DecryptionRequest, EncryptionRequest, MaterialsManager};
use crate::context::PUBLIC_KEY_FIELD;
use crate::error::{Error, Result};
use crate::keyring::Keyring;
use crate::materials::{DecryptionMaterials, EncryptionMaterials};
use crate::primitives::{SigningKey, VerificationKey};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use std::sync::Arc;

/// Calls a keyring; adds the signing key for signing suites; checks the commitment policy.
#[derive(Debug, Clone)]
pub struct DefaultCmm {
    keyring: Arc<dyn Keyring>,
}

impl DefaultCmm {
    /// A materials manager over `keyring`.
    #[must_use]
    pub fn new(keyring: Arc<dyn Keyring>) -> Self {
        Self { keyring }
    }

    async fn encrypt(&self, req: EncryptionRequest) -> Result<EncryptionMaterials> {
        let suite = req
            .suite
            .unwrap_or_else(|| req.commitment_policy.default_suite());
        req.commitment_policy.check_encrypt(suite)?;
        if req.context.contains_key(PUBLIC_KEY_FIELD) {
            return Err(Error::Context(format!("{PUBLIC_KEY_FIELD} is reserved")));
        }
        let mut m = EncryptionMaterials::new(suite, req.context);
        if let Some(alg) = suite.signature() {
            let key = SigningKey::generate(alg)?;
            let public = B64.encode(key.public_key_compressed()?);
            m.context_mut().insert(PUBLIC_KEY_FIELD, public);
            m.set_signing_key(key);
        }
        let m = m.with_required_keys(req.required_keys)?;
        let m = self.keyring.on_encrypt(m).await?;
        if m.data_key().is_none() || m.edks().is_empty() {
            return Err(Error::ApiMisuse(
                "keyring returned no data key or no encrypted data key".into(),
            ));
        }
        Ok(m)
    }

    async fn decrypt(&self, req: DecryptionRequest) -> Result<DecryptionMaterials> {
        req.commitment_policy.check_decrypt(req.suite)?;
        let mut context = req.context;
        let mut required = Vec::new();
        if let Some(reproduced) = &req.reproduced_context {
            for (k, v) in reproduced.iter() {
                match context.get(k) {
                    Some(stored) if stored == v => {}
                    Some(_) => {
                        return Err(Error::Context(format!(
                            "the message's value for {k:?} differs from the expected one"
                        )));
                    }
                    None => {
                        context.insert(k, v);
                        required.push(k.to_owned());
                    }
                }
            }
        }
        let verification = match req.suite.signature() {
            Some(alg) => {
                let text = context.get(PUBLIC_KEY_FIELD).ok_or_else(|| {
                    Error::Malformed(format!("signed message without {PUBLIC_KEY_FIELD}"))
                })?;
                let point = B64
                    .decode(text)
                    .map_err(|_| Error::Malformed(format!("{PUBLIC_KEY_FIELD} is not base64")))?;
                Some(VerificationKey::from_sec1(alg, &point)?)
            }
            None => {
                if context.contains_key(PUBLIC_KEY_FIELD) {
                    return Err(Error::Malformed(format!(
                        "unsigned suite carrying {PUBLIC_KEY_FIELD}"
                    )));
                }
                None
            }
        };
        let m = DecryptionMaterials::new(req.suite, context)
            .with_required_keys(required)?
            .with_unwrap_limit(req.max_unwrap_attempts);
        let mut m = self.keyring.on_decrypt(m, &req.edks).await?;
        if m.data_key().is_none() {
            return Err(Error::ApiMisuse("keyring returned no data key".into()));
        }
        if let Some(v) = verification {
            m.set_verification_key(v);
        }
        Ok(m)
    }
}

impl MaterialsManager for DefaultCmm {
    fn get_encryption_materials(
        &self,
        request: EncryptionRequest,
    ) -> BoxFuture<'_, Result<EncryptionMaterials>> {
        Box::pin(self.encrypt(request))
    }

    fn decrypt_materials(
        &self,
        request: DecryptionRequest,
    ) -> BoxFuture<'_, Result<DecryptionMaterials>> {
        Box::pin(self.decrypt(request))
    }
}
