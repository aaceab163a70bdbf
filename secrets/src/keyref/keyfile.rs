//! Key files: raw AES keys (bytes or base64 text) and RSA PEM keys, read with a small limit
//! and never shown.

use std::io;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use zeroize::Zeroizing;

/// What a key is loaded for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Wrapping data keys.
    Encrypt,
    /// Unwrapping data keys.
    Decrypt,
}

/// A key file that cannot be used. Every variant names the file; none shows key material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyFileError {
    /// The file cannot be read.
    #[error("cannot read key file {}", .path.display())]
    Read {
        /// The key file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The file holds more than a key file of its kind can.
    #[error(transparent)]
    TooLarge(crate::smallfile::TooLarge),
    /// The AES key has the wrong length.
    #[error(
        "key file {} is not an AES key: {len} bytes, expected 16, 24 or 32 raw bytes or their base64 text",
        .path.display()
    )]
    AesLength {
        /// The key file.
        path: PathBuf,
        /// Its length in bytes.
        len: usize,
    },
    /// The file is not PEM.
    #[error("key file {} is not a PEM file", .path.display())]
    NotPem {
        /// The key file.
        path: PathBuf,
    },
    /// A PEM block of a kind we cannot use.
    #[error("key file {} holds a PEM `{label}`, which is not supported", .path.display())]
    UnsupportedPem {
        /// The key file.
        path: PathBuf,
        /// The PEM label.
        label: String,
    },
    /// A private key was given to encrypt.
    #[error("key file {}: encrypt needs the public key (SPKI PEM), not a private key", .path.display())]
    NeedPublic {
        /// The key file.
        path: PathBuf,
    },
    /// A public key was given to decrypt.
    #[error("key file {}: decrypt needs the private key (PKCS#8 PEM), not a public key", .path.display())]
    NeedPrivate {
        /// The key file.
        path: PathBuf,
    },
}

/// The largest AES key file: 32 bytes in base64 are 44 characters; the rest is margin for
/// whitespace, and so that a file a little off is reported with its length
/// ([`KeyFileError::AesLength`]).
pub const MAX_AES_KEY_FILE: usize = 1024;

/// The largest RSA PEM file: a 16384-bit PKCS#8 private key is about 13 KB of PEM; the rest
/// is margin (text around the block).
pub const MAX_RSA_KEY_FILE: usize = 64 * 1024;

fn read_key_file(path: &Path, limit: usize) -> Result<Zeroizing<Vec<u8>>, KeyFileError> {
    crate::smallfile::read(path, "key file", limit).map_err(|e| match e {
        crate::smallfile::ReadError::Io(source) => KeyFileError::Read {
            path: path.to_path_buf(),
            source,
        },
        crate::smallfile::ReadError::TooLarge(t) => KeyFileError::TooLarge(t),
    })
}

fn is_aes_len(n: usize) -> bool {
    matches!(n, 16 | 24 | 32)
}

/// Decodes base64 key text (surrounding ASCII whitespace ignored, padding optional).
fn decode_base64_key(text: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    let text = text.trim_ascii();
    if text.is_empty() {
        return None;
    }
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    let mut out = Zeroizing::new(Vec::with_capacity(text.len()));
    engine.decode_vec(text, &mut out).ok()?;
    Some(out)
}

/// Interprets the bytes of an AES key file: exactly 16, 24 or 32 bytes are the raw key;
/// anything else must be base64 text of a 16-, 24- or 32-byte key.
///
/// Returns the key and whether it came from base64.
pub fn parse_aes_key(
    path: &Path,
    bytes: &[u8],
) -> Result<(Zeroizing<Vec<u8>>, bool), KeyFileError> {
    if is_aes_len(bytes.len()) {
        if decode_base64_key(bytes).is_some_and(|k| is_aes_len(k.len())) {
            tracing::warn!(
                file = %path.display(),
                "key file is {} bytes that are also valid base64 text; using them as a raw key \
                 (end the file with a newline to have it read as base64)",
                bytes.len()
            );
        }
        return Ok((Zeroizing::new(bytes.to_vec()), false));
    }
    match decode_base64_key(bytes) {
        Some(k) if is_aes_len(k.len()) => Ok((k, true)),
        _ => Err(KeyFileError::AesLength {
            path: path.to_path_buf(),
            len: bytes.len(),
        }),
    }
}

/// Reads an AES key file (see [`parse_aes_key`]).
pub fn read_aes_key(path: &Path) -> Result<Zeroizing<Vec<u8>>, KeyFileError> {
    let bytes = read_key_file(path, MAX_AES_KEY_FILE)?;
    let (key, from_base64) = parse_aes_key(path, &bytes)?;
    tracing::debug!(file = %path.display(), bits = key.len() * 8, from_base64, "AES key file read");
    Ok(key)
}

/// The kind of RSA PEM file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PemKind {
    /// `PUBLIC KEY` (SPKI).
    Public,
    /// `PRIVATE KEY` (PKCS#8).
    Private,
}

/// Finds the label of the first PEM block of `text`.
pub fn pem_label(text: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(text).ok()?;
    text.lines().find_map(|line| {
        line.trim()
            .strip_prefix("-----BEGIN ")?
            .strip_suffix("-----")
            .map(str::to_owned)
    })
}

/// Classifies an RSA PEM file's bytes.
pub fn classify_pem(path: &Path, bytes: &[u8]) -> Result<PemKind, KeyFileError> {
    match pem_label(bytes).as_deref() {
        Some("PUBLIC KEY") => Ok(PemKind::Public),
        Some("PRIVATE KEY") => Ok(PemKind::Private),
        Some(label) => Err(KeyFileError::UnsupportedPem {
            path: path.to_path_buf(),
            label: label.to_owned(),
        }),
        None => Err(KeyFileError::NotPem {
            path: path.to_path_buf(),
        }),
    }
}

/// Reads an RSA PEM file and checks it fits `purpose`: encrypt needs a public key unless
/// `private_ok_for_encrypt` (the library can derive the public key), decrypt a private key.
pub fn read_rsa_pem(
    path: &Path,
    purpose: Purpose,
    private_ok_for_encrypt: bool,
) -> Result<(Zeroizing<Vec<u8>>, PemKind), KeyFileError> {
    let bytes = read_key_file(path, MAX_RSA_KEY_FILE)?;
    let kind = classify_pem(path, &bytes)?;
    match (purpose, kind) {
        (Purpose::Encrypt, PemKind::Private) if !private_ok_for_encrypt => {
            Err(KeyFileError::NeedPublic {
                path: path.to_path_buf(),
            })
        }
        (Purpose::Decrypt, PemKind::Public) => Err(KeyFileError::NeedPrivate {
            path: path.to_path_buf(),
        }),
        _ => Ok((bytes, kind)),
    }
}
