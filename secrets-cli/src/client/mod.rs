//! The library for services: read parameters from a coffer store without the CLI.
//!
//! [`Secrets`] opens a store from a URL (`sqlite:///srv/coffer/coffer.db`) or a `COFFER_HOME`
//! directory, with the local keyring of that home for `secure-string` values, and reads
//! values with [`Secrets::get`] and [`Secrets::get_by_path`]. [`CachingClient`] keeps what it
//! read for a time to live, as the AWS Secrets Manager caching client does.
//!
//! Nothing here prompts: a root key protected by a passphrase needs `COFFER_PASSPHRASE_FILE`
//! or [`Secrets::open_with_passphrase`]. Nothing here starts a runtime either: the methods are
//! `async fn`s for the caller's executor (the SQLite store answers at once, so
//! `futures::executor::block_on` is fine too).
//!
//! ```no_run
//! # async fn run() -> Result<(), coffer::params::ParamError> {
//! use std::time::Duration;
//! use coffer::client::{CachingClient, Secrets};
//!
//! let secrets = Secrets::open("sqlite:///srv/coffer/coffer.db")?;
//! let cache = CachingClient::new(secrets, Duration::from_secs(300)).max_entries(1000);
//! let password = cache.get("/app/prod/db-password").await?;
//! println!("{} bytes", password.value.len());
//! let all = cache.get_by_path("/app/prod", true).await?;
//! println!("{} parameters", all.len());
//! cache.refresh("/app/prod/db-password").await?; // after a rotation
//! # Ok(()) }
//! ```

mod cache;

use std::fmt;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use coffer_core::keyring::{BoxFuture, HierarchicalKeyring, Keyring};
use zeroize::Zeroizing;

pub use cache::{CachingClient, Clock, DEFAULT_MAX_ENTRIES, ManualClock, SystemClock};

use crate::config::StoreLocation;
use crate::home::Home;
use crate::params::{
    Param, ParamError, ParamPath, ParamResult, ParamStore, Params, STORE_KEY_NAME, Selector,
    SqliteParamStore, ValueKeys, max_value_bytes_from_env,
};
use crate::report::CliError;
use crate::store::root::{self, PASSPHRASE_FILE_VAR, Passphrase, Protection};
use crate::store::{KeyTable, LocalKeyStore, Store};

/// A coffer store opened by a service (see the [module docs](self)).
#[derive(Debug, Clone)]
pub struct Secrets {
    params: Params,
}

impl Secrets {
    /// Opens the store at `url_or_home`: `sqlite://PATH` (the store file; its root key is
    /// `root.key` in the same directory), or a `COFFER_HOME` directory. PostgreSQL stores:
    /// [`Secrets::connect`]. The passphrase of a protected root key comes from the
    /// file named by `COFFER_PASSPHRASE_FILE`.
    ///
    /// Nothing is decrypted, and the root key is not loaded, until a secure value is read.
    ///
    /// # Errors
    /// A bad or unsupported URL; no store there; a file that is not a store, or of a newer
    /// schema; a bad `COFFER_MAX_VALUE_BYTES`.
    pub fn open(url_or_home: &str) -> ParamResult<Self> {
        Self::open_inner(url_or_home, None)
    }

    /// As [`Secrets::open`], with the passphrase of the root key given here (wiped on drop)
    /// rather than read from `COFFER_PASSPHRASE_FILE`.
    ///
    /// # Errors
    /// As [`Secrets::open`].
    pub fn open_with_passphrase(
        url_or_home: &str,
        passphrase: Zeroizing<Vec<u8>>,
    ) -> ParamResult<Self> {
        Self::open_inner(url_or_home, Some(passphrase))
    }

    /// A service over [`Params`] built by the caller (another store or other keys).
    pub fn from_params(params: Params) -> Self {
        Self { params }
    }

    fn open_inner(url_or_home: &str, passphrase: Option<Zeroizing<Vec<u8>>>) -> ParamResult<Self> {
        let (home, store) = open_store(url_or_home)?;
        let store = Arc::new(store);
        Self::with_keys(
            Arc::new(SqliteParamStore::new(store.clone())),
            store,
            home,
            passphrase,
        )
    }

    /// Connects to the PostgreSQL store at `url` (`postgres://USER@HOST:PORT/DATABASE`, the
    /// password from the URL or `PGPASSWORD`), with the root key of the `COFFER_HOME`
    /// directory `home` (`home/root.key`, the same file on every machine that shares the
    /// store). Runs on the caller's tokio runtime, which drives the connection.
    ///
    /// # Errors
    /// A bad URL; no runtime; the server is unreachable or refuses the login; a schema
    /// newer than this build; a bad `COFFER_MAX_VALUE_BYTES`.
    #[cfg(feature = "postgres")]
    pub async fn connect(url: &str, home: impl AsRef<Path>) -> ParamResult<Self> {
        let pg = Arc::new(crate::store::PgStore::connect(url).await?);
        Self::with_keys(pg.clone(), pg, Home::new(home.as_ref()), None)
    }

    fn with_keys(
        store: Arc<dyn ParamStore>,
        table: Arc<dyn KeyTable>,
        home: Home,
        passphrase: Option<Zeroizing<Vec<u8>>>,
    ) -> ParamResult<Self> {
        let keys = ServiceKeys {
            home,
            table,
            passphrase,
            local: Mutex::new(None),
        };
        Ok(Self {
            params: Params::new(store, Arc::new(keys), max_value_bytes_from_env()?),
        })
    }

    /// The parameter service (writes, listings, history).
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// The value of `name` (`/app/db-password`, or `NAME:VERSION`, `NAME:LABEL`).
    ///
    /// # Errors
    /// A bad name; not found, deleted, destroyed or expired; a secure value that does not
    /// decrypt; the root key cannot be loaded.
    pub async fn get(&self, name: &str) -> ParamResult<Param> {
        self.params.get(&Selector::parse(name)?).await
    }

    /// The latest value of every parameter under `path` (directly below it, or at any depth
    /// with `recursive`), by name. Expired values are included (see
    /// [`crate::params::VersionMeta::is_expired`]).
    ///
    /// # Errors
    /// A bad path; the store failed; a secure value does not decrypt.
    pub async fn get_by_path(&self, path: &str, recursive: bool) -> ParamResult<Vec<Param>> {
        self.params
            .get_by_path(&ParamPath::parse(path)?, recursive)
            .await
    }
}

impl From<Params> for Secrets {
    fn from(params: Params) -> Self {
        Self::from_params(params)
    }
}

/// The home and the store that `url_or_home` names.
fn open_store(url_or_home: &str) -> Result<(Home, Store), CliError> {
    if url_or_home.contains("://") {
        let StoreLocation::Sqlite(path) = StoreLocation::parse(url_or_home)? else {
            return Err(CliError::usage(
                "postgres://…: Secrets::open opens SQLite stores; connect to a PostgreSQL store \
                 with Secrets::connect(URL, COFFER_HOME) on a tokio runtime",
            ));
        };
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let home = Home::new(dir);
        let store = Store::open_file(path)?;
        return Ok((home, store));
    }
    if url_or_home.is_empty() {
        return Err(CliError::usage(
            "no store given: expected sqlite://PATH or a directory",
        ));
    }
    let home = Home::new(url_or_home);
    let store = Store::open(&home)?;
    Ok((home, store))
}

/// The keys of a service: the local keyring of the home, its root key loaded on first use
/// without ever asking on a terminal.
struct ServiceKeys {
    home: Home,
    table: Arc<dyn KeyTable>,
    passphrase: Option<Zeroizing<Vec<u8>>>,
    local: Mutex<Option<Arc<LocalKeyStore>>>,
}

impl fmt::Debug for ServiceKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceKeys")
            .field("home", &self.home)
            .field("passphrase", &self.passphrase.as_ref().map(|_| "<given>"))
            .finish_non_exhaustive()
    }
}

fn key_error(what: &str, e: impl Into<anyhow::Error>) -> ParamError {
    ParamError::Key {
        what: what.to_owned(),
        source: e.into(),
    }
}

impl ServiceKeys {
    async fn local(&self) -> ParamResult<Arc<LocalKeyStore>> {
        let slot = || self.local.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(s) = &*slot() {
            return Ok(s.clone());
        }
        let opened = Arc::new(
            open_local(&self.home, &self.table, self.passphrase.as_ref())
                .await
                .map_err(|e| key_error("load the root key", e))?,
        );
        Ok(slot().get_or_insert(opened).clone())
    }
}

/// Opens the local key store of `home` without a prompt.
async fn open_local(
    home: &Home,
    table: &Arc<dyn KeyTable>,
    passphrase: Option<&Zeroizing<Vec<u8>>>,
) -> Result<LocalKeyStore, CliError> {
    let path = home.root_key_path();
    if let Some(p) = passphrase {
        let (key, _) =
            root::load_root_key(&path, || Ok(Passphrase::new(Zeroizing::new(p.to_vec()))))?;
        return LocalKeyStore::open(table.clone(), key).await;
    }
    let from_file = std::env::var_os(PASSPHRASE_FILE_VAR).is_some_and(|v| !v.is_empty());
    if !from_file {
        // A missing or unreadable file is reported by `open_keys_with`.
        if let Ok(bytes) = root::read_key_file(&path) {
            if let Protection::Passphrase(_) = root::protection(&path, &bytes)? {
                return Err(CliError::usage(format!(
                    "the root key {} is protected by a passphrase, and a library does not ask \
                     for one",
                    path.display()
                ))
                .hint(format!(
                    "set {PASSPHRASE_FILE_VAR} to a file that holds it, or open the store \
                     with Secrets::open_with_passphrase"
                )));
            }
        }
    }
    crate::store::open_keys_in(home, table.clone()).await
}

impl ValueKeys for ServiceKeys {
    fn encrypt_keyring(&self) -> BoxFuture<'_, ParamResult<(Arc<dyn Keyring>, String)>> {
        Box::pin(async move {
            let local = self.local().await?;
            if local.table().get_key(STORE_KEY_NAME).await?.is_none() {
                return Err(key_error(
                    "use the store key",
                    anyhow::anyhow!(
                        "the store has no key `{STORE_KEY_NAME}` yet: write a first secure \
                         value with `coffer put`"
                    ),
                ));
            }
            let ring: Arc<dyn Keyring> = Arc::new(HierarchicalKeyring::new(local, STORE_KEY_NAME));
            Ok((ring, format!("local:{STORE_KEY_NAME}")))
        })
    }

    fn decrypt_keyring(&self) -> BoxFuture<'_, ParamResult<Arc<dyn Keyring>>> {
        Box::pin(async move {
            let ring: Arc<dyn Keyring> =
                Arc::new(HierarchicalKeyring::any_branch_key(self.local().await?));
            Ok(ring)
        })
    }
}

#[cfg(test)]
mod tests;
