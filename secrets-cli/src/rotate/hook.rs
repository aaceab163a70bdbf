//! Rotation hooks: a shell command run with the new value on stdin (never in argv or the
//! environment), the parameter's name and versions in the environment, its output captured,
//! and a time limit after which its whole process group is killed.

use std::io::{Read, Write as _};
use std::os::unix::process::CommandExt as _;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, WaitId, WaitIdOptions, kill_process_group, waitid};

/// At most this much of a hook's output is kept (the rest is counted, not stored).
pub const MAX_OUTPUT: usize = 64 * 1024;

/// Which hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// `--set-hook`: puts the new value in place.
    Set,
    /// `--test-hook`: checks that the new value works.
    Test,
}

impl Step {
    /// `set` or `test`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Set => "set",
            Self::Test => "test",
        }
    }
}

/// How a hook ended.
#[derive(Debug)]
pub enum Ended {
    /// It exited (any status).
    Exited(ExitStatus),
    /// It ran past the time limit and was killed with its process group.
    TimedOut(Duration),
}

/// What a hook did.
#[derive(Debug)]
pub struct HookRun {
    /// How it ended.
    pub ended: Ended,
    /// Its stdout, then its stderr (the first [`MAX_OUTPUT`] bytes of each).
    pub output: String,
}

impl HookRun {
    /// Exit status 0.
    #[must_use]
    pub fn succeeded(&self) -> bool {
        matches!(&self.ended, Ended::Exited(s) if s.success())
    }
}

/// The environment a hook sees beyond the caller's own.
#[derive(Debug, Clone)]
pub struct HookEnv {
    /// `COFFER_ROTATE_NAME`.
    pub name: String,
    /// `COFFER_ROTATE_VERSION`: the new version.
    pub version: u32,
    /// `COFFER_ROTATE_OLD_VERSION`: the version that is current (empty if none).
    pub old_version: Option<u32>,
}

fn read_capped(mut from: impl Read) -> String {
    let mut kept = Vec::new();
    let mut dropped = 0usize;
    let mut buf = [0u8; 8192];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let room = MAX_OUTPUT.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
                dropped += n.saturating_sub(room);
            }
        }
    }
    let mut text = String::from_utf8_lossy(&kept).into_owned();
    if dropped > 0 {
        text.push_str(&format!("\n[{dropped} more bytes not kept]\n"));
    }
    text
}

/// The longest time limit a hook may have.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(7 * 24 * 3600);

/// How long output is waited for once the hook's process group is gone: a process that left
/// the group (`setsid`) may hold the pipes open.
const OUTPUT_GRACE: Duration = Duration::from_secs(2);

/// Every occurrence of `value` in `text` as `[redacted]`.
fn redact(text: String, value: &[u8]) -> String {
    match std::str::from_utf8(value) {
        Ok(v) if !v.is_empty() && text.contains(v) => text.replace(v, "[redacted]"),
        _ => text,
    }
}

/// Runs `command` with `sh -c` (in its own process group), the value on stdin, `env` in the
/// environment; waits at most `timeout` (capped at [`MAX_TIMEOUT`]). When the hook ends, or
/// at the limit, whatever is left of its process group is killed. The value never appears in
/// the output kept (`[redacted]`). A terminating signal to coffer meanwhile kills the group
/// too ([`crate::interrupt`]).
///
/// # Errors
/// The shell cannot be started or waited for.
pub fn run(
    command: &str,
    step: Step,
    value: &[u8],
    env: &HookEnv,
    timeout: Duration,
) -> std::io::Result<HookRun> {
    let timeout = timeout.min(MAX_TIMEOUT);
    let mut child = Command::new("/bin/sh")
        .arg("-c")
        .arg(command)
        .env("COFFER_ROTATE_NAME", &env.name)
        .env("COFFER_ROTATE_VERSION", env.version.to_string())
        .env(
            "COFFER_ROTATE_OLD_VERSION",
            env.old_version.map(|v| v.to_string()).unwrap_or_default(),
        )
        .env("COFFER_ROTATE_STEP", step.as_str())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()?;
    let group = Pid::from_child(&child);
    let _tracked = crate::interrupt::track_group(group.as_raw_pid());
    // Detached threads: a hook that never reads its stdin, or a process that escaped the
    // group and holds the pipes, must not keep us waiting.
    if let Some(mut stdin) = child.stdin.take() {
        let value = zeroize::Zeroizing::new(value.to_vec());
        std::thread::spawn(move || {
            let _ = stdin.write_all(&value);
        });
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let streams: [Option<Box<dyn Read + Send>>; 2] = [
        child
            .stdout
            .take()
            .map(|o| Box::new(o) as Box<dyn Read + Send>),
        child
            .stderr
            .take()
            .map(|e| Box::new(e) as Box<dyn Read + Send>),
    ];
    let mut expected = 0;
    for (i, stream) in streams.into_iter().enumerate() {
        if let Some(stream) = stream {
            let tx = tx.clone();
            expected += 1;
            std::thread::spawn(move || {
                let _ = tx.send((i, read_capped(stream)));
            });
        }
    }
    drop(tx);
    let deadline = Instant::now().checked_add(timeout);
    // Waits for the hook to end without reaping it: until it is reaped its process id, which
    // is the group's id, cannot be given to another process, so the group kill below cannot
    // hit anything else.
    let timed_out = loop {
        match waitid(
            WaitId::Pid(group),
            WaitIdOptions::EXITED | WaitIdOptions::NOHANG | WaitIdOptions::NOWAIT,
        ) {
            Ok(Some(_)) => break false,
            Ok(None) if deadline.is_some_and(|d| Instant::now() >= d) => break true,
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => {
                let _ = kill_process_group(group, Signal::KILL);
                let _ = child.wait();
                return Err(e.into());
            }
        }
    };
    let _ = kill_process_group(group, Signal::KILL);
    let status = child.wait()?;
    let mut streams = [String::new(), String::new()];
    let grace = Instant::now() + OUTPUT_GRACE;
    for _ in 0..expected {
        match rx.recv_timeout(grace.saturating_duration_since(Instant::now())) {
            Ok((i, text)) => streams[i] = text,
            Err(_) => break,
        }
    }
    let [mut output, err] = streams;
    if !err.is_empty() {
        if !output.is_empty() && !output.ends_with('\n') {
            output.push('\n');
        }
        output.push_str(&err);
    }
    Ok(HookRun {
        ended: if timed_out {
            Ended::TimedOut(timeout)
        } else {
            Ended::Exited(status)
        },
        output: redact(output, value),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    fn env() -> HookEnv {
        HookEnv {
            name: "/app/db".into(),
            version: 3,
            old_version: Some(2),
        }
    }

    #[test]
    fn value_on_stdin_and_names_in_the_environment() {
        let r = run(
            "read -r v; echo \"$COFFER_ROTATE_NAME $COFFER_ROTATE_OLD_VERSION->$COFFER_ROTATE_VERSION $COFFER_ROTATE_STEP ${#v}\"",
            Step::Set,
            b"s3cret-value",
            &env(),
            Duration::from_secs(10),
        )
        .unwrap();
        assert!(r.succeeded(), "{r:?}");
        assert_eq!(r.output, "/app/db 2->3 set 12\n");
    }

    #[test]
    fn failures_keep_their_output() {
        let r = run(
            "echo to-out; echo to-err >&2; exit 3",
            Step::Test,
            b"",
            &env(),
            Duration::from_secs(10),
        )
        .unwrap();
        assert!(!r.succeeded());
        assert!(matches!(r.ended, Ended::Exited(s) if s.code() == Some(3)));
        assert!(r.output.contains("to-out") && r.output.contains("to-err"));
    }

    /// A hook that hangs (with a child of its own holding the pipes) is killed at the limit.
    #[test]
    fn a_hanging_hook_is_killed_with_its_children() {
        let start = Instant::now();
        let r = run(
            "echo started; sleep 600 & sleep 600",
            Step::Set,
            b"x",
            &env(),
            Duration::from_millis(300),
        )
        .unwrap();
        assert!(matches!(r.ended, Ended::TimedOut(_)), "{r:?}");
        assert!(r.output.contains("started"));
        assert!(start.elapsed() < Duration::from_secs(60));
    }

    /// A hook that exits but leaves a process holding its output is not waited for past
    /// the limit.
    #[test]
    fn a_hook_that_leaves_a_child_behind_returns() {
        let start = Instant::now();
        let r = run(
            "sleep 600 & echo done",
            Step::Set,
            b"x",
            &env(),
            Duration::from_millis(500),
        )
        .unwrap();
        assert!(r.succeeded(), "{r:?}");
        assert!(r.output.contains("done"));
        assert!(start.elapsed() < Duration::from_secs(60));
    }

    /// A process that left the hook's group and holds its output does not keep us waiting.
    #[test]
    fn a_process_outside_the_group_does_not_hold_us() {
        let start = Instant::now();
        let r = run(
            "setsid sleep 30 & echo done",
            Step::Set,
            b"x",
            &env(),
            Duration::from_secs(20),
        )
        .unwrap();
        assert!(r.succeeded(), "{r:?}");
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "{:?}",
            start.elapsed()
        );
    }

    /// The value is redacted from what the hook printed.
    #[test]
    fn the_value_is_redacted_from_the_output() {
        let r = run(
            "v=$(cat); echo \"got $v\" >&2; exit 1",
            Step::Test,
            b"hunter2-secret",
            &env(),
            Duration::from_secs(10),
        )
        .unwrap();
        assert_eq!(r.output, "got [redacted]\n");
    }

    #[test]
    fn huge_time_limits_are_capped() {
        let r = run("exit 0", Step::Set, b"", &env(), Duration::MAX).unwrap();
        assert!(r.succeeded());
    }

    #[test]
    fn a_hook_that_ignores_stdin_does_not_block() {
        let big = vec![b'x'; 1 << 20];
        let r = run("exit 0", Step::Set, &big, &env(), Duration::from_secs(10)).unwrap();
        assert!(r.succeeded());
    }
}
