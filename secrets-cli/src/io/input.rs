//! Where a verb reads from ([`Input`]), and how: small files whole, larger ones and pipes
//! through a reader thread that keeps a few chunks ahead ([`ReadAhead`]).

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use zeroize::Zeroizing;

use super::FileError;

/// Where a verb reads from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Standard input (`-` or no `-i`).
    Stdin,
    /// A file.
    File(PathBuf),
}

impl Input {
    /// `None` or `-` is stdin, anything else a file path.
    pub fn from_arg(arg: Option<&Path>) -> Self {
        match arg {
            None => Self::Stdin,
            Some(p) if p.as_os_str() == "-" => Self::Stdin,
            Some(p) => Self::File(p.to_path_buf()),
        }
    }

    /// The file path, if any.
    pub fn path(&self) -> Option<&Path> {
        match self {
            Self::Stdin => None,
            Self::File(p) => Some(p),
        }
    }

    /// Opens the input. Files are checked to be regular files (or FIFOs/devices), not directories.
    /// Large files are read ahead on a helper thread, so reading overlaps the crypto.
    pub fn open(&self) -> Result<InputReader, FileError> {
        self.open_with(true)
    }

    /// [`Input::open`] without the read-ahead thread: for directory runs, whose parallelism is
    /// across files (and whose queued files should hold no buffers).
    pub fn open_direct(&self) -> Result<InputReader, FileError> {
        self.open_with(false)
    }

    fn open_with(&self, read_ahead: bool) -> Result<InputReader, FileError> {
        match self {
            Self::Stdin => Ok(InputReader {
                inner: InputInner::Stdin(io::stdin()),
                len: None,
            }),
            Self::File(path) => {
                let file = File::open(path).map_err(|e| FileError::io(path, "open", e))?;
                let meta = file
                    .metadata()
                    .map_err(|e| FileError::io(path, "read the metadata of", e))?;
                if meta.is_dir() {
                    return Err(FileError::IsDirectory(path.clone()));
                }
                let len = meta.is_file().then_some(meta.len());
                let inner = match len {
                    // No helper thread and no large buffers for small files: they are read
                    // in one go, and a directory run reads many of them at once.
                    Some(n) if n < SMALL_FILE => InputInner::Buffered(Buffered::new(file, n)),
                    _ if !read_ahead => InputInner::Buffered(Buffered::new(file, DIRECT_BUFFER)),
                    _ => InputInner::File(ReadAhead::new(file)),
                };
                Ok(InputReader { inner, len })
            }
        }
    }
}

impl fmt::Display for Input {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Stdin => f.write_str("-"),
            Self::File(p) => write!(f, "{}", p.display()),
        }
    }
}

/// An open input.
#[derive(Debug)]
pub struct InputReader {
    inner: InputInner,
    len: Option<u64>,
}

#[derive(Debug)]
enum InputInner {
    Stdin(io::Stdin),
    Buffered(Buffered),
    File(ReadAhead),
}

/// Regular files shorter than this are read through [`Buffered`] rather than [`ReadAhead`].
const SMALL_FILE: u64 = READ_AHEAD_CHUNK as u64;

/// The buffer of a large file read without read-ahead ([`Input::open_direct`]).
const DIRECT_BUFFER: u64 = 64 << 10;

/// A file read on the caller's thread through one zeroized buffer (allocated at the first
/// read), at most the size of the file: small reads (a header parse) cost no system calls,
/// large ones go straight to the file.
struct Buffered {
    file: File,
    cap: usize,
    buf: Zeroizing<Vec<u8>>,
    pos: usize,
    filled: usize,
}

impl fmt::Debug for Buffered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Buffered")
            .field("cap", &self.cap)
            .finish_non_exhaustive()
    }
}

impl Buffered {
    /// A reader of `file` with a buffer of `size` bytes at most.
    fn new(file: File, size: u64) -> Self {
        // One more byte than a small file holds, so the first fill also sees the end.
        let cap = usize::try_from(size).map_or(READ_AHEAD_CHUNK, |n| n.saturating_add(1));
        Self {
            file,
            cap,
            buf: Zeroizing::new(Vec::new()),
            pos: 0,
            filled: 0,
        }
    }
}

impl Read for Buffered {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.filled {
            if out.len() >= self.cap {
                return self.file.read(out);
            }
            if self.buf.is_empty() {
                self.buf = Zeroizing::new(vec![0u8; self.cap]);
            }
            self.filled = self.file.read(&mut self.buf)?;
            self.pos = 0;
        }
        let avail = self.buf.get(self.pos..self.filled).unwrap_or_default();
        let n = avail.len().min(out.len());
        out[..n].copy_from_slice(&avail[..n]);
        self.pos += n;
        Ok(n)
    }
}

/// Size of one read-ahead chunk.
pub(super) const READ_AHEAD_CHUNK: usize = 1 << 20;
/// Chunks in flight between the reading thread and the consumer.
const READ_AHEAD_DEPTH: usize = 3;

type Chunk = (Zeroizing<Vec<u8>>, usize);

/// Reads a file on a helper thread, a chunk ahead of the consumer, so that the kernel's
/// copying overlaps with the crypto on the other core. The chunk buffers are zeroized when
/// dropped (on encrypt they hold plaintext) and are recycled, not reallocated.
pub struct ReadAhead {
    filled: mpsc::Receiver<io::Result<Chunk>>,
    spent: mpsc::SyncSender<Zeroizing<Vec<u8>>>,
    cur: Option<Chunk>,
    pos: usize,
    eof: bool,
}

impl fmt::Debug for ReadAhead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadAhead")
            .field("eof", &self.eof)
            .finish_non_exhaustive()
    }
}

impl ReadAhead {
    /// Starts reading `inner` on a new thread.
    pub fn new<R: Read + Send + 'static>(mut inner: R) -> Self {
        let (filled_tx, filled) = mpsc::sync_channel::<io::Result<Chunk>>(READ_AHEAD_DEPTH);
        let (spent, spent_rx) = mpsc::sync_channel::<Zeroizing<Vec<u8>>>(READ_AHEAD_DEPTH + 1);
        let reader = move || {
            let mut fresh = READ_AHEAD_DEPTH;
            loop {
                let mut buf = if fresh > 0 {
                    fresh -= 1;
                    Zeroizing::new(vec![0u8; READ_AHEAD_CHUNK])
                } else {
                    match spent_rx.recv() {
                        Ok(b) => b,
                        Err(_) => return, // the consumer is gone
                    }
                };
                let mut n = 0;
                while n < buf.len() {
                    match inner.read(&mut buf[n..]) {
                        Ok(0) => break,
                        Ok(k) => n += k,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => {
                            let _ = filled_tx.send(Err(e));
                            return;
                        }
                    }
                }
                if filled_tx.send(Ok((buf, n))).is_err() || n == 0 {
                    return;
                }
            }
        };
        // Detached: a dropped reader makes the thread's next send fail, and it ends. Should
        // the thread fail to start, the closure (and its sender) is dropped and the first
        // read reports that the reading thread stopped.
        let _detached = std::thread::Builder::new()
            .name("coffer-read-ahead".into())
            .spawn(reader);
        Self {
            filled,
            spent,
            cur: None,
            pos: 0,
            eof: false,
        }
    }
}

impl Read for ReadAhead {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.eof || out.is_empty() {
                return Ok(0);
            }
            if let Some((buf, n)) = &self.cur {
                if self.pos < *n {
                    let k = (*n - self.pos).min(out.len());
                    out[..k].copy_from_slice(&buf[self.pos..self.pos + k]);
                    self.pos += k;
                    return Ok(k);
                }
            }
            if let Some((buf, _)) = self.cur.take() {
                let _ = self.spent.try_send(buf);
            }
            match self.filled.recv() {
                Ok(Ok((buf, n))) => {
                    if n == 0 {
                        self.eof = true;
                    }
                    self.cur = Some((buf, n));
                    self.pos = 0;
                }
                Ok(Err(e)) => {
                    self.eof = true;
                    return Err(e);
                }
                Err(_) => {
                    self.eof = true;
                    return Err(io::Error::other("the input reading thread stopped"));
                }
            }
        }
    }
}

impl InputReader {
    /// The length of a regular input file (not known for stdin or pipes).
    pub fn file_len(&self) -> Option<u64> {
        self.len
    }
}

impl Read for InputReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut self.inner {
            InputInner::Stdin(s) => s.read(buf),
            InputInner::Buffered(f) => f.read(buf),
            InputInner::File(f) => f.read(buf),
        }
    }
}

#[cfg(test)]
mod read_ahead_tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn yields_the_input_in_order_whatever_the_read_size() {
        let data: Vec<u8> = (0..(READ_AHEAD_CHUNK * 3 + 12345))
            .map(|i| u8::try_from(i % 253).unwrap())
            .collect();
        for step in [1usize, 7, 4096, READ_AHEAD_CHUNK, READ_AHEAD_CHUNK * 2 + 1] {
            let mut r = ReadAhead::new(io::Cursor::new(data.clone()));
            let mut out = Vec::new();
            let mut buf = vec![0u8; step];
            loop {
                let n = r.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                out.extend_from_slice(&buf[..n]);
                if step == 1 && out.len() > 100_000 {
                    // Enough for the tiny step; finish with a large read.
                    buf = vec![0u8; 1 << 16];
                }
            }
            assert_eq!(out, data, "step {step}");
        }
        let mut empty = ReadAhead::new(io::empty());
        assert_eq!(empty.read(&mut [0u8; 8]).unwrap(), 0);
    }

    #[test]
    fn read_errors_come_through() {
        struct Broken;
        impl Read for Broken {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::other("disk on fire"))
            }
        }
        let mut r = ReadAhead::new(Broken);
        let e = r.read(&mut [0u8; 8]).unwrap_err();
        assert!(e.to_string().contains("disk on fire"));
    }

    #[test]
    fn dropping_early_does_not_hang() {
        let r = ReadAhead::new(io::repeat(1));
        drop(r);
    }
}
