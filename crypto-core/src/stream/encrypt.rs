//! The encrypting writer: frames plaintext as it arrives.
//!
//! The byte path: a frame whose plaintext arrives whole in one `write` (and is known not
//! to be the last, because more bytes follow it) is sealed straight from the caller's
//! slice into the output buffer, in one pass. Otherwise plaintext is gathered in the output
//! buffer and sealed in place there. Sealed records are batched and written to the
//! underlying writer in large writes; the buffer is allocated once and reused.

use crate::error::{Error, Result};
use crate::format::{RecordKind, body_aad, frame_iv};
use crate::primitives::{GcmKey, IV_LEN, MessageHasher, SigningKey, TAG_LEN};
use crate::stream::SignatureHash;
use std::io::{self, Write};
use zeroize::{Zeroize, Zeroizing};

/// Final-frame prefix: marker 4 ‖ seq 4 ‖ IV 12 ‖ length 4.
const FINAL_PREFIX: usize = 24;
/// Regular frame prefix: seq 4 ‖ IV 12.
const REGULAR_PREFIX: usize = 16;
/// Frames up to this size get their whole buffer at once; larger ones grow as data arrives.
const PREALLOC_LIMIT: usize = 16 << 20;
/// Sealed records are written to the underlying writer once this many bytes are waiting
/// (small enough that a batch is still in L1 when it is copied out).
const WRITE_BATCH: usize = 32 << 10;

/// Writes one ESDK message body (and footer) to `W` as plaintext is written to it.
///
/// Sealed frames are batched into writes of about 32 KiB (or one frame, if frames are
/// larger); [`Write::flush`] writes the sealed frames that are waiting (not the plaintext
/// of a frame that is not full yet: that frame is sealed when it is full and more data
/// arrives, or by `finish`).
///
/// You **MUST** call [`EncryptingWriter::finish`]: without it the message has no final
/// frame (and no signature) and every reader rejects it as truncated.
#[must_use = "an EncryptingWriter must be finished, or the message is truncated"]
pub struct EncryptingWriter<W: Write> {
    inner: Option<W>,
    gcm: GcmKey,
    message_id: Vec<u8>,
    frame_len: usize,
    /// `buf[..sealed]`: sealed records not yet written; `buf[sealed..sealed + 16]`: room for
    /// the prefix of the next regular frame; `buf[sealed + 16..fill]`: its plaintext so
    /// far. Bytes past `fill` are initialized room, reused from frame to frame.
    buf: Zeroizing<Vec<u8>>,
    sealed: usize,
    fill: usize,
    seq: u32,
    hasher: Option<SignatureHash>,
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

/// Makes `buf` at least `len` bytes long (new bytes zero). When the allocation must grow,
/// the old one is zeroized before it is freed (a plain `Vec` reallocation would not).
pub(crate) fn grow_zeroizing(buf: &mut Zeroizing<Vec<u8>>, len: usize) {
    if len <= buf.len() {
        return;
    }
    if len > buf.capacity() {
        let mut bigger = Zeroizing::new(Vec::with_capacity(len.max(buf.capacity() * 2)));
        bigger.extend_from_slice(buf);
        std::mem::swap(buf, &mut bigger);
        // `bigger` (the old allocation) is zeroized here.
    }
    buf.resize(len, 0);
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
        // One record: its prefix room, the plaintext and the tag. Batches grow the buffer
        // (once) as sealed records accumulate.
        let first = frame_len.min(PREALLOC_LIMIT) + REGULAR_PREFIX + TAG_LEN;
        Ok(Self {
            inner: Some(inner),
            gcm,
            message_id,
            frame_len,
            buf: Zeroizing::new(vec![0; first]),
            sealed: 0,
            fill: REGULAR_PREFIX,
            seq: 1,
            hasher: hasher.map(SignatureHash::new),
            signing,
            aad: Vec::with_capacity(96),
            failed: false,
        })
    }

    fn pending(&self) -> usize {
        self.fill - self.sealed - REGULAR_PREFIX
    }

    /// The sequence number of the next regular frame, which may not be the final-frame
    /// marker.
    fn regular_seq(&self) -> Result<u32> {
        if self.seq == u32::MAX {
            Err(Error::TooManyFrames)
        } else {
            Ok(self.seq)
        }
    }

    /// Bookkeeping after a regular record was sealed at `buf[sealed..end]`.
    fn regular_sealed(&mut self, seq: u32, iv: &[u8; IV_LEN], end: usize) -> Result<()> {
        let s = self.sealed;
        self.buf[s..s + 4].copy_from_slice(&seq.to_be_bytes());
        self.buf[s + 4..s + REGULAR_PREFIX].copy_from_slice(iv);
        if let Some(h) = self.hasher.as_mut() {
            h.update(&self.buf[s..end]);
        }
        self.sealed = end;
        self.fill = end + REGULAR_PREFIX;
        self.seq = seq + 1;
        if self.sealed >= WRITE_BATCH {
            self.write_sealed()?;
        } else {
            grow_zeroizing(&mut self.buf, self.fill);
        }
        Ok(())
    }

    /// The sequence number and IV of the next regular frame, with its AAD in `self.aad`.
    fn start_regular(&mut self, len: usize) -> Result<(u32, [u8; IV_LEN])> {
        let seq = self.regular_seq()?;
        let len64 = u64::try_from(len).map_err(|_| Error::TooManyFrames)?;
        body_aad(
            &mut self.aad,
            &self.message_id,
            RecordKind::Regular,
            seq,
            len64,
        );
        Ok((seq, frame_iv(seq)))
    }

    /// Seals the full frame gathered in the buffer as a regular frame.
    fn seal_pending_regular(&mut self) -> Result<()> {
        let (seq, iv) = self.start_regular(self.pending())?;
        let body = self.sealed + REGULAR_PREFIX..self.fill;
        let tag = self
            .gcm
            .seal_in_place(&iv, &self.aad, &mut self.buf[body])?;
        let end = self.fill + TAG_LEN;
        grow_zeroizing(&mut self.buf, end);
        self.buf[self.fill..end].copy_from_slice(&tag);
        self.regular_sealed(seq, &iv, end)
    }

    /// Seals `pt` (a whole frame, with nothing pending) as a regular frame, straight from
    /// the caller's slice into the buffer.
    fn seal_regular_from(&mut self, pt: &[u8]) -> Result<()> {
        let (seq, iv) = self.start_regular(pt.len())?;
        let start = self.sealed + REGULAR_PREFIX;
        let end = start + pt.len() + TAG_LEN;
        grow_zeroizing(&mut self.buf, end);
        let (ct, tag) = self.buf[start..end].split_at_mut(pt.len());
        let tag: &mut [u8; TAG_LEN] = tag
            .try_into()
            .map_err(|_| Error::ApiMisuse("tag room".into()))?;
        self.gcm.seal_into(&iv, &self.aad, pt, ct, tag)?;
        self.regular_sealed(seq, &iv, end)
    }

    /// Writes the sealed records and moves the pending frame to the front of the buffer.
    fn write_sealed(&mut self) -> Result<()> {
        if self.sealed == 0 {
            return Ok(());
        }
        let inner = self
            .inner
            .as_mut()
            .ok_or_else(|| Error::ApiMisuse("writer finished".into()))?;
        inner.write_all(&self.buf[..self.sealed])?;
        let pending = self.sealed + REGULAR_PREFIX..self.fill;
        let n = pending.len();
        if n > 0 {
            let old_fill = self.fill;
            self.buf.copy_within(pending, REGULAR_PREFIX);
            // Leave no stale copy of the pending plaintext behind it (see `finish`).
            self.buf[REGULAR_PREFIX + n..old_fill].zeroize();
        }
        self.sealed = 0;
        self.fill = REGULAR_PREFIX + n;
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
        // Whatever goes wrong from here, the writer is spent.
        self.failed = true;
        let seq = self.seq;
        let len = self.pending();
        let len32 = u32::try_from(len).map_err(|_| Error::TooManyFrames)?;
        body_aad(
            &mut self.aad,
            &self.message_id,
            RecordKind::Final,
            seq,
            u64::from(len32),
        );
        let iv = frame_iv(seq);
        let body = self.sealed + REGULAR_PREFIX..self.fill;
        let tag = self
            .gcm
            .seal_in_place(&iv, &self.aad, &mut self.buf[body])?;
        let end = self.fill + TAG_LEN;
        grow_zeroizing(&mut self.buf, end);
        self.buf[self.fill..end].copy_from_slice(&tag);
        let mut prefix = [0u8; FINAL_PREFIX];
        prefix[0..4].copy_from_slice(&[0xFF; 4]);
        prefix[4..8].copy_from_slice(&seq.to_be_bytes());
        prefix[8..20].copy_from_slice(&iv);
        prefix[20..24].copy_from_slice(&len32.to_be_bytes());
        let payload = &self.buf[self.sealed + REGULAR_PREFIX..end];
        if let Some(h) = self.hasher.as_mut() {
            h.update(&prefix);
            h.update(payload);
        }
        let mut inner = self
            .inner
            .take()
            .ok_or_else(|| Error::ApiMisuse("writer finished".into()))?;
        inner.write_all(&self.buf[..self.sealed])?;
        inner.write_all(&prefix)?;
        inner.write_all(payload)?;
        if let (Some(hasher), Some(key)) = (self.hasher.take(), self.signing.take()) {
            let sig = key.sign(hasher.finish()?)?;
            let len = u16::try_from(sig.len())
                .map_err(|_| Error::ApiMisuse("signature too long".into()))?;
            inner.write_all(&len.to_be_bytes())?;
            inner.write_all(&sig)?;
        }
        inner.flush()?;
        // All plaintext that went through the buffer is ciphertext now: frames are sealed in
        // place or straight from the caller's slice, `write_sealed` clears what it moves, and
        // `grow_zeroizing` clears what it leaves. So the buffer is freed without the zeroizing
        // pass, which costs as much as a few frames per message. Every other way out (errors,
        // a drop without `finish`) zeroizes it.
        drop(std::mem::take(&mut *self.buf));
        Ok(inner)
    }

    fn write_inner(&mut self, mut data: &[u8]) -> Result<usize> {
        let total = data.len();
        let frame = self.frame_len;
        while !data.is_empty() {
            // A full frame is sealed only when more data arrives, so when the plaintext is an
            // exact multiple of the frame length the final frame holds a full frame (the
            // spec's SHOULD) instead of being empty.
            if self.pending() == frame {
                self.seal_pending_regular()?;
            }
            if self.pending() == 0 && data.len() > frame {
                // A whole frame with more bytes after it: it is a regular frame.
                self.seal_regular_from(&data[..frame])?;
                data = &data[frame..];
                continue;
            }
            let n = (frame - self.pending()).min(data.len());
            let end = self.fill + n;
            grow_zeroizing(&mut self.buf, end);
            self.buf[self.fill..end].copy_from_slice(&data[..n]);
            self.fill = end;
            data = &data[n..];
        }
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
        if !self.failed {
            self.write_sealed().map_err(|e| {
                self.failed = true;
                io::Error::from(e)
            })?;
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::primitives::GcmKey;

    fn writer(frame: u32) -> EncryptingWriter<Vec<u8>> {
        let gcm = GcmKey::new(&[1u8; 32]).unwrap();
        EncryptingWriter::new(Vec::new(), gcm, vec![7u8; 32], frame, None, None).unwrap()
    }

    /// Whether `buf` holds 16 bytes in a row of the plaintext pattern.
    fn has_plaintext(buf: &[u8]) -> bool {
        buf.windows(16).any(|w| w.iter().all(|&b| b == 0xA5))
    }

    #[test]
    fn plaintext_is_only_ever_in_the_pending_frame() {
        for frame in [100u32, 4096, 70_000] {
            let f = frame as usize;
            let mut w = writer(frame);
            let pt = vec![0xA5u8; 3 * f + f / 2];
            // Whole frames sealed from the caller's slice, one gathered in the buffer.
            w.write_all(&pt).unwrap();
            let pending = w.sealed + REGULAR_PREFIX..w.fill;
            assert_eq!(pending.len(), f / 2);
            assert!(!has_plaintext(&w.buf[..pending.start]));
            assert!(!has_plaintext(&w.buf[pending.end..]));
            // `flush` moves the pending frame to the front and clears where it was.
            w.flush().unwrap();
            let pending = w.sealed + REGULAR_PREFIX..w.fill;
            assert_eq!(pending.start, REGULAR_PREFIX);
            assert!(!has_plaintext(&w.buf[pending.end..]));
            // Byte by byte: the gathered frame is sealed in place when more arrives.
            for b in &pt[..f] {
                w.write_all(std::slice::from_ref(b)).unwrap();
            }
            let pending = w.sealed + REGULAR_PREFIX..w.fill;
            assert!(!has_plaintext(&w.buf[..pending.start]));
            assert!(!has_plaintext(&w.buf[pending.end..]));
            let out = w.finish().unwrap();
            assert!(!has_plaintext(&out));
        }
    }

    #[test]
    fn a_regular_frame_never_has_the_final_marker_as_sequence_number() {
        let mut w = writer(1);
        w.seq = u32::MAX - 1;
        w.write_all(&[1, 2]).unwrap();
        // Frame u32::MAX - 1 is regular; u32::MAX can only be the final frame.
        assert!(w.write_all(&[3]).is_err());
    }
}
