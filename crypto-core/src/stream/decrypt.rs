//! The decrypting reader: authenticates each record before releasing its plaintext.
//!
//! The byte path: the input is read in large reads into a buffer that only ever holds
//! ciphertext. A record is authenticated and decrypted from that buffer straight into the
//! caller's buffer when the caller has room for its whole plaintext (as many records per
//! `read` as fit), and otherwise into a staging buffer that the following reads drain.
//! Buffers are allocated once and reused from record to record.

use crate::error::{Error, Result};
use crate::format::{ContentType, MAX_NON_FRAMED_LEN, RecordKind, body_aad, frame_iv};
use crate::primitives::{GcmKey, IV_LEN, MessageHasher, TAG_LEN, VerificationKey};
use crate::stream::SignatureHash;
use crate::stream::encrypt::grow_zeroizing;
use crate::stream::pool::{OrderedPool, Threads};
use std::io::{self, Read};
use std::sync::Arc;
use zeroize::{Zeroize, Zeroizing};

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
/// no bytes follow it; any failure is an `io::Error` wrapping [`Error`]. A `read` may
/// return several frames at once; with [`Release::PerFrame`], if a later frame of the same
/// call fails, the frames before it are returned and the error comes with the next call.
///
/// The input is read ahead in large reads (so the reader needs no `BufReader` in front
/// of it); the bytes of `R` after the message are an error ([`Error::TrailingData`]).
pub struct DecryptingReader<R: Read> {
    inner: R,
    gcm: Arc<GcmKey>,
    message_id: Vec<u8>,
    content_type: ContentType,
    frame_len: u32,
    max_non_framed: u64,
    seq: u32,
    hasher: Option<SignatureHash>,
    verification: Option<VerificationKey>,
    release: Release,
    /// Read-ahead input: `input[ipos..iend]` is read but not consumed. Ciphertext only.
    input: Vec<u8>,
    ipos: usize,
    iend: usize,
    /// The size `input` grows to when the message is longer than it.
    input_target: usize,
    /// Verified plaintext not yet handed out: `out[pos..end]`.
    out: Zeroizing<Vec<u8>>,
    pos: usize,
    end: usize,
    body_done: bool,
    verified: bool,
    error: Option<Error>,
    aad: Vec<u8>,
    /// Plaintext opened on the caller's thread so far.
    opened: u64,
    /// Worker threads for when the message is long.
    threads: Threads,
    /// Whether the message may still go parallel.
    parallel_ok: bool,
    parallel: Option<Parallel>,
}

/// Ciphertext handed to a worker per chunk (rounded to whole records).
const CHUNK: usize = 1 << 20;
/// Messages go parallel once this much plaintext has been released.
const PARALLEL_AFTER: u64 = 4 << 20;
/// Frames longer than this are opened on the caller's thread only.
const PARALLEL_MAX_FRAME: u32 = 2 << 20;

/// A run of whole regular records (`ct[..len]`) to open on a worker thread.
struct OpenJob {
    first_seq: u32,
    ct: Vec<u8>,
    len: usize,
    pt: Zeroizing<Vec<u8>>,
}

/// An opened run: `pt` holds the plaintext of the first `ok` frames.
struct Opened {
    ct: Vec<u8>,
    pt: Zeroizing<Vec<u8>>,
    ok: usize,
    result: Result<()>,
}

/// The parallel state: the caller's thread reads and checks record headers, hashes the
/// ciphertext and hands runs of records to the pool; opened runs come back in order.
struct Parallel {
    pool: OrderedPool<OpenJob, Opened>,
    window: usize,
    chunk_records: usize,
    /// Sequence number of the first record not yet submitted.
    next_seq: u32,
    /// No more records will be submitted (the final frame, something unexpected, the end
    /// of the input or an error is next: the sequential path takes over from there).
    scan_done: bool,
    scan_error: Option<Error>,
    /// Verified plaintext being handed out: `cur[pos..end]`.
    cur: Zeroizing<Vec<u8>>,
    pos: usize,
    end: usize,
    cur_error: Option<Error>,
    free_ct: Vec<Vec<u8>>,
    free_pt: Vec<Zeroizing<Vec<u8>>>,
}

/// Opens every record of `job.ct[..job.len]` (regular records of `frame_len`) into `job.pt`.
fn open_chunk(gcm: &GcmKey, message_id: &[u8], frame_len: usize, mut job: OpenJob) -> Opened {
    let record = REGULAR_PREFIX + frame_len + TAG_LEN;
    let frames = job.len / record;
    // Every byte is overwritten below (or zeroed, on failure): a reused buffer of the
    // right size is not cleared first.
    job.pt.resize(frames * frame_len, 0);
    let mut aad = Vec::with_capacity(96);
    let mut ok = 0;
    let mut result = Ok(());
    let len64 = frame_len as u64;
    for (i, (rec, pt)) in job.ct[..job.len]
        .chunks_exact(record)
        .zip(job.pt.chunks_exact_mut(frame_len))
        .enumerate()
    {
        let Some(seq) = u32::try_from(i)
            .ok()
            .and_then(|i| job.first_seq.checked_add(i))
        else {
            result = Err(Error::TooManyFrames);
            break;
        };
        body_aad(&mut aad, message_id, RecordKind::Regular, seq, len64);
        let (ct, tag) = rec[REGULAR_PREFIX..].split_at(frame_len);
        if let Err(e) = gcm.open_into(&frame_iv(seq), &aad, ct, tag, pt) {
            result = Err(e);
            break;
        }
        ok = i + 1;
    }
    Opened {
        ct: job.ct,
        pt: job.pt,
        ok,
        result,
    }
}

impl<R: Read> std::fmt::Debug for DecryptingReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecryptingReader")
            .field("seq", &self.seq)
            .field("release", &self.release)
            .finish_non_exhaustive()
    }
}

/// First size of the read-ahead buffer (small messages never need more).
const INPUT_START: usize = 16 << 10;
/// The read-ahead buffer grows to about this size once a message turns out to be longer
/// (to a whole number of regular records, so that records never straddle its end and are
/// never moved; larger records make it larger, as their bytes arrive).
const INPUT_TARGET: usize = 128 << 10;
/// Final-frame prefix: marker 4 ‖ seq 4 ‖ IV 12 ‖ length 4.
const FINAL_PREFIX: usize = 24;
/// Regular frame prefix: seq 4 ‖ IV 12.
const REGULAR_PREFIX: usize = 16;
/// Non-framed prefix: IV 12 ‖ length 8.
const SINGLE_PREFIX: usize = IV_LEN + 8;

pub(crate) struct ReaderParts {
    pub(crate) gcm: GcmKey,
    pub(crate) message_id: Vec<u8>,
    pub(crate) content_type: ContentType,
    pub(crate) frame_len: u32,
    pub(crate) max_non_framed: u64,
    pub(crate) hasher: Option<MessageHasher>,
    pub(crate) verification: Option<VerificationKey>,
    pub(crate) threads: Threads,
}

/// One body record: parsed and entirely buffered at `ipos`, not yet consumed.
struct Record {
    kind: RecordKind,
    seq: u32,
    iv: [u8; IV_LEN],
    /// Bytes before the ciphertext.
    prefix: usize,
    /// Ciphertext (and plaintext) length.
    len: usize,
}

impl<R: Read> DecryptingReader<R> {
    pub(crate) fn new(inner: R, p: ReaderParts, release: Release) -> Self {
        let record = usize::try_from(p.frame_len)
            .ok()
            .and_then(|f| f.checked_add(REGULAR_PREFIX + TAG_LEN));
        let input_target = match (p.content_type, record) {
            (ContentType::Framed, Some(r)) if r <= INPUT_TARGET => r * INPUT_TARGET.div_ceil(r),
            // Larger records: the buffer grows to one record as its bytes arrive.
            _ => INPUT_TARGET,
        };
        Self {
            inner,
            gcm: Arc::new(p.gcm),
            message_id: p.message_id,
            content_type: p.content_type,
            frame_len: p.frame_len,
            max_non_framed: p.max_non_framed,
            seq: 1,
            hasher: p.hasher.map(SignatureHash::new),
            verification: p.verification,
            release,
            input: vec![0; INPUT_START.min(input_target)],
            ipos: 0,
            iend: 0,
            input_target,
            out: Zeroizing::new(Vec::new()),
            pos: 0,
            end: 0,
            body_done: false,
            verified: false,
            error: None,
            aad: Vec::with_capacity(96),
            opened: 0,
            threads: p.threads,
            parallel_ok: p.content_type == ContentType::Framed
                && release == Release::PerFrame
                && p.frame_len <= PARALLEL_MAX_FRAME
                && p.threads.may_be_parallel(),
            parallel: None,
        }
    }

    /// Whether frames are being handed to worker threads right now.
    #[cfg(test)]
    pub(crate) fn is_parallel(&self) -> bool {
        self.parallel.is_some()
    }

    /// Whether the whole message has been read and verified.
    #[must_use]
    pub fn is_verified(&self) -> bool {
        self.verified
    }

    /// Makes sure `n` bytes are buffered at `ipos`, reading as much as fits each time.
    ///
    /// Past the read-ahead size (at most 2 × `INPUT_TARGET`), the buffer grows only as
    /// bytes arrive (at most doubling each time it is full), so a lying length field cannot
    /// make us allocate much more than the input holds.
    fn ensure(&mut self, n: usize) -> Result<()> {
        if self.iend - self.ipos >= n {
            return Ok(());
        }
        if self.ipos.saturating_add(n) > self.input.len() {
            // Move the partial record (if any) to the front. The input is longer than the
            // buffer: read ahead more from now on.
            self.input.copy_within(self.ipos..self.iend, 0);
            self.iend -= self.ipos;
            self.ipos = 0;
            if self.input.len() < self.input_target {
                self.input.resize(self.input_target, 0);
            }
        }
        while self.iend - self.ipos < n {
            if self.iend == self.input.len() {
                // Full of bytes that arrived (and `ipos` is 0 here): room for more.
                let len = n.min(self.input.len().saturating_mul(2));
                self.input.resize(len, 0);
            }
            let got = loop {
                match self.inner.read(&mut self.input[self.iend..]) {
                    Ok(k) => break k,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e.into()),
                }
            };
            if got == 0 {
                return Err(Error::Truncated);
            }
            self.iend += got;
        }
        Ok(())
    }

    fn u32_at(&self, at: usize) -> u32 {
        let mut b = [0u8; 4];
        b.copy_from_slice(&self.input[at..at + 4]);
        u32::from_be_bytes(b)
    }

    fn iv_at(&self, at: usize, seq: u32) -> Result<[u8; IV_LEN]> {
        let mut iv = [0u8; IV_LEN];
        iv.copy_from_slice(&self.input[at..at + IV_LEN]);
        if iv != frame_iv(seq) {
            return Err(Error::Malformed(format!(
                "frame {seq} has an unexpected IV"
            )));
        }
        Ok(iv)
    }

    /// Parses the next record and buffers all of it (without consuming it).
    fn next_record(&mut self) -> Result<Record> {
        let rec = match self.content_type {
            ContentType::NonFramed => {
                self.ensure(SINGLE_PREFIX)?;
                let p = self.ipos;
                let iv = self.iv_at(p, 1)?;
                let mut len = [0u8; 8];
                len.copy_from_slice(&self.input[p + IV_LEN..p + SINGLE_PREFIX]);
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
                Record {
                    kind: RecordKind::Single,
                    seq: 1,
                    iv,
                    prefix: SINGLE_PREFIX,
                    len,
                }
            }
            ContentType::Framed => {
                self.ensure(4)?;
                let first = self.u32_at(self.ipos);
                let frame_len = usize::try_from(self.frame_len)
                    .map_err(|_| Error::Malformed("frame too long".into()))?;
                if first == u32::MAX {
                    self.ensure(FINAL_PREFIX)?;
                    let p = self.ipos;
                    let seq = self.u32_at(p + 4);
                    if seq != self.seq {
                        return Err(Error::Malformed(format!(
                            "final frame has sequence number {seq}, expected {}",
                            self.seq
                        )));
                    }
                    let iv = self.iv_at(p + 8, seq)?;
                    let len = self.u32_at(p + 8 + IV_LEN);
                    if len > self.frame_len {
                        return Err(Error::Malformed(
                            "final frame is longer than the frame length".into(),
                        ));
                    }
                    let len = usize::try_from(len)
                        .map_err(|_| Error::Malformed("frame too long".into()))?;
                    Record {
                        kind: RecordKind::Final,
                        seq,
                        iv,
                        prefix: FINAL_PREFIX,
                        len,
                    }
                } else {
                    if first != self.seq {
                        return Err(Error::Malformed(format!(
                            "frame has sequence number {first}, expected {}",
                            self.seq
                        )));
                    }
                    self.ensure(REGULAR_PREFIX)?;
                    let iv = self.iv_at(self.ipos + 4, first)?;
                    Record {
                        kind: RecordKind::Regular,
                        seq: first,
                        iv,
                        prefix: REGULAR_PREFIX,
                        len: frame_len,
                    }
                }
            }
        };
        let total = rec
            .prefix
            .checked_add(rec.len)
            .and_then(|t| t.checked_add(TAG_LEN))
            .ok_or_else(|| Error::Malformed("record too long".into()))?;
        self.ensure(total)?;
        Ok(rec)
    }

    /// Authenticates and decrypts `rec` into `dest` (`rec.len` bytes), then hashes and
    /// consumes it. On failure `dest` is zeroed.
    fn open_record(&mut self, rec: &Record, dest: &mut [u8]) -> Result<()> {
        let len64 =
            u64::try_from(rec.len).map_err(|_| Error::Malformed("record too long".into()))?;
        body_aad(&mut self.aad, &self.message_id, rec.kind, rec.seq, len64);
        let ct = self.ipos + rec.prefix;
        let tag = ct + rec.len;
        let end = tag + TAG_LEN;
        self.gcm.open_into(
            &rec.iv,
            &self.aad,
            &self.input[ct..tag],
            &self.input[tag..end],
            dest,
        )?;
        if let Some(h) = self.hasher.as_mut() {
            h.update(&self.input[self.ipos..end]);
        }
        self.ipos = end;
        self.opened = self.opened.saturating_add(len64);
        if rec.kind == RecordKind::Regular {
            self.seq = self.seq.checked_add(1).ok_or(Error::TooManyFrames)?;
        } else {
            self.body_done = true;
        }
        Ok(())
    }

    /// Decrypts the next record at `out[end..]` (staged plaintext); the footer is checked
    /// after the last record.
    fn stage_next(&mut self) -> Result<()> {
        let rec = self.next_record()?;
        let start = self.end;
        let stop = start
            .checked_add(rec.len)
            .ok_or_else(|| Error::Malformed("message too long".into()))?;
        let mut out = std::mem::take(&mut self.out);
        grow_zeroizing(&mut out, stop);
        let opened = self.open_record(&rec, &mut out[start..stop]);
        self.out = out;
        opened?;
        self.end = stop;
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
            self.ensure(2)?;
            let len = usize::from(u16::from_be_bytes([
                self.input[self.ipos],
                self.input[self.ipos + 1],
            ]));
            self.ensure(2 + len)?;
            let sig = self.ipos + 2..self.ipos + 2 + len;
            key.verify(hasher.finish()?, &self.input[sig.clone()])?;
            self.ipos = sig.end;
        }
        if self.ipos < self.iend {
            return Err(Error::TrailingData);
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

    /// Hands out staged plaintext.
    fn drain(&mut self, buf: &mut [u8]) -> usize {
        let n = (self.end - self.pos).min(buf.len());
        buf[..n].copy_from_slice(&self.out[self.pos..self.pos + n]);
        self.pos += n;
        if self.pos == self.end {
            self.pos = 0;
            self.end = 0;
        }
        n
    }

    /// The body of `read`: on failure, also how many verified bytes are already in `buf`.
    fn read_some(&mut self, buf: &mut [u8]) -> std::result::Result<usize, (usize, Error)> {
        if self.release == Release::AfterSignature {
            while !self.body_done {
                self.stage_next().map_err(|e| (0, e))?;
            }
        }
        if self.pos < self.end {
            return Ok(self.drain(buf));
        }
        if self.should_go_parallel() {
            self.start_parallel();
        }
        if self.parallel.is_some() {
            if let Some(n) = self.read_parallel(buf)? {
                return Ok(n);
            }
        }
        // Per frame: whole records straight into `buf` while they fit.
        let mut n = 0;
        while !self.body_done {
            let rec = self.next_record().map_err(|e| (n, e))?;
            if rec.len > buf.len() - n {
                if n > 0 {
                    break;
                }
                // `buf` is smaller than the record: stage it.
                self.stage_next().map_err(|e| (0, e))?;
                return Ok(self.drain(buf));
            }
            let dest = &mut buf[n..n + rec.len];
            self.open_record(&rec, dest).map_err(|e| (n, e))?;
            if self.body_done {
                if let Err(e) = self.finish_message() {
                    // The last frame is not released unless the message verified.
                    dest.fill(0);
                    return Err((n, e));
                }
            }
            n += rec.len;
        }
        Ok(n)
    }

    /// Starts the workers; stays sequential if no thread can be started.
    fn start_parallel(&mut self) {
        let frame_len = usize::try_from(self.frame_len).unwrap_or(usize::MAX);
        let record = REGULAR_PREFIX + frame_len + TAG_LEN;
        let gcm = Arc::clone(&self.gcm);
        let id = self.message_id.clone();
        let work = move |job| open_chunk(&gcm, &id, frame_len, job);
        let workers = self.threads.workers();
        let pool = (workers > 1)
            .then(|| OrderedPool::start(workers, "coffer-open", work))
            .flatten();
        let Some(pool) = pool else {
            self.parallel_ok = false;
            return;
        };
        self.parallel = Some(Parallel {
            pool,
            window: 2 * workers + 1,
            chunk_records: (CHUNK / record).max(1),
            next_seq: self.seq,
            scan_done: false,
            scan_error: None,
            cur: Zeroizing::new(Vec::new()),
            pos: 0,
            end: 0,
            cur_error: None,
            free_ct: Vec::new(),
            free_pt: Vec::new(),
        });
    }

    /// Reads up to `chunk_records` regular records and makes them a job. `None` when no
    /// whole regular record with the expected sequence number and IV is next.
    fn scan_chunk(&mut self) -> Result<Option<OpenJob>> {
        let frame_len = usize::try_from(self.frame_len).unwrap_or(usize::MAX);
        let record = REGULAR_PREFIX + frame_len + TAG_LEN;
        let Some(p) = self.parallel.as_mut() else {
            return Ok(None);
        };
        let want = p.chunk_records * record;
        // The job takes the read-ahead buffer itself: start it at 0, big enough for a chunk.
        self.input.copy_within(self.ipos..self.iend, 0);
        self.iend -= self.ipos;
        self.ipos = 0;
        if self.input.len() < want {
            self.input.resize(want, 0);
        }
        while self.iend < want {
            match self.inner.read(&mut self.input[self.iend..want]) {
                Ok(0) => break,
                Ok(k) => self.iend += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        let mut at = 0;
        let mut seq = p.next_seq;
        while self.iend - at >= record && at < want {
            let mut b = [0u8; 4];
            b.copy_from_slice(&self.input[at..at + 4]);
            // The final frame (marker u32::MAX) and anything unexpected go to the
            // sequential path, which reports problems in order.
            if u32::from_be_bytes(b) != seq
                || self.input[at + 4..at + REGULAR_PREFIX] != frame_iv(seq)
            {
                break;
            }
            let Some(next) = seq.checked_add(1) else {
                break;
            };
            seq = next;
            at += record;
        }
        if at == 0 {
            return Ok(None);
        }
        if let Some(h) = self.hasher.as_mut() {
            h.update(&self.input[..at]);
        }
        let mut fresh = p.free_ct.pop().unwrap_or_default();
        if fresh.len() < self.input.len() {
            fresh.resize(self.input.len(), 0);
        }
        let tail = self.iend - at;
        fresh[..tail].copy_from_slice(&self.input[at..self.iend]);
        let ct = std::mem::replace(&mut self.input, fresh);
        self.iend = tail;
        let job = OpenJob {
            first_seq: p.next_seq,
            ct,
            len: at,
            pt: p.free_pt.pop().unwrap_or_default(),
        };
        p.next_seq = seq;
        Ok(Some(job))
    }

    /// Hands out plaintext opened by the workers. `None` once the parallel part is over
    /// (the sequential path goes on from the next record).
    fn read_parallel(
        &mut self,
        buf: &mut [u8],
    ) -> std::result::Result<Option<usize>, (usize, Error)> {
        if !self.parallel_fill().map_err(|e| (0, e))? {
            return Ok(None);
        }
        let Some(p) = self.parallel.as_mut() else {
            return Ok(None);
        };
        let n = (p.end - p.pos).min(buf.len());
        buf[..n].copy_from_slice(&p.cur[p.pos..p.pos + n]);
        p.pos += n;
        Ok(Some(n))
    }

    /// Makes sure the workers' current run has plaintext to hand out, keeping the window
    /// full. `false` once the parallel part is over.
    fn parallel_fill(&mut self) -> Result<bool> {
        loop {
            let Some(p) = self.parallel.as_mut() else {
                return Ok(false);
            };
            if p.pos < p.end {
                return Ok(true);
            }
            if let Some(e) = p.cur_error.take() {
                return Err(e);
            }
            while !self.parallel.as_ref().is_none_or(|p| p.scan_done)
                && self
                    .parallel
                    .as_ref()
                    .is_some_and(|p| p.pool.in_flight() < p.window)
            {
                let scanned = self.scan_chunk();
                let Some(p) = self.parallel.as_mut() else {
                    return Ok(false);
                };
                match scanned {
                    Ok(Some(job)) => p.pool.submit(job)?,
                    Ok(None) => p.scan_done = true,
                    Err(e) => {
                        p.scan_done = true;
                        p.scan_error = Some(e);
                    }
                }
            }
            let Some(p) = self.parallel.as_mut() else {
                return Ok(false);
            };
            match p.pool.next_result()? {
                Some(opened) => {
                    let frame_len = usize::try_from(self.frame_len).unwrap_or(usize::MAX);
                    let done = std::mem::replace(&mut p.cur, opened.pt);
                    p.free_pt.push(done);
                    p.free_ct.push(opened.ct);
                    p.pos = 0;
                    p.end = opened.ok * frame_len;
                    if let Err(e) = opened.result {
                        p.cur_error = Some(e);
                    }
                }
                None => {
                    // Everything submitted has been handed out.
                    if let Some(e) = p.scan_error.take() {
                        return Err(e);
                    }
                    self.seq = p.next_seq;
                    self.parallel_ok = false;
                    self.parallel = None;
                    return Ok(false);
                }
            }
        }
    }

    /// Whether the next records should go to worker threads.
    fn should_go_parallel(&self) -> bool {
        self.parallel.is_none()
            && self.parallel_ok
            && self.opened >= PARALLEL_AFTER
            && !self.body_done
    }

    /// Makes verified plaintext available in the reader's own buffers (see
    /// [`DecryptingReader::available`]); none is available only at the end of the message.
    fn fill(&mut self) -> Result<()> {
        if self.release == Release::AfterSignature {
            while !self.body_done {
                self.stage_next()?;
            }
            return Ok(());
        }
        loop {
            if self.pos < self.end || self.body_done {
                return Ok(());
            }
            if self.should_go_parallel() {
                self.start_parallel();
            }
            if self.parallel.is_some() {
                if self.parallel_fill()? {
                    return Ok(());
                }
                continue;
            }
            self.stage_next()?;
        }
    }

    /// The verified plaintext ready to be handed out.
    fn available(&self) -> &[u8] {
        match &self.parallel {
            Some(p) if p.pos < p.end => &p.cur[p.pos..p.end],
            _ => &self.out[self.pos..self.end],
        }
    }

    /// Failure: nothing more is handed out, and the plaintext buffers are wiped.
    fn fail(&mut self, e: Error) -> Error {
        self.parallel = None;
        self.out.zeroize();
        self.pos = 0;
        self.end = 0;
        self.error = Some(e.clone());
        e
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
        match self.read_some(buf) {
            Ok(n) => Ok(n),
            Err((n, e)) => {
                let e = self.fail(e);
                if n > 0 {
                    // Verified frames first; the error comes with the next call.
                    Ok(n)
                } else {
                    Err(io::Error::from(e))
                }
            }
        }
    }
}

/// Plaintext straight from the reader's buffers, without the copy into the caller's buffer
/// that `read` makes. The same rules apply: only verified plaintext is handed out, and an
/// error is final.
impl<R: Read> io::BufRead for DecryptingReader<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if let Some(e) = &self.error {
            return Err(io::Error::from(e.clone()));
        }
        if let Err(e) = self.fill() {
            return Err(io::Error::from(self.fail(e)));
        }
        Ok(self.available())
    }

    fn consume(&mut self, amt: usize) {
        match self.parallel.as_mut() {
            Some(p) if p.pos < p.end => p.pos = (p.pos + amt).min(p.end),
            _ => {
                self.pos = (self.pos + amt).min(self.end);
                if self.pos == self.end {
                    self.pos = 0;
                    self.end = 0;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmm::DefaultCmm;
    use crate::keyring::RawAesKeyring;
    use crate::{
        AlgorithmSuite, DecryptConfig, Decryptor, EncryptConfig, EncryptionContext, Encryptor,
    };
    use std::cell::RefCell;
    use std::io::Write;
    use std::rc::Rc;
    use std::sync::Arc;

    const UNSIGNED: AlgorithmSuite = AlgorithmSuite::Aes256GcmHkdfSha512CommitKey;
    const SIGNED: AlgorithmSuite = AlgorithmSuite::Aes256GcmHkdfSha512CommitKeyEcdsaP384;

    fn cmm() -> Arc<DefaultCmm> {
        let k = RawAesKeyring::new("ns", "k", &[5u8; 32]).unwrap();
        Arc::new(DefaultCmm::new(Arc::new(k)))
    }

    fn data(n: usize) -> Vec<u8> {
        (0..n)
            .map(|i| u8::try_from(i * 131 % 251).unwrap())
            .collect()
    }

    fn cfg(suite: AlgorithmSuite, frame: u32) -> EncryptConfig {
        EncryptConfig::default()
            .with_suite(Some(suite))
            .with_frame_length(frame)
            .unwrap()
    }

    /// Encrypts `pt`, handing it to the writer in chunks of the sizes in `steps` (cycled).
    fn encrypt_chunked(
        cmm: &Arc<DefaultCmm>,
        cfg: EncryptConfig,
        pt: &[u8],
        steps: &[usize],
    ) -> Vec<u8> {
        let ctx = EncryptionContext::new();
        let prepared =
            futures::executor::block_on(Encryptor::new(cmm.clone(), cfg).prepare(&ctx, None))
                .unwrap();
        let mut w = prepared.wrap_output(Vec::new()).unwrap();
        let mut rest = pt;
        for &step in steps.iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let n = step.min(rest.len());
            w.write_all(&rest[..n]).unwrap();
            rest = &rest[n..];
        }
        w.finish().unwrap()
    }

    /// A reader that hands out at most `sizes[i]` bytes per call (cycled).
    struct Trickle<'a> {
        data: &'a [u8],
        sizes: &'a [usize],
        i: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.sizes[self.i % self.sizes.len()]
                .min(buf.len())
                .min(self.data.len());
            self.i += 1;
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    fn reader<'a>(
        cmm: &Arc<DefaultCmm>,
        msg: &'a [u8],
        sizes: &'a [usize],
        release: Release,
    ) -> DecryptingReader<Trickle<'a>> {
        reader_with(DecryptConfig::default(), cmm, msg, sizes, release)
    }

    fn reader_with<'a>(
        dcfg: DecryptConfig,
        cmm: &Arc<DefaultCmm>,
        msg: &'a [u8],
        sizes: &'a [usize],
        release: Release,
    ) -> DecryptingReader<Trickle<'a>> {
        let mut input = msg;
        let parsed = Decryptor::new(dcfg).read_header(&mut input).unwrap();
        let ready =
            futures::executor::block_on(parsed.obtain_materials(cmm.as_ref(), None)).unwrap();
        ready.into_reader(
            Trickle {
                data: input,
                sizes,
                i: 0,
            },
            release,
        )
    }

    /// Reads everything with read buffers of the sizes in `bufs` (cycled).
    fn read_all(r: &mut impl Read, bufs: &[usize]) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        let mut buf = vec![0u8; bufs.iter().copied().max().unwrap()];
        for &b in bufs.iter().cycle() {
            let n = r.read(&mut buf[..b])?;
            if n == 0 {
                return Ok(out);
            }
            out.extend_from_slice(&buf[..n]);
        }
        unreachable!()
    }

    #[test]
    fn any_chunking_of_writes_reads_and_input_round_trips() {
        let cmm = cmm();
        let cases: &[(u32, &[usize])] = &[
            (1, &[0, 1, 2, 33]),
            (7, &[0, 6, 7, 8, 100]),
            (4096, &[0, 4095, 4096, 4097, 3 * 4096, 70_000]),
            (70_000, &[69_999, 70_000, 70_001, 300_000]),
            // Frames larger than the read-ahead buffer's usual size.
            (300_000, &[299_999, 300_000, 700_000]),
        ];
        let writes: &[&[usize]] = &[&[usize::MAX], &[1, 4095, 7, 65536, 3]];
        let inputs: &[&[usize]] = &[&[usize::MAX], &[1, 5, 4096, 17, 100_000]];
        let bufs: &[&[usize]] = &[&[1 << 20], &[1, 333, 4096, 65536, 5]];
        for suite in [UNSIGNED, SIGNED] {
            for &(frame, sizes) in cases {
                for &len in sizes {
                    let pt = data(len);
                    for (i, w) in writes.iter().enumerate() {
                        let msg = encrypt_chunked(&cmm, cfg(suite, frame), &pt, w);
                        for r in inputs.iter().skip(i % 2) {
                            for b in bufs {
                                for release in [Release::PerFrame, Release::AfterSignature] {
                                    let mut rd = reader(&cmm, &msg, r, release);
                                    let out = read_all(&mut rd, b).unwrap();
                                    assert!(rd.is_verified());
                                    assert!(
                                        out == pt,
                                        "suite {suite} frame {frame} len {len} writes {w:?} \
                                         input {r:?} bufs {b:?} {release:?}"
                                    );
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    #[derive(Clone, Default)]
    struct Shared(Rc<RefCell<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.borrow_mut().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn flush_writes_every_sealed_frame() {
        let cmm = cmm();
        let ctx = EncryptionContext::new();
        let prepared = futures::executor::block_on(
            Encryptor::new(cmm.clone(), cfg(UNSIGNED, 100)).prepare(&ctx, None),
        )
        .unwrap();
        let sink = Shared::default();
        let mut w = prepared.wrap_output(sink.clone()).unwrap();
        let header = sink.0.borrow().len();
        let pt = data(350);
        w.write_all(&pt).unwrap();
        // Three frames are sealed (the fourth, of 50 bytes, is not full) but still batched.
        assert_eq!(sink.0.borrow().len(), header);
        w.flush().unwrap();
        assert_eq!(sink.0.borrow().len(), header + 3 * (16 + 100 + 16));
        // 700 bytes: seven full frames, but the seventh is sealed only when more data
        // arrives (or as the final frame).
        w.write_all(&pt).unwrap();
        w.flush().unwrap();
        assert_eq!(sink.0.borrow().len(), header + 6 * (16 + 100 + 16));
        w.finish().unwrap();
        let msg = sink.0.borrow().clone();
        let out = futures::executor::block_on(crate::decrypt(
            cmm.as_ref(),
            &DecryptConfig::default(),
            None,
            &msg,
        ))
        .unwrap();
        assert_eq!(out.plaintext, [&pt[..], &pt[..]].concat());
    }

    fn header_len(msg: &[u8]) -> usize {
        let mut input = msg;
        crate::inspect(&mut input).unwrap();
        msg.len() - input.len()
    }

    #[test]
    fn a_bad_frame_releases_only_the_frames_before_it() {
        let cmm = cmm();
        let pt = data(1000);
        let mut msg = encrypt_chunked(&cmm, cfg(UNSIGNED, 100), &pt, &[usize::MAX]);
        // Frame 5's ciphertext (frames 1..=4 come before it).
        let at = header_len(&msg) + 4 * (16 + 100 + 16) + 16 + 10;
        msg[at] ^= 1;
        let mut r = reader(&cmm, &msg, &[usize::MAX], Release::PerFrame);
        let mut buf = vec![0xAAu8; 4096];
        assert_eq!(r.read(&mut buf).unwrap(), 400);
        assert_eq!(buf[..400], pt[..400]);
        assert!(
            buf[400..500].iter().all(|&b| b == 0),
            "no unauthenticated bytes"
        );
        for _ in 0..2 {
            let e = r.read(&mut buf).unwrap_err();
            assert!(matches!(Error::from(e), Error::Authentication));
        }
        assert!(!r.is_verified());
    }

    #[test]
    fn a_bad_signature_withholds_the_final_frame() {
        let cmm = cmm();
        let pt = data(250);
        let mut msg = encrypt_chunked(&cmm, cfg(SIGNED, 100), &pt, &[usize::MAX]);
        let last = msg.len() - 1;
        msg[last] ^= 1;
        let mut r = reader(&cmm, &msg, &[usize::MAX], Release::PerFrame);
        let mut buf = vec![0xAAu8; 4096];
        // The two regular frames verified on their own; the final one waits for the
        // signature, which fails.
        assert_eq!(r.read(&mut buf).unwrap(), 200);
        assert_eq!(buf[..200], pt[..200]);
        assert!(buf[200..250].iter().all(|&b| b == 0));
        assert!(r.read(&mut buf).is_err());
        assert!(!r.is_verified());

        let mut r = reader(&cmm, &msg, &[usize::MAX], Release::AfterSignature);
        assert!(r.read(&mut buf).is_err());
        // A small buffer takes the staging path: still nothing of the final frame.
        let mut r = reader(&cmm, &msg, &[usize::MAX], Release::PerFrame);
        let mut small = [0u8; 60];
        let mut got = 0;
        while let Ok(n) = r.read(&mut small) {
            assert!(n > 0);
            got += n;
        }
        assert_eq!(got, 200);
    }

    #[test]
    fn a_lying_frame_length_is_truncation_not_an_allocation() {
        // A header that honestly says 4 GiB frames, then a regular frame that stops short.
        // (The default limit refuses such a header; a caller may allow any frame length.)
        let cmm = cmm();
        let msg = encrypt_chunked(&cmm, cfg(UNSIGNED, u32::MAX), b"hi", &[usize::MAX]);
        let mut forged = msg[..header_len(&msg)].to_vec();
        forged.extend_from_slice(&1u32.to_be_bytes());
        forged.extend_from_slice(&frame_iv(1));
        forged.extend_from_slice(&[0u8; 1000]);
        let any = DecryptConfig::default().with_max_frame_length(u32::MAX);
        let mut r = reader_with(any, &cmm, &forged, &[usize::MAX], Release::PerFrame);
        let e = r.read(&mut [0u8; 64]).unwrap_err();
        assert!(matches!(Error::from(e), Error::Truncated));
        assert!(
            r.input.len() <= 2 * INPUT_TARGET,
            "{} bytes buffered",
            r.input.len()
        );
    }
}
