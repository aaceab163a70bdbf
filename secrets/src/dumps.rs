//! Core dumps: off for coffer, back to the user's limit for the programs it runs.
//!
//! A core dump of coffer would hold what its memory holds: a root key, branch keys, the
//! values it read or generated. So [`disable`] runs first thing in `main` (as ssh-agent does):
//! the process is marked not dumpable (`PR_SET_DUMPABLE` 0: no core, and no `ptrace` or
//! `/proc/PID/mem` by other processes of the same user) and the soft `RLIMIT_CORE` is set to
//! 0 (the hard limit is kept, so that it can be raised again).
//!
//! The programs coffer starts get the user's own limit back: `exec` restores it just before
//! `execve` ([`restore`]; the kernel resets "dumpable" on `execve` by itself), and rotation
//! hooks get it from their supervisor (`coffer __rotate-hook`), which is told the user's
//! limit in [`LIMIT_VAR`] ([`for_child`], [`restore_from_env`]).

use std::sync::OnceLock;

use rustix::process::{DumpableBehavior, Resource, Rlimit, getrlimit, setrlimit};

/// The variable that carries the user's soft core limit to a hook's supervisor: a number of
/// bytes, or `unlimited`.
pub const LIMIT_VAR: &str = "COFFER_USER_CORE_LIMIT";

/// The soft `RLIMIT_CORE` coffer started with (`None`: unlimited).
static USER_LIMIT: OnceLock<Option<u64>> = OnceLock::new();

/// Turns core dumps off for this process and remembers the user's limit.
///
/// # Errors
/// The kernel refused (the limit or the flag could not be set).
pub fn disable() -> std::io::Result<()> {
    let limit = getrlimit(Resource::Core);
    let _ = USER_LIMIT.set(limit.current);
    rustix::process::set_dumpable_behavior(DumpableBehavior::NotDumpable)?;
    setrlimit(
        Resource::Core,
        Rlimit {
            current: Some(0),
            maximum: limit.maximum,
        },
    )?;
    Ok(())
}

/// The user's soft core limit (as coffer found it), `None` for unlimited; what this process
/// has now if [`disable`] never ran.
fn user_limit() -> Option<u64> {
    *USER_LIMIT.get_or_init(|| getrlimit(Resource::Core).current)
}

/// Sets this process's soft core limit back to the user's (before `execve`).
///
/// # Errors
/// The kernel refused.
pub fn restore() -> std::io::Result<()> {
    set_soft(user_limit())
}

fn set_soft(current: Option<u64>) -> std::io::Result<()> {
    let now = getrlimit(Resource::Core);
    let current = match (current, now.maximum) {
        (Some(c), Some(max)) => Some(c.min(max)),
        (None, Some(max)) => Some(max),
        (c, None) => c,
    };
    setrlimit(
        Resource::Core,
        Rlimit {
            current,
            maximum: now.maximum,
        },
    )?;
    Ok(())
}

/// [`LIMIT_VAR`] and its value, for a child that restores the user's limit itself.
#[must_use]
pub fn for_child() -> (&'static str, String) {
    let value = match user_limit() {
        Some(n) => n.to_string(),
        None => "unlimited".to_owned(),
    };
    (LIMIT_VAR, value)
}

/// Sets this process's soft core limit to the one [`LIMIT_VAR`] names (a hook's supervisor,
/// before it starts the hook). Without the variable, nothing changes.
///
/// # Errors
/// A bad value; the kernel refused.
pub fn restore_from_env() -> std::io::Result<()> {
    let Some(value) = std::env::var_os(LIMIT_VAR) else {
        return Ok(());
    };
    let limit = match value.to_str() {
        Some("unlimited") => None,
        Some(n) => Some(n.parse::<u64>().map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("{LIMIT_VAR}: not a number of bytes or `unlimited`"),
            )
        })?),
        None => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("{LIMIT_VAR}: not UTF-8"),
            ));
        }
    };
    set_soft(limit)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    /// In a child process of its own (the test binary's threads share the flags): after
    /// `disable`, the process is not dumpable and its soft limit is 0; `restore` gives the
    /// limit back.
    #[test]
    fn disable_then_restore() {
        if std::env::var_os("COFFER_DUMPS_CHILD").is_none() {
            let exe = std::env::current_exe().unwrap();
            let out = std::process::Command::new(exe)
                .args([
                    "--exact",
                    "dumps::tests::disable_then_restore",
                    "--nocapture",
                ])
                .env("COFFER_DUMPS_CHILD", "1")
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            return;
        }
        let before = getrlimit(Resource::Core);
        disable().unwrap();
        assert_eq!(getrlimit(Resource::Core).current, Some(0));
        assert_eq!(getrlimit(Resource::Core).maximum, before.maximum);
        assert_eq!(
            rustix::process::dumpable_behavior().unwrap(),
            DumpableBehavior::NotDumpable
        );
        restore().unwrap();
        assert_eq!(getrlimit(Resource::Core).current, before.current);
    }
}
