//! Loading the root key, finishing an interrupted root switch, and `coffer key rotate --root`.
//! The protocol is described under "Root rotation" in [`crate::store`].

use std::sync::Arc;

use coffer_core::keyring::RootKey;

use super::Store;
use crate::error::{Advice, Error};
use crate::home::Home;
use crate::store::audit_key::{self, Trust};
use crate::store::key_rows::{SwitchRoot, WrappedVersion, branch_key_aad};
use crate::store::passphrase::{PassphraseCache, PassphraseSource};
use crate::store::root::{self, Protection, RootKeyMaterial};
use crate::store::seen::SeenFile;
use crate::store::table::KeyTable;
use crate::store::test_pause::pause as test_pause;

/// Loads `root.key` for `store`. When the store's root is not that key but the side file's
/// (a root rotation committed and was interrupted before its rename), finishes the switch
/// and returns the side file's key; when it is that key, removes what an interrupted rotation
/// left before its commit. A root key that is not the store's is returned as it is: the
/// caller reports the mismatch.
///
/// # Errors
/// A missing, damaged or locked key file; SQLite errors.
pub(crate) fn load_root(
    home: &Home,
    store: &Store,
    passphrase: &mut PassphraseCache,
) -> Result<(Arc<dyn RootKey>, Protection), Error> {
    let path = home.root_key_path();
    let next = home.next_root_key_path();
    // A second pass only when a root rotation by another process finished meanwhile.
    let mut attempts = 3;
    loop {
        attempts -= 1;
        let recorded = store.meta("root_id")?;
        let (key, protection) = root::load_root_key(&path, || passphrase.get(&path))?;
        let id = key.id();
        let Some(recorded) = recorded else {
            return Ok((key, protection));
        };
        if recorded == id {
            let leftovers = root::side_files(&path, &next).unwrap_or_default();
            if !leftovers.is_empty() {
                // Not fatal: the key in root.key is the right one (the store may be read-only).
                match store.locked_if_root(&id, || root::remove_side_files(&path, &next)) {
                    Ok(Some(Ok(n))) => tracing::info!(
                        removed = n,
                        "removed what an interrupted root rotation left (it never took effect)"
                    ),
                    Ok(Some(Err(e))) => tracing::warn!(
                        "cannot remove what an interrupted root rotation left ({}): {e}",
                        next.display()
                    ),
                    Ok(None) => {}
                    Err(e) => tracing::warn!(
                        "cannot remove what an interrupted root rotation left ({}): {e:#}",
                        next.display()
                    ),
                }
            }
            return Ok((key, protection));
        }
        if next.is_file() {
            match root::load_root_key(&next, || passphrase.get(&next)) {
                Ok((key, protection)) => {
                    let next_id = key.id();
                    if next_id == recorded {
                        let switched = store
                            .locked_if_root(&next_id, || root::switch_to_side_file(&next, &path))?;
                        if let Some(result) = switched {
                            result?;
                            tracing::info!(
                                root_id = next_id,
                                "finished an interrupted root rotation: {} replaced {}",
                                next.display(),
                                path.display()
                            );
                            return Ok((key, protection));
                        }
                    }
                }
                Err(e) => tracing::warn!("{e}"),
            }
        }
        // Not the store's key. Unless the store's root changed while we looked (a root
        // rotation by another process), that is for the caller to report.
        if attempts == 0 || store.meta("root_id")?.as_deref() == Some(recorded.as_str()) {
            return Ok((key, protection));
        }
    }
}

/// What `coffer key rotate --root` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootRotation {
    /// The root key before.
    pub old_root_id: String,
    /// The root key now.
    pub new_root_id: String,
    /// How many key versions were re-wrapped.
    pub versions: usize,
    /// How many keys they belong to.
    pub keys: usize,
    /// Whether the root key file is passphrase-protected (it stays so).
    pub passphrase: bool,
}

/// `coffer key rotate --root`: a new local root key, every key version re-wrapped under it in
/// one transaction, then `root.key` replaced (see "Root rotation" in [`crate::store`]).
/// A passphrase-protected root key stays protected, by the same passphrase.
///
/// # Errors
/// A missing, damaged or locked root key; a version that does not unwrap (a tampered row);
/// the store changing throughout; file and SQLite errors. Up to the commit nothing changes;
/// after it, an error leaves a switch that the next command finishes.
pub async fn rotate_root(
    home: &Home,
    to: Option<&str>,
    passphrase: &PassphraseSource,
) -> Result<RootRotation, Error> {
    let store = Store::open(home)?;
    let path = home.root_key_path();
    let next = home.next_root_key_path();
    let mut passphrase = PassphraseCache::new(passphrase.clone());
    let (old, protection) = load_root(home, &store, &mut passphrase)?;
    let old_id = old.id();
    let recorded = store.adopt_root_id(&old_id)?;
    if recorded != old_id {
        return Err(store.root_mismatch(&old_id, &recorded));
    }
    let seen = SeenFile::new(home, &KeyTable::location(&store));
    let audit = audit_key::attach(&store, old.as_ref(), Some(seen), Trust::Record).await?;
    // Every key as sealed: which keys have roots of their own (left alone here) is decided
    // on sealed rows, never on a row edited so as to leave a key behind.
    let location = KeyTable::location(&store);
    // A key whose rows are under a key of its own (`K_keys(K)`) cannot be checked without
    // its root: its versions are then shown not to be the store's below, so that no row
    // edited to claim a root of its own has a key of the store's root left behind.
    let mut own = std::collections::BTreeSet::new();
    let mut unchecked = std::collections::BTreeSet::new();
    for key in KeyTable::list_keys(&store).await? {
        let checked = crate::store::key_seal::check(&audit, audit.rows(), &location, &key);
        if let Err(e) = checked {
            let (row, entry) = KeyTable::key_paths_row(&store, &key.name).await?;
            let attested = key.root.is_some()
                && crate::store::key_row_key::attested_elsewhere(
                    &audit,
                    &key.name,
                    &row,
                    entry.as_ref(),
                );
            if !attested {
                return Err(e);
            }
            unchecked.insert(key.name.clone());
        }
        if key.root.is_some() {
            own.insert(key.name);
        }
    }

    let (file, new) = new_root(to, protection, &old_id, &path, &mut passphrase).await?;
    let new_id = new.id();

    // Each retry follows a key created or rotated by another process meanwhile.
    const ATTEMPTS: usize = 5;
    for _ in 0..ATTEMPTS {
        let (current, rows) = store.wrapped_versions()?;
        if current.as_deref() != Some(old_id.as_str()) {
            return Err(root_changed(&store));
        }
        let mut rewrapped: Vec<(WrappedVersion, Vec<u8>)> = Vec::with_capacity(rows.len());
        let mut kept = 0;
        for row in rows {
            // A key with a root of its own keeps it; every other version is re-wrapped (one
            // whose key row is gone too, so that putting the row back finds it readable).
            if own.contains(&row.name) {
                if unchecked.contains(&row.name) {
                    not_the_stores(&store, old.as_ref(), &row).await?;
                }
                kept += 1;
                continue;
            }
            let wrapped = rewrap(&store, old.as_ref(), new.as_ref(), &old_id, &row).await?;
            rewrapped.push((row, wrapped));
        }
        let audit = audit_key::rewrap(&store, old.as_ref(), new.as_ref()).await?;
        test_pause("root: rewrapped");
        let outcome =
            store.switch_root(&old_id, &new_id, &rewrapped, (&own, kept), &audit, || {
                root::write_side_file(&next, &file).map_err(|e| {
                    Error::backend(format!(
                        "cannot write the new root key to {}; nothing was changed",
                        next.display()
                    ))
                    .caused_by(e)
                })
            })?;
        match outcome {
            SwitchRoot::Done => {}
            SwitchRoot::RowsChanged => {
                tracing::debug!("key versions changed meanwhile: re-wrapping again");
                continue;
            }
            SwitchRoot::RootChanged => return Err(root_changed(&store)),
        }
        test_pause("root: committed");
        let switched = store
            .locked_if_root(&new_id, || root::switch_to_side_file(&next, &path))
            .and_then(|r| r.transpose());
        if let Err(e) = switched {
            return Err(Error::backend(format!(
                "the store now uses the new root key, but {} could not replace {}",
                next.display(),
                path.display()
            ))
            .advice(Advice::RootSwitchPending)
            .caused_by(e));
        }
        test_pause("root: switched");
        let mut names: Vec<&str> = rewrapped.iter().map(|(r, _)| r.name.as_str()).collect();
        names.dedup();
        tracing::info!(
            old_root_id = old_id,
            new_root_id = new_id,
            "root key rotated"
        );
        return Ok(RootRotation {
            old_root_id: old_id,
            new_root_id: new_id,
            versions: rewrapped.len(),
            keys: names.len(),
            passphrase: matches!(protection, Protection::Passphrase(_)),
        });
    }
    Err(Error::conflict(
        "the keys of the store kept changing during the root rotation; nothing was changed",
    )
    .advice(Advice::TryAgain))
}

/// The new root key and its file: a fresh local key protected as the old one was, or the
/// AWS KMS key `to` (`kms:KEY`).
async fn new_root(
    to: Option<&str>,
    protection: Protection,
    old_id: &str,
    path: &std::path::Path,
    passphrase: &mut PassphraseCache,
) -> Result<(zeroize::Zeroizing<Vec<u8>>, Arc<dyn RootKey>), Error> {
    match (to, protection) {
        (Some(key), _) if key.starts_with("pkcs11:") => {
            crate::store::roots::new_pkcs11_root(key, Some(old_id)).await
        }
        (Some(key), _) => crate::store::roots::new_kms_root(key, Some(old_id)).await,
        (None, Protection::Pkcs11) => Err(Error::invalid(format!(
            "the root key is the PKCS#11 key {old_id}: a new root key on a token is not made \
             here, it must be named"
        ))
        .advice(Advice::NameNewRoot { kms: false })),
        (None, Protection::Kms) => Err(Error::invalid(format!(
            "the root key is the AWS KMS key {}: a new KMS root key must be named",
            old_id.trim_start_matches("kms:")
        ))
        .advice(Advice::NameNewRoot { kms: true })),
        (None, Protection::Plain) => {
            let material = RootKeyMaterial::generate()?;
            let file = root::encode(&material, protection, None)?;
            Ok((file, material.into_root_key()?))
        }
        (None, Protection::Passphrase(_)) => {
            let material = RootKeyMaterial::generate()?;
            let p = passphrase.get(path)?;
            let file = root::encode(&material, protection, Some(&p))?;
            Ok((file, material.into_root_key()?))
        }
    }
}

fn root_changed(store: &Store) -> Error {
    Error::conflict(format!(
        "the root key of the store {} was rotated by another process meanwhile; nothing was \
         changed",
        store.path().display()
    ))
    .advice(Advice::TryAgain)
}

/// Checks that `row`, of a key whose row says it has a root of its own and cannot be checked
/// here, does not unwrap under the store's root `old`.
///
/// # Errors
/// It does: the key's row was changed outside coffer.
async fn not_the_stores(
    store: &Store,
    old: &dyn RootKey,
    row: &WrappedVersion,
) -> Result<(), Error> {
    let aad = branch_key_aad(&row.name, row.version, &row.uuid);
    if old.unwrap(&row.wrapped, &aad).await.is_ok() {
        return Err(Error::corrupt(format!(
            "key `{}` in the store {} says it has a root of its own, but its version {} is \
             wrapped by the store's root key: its row was changed outside coffer; nothing was \
             changed",
            row.name,
            store.path().display(),
            row.version
        ))
        .advice(Advice::VerifyAudit));
    }
    Ok(())
}

/// Unwraps `row` under `old` and wraps the same material under `new`, with the same
/// authenticated data.
async fn rewrap(
    store: &Store,
    old: &dyn RootKey,
    new: &dyn RootKey,
    old_id: &str,
    row: &WrappedVersion,
) -> Result<Vec<u8>, Error> {
    let what = format!("version {} of key `{}`", row.version, row.name);
    if row.root_id != old_id {
        return Err(Error::denied(format!(
            "{what} is wrapped by root key {}, not by the store's root key {old_id}; nothing \
             was changed",
            row.root_id
        )));
    }
    let aad = branch_key_aad(&row.name, row.version, &row.uuid);
    let material = old.unwrap(&row.wrapped, &aad).await.map_err(|e| {
        Error::corrupt(format!(
            "{what} does not unwrap under the root key: its row in the store {} was altered \
             or moved; nothing was changed",
            store.path().display()
        ))
        .caused_by(e)
    })?;
    new.wrap(&material, &aad)
        .await
        .map_err(|e| Error::backend(format!("cannot wrap {what}")).caused_by(e))
}
