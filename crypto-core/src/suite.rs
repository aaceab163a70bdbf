//! The ESDK algorithm suites and commitment policies.

use crate::error::{Error, Result};
use std::fmt;
use std::str::FromStr;

/// Key derivation used by a suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Kdf {
    /// The data key is the encryption key.
    Identity,
    /// HKDF with SHA-256.
    HkdfSha256,
    /// HKDF with SHA-384.
    HkdfSha384,
    /// HKDF with SHA-512 (committing suites).
    HkdfSha512,
}

/// Signature algorithm of a signing suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignatureAlgorithm {
    /// ECDSA on P-256 with SHA-256.
    EcdsaP256Sha256,
    /// ECDSA on P-384 with SHA-384.
    EcdsaP384Sha384,
}

/// One of the 11 AWS Encryption SDK algorithm suites.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum AlgorithmSuite {
    /// 0x0014 `AES_128_GCM_IV12_TAG16_NO_KDF`
    Aes128GcmNoKdf,
    /// 0x0046 `AES_192_GCM_IV12_TAG16_NO_KDF`
    Aes192GcmNoKdf,
    /// 0x0078 `AES_256_GCM_IV12_TAG16_NO_KDF`
    Aes256GcmNoKdf,
    /// 0x0114 `AES_128_GCM_IV12_TAG16_HKDF_SHA256`
    Aes128GcmHkdfSha256,
    /// 0x0146 `AES_192_GCM_IV12_TAG16_HKDF_SHA256`
    Aes192GcmHkdfSha256,
    /// 0x0178 `AES_256_GCM_IV12_TAG16_HKDF_SHA256`
    Aes256GcmHkdfSha256,
    /// 0x0214 `AES_128_GCM_IV12_TAG16_HKDF_SHA256_ECDSA_P256`
    Aes128GcmHkdfSha256EcdsaP256,
    /// 0x0346 `AES_192_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384`
    Aes192GcmHkdfSha384EcdsaP384,
    /// 0x0378 `AES_256_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384`
    Aes256GcmHkdfSha384EcdsaP384,
    /// 0x0478 `AES_256_GCM_HKDF_SHA512_COMMIT_KEY`
    Aes256GcmHkdfSha512CommitKey,
    /// 0x0578 `AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384`
    Aes256GcmHkdfSha512CommitKeyEcdsaP384,
}

use AlgorithmSuite as S;

impl AlgorithmSuite {
    /// All suites, in id order.
    pub const ALL: [Self; 11] = [
        S::Aes128GcmNoKdf,
        S::Aes192GcmNoKdf,
        S::Aes256GcmNoKdf,
        S::Aes128GcmHkdfSha256,
        S::Aes192GcmHkdfSha256,
        S::Aes256GcmHkdfSha256,
        S::Aes128GcmHkdfSha256EcdsaP256,
        S::Aes192GcmHkdfSha384EcdsaP384,
        S::Aes256GcmHkdfSha384EcdsaP384,
        S::Aes256GcmHkdfSha512CommitKey,
        S::Aes256GcmHkdfSha512CommitKeyEcdsaP384,
    ];

    /// The two-byte suite id.
    #[must_use]
    pub const fn id(self) -> u16 {
        match self {
            S::Aes128GcmNoKdf => 0x0014,
            S::Aes192GcmNoKdf => 0x0046,
            S::Aes256GcmNoKdf => 0x0078,
            S::Aes128GcmHkdfSha256 => 0x0114,
            S::Aes192GcmHkdfSha256 => 0x0146,
            S::Aes256GcmHkdfSha256 => 0x0178,
            S::Aes128GcmHkdfSha256EcdsaP256 => 0x0214,
            S::Aes192GcmHkdfSha384EcdsaP384 => 0x0346,
            S::Aes256GcmHkdfSha384EcdsaP384 => 0x0378,
            S::Aes256GcmHkdfSha512CommitKey => 0x0478,
            S::Aes256GcmHkdfSha512CommitKeyEcdsaP384 => 0x0578,
        }
    }

    /// Looks a suite up by id. S3EC and DBE ids are not ESDK suites and are rejected.
    ///
    /// # Errors
    /// [`Error::UnknownSuite`] for any other id.
    pub fn from_id(id: u16) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|s| s.id() == id)
            .ok_or(Error::UnknownSuite(id))
    }

    /// The ESDK name, without the `ALG_` prefix.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            S::Aes128GcmNoKdf => "AES_128_GCM_IV12_TAG16_NO_KDF",
            S::Aes192GcmNoKdf => "AES_192_GCM_IV12_TAG16_NO_KDF",
            S::Aes256GcmNoKdf => "AES_256_GCM_IV12_TAG16_NO_KDF",
            S::Aes128GcmHkdfSha256 => "AES_128_GCM_IV12_TAG16_HKDF_SHA256",
            S::Aes192GcmHkdfSha256 => "AES_192_GCM_IV12_TAG16_HKDF_SHA256",
            S::Aes256GcmHkdfSha256 => "AES_256_GCM_IV12_TAG16_HKDF_SHA256",
            S::Aes128GcmHkdfSha256EcdsaP256 => "AES_128_GCM_IV12_TAG16_HKDF_SHA256_ECDSA_P256",
            S::Aes192GcmHkdfSha384EcdsaP384 => "AES_192_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384",
            S::Aes256GcmHkdfSha384EcdsaP384 => "AES_256_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384",
            S::Aes256GcmHkdfSha512CommitKey => "AES_256_GCM_HKDF_SHA512_COMMIT_KEY",
            S::Aes256GcmHkdfSha512CommitKeyEcdsaP384 => {
                "AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384"
            }
        }
    }

    /// Message format version: 1 for legacy suites, 2 for committing suites.
    #[must_use]
    pub const fn message_version(self) -> u8 {
        if self.is_committing() { 2 } else { 1 }
    }

    /// Data key (and encryption key) length in bytes.
    #[must_use]
    pub const fn data_key_len(self) -> usize {
        match self {
            S::Aes128GcmNoKdf | S::Aes128GcmHkdfSha256 | S::Aes128GcmHkdfSha256EcdsaP256 => 16,
            S::Aes192GcmNoKdf | S::Aes192GcmHkdfSha256 | S::Aes192GcmHkdfSha384EcdsaP384 => 24,
            _ => 32,
        }
    }

    /// The key derivation function.
    #[must_use]
    pub const fn kdf(self) -> Kdf {
        match self {
            S::Aes128GcmNoKdf | S::Aes192GcmNoKdf | S::Aes256GcmNoKdf => Kdf::Identity,
            S::Aes128GcmHkdfSha256
            | S::Aes192GcmHkdfSha256
            | S::Aes256GcmHkdfSha256
            | S::Aes128GcmHkdfSha256EcdsaP256 => Kdf::HkdfSha256,
            S::Aes192GcmHkdfSha384EcdsaP384 | S::Aes256GcmHkdfSha384EcdsaP384 => Kdf::HkdfSha384,
            S::Aes256GcmHkdfSha512CommitKey | S::Aes256GcmHkdfSha512CommitKeyEcdsaP384 => {
                Kdf::HkdfSha512
            }
        }
    }

    /// The signature algorithm, for signing suites.
    #[must_use]
    pub const fn signature(self) -> Option<SignatureAlgorithm> {
        match self {
            S::Aes128GcmHkdfSha256EcdsaP256 => Some(SignatureAlgorithm::EcdsaP256Sha256),
            S::Aes192GcmHkdfSha384EcdsaP384
            | S::Aes256GcmHkdfSha384EcdsaP384
            | S::Aes256GcmHkdfSha512CommitKeyEcdsaP384 => Some(SignatureAlgorithm::EcdsaP384Sha384),
            _ => None,
        }
    }

    /// Whether messages carry an ECDSA footer.
    #[must_use]
    pub const fn is_signing(self) -> bool {
        self.signature().is_some()
    }

    /// Whether the suite commits to its data key (0x0478, 0x0578).
    #[must_use]
    pub const fn is_committing(self) -> bool {
        matches!(
            self,
            S::Aes256GcmHkdfSha512CommitKey | S::Aes256GcmHkdfSha512CommitKeyEcdsaP384
        )
    }

    /// Message id length: 16 bytes (v1) or 32 bytes (v2).
    #[must_use]
    pub const fn message_id_len(self) -> usize {
        if self.is_committing() { 32 } else { 16 }
    }
}

impl fmt::Display for AlgorithmSuite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04X} {}", self.id(), self.name())
    }
}

impl FromStr for AlgorithmSuite {
    type Err = Error;

    /// Accepts the hex id (`0478`, `0x0478`) or the ESDK name (with or without `ALG_`).
    fn from_str(s: &str) -> Result<Self> {
        let t = s.trim();
        let hex = t
            .strip_prefix("0x")
            .or_else(|| t.strip_prefix("0X"))
            .unwrap_or(t);
        if hex.len() == 4 && hex.chars().all(|c| c.is_ascii_hexdigit()) {
            let id = u16::from_str_radix(hex, 16)
                .map_err(|_| Error::ApiMisuse(format!("bad suite id {s:?}")))?;
            return Self::from_id(id);
        }
        let upper = t.to_ascii_uppercase();
        let name = upper.strip_prefix("ALG_").unwrap_or(&upper);
        Self::ALL
            .into_iter()
            .find(|suite| suite.name() == name)
            .ok_or_else(|| {
                Error::ApiMisuse(format!(
                    "unknown algorithm suite {s:?}: give a hex id such as 0578 or an ESDK name"
                ))
            })
    }
}

/// The ESDK commitment policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum CommitmentPolicy {
    /// Encrypt with non-committing suites only; decrypt anything.
    ForbidEncryptAllowDecrypt,
    /// Encrypt with committing suites only; decrypt anything.
    RequireEncryptAllowDecrypt,
    /// Encrypt and decrypt committing suites only (the default).
    #[default]
    RequireEncryptRequireDecrypt,
}

impl CommitmentPolicy {
    /// The suite used when none is requested.
    #[must_use]
    pub const fn default_suite(self) -> AlgorithmSuite {
        match self {
            Self::ForbidEncryptAllowDecrypt => S::Aes256GcmHkdfSha384EcdsaP384,
            _ => S::Aes256GcmHkdfSha512CommitKeyEcdsaP384,
        }
    }

    /// Checks that encryption with `suite` is allowed.
    ///
    /// # Errors
    /// [`Error::Policy`] when the policy forbids the suite.
    pub fn check_encrypt(self, suite: AlgorithmSuite) -> Result<()> {
        let ok = match self {
            Self::ForbidEncryptAllowDecrypt => !suite.is_committing(),
            _ => suite.is_committing(),
        };
        if ok {
            Ok(())
        } else {
            Err(Error::Policy(format!(
                "commitment policy {self} does not allow encrypting with suite {suite}"
            )))
        }
    }

    /// Checks that decryption of `suite` is allowed.
    ///
    /// # Errors
    /// [`Error::Policy`] when the policy forbids the suite.
    pub fn check_decrypt(self, suite: AlgorithmSuite) -> Result<()> {
        if self == Self::RequireEncryptRequireDecrypt && !suite.is_committing() {
            return Err(Error::Policy(format!(
                "commitment policy {self} does not allow decrypting suite {suite} (it does not \
                 commit to its key); use require-encrypt-allow-decrypt to read older messages"
            )));
        }
        Ok(())
    }

    /// The kebab-case name.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::ForbidEncryptAllowDecrypt => "forbid-encrypt-allow-decrypt",
            Self::RequireEncryptAllowDecrypt => "require-encrypt-allow-decrypt",
            Self::RequireEncryptRequireDecrypt => "require-encrypt-require-decrypt",
        }
    }
}

impl fmt::Display for CommitmentPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for CommitmentPolicy {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let norm = s.trim().to_ascii_lowercase().replace('_', "-");
        [
            Self::ForbidEncryptAllowDecrypt,
            Self::RequireEncryptAllowDecrypt,
            Self::RequireEncryptRequireDecrypt,
        ]
        .into_iter()
        .find(|p| p.name() == norm)
        .ok_or_else(|| Error::ApiMisuse(format!("unknown commitment policy {s:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip() {
        for s in AlgorithmSuite::ALL {
            assert_eq!(AlgorithmSuite::from_id(s.id()).ok(), Some(s));
            assert_eq!(s.name().parse::<AlgorithmSuite>().ok(), Some(s));
            assert_eq!(
                format!("{:04x}", s.id()).parse::<AlgorithmSuite>().ok(),
                Some(s)
            );
        }
    }

    #[test]
    fn foreign_ids_rejected() {
        for id in [
            0x0000, 0x0070, 0x0071, 0x0072, 0x0073, 0x0074, 0x6700, 0x6701, 0xFFFF,
        ] {
            assert!(matches!(
                AlgorithmSuite::from_id(id),
                Err(Error::UnknownSuite(_))
            ));
        }
    }

    #[test]
    fn policy() {
        let p = CommitmentPolicy::default();
        assert_eq!(p.default_suite().id(), 0x0578);
        assert!(p.check_encrypt(AlgorithmSuite::Aes256GcmNoKdf).is_err());
        assert!(p.check_decrypt(AlgorithmSuite::Aes256GcmNoKdf).is_err());
        assert!(
            CommitmentPolicy::ForbidEncryptAllowDecrypt
                .check_encrypt(AlgorithmSuite::Aes256GcmHkdfSha512CommitKey)
                .is_err()
        );
        assert_eq!(
            "require-encrypt-allow-decrypt"
                .parse::<CommitmentPolicy>()
                .ok(),
            Some(CommitmentPolicy::RequireEncryptAllowDecrypt)
        );
    }
}
