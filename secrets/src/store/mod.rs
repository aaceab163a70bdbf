//! The stores and what they share: the rules every backend applies to its rows (`rows`,
//! `key_rows`), the key hierarchy over any backend's key table ([`KeyTable`],
//! [`LocalKeyStore`]), root keys ([`root`]), the audit chain ([`audit`]) and the store's
//! location. The backends themselves are in `crate::backend`: the embedded SQLite store
//! (`COFFER_HOME/coffer.db`, `Store`) and, with the `postgres` feature, a shared PostgreSQL
//! one (`PgStore`).
//!
//!
//! # Rotation
//!
//! `coffer key rotate NAME` adds version `active + 1` (fresh material, fresh UUID, wrapped
//! under the root key with [`branch_key_aad`]) and makes it active, in one transaction that
//! first checks the active version is still the one the new version follows. `--due` also
//! re-checks, inside that transaction, that the key is enabled and that its rotation period
//! has passed since its active version was made: two runs started together rotate a due key
//! once (the second finds a fresh active version and leaves the key alone).
//!
//! # Root rotation
//!
//! `coffer key rotate --root` re-wraps every key version under a new root key; the branch key
//! material does not change, so no message needs to. The store and `root.key` are two files,
//! so the switch is ordered so that a crash at any point leaves a store that opens:
//!
//! 1. Outside any transaction: load the current root key (the passphrase, if any, is read
//!    once), make the new one and encode it with the same protection (same passphrase, same
//!    Argon2id cost), unwrap every version with the old root and wrap it with the new one.
//! 2. `BEGIN IMMEDIATE`; check that `meta.root_id` is still the old root and that every
//!    version row is as read in step 1 (else roll back and start step 1 again); update every
//!    row (`wrapped`, `root_id`) and `meta.root_id`; write the new key to the side file
//!    `root.key.next` (mode `0600`: temporary file, fsync, rename, directory fsync);
//!    `COMMIT`. The store now uses the new root; `root.key` still holds the old one.
//! 3. Under the write lock again, if `meta.root_id` is the new root: rename `root.key.next`
//!    over `root.key`, fsync the directory.
//!
//! Whoever loads the root key (`open_keys`) checks it against `meta.root_id`. If they
//! differ and `root.key.next` holds the store's root, a crash hit between 2 and 3: it
//! finishes the switch (the rename of step 3, under the write lock). If `root.key` is the
//! store's root and a side file (or its temporary file) exists, a crash hit before the commit
//! of step 2: the side file wraps nothing and is removed, under the write lock.
//!
//! Every write and every rename of `root.key.next` happens under the store's write lock,
//! after checking `meta.root_id`, so two root rotations (or a rotation and a recovery) cannot
//! replace each other's side file: the side file is written only while the store's root is
//! the key in `root.key`, and renamed only while the store's root is the key in it.
//!
//! # Test hook
//!
//! Built with the `test-pause` feature (coffer's own kill tests; never a build for users) and
//! run with `COFFER_TEST_PAUSE_MS=N`, writes print `coffer test pause: STEP` on stderr at each
//! step and sleep `N` ms there, so that the tests can SIGKILL them at each step. Without the
//! feature the hook is compiled out.

pub mod audit;
pub mod audit_key;
pub mod audit_signer;
mod branch;
pub mod key_paths;
pub mod key_row_key;
pub(crate) mod key_rows;
pub mod key_seal;
mod location;
mod own_keys;
pub mod param_seal;
pub(crate) mod passphrase;
pub mod policy_seal;
pub mod root;
pub mod roots;
pub(crate) mod rows;
pub mod seen;
pub mod seen_paths;
pub(crate) mod table;
pub(crate) mod test_pause;

pub use branch::{BRANCH_KEY_TTL, LocalKeyStore, Rotation};
pub use key_rows::{
    AddVersion, KeyRecord, KeySpec, KeyState, Lookup, MAX_NAME_LEN, Seal, VersionRecord,
    VersionRow, Which, branch_key_aad, format_uuid, name_problem, new_uuid, validate_name,
};
pub use location::{StoreLocation, StoreUrl};
pub use passphrase::{
    MAX_PASSPHRASE_FILE, PASSPHRASE_FILE_VAR, Passphrase, PassphraseCache, PassphraseSource, Prompt,
};
pub use table::{KeyTable, no_such_key};
#[cfg(feature = "test-pause")]
pub use test_pause::TEST_PAUSE_VAR;

#[cfg(feature = "postgres")]
pub use crate::backend::postgres::PgStore;
#[cfg(feature = "sqlite")]
pub use crate::backend::sqlite::switch::{RootRotation, rotate_root};
#[cfg(feature = "sqlite")]
pub use crate::backend::sqlite::{BUSY_TIMEOUT, SCHEMA_VERSION, SqliteParamStore, Store};

#[cfg(feature = "sqlite")]
use crate::backend::sqlite::switch;
use crate::error::Error;
use crate::home::Home;

/// Opens the store of `home` with its local root key (asking for the passphrase if the key
/// file has one), finishing or cleaning up after an interrupted root rotation (see the
/// module docs).
///
/// # Errors
/// No store; a missing, damaged or locked root key; SQLite errors.
#[cfg(feature = "sqlite")]
pub fn open_keys(home: &Home, passphrase: &PassphraseSource) -> Result<LocalKeyStore, Error> {
    open_keys_with(home, std::sync::Arc::new(Store::open(home)?), passphrase)
}

/// As [`open_keys`], over `store` (the store of `home`, open already).
///
/// # Errors
/// A missing, damaged or locked root key; SQLite errors.
#[cfg(feature = "sqlite")]
pub fn open_keys_with(
    home: &Home,
    store: std::sync::Arc<Store>,
    passphrase: &PassphraseSource,
) -> Result<LocalKeyStore, Error> {
    let mut passphrase = PassphraseCache::new(passphrase.clone());
    let (root, _) = switch::load_root(home, &store, &mut passphrase)?;
    let seen = seen::SeenFile::new(home, &store.path().display().to_string());
    Ok(LocalKeyStore::new(store, root)?
        .with_seen(seen)
        .with_own_roots(home))
}

/// Seals every key and every parameter of the SQLite store of `home` as its rows are now,
/// edits made outside coffer included, under its root key (coffer's own tests, which move key
/// versions back in time or set an expiry in the past; only in builds with the `test-pause`
/// feature). The keys whose rows are under keys of their own are left as they are, but
/// `store_key_of`, sealed under the store's `K_rows` as a holder of the store's root key
/// without its own root could.
///
/// # Errors
/// As [`open_keys`].
#[cfg(all(feature = "sqlite", feature = "test-pause"))]
pub fn reseal_for_tests(
    home: &Home,
    passphrase: &PassphraseSource,
    store_key_of: Option<&str>,
) -> Result<(), Error> {
    let store = std::sync::Arc::new(Store::open(home)?);
    let keys = open_keys_with(home, store.clone(), passphrase)?;
    futures_ready(keys.audit_key())?;
    // The keys with roots of their own that the home holds: sealed under their own keys.
    let mut own = Vec::new();
    for record in store.list_keys()? {
        if record.root.is_none() || keys.root_unusable(&record).is_some() {
            continue;
        }
        let (row, _) = futures_ready(KeyTable::key_paths_row(&*store, &record.name))?;
        if let Some(raw) = row.row {
            own.push(futures_ready(keys.paths_key(&record, &raw.secret))?);
        }
    }
    store.reseal_for_tests(&own, store_key_of)
}

/// Seals the path policies of the SQLite store of `home` as their rows are now, to the last
/// policy change the log's head names, appending nothing (coffer's own tests: what a holder
/// of the store's root key could write while another process changes the policies; only in
/// builds with the `test-pause` feature).
///
/// # Errors
/// As [`open_keys`].
#[cfg(all(feature = "sqlite", feature = "test-pause"))]
pub fn reseal_policies_for_tests(home: &Home, passphrase: &PassphraseSource) -> Result<(), Error> {
    let store = std::sync::Arc::new(Store::open(home)?);
    let keys = open_keys_with(home, store.clone(), passphrase)?;
    futures_ready(keys.audit_key())?;
    store.reseal_policies_for_tests()
}

/// The result of a future over the SQLite store, which never waits.
#[cfg(all(feature = "sqlite", feature = "test-pause"))]
fn futures_ready<T>(f: impl Future<Output = Result<T, Error>>) -> Result<T, Error> {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match f.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(v) => v,
        std::task::Poll::Pending => Err(Error::backend(
            "internal error: a future over an SQLite store waited",
        )),
    }
}

/// As `open_keys_with`, over the key rows of any store (the SQLite store of `home`, or a
/// shared PostgreSQL store whose root key file is `home`'s), with the store's audit log
/// opened: checked against what `home` has seen of it ([`seen`]), and signing this
/// process's writes ([`LocalKeyStore::audit_key`]).
///
/// # Errors
/// A missing, damaged or locked root key; store errors.
pub async fn open_keys_in(
    home: &Home,
    table: std::sync::Arc<dyn KeyTable>,
    passphrase: &PassphraseSource,
) -> Result<LocalKeyStore, Error> {
    let mut passphrase = PassphraseCache::new(passphrase.clone());
    let (root, _) = table.load_root(home, &mut passphrase)?;
    let seen = seen::SeenFile::new(home, &table.location());
    let keys = LocalKeyStore::open(table, root)
        .await?
        .with_seen(seen)
        .with_own_roots(home);
    keys.audit_key().await?;
    Ok(keys)
}

/// `coffer audit verify`: checks the store in `table` against what `home` has seen of it
/// (before anything else, so a replaced store is not written to), then its whole audit log
/// with `home`'s root key, writing nothing to the store. Returns the result and the number of
/// entries from before the log was keyed.
///
/// # Errors
/// A store rolled back, forked or replaced; no audit key; a missing, damaged or locked root
/// key; store errors.
pub async fn verify_store(
    home: &Home,
    table: std::sync::Arc<dyn KeyTable>,
    passphrase: &PassphraseSource,
) -> Result<(audit::Verified, u64), Error> {
    let seen = seen::SeenFile::new(home, &table.location());
    audit_key::precheck(table.as_ref(), &seen).await?;
    let mut passphrase = PassphraseCache::new(passphrase.clone());
    let (root, _) = table.load_root(home, &mut passphrase)?;
    LocalKeyStore::open(table, root)
        .await?
        .with_seen(seen)
        .verify_audit()
        .await
}

/// `coffer audit accept`: checks the whole audit log of the store in `table` with `home`'s
/// root key and makes its head what `home` has seen, whatever `home` saw before (a backup
/// restored on purpose, a store replaced). Returns the number of entries.
///
/// # Errors
/// The log fails verification (nothing is recorded); a missing, damaged or locked root key;
/// store errors.
pub async fn accept_store(
    home: &Home,
    table: std::sync::Arc<dyn KeyTable>,
    passphrase: &PassphraseSource,
) -> Result<u64, Error> {
    let mut passphrase = PassphraseCache::new(passphrase.clone());
    let (root, _) = table.load_root(home, &mut passphrase)?;
    let seen = seen::SeenFile::new(home, &table.location());
    LocalKeyStore::open(table, root)
        .await?
        .with_seen(seen)
        .accept_audit()
        .await
}

/// The store at `location` (`home`'s own SQLite store, another SQLite file, or a
/// PostgreSQL database), as parameters and as key rows.
///
/// # Errors
/// No store there; a file that is not a database; a schema newer than this build; the
/// server is unreachable.
pub async fn open_store(
    location: &StoreLocation,
    home: &Home,
) -> Result<
    (
        std::sync::Arc<dyn crate::params::ParamStore>,
        std::sync::Arc<dyn KeyTable>,
    ),
    Error,
> {
    use std::sync::Arc;
    match location {
        #[cfg(feature = "sqlite")]
        StoreLocation::Sqlite(path) => {
            let sqlite = Arc::new(open_sqlite(path, home)?);
            Ok((Arc::new(SqliteParamStore::new(sqlite.clone())), sqlite))
        }
        #[cfg(not(feature = "sqlite"))]
        StoreLocation::Sqlite(_) => {
            let _ = home;
            Err(no_sqlite())
        }
        #[cfg(feature = "postgres")]
        StoreLocation::Postgres(url) => {
            let pg = Arc::new(PgStore::connect(url.expose()).await?);
            Ok((pg.clone(), pg))
        }
        #[cfg(not(feature = "postgres"))]
        StoreLocation::Postgres(_) => {
            Err(Error::unsupported("this build has no PostgreSQL support")
                .advice(crate::error::Advice::BuildWithPostgres))
        }
    }
}

/// The error of a build without SQLite stores, asked for one.
#[must_use]
pub fn no_sqlite() -> Error {
    Error::unsupported("this build has no SQLite support")
        .advice(crate::error::Advice::BuildWithSqlite)
}

/// The SQLite store in the file `path`: `home`'s own store (`home/coffer.db`), or another
/// file.
///
/// # Errors
/// No store there; a file that is not a store; a schema newer than this build.
#[cfg(feature = "sqlite")]
pub fn open_sqlite(path: &std::path::Path, home: &Home) -> Result<Store, Error> {
    if path == home.store_path() {
        Store::open(home)
    } else {
        Store::open_file(path.to_path_buf())
    }
}

#[cfg(all(test, feature = "sqlite"))]
mod tests;
