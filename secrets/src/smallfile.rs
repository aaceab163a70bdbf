//! Reading a small file whole, with a limit: key files, PIN files, passphrase files and the
//! root key file are read by [`read`], so that `/dev/zero`, a FIFO that never ends or a
//! 1 GB file given by mistake is refused at once (a regular file by its size, before any
//! byte is read; anything else after at most `limit + 1` bytes) instead of filling memory.
//! Parameter values read from stdin use [`read_to_limit`].
//!
//! The bytes are held in buffers that are wiped on drop, and a buffer that must grow is
//! copied into a new one and the old one wiped, so no copy of the content is left behind.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

/// A file that holds more than its limit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.describe())]
pub struct TooLarge {
    /// What the file is, for the message (`key file`, `PIN file`).
    pub what: &'static str,
    /// The file.
    pub path: PathBuf,
    /// The most it may hold, in bytes.
    pub limit: usize,
    /// Its size, when it is known (a regular file); else it holds more than `limit`.
    pub len: Option<u64>,
}

impl TooLarge {
    fn describe(&self) -> String {
        let (what, path, limit) = (self.what, self.path.display(), self.limit);
        match self.len {
            Some(len) => {
                format!("{what} {path} is too large: {len} bytes, over the limit of {limit}")
            }
            None => format!("{what} {path} is too large: over the limit of {limit} bytes"),
        }
    }
}

/// Why [`read`] failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The file cannot be opened or read.
    #[error(transparent)]
    Io(#[from] io::Error),
    /// The file holds more than the limit.
    #[error(transparent)]
    TooLarge(#[from] TooLarge),
}

/// Reads the file at `path` whole, if it holds at most `limit` bytes. `what` names the kind
/// of file in the error (`key file`).
///
/// # Errors
/// [`ReadError::Io`] when the file cannot be opened or read; [`ReadError::TooLarge`] when it
/// holds more than `limit` bytes.
pub fn read(
    path: &Path,
    what: &'static str,
    limit: usize,
) -> Result<Zeroizing<Vec<u8>>, ReadError> {
    let file = File::open(path)?;
    let too_large = |len| TooLarge {
        what,
        path: path.to_path_buf(),
        limit,
        len,
    };
    // A regular file says its size: refuse a large one without reading it.
    let meta = file.metadata()?;
    let size = meta.is_file().then_some(meta.len());
    if let Some(len) = size {
        if usize::try_from(len).map_or(true, |n| n > limit) {
            return Err(too_large(Some(len)).into());
        }
    }
    let hint = size.map_or(0, |n| usize::try_from(n).unwrap_or(limit));
    read_to_limit_with_hint(file, limit, hint)?.ok_or_else(|| too_large(None).into())
}

/// Reads `r` to its end if it holds at most `limit` bytes; `None` if it holds more (then
/// `limit + 1` bytes have been read from it, and wiped).
///
/// # Errors
/// A read error.
pub fn read_to_limit(r: impl Read, limit: usize) -> io::Result<Option<Zeroizing<Vec<u8>>>> {
    read_to_limit_with_hint(r, limit, 0)
}

/// [`read_to_limit`], with room for `hint` bytes made up front.
fn read_to_limit_with_hint(
    mut r: impl Read,
    limit: usize,
    hint: usize,
) -> io::Result<Option<Zeroizing<Vec<u8>>>> {
    const CHUNK: usize = 8 * 1024;
    // One byte more than the limit tells an input over the limit from one at it.
    let cap = limit.saturating_add(1);
    let mut buf = Zeroizing::new(Vec::with_capacity(hint.saturating_add(1).min(cap)));
    let mut chunk = Zeroizing::new([0u8; CHUNK]);
    while buf.len() < cap {
        let want = CHUNK.min(cap - buf.len());
        let n = match r.read(&mut chunk[..want]) {
            Ok(0) => return Ok(Some(buf)),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let need = buf.len() + n;
        if need > buf.capacity() {
            // Grow by copying into a new buffer, so the old one is wiped (a `Vec` that
            // reallocates leaves its old bytes behind).
            let room = need.max(buf.capacity().saturating_mul(2)).min(cap);
            let mut bigger = Zeroizing::new(Vec::with_capacity(room));
            bigger.extend_from_slice(&buf);
            buf = bigger;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    /// A reader that never ends (as `/dev/zero`), counting what it gave.
    struct Endless(usize);

    impl Read for Endless {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            buf.fill(0);
            self.0 += buf.len();
            Ok(buf.len())
        }
    }

    #[test]
    fn reads_up_to_the_limit_and_refuses_past_it() {
        for len in [0, 1, 100, 8191, 8192, 8193, 20_000] {
            let data: Vec<u8> = (0..len).map(|i| u8::try_from(i % 251).unwrap()).collect();
            let got = read_to_limit(data.as_slice(), len).unwrap().unwrap();
            assert_eq!(*got, data, "{len} bytes, limit {len}");
            let got = read_to_limit(data.as_slice(), len + 10).unwrap().unwrap();
            assert_eq!(*got, data);
            if len > 0 {
                assert!(read_to_limit(data.as_slice(), len - 1).unwrap().is_none());
            }
        }
    }

    #[test]
    fn an_endless_input_is_read_only_past_the_limit() {
        let mut r = Endless(0);
        assert!(read_to_limit(&mut r, 100_000).unwrap().is_none());
        assert_eq!(r.0, 100_001, "reads stop one byte past the limit");
    }

    #[test]
    fn files_by_size_and_devices_by_reading() {
        let dir = tempfile::tempdir().unwrap();
        let small = dir.path().join("small");
        std::fs::write(&small, b"0123456789").unwrap();
        assert_eq!(*read(&small, "key file", 10).unwrap(), b"0123456789");
        let e = read(&small, "key file", 9).unwrap_err();
        let ReadError::TooLarge(t) = &e else {
            panic!("{e:?}")
        };
        assert_eq!(t.len, Some(10));
        assert_eq!(
            e.to_string(),
            format!(
                "key file {} is too large: 10 bytes, over the limit of 9",
                small.display()
            )
        );
        #[cfg(target_os = "linux")]
        {
            let e = read(Path::new("/dev/zero"), "PIN file", 1024).unwrap_err();
            assert_eq!(
                e.to_string(),
                "PIN file /dev/zero is too large: over the limit of 1024 bytes"
            );
        }
        let e = read(&dir.path().join("missing"), "key file", 10).unwrap_err();
        assert!(
            matches!(&e, ReadError::Io(io) if io.kind() == io::ErrorKind::NotFound),
            "{e:?}"
        );
    }
}
