//! Shell completion of parameter names, asked of the store as the user types.
//!
//! `coffer completions bash|zsh|fish|elvish|powershell` prints a script that the shell
//! sources; on TAB the shell runs `COFFER_COMPLETE=SHELL coffer -- WORDS…`, which
//! [`complete_now`] answers (subcommands and flags from the clap definitions; parameter
//! names and paths from the store, one level at a time, never a value) and exits. The store
//! is the one `COFFER_STORE`/`COFFER_HOME` name; nothing is ever asked on the terminal (a
//! root key that needs a passphrase gives no names unless `COFFER_PASSPHRASE_FILE` is
//! set), and any failure gives no names rather than an error in the user's shell.

use std::ffi::OsStr;

use clap::CommandFactory as _;
use clap::Parser as _;
use clap_complete::engine::{ArgValueCompleter, CompletionCandidate};

use crate::cli::Cli;
use crate::config::Settings;

/// The variable the completion scripts set.
pub const VAR: &str = "COFFER_COMPLETE";

/// Answers the shell and exits, if it is asking (the variable is set); else returns.
pub fn complete_now() {
    clap_complete::CompleteEnv::with_factory(Cli::command)
        .var(VAR)
        .complete();
}

/// The script that makes `shell` complete coffer's words.
///
/// # Errors
/// A shell clap does not complete dynamically; the script cannot be written.
pub fn registration(shell: &str) -> anyhow::Result<Vec<u8>> {
    let shells = clap_complete::env::Shells::builtins();
    let completer = shells
        .completer(shell)
        .ok_or_else(|| anyhow::anyhow!("no completion for shell `{shell}`"))?;
    // The binary itself, so that the script works whatever PATH the shell has.
    let exe = std::env::current_exe()
        .ok()
        .and_then(|p| p.to_str().map(str::to_owned))
        .unwrap_or_else(|| "coffer".to_owned());
    let mut out = Vec::new();
    completer.write_registration(VAR, "coffer", "coffer", &exe, &mut out)?;
    Ok(out)
}

/// The completer of an argument that names a parameter or a path.
pub fn names() -> ArgValueCompleter {
    ArgValueCompleter::new(candidates)
}

/// The names and paths one level below what `current` has typed so far.
fn candidates(current: &OsStr) -> Vec<CompletionCandidate> {
    let Some(typed) = current.to_str() else {
        return Vec::new();
    };
    crate::terminal::forbid_prompts();
    let Ok(cli) = Cli::try_parse_from(["coffer", "--quiet", "ls"]) else {
        return Vec::new();
    };
    let Ok(settings) = Settings::from_cli(cli) else {
        return Vec::new();
    };
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return Vec::new();
    };
    let found = rt
        .block_on(crate::commands::names_below(&settings, typed))
        .unwrap_or_default();
    found.into_iter().map(CompletionCandidate::new).collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    #[test]
    fn scripts_for_each_shell() {
        for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
            let script = String::from_utf8(registration(shell).unwrap()).unwrap();
            assert!(script.contains(VAR), "{shell}: {script}");
        }
        assert!(registration("tcsh").is_err());
    }
}
