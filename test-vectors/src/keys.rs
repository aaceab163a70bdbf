//! Keys-manifest entries and key descriptions turned into coffer-core keyrings.

use std::sync::Arc;

use base64::Engine as _;
use coffer_core::keyring::{Keyring, MultiKeyring, RawAesKeyring, RawRsaKeyring, RsaPadding};

use crate::manifest::{
    KeyDescription, KeyMaterial, KeysManifest, RawAlgorithm, RawKeyDescription, RsaPaddingSpec,
};

/// What a test's `master-keys` turn into.
#[derive(Clone)]
pub enum KeyringPlan {
    /// A keyring that can decrypt with any of the test's keys.
    Ready(Arc<dyn Keyring>),
    /// The test cannot run here; the text says why (e.g. it needs AWS KMS).
    Skip(String),
}

impl std::fmt::Debug for KeyringPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Ready(_) => f.write_str("Ready(..)"),
            Self::Skip(reason) => f.debug_tuple("Skip").field(reason).finish(),
        }
    }
}

/// The coffer-core padding for a manifest padding.
pub fn rsa_padding(spec: RsaPaddingSpec) -> RsaPadding {
    match spec {
        RsaPaddingSpec::Pkcs1 => RsaPadding::Pkcs1,
        RsaPaddingSpec::OaepSha1 => RsaPadding::OaepSha1,
        RsaPaddingSpec::OaepSha256 => RsaPadding::OaepSha256,
        RsaPaddingSpec::OaepSha384 => RsaPadding::OaepSha384,
        RsaPaddingSpec::OaepSha512 => RsaPadding::OaepSha512,
    }
}

/// Builds the keyring for one test's `master-keys`: one keyring per key
/// description, combined in a multi-keyring (no generator) when there are
/// several. Any unsupported key makes the whole test a skip. `Err` means the
/// description does not fit its key (a broken test).
pub fn keyring_for_test(
    master_keys: &[KeyDescription],
    keys: &KeysManifest,
) -> Result<KeyringPlan, String> {
    let mut children: Vec<Arc<dyn Keyring>> = Vec::with_capacity(master_keys.len());
    for description in master_keys {
        match description {
            KeyDescription::Unsupported(reason) => return Ok(KeyringPlan::Skip(reason.clone())),
            KeyDescription::Raw(raw) => match raw_keyring(raw, keys)? {
                KeyringPlan::Ready(keyring) => children.push(keyring),
                skip @ KeyringPlan::Skip(_) => return Ok(skip),
            },
        }
    }
    match children.len() {
        0 => Err("no master keys".into()),
        1 => Ok(KeyringPlan::Ready(children.remove(0))),
        _ => MultiKeyring::new(None, children)
            .map(|multi| KeyringPlan::Ready(Arc::new(multi) as Arc<dyn Keyring>))
            .map_err(|e| format!("cannot build multi-keyring: {e}")),
    }
}

/// Builds the keyring of one raw key description. The keyring namespace is
/// the description's `provider-id`, the key name the key's `key-id`.
pub fn raw_keyring(desc: &RawKeyDescription, keys: &KeysManifest) -> Result<KeyringPlan, String> {
    let entry = keys
        .keys
        .get(&desc.key)
        .ok_or_else(|| format!("key {:?} is not in the keys manifest", desc.key))?;
    let built: coffer_core::Result<Arc<dyn Keyring>> = match (desc.algorithm, &entry.material) {
        (_, KeyMaterial::Unsupported(reason)) => {
            return Ok(KeyringPlan::Skip(format!("key {}: {reason}", entry.name)));
        }
        (RawAlgorithm::Aes, KeyMaterial::Aes(bytes)) => {
            RawAesKeyring::new(&desc.provider_id, &entry.key_id, bytes)
                .map(|k| Arc::new(k) as Arc<dyn Keyring>)
        }
        (RawAlgorithm::Rsa(padding), KeyMaterial::RsaPrivatePem(pem)) => {
            let pem = pkcs1_to_pkcs8(pem).map_err(|e| format!("key {:?}: {e}", entry.name))?;
            RawRsaKeyring::new(
                &desc.provider_id,
                &entry.key_id,
                rsa_padding(padding),
                None,
                Some(pem.as_bytes()),
            )
            .map(|k| Arc::new(k) as Arc<dyn Keyring>)
        }
        (RawAlgorithm::Rsa(padding), KeyMaterial::RsaPublicPem(pem)) => {
            let pem = pkcs1_to_pkcs8(pem).map_err(|e| format!("key {:?}: {e}", entry.name))?;
            RawRsaKeyring::new(
                &desc.provider_id,
                &entry.key_id,
                rsa_padding(padding),
                Some(pem.as_bytes()),
                None,
            )
            .map(|k| Arc::new(k) as Arc<dyn Keyring>)
        }
        (RawAlgorithm::Aes, _) => {
            return Err(format!("key {:?} is not an AES key", entry.name));
        }
        (RawAlgorithm::Rsa(_), _) => {
            return Err(format!("key {:?} is not an RSA key", entry.name));
        }
    };
    built
        .map(KeyringPlan::Ready)
        .map_err(|e| format!("cannot build keyring for key {:?}: {e}", entry.name))
}

/// Old keys manifests hold RSA keys in PKCS#1 PEM (`RSA PRIVATE KEY` /
/// `RSA PUBLIC KEY`); coffer-core takes PKCS#8 / SubjectPublicKeyInfo. This
/// wraps PKCS#1 keys accordingly and returns any other PEM unchanged.
pub fn pkcs1_to_pkcs8(pem: &str) -> Result<String, String> {
    const PRIVATE: &str = "RSA PRIVATE KEY";
    const PUBLIC: &str = "RSA PUBLIC KEY";
    // AlgorithmIdentifier { rsaEncryption, NULL }.
    const RSA_ALGORITHM_ID: [u8; 15] = [
        0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
    ];
    let label = if pem.contains(&format!("-----BEGIN {PRIVATE}-----")) {
        PRIVATE
    } else if pem.contains(&format!("-----BEGIN {PUBLIC}-----")) {
        PUBLIC
    } else {
        return Ok(pem.to_owned());
    };
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let body = pem
        .split_once(&begin)
        .and_then(|(_, rest)| rest.split_once(&end))
        .map(|(body, _)| body)
        .ok_or_else(|| format!("unterminated {label} PEM"))?;
    let b64: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|e| format!("bad {label} PEM: {e}"))?;
    let (wrapped, out_label) = if label == PRIVATE {
        // PrivateKeyInfo { version 0, algorithm, OCTET STRING pkcs1 }.
        let mut content = vec![0x02, 0x01, 0x00];
        content.extend_from_slice(&RSA_ALGORITHM_ID);
        content.extend(der_tlv(0x04, &der));
        (der_tlv(0x30, &content), "PRIVATE KEY")
    } else {
        // SubjectPublicKeyInfo { algorithm, BIT STRING (0 unused bits) pkcs1 }.
        let mut bits = vec![0x00];
        bits.extend_from_slice(&der);
        let mut content = RSA_ALGORITHM_ID.to_vec();
        content.extend(der_tlv(0x03, &bits));
        (der_tlv(0x30, &content), "PUBLIC KEY")
    };
    let encoded = base64::engine::general_purpose::STANDARD.encode(wrapped);
    let mut out = format!("-----BEGIN {out_label}-----\n");
    for line in encoded.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {out_label}-----\n"));
    Ok(out)
}

/// DER tag-length-value.
fn der_tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let len = content.len();
    let mut out = vec![tag];
    if len < 0x80 {
        out.push(u8::try_from(len).unwrap_or(0));
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        let significant = &bytes[skip..];
        out.push(0x80 | u8::try_from(significant.len()).unwrap_or(0));
        out.extend_from_slice(significant);
    }
    out.extend_from_slice(content);
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    use super::*;
    use crate::manifest::KeyEntry;

    fn keys() -> KeysManifest {
        let entry = |name: &str, material| KeyEntry {
            name: name.into(),
            key_id: name.into(),
            encrypt: true,
            decrypt: true,
            material,
        };
        KeysManifest {
            path: PathBuf::from("keys.json"),
            version: 3,
            keys: BTreeMap::from([
                ("aes".into(), entry("aes", KeyMaterial::Aes(vec![7; 32]))),
                (
                    "rsa-private".into(),
                    entry(
                        "rsa-private",
                        KeyMaterial::RsaPrivatePem(crate::builtin::RSA_PRIVATE_PEM.into()),
                    ),
                ),
                (
                    "rsa-public".into(),
                    entry(
                        "rsa-public",
                        KeyMaterial::RsaPublicPem(crate::builtin::RSA_PUBLIC_PEM.into()),
                    ),
                ),
                (
                    "kms".into(),
                    entry("kms", KeyMaterial::Unsupported("needs AWS KMS".into())),
                ),
            ]),
        }
    }

    fn raw(key: &str, algorithm: RawAlgorithm) -> KeyDescription {
        KeyDescription::Raw(RawKeyDescription {
            key: key.into(),
            provider_id: "ns".into(),
            algorithm,
        })
    }

    #[test]
    fn pkcs1_keys_are_rewrapped() {
        let private = include_str!("../vectors/keys/rsa-4096-private.pkcs1.pem");
        let public = include_str!("../vectors/keys/rsa-4096-public.pkcs1.pem");
        assert_eq!(
            pkcs1_to_pkcs8(private).unwrap(),
            crate::builtin::RSA_PRIVATE_PEM
        );
        assert_eq!(
            pkcs1_to_pkcs8(public).unwrap(),
            crate::builtin::RSA_PUBLIC_PEM
        );
        assert_eq!(
            pkcs1_to_pkcs8(crate::builtin::RSA_PUBLIC_PEM).unwrap(),
            crate::builtin::RSA_PUBLIC_PEM
        );
        assert!(pkcs1_to_pkcs8("-----BEGIN RSA PUBLIC KEY-----\nAAAA").is_err());
        assert!(
            pkcs1_to_pkcs8("-----BEGIN RSA PUBLIC KEY-----\n!!\n-----END RSA PUBLIC KEY-----")
                .is_err()
        );
        assert_eq!(der_tlv(0x04, &[1; 200])[..3], [0x04, 0x81, 200]);
        assert_eq!(der_tlv(0x04, &[1; 300])[..4], [0x04, 0x82, 0x01, 0x2c]);
    }

    #[test]
    fn builds_keyrings() {
        let keys = keys();
        let rsa = RawAlgorithm::Rsa(RsaPaddingSpec::OaepSha256);
        for descs in [
            vec![raw("aes", RawAlgorithm::Aes)],
            vec![raw("rsa-private", rsa)],
            vec![raw("rsa-public", rsa)],
            vec![raw("aes", RawAlgorithm::Aes), raw("rsa-private", rsa)],
        ] {
            assert!(matches!(
                keyring_for_test(&descs, &keys),
                Ok(KeyringPlan::Ready(_))
            ));
        }
    }

    #[test]
    fn skips_and_errors() {
        let keys = keys();
        let plan = keyring_for_test(
            &[
                raw("aes", RawAlgorithm::Aes),
                KeyDescription::Unsupported("needs AWS KMS".into()),
            ],
            &keys,
        )
        .unwrap();
        assert!(matches!(plan, KeyringPlan::Skip(r) if r == "needs AWS KMS"));
        let plan = keyring_for_test(&[raw("kms", RawAlgorithm::Aes)], &keys).unwrap();
        assert!(matches!(plan, KeyringPlan::Skip(r) if r.contains("AWS KMS")));
        let err = keyring_for_test(
            &[raw("aes", RawAlgorithm::Rsa(RsaPaddingSpec::Pkcs1))],
            &keys,
        )
        .unwrap_err();
        assert!(err.contains("not an RSA key"), "{err}");
        let err = keyring_for_test(&[raw("rsa-private", RawAlgorithm::Aes)], &keys).unwrap_err();
        assert!(err.contains("not an AES key"), "{err}");
        let err = keyring_for_test(&[raw("nope", RawAlgorithm::Aes)], &keys).unwrap_err();
        assert!(err.contains("not in the keys manifest"), "{err}");
        assert!(keyring_for_test(&[], &keys).is_err());
    }
}
