//! A private directory on memory-backed storage, for a secret that must be a file for a
//! while (`edit` gives one to an editor): never on a disk, so nothing of it is left on one
//! when the process is killed, and nothing is left at all when it ends.
//!
//! The directory is made (mode 0700, a random name, `mkdir` failing on an existing name)
//! in `$XDG_RUNTIME_DIR` if that is a directory of the user's own, not writable by others,
//! on a memory file system (tmpfs, ramfs), else in `/dev/shm` if that is one. Neither is an
//! error: a secret is never written to a disk for want of a better place. Files in it are
//! created mode 0600, never over an existing one. The directory and everything in it (an
//! editor's swap and backup files too) is removed when [`MemDir`] is dropped, and, being
//! registered with [`crate::cleanup`], by a handler of SIGINT, SIGTERM or SIGHUP; after a
//! SIGKILL it stays, in memory, until the next reboot (or, in `$XDG_RUNTIME_DIR`, until the
//! user's last session ends).

use std::fs::OpenOptions;
use std::io::{self, Write as _};
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use crate::error::Error;

/// `statfs` magic numbers of the memory file systems.
const TMPFS_MAGIC: i64 = 0x0102_1994;
const RAMFS_MAGIC: i64 = 0x8584_58f6;

/// A private directory on memory-backed storage (see the module docs).
#[derive(Debug)]
pub struct MemDir {
    dir: Option<tempfile::TempDir>,
    _registration: crate::cleanup::Registration,
}

/// Whether `path` is on a memory file system.
pub fn is_memory_backed(path: &Path) -> bool {
    rustix::fs::statfs(path).is_ok_and(|st| {
        #[allow(
            clippy::useless_conversion,
            reason = "the type differs between targets"
        )]
        let kind = i64::try_from(st.f_type).unwrap_or_default();
        kind == TMPFS_MAGIC || kind == RAMFS_MAGIC
    })
}

/// The directory a [`MemDir`] is made in, and the places looked at when there is none.
fn base() -> Result<PathBuf, Error> {
    let mut tried = Vec::new();
    if let Some(run) = std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from) {
        let own = std::fs::metadata(&run).is_ok_and(|m| {
            m.is_dir() && m.uid() == rustix::process::geteuid().as_raw() && m.mode() & 0o022 == 0
        });
        if run.is_absolute() && own && is_memory_backed(&run) {
            return Ok(run);
        }
        tried.push(format!("XDG_RUNTIME_DIR ({})", run.display()));
    }
    let shm = PathBuf::from("/dev/shm");
    if shm.is_dir() && is_memory_backed(&shm) {
        return Ok(shm);
    }
    tried.push("/dev/shm".into());
    Err(Error::unsupported(format!(
        "no private directory on memory-backed storage: {} is not a tmpfs of this user's; a \
         secret is never written to a disk instead",
        tried.join(" and ")
    )))
}

impl MemDir {
    /// Makes the directory (see the module docs); `prefix` starts its name.
    ///
    /// # Errors
    /// No memory-backed place; it cannot be made.
    pub fn create(prefix: &str) -> Result<Self, Error> {
        let base = base()?;
        let (dir, registration) = crate::cleanup::track(
            || {
                tempfile::Builder::new()
                    .prefix(prefix)
                    .permissions(std::fs::Permissions::from_mode(0o700))
                    .tempdir_in(&base)
            },
            tempfile::TempDir::path,
        )
        .map_err(|e| {
            Error::backend(format!(
                "cannot make a private directory in {}",
                base.display()
            ))
            .caused_by(e)
        })?;
        Ok(Self {
            dir: Some(dir),
            _registration: registration,
        })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        self.dir
            .as_ref()
            .map_or(Path::new(""), tempfile::TempDir::path)
    }

    /// Writes `bytes` to a new file `name` in the directory, mode 0600; returns its path.
    ///
    /// # Errors
    /// A name that is not one plain file name; the file exists or cannot be written.
    pub fn write(&self, name: &str, bytes: &[u8]) -> io::Result<PathBuf> {
        if name.is_empty() || name.contains('/') || name == "." || name == ".." {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a file name without `/`",
            ));
        }
        let path = self.path().join(name);
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)?;
        f.write_all(bytes)?;
        Ok(path)
    }
}

impl Drop for MemDir {
    fn drop(&mut self) {
        if let Some(dir) = self.dir.take() {
            let path = dir.path().to_path_buf();
            if let Err(e) = dir.close() {
                tracing::warn!("cannot remove {}: {e}", path.display());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    #[test]
    fn files_are_private_in_memory_and_gone_on_drop() {
        let Ok(dir) = MemDir::create("coffer-test-") else {
            // A machine without /dev/shm on tmpfs: the refusal is the behaviour.
            assert!(!is_memory_backed(Path::new("/dev/shm")));
            return;
        };
        let path = dir.path().to_path_buf();
        assert!(is_memory_backed(&path));
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o700
        );
        let f = dir.write("value", b"s3cret").unwrap();
        assert_eq!(
            std::fs::metadata(&f).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(dir.write("value", b"again").is_err(), "never over a file");
        assert!(dir.write("../x", b"x").is_err());
        std::fs::write(path.join(".value.swp"), b"editor leftovers").unwrap();
        drop(dir);
        assert!(!path.exists());
    }

    #[test]
    fn a_disk_directory_is_not_memory_backed() {
        let here = std::env::current_dir().unwrap();
        if !is_memory_backed(&here) {
            assert!(!is_memory_backed(&here.join("Cargo.toml")));
        }
    }
}
