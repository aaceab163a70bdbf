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
use crate::stream::pool::{OrderedPool, Threads};
use std::io::{self, Write};
use std::sync::Arc;
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
/// Plaintext per chunk handed to a worker thread (rounded to whole frames).
const CHUNK: usize = 1 << 20;
/// Messages go parallel once this much plaintext has been written: small messages never
/// pay for threads.
const PARALLEL_AFTER: u64 = 4 << 20;
/// Frames longer than this are sealed on the caller's thread only (a window of chunks of
/// such frames would not stay small).
const PARALLEL_MAX_FRAME: usize = 2 << 20;

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
    gcm: Arc<GcmKey>,
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
    /// Plaintext written so far (while the writer is still sequential).
    written: u64,
    /// Worker threads for when the message is long.
    threads: Threads,
    /// Whether the message may still go parallel.
    parallel_ok: bool,
    parallel: Option<Parallel>,
}

/// A run of whole regular frames to seal on a worker thread.
struct SealJob {
    first_seq: u32,
    pt: Zeroizing<Vec<u8>>,
    out: Vec<u8>,
}

/// A sealed run: the records in `out`, and the plaintext buffer to reuse.
struct Sealed {
    out: Vec<u8>,
    pt: Zeroizing<Vec<u8>>,
    result: Result<()>,
}

/// The parallel state: full chunks go to the pool; the sealed records come back in order
/// and are hashed and written on the caller's thread.
struct Parallel {
    pool: OrderedPool<SealJob, Sealed>,
    /// Plaintext of the chunk being filled.
    chunk: Zeroizing<Vec<u8>>,
    chunk_len: usize,
    window: usize,
    next_seq: u32,
    free_pt: Vec<Zeroizing<Vec<u8>>>,
    free_out: Vec<Vec<u8>>,
}

/// Seals every frame of `job.pt` (a whole number of `frame_len` frames) into `job.out`.
fn seal_chunk(gcm: &GcmKey, message_id: &[u8], frame_len: usize, mut job: SealJob) -> Sealed {
    let frames = job.pt.len() / frame_len;
    let record = REGULAR_PREFIX + frame_len + TAG_LEN;
    // Every byte is overwritten below: a reused buffer of the right size is not cleared.
    job.out.resize(frames * record, 0);
    let mut aad = Vec::with_capacity(96);
    let mut result = Ok(());
    let len64 = frame_len as u64;
    for (i, (pt, rec)) in job
        .pt
        .chunks_exact(frame_len)
        .zip(job.out.chunks_exact_mut(record))
        .enumerate()
    {
        let Some(seq) = u32::try_from(i)
            .ok()
            .and_then(|i| job.first_seq.checked_add(i))
        else {
            result = Err(Error::TooManyFrames);
            break;
        };
        let iv = frame_iv(seq);
        body_aad(&mut aad, message_id, RecordKind::Regular, seq, len64);
        let (prefix, rest) = rec.split_at_mut(REGULAR_PREFIX);
        prefix[..4].copy_from_slice(&seq.to_be_bytes());
        prefix[4..].copy_from_slice(&iv);
        let (ct, tag) = rest.split_at_mut(frame_len);
        let Ok(tag) = <&mut [u8; TAG_LEN]>::try_from(tag) else {
            result = Err(Error::ApiMisuse("tag room".into()));
            break;
        };
        if let Err(e) = gcm.seal_into(&iv, &aad, pt, ct, tag) {
            result = Err(e);
            break;
        }
    }
    Sealed {
        out: job.out,
        pt: job.pt,
        result,
    }
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
        threads: Threads,
    ) -> Result<Self> {
        let frame_len = usize::try_from(frame_len)
            .map_err(|_| Error::ApiMisuse("frame length does not fit this platform".into()))?;
        // One record: its prefix room, the plaintext and the tag. Batches grow the buffer
        // (once) as sealed records accumulate.
        let first = frame_len.min(PREALLOC_LIMIT) + REGULAR_PREFIX + TAG_LEN;
        Ok(Self {
            inner: Some(inner),
            gcm: Arc::new(gcm),
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
            written: 0,
            threads,
            parallel_ok: frame_len <= PARALLEL_MAX_FRAME && threads.may_be_parallel(),
            parallel: None,
        })
    }

    /// Whether frames are being handed to worker threads right now.
    #[cfg(test)]
    pub(crate) fn is_parallel(&self) -> bool {
        self.parallel.is_some()
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
        self.end_parallel()?;
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
        while !data.is_empty() {
            if self.parallel.is_some() {
                self.write_parallel(data)?;
                break;
            }
            let take = if self.parallel_ok {
                let left = PARALLEL_AFTER.saturating_sub(self.written);
                if left == 0 {
                    self.start_parallel()?;
                    continue;
                }
                usize::try_from(left).map_or(data.len(), |l| l.min(data.len()))
            } else {
                data.len()
            };
            self.write_sequential(&data[..take])?;
            self.written = self.written.saturating_add(take as u64);
            data = &data[take..];
        }
        Ok(total)
    }

    fn write_sequential(&mut self, mut data: &[u8]) -> Result<()> {
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
        Ok(())
    }

    /// Goes parallel: starts the workers and moves the pending plaintext into the first
    /// chunk. Stays sequential if no thread can be started.
    fn start_parallel(&mut self) -> Result<()> {
        let frames = (CHUNK / self.frame_len).max(1);
        let chunk_len = frames * self.frame_len;
        let gcm = Arc::clone(&self.gcm);
        let id = self.message_id.clone();
        let frame_len = self.frame_len;
        let work = move |job| seal_chunk(&gcm, &id, frame_len, job);
        let workers = self.threads.workers();
        let pool = (workers > 1)
            .then(|| OrderedPool::start(workers, "coffer-seal", work))
            .flatten();
        let Some(pool) = pool else {
            self.parallel_ok = false;
            return Ok(());
        };
        self.write_sealed()?;
        let mut chunk = Zeroizing::new(Vec::with_capacity(chunk_len));
        chunk.extend_from_slice(&self.buf[REGULAR_PREFIX..self.fill]);
        self.buf[REGULAR_PREFIX..self.fill].zeroize();
        self.fill = REGULAR_PREFIX;
        self.parallel = Some(Parallel {
            pool,
            chunk,
            chunk_len,
            window: 2 * workers + 1,
            next_seq: self.seq,
            free_pt: Vec::new(),
            free_out: Vec::new(),
        });
        Ok(())
    }

    fn parallel_mut(&mut self) -> Result<&mut Parallel> {
        self.parallel
            .as_mut()
            .ok_or_else(|| Error::ApiMisuse("not in parallel mode".into()))
    }

    /// Gathers plaintext into chunks; a full chunk is submitted when more data arrives
    /// (so that the last frame of the message is always sealed by `finish`).
    fn write_parallel(&mut self, mut data: &[u8]) -> Result<()> {
        while !data.is_empty() {
            let p = self.parallel_mut()?;
            if p.chunk.len() == p.chunk_len {
                self.submit_chunk()?;
            }
            let p = self.parallel_mut()?;
            let n = (p.chunk_len - p.chunk.len()).min(data.len());
            p.chunk.extend_from_slice(&data[..n]);
            data = &data[n..];
        }
        Ok(())
    }

    /// Submits the current (full) chunk, first writing finished chunks out while the
    /// window is full.
    fn submit_chunk(&mut self) -> Result<()> {
        while self.parallel_mut()?.pool.in_flight() >= self.parallel_mut()?.window {
            self.write_next_sealed()?;
        }
        let frame_len = self.frame_len;
        let p = self.parallel_mut()?;
        let frames = u32::try_from(p.chunk.len() / frame_len).map_err(|_| Error::TooManyFrames)?;
        let first_seq = p.next_seq;
        // The frames are first_seq..next; the final frame's number must still fit.
        let next = first_seq.checked_add(frames).ok_or(Error::TooManyFrames)?;
        let fresh = p
            .free_pt
            .pop()
            .unwrap_or_else(|| Zeroizing::new(Vec::with_capacity(p.chunk_len)));
        let pt = std::mem::replace(&mut p.chunk, fresh);
        let out = p.free_out.pop().unwrap_or_default();
        p.pool.submit(SealJob { first_seq, pt, out })?;
        p.next_seq = next;
        Ok(())
    }

    /// Hashes and writes the oldest sealed chunk. `false` when none is in flight.
    fn write_next_sealed(&mut self) -> Result<bool> {
        let Self {
            parallel,
            hasher,
            inner,
            ..
        } = self;
        let p = parallel
            .as_mut()
            .ok_or_else(|| Error::ApiMisuse("not in parallel mode".into()))?;
        let Some(sealed) = p.pool.next_result()? else {
            return Ok(false);
        };
        sealed.result?;
        if let Some(h) = hasher.as_mut() {
            h.update(&sealed.out);
        }
        inner
            .as_mut()
            .ok_or_else(|| Error::ApiMisuse("writer finished".into()))?
            .write_all(&sealed.out)?;
        let mut pt = sealed.pt;
        pt.clear();
        p.free_pt.push(pt);
        p.free_out.push(sealed.out);
        Ok(true)
    }

    /// Writes every chunk in flight.
    fn drain_parallel(&mut self) -> Result<()> {
        while self.write_next_sealed()? {}
        Ok(())
    }

    /// Writes every chunk in flight and goes back to sealing on the caller's thread,
    /// with the plaintext of the unfinished chunk pending.
    fn end_parallel(&mut self) -> Result<()> {
        if self.parallel.is_none() {
            return Ok(());
        }
        while self.write_next_sealed()? {}
        let Some(p) = self.parallel.take() else {
            return Ok(());
        };
        self.seq = p.next_seq;
        self.parallel_ok = false;
        drop(p.pool);
        self.write_sequential(&p.chunk)
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
            let written = if self.parallel.is_some() {
                self.drain_parallel()
            } else {
                self.write_sealed()
            };
            written.map_err(|e| {
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
        EncryptingWriter::new(
            Vec::new(),
            gcm,
            vec![7u8; 32],
            frame,
            None,
            None,
            Threads::Fixed(std::num::NonZeroUsize::MIN),
        )
        .unwrap()
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
