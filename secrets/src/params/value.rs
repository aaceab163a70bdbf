//! Parameter values: a secret newtype, and reading a value from a file or stdin.

use std::fmt;

use std::path::Path;

use zeroize::Zeroizing;

use crate::error::{Error, ValueLen};
use crate::store::Prompt;

/// Largest value by default (64 KiB), in bytes, after the trailing newline is dropped.
pub const DEFAULT_MAX_VALUE_BYTES: usize = 64 * 1024;

/// The environment variable that changes the largest value (bytes).
pub const MAX_VALUE_BYTES_VAR: &str = "COFFER_MAX_VALUE_BYTES";

/// A parameter's value: UTF-8 text, wiped on drop, never printed by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretValue(Zeroizing<String>);

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretValue(<redacted, {} bytes>)", self.0.len())
    }
}

impl SecretValue {
    /// Wraps `s`.
    pub fn new(s: Zeroizing<String>) -> Self {
        Self(s)
    }

    /// A value from bytes that must be UTF-8; the bytes are wiped either way.
    ///
    /// # Errors
    /// [`Error::BadValue`] when they are not UTF-8.
    pub fn from_bytes(mut bytes: Zeroizing<Vec<u8>>) -> Result<Self, Error> {
        // Moved, not copied: the buffer is wiped by whichever owner drops it.
        match String::from_utf8(std::mem::take(&mut *bytes)) {
            Ok(s) => Ok(Self(Zeroizing::new(s))),
            Err(e) => {
                drop(Zeroizing::new(e.into_bytes()));
                Err(Error::BadValue(
                    "the value is not UTF-8 text (store binary data as base64)".into(),
                ))
            }
        }
    }

    /// The text.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The text, still wiped on drop.
    pub fn into_inner(self) -> Zeroizing<String> {
        self.0
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the value is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The largest value: `COFFER_MAX_VALUE_BYTES` if set, else [`DEFAULT_MAX_VALUE_BYTES`].
///
/// # Errors
/// A value of the variable that is not a positive whole number.
pub fn max_value_bytes_from_env() -> Result<usize, Error> {
    match std::env::var(MAX_VALUE_BYTES_VAR) {
        Err(_) => Ok(DEFAULT_MAX_VALUE_BYTES),
        Ok(s) => match s.trim().parse::<usize>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(Error::invalid(format!(
                "{MAX_VALUE_BYTES_VAR}={s}: expected a positive number of bytes"
            ))),
        },
    }
}

/// Where a value comes from.
#[derive(Debug, Clone)]
pub enum ValueSource<'a> {
    /// A file.
    File(&'a Path),
    /// Standard input.
    Stdin,
    /// Asked for with the caller's prompt (the CLI: on the terminal, without echo).
    Prompt(&'a dyn Prompt),
}

/// Reads a value of at most `max` bytes (after one trailing `\n` or `\r\n` is dropped).
///
/// # Errors
/// Unreadable input, a value over `max` bytes, or not UTF-8.
pub fn read_value(source: &ValueSource<'_>, max: usize) -> Result<SecretValue, Error> {
    // Enough to see a value of `max` bytes with its newline.
    let limit = max.saturating_add(2);
    let bytes = match source {
        ValueSource::File(path) => {
            use crate::smallfile::ReadError;
            crate::smallfile::read(path, "value file", limit).map_err(|e| match e {
                ReadError::Io(e) => Error::BadValue(format!("cannot read {}: {e}", path.display())),
                // The value is the file less at most two bytes (its newline).
                ReadError::TooLarge(t) => Error::TooLarge {
                    len: t.len.map_or(ValueLen::MoreThan, |n| {
                        ValueLen::AtLeast(
                            usize::try_from(n).unwrap_or(usize::MAX).saturating_sub(2),
                        )
                    }),
                    max,
                },
            })?
        }
        ValueSource::Prompt(prompt) => {
            let line = prompt
                .ask("value (not echoed): ")
                .map_err(|e| Error::BadValue(format!("cannot read the value: {e}")))?;
            Zeroizing::new(line.as_bytes().to_vec())
        }
        ValueSource::Stdin => crate::smallfile::read_to_limit(std::io::stdin().lock(), limit)
            .map_err(|e| Error::BadValue(format!("cannot read stdin: {e}")))?
            .ok_or(Error::TooLarge {
                len: ValueLen::MoreThan,
                max,
            })?,
    };
    finish(bytes, max)
}

/// Drops one trailing newline, checks the size and the encoding.
///
/// # Errors
/// Over `max` bytes; not UTF-8.
pub fn finish(mut bytes: Zeroizing<Vec<u8>>, max: usize) -> Result<SecretValue, Error> {
    if bytes.last() == Some(&b'\n') {
        bytes.pop();
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
    }
    if bytes.len() > max {
        return Err(Error::TooLarge {
            len: ValueLen::Exact(bytes.len()),
            max,
        });
    }
    SecretValue::from_bytes(bytes)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    #[test]
    fn newline_and_limit() {
        let v = |s: &[u8], max| finish(Zeroizing::new(s.to_vec()), max);
        assert_eq!(v(b"abc\n", 3).unwrap().expose(), "abc");
        assert_eq!(v(b"abc\r\n", 3).unwrap().expose(), "abc");
        assert_eq!(v(b"abc\n\n", 10).unwrap().expose(), "abc\n");
        assert_eq!(v(b"", 10).unwrap().expose(), "");
        assert!(matches!(
            v(b"abcd", 3),
            Err(Error::TooLarge {
                len: ValueLen::Exact(4),
                max: 3
            })
        ));
        assert!(matches!(v(&[0xff], 3), Err(Error::BadValue(_))));
    }

    #[test]
    fn debug_is_redacted() {
        let s = SecretValue::new(Zeroizing::new("hunter2".into()));
        let d = format!("{s:?}");
        assert!(!d.contains("hunter2"), "{d}");
        assert_eq!(d, "SecretValue(<redacted, 7 bytes>)");
    }
}
