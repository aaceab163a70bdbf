//! Output files that appear under their name only once complete, synced and committed.
//!
//! On Linux the data goes to an unnamed file (`O_TMPFILE`, mode `0600` from its creation) in
//! the destination's directory; [`AtomicFile::commit`] syncs it and links it under its name
//! (`linkat` through `/proc/self/fd`, or `AT_EMPTY_PATH`). Until then the file has no name, so
//! no way of ending the process, `kill -9` included, leaves anything behind. Linking fails on an
//! existing name, which makes the no-clobber rule race-free; with `--force` over an existing
//! file the unnamed file is linked under a temporary name and renamed over the old one, so the
//! old file is replaced atomically. Only in the instant between that link and that rename does
//! a (complete, verified) file exist under a temporary name; a signal there removes it, a
//! `kill -9` would leave it.
//!
//! Where the file system has no `O_TMPFILE` (or `/proc` is not mounted, or on other systems),
//! the data goes to a named temporary file, `.NAME.XXXXXXXXXXXX.coffer-tmp` (mode `0600` from
//! its creation), that is renamed over the name on commit (`RENAME_NOREPLACE` without
//! `--force`) and removed when the value is dropped or a terminating signal arrives
//! ([`crate::cleanup`]); there a `kill -9` can leave a partial temporary file.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, Mode, OFlags};
use rustix::io::Errno;

use super::FileError;
use super::dir::{OutDir, Place};
use crate::cleanup::{self, Registration};

/// Mode of output files.
const FILE_MODE: u32 = 0o600;
/// Names tried for a temporary file before giving up.
const ATTEMPTS: usize = 64;
/// Bytes of the destination's name kept in a temporary name (which must stay under NAME_MAX).
const NAME_IN_TEMP: usize = 200;
/// The suffix of temporary names.
pub(crate) const TEMP_SUFFIX: &str = ".coffer-tmp";

/// An output file that only appears under its name once [`AtomicFile::commit`] succeeds;
/// dropping it without committing leaves nothing.
///
/// ```
/// use std::io::Write as _;
///
/// use coffer::files::AtomicFile;
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("out.txt");
/// let mut f = AtomicFile::create(&path, false)?;
/// f.write_all(b"all or nothing")?;
/// assert!(!path.exists()); // not yet
/// f.commit()?;
/// assert_eq!(std::fs::read(&path)?, b"all or nothing");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct AtomicFile {
    file: File,
    tmp: Tmp,
    place: Place,
    force: bool,
}

/// The temporary state of an [`AtomicFile`].
#[derive(Debug)]
enum Tmp {
    /// An unnamed file: nothing to remove, whatever happens.
    Unnamed(Registration),
    /// A named temporary file in the destination's directory, removed unless committed.
    Named(OsString, Registration),
    /// Committed or given up: nothing left to clean up.
    Done,
}

/// How a temporary file may be made (tests force the fallback).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Strategy {
    /// Unnamed where possible, named otherwise.
    Auto,
    /// Named.
    #[cfg_attr(not(test), allow(dead_code, reason = "tests force the fallback"))]
    Named,
}

impl AtomicFile {
    /// Creates the temporary file for `dest` (a path the user named) in `dest`'s directory.
    ///
    /// # Errors
    /// The directory is missing or cannot be written.
    pub fn create(dest: &Path, force: bool) -> Result<Self, FileError> {
        Self::create_at(Place::of(dest)?, force)
    }

    /// Creates the temporary file for `place`.
    ///
    /// # Errors
    /// The directory cannot be written.
    pub fn create_at(place: Place, force: bool) -> Result<Self, FileError> {
        Self::create_with(place, force, Strategy::Auto)
    }

    fn create_with(place: Place, force: bool, strategy: Strategy) -> Result<Self, FileError> {
        if strategy == Strategy::Auto {
            if let Some(made) = create_unnamed(&place.dir)? {
                let (file, registration) = made;
                tracing::debug!(dest = %place.path.display(), "unnamed temporary output");
                return Ok(Self {
                    file,
                    tmp: Tmp::Unnamed(registration),
                    place,
                    force,
                });
            }
        }
        let (file, name, registration) = create_named(&place)?;
        tracing::debug!(
            tmp = %place.dir.path().join(&name).display(),
            dest = %place.path.display(),
            "temporary output"
        );
        Ok(Self {
            file,
            tmp: Tmp::Named(name, registration),
            place,
            force,
        })
    }

    /// The name the file will get.
    pub fn dest(&self) -> &Path {
        &self.place.path
    }

    /// Syncs the data and gives the file its name (never replacing an existing file unless
    /// `force`), then syncs the directory so the name is durable. On failure nothing is left.
    ///
    /// # Errors
    /// Syncing or naming failed; [`FileError::Exists`] when the name was taken meanwhile.
    pub fn commit(mut self) -> Result<(), FileError> {
        self.finish()?;
        if let Err(e) = self.place.dir.sync() {
            tracing::warn!(dir = %self.place.dir.path().display(), "cannot sync directory: {e}");
        }
        Ok(())
    }

    /// [`AtomicFile::commit`] without the directory sync, for callers that write many files
    /// into a few directories and sync each directory once at the end. Returns the
    /// destination.
    ///
    /// # Errors
    /// As [`AtomicFile::commit`].
    pub fn commit_without_dir_sync(mut self) -> Result<PathBuf, FileError> {
        self.finish()?;
        Ok(self.place.path.clone())
    }

    /// Syncs and names the file; afterwards nothing is left to clean up, named or not.
    fn finish(&mut self) -> Result<(), FileError> {
        let synced = self
            .file
            .flush()
            .and_then(|()| self.file.sync_all())
            .map_err(|e| FileError::io(&self.place.path, "sync", e));
        match std::mem::replace(&mut self.tmp, Tmp::Done) {
            Tmp::Unnamed(registration) => {
                let result = synced.and_then(|()| self.link_unnamed());
                drop(registration);
                result
            }
            Tmp::Named(name, registration) => {
                let result = synced.and_then(|()| self.rename_named(&name));
                if result.is_err() {
                    let _ = rustix::fs::unlinkat(&self.place.dir, &name, AtFlags::empty());
                }
                drop(registration);
                result
            }
            Tmp::Done => synced,
        }
    }

    /// Links the unnamed file under its name; with `force`, over an existing file.
    fn link_unnamed(&self) -> Result<(), FileError> {
        let Place { dir, name, path } = &self.place;
        match link_fd(&self.file, dir, name) {
            Ok(()) => Ok(()),
            Err(Errno::EXIST) if self.force => self.replace_by_link(),
            Err(Errno::EXIST) => Err(FileError::Exists(path.clone())),
            Err(e) => Err(FileError::io(path, "create", e.into())),
        }
    }

    /// Replaces the existing file at the name by the unnamed file: linked under a temporary
    /// name (registered, so that a signal removes it), then renamed over the name.
    fn replace_by_link(&self) -> Result<(), FileError> {
        let Place { dir, name, path } = &self.place;
        for _ in 0..ATTEMPTS {
            let tmp = temp_name(name).map_err(|e| FileError::io(path, "create", e))?;
            let tmp_path = dir.path().join(&tmp);
            let linked = cleanup::track(
                || {
                    link_fd(&self.file, dir, &tmp)
                        .map(|()| tmp_path.clone())
                        .map_err(io::Error::from)
                },
                PathBuf::as_path,
            );
            match linked {
                Ok((_, registration)) => {
                    let renamed = rustix::fs::renameat(dir, &tmp, dir, name);
                    if renamed.is_err() {
                        let _ = rustix::fs::unlinkat(dir, &tmp, AtFlags::empty());
                    }
                    drop(registration);
                    return renamed.map_err(|e| FileError::io(path, "replace", e.into()));
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(FileError::io(path, "create", e)),
            }
        }
        Err(FileError::io(
            path,
            "create",
            io::Error::other("no free temporary name"),
        ))
    }

    /// Renames the named temporary file `tmp` to the name; without `force`, never over an
    /// existing file.
    fn rename_named(&self, tmp: &OsStr) -> Result<(), FileError> {
        let Place { dir, name, path } = &self.place;
        let renamed = if self.force {
            rustix::fs::renameat(dir, tmp, dir, name)
        } else {
            rename_noreplace(dir, tmp, name)
        };
        renamed.map_err(|e| match e {
            Errno::EXIST => FileError::Exists(path.clone()),
            e => FileError::io(path, "rename the temporary file to", e.into()),
        })
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if let Tmp::Named(name, registration) = std::mem::replace(&mut self.tmp, Tmp::Done) {
            let _ = rustix::fs::unlinkat(&self.place.dir, &name, AtFlags::empty());
            drop(registration);
        }
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// An unnamed file in `dir` (registered), or `None` where the system or the file system
/// cannot make or later link one.
#[cfg(target_os = "linux")]
fn create_unnamed(dir: &OutDir) -> Result<Option<(File, Registration)>, FileError> {
    use std::sync::OnceLock;
    // Linking goes through /proc/self/fd (AT_EMPTY_PATH needs a privilege): without /proc the
    // named fallback is used.
    static PROC_FD: OnceLock<bool> = OnceLock::new();
    if !*PROC_FD.get_or_init(|| Path::new("/proc/self/fd").is_dir()) {
        return Ok(None);
    }
    let made = cleanup::track_unnamed(|| {
        rustix::fs::openat(
            dir,
            ".",
            OFlags::WRONLY | OFlags::TMPFILE | OFlags::CLOEXEC,
            Mode::from_raw_mode(FILE_MODE),
        )
    });
    match made {
        Ok((fd, registration)) => Ok(Some((File::from(fd), registration))),
        // The codes of "no O_TMPFILE here" (an old kernel opens the directory itself: EISDIR).
        Err(Errno::OPNOTSUPP | Errno::ISDIR | Errno::NOENT | Errno::INVAL) => Ok(None),
        Err(e) => Err(FileError::io(
            dir.path(),
            "create a temporary file in",
            e.into(),
        )),
    }
}

#[cfg(not(target_os = "linux"))]
fn create_unnamed(_dir: &OutDir) -> Result<Option<(File, Registration)>, FileError> {
    Ok(None)
}

/// Links the open file `file` (unnamed) as `name` in `dir`.
#[cfg(target_os = "linux")]
fn link_fd(file: &File, dir: &OutDir, name: &OsStr) -> Result<(), Errno> {
    use std::os::fd::AsRawFd as _;
    let proc = format!("/proc/self/fd/{}", file.as_raw_fd());
    match rustix::fs::linkat(rustix::fs::CWD, &proc, dir, name, AtFlags::SYMLINK_FOLLOW) {
        // /proc went away meanwhile: AT_EMPTY_PATH, which may need a privilege.
        Err(Errno::NOENT) => {
            rustix::fs::linkat(file, "", dir, name, AtFlags::EMPTY_PATH).map_err(|_| Errno::NOENT)
        }
        other => other,
    }
}

#[cfg(not(target_os = "linux"))]
fn link_fd(_file: &File, _dir: &OutDir, _name: &OsStr) -> Result<(), Errno> {
    Err(Errno::NOSYS)
}

/// Renames `tmp` to `name` in `dir` unless `name` exists.
fn rename_noreplace(dir: &OutDir, tmp: &OsStr, name: &OsStr) -> Result<(), Errno> {
    #[cfg(target_os = "linux")]
    match rustix::fs::renameat_with(dir, tmp, dir, name, rustix::fs::RenameFlags::NOREPLACE) {
        // The file system cannot: a hard link (which fails on an existing name) instead.
        Err(Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP) => {}
        other => return other,
    }
    rustix::fs::linkat(dir, tmp, dir, name, AtFlags::empty())?;
    let _ = rustix::fs::unlinkat(dir, tmp, AtFlags::empty());
    Ok(())
}

/// A named temporary file (`0600`, created exclusively, not through a link) next to the
/// destination, registered so that a signal removes it.
fn create_named(place: &Place) -> Result<(File, OsString, Registration), FileError> {
    let dir = &place.dir;
    let cannot = |e| FileError::io(dir.path(), "create a temporary file in", e);
    for _ in 0..ATTEMPTS {
        let name = temp_name(&place.name).map_err(cannot)?;
        let path = dir.path().join(&name);
        let created = cleanup::track(
            || {
                rustix::fs::openat(
                    dir,
                    &name,
                    OFlags::WRONLY
                        | OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC,
                    Mode::from_raw_mode(FILE_MODE),
                )
                .map(|fd| (File::from(fd), path.clone()))
                .map_err(io::Error::from)
            },
            |(_, path)| path.as_path(),
        );
        match created {
            Ok(((file, _), registration)) => return Ok((file, name, registration)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(cannot(e)),
        }
    }
    Err(cannot(io::Error::other("no free temporary name")))
}

/// `.NAME.XXXXXXXXXXXX.coffer-tmp`, with 48 random bits (NAME cut to [`NAME_IN_TEMP`] bytes).
fn temp_name(name: &OsStr) -> io::Result<OsString> {
    use std::os::unix::ffi::OsStrExt as _;
    let mut random = [0u8; 6];
    coffer_core::fill_random(&mut random)
        .map_err(|_| io::Error::other("no random bytes for a temporary name"))?;
    let bytes = name.as_bytes();
    let kept = bytes.get(..NAME_IN_TEMP).unwrap_or(bytes);
    let mut out = OsString::with_capacity(kept.len() + 26);
    out.push(".");
    out.push(OsStr::from_bytes(kept));
    out.push(".");
    out.push(hex::encode(random));
    out.push(TEMP_SUFFIX);
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;
    use std::fs;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    fn create(out: &Path, force: bool, strategy: Strategy) -> AtomicFile {
        AtomicFile::create_with(Place::of(out).unwrap(), force, strategy).unwrap()
    }

    /// Commit and abort, no-clobber and `--force`, with either kind of temporary file.
    fn commit_abort_and_clobber(strategy: Strategy) {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let mut f = create(&out, false, strategy);
        f.write_all(b"partial").unwrap();
        assert!(!out.exists());
        drop(f);
        assert!(names(dir.path()).is_empty(), "{:?}", names(dir.path()));

        let mut f = create(&out, false, strategy);
        f.write_all(b"done").unwrap();
        f.commit().unwrap();
        assert_eq!(fs::read(&out).unwrap(), b"done");
        assert_eq!(names(dir.path()), ["out"]);
        assert_eq!(mode(&out), 0o600);

        // Someone creates the file while we work: not replaced without force.
        let other = dir.path().join("other");
        let mut f = create(&other, false, strategy);
        f.write_all(b"new").unwrap();
        fs::write(&other, b"theirs").unwrap();
        assert!(matches!(f.commit(), Err(FileError::Exists(_))));
        assert_eq!(fs::read(&other).unwrap(), b"theirs");
        assert_eq!(names(dir.path()), ["other", "out"]);

        // With force: replaced, atomically, nothing else left.
        let mut f = create(&other, true, strategy);
        f.write_all(b"new").unwrap();
        assert_eq!(fs::read(&other).unwrap(), b"theirs");
        assert_eq!(f.commit_without_dir_sync().unwrap(), other);
        assert_eq!(fs::read(&other).unwrap(), b"new");
        assert_eq!(mode(&other), 0o600);
        assert_eq!(names(dir.path()), ["other", "out"]);

        // A link at the name is replaced (with force), never written through.
        let target = dir.path().join("target");
        fs::write(&target, b"keep").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let mut f = create(&link, false, strategy);
        f.write_all(b"new").unwrap();
        assert!(matches!(f.commit(), Err(FileError::Exists(_))));
        let mut f = create(&link, true, strategy);
        f.write_all(b"new").unwrap();
        f.commit().unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"keep");
        assert!(!fs::symlink_metadata(&link).unwrap().is_symlink());
        assert_eq!(fs::read(&link).unwrap(), b"new");
    }

    #[test]
    fn unnamed_commit_abort_and_clobber() {
        commit_abort_and_clobber(Strategy::Auto);
    }

    #[test]
    fn named_fallback_commit_abort_and_clobber() {
        commit_abort_and_clobber(Strategy::Named);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn an_unnamed_file_has_no_name_until_committed() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let mut f = create(&out, false, Strategy::Auto);
        assert!(
            matches!(f.tmp, Tmp::Unnamed(_)),
            "this file system has O_TMPFILE"
        );
        f.write_all(&[7u8; 100_000]).unwrap();
        assert!(names(dir.path()).is_empty(), "{:?}", names(dir.path()));
        // 0600 before any byte: the open file's own mode.
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(
            f.file.metadata().unwrap().permissions().mode() & 0o777,
            0o600
        );
        f.commit().unwrap();
        assert_eq!(names(dir.path()), ["out"]);
        assert_eq!(fs::read(&out).unwrap().len(), 100_000);
    }

    #[test]
    fn the_named_fallback_is_registered_for_signals_and_named_after_the_output() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("root.key.next");
        let mut f = create(&out, false, Strategy::Named);
        f.write_all(b"x").unwrap();
        let Tmp::Named(name, _) = &f.tmp else {
            panic!("named");
        };
        let name = name.to_string_lossy().into_owned();
        assert!(
            name.starts_with(".root.key.next.") && name.ends_with(TEMP_SUFFIX),
            "{name}"
        );
        assert_eq!(names(dir.path()), std::slice::from_ref(&name));
        assert_eq!(mode(&dir.path().join(&name)), 0o600);
        drop(f);
        assert!(names(dir.path()).is_empty());
    }

    #[test]
    fn long_names_get_short_temporary_names() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("n".repeat(250));
        fs::write(&out, b"old").unwrap();
        for strategy in [Strategy::Auto, Strategy::Named] {
            let mut f = create(&out, true, strategy);
            f.write_all(b"x").unwrap();
            f.commit().unwrap();
        }
        assert_eq!(fs::read(&out).unwrap(), b"x");
    }

    #[test]
    fn missing_parent() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("no").join("out");
        assert!(matches!(
            AtomicFile::create(&out, false),
            Err(FileError::MissingParent { .. })
        ));
    }
}
