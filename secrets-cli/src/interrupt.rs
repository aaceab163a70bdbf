//! SIGINT, SIGTERM and SIGHUP while outputs are being written.
//!
//! Outputs go to temporary files that get their name only when complete
//! ([`crate::io::AtomicFile`]): on Linux unnamed files (`O_TMPFILE`), which vanish with the
//! process whatever ends it, elsewhere (and on file systems without `O_TMPFILE`) named temporary
//! files. Every live temporary file is registered with [`coffer::cleanup`] from its creation
//! until it is linked, renamed or removed. [`install`] starts one thread that waits for
//! a terminating signal; it then removes every registered named file, says so on stderr (counting
//! the unnamed ones, which the exit removes) and exits with `128 + signal` (130 for SIGINT, 143
//! for SIGTERM, 129 for SIGHUP). Inputs are never touched, and nothing partial is left under an
//! output's final name: a file already linked or renamed is complete and synced.
//!
//! `install` also handles SIGXFSZ (file size limit, `ulimit -f`) so that an oversized write
//! fails with `EFBIG`, reported like any write error, instead of killing the process and
//! leaving its temporary files behind.
//!
//! The cost is paid only by commands that write files: two `sigaction`s, a socket pair and one
//! thread at start-up, and a lock per temporary file.

use std::io::{self, Write as _};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Set while an editor runs in the terminal ([`EditorRuns`]).
static EDITOR_RUNS: AtomicBool = AtomicBool::new(false);

/// While alive, SIGINT is left to the editor that runs in the foreground (`edit`): it gets
/// the terminal's Ctrl-C as coffer does, and coffer waits for it. SIGTERM and SIGHUP still
/// end coffer, removing the file it edits.
#[derive(Debug)]
#[must_use = "SIGINT is coffer's again when dropped"]
pub struct EditorRuns(());

impl EditorRuns {
    /// Leaves SIGINT to the editor until dropped.
    pub fn start() -> Self {
        EDITOR_RUNS.store(true, Ordering::SeqCst);
        Self(())
    }
}

impl Drop for EditorRuns {
    fn drop(&mut self) {
        EDITOR_RUNS.store(false, Ordering::SeqCst);
    }
}

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGXFSZ};
use signal_hook::iterator::Signals;

/// The name and exit code of a terminating signal.
fn describe(signal: i32) -> (&'static str, i32) {
    match signal {
        SIGINT => ("SIGINT", 130),
        SIGTERM => ("SIGTERM", 143),
        SIGHUP => ("SIGHUP", 129),
        _ => ("a signal", 128 + signal),
    }
}

/// The message printed after the cleanup.
fn message(signal: i32, removed: usize) -> String {
    let (name, _) = describe(signal);
    let s = if removed == 1 { "" } else { "s" };
    format!("error: interrupted ({name}); removed {removed} partial output{s}\n")
}

/// Starts the signal thread (once per process; only commands that write output files need it).
///
/// # Errors
/// When the handlers cannot be registered or the thread cannot be started; the default
/// dispositions then stay in place.
pub fn install() -> io::Result<()> {
    let mut signals = Signals::new([SIGINT, SIGTERM, SIGHUP])?;
    // Caught rather than fatal: writes past the limit then fail with EFBIG.
    signal_hook::flag::register(SIGXFSZ, Arc::new(AtomicBool::new(false)))?;
    std::thread::Builder::new()
        .name("coffer-signals".into())
        .spawn(move || {
            // SIGINT from the terminal while an editor runs is the editor's (vi's Ctrl-C).
            let next = signals
                .forever()
                .find(|&s| !(s == SIGINT && EDITOR_RUNS.load(Ordering::SeqCst)));
            if let Some(signal) = next {
                let hooks = coffer::cleanup::kill_groups();
                if hooks > 0 {
                    let _ = writeln!(
                        io::stderr().lock(),
                        "error: interrupted; killed {hooks} running hook(s)"
                    );
                }
                let (removed, _gate) = coffer::cleanup::remove_live();
                let _ = io::stderr()
                    .lock()
                    .write_all(message(signal, removed).as_bytes());
                std::process::exit(describe(signal).1);
            }
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    #[test]
    fn exit_codes_and_message() {
        assert_eq!(describe(SIGINT).1, 130);
        assert_eq!(describe(SIGTERM).1, 143);
        assert_eq!(describe(SIGHUP).1, 129);
        assert_eq!(
            message(SIGINT, 1),
            "error: interrupted (SIGINT); removed 1 partial output\n"
        );
        assert!(message(SIGTERM, 2).contains("2 partial outputs"));
    }
}
