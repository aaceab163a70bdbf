//! Key references that do not parse.

use std::path::PathBuf;

/// A KEYREF that cannot be parsed (a usage error).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyRefError {
    /// `--key ''`.
    #[error("empty key reference")]
    Empty,
    /// A scheme this build does not know.
    #[error("unknown key reference scheme `{0}:`")]
    UnknownScheme(String),
    /// A scheme of the contract that this build does not implement yet.
    #[error("{what} key references (`{reference}`) are not supported yet in this build")]
    NotSupported {
        /// What kind of key ("AWS KMS", "PKCS#11", "local keyring").
        what: &'static str,
        /// The reference as given.
        reference: String,
    },
    /// A malformed `pkcs11:` URI (never echoed: it may hold a PIN).
    #[error("bad PKCS#11 key reference: {why}")]
    BadPkcs11 {
        /// What is wrong.
        why: String,
    },
    /// A malformed `kms:` reference.
    #[error("bad AWS KMS key reference `{reference}`: {why}")]
    BadKms {
        /// As given.
        reference: String,
        /// What is wrong.
        why: String,
    },
    /// `aes:` with nothing after it.
    #[error("`{0}` has no key file path")]
    MissingPath(String),
    /// A malformed query part.
    #[error("bad query `{query}` in key reference: {why}")]
    BadQuery {
        /// The query part (after `?`).
        query: String,
        /// What is wrong.
        why: String,
    },
    /// A query key the scheme does not take.
    #[error("unknown parameter `{key}` in `{scheme}:` key reference (allowed: {allowed})")]
    UnknownParameter {
        /// The scheme.
        scheme: &'static str,
        /// The key given.
        key: String,
        /// The keys the scheme takes.
        allowed: &'static str,
    },
    /// A query key given twice.
    #[error("parameter `{0}` given twice in key reference")]
    DuplicateParameter(String),
    /// A query key with an empty value.
    #[error("parameter `{0}` of the key reference is empty")]
    EmptyParameter(String),
    /// An unknown RSA padding.
    #[error(
        "unknown RSA padding `{0}` (expected oaep-sha1, oaep-sha256, oaep-sha384, oaep-sha512 or pkcs1)"
    )]
    BadPadding(String),
    /// A local key name that is not valid.
    #[error("`{reference}` is not a valid key name: {why}")]
    BadLocalName {
        /// The reference as given.
        reference: String,
        /// What is wrong.
        why: String,
    },
    /// The key name would come from a file name that is not UTF-8.
    #[error("cannot take a key name from the file name of {} (none, or not UTF-8); give it with `?name=NAME`", .0.display())]
    NoDefaultName(PathBuf),
}
