//! Turning key references into keyrings.

use std::sync::Arc;

use anyhow::Context as _;
use coffer_core::keyring::{Keyring, MultiKeyring, RawAesKeyring, RawRsaKeyring, RsaPadding};

use crate::keyref::{self, KeyRef, Padding, PemKind, Purpose};

fn padding(p: Padding) -> RsaPadding {
    match p {
        Padding::Pkcs1 => RsaPadding::Pkcs1,
        Padding::OaepSha1 => RsaPadding::OaepSha1,
        Padding::OaepSha256 => RsaPadding::OaepSha256,
        Padding::OaepSha384 => RsaPadding::OaepSha384,
        Padding::OaepSha512 => RsaPadding::OaepSha512,
    }
}

/// Loads one key as a keyring.
pub fn keyring(key: &KeyRef, purpose: Purpose) -> anyhow::Result<Arc<dyn Keyring>> {
    let ring: Arc<dyn Keyring> = match key {
        KeyRef::Aes(k) => {
            let material = keyref::read_aes_key(&k.path)?;
            Arc::new(
                RawAesKeyring::new(&k.namespace, &k.name, &material)
                    .with_context(|| format!("key file {}", k.path.display()))?,
            )
        }
        KeyRef::Rsa(k) => {
            let (pem, kind) = keyref::read_rsa_pem(&k.path, purpose, false)?;
            let (public, private) = match kind {
                PemKind::Public => (Some(pem.as_slice()), None),
                PemKind::Private => (None, Some(pem.as_slice())),
            };
            Arc::new(
                RawRsaKeyring::new(&k.namespace, &k.name, padding(k.padding), public, private)
                    .with_context(|| format!("key file {}", k.path.display()))?,
            )
        }
    };
    tracing::debug!(key = %key, ?purpose, "keyring loaded");
    Ok(ring)
}

/// Loads every key: one key is used as it is; several become a multi-keyring whose generator
/// is the first key on encrypt, and whose children all may unwrap on decrypt.
pub fn keyrings(keys: &[KeyRef], purpose: Purpose) -> anyhow::Result<Arc<dyn Keyring>> {
    let mut rings = keys
        .iter()
        .map(|k| keyring(k, purpose))
        .collect::<anyhow::Result<Vec<_>>>()?;
    if rings.len() == 1 {
        if let Some(one) = rings.pop() {
            return Ok(one);
        }
    }
    let multi = match purpose {
        Purpose::Encrypt => {
            let generator = (!rings.is_empty()).then(|| rings.remove(0));
            MultiKeyring::new(generator, rings)
        }
        Purpose::Decrypt => MultiKeyring::new(None, rings),
    }
    .context("cannot combine the keys")?;
    Ok(Arc::new(multi))
}
