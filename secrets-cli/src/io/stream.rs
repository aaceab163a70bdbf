//! Outputs written in place as the data comes, never replaced.
//!
//! An output path that exists and is not a regular file, its final symbolic link followed (a
//! FIFO, a terminal, `/dev/null`; a block device only with `--force`, since it holds data as a
//! file does), is opened and written as `cat > PATH` or age would write it, with or without
//! `--force`. A path that leads to this process's own stdout or stderr (`/dev/stdout`,
//! `/dev/fd/1`, `/proc/self/fd/2`) is written through that stream, whatever it is (a pipe, a
//! terminal, or a regular file the shell opened with `>` or `>>`), exactly as `-` is. Like
//! stdout, such an output is given each decrypted frame once it is authenticated; `--buffer`
//! holds the plaintext until the signature verifies.
//!
//! Every other output is a new file ([`AtomicFile`]), which appears under its name only once
//! complete.

use std::fs::{self, File};
use std::io::{self, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _};
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags};

use super::{AtomicFile, FileError, Output, Place};

/// One of this process's standard output streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StdStream {
    Stdout,
    Stderr,
}

impl StdStream {
    /// A new descriptor of the stream (sharing its offset and flags).
    fn dup(self) -> io::Result<OwnedFd> {
        match self {
            Self::Stdout => io::stdout().as_fd().try_clone_to_owned(),
            Self::Stderr => io::stderr().as_fd().try_clone_to_owned(),
        }
    }

    /// The device and inode of the stream's file.
    fn id(self) -> Option<(u64, u64)> {
        let st = match self {
            Self::Stdout => rustix::fs::fstat(io::stdout()),
            Self::Stderr => rustix::fs::fstat(io::stderr()),
        };
        st.ok().map(|st| (st.st_dev, st.st_ino))
    }
}

/// The standard stream `path` leads to through a symbolic link (`/dev/stdout`), if any.
fn std_stream_alias(path: &Path) -> Option<StdStream> {
    if !fs::symlink_metadata(path).ok()?.file_type().is_symlink() {
        return None;
    }
    let target = fs::metadata(path).ok()?;
    [StdStream::Stdout, StdStream::Stderr]
        .into_iter()
        .find(|s| s.id() == Some((target.dev(), target.ino())))
}

/// Whether `path` exists and is neither a regular file nor a directory (links followed).
/// A block device without `force` is refused as an existing file is.
fn is_special(path: &Path, force: bool) -> Result<bool, FileError> {
    let Ok(meta) = fs::metadata(path) else {
        return Ok(false);
    };
    let ty = meta.file_type();
    if ty.is_file() || ty.is_dir() {
        Ok(false)
    } else if ty.is_block_device() && !force {
        Err(FileError::Exists(path.to_path_buf()))
    } else {
        Ok(true)
    }
}

/// Whether the output `path` is written in place rather than created ([`open_output`]).
///
/// # Errors
/// A block device without `force`.
pub fn writes_in_place(path: &Path, force: bool) -> Result<bool, FileError> {
    Ok(std_stream_alias(path).is_some() || is_special(path, force)?)
}

/// Whether `output` is this process's stdout (`-`, or a path such as `/dev/stdout`).
pub fn carries_stdout(output: &Output) -> bool {
    match output {
        Output::Stdout { .. } => true,
        Output::File(p) => std_stream_alias(p) == Some(StdStream::Stdout),
    }
}

/// An opened output file.
#[derive(Debug)]
pub enum OutputFile {
    /// A new file, under its name only once committed.
    Atomic(AtomicFile),
    /// An existing FIFO, device or standard stream, written as the data comes.
    InPlace(File),
}

/// Opens the output file `path` a user named: in place when [`writes_in_place`] says so,
/// else as a new [`AtomicFile`] (never replacing an existing file unless `force`).
///
/// # Errors
/// The output cannot be opened or its temporary file created.
pub fn open_output(path: &Path, force: bool) -> Result<OutputFile, FileError> {
    if let Some(stream) = std_stream_alias(path) {
        let fd = stream.dup().map_err(|e| FileError::io(path, "open", e))?;
        return Ok(OutputFile::InPlace(File::from(fd)));
    }
    if is_special(path, force)? {
        // Blocks, as `cat > FIFO` does, until the FIFO has a reader.
        let fd = rustix::fs::open(
            path,
            OFlags::WRONLY | OFlags::NOCTTY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| FileError::io(path, "open", e.into()))?;
        let file = File::from(fd);
        let meta = file
            .metadata()
            .map_err(|e| FileError::io(path, "read the metadata of", e))?;
        if !meta.is_file() && !meta.is_dir() {
            return Ok(OutputFile::InPlace(file));
        }
        // A regular file took its place meanwhile: not written into, but treated as one.
    }
    Ok(OutputFile::Atomic(AtomicFile::create(path, force)?))
}

impl OutputFile {
    /// A new file for `place` in an output tree (never in place).
    ///
    /// # Errors
    /// The temporary file cannot be created.
    pub fn create_at(place: Place, force: bool) -> Result<Self, FileError> {
        AtomicFile::create_at(place, force).map(Self::Atomic)
    }

    /// Whether the output is written in place, as stdout is (the data is out as it comes).
    pub fn is_in_place(&self) -> bool {
        matches!(self, Self::InPlace(_))
    }

    /// Ends the output: [`AtomicFile::commit`], or a flush of an in-place output.
    ///
    /// # Errors
    /// As [`AtomicFile::commit`].
    pub fn commit(self) -> Result<(), FileError> {
        match self {
            Self::Atomic(f) => f.commit(),
            Self::InPlace(_) => Ok(()),
        }
    }

    /// [`OutputFile::commit`] without syncing the directory of a new file; returns its path.
    ///
    /// # Errors
    /// As [`AtomicFile::commit`].
    pub fn commit_without_dir_sync(self) -> Result<Option<PathBuf>, FileError> {
        match self {
            Self::Atomic(f) => f.commit_without_dir_sync().map(Some),
            Self::InPlace(_) => Ok(None),
        }
    }
}

impl Write for OutputFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Self::Atomic(f) => f.write(buf),
            Self::InPlace(f) => f.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::Atomic(f) => f.flush(),
            Self::InPlace(f) => f.flush(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;
    use std::io::Read as _;

    fn mkfifo(path: &Path) {
        rustix::fs::mknodat(
            rustix::fs::CWD,
            path,
            rustix::fs::FileType::Fifo,
            Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
    }

    #[test]
    fn a_fifo_is_written_in_place_with_or_without_force() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        mkfifo(&fifo);
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&fifo, &link).unwrap();
        for (path, force) in [(&fifo, false), (&fifo, true), (&link, false), (&link, true)] {
            assert!(writes_in_place(path, force).unwrap());
            let reader = {
                let fifo = fifo.clone();
                std::thread::spawn(move || {
                    let mut s = Vec::new();
                    File::open(fifo).unwrap().read_to_end(&mut s).unwrap();
                    s
                })
            };
            let mut out = open_output(path, force).unwrap();
            assert!(out.is_in_place());
            out.write_all(b"through the fifo").unwrap();
            out.commit().unwrap();
            assert_eq!(reader.join().unwrap(), b"through the fifo");
            assert!(fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
            assert!(fs::symlink_metadata(&link).unwrap().is_symlink());
        }
    }

    #[test]
    fn dev_null_is_written_in_place() {
        let null = Path::new("/dev/null");
        assert!(writes_in_place(null, false).unwrap());
        let mut out = open_output(null, true).unwrap();
        assert!(out.is_in_place());
        out.write_all(b"gone").unwrap();
        out.commit().unwrap();
        assert!(fs::metadata(null).unwrap().file_type().is_char_device());
    }

    #[test]
    fn regular_files_and_missing_ones_are_created() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        assert!(!writes_in_place(&f, false).unwrap());
        fs::write(&f, b"x").unwrap();
        assert!(!writes_in_place(&f, true).unwrap());
        assert!(!open_output(&f, true).unwrap().is_in_place());
        assert!(!carries_stdout(&Output::File(f)));
        assert!(carries_stdout(&Output::Stdout { explicit: false }));
    }
}
