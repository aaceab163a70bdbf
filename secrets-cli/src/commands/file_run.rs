//! What the file verbs (`encrypt`, `decrypt`, `inspect`, `rewrap`) share: the records of
//! `--metadata-output`, the threads of a run, a file's last step, the plan of a directory run
//! and the tally of `inspect -r`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use coffer_core::Threads;

use crate::cli::OutputFormat;
use crate::config::Settings;
use crate::io::{self as cio, FileError, Input, OutDir, Output, Place};
use crate::output::MetadataWire;
use crate::report::{self, CliError};
use crate::tree::{self, Direction};

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
