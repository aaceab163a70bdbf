//! Inputs and outputs of the file verbs.
//!
//! `-` (or no flag at all) means stdin/stdout. A file output is written to a temporary file in
//! its directory (mode `0600`; on Linux an unnamed one), synced, and only then given its name
//! ([`AtomicFile`]), so a partial or unverified output never appears under the output name, and
//! dropping an [`AtomicFile`] without [`AtomicFile::commit`] leaves nothing. Without `--force`
//! an existing output is refused twice: by [`check_output`] before any work, and when the file
//! gets its name (which never replaces one), so a file created meanwhile is not replaced either.
//! An existing output that is not a regular file (a FIFO, a device, `/dev/stdout`) is written in
//! place, as stdout is ([`open_output`]). In a directory run's output tree nothing is created
//! through a symbolic link ([`OutDir`], [`Place`]).

mod input;
mod stream;

pub use coffer::files::{AtomicFile, FileError, OutDir, Place, parent_dir, sync_dir};
pub use input::{Input, InputReader, ReadAhead};
pub use stream::{OutputFile, carries_stdout, open_output, writes_in_place};

use std::fmt;
use std::fs::{self, File};
use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};

/// Where a verb writes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Standard output; `explicit` when the user wrote `-o -`.
    Stdout {
        /// `-o -` was given (so writing ciphertext to a terminal was asked for).
        explicit: bool,
    },
    /// A file, written atomically.
    File(PathBuf),
}

impl Output {
    /// `None` is stdout (implicit), `-` stdout (explicit), anything else a file path.
    pub fn from_arg(arg: Option<&Path>) -> Self {
        match arg {
            None => Self::Stdout { explicit: false },
            Some(p) if p.as_os_str() == "-" => Self::Stdout { explicit: true },
            Some(p) => Self::File(p.to_path_buf()),
        }
    }

    /// The file path, if any.
    pub fn path(&self) -> Option<&Path> {
        match self {
            Self::Stdout { .. } => None,
            Self::File(p) => Some(p),
        }
    }

    /// Whether this output is stdout.
    pub fn is_stdout(&self) -> bool {
        matches!(self, Self::Stdout { .. })
    }
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Stdout { .. } => f.write_str("-"),
            Self::File(p) => write!(f, "{}", p.display()),
        }
    }
}

/// A run refused before any work: its files would clash. Usage errors (exit 2).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// Input and output are the same file.
    #[error("input and output are the same file ({})", .0.display())]
    SameFile(PathBuf),
    /// `--metadata-output` names a file that the run reads or writes.
    #[error("--metadata-output {} is {what}", .path.display())]
    MetadataClash {
        /// The `--metadata-output` path.
        path: PathBuf,
        /// What it is ("the input file", ...).
        what: &'static str,
    },
    /// Ciphertext would go to a terminal.
    #[error("refusing to write ciphertext to a terminal")]
    CiphertextToTerminal,
}

/// Checks an output file before any work is done: its directory exists, it is not a directory,
/// and it does not exist unless `force`; or it is written in place ([`writes_in_place`]: a FIFO,
/// a device, `/dev/stdout`), which needs no `--force`.
pub fn check_output(path: &Path, force: bool) -> Result<(), FileError> {
    if writes_in_place(path, force)? {
        return Ok(());
    }
    let dir = parent_dir(path);
    match fs::metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(FileError::io(
                dir,
                "use as a directory",
                io::Error::from(io::ErrorKind::NotADirectory),
            ));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(FileError::MissingParent {
                dir: dir.to_path_buf(),
                path: path.to_path_buf(),
            });
        }
        Err(e) => return Err(FileError::io(dir, "access", e)),
    }
    check_output_name(path, force)
}

/// The part of [`check_output`] that looks at the file itself (its directory is known to
/// exist): not a directory, and absent unless `force`.
pub fn check_output_name(path: &Path, force: bool) -> Result<(), FileError> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => Err(FileError::IsDirectory(path.to_path_buf())),
        Ok(_) if !force => Err(FileError::Exists(path.to_path_buf())),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(FileError::io(path, "access", e)),
    }
}

/// Canonical form of a path that may not exist yet: its canonical directory plus its file name.
fn canonical_maybe_missing(path: &Path) -> Option<PathBuf> {
    if let Ok(c) = fs::canonicalize(path) {
        return Some(c);
    }
    let name = path.file_name()?;
    let dir = fs::canonicalize(parent_dir(path)).ok()?;
    Some(dir.join(name))
}

/// Whether `a` and `b` are the same path (canonically; `b` may not exist yet).
fn same_path(a: &Path, b: &Path) -> bool {
    matches!(
        (canonical_maybe_missing(a), canonical_maybe_missing(b)),
        (Some(ca), Some(cb)) if ca == cb
    )
}

/// Whether the existing regular file `a` is the file `b` leads to (a hard link, a symbolic
/// link, `/dev/stdout` redirected to it).
fn same_regular_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (fs::metadata(a), fs::metadata(b)) {
        (Ok(ma), Ok(mb)) => ma.is_file() && ma.dev() == mb.dev() && ma.ino() == mb.ino(),
        _ => false,
    }
}

/// Refuses an output that is the same file as the input (same canonical path, or the same
/// inode through a hard link). An output written in place (a terminal, a FIFO) may be the
/// input's too: nothing is replaced or truncated there.
pub fn check_distinct(input: &Input, output: &Output) -> Result<(), Refusal> {
    let (Some(i), Some(o)) = (input.path(), output.path()) else {
        return Ok(());
    };
    let in_place = writes_in_place(o, true).unwrap_or(false);
    if (!in_place && same_path(i, o)) || same_regular_file(i, o) {
        return Err(Refusal::SameFile(o.to_path_buf()));
    }
    Ok(())
}

/// Refuses a `--metadata-output` file that appending lines to would corrupt or mix up: the
/// input or the output, however spelled (`./out`, a link, a hard link), a file inside the
/// input directory of a directory run, or stdout when the output is stdout (`/dev/stdout`).
pub fn check_metadata(
    metadata: Option<&Output>,
    input: &Input,
    output: &Output,
) -> Result<(), Refusal> {
    let Some(m) = metadata else { return Ok(()) };
    let clash = |what| Refusal::MetadataClash {
        path: PathBuf::from(m.to_string()),
        what,
    };
    if carries_stdout(m) && carries_stdout(output) {
        return Err(clash("stdout, which carries the output"));
    }
    let Some(mp) = m.path() else { return Ok(()) };
    if let Some(i) = input.path() {
        if same_path(mp, i) || same_regular_file(i, mp) {
            return Err(clash("the input file"));
        }
        if i.is_dir() {
            let (Some(ci), Some(cm)) = (fs::canonicalize(i).ok(), canonical_maybe_missing(mp))
            else {
                return Ok(());
            };
            if cm.starts_with(ci) {
                return Err(clash("inside the input directory"));
            }
        }
    }
    if let Some(o) = output.path() {
        if same_path(mp, o) || same_regular_file(o, mp) {
            return Err(clash("the output file"));
        }
    }
    Ok(())
}

/// The decision to refuse ciphertext on a terminal: stdout is a terminal and `-o -` was not
/// given explicitly.
pub fn refuse_ciphertext_to_terminal(output: &Output, stdout_is_terminal: bool) -> bool {
    matches!(output, Output::Stdout { explicit: false }) && stdout_is_terminal
}

/// [`refuse_ciphertext_to_terminal`] applied to this process's stdout.
pub fn check_ciphertext_destination(output: &Output) -> Result<(), Refusal> {
    if refuse_ciphertext_to_terminal(output, io::stdout().is_terminal()) {
        Err(Refusal::CiphertextToTerminal)
    } else {
        Ok(())
    }
}

/// Appends one line to a JSON-lines sink (a file, created `0600` if missing, or stdout).
pub fn append_line(target: &Output, line: &str) -> Result<(), FileError> {
    match target {
        Output::Stdout { .. } => {
            let mut out = io::stdout().lock();
            out.write_all(line.as_bytes())
                .and_then(|()| out.write_all(b"\n"))
                .and_then(|()| out.flush())
                .map_err(|e| FileError::io(Path::new("-"), "write to", e))
        }
        Output::File(path) => write_line(&mut open_append(path)?, path, line),
    }
}

/// Opens a JSON-lines file for appending (created `0600` if missing).
///
/// # Errors
/// The file cannot be opened or created.
pub fn open_append(path: &Path) -> Result<File, FileError> {
    let mut opts = fs::OpenOptions::new();
    opts.append(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path).map_err(|e| {
        if e.kind() == io::ErrorKind::NotFound {
            FileError::MissingParent {
                dir: parent_dir(path).to_path_buf(),
                path: path.to_path_buf(),
            }
        } else {
            FileError::io(path, "open", e)
        }
    })
}

/// Writes `line` and a newline to `f` (opened by [`open_append`] as `path`) in one write, so
/// that lines from several writers never mix.
///
/// # Errors
/// The write failed.
pub fn write_line(f: &mut File, path: &Path, line: &str) -> Result<(), FileError> {
    let mut buf = Vec::with_capacity(line.len() + 1);
    buf.extend_from_slice(line.as_bytes());
    buf.push(b'\n');
    f.write_all(&buf)
        .map_err(|e| FileError::io(path, "write to", e))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use std::io::Read as _;

    use super::input::READ_AHEAD_CHUNK;
    use super::*;

    #[test]
    fn dash_and_none_are_std_streams() {
        assert_eq!(Input::from_arg(None), Input::Stdin);
        assert_eq!(Input::from_arg(Some(Path::new("-"))), Input::Stdin);
        assert_eq!(
            Input::from_arg(Some(Path::new("a"))),
            Input::File("a".into())
        );
        assert_eq!(Output::from_arg(None), Output::Stdout { explicit: false });
        assert_eq!(
            Output::from_arg(Some(Path::new("-"))),
            Output::Stdout { explicit: true }
        );
        assert_eq!(Output::from_arg(Some(Path::new("-"))).to_string(), "-");
    }

    #[test]
    fn terminal_decision() {
        let implicit = Output::Stdout { explicit: false };
        let explicit = Output::Stdout { explicit: true };
        let file = Output::File("x".into());
        assert!(refuse_ciphertext_to_terminal(&implicit, true));
        assert!(!refuse_ciphertext_to_terminal(&implicit, false));
        assert!(!refuse_ciphertext_to_terminal(&explicit, true));
        assert!(!refuse_ciphertext_to_terminal(&file, true));
    }

    #[test]
    fn check_output_cases() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        check_output(&out, false).unwrap();
        fs::write(&out, b"x").unwrap();
        assert!(matches!(
            check_output(&out, false),
            Err(FileError::Exists(_))
        ));
        check_output(&out, true).unwrap();
        let missing = dir.path().join("nope").join("out");
        let err = check_output(&missing, true).unwrap_err();
        assert!(matches!(err, FileError::MissingParent { .. }), "{err}");
        assert!(err.to_string().contains("nope"), "{err}");
        assert!(matches!(
            check_output(dir.path(), true),
            Err(FileError::IsDirectory(_))
        ));
    }

    #[test]
    fn same_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        fs::write(&a, b"x").unwrap();
        let same = dir.path().join(".").join("a");
        assert!(matches!(
            check_distinct(&Input::File(a.clone()), &Output::File(same)),
            Err(Refusal::SameFile(_))
        ));
        let b = dir.path().join("b");
        check_distinct(&Input::File(a.clone()), &Output::File(b.clone())).unwrap();
        #[cfg(unix)]
        {
            fs::hard_link(&a, &b).unwrap();
            assert!(check_distinct(&Input::File(a), &Output::File(b)).is_err());
        }
    }

    #[test]
    fn input_open_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing");
        let err = Input::File(missing).open().unwrap_err();
        assert!(err.to_string().contains("missing"), "{err}");
        assert!(matches!(
            Input::File(dir.path().to_path_buf()).open(),
            Err(FileError::IsDirectory(_))
        ));
        let f = dir.path().join("f");
        fs::write(&f, b"12345").unwrap();
        let mut r = Input::File(f).open().unwrap();
        assert_eq!(r.file_len(), Some(5));
        let mut s = String::new();
        r.read_to_string(&mut s).unwrap();
        assert_eq!(s, "12345");
    }

    #[test]
    fn every_way_of_reading_a_file_yields_it() {
        let dir = tempfile::tempdir().unwrap();
        for len in [0, 1, 1000, READ_AHEAD_CHUNK - 1, READ_AHEAD_CHUNK + 12345] {
            let data: Vec<u8> = (0..len).map(|i| u8::try_from(i % 251).unwrap()).collect();
            let f = dir.path().join(format!("f{len}"));
            fs::write(&f, &data).unwrap();
            for direct in [false, true] {
                for step in [1usize, 3, 4096, 1 << 16, 1 << 21] {
                    let input = Input::File(f.clone());
                    let mut r = if direct {
                        input.open_direct().unwrap()
                    } else {
                        input.open().unwrap()
                    };
                    let mut out = Vec::new();
                    let mut buf = vec![0u8; step];
                    loop {
                        let n = r.read(&mut buf).unwrap();
                        if n == 0 {
                            break;
                        }
                        out.extend_from_slice(&buf[..n]);
                        if out.len() > 50_000 && step < 4096 {
                            buf = vec![0u8; 1 << 16];
                        }
                    }
                    assert!(out == data, "len {len}, direct {direct}, step {step}");
                }
            }
        }
    }

    #[test]
    fn append_line_appends() {
        let dir = tempfile::tempdir().unwrap();
        let m = dir.path().join("meta.jsonl");
        append_line(&Output::File(m.clone()), "{\"a\":1}").unwrap();
        append_line(&Output::File(m.clone()), "{\"a\":2}").unwrap();
        assert_eq!(fs::read_to_string(&m).unwrap(), "{\"a\":1}\n{\"a\":2}\n");
    }
}
