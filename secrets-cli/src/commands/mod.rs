//! The verbs. Each takes its resolved settings; `main.rs` runs them on an executor.

mod audit;
mod decrypt;
mod encrypt;
pub mod exec;
mod init;
mod inspect;
mod key;
mod params;
mod pool;
mod rewrap;
mod rotate;

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use coffer_core::Threads;
use zeroize::Zeroizing;

use crate::cli::OutputFormat;
use crate::config::{CommandSettings, Settings};
use crate::io::{self as cio, FileError, Input, OutDir, Output, Place};
use crate::output::MetadataWire;
use crate::report::{self, CliError};
use crate::tree::{self, Direction};

pub use decrypt::run as decrypt;
pub use encrypt::run as encrypt;
pub use inspect::run as inspect;

/// Runs the command of `settings`.
pub async fn run(settings: &Settings) -> anyhow::Result<()> {
    match &settings.command {
        CommandSettings::Encrypt(s) => encrypt(settings, s).await,
        CommandSettings::Decrypt(s) => decrypt(settings, s).await,
        CommandSettings::Inspect(s) => inspect(settings, s),
        CommandSettings::Rewrap(s) => rewrap::run(settings, s).await,
        CommandSettings::Init(s) => init::run(settings, s).await,
        CommandSettings::Key(k) => key::run(settings, k).await,
        CommandSettings::Param(p) => params::run(settings, p).await,
        CommandSettings::Rotate(s) => rotate::run(settings, s).await,
        CommandSettings::Exec(s) => exec::exec(settings, s).await,
        CommandSettings::Export(s) => exec::export(settings, s).await,
        CommandSettings::Audit(a) => audit::run(settings, *a).await,
        CommandSettings::Completions(shell) => completions(*shell),
        CommandSettings::Man => man_page(),
    }
}

/// Writes a completion script for `shell`, generated from the clap definitions.
fn completions(shell: clap_complete::Shell) -> anyhow::Result<()> {
    use clap::CommandFactory as _;
    let mut cmd = crate::cli::Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, "coffer", &mut out);
    write_stdout(&out)
}

/// Writes the man pages (roff), generated from the clap definitions: coffer(1), then each
/// subcommand's page that it lists (coffer-encrypt(1), …, coffer-key-create(1), …), in one
/// stream that `man -l -` shows page after page.
fn man_page() -> anyhow::Result<()> {
    use clap::CommandFactory as _;
    fn render(cmd: clap::Command, out: &mut Vec<u8>) -> io::Result<()> {
        let subcommands: Vec<clap::Command> = cmd
            .get_subcommands()
            .filter(|s| !s.is_hide_set())
            .cloned()
            .collect();
        clap_mangen::Man::new(cmd).render(out)?;
        for sub in subcommands {
            render(sub, out)?;
        }
        Ok(())
    }
    let mut cmd = crate::cli::Cli::command().disable_help_subcommand(true);
    // Building gives each subcommand its page name (`coffer-encrypt`).
    cmd.build();
    let mut out = Vec::new();
    render(cmd, &mut out)?;
    write_stdout(&out)
}

/// Prints one JSON object on a line of stdout.
pub(crate) fn print_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    let mut line = serde_json::to_string(value)?;
    line.push('\n');
    write_stdout(line.as_bytes())
}

pub(crate) fn write_stdout(bytes: &[u8]) -> anyhow::Result<()> {
    let mut stdout = io::stdout().lock();
    stdout.write_all(bytes)?;
    stdout.flush()?;
    Ok(())
}

/// Writes a `failure` line for `input` → `output` to `--metadata-output` (if given) and
/// passes the error on.
pub(crate) fn record_failure(
    metadata: Option<&Output>,
    mode: &'static str,
    input: &Input,
    output: &Output,
    err: anyhow::Error,
) -> anyhow::Error {
    if let Some(target) = metadata {
        let record =
            crate::output::FailureWire::new(mode, input.to_string(), output.to_string(), &err);
        if let Ok(line) = serde_json::to_string(&record) {
            if let Err(e) = cio::append_line(target, &line) {
                tracing::warn!("cannot write the failure record to {target}: {e:#}");
            }
        }
    }
    err
}

/// Writes a result record: to `--metadata-output` if given, and to stdout in JSON mode when
/// stdout does not carry the data (and is not the metadata target already).
pub(crate) fn emit_record(
    settings: &Settings,
    metadata: Option<&Output>,
    data_on_stdout: bool,
    record: &MetadataWire,
) -> anyhow::Result<()> {
    let line = serde_json::to_string(record)?;
    if let Some(target) = metadata {
        cio::append_line(target, &line)?;
    }
    if settings.format == OutputFormat::Json
        && !data_on_stdout
        && !metadata.is_some_and(Output::is_stdout)
    {
        cio::append_line(&Output::Stdout { explicit: true }, &line)?;
    }
    Ok(())
}

/// How many threads the library may use for the frames of one large message: all the cores,
/// except in a directory run on several workers, whose parallelism is across files already
/// (per-message pools on top would put workers × cores threads on the cores).
pub(crate) fn message_threads(recursive: bool, jobs: std::num::NonZeroUsize) -> Threads {
    if recursive && jobs.get() > 1 {
        Threads::Fixed(std::num::NonZeroUsize::MIN)
    } else {
        Threads::Auto
    }
}

/// The end of a single-file encrypt or decrypt: its record (`--metadata-output`, JSON
/// stdout), or its failure line and the error.
pub(crate) fn finish_one(
    settings: &Settings,
    metadata: Option<&Output>,
    mode: &'static str,
    input: &Input,
    output: &Output,
    result: anyhow::Result<MetadataWire>,
) -> anyhow::Result<()> {
    match result {
        Ok(record) => emit_record(settings, metadata, cio::carries_stdout(output), &record),
        Err(e) => Err(record_failure(metadata, mode, input, output, e)),
    }
}

/// One file of a directory run.
#[derive(Debug)]
pub(crate) struct TreeJob {
    /// A file below the input directory.
    pub(crate) input: Input,
    /// Its output file below the output directory.
    pub(crate) output: Output,
    /// The output directory, open.
    out_root: Arc<OutDir>,
    /// The output file's path below it.
    out_rel: PathBuf,
}

impl TreeJob {
    /// Where the output goes: its directories opened below the output directory (created
    /// when missing), none of them and not the file itself through a symbolic link, and the
    /// name checked (absent, or a regular file with `force`).
    pub(crate) fn place(&self, force: bool) -> anyhow::Result<Place> {
        Place::in_tree(&self.out_root, &self.out_rel, force).map_err(|e| {
            let about_the_file = match &e {
                FileError::Exists(p)
                | FileError::IsDirectory(p)
                | FileError::NotRegular(p)
                | FileError::Symlink(p) => Some(p.as_path()) == self.output.path(),
                _ => false,
            };
            if about_the_file {
                e.into()
            } else {
                anyhow::Error::new(e).context(format!("cannot write {}", self.output))
            }
        })
    }
}

/// A planned directory run.
#[derive(Debug)]
pub(crate) struct TreePlan {
    /// The files, in name order.
    pub(crate) jobs: Vec<TreeJob>,
    /// The output directory, open.
    pub(crate) root: Arc<OutDir>,
    /// The output directories below it (relative; `""` is the root), to sync once at the end.
    pub(crate) dirs: Vec<PathBuf>,
    /// Files left out (decrypting: no suffix).
    pub(crate) skipped: u64,
}

/// Plans a directory run: checks the directories, lists the files, creates and opens the
/// output directory. The directories below it are made as each file's turn comes
/// ([`TreeJob::place`]), so that a symbolic link planted there fails the files below it only.
pub(crate) fn plan_tree(
    in_dir: &Path,
    out_dir: &Path,
    direction: Direction,
    follow_links: bool,
) -> anyhow::Result<TreePlan> {
    if !in_dir.is_dir() {
        return Err(CliError::usage(format!(
            "-r needs an input directory: {} is not one",
            in_dir.display()
        ))
        .into());
    }
    // Before creating anything: a refused output directory must not appear in the input tree.
    tree::check_not_nested(in_dir, out_dir)?;
    tree::create_dir_all(out_dir)
        .with_context(|| format!("cannot create the output directory {}", out_dir.display()))?;
    tree::check_not_nested(in_dir, out_dir)?;
    // The output directory itself is the user's to choose, a link included; nothing below it.
    let root = Arc::new(
        OutDir::open(out_dir)
            .with_context(|| format!("cannot open the output directory {}", out_dir.display()))?,
    );
    let links = if follow_links {
        tree::Links::Follow { exclude: out_dir }
    } else {
        tree::Links::Skip
    };
    let files = tree::walk(in_dir, &links)
        .with_context(|| format!("cannot read the directory {}", in_dir.display()))?;
    let mut jobs = Vec::with_capacity(files.len());
    let mut dirs = std::collections::BTreeSet::new();
    dirs.insert(PathBuf::new());
    let mut skipped = 0;
    for rel in files {
        match tree::output_name(&rel, direction) {
            Some(out_rel) => {
                if let Some(parent) = out_rel.parent() {
                    dirs.insert(parent.to_path_buf());
                }
                jobs.push(TreeJob {
                    input: Input::File(in_dir.join(&rel)),
                    output: Output::File(out_dir.join(&out_rel)),
                    out_root: Arc::clone(&root),
                    out_rel,
                });
            }
            None => {
                skipped += 1;
                tracing::warn!(
                    file = %in_dir.join(&rel).display(),
                    "skipped: not NAME{} (NAME a file name)",
                    tree::SUFFIX
                );
            }
        }
    }
    Ok(TreePlan {
        jobs,
        root,
        dirs: dirs.into_iter().collect(),
        skipped,
    })
}

/// Counts the files of `inspect -r`; failures are printed as they happen and the run goes on.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    total: usize,
    failed: usize,
}

impl Tally {
    /// Records one file's result. A broken pipe stops the run (returned as the error).
    pub(crate) fn record(
        &mut self,
        settings: &Settings,
        result: anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        self.total += 1;
        if let Err(e) = result {
            if report::report(&e).broken_pipe {
                return Err(e);
            }
            self.failed += 1;
            report::emit(&e, settings.format == OutputFormat::Json, false);
        }
        Ok(())
    }

    /// The run's result: an error if any file failed.
    pub(crate) fn finish(self) -> anyhow::Result<()> {
        if self.failed > 0 {
            Err(CliError::failure(format!("{} of {} files failed", self.failed, self.total)).into())
        } else {
            Ok(())
        }
    }
}

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

/// The CLI's parameter service: the store that `settings` names (`--store`, `COFFER_STORE`,
/// else `COFFER_HOME/coffer.db`), with the CLI's keys for secure values: `encrypt_key` (`put
/// --key`, with its spelling as given) or the store key; `decrypt_keys` (`get --key`) or the
/// local keyring. Values up to `COFFER_MAX_VALUE_BYTES`.
///
/// Nothing is decrypted and no root key is loaded until a secure value is read or written.
///
/// # Errors
/// No store; a store that is not a database or is of a newer schema; a bad
/// `COFFER_MAX_VALUE_BYTES`.
pub(crate) async fn open_params(
    settings: &Settings,
    encrypt_key: Option<(coffer::keyref::KeyRef, String)>,
    decrypt_keys: Vec<coffer::keyref::KeyRef>,
) -> anyhow::Result<coffer::params::Params> {
    let max = coffer::params::max_value_bytes_from_env()?;
    let home = settings.home()?;
    let (store, table) = coffer::params::open_store(&settings.store_location()?, &home).await?;
    let keys = coffer::params::StoreKeys::for_cli(
        home,
        table,
        encrypt_key,
        decrypt_keys,
        crate::terminal::passphrase(),
    );
    Ok(coffer::params::Params::new(store, Arc::new(keys), max))
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
