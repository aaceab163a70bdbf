//! The one error type of `coffer-core`.

use std::fmt;
use std::sync::Arc;

/// Result alias used throughout the crate.
pub type Result<T> = std::result::Result<T, Error>;

/// Everything that can go wrong in `coffer-core`.
///
/// Authentication failures are deliberately opaque ([`Error::Authentication`]); key
/// availability failures are rich ([`Error::Unwrap`] lists every key tried and why).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Error {
    /// The message is malformed: a field is out of range, truncated or inconsistent.
    Malformed(String),
    /// The input ended before the message was complete.
    Truncated,
    /// Bytes follow a complete message.
    TrailingData,
    /// The input looks like base64 text rather than a binary message.
    Base64Input,
    /// The input is not an AWS Encryption SDK message at all (says what it starts with).
    NotAMessage(String),
    /// An authentication tag, the key commitment or the signature did not verify.
    Authentication,
    /// The message uses an algorithm suite id that is not an ESDK suite.
    UnknownSuite(u16),
    /// The configuration forbids this operation (commitment policy, unsigned-only, limits).
    Policy(String),
    /// The encryption context is not acceptable (reserved keys, required pairs missing).
    Context(String),
    /// No keyring could produce or recover the data key.
    Unwrap(UnwrapReport),
    /// A key could not be loaded or has the wrong shape.
    Key(String),
    /// A caller passed a bad argument or called things in the wrong order.
    ApiMisuse(String),
    /// The frame sequence number would overflow (at most 2^32 - 1 frames).
    TooManyFrames,
    /// An I/O error from the underlying reader or writer.
    Io(Arc<std::io::Error>),
    /// An error from a pluggable keyring or store backend.
    Other(Arc<dyn std::error::Error + Send + Sync>),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed(what) => write!(f, "malformed message: {what}"),
            Self::Truncated => f.write_str("message is truncated"),
            Self::TrailingData => f.write_str("unexpected data after the end of the message"),
            Self::Base64Input => f.write_str(
                "input looks like base64 text, not a binary message; decode it first (base64 -d)",
            ),
            Self::NotAMessage(start) => {
                write!(
                    f,
                    "not an AWS Encryption SDK message (it starts with {start})"
                )
            }
            Self::Authentication => {
                f.write_str("message authentication failed (tampered data or wrong key)")
            }
            Self::UnknownSuite(id) => {
                write!(f, "unknown or unsupported algorithm suite 0x{id:04X}")
            }
            Self::Policy(what) => write!(f, "refused by policy: {what}"),
            Self::Context(what) => write!(f, "encryption context: {what}"),
            Self::Unwrap(report) => write!(f, "{report}"),
            Self::Key(what) => write!(f, "key: {what}"),
            Self::ApiMisuse(what) => write!(f, "API misuse: {what}"),
            Self::TooManyFrames => f.write_str("message would exceed 2^32 - 1 frames"),
            Self::Io(e) => write!(f, "I/O error: {e}"),
            Self::Other(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io(e) => Some(e.as_ref()),
            Self::Other(e) => Some(e.as_ref()),
            _ => None,
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        // A coffer error that travelled through an io::Read/Write boundary comes back as itself.
        if e.get_ref().is_some_and(|inner| inner.is::<Self>()) {
            if let Some(inner) = e.into_inner() {
                if let Ok(err) = inner.downcast::<Self>() {
                    return *err;
                }
            }
            return Self::ApiMisuse("lost error while unwrapping an I/O error".into());
        }
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            return Self::Truncated;
        }
        Self::Io(Arc::new(e))
    }
}

impl From<Error> for std::io::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::Io(io) => match Arc::try_unwrap(io) {
                Ok(io) => io,
                Err(shared) => Self::new(shared.kind(), shared.to_string()),
            },
            other => Self::new(std::io::ErrorKind::InvalidData, other),
        }
    }
}

/// Why one keyring could not recover a data key from one encrypted data key.
#[derive(Debug, Clone)]
pub struct UnwrapAttempt {
    /// The keyring that tried (e.g. `raw-aes coffer/prod-key`).
    pub keyring: String,
    /// What it said.
    pub reason: String,
    /// The error behind it, when there is one (a key store's error: a front end finds its
    /// kind there, and what to advise).
    pub cause: Option<Error>,
}

/// Every keyring and encrypted data key tried during decryption, and why each failed.
///
/// Its text lists the first [`UnwrapReport::SHOWN`] attempts and counts the rest, so a
/// message with thousands of data keys still gives a short error.
#[derive(Debug, Clone, Default)]
pub struct UnwrapReport {
    /// The attempts, in order.
    pub attempts: Vec<UnwrapAttempt>,
    /// Data keys addressed to the keyrings' keys that were not tried because the message's
    /// unwrap attempts were spent.
    not_tried: usize,
    /// That limit of unwrap attempts.
    limit: Option<u16>,
}

impl UnwrapReport {
    /// How many attempts the text of a report lists.
    pub const SHOWN: usize = 10;

    /// Records an attempt.
    pub fn push(&mut self, keyring: impl Into<String>, reason: impl Into<String>) {
        self.attempts.push(UnwrapAttempt {
            keyring: keyring.into(),
            reason: reason.into(),
            cause: None,
        });
    }

    /// Records an attempt that failed with `cause` (kept for front ends to look into).
    pub fn push_cause(
        &mut self,
        keyring: impl Into<String>,
        reason: impl Into<String>,
        cause: Error,
    ) {
        self.attempts.push(UnwrapAttempt {
            keyring: keyring.into(),
            reason: reason.into(),
            cause: Some(cause),
        });
    }

    /// Counts a data key that was not tried because the message's `limit` of unwrap attempts
    /// was reached.
    pub fn not_tried(&mut self, limit: u16) {
        self.not_tried = self.not_tried.saturating_add(1);
        self.limit = Some(limit);
    }

    /// How many data keys were not tried because the unwrap attempts were spent.
    #[must_use]
    pub fn not_tried_count(&self) -> usize {
        self.not_tried
    }

    /// Appends another report's attempts. Of the data keys not tried, the larger count is
    /// kept: keyrings that tried the same message one after another left the same data keys
    /// untried, the later one at least as many.
    pub fn extend(&mut self, other: Self) {
        self.attempts.extend(other.attempts);
        self.not_tried = self.not_tried.max(other.not_tried);
        self.limit = self.limit.or(other.limit);
    }
}

impl fmt::Display for UnwrapReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("no key could decrypt a data key of this message")?;
        for a in self.attempts.iter().take(Self::SHOWN) {
            write!(f, "\n  {}: {}", a.keyring, a.reason)?;
        }
        let hidden = self.attempts.len().saturating_sub(Self::SHOWN);
        if hidden > 0 {
            write!(
                f,
                "\n  ... and {hidden} more (one line per keyring and data key)"
            )?;
        }
        if let (n @ 1.., Some(limit)) = (self.not_tried, self.limit) {
            let keys = if n == 1 { "data key" } else { "data keys" };
            write!(
                f,
                "\n  {n} more {keys} for these keys not tried: at most {limit} unwrap attempts \
                 are made per message"
            )?;
        }
        Ok(())
    }
}
