//! What a [`LocalKeyStore`] unwraps for the keys with roots of their own that its home holds:
//! their `K_paths` ([`super::key_paths`]), from each key's row secret, once per process and
//! row, and with them the key of their own rows in the key table ([`super::key_row_key`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use zeroize::Zeroizing;

use super::LocalKeyStore;
use super::key_paths::{self, PathsKey};
use super::key_row_key::{key_row_key, mac_key};
use super::key_rows::KeyRecord;
use crate::error::Error;

/// A `K_paths` with the wrapped secret it came from.
type Unwrapped = (Vec<u8>, Arc<PathsKey>);

/// The `K_paths` a handle unwrapped, by key: each with the wrapped secret it came from, and
/// the keys whose rows were found under their own `K_keys(K)` (a row of paths at v3 stays
/// so: once found, the process reads no row of paths of that key again).
#[derive(Default)]
pub(super) struct PathsKeys {
    unwrapped: Mutex<HashMap<String, Unwrapped>>,
    own_rows: Mutex<HashMap<String, Arc<PathsKey>>>,
}

impl PathsKeys {
    fn unwrapped(&self, name: &str, wrapped: &[u8]) -> Option<Arc<PathsKey>> {
        let map = self
            .unwrapped
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        map.get(name)
            .filter(|(w, _)| w[..] == wrapped[..])
            .map(|(_, k)| k.clone())
    }

    fn keep(&self, wrapped: &[u8], key: &Arc<PathsKey>) {
        self.unwrapped
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key.key_name().to_owned(), (wrapped.to_vec(), key.clone()));
    }

    fn own_rows(&self, name: &str) -> Option<Arc<PathsKey>> {
        self.own_rows
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .cloned()
    }
}

impl LocalKeyStore {
    /// The audit entry this home last saw key `name`'s paths sealed to
    /// ([`super::seen_paths`]); none without a home.
    ///
    /// # Errors
    /// The record cannot be read.
    pub fn paths_seen(&self, name: &str) -> Result<Option<i64>, Error> {
        match &self.seen {
            Some(seen) => Ok(super::seen_paths::SeenPaths::of(seen)
                .load()?
                .get(name)
                .copied()),
            None => Ok(None),
        }
    }

    /// Records that this home saw key `name`'s paths sealed to entry `seq`.
    ///
    /// # Errors
    /// The record cannot be written.
    pub fn saw_paths(&self, name: &str, seq: i64) -> Result<(), Error> {
        match &self.seen {
            Some(seen) => super::seen_paths::SeenPaths::of(seen).record(name, seq),
            None => Ok(()),
        }
    }

    /// The `K_paths` of `key` (a key with a root of its own whose root file this home holds,
    /// [`super::key_paths`]) from its row secret as wrapped, unwrapped once per process. A
    /// home that holds the file fails closed: whatever keeps it from unwrapping the secret is
    /// an error, never a reason to skip the check.
    ///
    /// # Errors
    /// The root cannot be used, or does not unwrap the secret; the audit key cannot be
    /// opened.
    pub async fn paths_key(&self, key: &KeyRecord, wrapped: &[u8]) -> Result<Arc<PathsKey>, Error> {
        if let Some(k) = self.paths_keys.unwrapped(&key.name, wrapped) {
            return Ok(k);
        }
        let store_id = self.audit_key().await?.store_id().to_owned();
        let root = self.root_for(key)?;
        let aad = key_paths::secret_aad(&store_id, &key.name);
        match root.unwrap(wrapped, &aad).await {
            Ok(secret) if secret.len() == key_paths::SECRET_LEN => {
                let k = Arc::new(PathsKey::derive(&store_id, &key.name, &secret)?);
                self.paths_keys.keep(wrapped, &k);
                self.table.use_paths_key(k.clone(), false);
                Ok(k)
            }
            // The root itself may be what fails (another machine's token of the same name):
            // that error, else the secret was changed. (Its rows are not checked first: that
            // check needs this key.)
            _ => Err(self
                .root_proof(key, false)
                .await
                .unwrap_or_else(|| key_paths::bad_secret(&self.table.location(), &key.name))),
        }
    }

    /// A new row secret for `key` (a key with a root of its own): wrapped under its root,
    /// and its `K_paths`.
    ///
    /// # Errors
    /// The home cannot use the root; the root or the random generator failed.
    pub async fn new_paths_key(&self, key: &KeyRecord) -> Result<(Vec<u8>, Arc<PathsKey>), Error> {
        let store_id = self.audit_key().await?.store_id().to_owned();
        if let Some(e) = self.root_unusable(key) {
            return Err(e);
        }
        if key.root.is_none() {
            return Err(Error::invalid(format!(
                "key `{}` is under the store's root key: it attests no paths",
                key.name
            )));
        }
        let root = self.root_for(key)?;
        let mut secret = Zeroizing::new([0u8; key_paths::SECRET_LEN]);
        coffer_core::fill_random(&mut secret[..])
            .map_err(|_| Error::backend("the system's random number generator failed"))?;
        let aad = key_paths::secret_aad(&store_id, &key.name);
        let wrapped = root
            .wrap(&secret[..], &aad)
            .await
            .map_err(|e| Error::backend("cannot wrap the key's row secret").caused_by(e))?;
        let paths = Arc::new(PathsKey::derive(&store_id, &key.name, &secret[..])?);
        self.paths_keys.keep(&wrapped, &paths);
        self.table.use_paths_key(paths.clone(), false);
        Ok((wrapped, paths))
    }

    /// The `K_paths` whose `K_keys(K)` MACs the rows of `record`, if not the store's `K_rows`
    /// ([`super::key_row_key`], from the key's row of paths as read now and what this home
    /// saw of it). A key under the store's root that this home holds a root of its own for
    /// is refused ([`super::roots`]); so is one with a root of its own it does not hold.
    ///
    /// # Errors
    /// As above; the row of paths fails its checks; the root does not unwrap its secret.
    async fn own_rows_key(&self, record: &KeyRecord) -> Result<Option<Arc<PathsKey>>, Error> {
        if record.root.is_none() {
            self.own_roots.root_of(record)?;
            return Ok(None);
        }
        if let Some(e) = self.own_roots.missing(record) {
            // Not usable here; and a row edited to say so is refused as edited.
            self.check_unheld(record).await?;
            return Err(e);
        }
        if let Some(k) = self.paths_keys.own_rows(&record.name) {
            return Ok(Some(k));
        }
        let (row, _) = self.table.key_paths_row(&record.name).await?;
        let seen = self.paths_seen(&record.name)?;
        let paths = match &row.row {
            Some(raw) => Some(self.paths_key(record, &raw.secret).await?),
            None => None,
        };
        let location = self.table.location();
        if key_row_key(record, paths.as_deref(), Some(&row), seen, &location)?.is_none() {
            return Ok(None);
        }
        let Some(paths) = paths else {
            return Ok(None);
        };
        self.paths_keys
            .own_rows
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(record.name.clone(), paths.clone());
        self.table.use_paths_key(paths.clone(), true);
        Ok(Some(paths))
    }

    /// Checks `record` against its seal under the key of its rows ([`super::key_seal`]).
    ///
    /// # Errors
    /// The row fails its check; its key cannot be found ([`LocalKeyStore::own_rows_key`]).
    pub(super) async fn check_record(&self, record: &KeyRecord) -> Result<(), Error> {
        let audit = self.audit_key().await?;
        let own = self.own_rows_key(record).await?;
        super::key_seal::check(
            &audit,
            mac_key(&audit, own.as_deref()),
            &self.table.location(),
            record,
        )
    }

    /// [`LocalKeyStore::check_record`], but a key with a root of its own that this home does
    /// not hold is checked under the store's `K_rows` (as its rows are until its row of
    /// paths says otherwise), else left unchecked only if its row of paths is sealed to an
    /// authentic entry of its own ([`super::key_row_key::attested_elsewhere`]): it cannot be
    /// checked here, and nothing here uses it.
    ///
    /// # Errors
    /// As [`LocalKeyStore::check_record`]; a row that fails its check under `K_rows` without
    /// such a row of paths.
    pub(super) async fn check_held(&self, record: &KeyRecord) -> Result<(), Error> {
        if record.root.is_none() || self.own_roots.missing(record).is_none() {
            return self.check_record(record).await;
        }
        self.check_unheld(record).await
    }

    /// The check of [`LocalKeyStore::check_held`] for a key with a root of its own that
    /// this home does not hold.
    async fn check_unheld(&self, record: &KeyRecord) -> Result<(), Error> {
        let audit = self.audit_key().await?;
        let location = self.table.location();
        let under_store = super::key_seal::check(&audit, audit.rows(), &location, record);
        if under_store.is_ok() {
            return Ok(());
        }
        let (row, entry) = self.table.key_paths_row(&record.name).await?;
        if super::key_row_key::attested_elsewhere(&audit, &record.name, &row, entry.as_ref()) {
            return Ok(());
        }
        under_store
    }
}
