//! The terminal, where the `coffer` command asks a person for a passphrase or a value (never
//! echoed). The library never asks by itself: the command hands it this [`Prompt`].

use std::io::IsTerminal as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use zeroize::Zeroizing;

use coffer::store::{PassphraseSource, Prompt};

/// Asks on the terminal (`/dev/tty`), without echo.
#[derive(Debug, Clone, Copy, Default)]
pub struct TerminalPrompt;

impl Prompt for TerminalPrompt {
    fn ask(&self, prompt: &str) -> std::io::Result<Zeroizing<String>> {
        rpassword::prompt_password(prompt).map(Zeroizing::new)
    }
}

/// Set while the shell asks for completions: nothing may be asked on its terminal.
static NO_PROMPTS: AtomicBool = AtomicBool::new(false);

/// From now on nothing is asked on the terminal (shell completion runs inside the user's
/// shell: a root key that needs a passphrase not in `COFFER_PASSPHRASE_FILE` gives no names).
pub fn forbid_prompts() {
    NO_PROMPTS.store(true, Ordering::SeqCst);
}

/// Where the command's root key passphrase comes from: `COFFER_PASSPHRASE_FILE` if set,
/// else the terminal.
pub fn passphrase() -> PassphraseSource {
    let prompt =
        (!NO_PROMPTS.load(Ordering::SeqCst)).then(|| Arc::new(TerminalPrompt) as Arc<dyn Prompt>);
    PassphraseSource::from_env(prompt)
}

/// The prompt for a value read from standard input, when standard input is a terminal.
pub fn value_prompt() -> Option<Arc<dyn Prompt>> {
    std::io::stdin()
        .is_terminal()
        .then(|| Arc::new(TerminalPrompt) as Arc<dyn Prompt>)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completion_never_prompts() {
        // No other test of this crate asks for the passphrase source.
        forbid_prompts();
        assert!(
            !matches!(passphrase(), PassphraseSource::Prompt(_)),
            "a prompt after forbid_prompts"
        );
    }
}
