//! Turning key references into keyrings.

use std::sync::Arc;

use coffer_core::keyring::{
    HierarchicalKeyring, Keyring, MultiKeyring, RawAesKeyring, RawRsaKeyring, RsaPadding,
};

use crate::error::{Advice, Error};
use crate::home::Home;
use crate::keyref::{self, KeyRef, Padding, PemKind, Purpose};
use crate::store::{LocalKeyStore, PassphraseSource};

/// The local key store, opened (root key loaded, passphrase asked) on first use only.
#[derive(Debug)]
pub struct LocalKeys<F> {
    home: Option<F>,
    passphrase: PassphraseSource,
    store: Option<Arc<LocalKeyStore>>,
}

impl<F: FnOnce() -> Result<Home, Error>> LocalKeys<F> {
    /// Local keys of the home that `home` resolves, its root key unlocked with `passphrase`.
    pub fn new(home: F, passphrase: PassphraseSource) -> Self {
        Self {
            home: Some(home),
            passphrase,
            store: None,
        }
    }

    /// The store, opened now if it is not yet.
    ///
    /// # Errors
    /// No home or store; a missing, damaged or locked root key.
    pub fn store(&mut self) -> Result<Arc<LocalKeyStore>, Error> {
        if let Some(s) = &self.store {
            return Ok(s.clone());
        }
        let home = self
            .home
            .take()
            .ok_or_else(|| Error::backend("the local key store could not be opened"))?(
        )?;
        let store = Arc::new(open_local(&home, &self.passphrase)?);
        self.store = Some(store.clone());
        Ok(store)
    }
}

fn padding(p: Padding) -> RsaPadding {
    match p {
        Padding::Pkcs1 => RsaPadding::Pkcs1,
        Padding::OaepSha1 => RsaPadding::OaepSha1,
        Padding::OaepSha256 => RsaPadding::OaepSha256,
        Padding::OaepSha384 => RsaPadding::OaepSha384,
        Padding::OaepSha512 => RsaPadding::OaepSha512,
    }
}

/// Loads one key as a keyring. `named` says where the key was named, for messages (`key`,
/// or the option of a front end).
pub fn keyring<F: FnOnce() -> Result<Home, Error>>(
    key: &KeyRef,
    purpose: Purpose,
    local: &mut LocalKeys<F>,
    named: &str,
) -> Result<Arc<dyn Keyring>, Error> {
    let ring: Arc<dyn Keyring> = match key {
        KeyRef::Aes(k) => {
            let material = keyref::read_aes_key(&k.path)?;
            Arc::new(
                RawAesKeyring::new(&k.namespace, &k.name, &material).map_err(|e| {
                    Error::backend(format!("key file {}", k.path.display())).caused_by(e)
                })?,
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
                    .map_err(|e| {
                        Error::backend(format!("key file {}", k.path.display())).caused_by(e)
                    })?,
            )
        }
        KeyRef::Local(k) => Arc::new(HierarchicalKeyring::new(local.store()?, &k.name)),
        KeyRef::KmsDiscovery { .. } if purpose == Purpose::Encrypt => {
            return Err(Error::invalid(format!(
                "{named} {key}: a discovery keyring only decrypts"
            ))
            .advice(Advice::NameKmsKey));
        }
        #[cfg(feature = "kms")]
        KeyRef::Kms(k) => Arc::new(crate::kms::LazyKms::key(k)),
        #[cfg(feature = "kms")]
        KeyRef::KmsDiscovery { filter } => Arc::new(crate::kms::LazyKms::discovery(filter.clone())),
        #[cfg(feature = "pkcs11")]
        KeyRef::Pkcs11(k) => crate::hsm::keyring(k, named)?,
        #[cfg(not(feature = "pkcs11"))]
        KeyRef::Pkcs11(_) => {
            return Err(Error::unsupported(format!(
                "{named} {key}: this build has no PKCS#11 support"
            )));
        }
        #[cfg(not(feature = "kms"))]
        KeyRef::Kms(_) | KeyRef::KmsDiscovery { .. } => {
            return Err(Error::unsupported(format!(
                "{named} {key}: this build has no AWS KMS support"
            )));
        }
    };
    tracing::debug!(key = %key, ?purpose, "keyring loaded");
    Ok(ring)
}

/// The keyring of a key on a PKCS#11 token: the module from the URI or
/// `COFFER_PKCS11_MODULE`, the PIN from `pin-source`, `pin-value` or the file named by
/// `COFFER_PKCS11_PIN_FILE`.
/// Loads every key: one key is used as it is; several become a multi-keyring whose generator
/// is the first key on encrypt, and whose children all may unwrap on decrypt.
///
/// The local store is opened only if a key is a local one, and once; `named` as in
/// [`keyring`].
pub fn keyrings<F: FnOnce() -> Result<Home, Error>>(
    keys: &[KeyRef],
    purpose: Purpose,
    mut local: LocalKeys<F>,
    named: &str,
) -> Result<Arc<dyn Keyring>, Error> {
    let rings = keys
        .iter()
        .map(|k| keyring(k, purpose, &mut local, named))
        .collect::<Result<Vec<_>, Error>>()?;
    combine(rings, purpose)
}

/// One keyring from several: one is used as it is; several become a multi-keyring whose
/// generator is the first on encrypt, and whose children all may unwrap on decrypt.
///
/// # Errors
/// No keyring at all.
pub fn combine(
    mut rings: Vec<Arc<dyn Keyring>>,
    purpose: Purpose,
) -> Result<Arc<dyn Keyring>, Error> {
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
    .map_err(|e| Error::backend("cannot combine the keys").caused_by(e))?;
    Ok(Arc::new(multi))
}

/// The local keyring: decrypts with any key of the store of `home`.
///
/// # Errors
/// As `crate::store::open_keys` (the SQLite store; without the `sqlite` feature, an error).
pub fn local_keyring(
    home: &Home,
    passphrase: &PassphraseSource,
) -> Result<Arc<dyn Keyring>, Error> {
    let store = Arc::new(open_local(home, passphrase)?);
    tracing::debug!(home = %home, "local keyring loaded (any key)");
    Ok(Arc::new(HierarchicalKeyring::any_branch_key(store)))
}

/// The local key store of `home`: its SQLite store (feature `sqlite`).
fn open_local(home: &Home, passphrase: &PassphraseSource) -> Result<LocalKeyStore, Error> {
    #[cfg(feature = "sqlite")]
    {
        crate::store::open_keys(home, passphrase)
    }
    #[cfg(not(feature = "sqlite"))]
    {
        let _ = (home, passphrase);
        Err(crate::store::no_sqlite())
    }
}
