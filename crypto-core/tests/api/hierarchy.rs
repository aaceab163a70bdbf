//! The hierarchical keyring through the public API: full-client round trips across branch
//! key rotation, refusals, and tampering. The byte-level known-answer tests live next to
//! the keyring (`src/keyring/hierarchy.rs`), because they need its deterministic hook.

use super::common::*;
use coffer_core::keyring::hierarchy::{PROVIDER_ID, describe_edk, format_version};
use coffer_core::keyring::{BranchKey, HierarchicalKeyring, Keyring, MultiKeyring};
use coffer_core::materials::{DecryptionMaterials, EncryptionMaterials};
use coffer_core::{
    AlgorithmSuite, DecryptConfig, EncryptConfig, EncryptedDataKey, EncryptionContext, Error,
    Result,
};
use std::collections::BTreeSet;
use std::sync::Arc;

const SUITES: [u16; 2] = [0x0478, 0x0578];

use coffer_core::testing::MemoryBranchKeyStore as MemStore;

/// Holds version `version` of branch key `id`, of `material`.
fn add(s: &MemStore, id: &str, version: [u8; 16], material: [u8; 32]) {
    s.insert(BranchKey::new(id, version, &material).unwrap());
}

const V1: [u8; 16] = [0x11; 16];
const V2: [u8; 16] = [0x22; 16];

fn store() -> Arc<MemStore> {
    let s = Arc::new(MemStore::default());
    add(&s, "tenant-a", V1, [1; 32]);
    add(&s, "tenant-a", V2, [2; 32]);
    add(&s, "tenant-b", V1, [3; 32]);
    s.activate("tenant-a", V1);
    s.activate("tenant-b", V1);
    s
}

fn ctx() -> EncryptionContext {
    [("app", "secrets"), ("clé", "värde ✓")]
        .into_iter()
        .collect()
}

fn cfg(suite: u16) -> EncryptConfig {
    EncryptConfig::default().with_suite(Some(AlgorithmSuite::from_id(suite).unwrap()))
}

fn encrypt_with(k: Arc<dyn Keyring>, suite: u16, pt: &[u8]) -> Vec<u8> {
    block(coffer_core::encrypt(cmm(k), &cfg(suite), &ctx(), pt)).unwrap()
}

fn decrypt_with(k: Arc<dyn Keyring>, msg: &[u8]) -> Result<Vec<u8>> {
    let c = cmm(k);
    block(coffer_core::decrypt(
        c.as_ref(),
        &DecryptConfig::default(),
        None,
        msg,
    ))
    .map(|d| d.plaintext)
}

fn edks_of(msg: &[u8]) -> Vec<EncryptedDataKey> {
    coffer_core::inspect(&mut &msg[..]).unwrap().edks
}

#[test]
fn round_trip_across_rotation_for_both_committing_suites() {
    let s = store();
    let kr: Arc<dyn Keyring> = Arc::new(HierarchicalKeyring::new(s.clone(), "tenant-a"));
    let any: Arc<dyn Keyring> = Arc::new(HierarchicalKeyring::any_branch_key(s.clone()));
    for suite in SUITES {
        s.activate("tenant-a", V1);
        let old = encrypt_with(kr.clone(), suite, b"under v1");
        s.activate("tenant-a", V2);
        let new = encrypt_with(kr.clone(), suite, b"under v2");

        for (msg, version) in [(&old, V1), (&new, V2)] {
            let edks = edks_of(msg);
            assert_eq!(edks.len(), 1);
            assert_eq!(edks[0].provider_id, PROVIDER_ID);
            assert_eq!(
                describe_edk(&edks[0]),
                Some(("tenant-a".to_owned(), version))
            );
        }
        assert_eq!(decrypt_with(kr.clone(), &old).unwrap(), b"under v1");
        assert_eq!(decrypt_with(kr.clone(), &new).unwrap(), b"under v2");
        assert_eq!(decrypt_with(any.clone(), &old).unwrap(), b"under v1");
        assert_eq!(decrypt_with(any.clone(), &new).unwrap(), b"under v2");
    }
    s.activate("tenant-a", V1);
}

#[test]
fn decrypt_asks_the_store_for_the_edk_version_only() {
    let s = store();
    let kr: Arc<dyn Keyring> = Arc::new(HierarchicalKeyring::new(s.clone(), "tenant-a"));
    let msg = encrypt_with(kr.clone(), 0x0478, b"x");
    s.activate("tenant-a", V2);
    s.forget_asked();
    assert_eq!(decrypt_with(kr, &msg).unwrap(), b"x");
    assert_eq!(s.asked(), vec![V1]);
}

#[test]
fn any_branch_key_keyring_cannot_encrypt() {
    let kr = HierarchicalKeyring::any_branch_key(store());
    let suite = AlgorithmSuite::from_id(0x0478).unwrap();
    let err = block(kr.on_encrypt(EncryptionMaterials::new(suite, ctx()))).unwrap_err();
    assert!(matches!(err, Error::ApiMisuse(_)), "{err}");
}

#[test]
fn unknown_branch_key_fails_encrypt_with_the_store_message() {
    let kr = HierarchicalKeyring::new(store(), "tenant-zzz");
    let suite = AlgorithmSuite::from_id(0x0478).unwrap();
    let err = block(kr.on_encrypt(EncryptionMaterials::new(suite, ctx()))).unwrap_err();
    assert!(
        err.to_string().contains("no branch key tenant-zzz"),
        "{err}"
    );
}

#[test]
fn keyring_for_another_branch_key_refuses() {
    let s = store();
    let a: Arc<dyn Keyring> = Arc::new(HierarchicalKeyring::new(s.clone(), "tenant-a"));
    let b: Arc<dyn Keyring> = Arc::new(HierarchicalKeyring::new(s.clone(), "tenant-b"));
    let msg = encrypt_with(a, 0x0478, b"for a");
    let err = decrypt_with(b, &msg).unwrap_err();
    let Error::Unwrap(report) = &err else {
        panic!("expected an unwrap report, got {err}")
    };
    assert_eq!(report.attempts.len(), 1);
    assert!(
        report.attempts[0]
            .reason
            .contains("\"tenant-a\", not this one"),
        "{err}"
    );
    assert!(report.attempts[0].keyring.contains("tenant-b"), "{err}");
}

#[test]
fn refused_version_reaches_the_user_verbatim() {
    let s = store();
    let kr: Arc<dyn Keyring> = Arc::new(HierarchicalKeyring::new(s.clone(), "tenant-a"));
    let msg = encrypt_with(kr.clone(), 0x0578, b"old secret");
    let why = "branch key tenant-a version 11111111-1111-1111-1111-111111111111 is retired; \
               run `coffer rotate --rewrap` with a store that still holds it";
    s.refuse(V1, why);
    let err = decrypt_with(kr, &msg).unwrap_err();
    assert!(matches!(err, Error::Unwrap(_)), "{err}");
    let text = err.to_string();
    assert!(text.contains(why), "{text}");
    assert!(text.contains(&format_version(&V1)), "{text}");
}

#[test]
fn foreign_edks_are_skipped_and_reported() {
    let s = store();
    let hier: Arc<dyn Keyring> = Arc::new(HierarchicalKeyring::new(s.clone(), "tenant-a"));
    let multi: Arc<dyn Keyring> =
        Arc::new(MultiKeyring::new(Some(aes_keyring("k", 32)), vec![hier.clone()]).unwrap());
    let msg = encrypt_with(multi, 0x0478, b"both");
    assert_eq!(edks_of(&msg).len(), 2);
    assert_eq!(describe_edk(&edks_of(&msg)[0]), None);
    assert_eq!(decrypt_with(hier, &msg).unwrap(), b"both");

    // Only the AES EDK: the hierarchy keyring reports it and fails.
    let aes_only = encrypt_with(aes_keyring("k", 32), 0x0478, b"aes");
    let err =
        decrypt_with(Arc::new(HierarchicalKeyring::new(s, "tenant-a")), &aes_only).unwrap_err();
    assert!(
        err.to_string().contains("not wrapped by a branch key"),
        "{err}"
    );
}

/// Keyring-level fixture: materials with one hierarchy EDK, and a decrypt helper.
struct Fixture {
    kr: HierarchicalKeyring,
    suite: AlgorithmSuite,
    edk: EncryptedDataKey,
    data_key: Vec<u8>,
}

impl Fixture {
    fn new(suite: u16) -> Self {
        let kr = HierarchicalKeyring::new(store(), "tenant-a");
        let suite = AlgorithmSuite::from_id(suite).unwrap();
        let m = block(kr.on_encrypt(EncryptionMaterials::new(suite, ctx()))).unwrap();
        let edk = m.edks()[0].clone();
        let data_key = m.data_key().unwrap().expose_secret().to_vec();
        Self {
            kr,
            suite,
            edk,
            data_key,
        }
    }

    fn decrypt(&self, edk: &EncryptedDataKey, context: EncryptionContext) -> Result<Vec<u8>> {
        block(self.kr.on_decrypt(
            DecryptionMaterials::new(self.suite, context),
            std::slice::from_ref(edk),
        ))
        .map(|m| m.data_key().unwrap().expose_secret().to_vec())
    }
}

#[test]
fn every_flipped_bit_of_the_edk_fails_cleanly() {
    for suite in SUITES {
        let f = Fixture::new(suite);
        assert_eq!(f.decrypt(&f.edk, ctx()).unwrap(), f.data_key);
        assert_eq!(f.edk.ciphertext.len(), 16 + 12 + 16 + 32 + 16);
        for i in 0..f.edk.ciphertext.len() {
            for bit in [0x01, 0x80] {
                let mut e = f.edk.clone();
                e.ciphertext[i] ^= bit;
                let err = f.decrypt(&e, ctx()).unwrap_err();
                assert!(matches!(err, Error::Unwrap(_)), "byte {i}: {err}");
            }
        }
        for i in 0..f.edk.provider_info.len() {
            let mut e = f.edk.clone();
            e.provider_info[i] ^= 0x01;
            assert!(matches!(f.decrypt(&e, ctx()), Err(Error::Unwrap(_))));
        }
        let mut e = f.edk.clone();
        e.provider_id.push('x');
        assert!(matches!(f.decrypt(&e, ctx()), Err(Error::Unwrap(_))));
    }
}

#[test]
fn a_different_encryption_context_fails() {
    let f = Fixture::new(0x0478);
    let mut changed = ctx();
    changed.insert("app", "other");
    let mut extra = ctx();
    extra.insert("z", "");
    for c in [changed, extra, EncryptionContext::new()] {
        let err = f.decrypt(&f.edk, c).unwrap_err();
        assert!(err.to_string().contains("authentication failed"), "{err}");
    }
}

#[test]
fn truncated_or_extended_edks_fail_cleanly() {
    let f = Fixture::new(0x0578);
    for len in 0..f.edk.ciphertext.len() {
        let mut e = f.edk.clone();
        e.ciphertext.truncate(len);
        let err = f.decrypt(&e, ctx()).unwrap_err();
        assert!(err.to_string().contains("malformed"), "length {len}: {err}");
    }
    let mut e = f.edk.clone();
    e.ciphertext.push(0);
    assert!(f.decrypt(&e, ctx()).is_err());
    let mut e = f.edk.clone();
    e.provider_info.clear();
    assert!(f.decrypt(&e, ctx()).is_err());
    let mut e = f.edk.clone();
    e.provider_info = vec![0xff, 0xfe];
    assert!(f.decrypt(&e, ctx()).is_err());
}

#[test]
fn data_key_and_edk_are_fresh_each_time() {
    let kr = HierarchicalKeyring::new(store(), "tenant-a");
    let suite = AlgorithmSuite::from_id(0x0478).unwrap();
    let mut seen = BTreeSet::new();
    for _ in 0..8 {
        let m = block(kr.on_encrypt(EncryptionMaterials::new(suite, ctx()))).unwrap();
        let ct = &m.edks()[0].ciphertext;
        assert!(seen.insert(ct[..28].to_vec()), "salt and IV repeat");
    }
}

#[test]
fn an_existing_data_key_is_wrapped_not_replaced() {
    let first = Fixture::new(0x0478);
    let suite = AlgorithmSuite::from_id(0x0478).unwrap();
    let m = EncryptionMaterials::new(suite, ctx())
        .with_data_key(coffer_core::DataKey::from_slice(&first.data_key))
        .unwrap();
    let m = block(first.kr.on_encrypt(m)).unwrap();
    assert_eq!(m.data_key().unwrap().expose_secret(), &first.data_key[..]);
    assert_eq!(first.decrypt(&m.edks()[0], ctx()).unwrap(), first.data_key);
}
