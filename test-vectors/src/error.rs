//! A small error type for the test-vector tooling: a message, optionally
//! prefixed with the file it concerns.

use std::fmt;
use std::path::Path;

/// An error of the test-vector tooling (bad manifest, I/O problem, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    message: String,
}

impl Error {
    /// An error with a plain message.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }

    /// An error about a file: `path: message`.
    pub fn at(path: &Path, message: impl fmt::Display) -> Self {
        Self {
            message: format!("{}: {message}", path.display()),
        }
    }

    /// The message, without any decoration.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;
