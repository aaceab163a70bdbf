use super::common::*;
use coffer_core::{
    AlgorithmSuite, CommitmentPolicy, DecryptConfig, Decryptor, EncryptConfig, EncryptionContext,
    Error,
};

fn lax() -> DecryptConfig {
    DecryptConfig::default().with_commitment_policy(CommitmentPolicy::RequireEncryptAllowDecrypt)
}

fn small_messages() -> Vec<(AlgorithmSuite, Vec<u8>, Vec<u8>)> {
    let cmm = cmm(aes_keyring("k", 32));
    let ctx: EncryptionContext = [("a", "b")].into_iter().collect();
    let pt = b"the quick brown fox jumps over the lazy dog".to_vec();
    [
        AlgorithmSuite::Aes256GcmNoKdf,
        AlgorithmSuite::Aes128GcmHkdfSha256EcdsaP256,
        AlgorithmSuite::Aes256GcmHkdfSha512CommitKey,
        AlgorithmSuite::Aes256GcmHkdfSha512CommitKeyEcdsaP384,
    ]
    .into_iter()
    .map(|s| {
        let pol = if s.is_committing() {
            CommitmentPolicy::RequireEncryptRequireDecrypt
        } else {
            CommitmentPolicy::ForbidEncryptAllowDecrypt
        };
        let cfg = EncryptConfig::default()
            .with_suite(Some(s))
            .with_commitment_policy(pol)
            .with_frame_length(16)
            .unwrap();
        let msg = block(coffer_core::encrypt(cmm.clone(), &cfg, &ctx, &pt)).unwrap();
        (s, msg, pt.clone())
    })
    .collect()
}

#[test]
fn truncation_at_every_offset_fails() {
    let cmm = cmm(aes_keyring("k", 32));
    for (suite, msg, _) in small_messages() {
        for n in 0..msg.len() {
            let r = block(coffer_core::decrypt(cmm.as_ref(), &lax(), None, &msg[..n]));
            assert!(
                r.is_err(),
                "suite {suite}: truncated to {n} of {} decrypted",
                msg.len()
            );
        }
        assert!(block(coffer_core::decrypt(cmm.as_ref(), &lax(), None, &msg)).is_ok());
    }
}

#[test]
fn every_bit_flip_fails() {
    let cmm = cmm(aes_keyring("k", 32));
    for (suite, msg, _) in small_messages() {
        // The whole of these small messages: header, frames and footer.
        for byte in 0..msg.len() {
            for bit in 0..8 {
                let mut m = msg.clone();
                m[byte] ^= 1 << bit;
                let r = block(coffer_core::decrypt(cmm.as_ref(), &lax(), None, &m));
                assert!(
                    r.is_err(),
                    "suite {suite}: flip of bit {bit} of byte {byte} decrypted"
                );
            }
        }
    }
}

#[test]
fn trailing_bytes_rejected() {
    let cmm = cmm(aes_keyring("k", 32));
    for (_, mut msg, _) in small_messages() {
        msg.push(0);
        let e = block(coffer_core::decrypt(cmm.as_ref(), &lax(), None, &msg)).unwrap_err();
        assert!(matches!(e, Error::TrailingData), "{e}");
    }
}

#[test]
fn base64_input_is_recognised() {
    use base64::Engine as _;
    for (_, msg, _) in small_messages() {
        let text = base64::engine::general_purpose::STANDARD.encode(&msg);
        let e = Decryptor::new(lax())
            .read_header(&mut text.as_bytes())
            .unwrap_err();
        assert!(matches!(e, Error::Base64Input), "{e}");
    }
}

#[test]
fn foreign_and_unknown_suites_rejected() {
    let (_, msg, _) = small_messages().remove(0); // v1, suite 0x0078
    for id in [0x0000u16, 0x0070, 0x0074, 0x6700, 0x6701, 0x0479, 0xFFFF] {
        let mut m = msg.clone();
        m[2..4].copy_from_slice(&id.to_be_bytes());
        let e = Decryptor::new(lax()).read_header(&mut &m[..]).unwrap_err();
        assert!(
            matches!(e, Error::UnknownSuite(_) | Error::Malformed(_)),
            "{id:04x}: {e}"
        );
    }
    // A v2 suite id in a v1 header is malformed.
    let mut m = msg.clone();
    m[2..4].copy_from_slice(&0x0478u16.to_be_bytes());
    assert!(Decryptor::new(lax()).read_header(&mut &m[..]).is_err());
}

/// Builds a v2 header by hand.
fn v2_header(suite: u16, ctx: &[(&str, &str)], edk_count: u16, edk_len_field: u16) -> Vec<u8> {
    let mut h = vec![2];
    h.extend_from_slice(&suite.to_be_bytes());
    h.extend_from_slice(&[7; 32]);
    let c: EncryptionContext = ctx.iter().copied().collect();
    let aad = c.serialize().unwrap();
    h.extend_from_slice(&(aad.len() as u16).to_be_bytes());
    h.extend_from_slice(&aad);
    h.extend_from_slice(&edk_count.to_be_bytes());
    for _ in 0..edk_count.min(3) {
        h.extend_from_slice(&[0, 2, b'n', b's', 0, 1, b'k']);
        h.extend_from_slice(&edk_len_field.to_be_bytes());
        h.extend_from_slice(&[0; 48]);
    }
    h.push(2);
    h.extend_from_slice(&4096u32.to_be_bytes());
    h.extend_from_slice(&[0; 32]);
    h.extend_from_slice(&[0; 16]);
    h
}

#[test]
fn structural_header_errors() {
    // Well-formed (parses; would fail later on keys).
    assert!(
        Decryptor::new(lax())
            .read_header(&mut &v2_header(0x0478, &[], 1, 48)[..])
            .is_ok()
    );
    // Unsigned suite carrying a public key.
    let h = v2_header(0x0478, &[("aws-crypto-public-key", "AAAA")], 1, 48);
    assert!(matches!(
        Decryptor::new(lax()).read_header(&mut &h[..]),
        Err(Error::Malformed(_))
    ));
    // Signed suite without one.
    let h = v2_header(0x0578, &[], 1, 48);
    assert!(matches!(
        Decryptor::new(lax()).read_header(&mut &h[..]),
        Err(Error::Malformed(_))
    ));
    // Oversized length field: runs past the end.
    let h = v2_header(0x0478, &[], 1, 0xFFFF);
    assert!(Decryptor::new(lax()).read_header(&mut &h[..]).is_err());
    // No EDKs.
    let h = v2_header(0x0478, &[], 0, 48);
    assert!(Decryptor::new(lax()).read_header(&mut &h[..]).is_err());
    // More EDKs than the limit: refused while parsing, before reading them.
    let h = v2_header(0x0478, &[], 60000, 48);
    let lim = lax().with_max_encrypted_data_keys(Some(10));
    assert!(matches!(
        Decryptor::new(lim).read_header(&mut &h[..]),
        Err(Error::Policy(_))
    ));
    // Frame length 0 in a framed message.
    let mut h = v2_header(0x0478, &[], 1, 48);
    let at = h.len() - 16 - 32 - 4;
    h[at..at + 4].copy_from_slice(&[0; 4]);
    assert!(Decryptor::new(lax()).read_header(&mut &h[..]).is_err());
    // Unknown version and empty input.
    assert!(
        Decryptor::new(lax())
            .read_header(&mut &[3u8, 0, 0][..])
            .is_err()
    );
    assert!(matches!(
        Decryptor::new(lax()).read_header(&mut &[][..]),
        Err(Error::Truncated)
    ));
}

#[test]
fn wrong_key_gives_a_report_not_plaintext() {
    let (_, msg, _) = small_messages().remove(3);
    let other = cmm(aes_keyring("k", 16));
    let e = block(coffer_core::decrypt(other.as_ref(), &lax(), None, &msg)).unwrap_err();
    assert!(matches!(e, Error::Unwrap(_)), "{e}");
    let same_name_other_bytes = cmm(std::sync::Arc::new(
        coffer_core::keyring::RawAesKeyring::new("test-ns", "k", &[1; 32]).unwrap(),
    ));
    let e = block(coffer_core::decrypt(
        same_name_other_bytes.as_ref(),
        &lax(),
        None,
        &msg,
    ))
    .unwrap_err();
    assert!(e.to_string().contains("authentication failed"), "{e}");
}
