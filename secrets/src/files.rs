//! Files written so that a reader never sees half of one.
//!
//! A file is written to a temporary file in its directory (mode `0600`; on Linux an unnamed
//! one), synced, and only then given its name ([`AtomicFile`]), so a partial or unverified
//! file never appears under its name, and dropping an [`AtomicFile`] without
//! [`AtomicFile::commit`] leaves nothing. A new file never replaces one that appeared
//! meanwhile. In an output tree nothing is created through a symbolic link ([`OutDir`],
//! [`Place`]).

mod atomic;
mod dir;

pub use atomic::AtomicFile;
pub use dir::{OutDir, Place};

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

/// What went wrong with a file or directory. Every variant names it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FileError {
    /// The file exists, and replacing it was not asked for.
    #[error("output file {} already exists", .0.display())]
    Exists(PathBuf),
    /// The file's parent directory does not exist.
    #[error("directory {} does not exist (for output file {})", .dir.display(), .path.display())]
    MissingParent {
        /// The missing directory.
        dir: PathBuf,
        /// The file asked for.
        path: PathBuf,
    },
    /// A directory was given where a file is needed.
    #[error("{} is a directory", .0.display())]
    IsDirectory(PathBuf),
    /// A symbolic link inside an output tree, where a directory or file is to be created.
    #[error("{} is a symbolic link: nothing is written through a link in the output tree", .0.display())]
    Symlink(PathBuf),
    /// A path in an output tree exists and is neither a regular file nor a directory.
    #[error("{} exists and is not a regular file", .0.display())]
    NotRegular(PathBuf),
    /// Any other I/O failure.
    #[error("cannot {action} {}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What was being done ("open", "create a temporary file next to", ...).
        action: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

impl FileError {
    /// An I/O failure doing `action` to `path`.
    #[must_use]
    pub fn io(path: &Path, action: &'static str, source: io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            action,
            source,
        }
    }
}

/// The directory a file lives in (`.` for a bare file name).
#[must_use]
pub fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Syncs a directory, making the renames done in it durable (the files' data is synced before
/// they are renamed).
///
/// # Errors
/// Opening or syncing the directory failed.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir).and_then(|d| d.sync_all())
}
