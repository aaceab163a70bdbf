//! Cache identifiers, as the ESDK specification's current formulas (SHA-384 over
//! NUL-separated fields): a resource byte (`0x01` materials, `0x02` branch keys), a scope
//! byte (`0x01` encrypt, `0x02` decrypt), the partition id, then what selects the entry.
//! Entries of different partitions, scopes or resources never share an id.

use coffer_core::{AlgorithmSuite, EncryptedDataKey, EncryptionContext, Result, sha384};

use crate::local::CacheId;

const NUL: &[u8] = &[0];
const MATERIALS: &[u8] = &[0x01];
const BRANCH_KEYS: &[u8] = &[0x02];
const ENCRYPT: &[u8] = &[0x01];
const DECRYPT: &[u8] = &[0x02];

/// Encryption materials: `SHA384(0x01 ‖ 0 ‖ 0x01 ‖ 0 ‖ partition ‖ 0 ‖ 0x00 ‖ 0 ‖ ser(EC))`
/// without a requested suite, `… ‖ 0x01 ‖ 0 ‖ suite id ‖ 0 ‖ ser(EC)` with one.
///
/// # Errors
/// A context that cannot be serialized.
pub fn encryption(
    partition: &[u8],
    suite: Option<AlgorithmSuite>,
    context: &EncryptionContext,
) -> Result<CacheId> {
    let ec = context.serialize()?;
    Ok(match suite {
        None => sha384(&[
            MATERIALS,
            NUL,
            ENCRYPT,
            NUL,
            partition,
            NUL,
            &[0x00],
            NUL,
            &ec,
        ]),
        Some(s) => sha384(&[
            MATERIALS,
            NUL,
            ENCRYPT,
            NUL,
            partition,
            NUL,
            &[0x01],
            NUL,
            &s.id().to_be_bytes(),
            NUL,
            &ec,
        ]),
    })
}

/// Decryption materials: `SHA384(0x01 ‖ 0 ‖ 0x02 ‖ 0 ‖ partition ‖ 0 ‖ suite id ‖ 0 ‖
/// concat(sorted(ser(EDK))) ‖ 0 ‖ ser(EC))`.
///
/// # Errors
/// A context or data key that cannot be serialized.
pub fn decryption(
    partition: &[u8],
    suite: AlgorithmSuite,
    edks: &[EncryptedDataKey],
    context: &EncryptionContext,
) -> Result<CacheId> {
    let mut keys = edks
        .iter()
        .map(EncryptedDataKey::serialize)
        .collect::<Result<Vec<_>>>()?;
    keys.sort();
    let keys = keys.concat();
    let ec = context.serialize()?;
    Ok(sha384(&[
        MATERIALS,
        NUL,
        DECRYPT,
        NUL,
        partition,
        NUL,
        &suite.id().to_be_bytes(),
        NUL,
        &keys,
        NUL,
        &ec,
    ]))
}

/// A branch key: the active version (`version` `None`, encrypt scope) or one version
/// (decrypt scope): `SHA384(0x02 ‖ 0 ‖ scope ‖ 0 ‖ partition ‖ 0 ‖ key store name ‖ 0 ‖
/// branch key id [‖ 0 ‖ version])`.
#[must_use]
pub fn branch_key(
    partition: &[u8],
    store_name: &str,
    branch_key_id: &str,
    version: Option<&[u8; 16]>,
) -> CacheId {
    match version {
        None => sha384(&[
            BRANCH_KEYS,
            NUL,
            ENCRYPT,
            NUL,
            partition,
            NUL,
            store_name.as_bytes(),
            NUL,
            branch_key_id.as_bytes(),
        ]),
        Some(v) => sha384(&[
            BRANCH_KEYS,
            NUL,
            DECRYPT,
            NUL,
            partition,
            NUL,
            store_name.as_bytes(),
            NUL,
            branch_key_id.as_bytes(),
            NUL,
            v,
        ]),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    fn ec(pairs: &[(&str, &str)]) -> EncryptionContext {
        let mut c = EncryptionContext::new();
        for (k, v) in pairs {
            c.insert(*k, *v);
        }
        c
    }

    fn edk(id: &str, ct: &[u8]) -> EncryptedDataKey {
        EncryptedDataKey {
            provider_id: id.into(),
            provider_info: b"info".to_vec(),
            ciphertext: ct.to_vec(),
        }
    }

    #[test]
    fn encryption_ids_follow_the_formula() {
        let c = ec(&[("a", "b")]);
        let ser = c.serialize().unwrap();
        let mut pre = vec![1, 0, 1, 0];
        pre.extend_from_slice(b"p");
        pre.extend_from_slice(&[0, 0, 0]);
        pre.extend_from_slice(&ser);
        assert_eq!(encryption(b"p", None, &c).unwrap(), sha384(&[&pre]));
        let s = AlgorithmSuite::Aes256GcmHkdfSha512CommitKey;
        let mut pre = vec![1, 0, 1, 0];
        pre.extend_from_slice(b"p");
        pre.extend_from_slice(&[0, 1, 0]);
        pre.extend_from_slice(&s.id().to_be_bytes());
        pre.push(0);
        pre.extend_from_slice(&ser);
        assert_eq!(encryption(b"p", Some(s), &c).unwrap(), sha384(&[&pre]));
    }

    #[test]
    fn ids_separate_what_must_not_share_an_entry() {
        let c = ec(&[("a", "b")]);
        let s = AlgorithmSuite::Aes256GcmHkdfSha512CommitKey;
        let base = encryption(b"p", Some(s), &c).unwrap();
        assert_ne!(base, encryption(b"q", Some(s), &c).unwrap());
        assert_ne!(base, encryption(b"p", None, &c).unwrap());
        assert_ne!(base, encryption(b"p", Some(s), &ec(&[("a", "c")])).unwrap());
        let other = AlgorithmSuite::Aes256GcmHkdfSha512CommitKeyEcdsaP384;
        assert_ne!(base, encryption(b"p", Some(other), &c).unwrap());
        let d = decryption(b"p", s, &[edk("x", b"1")], &c).unwrap();
        assert_ne!(d, base);
        assert_ne!(d, decryption(b"p", s, &[edk("x", b"2")], &c).unwrap());
        assert_ne!(d, decryption(b"p", other, &[edk("x", b"1")], &c).unwrap());
        let active = branch_key(b"p", "store", "k", None);
        assert_ne!(active, branch_key(b"p", "store", "k", Some(&[0; 16])));
        assert_ne!(active, branch_key(b"p", "other", "k", None));
    }

    #[test]
    fn the_order_of_data_keys_does_not_matter() {
        let c = ec(&[]);
        let s = AlgorithmSuite::Aes256GcmHkdfSha512CommitKey;
        let (a, b) = (edk("a", b"1"), edk("b", b"2"));
        assert_eq!(
            decryption(b"p", s, &[a.clone(), b.clone()], &c).unwrap(),
            decryption(b"p", s, &[b, a], &c).unwrap()
        );
    }
}
