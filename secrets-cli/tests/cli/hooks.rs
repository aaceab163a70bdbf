//! Rotation hooks run under their supervisor (`coffer __rotate-hook`, the binary under test):
//! the value on stdin, names in the environment, output kept and redacted, time limits, and
//! a hook never outliving the coffer that started it.

use super::*;

use std::os::unix::process::{CommandExt as _, ExitStatusExt as _};
use std::process::Stdio;
use std::time::{Duration, Instant};

use coffer::rotate::hook::{self, Ended, HookEnv, HookRun, Launcher, Step};

fn env() -> HookEnv {
    HookEnv {
        name: "/app/db".into(),
        version: 3,
        old_version: Some(2),
    }
}

fn run(command: &str, step: Step, value: &[u8], timeout: Duration) -> HookRun {
    let dir = tempfile::tempdir().unwrap();
    hook::run(
        &Launcher::at(env!("CARGO_BIN_EXE_coffer")),
        command,
        step,
        value,
        &env(),
        dir.path(),
        timeout,
    )
    .unwrap()
}

#[test]
fn value_on_stdin_and_names_in_the_environment() {
    let r = run(
        "read -r v; echo \"$COFFER_ROTATE_NAME $COFFER_ROTATE_OLD_VERSION->$COFFER_ROTATE_VERSION $COFFER_ROTATE_STEP ${#v}\"; env | grep -c '^COFFER_HOOK_\\|^COFFER_USER_CORE' || true",
        Step::Set,
        b"s3cret-value",
        Duration::from_secs(10),
    );
    assert!(r.succeeded(), "{r:?}");
    // The supervisor's own variables are not passed on to the hook.
    assert_eq!(r.output, "/app/db 2->3 set 12\n0\n");
}

#[test]
fn hooks_run_in_the_directory_given() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("set.sh"), "pwd -P\n").unwrap();
    let r = hook::run(
        &Launcher::at(env!("CARGO_BIN_EXE_coffer")),
        "sh ./set.sh",
        Step::Set,
        b"",
        &env(),
        dir.path(),
        Duration::from_secs(10),
    )
    .unwrap();
    assert!(r.succeeded(), "{r:?}");
    assert_eq!(
        r.output.trim_end(),
        dir.path().canonicalize().unwrap().to_str().unwrap()
    );
}

#[test]
fn failures_keep_their_output_and_status() {
    let r = run(
        "echo to-out; echo to-err >&2; exit 3",
        Step::Test,
        b"",
        Duration::from_secs(10),
    );
    assert!(!r.succeeded());
    assert!(matches!(r.ended, Ended::Exited(s) if s.code() == Some(3)));
    assert!(r.output.contains("to-out") && r.output.contains("to-err"));
    // A hook killed by a signal is reported as killed by it.
    let r = run("kill -TERM $$", Step::Set, b"", Duration::from_secs(10));
    assert!(
        matches!(r.ended, Ended::Exited(s) if s.signal() == Some(15)),
        "{r:?}"
    );
}

/// A hook that hangs (with a child of its own holding the pipes) is killed at the limit.
#[test]
fn a_hanging_hook_is_killed_with_its_children() {
    let start = Instant::now();
    let r = run(
        "echo started; sleep 600 & sleep 600",
        Step::Set,
        b"x",
        Duration::from_millis(500),
    );
    assert!(matches!(r.ended, Ended::TimedOut(_)), "{r:?}");
    assert!(r.output.contains("started"));
    assert!(start.elapsed() < Duration::from_secs(60));
}

/// A hook that exits but leaves a process holding its output is not waited for past the
/// limit.
#[test]
fn a_hook_that_leaves_a_child_behind_returns() {
    let start = Instant::now();
    let r = run(
        "sleep 600 & echo done",
        Step::Set,
        b"x",
        Duration::from_secs(20),
    );
    assert!(r.succeeded(), "{r:?}");
    assert!(r.output.contains("done"));
    assert!(start.elapsed() < Duration::from_secs(15));
}

/// A process that left the hook's group and holds its output does not keep us waiting.
#[test]
fn a_process_outside_the_group_does_not_hold_us() {
    let start = Instant::now();
    let r = run(
        "setsid sleep 30 & echo done",
        Step::Set,
        b"x",
        Duration::from_secs(20),
    );
    assert!(r.succeeded(), "{r:?}");
    assert!(
        start.elapsed() < Duration::from_secs(15),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn the_value_is_redacted_from_the_output() {
    let r = run(
        "v=$(cat); echo \"got $v\" >&2; exit 1",
        Step::Test,
        b"hunter2-secret",
        Duration::from_secs(10),
    );
    assert_eq!(r.output, "got [redacted]\n");
}

#[test]
fn huge_time_limits_are_capped_and_big_values_pass() {
    assert!(run("exit 0", Step::Set, b"", Duration::MAX).succeeded());
    // A hook that never reads a large value does not block; one that does gets it whole.
    let big = vec![b'x'; 1 << 20];
    assert!(run("exit 0", Step::Set, &big, Duration::from_secs(10)).succeeded());
    let r = run("wc -c", Step::Set, &big, Duration::from_secs(10));
    assert_eq!(r.output.trim(), (1 << 20).to_string());
}

/// The supervisor kills its hook, children included, when the coffer that started it dies
/// (its stdin closes), however coffer died.
#[test]
fn the_supervisor_kills_the_hook_when_its_parent_dies() {
    let dir = tempfile::tempdir().unwrap();
    let mut sup = std::process::Command::new(env!("CARGO_BIN_EXE_coffer"))
        .args([
            hook::SUPERVISOR_ARG,
            "echo $$ > hook.pid; sleep 600 & echo $! > child.pid; wait",
        ])
        .current_dir(dir.path())
        .env("COFFER_HOOK_VALUE_LEN", "3")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    let mut stdin = sup.stdin.take().unwrap();
    std::io::Write::write_all(&mut stdin, b"abc").unwrap();
    let pids: Vec<String> = loop {
        let read = |f: &str| fs::read_to_string(dir.path().join(f)).unwrap_or_default();
        let (a, b) = (read("hook.pid"), read("child.pid"));
        if a.ends_with('\n') && b.ends_with('\n') {
            break vec![a.trim().to_owned(), b.trim().to_owned()];
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    // Still running while the lifeline is open.
    std::thread::sleep(Duration::from_millis(300));
    assert!(sup.try_wait().unwrap().is_none());
    drop(stdin);
    let status = sup.wait().unwrap();
    assert_eq!(status.signal(), Some(9), "{status:?}");
    for pid in pids {
        let gone = (0..100).any(|_| {
            std::thread::sleep(Duration::from_millis(20));
            !Path::new(&format!("/proc/{pid}")).exists()
                || fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.contains(") Z "))
        });
        assert!(gone, "process {pid} of the hook outlived its supervisor");
    }
}

/// Run by hand, not as the leader of a group of its own, the supervisor refuses (it would
/// kill its caller's group when its stdin closes).
#[test]
fn the_supervisor_runs_only_as_a_group_leader() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_coffer"))
        .args([hook::SUPERVISOR_ARG, "echo ran"])
        .env("COFFER_HOOK_VALUE_LEN", "0")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(126), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("leader of a process group"));
}
