//! `coffer-core`: envelope encryption in the AWS Encryption SDK message format.
//!
//! Messages written here are read by every AWS Encryption SDK, and the other way round:
//! all 11 algorithm suites, header versions 1 and 2, framed and non-framed bodies, ECDSA
//! signatures, key commitment and the encryption context.
//!
//! The design is *async materials, sync bytes*: getting a data key (a keyring, a materials
//! manager) is async, because it may reach a network or an HSM; everything that touches
//! message bytes is plain `std::io` code. This crate never creates an async runtime.
//!
//! ```
//! use coffer_core::{DecryptConfig, EncryptConfig, EncryptionContext, cmm::DefaultCmm, keyring::RawAesKeyring};
//! use std::sync::Arc;
//! # fn main() -> coffer_core::Result<()> {
//! let keyring = Arc::new(RawAesKeyring::new("my-namespace", "my-key", &[7u8; 32])?);
//! let cmm = Arc::new(DefaultCmm::new(keyring));
//! let mut ctx = EncryptionContext::new();
//! ctx.insert("purpose", "example");
//! let msg = futures::executor::block_on(coffer_core::encrypt(cmm.clone(), &EncryptConfig::default(), &ctx, b"hello"))?;
//! let out = futures::executor::block_on(coffer_core::decrypt(cmm.as_ref(), &DecryptConfig::default(), None, &msg))?;
//! assert_eq!(out.plaintext, b"hello");
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod client;
pub mod cmm;
pub mod context;
mod error;
pub mod format;
pub mod keyring;
mod log;
pub mod materials;
mod primitives;
mod secret;
mod stream;
pub mod suite;
#[cfg(any(test, feature = "test-util"))]
pub mod testing;

pub use client::{
    DEFAULT_FRAME_LENGTH, DEFAULT_MAX_ENCRYPTED_DATA_KEYS, DEFAULT_MAX_FRAME_LENGTH,
    DEFAULT_MAX_NON_FRAMED, DEFAULT_MAX_UNWRAP_ATTEMPTS, DecryptConfig, Decrypted, Decryptor,
    EncryptConfig, Encryptor, ParsedHeader, PreparedEncryption, ReadyToDecrypt, decrypt, encrypt,
};
pub use context::EncryptionContext;
pub use error::{Error, Result, UnwrapAttempt, UnwrapReport};
pub use format::{EncryptedDataKey, MessageHeader};
pub use primitives::{
    GcmKey, HMAC_SHA256_LEN, MacContext, MacKey, SigningKey, VerificationKey, ct_eq, fill_random,
    sha256, sha384,
};
pub use secret::DataKey;
pub use stream::decrypt::{DecryptingReader, Release};
pub use stream::encrypt::EncryptingWriter;
pub use stream::pool::Threads;
pub use suite::{AlgorithmSuite, CommitmentPolicy};

/// Parses a message header without any key (for inspection). Nothing is authenticated.
///
/// # Errors
/// As [`Decryptor::read_header`] with a permissive policy and no frame length limit (no
/// frame is read).
pub fn inspect<R: std::io::Read + ?Sized>(input: &mut R) -> Result<MessageHeader> {
    let cfg = DecryptConfig::default()
        .with_commitment_policy(CommitmentPolicy::RequireEncryptAllowDecrypt)
        .with_max_frame_length(u32::MAX);
    Ok(Decryptor::new(cfg).read_header(input)?.header().clone())
}
