//! Byte work: message keys, the encrypting writer and the decrypting reader. All sync.

pub(crate) mod decrypt;
pub(crate) mod encrypt;
mod hash;
pub(crate) mod pool;

#[cfg(test)]
mod parallel_tests;

pub(crate) use hash::SignatureHash;

use crate::error::{Error, Result};
use crate::primitives::{self, GcmKey, Hash, IV_LEN};
use crate::secret::DataKey;
use crate::suite::{AlgorithmSuite, Kdf};

/// The per-message encryption key and, for committing suites, the commitment.
pub(crate) struct MessageKeys {
    pub(crate) gcm: GcmKey,
    pub(crate) commitment: Option<[u8; 32]>,
}

/// Derives the message keys from the data key (ESDK key derivation).
pub(crate) fn derive_keys(
    suite: AlgorithmSuite,
    data_key: &DataKey,
    message_id: &[u8],
) -> Result<MessageKeys> {
    if data_key.len() != suite.data_key_len() {
        return Err(Error::Malformed(
            "data key length does not match the suite".into(),
        ));
    }
    let ikm = data_key.expose_secret();
    let suite_id = suite.id().to_be_bytes();
    Ok(match suite.kdf() {
        Kdf::Identity => MessageKeys {
            gcm: GcmKey::new(ikm)?,
            commitment: None,
        },
        Kdf::HkdfSha256 | Kdf::HkdfSha384 => {
            let hash = if suite.kdf() == Kdf::HkdfSha256 {
                Hash::Sha256
            } else {
                Hash::Sha384
            };
            let k = primitives::hkdf(
                hash,
                &[],
                ikm,
                &[&suite_id, message_id],
                suite.data_key_len(),
            )?;
            MessageKeys {
                gcm: GcmKey::new(k.expose_secret())?,
                commitment: None,
            }
        }
        Kdf::HkdfSha512 => {
            let k = primitives::hkdf(
                Hash::Sha512,
                message_id,
                ikm,
                &[&suite_id, b"DERIVEKEY"],
                32,
            )?;
            let c = primitives::hkdf(Hash::Sha512, message_id, ikm, &[b"COMMITKEY"], 32)?;
            let mut commitment = [0u8; 32];
            commitment.copy_from_slice(c.expose_secret());
            MessageKeys {
                gcm: GcmKey::new(k.expose_secret())?,
                commitment: Some(commitment),
            }
        }
    })
}

/// The IV used for header authentication in v2 messages.
pub(crate) const ZERO_IV: [u8; IV_LEN] = [0; IV_LEN];
