use super::common::*;
use coffer_core::cmm::{DefaultCmm, MaterialsManager, RequiredContextCmm};
use coffer_core::keyring::{Keyring, MultiKeyring, RawRsaKeyring, RsaPadding};
use coffer_core::{
    AlgorithmSuite, CommitmentPolicy, DecryptConfig, Decryptor, EncryptConfig, EncryptionContext,
    Encryptor, Release,
};
use std::io::{Read, Write};
use std::sync::Arc;

fn policy_for(s: AlgorithmSuite) -> CommitmentPolicy {
    if s.is_committing() {
        CommitmentPolicy::RequireEncryptRequireDecrypt
    } else {
        CommitmentPolicy::ForbidEncryptAllowDecrypt
    }
}

fn ctx() -> EncryptionContext {
    [("purpose", "test"), ("clé", "värde ✓")]
        .into_iter()
        .collect()
}

fn data(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 31 % 251) as u8).collect()
}

#[test]
fn every_suite_every_framing() {
    let cmm = cmm(aes_keyring("k", 32));
    for suite in AlgorithmSuite::ALL {
        let pol = policy_for(suite);
        for frame in [1u32, 7, 128, 4096] {
            let f = frame as usize;
            for len in [0, 1, f.saturating_sub(1), f, f + 1, 3 * f, 5000] {
                let cfg = EncryptConfig::default()
                    .with_suite(Some(suite))
                    .with_commitment_policy(pol)
                    .with_frame_length(frame)
                    .unwrap();
                let pt = data(len);
                let msg = block(coffer_core::encrypt(cmm.clone(), &cfg, &ctx(), &pt)).unwrap();
                let dcfg = DecryptConfig::default()
                    .with_commitment_policy(CommitmentPolicy::RequireEncryptAllowDecrypt);
                let out = block(coffer_core::decrypt(cmm.as_ref(), &dcfg, None, &msg)).unwrap();
                assert_eq!(out.plaintext, pt, "suite {suite} frame {frame} len {len}");
                assert_eq!(out.suite, suite);
                assert_eq!(out.context.get("purpose"), Some("test"));
            }
        }
    }
}

#[test]
fn exact_multiple_ends_with_full_final_frame() {
    let cmm = cmm(aes_keyring("k", 32));
    let cfg = EncryptConfig::default()
        .with_suite(Some(AlgorithmSuite::Aes256GcmHkdfSha512CommitKey))
        .with_frame_length(128)
        .unwrap();
    let one = block(coffer_core::encrypt(cmm.clone(), &cfg, &ctx(), &data(256))).unwrap();
    let two = block(coffer_core::encrypt(cmm.clone(), &cfg, &ctx(), &data(257))).unwrap();
    // 256 bytes: one regular frame (4+12+128+16) + a final frame holding 128 bytes (4+4+12+4+128+16).
    // 257 bytes: two regular frames + a final frame of 1 byte.
    assert_eq!(two.len() - one.len(), (4 + 12 + 128 + 16) + 1 - 128);
}

#[test]
fn split_writes_give_the_same_plaintext_and_release_modes_agree() {
    let cmm = cmm(aes_keyring("k", 32));
    let pt = data(100_000);
    let cfg = EncryptConfig::default().with_frame_length(1000).unwrap();
    let prepared = block(Encryptor::new(cmm.clone(), cfg).prepare(&ctx(), None)).unwrap();
    let mut w = prepared.wrap_output(Vec::new()).unwrap();
    let mut rest = &pt[..];
    let mut step = 1;
    while !rest.is_empty() {
        let n = step.min(rest.len());
        w.write_all(&rest[..n]).unwrap();
        rest = &rest[n..];
        step = step * 3 % 4099 + 1;
    }
    let msg = w.finish().unwrap();
    for release in [Release::PerFrame, Release::AfterSignature] {
        let mut input = &msg[..];
        let parsed = Decryptor::new(DecryptConfig::default())
            .read_header(&mut input)
            .unwrap();
        let ready = block(parsed.obtain_materials(cmm.as_ref(), None)).unwrap();
        let mut r = ready.into_reader(input, release);
        let mut out = Vec::new();
        let mut buf = [0u8; 333];
        loop {
            let n = r.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        assert!(r.is_verified());
        assert_eq!(out, pt);
    }
}

fn rsa(padding: RsaPadding, public: bool, private: bool) -> Arc<dyn Keyring> {
    let pubk = include_bytes!("../data/rsa-2048-public.pem");
    let privk = include_bytes!("../data/rsa-2048-private.pem");
    Arc::new(
        RawRsaKeyring::new(
            "test-ns",
            "rsa",
            padding,
            public.then_some(&pubk[..]),
            private.then_some(&privk[..]),
        )
        .unwrap(),
    )
}

#[test]
fn rsa_paddings_and_multi_keyring() {
    for padding in [
        RsaPadding::Pkcs1,
        RsaPadding::OaepSha1,
        RsaPadding::OaepSha256,
        RsaPadding::OaepSha384,
        RsaPadding::OaepSha512,
    ] {
        let enc = cmm(rsa(padding, true, false));
        let dec = cmm(rsa(padding, false, true));
        let msg = block(coffer_core::encrypt(
            enc,
            &EncryptConfig::default(),
            &ctx(),
            b"rsa",
        ))
        .unwrap();
        let out = block(coffer_core::decrypt(
            dec.as_ref(),
            &DecryptConfig::default(),
            None,
            &msg,
        ))
        .unwrap();
        assert_eq!(out.plaintext, b"rsa");
    }
    // AES generator + RSA child: either key alone decrypts.
    let multi = MultiKeyring::new(
        Some(aes_keyring("a", 16)),
        vec![rsa(RsaPadding::OaepSha256, true, false)],
    )
    .unwrap();
    let msg = block(coffer_core::encrypt(
        cmm(Arc::new(multi)),
        &EncryptConfig::default(),
        &ctx(),
        b"m",
    ))
    .unwrap();
    assert_eq!(coffer_core::inspect(&mut &msg[..]).unwrap().edks.len(), 2);
    for k in [
        aes_keyring("a", 16),
        rsa(RsaPadding::OaepSha256, false, true),
    ] {
        let out = block(coffer_core::decrypt(
            cmm(k).as_ref(),
            &DecryptConfig::default(),
            None,
            &msg,
        ))
        .unwrap();
        assert_eq!(out.plaintext, b"m");
    }
    // A multi-keyring of wrong keys lists every attempt.
    let wrong = MultiKeyring::new(None, vec![aes_keyring("b", 16), aes_keyring("a", 32)]).unwrap();
    let err = block(coffer_core::decrypt(
        cmm(Arc::new(wrong)).as_ref(),
        &DecryptConfig::default(),
        None,
        &msg,
    ))
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("raw-aes test-ns/b") && err.contains("raw-aes test-ns/a"),
        "{err}"
    );
}

#[test]
fn required_encryption_context() {
    let inner: Arc<dyn MaterialsManager> = Arc::new(DefaultCmm::new(aes_keyring("k", 32)));
    let req = Arc::new(RequiredContextCmm::new(inner.clone(), vec!["tenant".into()]).unwrap());
    let mut c = ctx();
    c.insert("tenant", "acme");
    let msg = block(coffer_core::encrypt(
        req.clone(),
        &EncryptConfig::default(),
        &c,
        b"secret",
    ))
    .unwrap();
    let header = coffer_core::inspect(&mut &msg[..]).unwrap();
    assert!(
        !header.context.contains_key("tenant"),
        "required pairs are not stored"
    );
    // Without the reproduced pair: fails.
    assert!(
        block(coffer_core::decrypt(
            req.as_ref(),
            &DecryptConfig::default(),
            None,
            &msg
        ))
        .is_err()
    );
    assert!(
        block(coffer_core::decrypt(
            inner.as_ref(),
            &DecryptConfig::default(),
            None,
            &msg
        ))
        .is_err()
    );
    // With the wrong value: fails.
    let wrong: EncryptionContext = [("tenant", "evil")].into_iter().collect();
    assert!(
        block(coffer_core::decrypt(
            req.as_ref(),
            &DecryptConfig::default(),
            Some(&wrong),
            &msg
        ))
        .is_err()
    );
    // With it: works, through either manager.
    let right: EncryptionContext = [("tenant", "acme")].into_iter().collect();
    for m in [req.as_ref() as &dyn MaterialsManager, inner.as_ref()] {
        let out = block(coffer_core::decrypt(
            m,
            &DecryptConfig::default(),
            Some(&right),
            &msg,
        ))
        .unwrap();
        assert_eq!(out.plaintext, b"secret");
    }
}

#[test]
fn reserved_context_keys_rejected() {
    let c: EncryptionContext = [("aws-crypto-public-key", "x")].into_iter().collect();
    let e = block(coffer_core::encrypt(
        cmm(aes_keyring("k", 32)),
        &EncryptConfig::default(),
        &c,
        b"x",
    ));
    assert!(e.is_err());
}

#[test]
fn policy_and_limits() {
    let cmm = cmm(aes_keyring("k", 32));
    let legacy = EncryptConfig::default()
        .with_suite(Some(AlgorithmSuite::Aes256GcmHkdfSha256))
        .with_commitment_policy(CommitmentPolicy::ForbidEncryptAllowDecrypt);
    let msg = block(coffer_core::encrypt(cmm.clone(), &legacy, &ctx(), b"x")).unwrap();
    // Default policy refuses non-committing messages.
    assert!(
        block(coffer_core::decrypt(
            cmm.as_ref(),
            &DecryptConfig::default(),
            None,
            &msg
        ))
        .is_err()
    );
    // Default policy refuses to encrypt them too.
    let bad = EncryptConfig::default().with_suite(Some(AlgorithmSuite::Aes256GcmHkdfSha256));
    assert!(block(coffer_core::encrypt(cmm.clone(), &bad, &ctx(), b"x")).is_err());
    // Unsigned-only refuses signed messages before any key work.
    let signed = block(coffer_core::encrypt(
        cmm.clone(),
        &EncryptConfig::default(),
        &ctx(),
        b"x",
    ))
    .unwrap();
    let uo = DecryptConfig::default().with_unsigned_only(true);
    assert!(Decryptor::new(uo).read_header(&mut &signed[..]).is_err());
    // EDK limits on both sides.
    let two = MultiKeyring::new(Some(aes_keyring("a", 32)), vec![aes_keyring("b", 32)]).unwrap();
    let two = super::common::cmm(Arc::new(two));
    let lim = EncryptConfig::default().with_max_encrypted_data_keys(Some(1));
    assert!(block(coffer_core::encrypt(two.clone(), &lim, &ctx(), b"x")).is_err());
    let msg = block(coffer_core::encrypt(
        two.clone(),
        &EncryptConfig::default(),
        &ctx(),
        b"x",
    ))
    .unwrap();
    let dl = DecryptConfig::default().with_max_encrypted_data_keys(Some(1));
    assert!(Decryptor::new(dl).read_header(&mut &msg[..]).is_err());
    assert!(EncryptConfig::default().with_frame_length(0).is_err());
}

#[test]
fn secrets_do_not_leak_through_debug() {
    let k = coffer_core::DataKey::from_slice(&[0x5a; 32]);
    let s = format!("{k:?}");
    assert!(!s.contains("90") && !s.to_lowercase().contains("5a"), "{s}");
    let kr = coffer_core::keyring::RawAesKeyring::new("ns", "n", &[0x5a; 32]).unwrap();
    let s = format!("{kr:?}");
    assert!(
        !s.contains("90,") && !s.to_lowercase().contains("5a5a"),
        "{s}"
    );
}

#[test]
fn large_signed_messages_hash_alongside_and_still_verify() {
    // Several MiB: the signature hash moves to its helper thread on both sides.
    let cmm = cmm(aes_keyring("k", 32));
    let pt = data(5 << 20);
    for suite in [
        AlgorithmSuite::Aes256GcmHkdfSha512CommitKeyEcdsaP384,
        AlgorithmSuite::Aes128GcmHkdfSha256EcdsaP256,
    ] {
        let cfg = EncryptConfig::default()
            .with_suite(Some(suite))
            .with_commitment_policy(policy_for(suite))
            .with_frame_length(65536)
            .unwrap();
        let msg = block(coffer_core::encrypt(cmm.clone(), &cfg, &ctx(), &pt)).unwrap();
        let lax = DecryptConfig::default()
            .with_commitment_policy(CommitmentPolicy::RequireEncryptAllowDecrypt);
        let out = block(coffer_core::decrypt(cmm.as_ref(), &lax, None, &msg)).unwrap();
        assert_eq!(out.plaintext, pt, "suite {suite}");
        // A flipped signature byte (last byte) fails, in both release modes.
        let mut bad = msg.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        for release in [Release::PerFrame, Release::AfterSignature] {
            let mut input = &bad[..];
            let parsed = Decryptor::new(lax.clone()).read_header(&mut input).unwrap();
            let ready = block(parsed.obtain_materials(cmm.as_ref(), None)).unwrap();
            let mut r = ready.into_reader(input, release);
            let mut sink = Vec::new();
            assert!(
                r.read_to_end(&mut sink).is_err(),
                "suite {suite} {release:?}"
            );
            assert!(!r.is_verified());
        }
    }
}
