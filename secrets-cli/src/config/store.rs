//! Where the store is: `--store` / `COFFER_STORE` (an SQLite file or a PostgreSQL URL).

use std::path::PathBuf;

use crate::report::CliError;

/// Where the parameter store is (`--store`).
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
    /// Other schemes (usage errors; `postgres://` in a build without the `postgres`
    /// feature).
    pub fn parse(url: &str) -> Result<Self, CliError> {
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(CliError::usage(format!("--store {url}: no file path")));
            }
            return Ok(Self::Sqlite(PathBuf::from(path)));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            if cfg!(feature = "postgres") {
                return Ok(Self::Postgres(StoreUrl(zeroize::Zeroizing::new(
                    url.to_owned(),
                ))));
            }
            return Err(CliError::usage(
                "--store postgres://…: this build has no PostgreSQL support",
            )
            .hint("build coffer with its default features (the `postgres` feature)"));
        }
        let scheme = url.split_once("://").map_or("", |(s, _)| s);
        Err(CliError::usage(format!(
            "--store: unknown store URL scheme `{}`",
            scheme.escape_debug()
        ))
        .hint("store URLs are sqlite://PATH and postgres://USER@HOST:PORT/DATABASE"))
    }
}
