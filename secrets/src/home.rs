//! `COFFER_HOME`: the directory of the embedded store (`coffer.db`) and the local root key
//! (`root.key`; `root.key.next` exists only while `coffer key rotate --root` switches to a new
//! root key, see [`crate::store`]).
//!
//! Chosen by `--home DIR`, else `$COFFER_HOME`, else `$XDG_DATA_HOME/coffer`, else
//! `~/.local/share/coffer` (an empty or relative `XDG_DATA_HOME` is ignored, as the XDG base
//! directory specification says). The directory is created by `coffer init` with mode `0700`.

use std::ffi::OsString;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::error::{Advice, Error};

/// The store's file name inside the home.
pub const STORE_FILE: &str = "coffer.db";
/// The local root key's file name inside the home.
pub const ROOT_KEY_FILE: &str = "root.key";
/// The next root key during a root rotation (the side file), inside the home.
pub const NEXT_ROOT_KEY_FILE: &str = "root.key.next";

/// A resolved `COFFER_HOME` (it may not exist yet).
///
/// ```
/// use coffer::home::Home;
///
/// let home = Home::new("/etc/coffer");
/// assert_eq!(home.store_path(), std::path::Path::new("/etc/coffer/coffer.db"));
/// assert_eq!(home.root_key_path(), std::path::Path::new("/etc/coffer/root.key"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Home {
    dir: PathBuf,
}

impl Home {
    /// A home at `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// Resolves the home from `--home` and the environment.
    ///
    /// # Errors
    /// A usage error when nothing names a home (no `--home`, `COFFER_HOME`, `XDG_DATA_HOME`
    /// nor `HOME`).
    pub fn resolve(flag: Option<&Path>) -> Result<Self, Error> {
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        resolve_from(flag, var("COFFER_HOME"), var("XDG_DATA_HOME"), var("HOME"))
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `HOME/coffer.db`.
    pub fn store_path(&self) -> PathBuf {
        self.dir.join(STORE_FILE)
    }

    /// `HOME/root.key`.
    pub fn root_key_path(&self) -> PathBuf {
        self.dir.join(ROOT_KEY_FILE)
    }

    /// `HOME/root.key.next`: the new root key while a root rotation switches to it.
    pub fn next_root_key_path(&self) -> PathBuf {
        self.dir.join(NEXT_ROOT_KEY_FILE)
    }

    /// Whether the home holds a store.
    pub fn has_store(&self) -> bool {
        self.store_path().is_file()
    }

    /// Creates the directory (mode `0700`) and its missing parents (default mode). An existing
    /// directory is kept as it is, with a warning if others may read it.
    ///
    /// # Errors
    /// The directory cannot be created, or the path exists and is not a directory.
    pub fn create_dir(&self) -> io::Result<()> {
        if let Some(parent) = self.dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::create_dir_all(parent)?;
        }
        let mut builder = fs::DirBuilder::new();
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt as _;
            builder.mode(0o700);
        }
        match builder.create(&self.dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && self.dir.is_dir() => {
                self.warn_if_open();
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Warns when the directory is readable or writable by group or others.
    pub fn warn_if_open(&self) {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            if let Ok(meta) = fs::metadata(&self.dir) {
                let mode = meta.permissions().mode() & 0o777;
                if mode & 0o077 != 0 {
                    tracing::warn!(
                        "{} has mode {mode:o}: other users may reach the store; chmod 700 it",
                        self.dir.display()
                    );
                }
            }
        }
    }
}

impl std::fmt::Display for Home {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.dir.display().fmt(f)
    }
}

fn resolve_from(
    flag: Option<&Path>,
    coffer_home: Option<OsString>,
    xdg_data_home: Option<OsString>,
    home: Option<OsString>,
) -> Result<Home, Error> {
    if let Some(dir) = flag {
        if dir.as_os_str().is_empty() {
            return Err(Error::invalid("the home directory given is empty"));
        }
        return Ok(Home::new(dir));
    }
    if let Some(dir) = coffer_home {
        return Ok(Home::new(dir));
    }
    if let Some(data) = xdg_data_home.map(PathBuf::from).filter(|p| p.is_absolute()) {
        return Ok(Home::new(data.join("coffer")));
    }
    if let Some(home) = home {
        return Ok(Home::new(
            PathBuf::from(home).join(".local/share").join("coffer"),
        ));
    }
    Err(
        Error::invalid("cannot tell where coffer's home is: HOME is not set")
            .advice(Advice::NameHome),
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    fn os(s: &str) -> Option<OsString> {
        Some(s.into())
    }

    #[test]
    fn resolution_order() {
        let r = |f: Option<&str>, c, x, h| {
            resolve_from(f.map(Path::new), c, x, h)
                .map(|h| h.dir().to_path_buf())
                .ok()
        };
        assert_eq!(
            r(Some("/f"), os("/c"), os("/x"), os("/h")),
            Some("/f".into())
        );
        assert_eq!(r(None, os("/c"), os("/x"), os("/h")), Some("/c".into()));
        assert_eq!(r(None, None, os("/x"), os("/h")), Some("/x/coffer".into()));
        // A relative XDG_DATA_HOME is ignored.
        assert_eq!(
            r(None, None, os("x"), os("/h")),
            Some("/h/.local/share/coffer".into())
        );
        assert_eq!(r(None, None, None, None), None);
        assert!(resolve_from(Some(Path::new("")), None, None, None).is_err());
    }

    #[cfg(unix)]
    #[test]
    fn created_0700() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path().join("a/b/coffer"));
        home.create_dir().unwrap();
        let mode = fs::metadata(home.dir()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        home.create_dir().unwrap(); // again: kept
        let file = Home::new(dir.path().join("f"));
        fs::write(file.dir(), b"x").unwrap();
        assert!(file.create_dir().is_err());
    }
}
