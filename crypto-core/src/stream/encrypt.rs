//! The encrypting writer: frames plaintext as it arrives.

use crate::error::{Error, Result};
use crate::format::{RecordKind, body_aad, frame_iv};
use crate::primitives::{GcmKey, MessageHasher, SigningKey, TAG_LEN};
use std::io::{self, Write};
use zeroize::Zeroizing;

/// Room in front of a record's payload: the final-frame prefix is the longest
/// (marker 4 ‖ seq 4 ‖ IV 12 ‖ length 4).
const PREFIX: usize = 24;
/// Regular frame prefix: seq 4 ‖ IV 12.
const REGULAR_PREFIX: usize = 16;
/// Frames up to this size get their whole buffer at once.
const PREALLOC_LIMIT: usize = 16 << 20;

/// Writes one ESDK message body (and footer) to `W` as plaintext is written to it.
///
/// You **MUST** call [`EncryptingWriter::finish`]: without it the message has no final
/// frame (and no signature) and every reader rejects it as truncated.
#[must_use = "an EncryptingWriter must be finished, or the message is truncated"]
pub struct EncryptingWriter<W: Write> {
    inner: Option<W>,
    gcm: GcmKey,
    message_id: Vec<u8>,
    frame_len: usize,
    /// `PREFIX` bytes of room, then the plaintext of the current frame, then room for the tag.
    rec: Zeroizing<Vec<u8>>,
    seq: u32,
    hasher: Option<MessageHasher>,
    signing: Option<SigningKey>,
    aad: Vec<u8>,
    failed: bool,
}

impl<W: Write> std::fmt::Debug for EncryptingWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncryptingWriter")
            .field("frame_len", &self.frame_len)
            .field("seq", &self.seq)
            .finish_non_exhaustive()
    }
}

impl<W: Write> EncryptingWriter<W> {
    pub(crate) fn new(
        inner: W,
        gcm: GcmKey,
        message_id: Vec<u8>,
        frame_len: u32,
        hasher: Option<MessageHasher>,
        signing: Option<SigningKey>,
    ) -> Result<Self> {
        let frame_len = usize::try_from(frame_len)
            .map_err(|_| Error::ApiMisuse("frame length does not fit this platform".into()))?;
        let cap = frame_len.min(PREALLOC_LIMIT) + PREFIX + TAG_LEN;
        let mut rec = Zeroizing::new(Vec::with_capacity(cap));
        rec.resize(PREFIX, 0);
        Ok(Self {
            inner: Some(inner),
            gcm,
            message_id,
            frame_len,
            rec,
            seq: 1,
            hasher,
            signing,
            aad: Vec::with_capacity(96),
            failed: false,
        })
    }

    fn pending(&self) -> usize {
        self.rec.len() - PREFIX
    }

    /// Seals the current frame and writes it.
    fn emit(&mut self, is_final: bool) -> Result<()> {
        let len = self.pending();
        let seq = self.seq;
        let kind = if is_final {
            RecordKind::Final
        } else {
            RecordKind::Regular
        };
        let len64 = u64::try_from(len).map_err(|_| Error::TooManyFrames)?;
        body_aad(&mut self.aad, &self.message_id, kind, seq, len64);
        let iv = frame_iv(seq);
        let tag = self
            .gcm
            .seal_in_place(&iv, &self.aad, &mut self.rec[PREFIX..])?;
        let start = if is_final {
            let len32 = u32::try_from(len).map_err(|_| Error::TooManyFrames)?;
            self.rec[0..4].copy_from_slice(&[0xFF; 4]);
            self.rec[4..8].copy_from_slice(&seq.to_be_bytes());
            self.rec[8..20].copy_from_slice(&iv);
            self.rec[20..24].copy_from_slice(&len32.to_be_bytes());
            0
        } else {
            let s = PREFIX - REGULAR_PREFIX;
            self.rec[s..s + 4].copy_from_slice(&seq.to_be_bytes());
            self.rec[s + 4..PREFIX].copy_from_slice(&iv);
            s
        };
        self.rec.extend_from_slice(&tag);
        let out = &self.rec[start..];
        if let Some(h) = self.hasher.as_mut() {
            h.update(out);
        }
        let inner = self
            .inner
            .as_mut()
            .ok_or_else(|| Error::ApiMisuse("writer finished".into()))?;
        inner.write_all(out)?;
        self.rec.truncate(PREFIX);
        if !is_final {
            self.seq = self.seq.checked_add(1).ok_or(Error::TooManyFrames)?;
        }
        Ok(())
    }

    /// Writes the final frame and the signature footer, flushes, and returns the writer.
    ///
    /// # Errors
    /// Any I/O error of the underlying writer, or [`Error::TooManyFrames`].
    pub fn finish(mut self) -> Result<W> {
        if self.failed {
            return Err(Error::ApiMisuse(
                "an earlier write failed; the message is incomplete".into(),
            ));
        }
        self.emit(true)?;
        let mut inner = self
            .inner
            .take()
            .ok_or_else(|| Error::ApiMisuse("writer finished".into()))?;
        if let (Some(hasher), Some(key)) = (self.hasher.take(), self.signing.take()) {
            let sig = key.sign(hasher)?;
            let len = u16::try_from(sig.len())
                .map_err(|_| Error::ApiMisuse("signature too long".into()))?;
            inner.write_all(&len.to_be_bytes())?;
            inner.write_all(&sig)?;
        }
        inner.flush()?;
        Ok(inner)
    }

    fn write_inner(&mut self, mut data: &[u8]) -> Result<usize> {
        let total = data.len();
        while !data.is_empty() {
            if self.pending() == self.frame_len {
                self.emit(false)?;
            }
            let room = self.frame_len - self.pending();
            let n = room.min(data.len());
            self.rec.extend_from_slice(&data[..n]);
            data = &data[n..];
        }
        // A full frame is sealed only when more data arrives, so when the plaintext is an
        // exact multiple of the frame length the final frame holds a full frame (the spec's
        // SHOULD) instead of being empty.
        Ok(total)
    }
}

impl<W: Write> Write for EncryptingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.failed {
            return Err(io::Error::other("an earlier write failed"));
        }
        self.write_inner(buf).map_err(|e| {
            self.failed = true;
            io::Error::from(e)
        })
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.inner.as_mut() {
            Some(w) => w.flush(),
            None => Ok(()),
        }
    }
}

impl<W: Write> Drop for EncryptingWriter<W> {
    fn drop(&mut self) {
        if self.inner.is_some() && !self.failed && !std::thread::panicking() {
            crate::log::error(
                "EncryptingWriter dropped without finish(): the message is truncated",
            );
        }
    }
}
