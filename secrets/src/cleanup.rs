//! What to clean up when the process is told to stop: the temporary files being written
//! (atomic outputs, the root key file's) and the process groups of running rotation hooks.
//!
//! Every live temporary file (or private directory, [`crate::memdir`]) is registered here ([`track`], [`track_unnamed`]) from its
//! creation until it is linked, renamed or removed, and every running hook's process group
//! ([`track_group`]). Whoever handles a terminating signal (the `coffer` command does; a
//! service may) calls [`kill_groups`] and [`remove_live`] and exits: nothing partial is left
//! under an output's final name, and no hook outlives the process.
//!
//! A gate (an `RwLock`) closes the race between creating a file and registering it: creation
//! and registration happen under a read guard, and [`remove_live`] takes the write guard and
//! returns it to be held until the process exits, so no temporary file can appear after the
//! cleanup has run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError, RwLock};

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
pub fn kill_groups() -> usize {
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
pub fn remove_live() -> (usize, std::sync::RwLockWriteGuard<'static, ()>) {
    let gate = GATE.write().unwrap_or_else(PoisonError::into_inner);
    let live = LIVE.lock().unwrap_or_else(PoisonError::into_inner);
    let removed = live
        .values()
        .filter(|p| p.as_ref().is_none_or(|p| remove(p)))
        .count();
    (removed, gate)
}

/// Removes `path`: a file, or a directory with everything in it (its links not followed).
fn remove(path: &Path) -> bool {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(path).is_ok(),
        _ => std::fs::remove_file(path).is_ok(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use std::io;

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
}
