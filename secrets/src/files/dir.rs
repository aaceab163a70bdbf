//! Output directories held open as handles: files and subdirectories are created relative to
//! them, never through a symbolic link.
//!
//! The directory a user names (`-o DIR` of a directory run, the directory of `-o FILE`) is
//! opened as given, symbolic links included: that is the user's choice. Below it, in the output
//! tree of a directory run, every component is opened with `O_NOFOLLOW | O_DIRECTORY` relative
//! to its parent's handle, so a link planted in the tree (`out/sub -> ../elsewhere`) is an error
//! for the files below it, never a way out of the tree. The final name is looked at without
//! following it ([`Place::in_tree`]), and the file itself is created by `linkat` or `renameat`
//! ([`super::AtomicFile`]), neither of which follows a link at the new name.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

use super::{FileError, parent_dir};

/// Mode of the directories created in an output tree.
const DIR_MODE: u32 = 0o700;

/// An open directory; outputs are created relative to it.
#[derive(Debug)]
pub struct OutDir {
    fd: OwnedFd,
    /// The path it was reached by, for messages.
    path: PathBuf,
}

impl OutDir {
    /// Opens the directory `path` as named (symbolic links in it followed).
    ///
    /// # Errors
    /// It cannot be opened as a directory.
    pub fn open(path: &Path) -> io::Result<Self> {
        let fd = rustix::fs::open(
            path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Self {
            fd,
            path: path.to_path_buf(),
        })
    }

    /// The path this directory was reached by.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The directory `rel` (plain names only) below this one: each component is opened
    /// without following a symbolic link, and created (mode `0700`) when missing if `create`.
    ///
    /// # Errors
    /// A component is a symbolic link ([`FileError::Symlink`]) or not a directory, or cannot
    /// be opened or created.
    pub fn descend(&self, rel: &Path, create: bool) -> Result<OutDir, FileError> {
        let mut cur: Option<OutDir> = None;
        for c in rel.components() {
            let name = match c {
                Component::CurDir => continue,
                Component::Normal(name) => name,
                _ => {
                    return Err(FileError::io(
                        &self.path.join(rel),
                        "open a directory below",
                        io::Error::from(io::ErrorKind::InvalidInput),
                    ));
                }
            };
            let next = cur.as_ref().unwrap_or(self).child(name, create)?;
            cur = Some(next);
        }
        match cur {
            Some(dir) => Ok(dir),
            None => Ok(OutDir {
                fd: self
                    .fd
                    .try_clone()
                    .map_err(|e| FileError::io(&self.path, "open", e))?,
                path: self.path.clone(),
            }),
        }
    }

    /// The subdirectory `name`, not through a link; created if missing and `create`.
    fn child(&self, name: &OsStr, create: bool) -> Result<OutDir, FileError> {
        let path = self.path.join(name);
        let open = || {
            rustix::fs::openat(
                &self.fd,
                name,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
        };
        let fd = match open() {
            Ok(fd) => fd,
            Err(Errno::NOENT) if create => {
                match rustix::fs::mkdirat(&self.fd, name, Mode::from_raw_mode(DIR_MODE)) {
                    // EEXIST: made meanwhile by someone else; opened (and checked) below.
                    Ok(()) | Err(Errno::EXIST) => {}
                    Err(e) => return Err(FileError::io(&path, "create the directory", e.into())),
                }
                open().map_err(|e| self.not_a_directory(name, path.clone(), e))?
            }
            Err(e) => return Err(self.not_a_directory(name, path, e)),
        };
        Ok(OutDir { fd, path })
    }

    /// The error for `name`, which did not open as a directory with `e`.
    fn not_a_directory(&self, name: &OsStr, path: PathBuf, e: Errno) -> FileError {
        if matches!(e, Errno::LOOP | Errno::NOTDIR) {
            match self.kind(name) {
                Ok(Some(FileType::Symlink)) => return FileError::Symlink(path),
                Ok(Some(FileType::Directory)) | Ok(None) | Err(_) => {}
                Ok(Some(_)) => {
                    return FileError::io(
                        &path,
                        "use as a directory",
                        io::Error::from(io::ErrorKind::NotADirectory),
                    );
                }
            }
        }
        FileError::io(&path, "open the directory", e.into())
    }

    /// What `name` in this directory is (a link is not followed); `None` when nothing is.
    ///
    /// # Errors
    /// It cannot be looked at.
    pub fn kind(&self, name: &OsStr) -> io::Result<Option<FileType>> {
        match rustix::fs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => Ok(Some(FileType::from_raw_mode(st.st_mode))),
            Err(Errno::NOENT) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Syncs the directory, making the files linked or renamed into it durable.
    ///
    /// # Errors
    /// The sync failed.
    pub fn sync(&self) -> io::Result<()> {
        rustix::fs::fsync(&self.fd).map_err(Into::into)
    }
}

impl AsFd for OutDir {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Where a new output file goes: an open directory and a name in it.
#[derive(Debug)]
pub struct Place {
    pub(super) dir: OutDir,
    pub(super) name: OsString,
    /// The output's path, for messages.
    pub(super) path: PathBuf,
}

impl Place {
    /// The place of the file `path` a user named: its directory opened as named (symbolic
    /// links followed), and its file name.
    ///
    /// # Errors
    /// The path has no file name, or its directory is missing or cannot be opened.
    pub fn of(path: &Path) -> Result<Self, FileError> {
        let Some(name) = path.file_name() else {
            return Err(FileError::IsDirectory(path.to_path_buf()));
        };
        let dir_path = parent_dir(path);
        let dir = OutDir::open(dir_path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => FileError::MissingParent {
                dir: dir_path.to_path_buf(),
                path: path.to_path_buf(),
            },
            io::ErrorKind::NotADirectory => FileError::io(dir_path, "use as a directory", e),
            _ => FileError::io(dir_path, "open the directory", e),
        })?;
        Ok(Self {
            dir,
            name: name.to_os_string(),
            path: path.to_path_buf(),
        })
    }

    /// The place of `rel` (a relative file path) in the output tree below `root`: its
    /// directories are opened (created if missing) without following links, and the name is
    /// checked without following it either: nothing there, or (with `force`) a regular file.
    ///
    /// # Errors
    /// A directory or the file itself is a symbolic link ([`FileError::Symlink`]), the file
    /// exists (without `force`), is a directory or another kind of file, or a directory cannot
    /// be opened or created.
    pub fn in_tree(root: &OutDir, rel: &Path, force: bool) -> Result<Self, FileError> {
        let path = root.path().join(rel);
        let Some(name) = rel.file_name() else {
            return Err(FileError::IsDirectory(path));
        };
        let dir = root.descend(rel.parent().unwrap_or(Path::new("")), true)?;
        match dir.kind(name) {
            Ok(None) => {}
            Ok(Some(FileType::RegularFile)) if force => {}
            Ok(Some(FileType::RegularFile)) => return Err(FileError::Exists(path)),
            Ok(Some(FileType::Symlink)) => return Err(FileError::Symlink(path)),
            Ok(Some(FileType::Directory)) => return Err(FileError::IsDirectory(path)),
            Ok(Some(_)) => return Err(FileError::NotRegular(path)),
            Err(e) => return Err(FileError::io(&path, "access", e)),
        }
        Ok(Self {
            dir,
            name: name.to_os_string(),
            path,
        })
    }

    /// The output's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;
    use std::fs;
    use std::os::unix::fs::symlink;

    #[test]
    fn descend_creates_directories_and_refuses_links() {
        let d = tempfile::tempdir().unwrap();
        let out = d.path().join("out");
        let outside = d.path().join("outside");
        fs::create_dir_all(&out).unwrap();
        fs::create_dir_all(&outside).unwrap();
        let root = OutDir::open(&out).unwrap();
        let sub = root.descend(Path::new("a/b"), true).unwrap();
        assert_eq!(sub.path(), out.join("a/b"));
        assert!(out.join("a/b").is_dir());
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(out.join("a/b")).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700);
        }
        // Not created when not asked to.
        assert!(root.descend(Path::new("c"), false).is_err());
        assert!(!out.join("c").exists());

        symlink("../outside", out.join("a/link")).unwrap();
        let err = root.descend(Path::new("a/link/x"), true).unwrap_err();
        assert!(
            matches!(&err, FileError::Symlink(p) if *p == out.join("a/link")),
            "{err}"
        );
        assert!(fs::read_dir(&outside).unwrap().next().is_none());

        fs::write(out.join("file"), b"").unwrap();
        let err = root.descend(Path::new("file/x"), true).unwrap_err();
        assert!(err.to_string().contains("file"), "{err}");
        assert!(root.descend(Path::new("../x"), true).is_err());
        assert!(!d.path().join("x").exists());
    }

    #[test]
    fn places_in_a_tree_check_the_name_without_following_it() {
        let d = tempfile::tempdir().unwrap();
        let out = d.path().join("out");
        fs::create_dir_all(out.join("d")).unwrap();
        fs::write(d.path().join("target"), b"keep").unwrap();
        symlink("../../target", out.join("d/link")).unwrap();
        fs::write(out.join("d/old"), b"old").unwrap();
        let root = OutDir::open(&out).unwrap();
        let place = Place::in_tree(&root, Path::new("d/new"), false).unwrap();
        assert_eq!(place.path(), out.join("d/new"));
        for force in [false, true] {
            let err = Place::in_tree(&root, Path::new("d/link"), force).unwrap_err();
            assert!(matches!(err, FileError::Symlink(_)), "{err}");
        }
        assert!(matches!(
            Place::in_tree(&root, Path::new("d/old"), false),
            Err(FileError::Exists(_))
        ));
        Place::in_tree(&root, Path::new("d/old"), true).unwrap();
        assert!(matches!(
            Place::in_tree(&root, Path::new("d"), true),
            Err(FileError::IsDirectory(_))
        ));
        assert_eq!(fs::read(d.path().join("target")).unwrap(), b"keep");
    }

    #[test]
    fn the_place_of_a_named_file() {
        let d = tempfile::tempdir().unwrap();
        let err = Place::of(&d.path().join("missing/f")).unwrap_err();
        assert!(matches!(err, FileError::MissingParent { .. }), "{err}");
        fs::write(d.path().join("file"), b"").unwrap();
        assert!(Place::of(&d.path().join("file/f")).is_err());
        // The directory a user names may be a link.
        symlink(d.path(), d.path().join("dirlink")).unwrap();
        let place = Place::of(&d.path().join("dirlink/f")).unwrap();
        assert_eq!(place.name, "f");
    }
}
