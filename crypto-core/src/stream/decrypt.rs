//! The decrypting reader: authenticates each record before releasing its plaintext.

use crate::error::{Error, Result};
use crate::format::{
    ContentType, MAX_NON_FRAMED_LEN, RecordKind, body_aad, frame_iv, read_exact_or_truncated,
};
use crate::primitives::{GcmKey, IV_LEN, MessageHasher, TAG_LEN, VerificationKey};
use std::io::{self, Read};
use zeroize::Zeroizing;

/// When plaintext is handed to the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Release {
    /// Each frame is released as soon as its own tag verifies. For signed suites the
    /// signature is checked at the end: a caller that stops early, or ignores the final
    /// error, may hold plaintext of a message whose signature never verified (it was
    /// still encrypted under the data key, but not necessarily by the signer).
    #[default]
    PerFrame,
    /// Nothing is released until the whole message, signature included, has verified.
    /// The plaintext of the whole message is held in memory.
    AfterSignature,
}

/// Reads the body of one message and yields its plaintext.
///
/// `read` returns `Ok(0)` only after the whole message (and its signature) verified and
/// no bytes follow it; any failure is an `io::Error` wrapping [`Error`].
pub struct DecryptingReader<R: Read> {
    inner: R,
    gcm: GcmKey,
    message_id: Vec<u8>,
    content_type: ContentType,
    frame_len: u32,
    max_non_framed: u64,
    seq: u32,
    hasher: Option<MessageHasher>,
    verification: Option<VerificationKey>,
    release: Release,
    out: Zeroizing<Vec<u8>>,
    pos: usize,
    body_done: bool,
    verified: bool,
    error: Option<Error>,
    aad: Vec<u8>,
    rec: Zeroizing<Vec<u8>>,
}

impl<R: Read> std::fmt::Debug for DecryptingReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecryptingReader")
            .field("seq", &self.seq)
            .field("release", &self.release)
            .finish_non_exhaustive()
    }
}

/// Largest record buffer allocated before its bytes actually arrive.
const EAGER_LIMIT: usize = 1 << 20;

pub(crate) struct ReaderParts {
    pub(crate) gcm: GcmKey,
    pub(crate) message_id: Vec<u8>,
    pub(crate) content_type: ContentType,
    pub(crate) frame_len: u32,
    pub(crate) max_non_framed: u64,
    pub(crate) hasher: Option<MessageHasher>,
    pub(crate) verification: Option<VerificationKey>,
}

impl<R: Read> DecryptingReader<R> {
    pub(crate) fn new(inner: R, p: ReaderParts, release: Release) -> Self {
        Self {
            inner,
            gcm: p.gcm,
            message_id: p.message_id,
            content_type: p.content_type,
            frame_len: p.frame_len,
            max_non_framed: p.max_non_framed,
            seq: 1,
            hasher: p.hasher,
            verification: p.verification,
            release,
            out: Zeroizing::new(Vec::new()),
            pos: 0,
            body_done: false,
            verified: false,
            error: None,
            aad: Vec::with_capacity(96),
            rec: Zeroizing::new(Vec::new()),
        }
    }

    /// Whether the whole message has been read and verified.
    #[must_use]
    pub fn is_verified(&self) -> bool {
        self.verified
    }

    /// Reads exactly `buf.len()` bytes of the body into `buf`, hashing them.
    fn body_bytes(&mut self, buf: &mut [u8]) -> Result<()> {
        read_exact_or_truncated(&mut self.inner, buf)?;
        if let Some(h) = self.hasher.as_mut() {
            h.update(buf);
        }
        Ok(())
    }

    fn body_u32(&mut self) -> Result<u32> {
        let mut b = [0u8; 4];
        self.body_bytes(&mut b)?;
        Ok(u32::from_be_bytes(b))
    }

    /// Reads `len` bytes of ciphertext plus the tag into `self.rec`.
    fn read_record(&mut self, len: usize) -> Result<()> {
        let total = len
            .checked_add(TAG_LEN)
            .ok_or_else(|| Error::Malformed("record too long".into()))?;
        self.rec.clear();
        if total <= EAGER_LIMIT {
            self.rec.resize(total, 0);
            read_exact_or_truncated(&mut self.inner, &mut self.rec)?;
        } else {
            // Grow only as bytes arrive, so a lying length field cannot make us allocate.
            let want =
                u64::try_from(total).map_err(|_| Error::Malformed("record too long".into()))?;
            let got = (&mut self.inner).take(want).read_to_end(&mut self.rec)?;
            if got != total {
                return Err(Error::Truncated);
            }
        }
        if let Some(h) = self.hasher.as_mut() {
            h.update(&self.rec);
        }
        Ok(())
    }

    fn read_iv(&mut self, seq: u32) -> Result<[u8; IV_LEN]> {
        let mut iv = [0u8; IV_LEN];
        self.body_bytes(&mut iv)?;
        if iv != frame_iv(seq) {
            return Err(Error::Malformed(format!(
                "frame {seq} has an unexpected IV"
            )));
        }
        Ok(iv)
    }

    fn open_record(
        &mut self,
        iv: &[u8; IV_LEN],
        kind: RecordKind,
        seq: u32,
        len: usize,
    ) -> Result<()> {
        let len64 = u64::try_from(len).map_err(|_| Error::Malformed("record too long".into()))?;
        body_aad(&mut self.aad, &self.message_id, kind, seq, len64);
        let pt = self.gcm.open_in_place(iv, &self.aad, &mut self.rec)?;
        if self.release == Release::PerFrame {
            self.out.clear();
            self.pos = 0;
        }
        self.out.extend_from_slice(pt);
        Ok(())
    }

    /// Decrypts the next record into `self.out`; sets `body_done` after the last one.
    fn next_record(&mut self) -> Result<()> {
        match self.content_type {
            ContentType::NonFramed => {
                let iv = self.read_iv(1)?;
                let mut len = [0u8; 8];
                self.body_bytes(&mut len)?;
                let len = u64::from_be_bytes(len);
                if len > MAX_NON_FRAMED_LEN {
                    return Err(Error::Malformed(
                        "non-framed content is longer than 2^36 - 32 bytes".into(),
                    ));
                }
                if len > self.max_non_framed {
                    return Err(Error::Policy(format!(
                        "non-framed message of {len} bytes exceeds the in-memory limit of {} bytes",
                        self.max_non_framed
                    )));
                }
                let len = usize::try_from(len)
                    .map_err(|_| Error::Malformed("content too long".into()))?;
                self.read_record(len)?;
                self.open_record(&iv, RecordKind::Single, 1, len)?;
                self.body_done = true;
            }
            ContentType::Framed => {
                let first = self.body_u32()?;
                let frame_len = usize::try_from(self.frame_len)
                    .map_err(|_| Error::Malformed("frame too long".into()))?;
                if first == u32::MAX {
                    let seq = self.body_u32()?;
                    if seq != self.seq {
                        return Err(Error::Malformed(format!(
                            "final frame has sequence number {seq}, expected {}",
                            self.seq
                        )));
                    }
                    let iv = self.read_iv(seq)?;
                    let len = self.body_u32()?;
                    if len > self.frame_len {
                        return Err(Error::Malformed(
                            "final frame is longer than the frame length".into(),
                        ));
                    }
                    let len = usize::try_from(len)
                        .map_err(|_| Error::Malformed("frame too long".into()))?;
                    self.read_record(len)?;
                    self.open_record(&iv, RecordKind::Final, seq, len)?;
                    self.body_done = true;
                } else {
                    if first != self.seq {
                        return Err(Error::Malformed(format!(
                            "frame has sequence number {first}, expected {}",
                            self.seq
                        )));
                    }
                    let iv = self.read_iv(first)?;
                    self.read_record(frame_len)?;
                    self.open_record(&iv, RecordKind::Regular, first, frame_len)?;
                    self.seq = self.seq.checked_add(1).ok_or(Error::TooManyFrames)?;
                }
            }
        }
        if self.body_done {
            self.finish_message()?;
        }
        Ok(())
    }

    /// Footer, signature and trailing-data checks.
    fn finish_message(&mut self) -> Result<()> {
        if let Some(key) = self.verification.take() {
            let hasher = self
                .hasher
                .take()
                .ok_or_else(|| Error::ApiMisuse("signed message without a running hash".into()))?;
            let mut len = [0u8; 2];
            read_exact_or_truncated(&mut self.inner, &mut len)?;
            let len = usize::from(u16::from_be_bytes(len));
            let mut sig = vec![0u8; len];
            read_exact_or_truncated(&mut self.inner, &mut sig)?;
            key.verify(hasher, &sig)?;
        }
        let mut probe = [0u8; 1];
        loop {
            match self.inner.read(&mut probe) {
                Ok(0) => break,
                Ok(_) => return Err(Error::TrailingData),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        self.verified = true;
        Ok(())
    }

    fn fill(&mut self) -> Result<()> {
        let hold = self.release == Release::AfterSignature;
        while !self.body_done && (hold || self.pos >= self.out.len()) {
            self.next_record()?;
        }
        Ok(())
    }
}

impl<R: Read> Read for DecryptingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(e) = &self.error {
            return Err(io::Error::from(e.clone()));
        }
        if buf.is_empty() {
            return Ok(0);
        }
        if let Err(e) = self.fill() {
            self.out.clear();
            self.pos = 0;
            self.error = Some(e.clone());
            return Err(io::Error::from(e));
        }
        let avail = &self.out[self.pos..];
        let n = avail.len().min(buf.len());
        buf[..n].copy_from_slice(&avail[..n]);
        self.pos += n;
        Ok(n)
    }
}
