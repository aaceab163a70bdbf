//! Directory runs (`-r`) on several cores.
//!
//! The split follows the workspace rule "async materials, sync bytes". The calling thread, the
//! one the executor of `main.rs` runs on, walks the jobs in order and, for each file, does
//! what leads to its materials: it opens the input, awaits the materials manager
//! (`Encryptor::prepare`, or `ParsedHeader::obtain_materials` after reading the message
//! header) and hands the result, materials plus open input, to a bounded pool of worker
//! threads. The workers do the byte work: create the temporary output, encrypt or decrypt
//! the body, sync and name it. No worker ever polls a future, and no executor runs anywhere
//! else, so a materials manager that needs a runtime (KMS) gets the application's.
//!
//! On decrypt the calling thread also reads the message header: the header is the request for
//! the materials (its encrypted data keys and context), its size is bounded (the EDK limit),
//! and reading it first keeps a wrong key or a malformed message from costing a worker a
//! temporary file. The unbounded part, the body, its signature and the output, stays on the
//! workers.
//!
//! The queue between the two is bounded (twice the workers), which bounds the open files and
//! the materials in memory; inputs are opened without a read-ahead thread
//! ([`crate::io::Input::open_direct`]), so a queued file holds no buffer and no thread, and
//! no file costs a thread spawn. Results of every file go through one [`Reporter`], whose lock
//! keeps `--metadata-output` lines, JSON lines on stdout and error messages on stderr whole.

use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::thread::JoinHandle;
use std::time::Instant;

use super::file_run::{TreeJob, TreePlan};
use crate::cli::OutputFormat;
use crate::config::Settings;
use crate::io::{self as cio, FileError, Output};
use crate::output::{FailureWire, MetadataWire, SCHEMA, SummaryWire};
use crate::progress::Progress;
use crate::report::{self, CliError};

/// The byte work of one file, run on a worker: returns the file's record.
pub(crate) type Work<W> =
    dyn Fn(&TreeJob, W, &Progress) -> anyhow::Result<MetadataWire> + Send + Sync;

/// Runs a directory run: `prepare` (materials) for each file in order on this thread, `work`
/// (bytes) on `workers` threads. Every file's result is reported; the run goes on after a
/// failure, and fails at the end if any file failed.
pub(crate) async fn run_tree<W, F>(
    settings: &Settings,
    mode: &'static str,
    metadata: Option<&Output>,
    workers: NonZeroUsize,
    plan: TreePlan,
    mut prepare: F,
    work: Arc<Work<W>>,
) -> anyhow::Result<()>
where
    W: Send + 'static,
    F: AsyncFnMut(&TreeJob) -> anyhow::Result<W>,
{
    let started = Instant::now();
    let progress = Arc::new(tree_progress(settings.quiet, mode, &plan));
    let reporter = Arc::new(Reporter::new(
        settings,
        mode,
        metadata,
        Arc::clone(&progress),
    ));
    let pool = {
        let reporter = Arc::clone(&reporter);
        let progress = Arc::clone(&progress);
        Pool::start(
            workers,
            Box::new(move |(job, w): (TreeJob, W)| {
                if reporter.stopped() {
                    return; // dropping `w` closes the input
                }
                // A panic is this file's failure; the worker goes on with the next one.
                let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    work(&job, w, &progress)
                }))
                .unwrap_or_else(|_| {
                    Err(CliError::failure(format!(
                        "internal error while processing {}: the worker panicked",
                        job.input
                    ))
                    .into())
                });
                reporter.file_done(&job, result);
            }),
        )
    };
    for job in plan.jobs {
        if reporter.stopped() {
            break;
        }
        match prepare(&job).await {
            // Blocks while the queue is full: that is the back-pressure, and nothing else
            // runs on this executor meanwhile.
            Ok(w) => pool.submit((job, w)),
            Err(e) => reporter.file_done(&job, Err(e)),
        }
    }
    let lost = pool.finish();
    if lost > 0 {
        reporter.lost(lost);
    }
    // The workers named their files without syncing the directories; one sync per directory
    // makes the names durable. A directory that cannot be opened (not made, or a link) holds
    // no output of this run: its files failed, and were reported.
    for rel in &plan.dirs {
        if let Ok(dir) = plan.root.descend(rel, false) {
            if let Err(e) = dir.sync() {
                tracing::warn!(dir = %dir.path().display(), "cannot sync directory: {e}");
            }
        }
    }
    drop(progress);
    let reporter = Arc::into_inner(reporter).ok_or_else(|| {
        anyhow::Error::new(CliError::failure(
            "internal error: the directory run's workers are still running",
        ))
    })?;
    reporter.finish(started, plan.skipped)
}

/// One bar for the whole run, over the input bytes (only summed when a bar may be shown).
fn tree_progress(quiet: bool, mode: &str, plan: &TreePlan) -> Progress {
    if !Progress::possible(quiet) {
        return Progress::hidden();
    }
    let total = plan
        .jobs
        .iter()
        .filter_map(|j| j.input.path())
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    Progress::new(
        quiet,
        Some(total),
        &format!("{mode}ing {} files", plan.jobs.len()),
    )
}

/// Worker threads fed through a bounded queue.
struct Pool<T: Send + 'static> {
    tx: Option<mpsc::SyncSender<T>>,
    handles: Vec<JoinHandle<()>>,
    /// The job function, for running inline when no worker could be started.
    inline: Arc<dyn Fn(T) + Send + Sync>,
}

impl<T: Send + 'static> Pool<T> {
    /// Starts up to `n` workers running `f` (fewer if threads cannot be started; with none,
    /// [`Pool::submit`] runs `f` itself).
    fn start(n: NonZeroUsize, f: Box<dyn Fn(T) + Send + Sync>) -> Self {
        let f: Arc<dyn Fn(T) + Send + Sync> = Arc::from(f);
        let (tx, rx) = mpsc::sync_channel::<T>(n.get().saturating_mul(2));
        let rx = Arc::new(Mutex::new(rx));
        let mut handles = Vec::with_capacity(n.get());
        for i in 0..n.get() {
            let rx = Arc::clone(&rx);
            let f = Arc::clone(&f);
            let spawned = std::thread::Builder::new()
                .name(format!("coffer-worker-{i}"))
                .spawn(move || {
                    loop {
                        // The lock is held only while waiting for the next job.
                        let next = rx.lock().unwrap_or_else(PoisonError::into_inner).recv();
                        match next {
                            Ok(job) => f(job),
                            Err(_) => return, // queue closed: no more jobs
                        }
                    }
                });
            match spawned {
                Ok(h) => handles.push(h),
                Err(e) => {
                    tracing::warn!("cannot start a worker thread: {e}");
                    break;
                }
            }
        }
        Self {
            tx: Some(tx),
            handles,
            inline: f,
        }
    }

    /// Queues `job` (blocking while the queue is full), or runs it here if no worker is left.
    fn submit(&self, job: T) {
        let job = match &self.tx {
            Some(tx) if !self.handles.is_empty() => match tx.send(job) {
                Ok(()) => return,
                Err(mpsc::SendError(job)) => job, // every worker has died
            },
            _ => job,
        };
        (self.inline)(job);
    }

    /// Closes the queue and waits for the workers; returns how many died (panicked).
    fn finish(mut self) -> usize {
        drop(self.tx.take());
        self.handles
            .drain(..)
            .map(JoinHandle::join)
            .filter(Result::is_err)
            .count()
    }
}

/// Where `--metadata-output` lines go.
#[derive(Debug)]
enum MetadataSink {
    Stdout,
    /// Opened at the first line, then kept open.
    File(PathBuf, Option<std::fs::File>),
}

impl MetadataSink {
    fn write(&mut self, line: &str) -> Result<(), FileError> {
        match self {
            Self::Stdout => cio::append_line(&Output::Stdout { explicit: true }, line),
            Self::File(path, file) => {
                let f = match file {
                    Some(f) => f,
                    None => file.insert(cio::open_append(path)?),
                };
                cio::write_line(f, path, line)
            }
        }
    }
}

/// Counts and reports the files of a run. Everything it prints goes through its lock.
#[derive(Debug)]
pub(crate) struct Reporter {
    mode: &'static str,
    json: bool,
    quiet: bool,
    /// JSON records also go to stdout (JSON mode, and stdout is not the metadata target).
    records_to_stdout: bool,
    stopped: AtomicBool,
    progress: Arc<Progress>,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    metadata: Option<MetadataSink>,
    succeeded: u64,
    failed: u64,
    bytes: u64,
    /// What stops the run early (a reader of stdout went away).
    fatal: Option<anyhow::Error>,
}

impl Reporter {
    fn new(
        settings: &Settings,
        mode: &'static str,
        metadata: Option<&Output>,
        progress: Arc<Progress>,
    ) -> Self {
        let json = settings.format == OutputFormat::Json;
        let metadata = metadata.map(|m| match m {
            Output::Stdout { .. } => MetadataSink::Stdout,
            Output::File(p) => MetadataSink::File(p.clone(), None),
        });
        Self {
            mode,
            json,
            quiet: settings.quiet,
            records_to_stdout: json && !matches!(metadata, Some(MetadataSink::Stdout)),
            stopped: AtomicBool::new(false),
            progress,
            state: Mutex::new(State {
                metadata,
                ..State::default()
            }),
        }
    }

    /// Whether the run stops early.
    fn stopped(&self) -> bool {
        self.stopped.load(Ordering::Relaxed)
    }

    /// Records one file's result: its record (metadata, and stdout in JSON mode), or its
    /// failure (a failure line, and the error on stderr).
    pub(crate) fn file_done(&self, job: &TreeJob, result: anyhow::Result<MetadataWire>) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let result = result.and_then(|record| {
            let line = serde_json::to_string(&record)?;
            if let Some(m) = state.metadata.as_mut() {
                m.write(&line)?;
            }
            if self.records_to_stdout {
                cio::append_line(&Output::Stdout { explicit: true }, &line)?;
            }
            Ok(record.bytes)
        });
        let err = match result {
            Ok(bytes) => {
                state.succeeded += 1;
                state.bytes = state.bytes.saturating_add(bytes);
                return;
            }
            Err(e) => e,
        };
        if report::report(&err).broken_pipe {
            self.stopped.store(true, Ordering::Relaxed);
            state.fatal.get_or_insert(err);
            return;
        }
        state.failed += 1;
        if let Some(m) = state.metadata.as_mut() {
            let record = FailureWire::new(
                self.mode,
                job.input.to_string(),
                job.output.to_string(),
                &err,
            );
            if let Ok(line) = serde_json::to_string(&record) {
                if let Err(e) = m.write(&line) {
                    tracing::warn!("cannot write the failure record: {e:#}");
                }
            }
        }
        self.progress
            .suspend(|| report::emit(&err, self.json, false));
    }

    /// Counts files whose worker died without reporting them.
    fn lost(&self, workers: usize) {
        let err = anyhow::Error::new(CliError::failure(format!(
            "{workers} worker thread(s) stopped unexpectedly; the file each was processing is \
             not written"
        )));
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.failed = state.failed.saturating_add(workers as u64);
        report::emit(&err, self.json, false);
    }

    /// Prints the summary (JSON line on stdout in JSON mode; a line on stderr unless `-q`
    /// otherwise) and returns the run's result.
    fn finish(self, started: Instant, skipped: u64) -> anyhow::Result<()> {
        let Self {
            mode,
            json,
            quiet,
            progress,
            state,
            ..
        } = self;
        // The last reference: the bar is cleared before the summary is printed.
        drop(progress);
        let state = state.into_inner().unwrap_or_else(PoisonError::into_inner);
        if let Some(e) = state.fatal {
            return Err(e);
        }
        let summary = SummaryWire {
            kind: "summary",
            schema: SCHEMA,
            mode,
            files: state.succeeded + state.failed,
            succeeded: state.succeeded,
            failed: state.failed,
            skipped,
            bytes: state.bytes,
            seconds: started.elapsed().as_secs_f64(),
        };
        tracing::info!(
            files = summary.files,
            failed = summary.failed,
            "directory run done"
        );
        if json {
            let line = serde_json::to_string(&summary)?;
            cio::append_line(&Output::Stdout { explicit: true }, &line)?;
        } else if !quiet {
            eprintln!("{}", summary.to_text());
        }
        if summary.failed > 0 {
            Err(CliError::failure(format!(
                "{} of {} files failed",
                summary.failed, summary.files
            ))
            .into())
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn pool_runs_every_job_once() {
        let seen = Arc::new(AtomicUsize::new(0));
        let sum = Arc::new(AtomicUsize::new(0));
        let (s2, m2) = (Arc::clone(&seen), Arc::clone(&sum));
        let pool = Pool::start(
            NonZeroUsize::new(3).unwrap(),
            Box::new(move |n: usize| {
                s2.fetch_add(1, Ordering::SeqCst);
                m2.fetch_add(n, Ordering::SeqCst);
            }),
        );
        for n in 0..100 {
            pool.submit(n);
        }
        assert_eq!(pool.finish(), 0);
        assert_eq!(seen.load(Ordering::SeqCst), 100);
        assert_eq!(sum.load(Ordering::SeqCst), 4950);
    }
}
