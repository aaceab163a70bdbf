//! PKCS#11 tokens for the CLI (feature `pkcs11`): opening the token a `pkcs11:` URI names
//! (module from `module-path`, else `COFFER_PKCS11_MODULE`; PIN from `pin-source=file:`,
//! `pin-value`, else the file `COFFER_PKCS11_PIN_FILE` names, else no login), keys on it as
//! keyrings and as the root key, and new keys made on it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use coffer_core::keyring::pkcs11::{
    KeyObject, OaepHash, Pkcs11Keyring, Pkcs11RootKey, Pkcs11Token,
};
use coffer_core::keyring::{Keyring, RootKey};
use zeroize::Zeroizing;

use crate::error::Error;
use crate::keyref::{PinSource, Pkcs11KeyRef};

/// The module a URI names: `module-path`, else `COFFER_PKCS11_MODULE`. `what` names
/// the key for the error (`key`, `the root key`).
///
/// # Errors
/// Neither is set.
pub fn module(k: &Pkcs11KeyRef, what: &str) -> Result<PathBuf, Error> {
    k.module
        .clone()
        .or_else(|| {
            std::env::var_os("COFFER_PKCS11_MODULE")
                .filter(|m| !m.is_empty())
                .map(Into::into)
        })
        .ok_or_else(|| {
            Error::invalid(format!(
                "{what} pkcs11:{}: no PKCS#11 module: add ?module-path=PATH to the URI or set \
                 COFFER_PKCS11_MODULE",
                k.path()
            ))
        })
}

/// The largest PIN file: PKCS#11 tokens take PINs of at most a few hundred bytes (SoftHSM2:
/// 255); the rest is margin.
pub const MAX_PIN_FILE: usize = 1024;

fn read_pin(path: &Path) -> Result<Zeroizing<String>, Error> {
    let cannot = |e: crate::error::BoxError| {
        Error::backend(format!("cannot read the PIN file {}", path.display())).caused_by(e)
    };
    let bytes = crate::smallfile::read(path, "PIN file", MAX_PIN_FILE).map_err(|e| match e {
        crate::smallfile::ReadError::Io(e) => cannot(e.into()),
        crate::smallfile::ReadError::TooLarge(t) => Error::backend(t.to_string()),
    })?;
    let mut pin = Zeroizing::new(String::new());
    match std::str::from_utf8(&bytes) {
        Ok(text) => pin.push_str(text),
        Err(e) => return Err(cannot(e.into())),
    }
    if pin.ends_with('\n') {
        pin.pop();
    }
    Ok(pin)
}

/// The PIN a URI names, if any.
fn pin(k: &Pkcs11KeyRef) -> Result<Option<Zeroizing<String>>, Error> {
    match &k.pin {
        PinSource::File(p) => read_pin(p).map(Some),
        PinSource::Value(v) => Ok(Some(v.clone())),
        PinSource::Env => std::env::var_os("COFFER_PKCS11_PIN_FILE")
            .filter(|p| !p.is_empty())
            .map(|p| read_pin(Path::new(&p)))
            .transpose(),
    }
}

/// Opens the token `k` names (the module is loaded once per process); `what` as in
/// [`module`].
///
/// # Errors
/// No module; an unreadable PIN file; the module cannot be loaded; no such token.
pub fn token(k: &Pkcs11KeyRef, what: &str) -> Result<Arc<Pkcs11Token>, Error> {
    let module = module(k, what)?;
    Ok(Pkcs11Token::open(&module, &k.token, pin(k)?)?)
}

/// The key object a URI names.
#[must_use]
pub fn object(k: &Pkcs11KeyRef) -> KeyObject {
    KeyObject {
        label: k.object.clone(),
        id: k.id.clone(),
    }
}

/// The key `k` names, as a keyring (an AES key or an RSA key pair).
///
/// # Errors
/// As [`token`]; no such key.
pub fn keyring(k: &Pkcs11KeyRef, named: &str) -> Result<Arc<dyn Keyring>, Error> {
    let hash = match k.oaep.as_str() {
        "sha256" => OaepHash::Sha256,
        "sha384" => OaepHash::Sha384,
        "sha512" => OaepHash::Sha512,
        _ => OaepHash::Sha1,
    };
    Ok(Arc::new(Pkcs11Keyring::new(
        token(k, named)?,
        object(k),
        hash,
    )?))
}

/// The AES key `k` names as the root of the key hierarchy.
///
/// # Errors
/// As [`token`]; no such AES key.
pub fn root_key(k: &Pkcs11KeyRef) -> Result<Arc<dyn RootKey>, Error> {
    Ok(Arc::new(Pkcs11RootKey::new(
        token(k, "the root key")?,
        &object(k),
    )?))
}

/// A PKCS#11 root key, tried (a wrap and an unwrap in the token) before anything records it,
/// and the URI its root key file records: the module path resolved, never a PIN value.
///
/// # Errors
/// As [`root_key`]; `pin-value` in the URI (it would be written to the file); the key does
/// not wrap and unwrap.
pub async fn new_root(k: &Pkcs11KeyRef) -> Result<(Arc<dyn RootKey>, String), Error> {
    k.check_recordable()
        .map_err(|e| Error::invalid(e.to_string()))?;
    let uri = k.to_uri(Some(&module(k, "the root key")?));
    let root = root_key(k)?;
    let probe = [0u8; 32];
    let aad = b"coffer: does this root key wrap and unwrap?";
    let wrapped = root.wrap(&probe, aad).await?;
    if root.unwrap(&wrapped, aad).await?.as_slice() != probe {
        return Err(Error::backend(format!(
            "{}: the key did not give back what it wrapped",
            root.id()
        )));
    }
    Ok((root, uri))
}

/// Makes the AES key `name` on the token `k` names: sensitive, not extractable, encrypt and
/// decrypt only. Returns the URI that names it.
///
/// # Errors
/// As [`token`]; a key named so exists; no PIN.
pub fn create_key(name: &str, k: &Pkcs11KeyRef) -> Result<String, Error> {
    if k.object.as_deref().is_some_and(|o| o != name) || k.id.is_some() {
        return Err(Error::invalid(format!(
            "new key pkcs11:{}: name the token only; the key is labelled {name}",
            k.path()
        )));
    }
    let token = token(k, "new key")?;
    token.generate_aes_key(name)?;
    let named = Pkcs11KeyRef {
        object: Some(name.to_owned()),
        id: None,
        pin: match &k.pin {
            PinSource::Value(_) => PinSource::Env,
            other => other.clone(),
        },
        ..k.clone()
    };
    Ok(named.to_uri(None))
}
