//! The rotation lease: one run at a time rotates a secret. A run takes the lease of its
//! secret ([`crate::params::ParamStore::claim_rotation`]) for both hooks at their limit and
//! some slack, records the process group of each hook it runs, and gives the lease back with
//! its outcome. A lease whose holder died on this machine is taken over once the hook group
//! it recorded is gone (its supervisor kills it when coffer dies); one held elsewhere frees
//! the secret only when it runs out.

use std::path::Path;
use std::time::Duration;

use rustix::process::Pid;

use crate::error::Error;
use crate::params::{Claim, LeaseRequest, ParamName, Params, RotationPlan};

/// This run as a lease holder: `HOST/PIDNS:PID:NONCE`, the host name, this process's PID
/// namespace (two containers may share a host name and a PID), its PID and a random nonce
/// (so that no two runs ever hold the same name).
#[must_use]
pub fn holder() -> String {
    let mut nonce = [0u8; 8];
    let _ = coffer_core::fill_random(&mut nonce);
    let nonce: String = nonce.iter().map(|b| format!("{b:02x}")).collect();
    format!("{}:{}:{nonce}", holder_place(), std::process::id())
}

/// The host name and the PID namespace of this process.
fn holder_place() -> String {
    let host = rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned();
    let ns = std::fs::read_link("/proc/self/ns/pid")
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!("{host}/{ns}")
}

/// The process id of the lease holder `holder` if it is of this host and PID namespace.
fn holder_pid_here(holder: &str) -> Option<u32> {
    let mut parts = holder.rsplitn(3, ':');
    let (Some(_nonce), Some(pid), Some(place)) = (parts.next(), parts.next(), parts.next()) else {
        return None;
    };
    let pid = pid.parse::<u32>().ok()?;
    (place == holder_place() && Path::new("/proc/self").exists()).then_some(pid)
}

/// Whether the lease holder `holder` is a process of this host and PID namespace that no
/// longer runs (crashed or killed). Elsewhere only its lease's end frees the secret.
fn holder_is_dead(holder: &str) -> bool {
    holder_pid_here(holder).is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists())
}

/// Whether another holder's lease may be taken over: a running lease when its holder died
/// on this machine, a lease that ran out (held only because a hook was recorded) when its
/// holder is elsewhere; and on this machine only once the hook it recorded is gone. The hook
/// of a holder that died is given [`DEAD_HOLDER_GRACE`] to go: its supervisor kills it as
/// soon as it sees coffer die, which takes a moment.
async fn may_take_over(holder: &str, hook: Option<u32>, expired: bool) -> bool {
    let here = holder_pid_here(holder).is_some();
    match (expired, here) {
        (false, false) => false,
        (true, false) => true,
        (_, true) if holder_is_dead(holder) => hook_ends_within(hook, DEAD_HOLDER_GRACE).await,
        (false, true) => false,
        (true, true) => hook_is_gone(hook),
    }
}

/// How long the hook of a lease holder that died may take to go before the lease is refused
/// (see [`may_take_over`]).
const DEAD_HOLDER_GRACE: Duration = Duration::from_secs(5);

/// Whether the hook group `hook` is gone, or goes within `grace`.
async fn hook_ends_within(hook: Option<u32>, grace: Duration) -> bool {
    let deadline = std::time::Instant::now() + grace;
    loop {
        if hook_is_gone(hook) {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Whether the hook a lease holder recorded (its process group) is gone: a lease whose
/// holder died is taken over only then, so that two hooks never run at once. A group whose
/// members have all exited is gone though nobody has reaped them yet (a zombie runs nothing).
fn hook_is_gone(hook: Option<u32>) -> bool {
    let Some(group) = hook
        .and_then(|g| i32::try_from(g).ok())
        .and_then(Pid::from_raw)
    else {
        return true;
    };
    !group_runs(group)
}

/// Whether a process of `group` runs (one that is not a zombie).
#[cfg(target_os = "linux")]
fn group_runs(group: Pid) -> bool {
    let Ok(all) = procfs::process::all_processes() else {
        return group_exists(group);
    };
    all.filter_map(Result::ok)
        .filter_map(|p| p.stat().ok())
        .any(|s| s.pgrp == group.as_raw_pid() && !matches!(s.state, 'Z' | 'X'))
}

/// Whether a process of `group` runs: one exists, zombies included.
#[cfg(not(target_os = "linux"))]
fn group_runs(group: Pid) -> bool {
    group_exists(group)
}

/// Whether a process of `group` exists (zombies included).
fn group_exists(group: Pid) -> bool {
    !matches!(
        rustix::process::test_kill_process_group(group),
        Err(rustix::io::Errno::SRCH)
    )
}

/// How long a lease lasts: both hooks at their limit, and slack.
fn lease_secs(hook_timeout: Duration) -> i64 {
    i64::try_from(hook_timeout.as_secs().saturating_mul(2).saturating_add(120)).unwrap_or(i64::MAX)
}

/// Takes the rotation lease of `name` (see [`crate::params::ParamStore::claim_rotation`]);
/// a lease whose holder died on this machine is taken over. `Ok(None)`: not due (only with
/// `due_only`).
///
/// # Errors
/// Another live run holds the lease; store errors.
pub(super) async fn claim(
    params: &Params,
    name: &ParamName,
    holder: &str,
    due_only: bool,
    hook_timeout: Duration,
) -> Result<Option<Option<Box<RotationPlan>>>, Error> {
    let mut steal: Option<String> = None;
    loop {
        let now = crate::time::now_unix();
        let claim = params
            .store()
            .await?
            .claim_rotation(LeaseRequest {
                name,
                holder,
                now,
                until: now.saturating_add(lease_secs(hook_timeout)),
                due_only,
                steal_from: steal.as_deref(),
                hook_timeout_secs: hook_timeout.as_secs().max(1),
            })
            .await?;
        match claim {
            Claim::Claimed(plan) => return Ok(Some(plan)),
            Claim::NotDue => return Ok(None),
            Claim::Held {
                holder: other,
                hook,
                expired,
                ..
            } if steal.is_none() && may_take_over(&other, hook, expired).await => {
                tracing::info!(name = %name, holder = other, "taking over the lease of a run that died or ran out");
                steal = Some(other);
            }
            Claim::Held {
                holder: other,
                until,
                hook,
                ..
            } => {
                return Err(Error::RotationBusy(Box::new(crate::error::Busy {
                    name: name.clone(),
                    hook_running: hook
                        .filter(|_| holder_pid_here(&other).is_some())
                        .filter(|g| !hook_is_gone(Some(*g))),
                    holder: other.escape_debug().to_string(),
                    until,
                })));
            }
        }
    }
}

/// Gives the lease back, recording the outcome; a failure to do so is reported (the lease
/// then runs out by itself) but does not replace the rotation's own result.
pub(super) async fn release<T>(
    params: &Params,
    name: &ParamName,
    holder: &str,
    done: &Result<T, Error>,
) {
    let error = done.as_ref().err().map(Error::full_message);
    let released = match params.store().await {
        Ok(store) => {
            store
                .release_rotation(name, holder, crate::time::now_unix(), error.as_deref())
                .await
        }
        Err(e) => Err(e),
    };
    if let Err(e) = released {
        tracing::warn!(name = %name, "cannot give the rotation lease back: {e}");
        eprintln!(
            "warning: cannot give the rotation lease of {name} back (it runs out by itself): {e}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt as _;

    fn group_of(child: &std::process::Child) -> Option<u32> {
        Some(child.id())
    }

    #[test]
    fn a_group_of_zombies_is_gone_and_a_running_one_is_not() {
        let mut running = std::process::Command::new("sleep")
            .arg("60")
            .process_group(0)
            .spawn()
            .unwrap();
        assert!(!hook_is_gone(group_of(&running)));
        let mut exited = std::process::Command::new("true")
            .process_group(0)
            .spawn()
            .unwrap();
        let pid = Pid::from_child(&exited);
        // Exited and not reaped: a zombie, which a signal still reaches.
        waitid(pid);
        assert!(group_exists(pid));
        assert!(hook_is_gone(group_of(&exited)));
        exited.wait().unwrap();
        running.kill().unwrap();
        running.wait().unwrap();
        assert!(hook_is_gone(group_of(&running)));
        assert!(hook_is_gone(None));
    }

    /// Waits for `pid` to exit without reaping it.
    fn waitid(pid: Pid) {
        use rustix::process::{WaitId, WaitIdOptions};
        rustix::process::waitid(
            WaitId::Pid(pid),
            WaitIdOptions::EXITED | WaitIdOptions::NOWAIT,
        )
        .unwrap();
    }

    #[test]
    fn a_dead_holders_hook_is_waited_for() {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
            .block_on(dead_holders_hook());
    }

    async fn dead_holders_hook() {
        let mut hook = std::process::Command::new("sleep")
            .arg("60")
            .process_group(0)
            .spawn()
            .unwrap();
        let group = Some(hook.id());
        assert!(!hook_ends_within(group, Duration::from_millis(100)).await);
        let pid = hook.id();
        let killer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            let _ = rustix::process::kill_process(
                Pid::from_raw(i32::try_from(pid).unwrap()).unwrap(),
                rustix::process::Signal::KILL,
            );
        });
        assert!(hook_ends_within(group, Duration::from_secs(30)).await);
        killer.join().unwrap();
        hook.wait().unwrap();
    }
}
