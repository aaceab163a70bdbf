//! Keys with roots of their own: a key made with `--root` has its versions wrapped by a root
//! key of its own instead of the store's (`COFFER_HOME/root.key`), so that only the machines
//! whose home holds that root can unwrap it, and so read or write what it protects (a path
//! policy, [`crate::params::policy`], makes it protect a path).
//!
//! The root is a file in the home of the same format as `root.key` ([`crate::store::root`]):
//! `COFFER_HOME/roots/NAME.key`, mode `0600`, holding 32 random bytes (a local root, made by
//! `--root local`; copy the file to each machine that may use the key) or naming an AWS KMS
//! key (`--root kms:KEY`) or a key on a PKCS#11 token (`--root pkcs11:…`), whose access
//! control then decides. The key's row records the root's id ([`KeyRecord::root`]: `local:`
//! and the key's fingerprint, `kms:ARN`, or the token key's id), sealed with the row
//! ([`crate::store::key_seal`]), so a root file of another key, or a row pointed at another
//! root, is refused rather than used.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use coffer_core::keyring::RootKey;

use super::key_rows::KeyRecord;
use super::passphrase::Passphrase;
use super::root::{self, RootKeyMaterial};
use crate::error::{Advice, Error};
use crate::home::Home;

/// The directory of a home's roots of their own.
pub const ROOTS_DIR: &str = "roots";

/// The file of the root of key `name` in `home`.
pub fn root_file(home: &Home, name: &str) -> PathBuf {
    home.dir().join(ROOTS_DIR).join(format!("{name}.key"))
}

/// Makes the root of a new key `name` in `home` and writes its file (never replacing one):
/// `local` (fresh random bytes), `kms:KEY` (an AWS KMS key) or `pkcs11:…` (an AES key on a
/// token). Returns the root's id, which the key's row records.
///
/// # Errors
/// A bad root reference; the file exists; the KMS key or the token failed; file errors.
pub async fn create_root(home: &Home, name: &str, spec: &str) -> Result<String, Error> {
    super::key_rows::validate_name(name)?;
    let (file, root) = if spec == "local" {
        let material = RootKeyMaterial::generate()?;
        let file = root::encode(&material, root::Protection::Plain, None)?;
        (file, material.into_root_key()?)
    } else if spec.starts_with("pkcs11:") {
        new_pkcs11_root(spec, None).await?
    } else if spec.starts_with("kms:") {
        new_kms_root(spec, None).await?
    } else {
        return Err(Error::invalid(format!(
            "root {spec}: give local, kms:KEY or pkcs11:…"
        )));
    };
    let path = root_file(home, name);
    let dir = home.dir().join(ROOTS_DIR);
    Home::new(&dir)
        .create_dir()
        .map_err(|e| Error::backend(format!("cannot create {}", dir.display())).caused_by(e))?;
    root::write_new(&path, &file).map_err(|e| {
        Error::backend(format!(
            "cannot write the root of key `{name}` to {}",
            path.display()
        ))
        .caused_by(e)
    })?;
    Ok(root.id())
}

/// The names of the keys whose root files `home` holds (`roots/NAME.key`), in order.
///
/// # Errors
/// The directory exists but cannot be read.
pub fn held(home: &Home) -> Result<Vec<String>, Error> {
    OwnRoots::of(home).held()
}

/// The roots of their own that a home holds, loaded when first needed.
#[derive(Default)]
pub(crate) struct OwnRoots {
    home: Option<Home>,
    loaded: Mutex<HashMap<String, Arc<dyn RootKey>>>,
}

impl std::fmt::Debug for OwnRoots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OwnRoots")
            .field("home", &self.home)
            .finish_non_exhaustive()
    }
}

/// Whether `e` is that this home has no file for the root of a key with a root of its own
/// (a read over a path leaves such a value out rather than fail).
pub fn is_missing_root(e: &Error) -> bool {
    matches!(
        e.detail().and_then(crate::error::Detail::advice),
        Some(Advice::OwnRoot(_))
    ) && matches!(e, Error::Denied(_))
}

impl OwnRoots {
    /// If `key` has a root of its own and this home has no file for it, the error that says
    /// so ([`is_missing_root`]); decided on the sealed row and the file's existence alone.
    pub(crate) fn missing(&self, key: &KeyRecord) -> Option<Error> {
        let id = key.root.as_ref()?;
        let path = self.home.as_ref().map(|h| root_file(h, &key.name));
        if path.as_ref().is_some_and(|p| p.exists()) {
            return None;
        }
        let name = &key.name;
        Some(
            Error::denied(format!(
                "key `{name}` has a root of its own ({id}), which this home does not hold: {} \
                 does not exist; only a machine whose home holds it reads or writes what key \
                 `{name}` protects",
                path.map_or_else(
                    || "no home was opened".to_owned(),
                    |p| p.display().to_string()
                )
            ))
            .advice(Advice::OwnRoot(name.clone())),
        )
    }

    /// The names of the keys whose root files the home holds (`roots/NAME.key`), in order;
    /// none without a home or a `roots` directory.
    ///
    /// # Errors
    /// The directory exists but cannot be read (a home that may hold roots checks what they
    /// seal, so it never takes an unreadable directory for none).
    pub(crate) fn held(&self) -> Result<Vec<String>, Error> {
        let Some(home) = &self.home else {
            return Ok(Vec::new());
        };
        let dir = home.dir().join(ROOTS_DIR);
        let cannot = |e: std::io::Error| {
            Error::backend(format!(
                "cannot read the roots of this home, {}",
                dir.display()
            ))
            .caused_by(e)
        };
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(cannot(e)),
        };
        let mut names = Vec::new();
        for entry in entries {
            let file = entry.map_err(cannot)?.file_name();
            let name = file
                .to_str()
                .and_then(|f| f.strip_suffix(".key"))
                .filter(|n| super::key_rows::validate_name(n).is_ok());
            if let Some(n) = name {
                names.push(n.to_owned());
            }
        }
        names.sort_unstable();
        Ok(names)
    }

    /// The roots `home` holds.
    pub(crate) fn of(home: &Home) -> Self {
        Self {
            home: Some(home.clone()),
            loaded: Mutex::new(HashMap::new()),
        }
    }

    /// The root of `key` if it has one of its own (`None`: the store's root).
    ///
    /// # Errors
    /// This home does not hold it, or the file holds another root or cannot be used
    /// ([`Error::Denied`], naming the key, the root and the file); a key under the store's
    /// root for which this home holds a root of its own (its row was changed so).
    pub(crate) fn root_of(&self, key: &KeyRecord) -> Result<Option<Arc<dyn RootKey>>, Error> {
        let Some(id) = &key.root else {
            // A home that holds a root for the key pins it: a row that says otherwise was
            // changed by whoever could seal it (a holder of the store's root key), and new
            // material under the store's root would be readable by every such holder.
            if let Some(home) = &self.home {
                let path = root_file(home, &key.name);
                if path.exists() {
                    return Err(Error::denied(format!(
                        "key `{}` is under the store's root key, but this home holds a root of \
                         its own for it ({}): its row was changed, or the key was made again \
                         under the store's root; it was not used",
                        key.name,
                        path.display()
                    ))
                    .advice(Advice::VerifyAudit));
                }
            }
            return Ok(None);
        };
        let slot = || self.loaded.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(r) = slot().get(&key.name) {
            if &r.id() == id {
                return Ok(Some(r.clone()));
            }
        }
        let name = &key.name;
        if let Some(e) = self.missing(key) {
            return Err(e);
        }
        let Some(home) = &self.home else {
            return Err(Error::backend(
                "internal error: no home for a root of its own",
            ));
        };
        let path = root_file(home, name);
        let no_passphrase = || -> Result<Passphrase, Error> {
            Err(Error::invalid(format!(
                "the root of key `{name}` ({}) is protected by a passphrase, which roots of \
                 their own are not",
                path.display()
            )))
        };
        let (root, _) = root::load_root_key(&path, no_passphrase).map_err(|e| {
            Error::denied(format!(
                "the root of key `{name}` ({}) cannot be used on this machine: {}",
                path.display(),
                crate::error::chain_text(&e)
            ))
        })?;
        if &root.id() != id {
            return Err(Error::denied(format!(
                "key `{name}` has a root of its own ({id}), and {} holds another root ({}); it \
                 was not used",
                path.display(),
                root.id()
            )));
        }
        slot().insert(name.clone(), root.clone());
        Ok(Some(root))
    }
}

/// An AWS KMS root key named `key` (`kms:KEY`): its file and the key. With `old_id`, a root
/// that is already that one is refused.
///
/// # Errors
/// Not a KMS reference; KMS failed; a build without AWS KMS support.
#[cfg(feature = "kms")]
pub(crate) async fn new_kms_root(
    key: &str,
    old_id: Option<&str>,
) -> Result<(zeroize::Zeroizing<Vec<u8>>, Arc<dyn RootKey>), Error> {
    let Some(key) = key.strip_prefix("kms:").filter(|k| !k.is_empty()) else {
        return Err(Error::invalid(format!(
            "new root key {key}: it must be an AWS KMS key, kms:KEY"
        )));
    };
    let arn = crate::kms::resolve(key)
        .await
        .map_err(|e| Error::backend(format!("new root key kms:{key}")).caused_by(e))?;
    let new: Arc<dyn RootKey> = Arc::new(crate::kms::KmsRootKey::new(arn.clone()));
    if Some(new.id().as_str()) == old_id {
        return Err(Error::invalid(format!("the root key is {arn} already")));
    }
    Ok((root::encode_kms(&arn)?, new))
}

#[cfg(not(feature = "kms"))]
pub(crate) async fn new_kms_root(
    key: &str,
    _old_id: Option<&str>,
) -> Result<(zeroize::Zeroizing<Vec<u8>>, Arc<dyn RootKey>), Error> {
    Err(Error::unsupported(format!(
        "new root key {key}: this build has no AWS KMS support"
    )))
}

/// A root key on a PKCS#11 token (`pkcs11:…`, an AES key made there if it does not exist):
/// its file and the key. With `old_id`, a root that is already that one is refused.
///
/// # Errors
/// Not a PKCS#11 reference; the token failed; a build without PKCS#11 support.
#[cfg(feature = "pkcs11")]
pub(crate) async fn new_pkcs11_root(
    key: &str,
    old_id: Option<&str>,
) -> Result<(zeroize::Zeroizing<Vec<u8>>, Arc<dyn RootKey>), Error> {
    let k = match key.parse::<crate::keyref::KeyRef>() {
        Ok(crate::keyref::KeyRef::Pkcs11(k)) => k,
        Ok(_) => {
            return Err(Error::invalid(format!(
                "new root key {key}: not a PKCS#11 key"
            )));
        }
        Err(e) => return Err(Error::invalid(format!("new root key: {e}"))),
    };
    k.check_recordable()
        .map_err(|e| Error::invalid(format!("new root key: {e}")))?;
    let (new, uri) = crate::hsm::new_root(&k)
        .await
        .map_err(|e| Error::backend(format!("new root key pkcs11:{}", k.path())).caused_by(e))?;
    if Some(new.id().as_str()) == old_id {
        return Err(Error::invalid(format!(
            "the root key is {} already",
            new.id()
        )));
    }
    Ok((root::encode_pkcs11(&uri)?, new))
}

#[cfg(not(feature = "pkcs11"))]
pub(crate) async fn new_pkcs11_root(
    _key: &str,
    _old_id: Option<&str>,
) -> Result<(zeroize::Zeroizing<Vec<u8>>, Arc<dyn RootKey>), Error> {
    Err(Error::unsupported(
        "new root key pkcs11:…: this build has no PKCS#11 support",
    ))
}
