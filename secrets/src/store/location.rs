//! Where a store is: a store URL, naming an SQLite file or a PostgreSQL database.

use std::path::PathBuf;

use crate::error::{Advice, Error};

/// Where a parameter store is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// `sqlite://PATH`: an SQLite store file.
    Sqlite(PathBuf),
    /// `postgres://…` (or `postgresql://…`): a PostgreSQL database.
    Postgres(StoreUrl),
}

/// A database URL, which may hold a password: `Debug` shows the scheme only.
#[derive(Clone, PartialEq, Eq)]
pub struct StoreUrl(zeroize::Zeroizing<String>);

impl StoreUrl {
    /// The URL, password and all (to connect with; never for messages).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for StoreUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreUrl(postgres://[redacted])")
    }
}

impl StoreLocation {
    /// Parses `sqlite://PATH` (`sqlite:///abs/coffer.db`, `sqlite://rel/coffer.db`) and
    /// `postgres://USER@HOST:PORT/DATABASE`.
    ///
    /// # Errors
    /// Other schemes ([`Error::Invalid`]); `postgres://` in a build without the `postgres`
    /// feature ([`Error::Unsupported`]).
    pub fn parse(url: &str) -> Result<Self, Error> {
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(Error::invalid(format!("store URL {url}: no file path")));
            }
            return Ok(Self::Sqlite(PathBuf::from(path)));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            if cfg!(feature = "postgres") {
                return Ok(Self::Postgres(StoreUrl(zeroize::Zeroizing::new(
                    url.to_owned(),
                ))));
            }
            return Err(Error::unsupported(
                "store URL postgres://…: this build has no PostgreSQL support",
            )
            .advice(Advice::BuildWithPostgres));
        }
        let scheme = url.split_once("://").map_or("", |(s, _)| s);
        Err(Error::invalid(format!(
            "unknown store URL scheme `{}`",
            scheme.escape_debug()
        ))
        .advice(Advice::StoreUrlForms))
    }
}
