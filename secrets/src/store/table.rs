//! [`KeyTable`]: where the key hierarchy's rows live (the `keys` and `key_versions` tables and
//! the recorded root id), so that [`super::LocalKeyStore`] works over the SQLite store and
//! over a shared PostgreSQL one alike. The rows hold wrapped material only; unwrapping is
//! the root key's business.

use std::fmt;
use std::sync::Arc;

use coffer_core::keyring::{BoxFuture, RootKey};

use super::audit::{AuditEntry, AuditKey, AuditTip, Head};
use super::audit_signer::AuditSigner;
use super::key_paths::{KeyPathsRow, PathsKey};
use super::key_rows::{AddVersion, KeyRecord, KeyState, Lookup, VersionRecord, Which};
use super::key_seal::History;
use super::passphrase::PassphraseCache;
use super::root::Protection;
use crate::error::{Advice, Error};
use crate::home::Home;

/// The rows of a key hierarchy. Every write is one transaction that also appends to the
/// store's audit log.
pub trait KeyTable: Send + Sync + fmt::Debug {
    /// Where the rows are, for messages (`/…/coffer.db`, `postgres://host/db`).
    fn location(&self) -> String;

    /// Loads the root key of `home` for these rows (for the SQLite store of `home`, finishing
    /// or cleaning up after an interrupted root rotation first).
    ///
    /// # Errors
    /// A missing, damaged or locked root key file.
    fn load_root(
        &self,
        home: &Home,
        passphrase: &mut PassphraseCache,
    ) -> Result<(Arc<dyn RootKey>, Protection), Error>;

    /// Records `root_id` unless a root id is recorded already; returns the one in force.
    fn adopt_root_id<'a>(&'a self, root_id: &'a str) -> BoxFuture<'a, Result<String, Error>>;

    /// One key, if it exists.
    fn get_key<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<Option<KeyRecord>, Error>>;

    /// Every key, by name.
    fn list_keys(&self) -> BoxFuture<'_, Result<Vec<KeyRecord>, Error>>;

    /// Inserts a new key with its first version (already wrapped). A key of that name
    /// exists: an error.
    fn insert_key<'a>(
        &'a self,
        record: &'a KeyRecord,
        first: &'a VersionRecord,
        wrapped: &'a [u8],
    ) -> BoxFuture<'a, Result<(), Error>>;

    /// Adds version `new` and makes it active if the active version is still
    /// `expected_active` (and, with `due_at`, the rotation is due then).
    fn add_version<'a>(
        &'a self,
        name: &'a str,
        expected_active: u32,
        new: &'a VersionRecord,
        wrapped: &'a [u8],
        due_at: Option<i64>,
    ) -> BoxFuture<'a, Result<AddVersion, Error>>;

    /// The row of one version of key `name`, with the key's state.
    fn version_row<'a>(
        &'a self,
        name: &'a str,
        which: Which<'a>,
    ) -> BoxFuture<'a, Result<Lookup, Error>>;

    /// Enables or disables key `name`; whether the state changed.
    fn set_state<'a>(
        &'a self,
        name: &'a str,
        state: KeyState,
    ) -> BoxFuture<'a, Result<bool, Error>>;

    /// Sets (or with `None` clears) the rotation period of key `name`; the key.
    fn set_rotation_period<'a>(
        &'a self,
        name: &'a str,
        period_secs: Option<u64>,
    ) -> BoxFuture<'a, Result<KeyRecord, Error>>;

    /// Sets the minimum decryption version of key `name`; the previous minimum and the key.
    fn set_min_decrypt_version<'a>(
        &'a self,
        name: &'a str,
        min: u32,
    ) -> BoxFuture<'a, Result<(u32, KeyRecord), Error>>;

    /// The audit state, in one snapshot, with the hash of entry `seen` if asked.
    fn audit_tip(&self, seen: Option<i64>) -> BoxFuture<'_, Result<AuditTip, Error>>;

    /// As [`KeyTable::audit_tip`], or the tip this handle read last for the same `seen`, if it
    /// was not used yet (a consistent snapshot too, only older: the opening of the keys
    /// right after the home's check, on a remote store).
    fn audit_tip_recent(&self, seen: Option<i64>) -> BoxFuture<'_, Result<AuditTip, Error>> {
        self.audit_tip(seen)
    }

    /// Records the audit key `wrapped` of store `store_id` (whose keys are `key`), in one
    /// write transaction, unless the store has one already (then `false`): the log is keyed
    /// from the next entry, and a log with entries gets a keyed `audit-rekey` entry.
    /// The store's keys are sealed in the same transaction, each checked against `history`
    /// first ([`super::key_seal`]).
    fn create_audit_key<'a>(
        &'a self,
        store_id: &'a str,
        wrapped: &'a [u8],
        key: &'a Arc<AuditKey>,
        history: &'a History,
    ) -> BoxFuture<'a, Result<bool, Error>>;

    /// Seals the rows of a store of an older release, in one write transaction: its keys if
    /// they are not sealed yet ([`super::key_seal`]: one `audit-seal` entry, then a
    /// `key-seal` entry per key, each key checked against `history` first, an edit refused,
    /// not sealed), then its parameters ([`super::param_seal`]); and replaces its audit key
    /// `wrapped_old` with `wrapped_new` (the same secret under the additional data of the
    /// sealed format). Unless that was done already (then `false`). Needs the signer.
    fn seal_rows<'a>(
        &'a self,
        wrapped_old: &'a [u8],
        wrapped_new: &'a [u8],
        history: &'a History,
    ) -> BoxFuture<'a, Result<bool, Error>>;

    /// Every entry and the head, in one snapshot.
    fn audit_log(&self) -> BoxFuture<'_, Result<(Vec<AuditEntry>, Head), Error>>;

    /// [`KeyTable::audit_log`], for a check of the whole log: an error, rather than a log
    /// with gaps, where this handle cannot see every entry (a PostgreSQL login limited to
    /// some paths).
    fn whole_audit_log(&self) -> BoxFuture<'_, Result<(Vec<AuditEntry>, Head), Error>> {
        self.audit_log()
    }

    /// What signs this handle's appends from now on (the first one given stays).
    fn set_audit_signer(&self, signer: Arc<AuditSigner>);

    /// The row of paths of key `name` and its last entry, with the entry the row is sealed
    /// to, in one snapshot ([`super::key_paths`]): what decides the MAC key of its rows
    /// ([`super::key_row_key`]).
    fn key_paths_row<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, Result<(KeyPathsRow, Option<AuditEntry>), Error>>;

    /// The `K_paths` of a key with a root of its own, unwrapped by this handle's home: its
    /// writes check and seal the key's rows with it where its row of paths says so; with
    /// `rows_under_it`, this handle found them so, and a row of paths that says otherwise
    /// later is refused.
    fn use_paths_key(&self, key: Arc<PathsKey>, rows_under_it: bool);
}

/// The error for a key that does not exist.
pub fn no_such_key(location: &str, name: &str) -> Error {
    Error::missing(format!("no key named `{name}` in the store {location}"))
        .advice(Advice::ListKeys)
}

/// The error for a root key that is not the store's.
pub fn root_mismatch(location: &str, root_id: &str, recorded: &str) -> Error {
    Error::denied(format!(
        "the root key ({root_id}) is not the one the keys of the store {location} are wrapped \
         with ({recorded})"
    ))
    .advice(Advice::UseInitRootKey)
}
