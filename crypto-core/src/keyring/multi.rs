//! The multi-keyring: a generator plus children.

use super::{BoxFuture, Keyring};
use crate::error::{Error, Result, UnwrapReport};
use crate::format::EncryptedDataKey;
use crate::materials::{DecryptionMaterials, EncryptionMaterials};
use std::sync::Arc;

/// Combines keyrings: the generator makes the data key, every child wraps it too; on
/// decrypt, the first keyring that recovers the key wins and every failure is reported.
#[derive(Debug, Clone)]
pub struct MultiKeyring {
    generator: Option<Arc<dyn Keyring>>,
    children: Vec<Arc<dyn Keyring>>,
}

impl MultiKeyring {
    /// A multi-keyring. Without a generator, at least one child is needed.
    ///
    /// # Errors
    /// [`Error::ApiMisuse`] if there is neither a generator nor a child.
    pub fn new(
        generator: Option<Arc<dyn Keyring>>,
        children: Vec<Arc<dyn Keyring>>,
    ) -> Result<Self> {
        if generator.is_none() && children.is_empty() {
            return Err(Error::ApiMisuse(
                "multi-keyring needs a generator or a child".into(),
            ));
        }
        Ok(Self {
            generator,
            children,
        })
    }
}

impl Keyring for MultiKeyring {
    fn on_encrypt<'a>(
        &'a self,
        materials: EncryptionMaterials,
    ) -> BoxFuture<'a, Result<EncryptionMaterials>> {
        Box::pin(async move {
            let mut m = materials;
            match &self.generator {
                Some(g) => {
                    if m.data_key().is_some() {
                        return Err(Error::ApiMisuse(
                            "multi-keyring generator given materials that already have a data key"
                                .into(),
                        ));
                    }
                    m = g.on_encrypt(m).await?;
                }
                None => {
                    if m.data_key().is_none() {
                        return Err(Error::ApiMisuse(
                            "multi-keyring without a generator needs an existing data key".into(),
                        ));
                    }
                }
            }
            for child in &self.children {
                m = child.on_encrypt(m).await?;
            }
            Ok(m)
        })
    }

    fn on_decrypt<'a>(
        &'a self,
        materials: DecryptionMaterials,
        edks: &'a [EncryptedDataKey],
    ) -> BoxFuture<'a, Result<DecryptionMaterials>> {
        Box::pin(async move {
            if materials.data_key().is_some() {
                return Ok(materials);
            }
            let mut report = UnwrapReport::default();
            // Keyrings consume the materials, so each attempt works on a copy (copies share
            // the message's budget of unwrap attempts).
            for k in self.generator.iter().chain(self.children.iter()) {
                match k.on_decrypt(materials.clone(), edks).await {
                    Ok(m) => return Ok(m),
                    Err(Error::Unwrap(r)) => report.extend(r),
                    Err(e) => {
                        let reason = e.to_string();
                        report.push_cause(format!("{k:?}"), reason, e);
                    }
                }
            }
            Err(Error::Unwrap(report))
        })
    }
}
