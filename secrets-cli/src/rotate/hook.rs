//! Rotation hooks: a shell command run with the new value on stdin (never in argv or the
//! environment), the parameter's name and versions in the environment, its output captured,
//! and a time limit after which its whole process group is killed.

use std::io::{Read, Write as _};
use std::os::unix::process::CommandExt as _;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process_group};

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

/// Runs `command` with `sh -c` (in its own process group), the value on stdin, `env` in the
/// environment; waits at most `timeout`, then kills the group.
///
/// # Errors
/// The shell cannot be started.
pub fn run(
    command: &str,
    step: Step,
    value: &[u8],
    env: &HookEnv,
    timeout: Duration,
) -> std::io::Result<HookRun> {
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
    let stdin = child.stdin.take();
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let value = zeroize::Zeroizing::new(value.to_vec());
    std::thread::scope(|s| {
        // A hook that never reads its stdin must not block us: the value is written from a
        // thread, and a closed pipe is not an error.
        if let Some(mut stdin) = stdin {
            let value = &value;
            s.spawn(move || {
                let _ = stdin.write_all(value);
            });
        }
        let (tx, rx) = std::sync::mpsc::channel();
        for (i, stream) in [
            stdout.map(Box::new).map(|b| b as Box<dyn Read + Send>),
            stderr.map(Box::new).map(|b| b as Box<dyn Read + Send>),
        ]
        .into_iter()
        .enumerate()
        {
            if let Some(stream) = stream {
                let tx = tx.clone();
                s.spawn(move || {
                    let _ = tx.send((i, read_capped(stream)));
                });
            }
        }
        drop(tx);
        let start = Instant::now();
        let deadline = start + timeout;
        // The group is killed only while one of its processes is known to live (the leader
        // before it is reaped, or a process that holds the pipes), so its id cannot have
        // been reused by then.
        let ended = loop {
            match child.try_wait() {
                Ok(Some(status)) => break Ok(Ended::Exited(status)),
                Ok(None) if Instant::now() >= deadline => {
                    let _ = kill_process_group(group, Signal::KILL);
                    let _ = child.wait();
                    break Ok(Ended::TimedOut(timeout));
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(10)),
                Err(e) => {
                    let _ = kill_process_group(group, Signal::KILL);
                    let _ = child.wait();
                    break Err(e);
                }
            }
        };
        let mut streams = [String::new(), String::new()];
        let mut killed = false;
        loop {
            let wait = deadline
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(200));
            match rx.recv_timeout(wait) {
                Ok((i, text)) => streams[i] = text,
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) if !killed => {
                    // The hook exited but left processes holding its output open.
                    let _ = kill_process_group(group, Signal::KILL);
                    killed = true;
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            }
        }
        let [mut output, err] = streams;
        if !err.is_empty() {
            if !output.is_empty() && !output.ends_with('\n') {
                output.push('\n');
            }
            output.push_str(&err);
        }
        ended.map(|ended| HookRun { ended, output })
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

    #[test]
    fn a_hook_that_ignores_stdin_does_not_block() {
        let big = vec![b'x'; 1 << 20];
        let r = run("exit 0", Step::Set, &big, &env(), Duration::from_secs(10)).unwrap();
        assert!(r.succeeded());
    }
}
