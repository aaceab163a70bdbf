//! The library for services: read parameters from a coffer store without the CLI.
//!
//! [`Secrets`] opens a store from a URL (`sqlite:///srv/coffer/coffer.db`) or a `COFFER_HOME`
//! directory, with the local keyring of that home for `secure-string` values, and reads
//! values with [`Secrets::get`] and [`Secrets::get_by_path`]. [`CachingClient`] keeps what it
//! read for a time to live, as the AWS Secrets Manager caching client does.
//!
//! Nothing here prompts: a root key protected by a passphrase needs `COFFER_PASSPHRASE_FILE`
//! or `Secrets::open_with_passphrase`. Nothing here starts a runtime either: the methods are
//! `async fn`s for the caller's executor (the SQLite store answers at once, so
//! `futures::executor::block_on` is fine too).
//!
//! ```no_run
//! # async fn run() -> Result<(), coffer::error::Error> {
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

use std::path::Path;
use std::sync::Arc;

use zeroize::Zeroizing;

pub use cache::{CachingClient, Clock, DEFAULT_MAX_ENTRIES, ManualClock, SystemClock};

#[cfg(feature = "sqlite")]
use crate::error::Error;
use crate::home::Home;
use crate::params::{
    Param, ParamPath, ParamResult, ParamStore, Params, Selector, StoreKeys,
    max_value_bytes_from_env,
};
use crate::store::KeyTable;
use crate::store::seen::SeenFile;
#[cfg(feature = "sqlite")]
use crate::store::{SqliteParamStore, Store, StoreLocation};

/// A coffer store opened by a service (see the [module docs](self)).
///
/// ```no_run
/// # async fn run() -> Result<(), coffer::error::Error> {
/// use coffer::client::Secrets;
///
/// let secrets = Secrets::open("sqlite:///var/lib/coffer/coffer.db")?;
/// let db = secrets.get("/app/prod/db-password").await?;
/// println!("version {} ({} bytes)", db.meta.version, db.value.len());
/// for p in secrets.get_by_path("/app/prod", false).await? {
///     println!("{}", p.meta.name);
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Secrets {
    params: Params,
}

impl Secrets {
    /// Opens the SQLite store (feature `sqlite`) at `url_or_home`: `sqlite://PATH` (the store file; its root key is
    /// `root.key` in the same directory), or a `COFFER_HOME` directory. PostgreSQL stores:
    /// `Secrets::connect` (feature `postgres`). The passphrase of a protected root key comes from the
    /// file named by `COFFER_PASSPHRASE_FILE`.
    ///
    /// Nothing is decrypted, and the root key is not loaded, until a secure value is read or
    /// something is written. The store is checked against what this home has seen of it
    /// (see [`crate::store::seen`]).
    ///
    /// # Errors
    /// A bad or unsupported URL; no store there; a file that is not a store, or of a newer
    /// schema; a bad `COFFER_MAX_VALUE_BYTES`.
    #[cfg(feature = "sqlite")]
    pub fn open(url_or_home: &str) -> ParamResult<Self> {
        Self::open_inner(url_or_home, None)
    }

    /// As [`Secrets::open`], with the passphrase of the root key given here (wiped on drop)
    /// rather than read from `COFFER_PASSPHRASE_FILE`.
    ///
    /// # Errors
    /// As [`Secrets::open`].
    #[cfg(feature = "sqlite")]
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

    #[cfg(feature = "sqlite")]
    fn open_inner(url_or_home: &str, passphrase: Option<Zeroizing<Vec<u8>>>) -> ParamResult<Self> {
        let (home, store) = sqlite_store_of(url_or_home)?;
        let store = Arc::new(store);
        // Ready at once: the SQLite store answers without waiting.
        futures::executor::block_on(crate::store::audit_key::precheck(
            store.as_ref(),
            &SeenFile::new(&home, &KeyTable::location(store.as_ref())),
        ))?;
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
        let home = Home::new(home.as_ref());
        let seen = SeenFile::new(&home, &KeyTable::location(pg.as_ref()));
        crate::store::audit_key::precheck(pg.as_ref(), &seen).await?;
        Self::with_keys(pg.clone(), pg, home, None)
    }

    fn with_keys(
        store: Arc<dyn ParamStore>,
        table: Arc<dyn KeyTable>,
        home: Home,
        passphrase: Option<Zeroizing<Vec<u8>>>,
    ) -> ParamResult<Self> {
        let keys = StoreKeys::for_service(home, table, passphrase);
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

/// The home and the SQLite store that `url_or_home` names (a `sqlite://` URL or a home).
#[cfg(feature = "sqlite")]
fn sqlite_store_of(url_or_home: &str) -> Result<(Home, Store), Error> {
    if url_or_home.contains("://") {
        let StoreLocation::Sqlite(path) = StoreLocation::parse(url_or_home)? else {
            return Err(Error::invalid(
                "postgres://…: Secrets::open opens SQLite stores; connect to a PostgreSQL store \
                 with Secrets::connect(URL, COFFER_HOME) on a tokio runtime",
            ));
        };
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let home = Home::new(dir);
        let store = crate::store::open_sqlite(&path, &home)?;
        return Ok((home, store));
    }
    if url_or_home.is_empty() {
        return Err(Error::invalid(
            "no store given: expected sqlite://PATH or a directory",
        ));
    }
    let home = Home::new(url_or_home);
    let store = crate::store::open_sqlite(&home.store_path(), &home)?;
    Ok((home, store))
}

#[cfg(all(test, feature = "sqlite"))]
mod tests;
