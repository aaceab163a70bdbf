//! SIGINT, SIGTERM and SIGHUP while outputs are being written.
//!
//! Outputs go to temporary files that get their name only when complete
//! ([`crate::io::AtomicFile`]): on Linux unnamed files (`O_TMPFILE`), which vanish with the
//! process whatever ends it, elsewhere (and on file systems without `O_TMPFILE`) named temporary
//! files. Every live temporary file is registered here ([`track`], [`track_unnamed`]) from its
//! creation until it is linked, renamed or removed. [`install`] starts one thread that waits for
//! a terminating signal; it then removes every registered named file, says so on stderr (counting
//! the unnamed ones, which the exit removes) and exits with `128 + signal` (130 for SIGINT, 143
//! for SIGTERM, 129 for SIGHUP). Inputs are never touched, and nothing partial is left under an
//! output's final name: a file already linked or renamed is complete and synced.
//!
//! A gate (an `RwLock`) closes the race between creating a file and registering it: creation
//! and registration happen under a read guard, and the cleanup takes the write guard and keeps
//! it until the process exits, so no temporary file can appear after the cleanup has run.
//!
//! `install` also handles SIGXFSZ (file size limit, `ulimit -f`) so that an oversized write
//! fails with `EFBIG`, reported like any write error, instead of killing the process and
//! leaving its temporary files behind.
//!
//! The cost is paid only by commands that write files: two `sigaction`s, a socket pair and one
//! thread at start-up, and a lock per temporary file.

use std::collections::BTreeMap;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGXFSZ};
use signal_hook::iterator::Signals;

/// Held (read) while a temporary file is created and registered; taken (write) for good by the
/// cleanup.
static GATE: RwLock<()> = RwLock::new(());
/// The live temporary files, by registration id: their paths (`None`: an unnamed file).
static LIVE: Mutex<BTreeMap<u64, Option<PathBuf>>> = Mutex::new(BTreeMap::new());
/// The next registration id.
static NEXT: AtomicU64 = AtomicU64::new(0);
/// The process groups of running hooks (`coffer rotate`), by registration id.
static GROUPS: Mutex<BTreeMap<u64, i32>> = Mutex::new(BTreeMap::new());

/// A process group that an interruption kills; dropping it unregisters the group (do that
/// before its leader is reaped).
#[derive(Debug)]
#[must_use = "dropping the registration unregisters the group at once"]
pub struct GroupRegistration(u64);

impl Drop for GroupRegistration {
    fn drop(&mut self) {
        GROUPS
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.0);
    }
}

/// Registers the process group `pgid` (a running hook's) to be killed if coffer is
/// interrupted, so that no hook outlives it.
pub fn track_group(pgid: i32) -> GroupRegistration {
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    GROUPS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(id, pgid);
    GroupRegistration(id)
}

/// Kills every registered process group; returns how many.
fn kill_groups() -> usize {
    let groups = GROUPS.lock().unwrap_or_else(PoisonError::into_inner);
    for &pgid in groups.values() {
        if let Some(pid) = rustix::process::Pid::from_raw(pgid) {
            let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
        }
    }
    groups.len()
}

/// A registered temporary file; dropping it unregisters the path (do that after the file has
/// been renamed or removed).
#[derive(Debug)]
#[must_use = "dropping the registration unregisters the file at once"]
pub struct Registration(u64);

impl Drop for Registration {
    fn drop(&mut self) {
        LIVE.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.0);
    }
}

/// Creates a temporary file with `create` and registers the path `path_of` gives for it, both
/// under the gate, so that an interruption removes it.
///
/// # Errors
/// Those of `create`.
pub fn track<T, E>(
    create: impl FnOnce() -> Result<T, E>,
    path_of: impl FnOnce(&T) -> &Path,
) -> Result<(T, Registration), E> {
    let _gate = GATE.read().unwrap_or_else(PoisonError::into_inner);
    let made = create()?;
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    LIVE.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(id, Some(path_of(&made).to_path_buf()));
    Ok((made, Registration(id)))
}

/// Creates an unnamed temporary file with `create` and registers it, under the gate: an
/// interruption has nothing to remove (the file goes with the process) but counts it, and no
/// such file is created once the cleanup has begun.
///
/// # Errors
/// Those of `create`.
pub fn track_unnamed<T, E>(create: impl FnOnce() -> Result<T, E>) -> Result<(T, Registration), E> {
    let _gate = GATE.read().unwrap_or_else(PoisonError::into_inner);
    let made = create()?;
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    LIVE.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(id, None);
    Ok((made, Registration(id)))
}

/// Removes every registered named temporary file and returns how many partial outputs are
/// gone: those removed, and the unnamed ones (which the exit that follows removes). The gate
/// stays closed while the returned guard lives (the caller exits while holding it).
fn remove_live() -> (usize, std::sync::RwLockWriteGuard<'static, ()>) {
    let gate = GATE.write().unwrap_or_else(PoisonError::into_inner);
    let live = LIVE.lock().unwrap_or_else(PoisonError::into_inner);
    let removed = live
        .values()
        .filter(|p| p.as_ref().is_none_or(|p| std::fs::remove_file(p).is_ok()))
        .count();
    (removed, gate)
}

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
            if let Some(signal) = signals.forever().next() {
                let hooks = kill_groups();
                if hooks > 0 {
                    let _ = writeln!(
                        io::stderr().lock(),
                        "error: interrupted; killed {hooks} running hook(s)"
                    );
                }
                let (removed, _gate) = remove_live();
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
    fn registrations_come_and_go() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t");
        let (path, reg) = track(
            || std::fs::write(&p, b"x").map(|()| p.clone()),
            PathBuf::as_path,
        )
        .unwrap();
        assert!(
            LIVE.lock()
                .unwrap()
                .values()
                .any(|v| *v == Some(path.clone()))
        );
        drop(reg);
        assert!(
            !LIVE
                .lock()
                .unwrap()
                .values()
                .any(|v| *v == Some(path.clone()))
        );
        let ((), unnamed) = track_unnamed(|| Ok::<(), io::Error>(())).unwrap();
        assert!(LIVE.lock().unwrap().contains_key(&unnamed.0));
        drop(unnamed);
        let failed: Result<((), Registration), io::Error> =
            track(|| Err(io::Error::other("no")), |()| Path::new("x"));
        assert!(failed.is_err());
    }

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
