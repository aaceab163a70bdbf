//! Passphrases of root key files: given by the caller, read from a file, or asked for by the
//! caller's [`Prompt`] (the `coffer` command asks on the terminal; a service never asks).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use zeroize::Zeroizing;

use crate::error::{Advice, Error};

/// The environment variable naming a file that holds the passphrase.
pub const PASSPHRASE_FILE_VAR: &str = "COFFER_PASSPHRASE_FILE";

/// The largest passphrase file.
pub const MAX_PASSPHRASE_FILE: usize = 16 * 1024;

/// A passphrase. Wiped on drop, never printed.
pub struct Passphrase(Zeroizing<Vec<u8>>);

impl fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Passphrase(..)")
    }
}

impl Passphrase {
    /// A passphrase from its bytes.
    pub fn new(bytes: Zeroizing<Vec<u8>>) -> Self {
        Self(bytes)
    }

    /// The passphrase's bytes.
    pub fn expose_secret(&self) -> &[u8] {
        &self.0
    }

    /// A second copy (wiped on drop like the first), for a passphrase used twice in one run.
    fn duplicate(&self) -> Self {
        let mut copy = Zeroizing::new(Vec::with_capacity(self.0.len()));
        copy.extend_from_slice(&self.0);
        Self(copy)
    }
}

/// A passphrase read at most once per process: a root rotation decodes the current key file
/// and encodes the new one with it, and finishing an interrupted switch decodes two files.
#[derive(Debug)]
pub struct PassphraseCache {
    source: PassphraseSource,
    value: Option<Passphrase>,
}

impl PassphraseCache {
    /// Reads from `source` when first needed.
    pub fn new(source: PassphraseSource) -> Self {
        Self {
            source,
            value: None,
        }
    }

    /// The passphrase (asked for `what`, a key file, the first time).
    ///
    /// # Errors
    /// As [`PassphraseSource::read`].
    pub fn get(&mut self, what: &Path) -> Result<Passphrase, Error> {
        if let Some(p) = &self.value {
            return Ok(p.duplicate());
        }
        let p = self.source.read(what, false)?;
        self.value = Some(p.duplicate());
        Ok(p)
    }
}

/// Asks a person for a secret (a passphrase, a value) without echoing it. The library never
/// asks by itself: a front end that has a person to ask supplies one (`coffer` asks on the
/// terminal).
pub trait Prompt: Send + Sync + fmt::Debug {
    /// Shows `prompt` and reads one line, without its newline.
    ///
    /// # Errors
    /// There is nobody to ask (no terminal), or reading failed.
    fn ask(&self, prompt: &str) -> std::io::Result<Zeroizing<String>>;
}

/// Where the passphrase of a root key file comes from.
#[derive(Debug)]
pub enum PassphraseSource {
    /// Given by the caller.
    Given(Passphrase),
    /// A file (the one `COFFER_PASSPHRASE_FILE` names).
    File(PathBuf),
    /// Asked for with the caller's prompt.
    Prompt(Arc<dyn Prompt>),
    /// Nowhere: a root key protected by a passphrase cannot be used.
    None,
}

impl Clone for PassphraseSource {
    fn clone(&self) -> Self {
        match self {
            Self::Given(p) => Self::Given(p.duplicate()),
            Self::File(path) => Self::File(path.clone()),
            Self::Prompt(p) => Self::Prompt(p.clone()),
            Self::None => Self::None,
        }
    }
}

impl PassphraseSource {
    /// `COFFER_PASSPHRASE_FILE` if set (and not empty), else `prompt`, if there is one.
    pub fn from_env(prompt: Option<Arc<dyn Prompt>>) -> Self {
        match std::env::var_os(PASSPHRASE_FILE_VAR).filter(|v| !v.is_empty()) {
            Some(p) => Self::File(p.into()),
            None => prompt.map_or(Self::None, Self::Prompt),
        }
    }

    /// Reads the passphrase for `what` (a file path, for the prompt). With `confirm` (a new
    /// passphrase), the prompt asks twice.
    ///
    /// # Errors
    /// The file cannot be read; there is no source, or the prompt cannot ask; the two
    /// entries differ; the passphrase is empty.
    pub fn read(&self, what: &Path, confirm: bool) -> Result<Passphrase, Error> {
        let bytes = match self {
            Self::Given(p) => return Ok(p.duplicate()),
            Self::File(path) => {
                use crate::smallfile::ReadError;
                let mut bytes =
                    crate::smallfile::read(path, "passphrase file", MAX_PASSPHRASE_FILE).map_err(
                        |e| match e {
                            ReadError::Io(e) => Error::invalid(format!(
                                "cannot read the passphrase file {} ({PASSPHRASE_FILE_VAR})",
                                path.display()
                            ))
                            .caused_by(e),
                            ReadError::TooLarge(t) => {
                                Error::invalid(format!("{t} ({PASSPHRASE_FILE_VAR})"))
                            }
                        },
                    )?;
                strip_newline(&mut bytes);
                bytes
            }
            Self::Prompt(prompt) => {
                let ask = |text: &str| {
                    prompt
                        .ask(text)
                        .map(|s| Zeroizing::new(s.as_bytes().to_vec()))
                        .map_err(|e| {
                            Error::invalid(format!(
                                "the root key {} needs a passphrase, and there is no terminal \
                                 to ask for it",
                                what.display()
                            ))
                            .advice(Advice::PassphraseFile {
                                var: PASSPHRASE_FILE_VAR,
                            })
                            .caused_by(e)
                        })
                };
                let first = ask(&format!("Passphrase for {}: ", what.display()))?;
                if confirm {
                    let again = ask("Repeat the passphrase: ")?;
                    if !coffer_core::ct_eq(&first, &again) {
                        // Not a bad request: the operation failed (exit 1 in the command, as before).
                        return Err(Error::denied("the passphrases do not match"));
                    }
                }
                first
            }
            Self::None => {
                return Err(Error::invalid(format!(
                    "the root key {} is protected by a passphrase, and none was given (a library \
                     does not ask for one)",
                    what.display()
                ))
                .advice(Advice::PassphraseNeeded {
                    var: PASSPHRASE_FILE_VAR,
                }));
            }
        };
        if bytes.is_empty() {
            return Err(Error::invalid("the passphrase is empty"));
        }
        Ok(Passphrase(bytes))
    }
}

/// Drops one trailing newline (`\n` or `\r\n`).
fn strip_newline(bytes: &mut Zeroizing<Vec<u8>>) {
    if bytes.last() == Some(&b'\n') {
        bytes.pop();
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    #[test]
    fn newline() {
        let mut b = Zeroizing::new(b"pw\r\n".to_vec());
        strip_newline(&mut b);
        assert_eq!(&b[..], b"pw");
        let mut b = Zeroizing::new(b"pw\n\n".to_vec());
        strip_newline(&mut b);
        assert_eq!(&b[..], b"pw\n");
    }

    #[derive(Debug)]
    struct Answers(std::sync::Mutex<Vec<&'static str>>);

    impl Prompt for Answers {
        fn ask(&self, _: &str) -> std::io::Result<Zeroizing<String>> {
            let mut a = self.0.lock().unwrap();
            if a.is_empty() {
                return Err(std::io::Error::other("no terminal"));
            }
            Ok(Zeroizing::new(a.remove(0).to_owned()))
        }
    }

    fn prompt(answers: &[&'static str]) -> PassphraseSource {
        PassphraseSource::Prompt(Arc::new(Answers(std::sync::Mutex::new(answers.to_vec()))))
    }

    /// The library asks only through the caller's prompt, and never without one.
    #[test]
    fn sources() {
        let p = Path::new("root.key");
        let got = prompt(&["pw", "pw"]).read(p, true).unwrap();
        assert_eq!(got.expose_secret(), b"pw");
        let e = prompt(&["pw", "other"]).read(p, true).unwrap_err();
        assert!(matches!(e, Error::Denied(_)), "{e}");
        let e = prompt(&[]).read(p, false).unwrap_err();
        assert_eq!(
            e.detail().and_then(crate::error::Detail::advice),
            Some(&Advice::PassphraseFile {
                var: PASSPHRASE_FILE_VAR
            })
        );
        let e = PassphraseSource::None.read(p, false).unwrap_err();
        assert!(e.to_string().contains("none was given"), "{e}");
        let given = PassphraseSource::Given(Passphrase::new(Zeroizing::new(b"g".to_vec())));
        assert_eq!(given.clone().read(p, false).unwrap().expose_secret(), b"g");
        assert!(prompt(&[""]).read(p, false).is_err(), "an empty passphrase");
    }
}
