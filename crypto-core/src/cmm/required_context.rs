//! The required-encryption-context materials manager.

use super::{BoxFuture, DecryptionRequest, EncryptionRequest, MaterialsManager};
use crate::error::{Error, Result};
use crate::materials::{DecryptionMaterials, EncryptionMaterials};
use std::sync::Arc;

/// Marks context keys as required: they are authenticated but not stored in the message,
/// and decryption must be given them again (the reproduced context).
#[derive(Debug, Clone)]
pub struct RequiredContextCmm {
    inner: Arc<dyn MaterialsManager>,
    required_keys: Vec<String>,
}

impl RequiredContextCmm {
    /// Wraps `inner`, requiring `required_keys`.
    ///
    /// # Errors
    /// [`Error::ApiMisuse`] if `required_keys` is empty.
    pub fn new(inner: Arc<dyn MaterialsManager>, required_keys: Vec<String>) -> Result<Self> {
        if required_keys.is_empty() {
            return Err(Error::ApiMisuse(
                "required-context CMM needs at least one key".into(),
            ));
        }
        Ok(Self {
            inner,
            required_keys,
        })
    }

    async fn encrypt(&self, mut req: EncryptionRequest) -> Result<EncryptionMaterials> {
        for k in &self.required_keys {
            if !req.context.contains_key(k) {
                return Err(Error::Context(format!("required key {k:?} is missing")));
            }
            if !req.required_keys.contains(k) {
                req.required_keys.push(k.clone());
            }
        }
        let m = self.inner.get_encryption_materials(req).await?;
        if let Some(k) = self
            .required_keys
            .iter()
            .find(|k| !m.required_keys().contains(k))
        {
            return Err(Error::Context(format!(
                "materials dropped required key {k:?}"
            )));
        }
        Ok(m)
    }

    async fn decrypt(&self, req: DecryptionRequest) -> Result<DecryptionMaterials> {
        let reproduced = req.reproduced_context.as_ref().ok_or_else(|| {
            Error::Context("decryption needs the required encryption context".into())
        })?;
        if let Some(k) = self
            .required_keys
            .iter()
            .find(|k| !reproduced.contains_key(k))
        {
            return Err(Error::Context(format!("required key {k:?} was not given")));
        }
        let m = self.inner.decrypt_materials(req).await?;
        if let Some(k) = self
            .required_keys
            .iter()
            .find(|k| !m.context().contains_key(k))
        {
            return Err(Error::Context(format!("materials lack required key {k:?}")));
        }
        Ok(m)
    }
}

impl MaterialsManager for RequiredContextCmm {
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
