//! Shell completion of parameter names, asked of the store as the user types.
//!
//! `coffer completions bash|zsh|fish|elvish|powershell` prints a script that the shell
//! sources; on TAB the shell runs `COFFER_COMPLETE=SHELL coffer -- WORDS…`, which the
//! command answers before anything else (subcommands and flags from the clap definitions; parameter
//! names and paths from the store, one level at a time, never a value) and exits. The store
//! is the one `COFFER_STORE`/`COFFER_HOME` name; nothing is ever asked on the terminal (a
//! root key that needs a passphrase gives no names unless `COFFER_PASSPHRASE_FILE` is
//! set), and any failure gives no names rather than an error in the user's shell.

use std::ffi::OsStr;
use std::sync::OnceLock;

use clap_complete::engine::{ArgValueCompleter, CompletionCandidate};

/// The variable the completion scripts set.
pub const VAR: &str = "COFFER_COMPLETE";

/// What lists the names below what was typed (the command sets it, [`set_lister`]).
static LISTER: OnceLock<fn(&str) -> Vec<String>> = OnceLock::new();

/// Sets what lists the names for [`names`] (once; the command does, before it answers).
pub fn set_lister(lister: fn(&str) -> Vec<String>) {
    let _ = LISTER.set(lister);
}

/// The completer of an argument that names a parameter or a path.
pub fn names() -> ArgValueCompleter {
    ArgValueCompleter::new(candidates)
}

/// The names and paths one level below what `current` has typed so far.
fn candidates(current: &OsStr) -> Vec<CompletionCandidate> {
    let (Some(typed), Some(list)) = (current.to_str(), LISTER.get()) else {
        return Vec::new();
    };
    list(typed)
        .into_iter()
        .map(CompletionCandidate::new)
        .collect()
}

/// The script that makes `shell` complete the words of `cmd`, run as `exe`.
///
/// # Errors
/// A shell clap does not complete dynamically; the script cannot be written.
pub fn registration(shell: &str, exe: &str) -> anyhow::Result<Vec<u8>> {
    let shells = clap_complete::env::Shells::builtins();
    let completer = shells
        .completer(shell)
        .ok_or_else(|| anyhow::anyhow!("no completion for shell `{shell}`"))?;
    let mut out = Vec::new();
    completer.write_registration(VAR, "coffer", "coffer", exe, &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    #[test]
    fn scripts_for_each_shell() {
        for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
            let script = String::from_utf8(registration(shell, "/bin/coffer").unwrap()).unwrap();
            assert!(script.contains(VAR), "{shell}: {script}");
        }
        assert!(registration("tcsh", "coffer").is_err());
    }
}
