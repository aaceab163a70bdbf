//! Wire format: checked readers and the message header.

mod header;

pub use header::{
    ContentType, EncryptedDataKey, HeaderAuth, MAX_NON_FRAMED_LEN, MessageHeader, frame_aad,
    frame_iv,
};
pub(crate) use header::{HeaderLimits, RecordKind, body_aad, read_header};

use crate::error::{Error, Result};

/// A bounds-checked reader over a byte slice.
#[derive(Debug)]
pub struct SliceReader<'a> {
    buf: &'a [u8],
}

impl<'a> SliceReader<'a> {
    /// Starts reading `buf`.
    #[must_use]
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf }
    }

    /// Takes `n` bytes.
    ///
    /// # Errors
    /// [`Error::Malformed`] if fewer than `n` bytes remain.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if n > self.buf.len() {
            return Err(Error::Malformed(
                "field runs past the end of its container".into(),
            ));
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    /// Reads a big-endian u16.
    ///
    /// # Errors
    /// [`Error::Malformed`] on truncation.
    pub fn u16(&mut self) -> Result<u16> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    /// Whether everything was consumed.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
}

/// Reads from an `io::Read`, recording every byte (for header authentication and signatures).
pub(crate) struct Recorder<'r, R: std::io::Read + ?Sized> {
    inner: &'r mut R,
    pub(crate) bytes: Vec<u8>,
}

impl<'r, R: std::io::Read + ?Sized> Recorder<'r, R> {
    pub(crate) fn new(inner: &'r mut R) -> Self {
        Self {
            inner,
            bytes: Vec::with_capacity(512),
        }
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&[u8]> {
        let start = self.bytes.len();
        let end = start
            .checked_add(n)
            .ok_or_else(|| Error::Malformed("length overflow".into()))?;
        self.bytes.resize(end, 0);
        read_exact_or_truncated(self.inner, &mut self.bytes[start..end])?;
        Ok(&self.bytes[start..end])
    }

    pub(crate) fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    pub(crate) fn u16(&mut self) -> Result<u16> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    pub(crate) fn u32(&mut self) -> Result<u32> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
}

/// `read_exact` that maps a short read to [`Error::Truncated`].
pub(crate) fn read_exact_or_truncated<R: std::io::Read + ?Sized>(
    r: &mut R,
    buf: &mut [u8],
) -> Result<()> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => return Err(Error::Truncated),
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}
