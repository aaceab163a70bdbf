//! Rotation hooks: a shell command run with the new value on stdin (never in argv or the
//! environment), the parameter's name and versions in the environment, its output captured,
//! and a time limit after which its whole process group is killed. A supervisor process
//! (`PROGRAM __rotate-hook COMMAND`, [`supervise`]) leads the group and kills it if the
//! rotating process dies, so a hook never outlives the run that started it.
//!
//! The supervisor is a program whose `main` hands [`SUPERVISOR_ARG`] to [`supervise`]: the
//! `coffer` binary does, and a service that rotates secrets itself either points a
//! [`Launcher`] at an installed `coffer` ([`Launcher::at`]) or dispatches the argument in its
//! own `main` and uses [`Launcher::this_program`]:
//!
//! ```no_run
//! use coffer::rotate::hook::{SUPERVISOR_ARG, supervise};
//!
//! fn main() -> std::process::ExitCode {
//!     let mut args = std::env::args_os().skip(1);
//!     if args.next().as_deref() == Some(SUPERVISOR_ARG.as_ref()) {
//!         if let (Some(command), None) = (args.next(), args.next()) {
//!             return supervise(&command);
//!         }
//!         return std::process::ExitCode::from(2);
//!     }
//!     // ... the service, which calls coffer::rotate::rotate(.., &Launcher::this_program()?, ..)
//!     std::process::ExitCode::SUCCESS
//! }
//! ```
//!
//! (Tested in the CLI's `tests/cli/hooks.rs`, which has the `coffer` binary to run as the
//! supervisor.)

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

/// The hidden first argument that makes `coffer` a hook's supervisor ([`supervise`]).
pub const SUPERVISOR_ARG: &str = "__rotate-hook";

/// The length of the value the supervisor reads first on its stdin.
const VALUE_LEN_VAR: &str = "COFFER_HOOK_VALUE_LEN";

/// The longest value a supervisor accepts.
const MAX_VALUE: usize = 64 << 20;

/// What runs a hook: `PROGRAM __rotate-hook COMMAND`, a program that hands
/// [`SUPERVISOR_ARG`] to [`supervise`] (see the module docs).
#[derive(Debug, Clone)]
pub struct Launcher {
    program: std::path::PathBuf,
}

impl Launcher {
    /// This program, whose `main` must dispatch [`SUPERVISOR_ARG`] to [`supervise`].
    ///
    /// # Errors
    /// The executable cannot be found.
    pub fn this_program() -> std::io::Result<Self> {
        Ok(Self {
            program: std::env::current_exe()?,
        })
    }

    /// The program at `program` (an installed `coffer`, or another that dispatches
    /// [`SUPERVISOR_ARG`]).
    #[must_use]
    pub fn at(program: impl Into<std::path::PathBuf>) -> Self {
        Self {
            program: program.into(),
        }
    }
}

/// A hook that was started: [`Running::group`] is its process group, [`Running::wait`] its
/// end.
#[derive(Debug)]
pub struct Running {
    child: std::process::Child,
    group: Pid,
    _tracked: crate::cleanup::GroupRegistration,
    /// The supervisor's stdin, until [`Running::wait`] sends the value: it waits for it
    /// before it starts the hook, so nothing runs before the caller has recorded the group.
    stdin: Option<std::process::ChildStdin>,
    /// Dropped when the hook is over: the supervisor's stdin closes (its lifeline).
    lifeline: Option<std::sync::mpsc::Sender<()>>,
    output: std::sync::mpsc::Receiver<(usize, String)>,
    expected: usize,
    timeout: Duration,
    value: zeroize::Zeroizing<Vec<u8>>,
}

/// Starts `command` with `sh -c` under a supervisor (`coffer __rotate-hook`, see
/// [`supervise`]) in a process group of its own, in `workdir`, the value on the hook's stdin
/// and `env` in its environment. The supervisor's stdin stays open while coffer runs: when
/// coffer dies, however it dies (`kill -9`), the supervisor sees it close and kills the
/// group, so no hook outlives coffer. A terminating signal to coffer kills the group too
/// ([`crate::cleanup`]).
///
/// # Errors
/// The supervisor cannot be started.
pub fn start(
    launcher: &Launcher,
    command: &str,
    step: Step,
    value: &[u8],
    env: &HookEnv,
    workdir: &std::path::Path,
    timeout: Duration,
) -> std::io::Result<Running> {
    let timeout = timeout.min(MAX_TIMEOUT);
    let (limit_var, limit) = crate::dumps::for_child();
    let mut child = Command::new(&launcher.program)
        .arg(SUPERVISOR_ARG)
        .arg(command)
        .current_dir(workdir)
        .env("COFFER_ROTATE_NAME", &env.name)
        .env("COFFER_ROTATE_VERSION", env.version.to_string())
        .env(
            "COFFER_ROTATE_OLD_VERSION",
            env.old_version.map(|v| v.to_string()).unwrap_or_default(),
        )
        .env("COFFER_ROTATE_STEP", step.as_str())
        .env(VALUE_LEN_VAR, value.len().to_string())
        .env(limit_var, limit)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()?;
    let group = Pid::from_child(&child);
    let tracked = crate::cleanup::track_group(group.as_raw_pid());
    // Detached threads: a hook that never reads its stdin, or a process that escaped the
    // group and holds the pipes, must not keep us waiting.
    let stdin = child.stdin.take();
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
    Ok(Running {
        child,
        group,
        _tracked: tracked,
        stdin,
        lifeline: None,
        output: rx,
        expected,
        timeout,
        value: zeroize::Zeroizing::new(value.to_vec()),
    })
}

impl Running {
    /// The hook's process group (its supervisor's process id).
    #[must_use]
    pub fn group(&self) -> u32 {
        self.group.as_raw_nonzero().get().unsigned_abs()
    }

    /// Waits at most the time limit for the hook to end; then whatever is left of its
    /// process group is killed. The value never appears in the output kept (`[redacted]`).
    ///
    /// # Errors
    /// The hook cannot be waited for.
    pub fn wait(mut self) -> std::io::Result<HookRun> {
        let group = self.group;
        // The value, then the pipe kept open until the hook is over.
        if let Some(mut stdin) = self.stdin.take() {
            let (lifeline, over) = std::sync::mpsc::channel::<()>();
            self.lifeline = Some(lifeline);
            let value = self.value.clone();
            std::thread::spawn(move || {
                let _ = stdin.write_all(&value);
                drop(value);
                let _ = over.recv();
                drop(stdin);
            });
        }
        let deadline = Instant::now().checked_add(self.timeout);
        // Waits for the hook to end without reaping it: until it is reaped its process id,
        // which is the group's id, cannot be given to another process, so the group kill
        // below cannot hit anything else.
        let timed_out = loop {
            match waitid(
                WaitId::Pid(group),
                WaitIdOptions::EXITED | WaitIdOptions::NOHANG | WaitIdOptions::NOWAIT,
            ) {
                Ok(Some(_)) => break false,
                Ok(None) if deadline.is_some_and(|d| Instant::now() >= d) => break true,
                Ok(None) => std::thread::sleep(Duration::from_millis(5)),
                Err(e) => {
                    let _ = kill_process_group(group, Signal::KILL);
                    let _ = self.child.wait();
                    return Err(e.into());
                }
            }
        };
        let _ = kill_process_group(group, Signal::KILL);
        let status = self.child.wait()?;
        self.lifeline.take();
        let mut streams = [String::new(), String::new()];
        let grace = Instant::now() + OUTPUT_GRACE;
        for _ in 0..self.expected {
            match self
                .output
                .recv_timeout(grace.saturating_duration_since(Instant::now()))
            {
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
                Ended::TimedOut(self.timeout)
            } else {
                Ended::Exited(status)
            },
            output: redact(output, &self.value),
        })
    }
}

/// Runs a hook to its end ([`start`], then [`Running::wait`]).
///
/// # Errors
/// As [`start`] and [`Running::wait`].
pub fn run(
    launcher: &Launcher,
    command: &str,
    step: Step,
    value: &[u8],
    env: &HookEnv,
    workdir: &std::path::Path,
    timeout: Duration,
) -> std::io::Result<HookRun> {
    start(launcher, command, step, value, env, workdir, timeout)?.wait()
}

/// `coffer __rotate-hook COMMAND`: a hook's supervisor, the leader of the hook's process
/// group. It reads the value (of the length in `COFFER_HOOK_VALUE_LEN`) from its stdin, runs
/// `sh -c COMMAND` in its group with the value on the hook's stdin, the user's core limit
/// ([`crate::dumps`]) and its own stdout and stderr, and ends as the hook ends (its status,
/// or the signal that killed it). Meanwhile it watches its stdin, which coffer holds open:
/// when it closes before the hook is over, coffer is gone, and the supervisor kills the
/// whole group, itself included.
#[must_use]
pub fn supervise(command: &std::ffi::OsStr) -> std::process::ExitCode {
    match supervise_inner(command) {
        Ok(code) => code,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "coffer: cannot run the hook: {e}");
            std::process::ExitCode::from(126)
        }
    }
}

fn supervise_inner(command: &std::ffi::OsStr) -> std::io::Result<std::process::ExitCode> {
    use std::os::unix::process::ExitStatusExt as _;
    // It kills its whole process group when its stdin closes: only as the leader of a group
    // of its own, as coffer starts it, may it do that.
    if rustix::process::getpgrp() != rustix::process::getpid() {
        return Err(std::io::Error::other(format!(
            "{SUPERVISOR_ARG} is run by coffer, as the leader of a process group of its own"
        )));
    }
    let len = std::env::var(VALUE_LEN_VAR)
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|n| *n <= MAX_VALUE)
        .ok_or_else(|| std::io::Error::other(format!("{VALUE_LEN_VAR} is missing or bad")))?;
    let mut value = zeroize::Zeroizing::new(vec![0u8; len]);
    let mut stdin = std::io::stdin();
    stdin.read_exact(&mut value)?;
    crate::dumps::restore_from_env()?;
    let mut child = Command::new("/bin/sh")
        .arg("-c")
        .arg(command)
        .env_remove(VALUE_LEN_VAR)
        .env_remove(crate::dumps::LIMIT_VAR)
        .stdin(Stdio::piped())
        .spawn()?;
    if let Some(mut hook_stdin) = child.stdin.take() {
        std::thread::spawn(move || {
            let _ = hook_stdin.write_all(&value);
        });
    }
    // The lifeline: end of file (or an error) means coffer is gone.
    std::thread::spawn(move || {
        let mut buf = [0u8; 64];
        loop {
            match stdin.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        let _ = rustix::process::kill_current_process_group(Signal::KILL);
    });
    let status = child.wait()?;
    if let Some(code) = status.code() {
        return Ok(std::process::ExitCode::from(
            u8::try_from(code).unwrap_or(u8::MAX),
        ));
    }
    if let Some(sig) = status.signal().and_then(Signal::from_named_raw) {
        // End the way the hook ended, so that coffer reports its signal. (This process is
        // not dumpable: a core-dumping signal writes no core of it.)
        let _ = rustix::process::kill_process(rustix::process::getpid(), sig);
    }
    Ok(std::process::ExitCode::from(125))
}
