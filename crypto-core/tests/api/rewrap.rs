//! Replacing the encrypted data keys of a message without touching its body.

use super::common::*;
use coffer_core::cmm::{DefaultCmm, MaterialsManager, RequiredContextCmm};
use coffer_core::{
    AlgorithmSuite, CommitmentPolicy, DecryptConfig, Decryptor, EncryptConfig, EncryptionContext,
    Error,
};
use std::sync::Arc;

fn encrypt(
    cmm: Arc<dyn MaterialsManager>,
    suite: AlgorithmSuite,
    ctx: &EncryptionContext,
) -> Vec<u8> {
    let cfg = EncryptConfig::default()
        .with_suite(Some(suite))
        .with_frame_length(100)
        .unwrap()
        .with_commitment_policy(policy(suite));
    block(coffer_core::encrypt(cmm, &cfg, ctx, &vec![7u8; 1000])).unwrap()
}

fn policy(suite: AlgorithmSuite) -> CommitmentPolicy {
    if suite.is_committing() {
        CommitmentPolicy::RequireEncryptRequireDecrypt
    } else {
        CommitmentPolicy::ForbidEncryptAllowDecrypt
    }
}

/// The new header and how many bytes the old one took.
fn rewrap(
    msg: &[u8],
    from: &dyn MaterialsManager,
    to: &dyn coffer_core::keyring::Keyring,
    suite: AlgorithmSuite,
    reproduced: Option<&EncryptionContext>,
) -> coffer_core::Result<(Vec<u8>, usize)> {
    let mut input = msg;
    let cfg = DecryptConfig::default().with_commitment_policy(policy(suite));
    let parsed = Decryptor::new(cfg).read_header(&mut input)?;
    let consumed = msg.len() - input.len();
    let ready = block(parsed.obtain_materials(from, reproduced))?;
    Ok((block(ready.rewrap(to))?, consumed))
}

#[test]
fn new_key_decrypts_old_key_does_not_body_untouched() {
    let old = aes_keyring("old", 32);
    let new = aes_keyring("new", 16);
    let ctx: EncryptionContext = [("purpose", "rewrap")].into_iter().collect();
    for suite in AlgorithmSuite::ALL.into_iter().filter(|s| !s.is_signing()) {
        let msg = encrypt(Arc::new(DefaultCmm::new(old.clone())), suite, &ctx);
        let (header, consumed) = rewrap(
            &msg,
            &DefaultCmm::new(old.clone()),
            new.as_ref(),
            suite,
            None,
        )
        .unwrap();
        let mut out = header.clone();
        out.extend_from_slice(&msg[consumed..]);
        let dcfg = DecryptConfig::default().with_commitment_policy(policy(suite));
        let got = block(coffer_core::decrypt(
            &DefaultCmm::new(new.clone()),
            &dcfg,
            None,
            &out,
        ))
        .unwrap();
        assert_eq!(got.plaintext, vec![7u8; 1000], "{suite}");
        assert_eq!(got.context.get("purpose"), Some("rewrap"));
        assert!(
            block(coffer_core::decrypt(
                &DefaultCmm::new(old.clone()),
                &dcfg,
                None,
                &out
            ))
            .is_err(),
            "{suite}: the old key no longer decrypts the rewrapped message"
        );
        // Same message id and body; only the data keys and the header tag changed.
        let before = coffer_core::inspect(&mut &msg[..]).unwrap();
        let after = coffer_core::inspect(&mut &out[..]).unwrap();
        assert_eq!(before.message_id, after.message_id);
        assert_ne!(before.edks, after.edks);
        assert_eq!(after.edks.len(), 1);
    }
}

#[test]
fn signed_messages_are_refused_with_the_reason() {
    let old = aes_keyring("old", 32);
    let suite = AlgorithmSuite::Aes256GcmHkdfSha512CommitKeyEcdsaP384;
    let msg = encrypt(
        Arc::new(DefaultCmm::new(old.clone())),
        suite,
        &EncryptionContext::new(),
    );
    let err = rewrap(
        &msg,
        &DefaultCmm::new(old.clone()),
        aes_keyring("new", 32).as_ref(),
        suite,
        None,
    )
    .unwrap_err();
    assert!(matches!(err, Error::Policy(_)), "{err:?}");
    assert!(err.to_string().contains("signed"), "{err}");
}

#[test]
fn required_context_stays_required() {
    let old = aes_keyring("old", 32);
    let new = aes_keyring("new", 32);
    let inner: Arc<dyn MaterialsManager> = Arc::new(DefaultCmm::new(old.clone()));
    let req = Arc::new(RequiredContextCmm::new(inner, vec!["tenant".into()]).unwrap());
    let suite = AlgorithmSuite::Aes256GcmHkdfSha512CommitKey;
    let ctx: EncryptionContext = [("tenant", "acme"), ("app", "x")].into_iter().collect();
    let msg = encrypt(req, suite, &ctx);
    let tenant: EncryptionContext = [("tenant", "acme")].into_iter().collect();
    assert!(
        rewrap(
            &msg,
            &DefaultCmm::new(old.clone()),
            new.as_ref(),
            suite,
            None
        )
        .is_err()
    );
    let (header, consumed) = rewrap(
        &msg,
        &DefaultCmm::new(old.clone()),
        new.as_ref(),
        suite,
        Some(&tenant),
    )
    .unwrap();
    let mut out = header;
    out.extend_from_slice(&msg[consumed..]);
    let dcfg = DecryptConfig::default();
    let new_cmm = DefaultCmm::new(new.clone());
    assert!(block(coffer_core::decrypt(&new_cmm, &dcfg, None, &out)).is_err());
    let got = block(coffer_core::decrypt(&new_cmm, &dcfg, Some(&tenant), &out)).unwrap();
    assert_eq!(got.plaintext, vec![7u8; 1000]);
    let stored = coffer_core::inspect(&mut &out[..]).unwrap();
    assert!(!stored.context.contains_key("tenant"));
}
