//! The terminal, where the `coffer` command asks a person for a passphrase or a value (never
//! echoed). The library never asks by itself: the command hands it this [`Prompt`].

use std::io::IsTerminal as _;
use std::sync::Arc;

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

/// Where the command's root key passphrase comes from: `COFFER_PASSPHRASE_FILE` if set,
/// else the terminal.
pub fn passphrase() -> PassphraseSource {
    PassphraseSource::from_env(Some(Arc::new(TerminalPrompt)))
}

/// The prompt for a value read from standard input, when standard input is a terminal.
pub fn value_prompt() -> Option<Arc<dyn Prompt>> {
    std::io::stdin()
        .is_terminal()
        .then(|| Arc::new(TerminalPrompt) as Arc<dyn Prompt>)
}
