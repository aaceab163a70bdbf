//! [`StoreKeys`]: the keys of `secure-string` values in a store of coffer's own: the local
//! keyring of the store's home (its root key loaded when something is written, since every
//! write is signed into the store's audit log, or a secure value read), or the keys given for
//! one run. The CLI and the service library open their keys
//! through this one type; they differ only in where the root key's passphrase comes from
//! ([`PassphraseSource`]: the CLI may ask on the terminal, a service never asks) and whether
//! the store key may be created.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use coffer_core::keyring::{BoxFuture, HierarchicalKeyring, Keyring};
use zeroize::Zeroizing;

use super::policy::recorded_key;
use super::{ParamResult, STORE_KEY_NAME, ValueKeys};
use crate::error::{Advice, Error};
use crate::home::Home;
use crate::keyref::{KeyRef, Purpose};
use crate::store::key_paths::PathsKey;
use crate::store::{KeyRecord, KeySpec, KeyTable, LocalKeyStore};
use crate::store::{Passphrase, PassphraseSource};

/// The keys of a store's `secure-string` values: the keys given for a run if any, else the
/// local keyring of the store's home (see the module docs).
pub struct StoreKeys {
    home: Home,
    table: Arc<dyn KeyTable>,
    passphrase: PassphraseSource,
    /// A service's keys: errors loading the root key say so.
    service: bool,
    /// Whether the store key is created on the first secure write.
    create_store_key: bool,
    /// `put --key`: the reference and its spelling as given.
    encrypt_key: Option<(KeyRef, String)>,
    /// `get --key …`.
    decrypt_keys: Vec<KeyRef>,
    local: Mutex<Option<Arc<LocalKeyStore>>>,
    /// The records of the keys whose roots the home holds, as `held_roots` read them.
    held: Mutex<HashMap<String, KeyRecord>>,
}

impl fmt::Debug for StoreKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreKeys")
            .field("home", &self.home)
            .field("passphrase", &self.passphrase)
            .field("encrypt_key", &self.encrypt_key.as_ref().map(|k| &k.1))
            .field("decrypt_keys", &self.decrypt_keys.len())
            .finish_non_exhaustive()
    }
}

fn key_error(what: &str, e: impl Into<crate::error::BoxError>) -> Error {
    Error::Key {
        what: what.to_owned(),
        source: e.into(),
    }
}

impl StoreKeys {
    /// The CLI's keys: `encrypt_key` and `decrypt_keys` if given, else the keys in `table`
    /// (the store's key rows) under the root key of `home`, which may ask for its passphrase;
    /// the store key is created on the first secure write.
    pub fn for_cli(
        home: Home,
        table: Arc<dyn KeyTable>,
        encrypt_key: Option<(KeyRef, String)>,
        decrypt_keys: Vec<KeyRef>,
        passphrase: PassphraseSource,
    ) -> Self {
        Self {
            home,
            table,
            passphrase,
            service: false,
            create_store_key: true,
            encrypt_key,
            decrypt_keys,
            local: Mutex::new(None),
            held: Mutex::new(HashMap::new()),
        }
    }

    /// A service's keys: the keys in `table` under the root key of `home`, unlocked with
    /// `passphrase` if given, else `COFFER_PASSPHRASE_FILE`, never a prompt; secure writes
    /// need the store key to exist.
    pub fn for_service(
        home: Home,
        table: Arc<dyn KeyTable>,
        passphrase: Option<Zeroizing<Vec<u8>>>,
    ) -> Self {
        let passphrase = match passphrase {
            Some(p) => PassphraseSource::Given(Passphrase::new(p)),
            None => PassphraseSource::from_env(None),
        };
        Self {
            home,
            table,
            passphrase,
            service: true,
            create_store_key: false,
            encrypt_key: None,
            decrypt_keys: Vec::new(),
            local: Mutex::new(None),
            held: Mutex::new(HashMap::new()),
        }
    }

    /// These keys over `local`, the store's keys already opened (by a command that opened
    /// them to change them).
    #[must_use]
    pub fn with_local(self, local: Arc<LocalKeyStore>) -> Self {
        *self.local.lock().unwrap_or_else(PoisonError::into_inner) = Some(local);
        self
    }

    /// The local key store, opened now if it is not yet.
    async fn local(&self) -> ParamResult<Arc<LocalKeyStore>> {
        let slot = || self.local.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(s) = &*slot() {
            return Ok(s.clone());
        }
        let opened = crate::store::open_keys_in(&self.home, self.table.clone(), &self.passphrase)
            .await
            .map_err(|e| {
                if self.service {
                    key_error("load the root key", e)
                } else {
                    e
                }
            })?;
        Ok(slot().get_or_insert(Arc::new(opened)).clone())
    }

    /// The store key: created on first use if this may create it.
    async fn store_key(&self) -> ParamResult<Arc<dyn Keyring>> {
        let local = self.local().await?;
        if local.table().get_key(STORE_KEY_NAME).await?.is_none() {
            if !self.create_store_key {
                return Err(key_error(
                    "use the store key",
                    Error::missing(format!("the store has no key `{STORE_KEY_NAME}` yet"))
                        .advice(Advice::WriteSecureFirst),
                ));
            }
            match local
                .create_key(STORE_KEY_NAME, KeySpec::Aes256, None)
                .await
            {
                Ok(_) => tracing::info!(key = STORE_KEY_NAME, "created the store key"),
                // Another process created it meanwhile.
                Err(_) if local.table().get_key(STORE_KEY_NAME).await?.is_some() => {}
                Err(e) => return Err(e),
            }
        }
        Ok(Arc::new(HierarchicalKeyring::new(local, STORE_KEY_NAME)))
    }

    /// The record of key `name` as [`ValueKeys::held_roots`] last read it (checked against
    /// its seal there), else read now.
    async fn held_record(&self, local: &LocalKeyStore, name: &str) -> ParamResult<KeyRecord> {
        let kept = self
            .held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .cloned();
        match kept {
            Some(r) => Ok(r),
            None => local
                .key(name)
                .await?
                .ok_or_else(|| local.no_such_key(name)),
        }
    }

    fn external(&self, key: &KeyRef, purpose: Purpose) -> ParamResult<Arc<dyn Keyring>> {
        let mut no_local = crate::keys::LocalKeys::new(
            || {
                Err(Error::backend(
                    "internal error: a local key reached the external keyring path",
                ))
            },
            PassphraseSource::None,
        );
        crate::keys::keyring(key, purpose, &mut no_local, "key")
            .map_err(|e| key_error("load the key", e))
    }
}

impl ValueKeys for StoreKeys {
    fn unlock(&self) -> BoxFuture<'_, ParamResult<()>> {
        Box::pin(async move { self.local().await.map(|_| ()) })
    }

    fn root_unusable<'a>(&'a self, key: &'a str) -> BoxFuture<'a, ParamResult<Option<Error>>> {
        Box::pin(async move {
            let Ok(KeyRef::Local(k)) = key.parse::<KeyRef>() else {
                return Ok(None);
            };
            let local = self.local().await?;
            // A key named by a policy or a value but gone from the store is not usable:
            // never read as "no root of its own".
            Ok(match local.key(&k.name).await? {
                Some(record) => local.root_unproven(&record).await,
                None => Some(local.no_such_key(&k.name)),
            })
        })
    }

    fn held_roots(&self) -> BoxFuture<'_, ParamResult<Vec<(String, bool)>>> {
        Box::pin(async move {
            // Listed without opening the keys: a home without roots of its own pays nothing.
            let names = crate::store::roots::held(&self.home)?;
            if names.is_empty() {
                return Ok(names.into_iter().map(|n| (n, false)).collect());
            }
            let local = self.local().await?;
            let mut held = Vec::with_capacity(names.len());
            let mut records = HashMap::new();
            for name in names {
                let record = local.key(&name).await?;
                held.push((name.clone(), record.is_some()));
                if let Some(r) = record {
                    records.insert(name, r);
                }
            }
            *self.held.lock().unwrap_or_else(PoisonError::into_inner) = records;
            Ok(held)
        })
    }

    fn paths_key<'a>(
        &'a self,
        key: &'a str,
        wrapped: &'a [u8],
    ) -> BoxFuture<'a, ParamResult<Arc<PathsKey>>> {
        Box::pin(async move {
            let local = self.local().await?;
            let record = self.held_record(&local, key).await?;
            local.paths_key(&record, wrapped).await
        })
    }

    fn paths_seen<'a>(&'a self, key: &'a str) -> BoxFuture<'a, ParamResult<Option<i64>>> {
        Box::pin(async move { self.local().await?.paths_seen(key) })
    }

    fn saw_paths<'a>(&'a self, key: &'a str, seq: i64) -> BoxFuture<'a, ParamResult<()>> {
        Box::pin(async move { self.local().await?.saw_paths(key, seq) })
    }

    fn new_paths_key<'a>(
        &'a self,
        key: &'a str,
    ) -> BoxFuture<'a, ParamResult<(Vec<u8>, Arc<PathsKey>)>> {
        Box::pin(async move {
            let local = self.local().await?;
            let record = self.held_record(&local, key).await?;
            local.new_paths_key(&record).await
        })
    }

    fn chosen_key(&self) -> Option<String> {
        self.encrypt_key
            .as_ref()
            .map(|(key, spelled)| recorded_key(key, spelled))
    }

    fn keyring_of<'a>(&'a self, key: &'a str) -> BoxFuture<'a, ParamResult<Arc<dyn Keyring>>> {
        Box::pin(async move {
            let parsed: KeyRef = key.parse().map_err(|e| key_error("load the key", e))?;
            match &parsed {
                KeyRef::Local(k) => {
                    let local = self.local().await?;
                    if local.table().get_key(&k.name).await?.is_none() {
                        return Err(local.no_such_key(&k.name));
                    }
                    let ring: Arc<dyn Keyring> = Arc::new(HierarchicalKeyring::new(local, &k.name));
                    Ok(ring)
                }
                other => self.external(other, Purpose::Encrypt),
            }
        })
    }

    fn encrypt_keyring(&self) -> BoxFuture<'_, ParamResult<(Arc<dyn Keyring>, String)>> {
        Box::pin(async move {
            match &self.encrypt_key {
                None => Ok((self.store_key().await?, format!("local:{STORE_KEY_NAME}"))),
                Some((KeyRef::Local(k), _)) => {
                    let local = self.local().await?;
                    if local.table().get_key(&k.name).await?.is_none() {
                        return Err(local.no_such_key(&k.name));
                    }
                    let ring: Arc<dyn Keyring> = Arc::new(HierarchicalKeyring::new(local, &k.name));
                    Ok((ring, format!("local:{}", k.name)))
                }
                Some((key, spelled)) => {
                    Ok((self.external(key, Purpose::Encrypt)?, spelled.clone()))
                }
            }
        })
    }

    fn decrypt_keyring(&self) -> BoxFuture<'_, ParamResult<Arc<dyn Keyring>>> {
        Box::pin(async move {
            if self.decrypt_keys.is_empty() {
                let ring: Arc<dyn Keyring> =
                    Arc::new(HierarchicalKeyring::any_branch_key(self.local().await?));
                return Ok(ring);
            }
            let mut rings = Vec::with_capacity(self.decrypt_keys.len());
            for k in &self.decrypt_keys {
                rings.push(match k {
                    KeyRef::Local(l) => {
                        let ring: Arc<dyn Keyring> =
                            Arc::new(HierarchicalKeyring::new(self.local().await?, &l.name));
                        ring
                    }
                    k => self.external(k, Purpose::Decrypt)?,
                });
            }
            crate::keys::combine(rings, Purpose::Decrypt).map_err(|e| key_error("load the keys", e))
        })
    }
}
