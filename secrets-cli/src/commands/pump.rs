//! Copying bytes between a message and a file through a wiped buffer.

use std::io::{self, Read, Write};

use zeroize::Zeroizing;

/// Copy buffer size.
const CHUNK: usize = 64 * 1024;

/// Which side of a copy failed.
#[derive(Debug)]
pub(crate) enum PumpError {
    /// Reading failed.
    Read(io::Error),
    /// Writing failed.
    Write(io::Error),
}

/// Copies `r` to `w` through a zeroized buffer (it may hold plaintext), counting the bytes
/// written in `written`. `size_hint`, an upper bound of the bytes to copy when known, keeps
/// the buffer (allocated and wiped once per call) small for small files.
pub(crate) fn pump<R: Read + ?Sized, W: Write + ?Sized>(
    r: &mut R,
    w: &mut W,
    written: &mut u64,
    size_hint: Option<u64>,
    progress: &crate::progress::Progress,
) -> Result<(), PumpError> {
    let size = size_hint.map_or(CHUNK, |n| {
        usize::try_from(n.saturating_add(1)).map_or(CHUNK, |n| n.clamp(1, CHUNK))
    });
    let mut buf = Zeroizing::new(vec![0u8; size]);
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(PumpError::Read(e)),
        };
        let chunk = buf.get(..n).unwrap_or_default();
        w.write_all(chunk).map_err(PumpError::Write)?;
        *written = written.saturating_add(n as u64);
        progress.inc(n as u64);
    }
}

/// Like [`pump`], from a reader that lends its own buffers (the decrypting reader): the
/// plaintext goes from them to `w` without a copy in between.
pub(crate) fn pump_buffered<R: io::BufRead + ?Sized, W: Write + ?Sized>(
    r: &mut R,
    w: &mut W,
    written: &mut u64,
    progress: &crate::progress::Progress,
) -> Result<(), PumpError> {
    loop {
        let chunk = match r.fill_buf() {
            Ok([]) => return Ok(()),
            Ok(chunk) => chunk,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(PumpError::Read(e)),
        };
        w.write_all(chunk).map_err(PumpError::Write)?;
        let n = chunk.len();
        r.consume(n);
        *written = written.saturating_add(n as u64);
        progress.inc(n as u64);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;
    use crate::progress::Progress;

    struct Failing;
    impl Write for Failing {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::from(io::ErrorKind::BrokenPipe))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn pump_copies_and_counts() {
        let data = vec![7u8; CHUNK * 2 + 5];
        let mut out = Vec::new();
        let mut n = 0;
        pump(
            &mut data.as_slice(),
            &mut out,
            &mut n,
            None,
            &Progress::hidden(),
        )
        .unwrap();
        assert_eq!(out, data);
        assert_eq!(n, data.len() as u64);
        for hint in [0, 1, 100, u64::MAX] {
            let (mut out, mut n) = (Vec::new(), 0);
            pump(
                &mut data.as_slice(),
                &mut out,
                &mut n,
                Some(hint),
                &Progress::hidden(),
            )
            .unwrap();
            assert_eq!(out, data, "a wrong hint costs speed, not data");
        }
        let (mut out, mut n) = (Vec::new(), 0);
        pump_buffered(
            &mut io::BufReader::with_capacity(1000, data.as_slice()),
            &mut out,
            &mut n,
            &Progress::hidden(),
        )
        .unwrap();
        assert_eq!(out, data);
        assert_eq!(n, data.len() as u64);
        assert!(matches!(
            pump_buffered(
                &mut data.as_slice(),
                &mut Failing,
                &mut n,
                &Progress::hidden()
            ),
            Err(PumpError::Write(_))
        ));
        assert!(matches!(
            pump(
                &mut data.as_slice(),
                &mut Failing,
                &mut n,
                None,
                &Progress::hidden()
            ),
            Err(PumpError::Write(_))
        ));
    }
}
