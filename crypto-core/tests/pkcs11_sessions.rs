//! Sessions lost under a PKCS#11 keyring are re-opened. In a process of its own: logging the
//! application out of the token affects every session of the process.
#![cfg(feature = "pkcs11")]
#![allow(clippy::unwrap_used, reason = "tests")]

use std::sync::Arc;

use coffer_core::cmm::DefaultCmm;
use coffer_core::keyring::Keyring;
use coffer_core::keyring::pkcs11::{OaepHash, Pkcs11Keyring, Pkcs11Token};
use coffer_core::{DecryptConfig, EncryptConfig, EncryptionContext};
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::session::Session;
use zeroize::Zeroizing;

fn encrypt(ring: &Arc<dyn Keyring>, pt: &[u8]) -> coffer_core::Result<Vec<u8>> {
    let ctx: EncryptionContext = [("purpose", "sessions")].into_iter().collect();
    futures::executor::block_on(coffer_core::encrypt(
        Arc::new(DefaultCmm::new(ring.clone())),
        &EncryptConfig::default(),
        &ctx,
        pt,
    ))
}

fn decrypt(ring: &Arc<dyn Keyring>, msg: &[u8]) -> coffer_core::Result<Vec<u8>> {
    futures::executor::block_on(coffer_core::decrypt(
        &DefaultCmm::new(ring.clone()),
        &DecryptConfig::default(),
        None,
        msg,
    ))
    .map(|o| o.plaintext)
}

/// A session of this process on the test token, beside the keyring's own.
fn side_session(module: &str, token: &str) -> Session {
    let p11 = Pkcs11::new(module).unwrap();
    let _ = p11.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK));
    let slot = p11
        .get_slots_with_token()
        .unwrap()
        .into_iter()
        .find(|s| p11.get_token_info(*s).unwrap().label().trim() == token)
        .unwrap();
    p11.open_ro_session(slot).unwrap()
}

#[test]
fn a_logout_under_the_keyring_is_recovered_from() {
    let Ok(module) = std::env::var("COFFER_TEST_PKCS11_MODULE") else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "COFFER_TEST_PKCS11_MODULE is not set: CI runs the PKCS#11 tests"
        );
        eprintln!("skipped: no SoftHSM2 token (scripts/hsm.sh makes one)");
        return;
    };
    let token = std::env::var("COFFER_TEST_PKCS11_TOKEN").unwrap();
    let pin =
        std::fs::read_to_string(std::env::var("COFFER_TEST_PKCS11_PIN_FILE").unwrap()).unwrap();
    let t = Pkcs11Token::open(module.as_ref(), &token, Some(Zeroizing::new(pin))).unwrap();
    for object in ["coffer-aes", "coffer-rsa"] {
        let ring: Arc<dyn Keyring> =
            Arc::new(Pkcs11Keyring::new(t.clone(), object, OaepHash::Sha1).unwrap());
        let msg = encrypt(&ring, b"before").unwrap();
        // Every session of the process is logged out: the keyring's pooled sessions and the
        // handles of private objects it found are no longer good.
        side_session(&module, &token).logout().unwrap();
        assert_eq!(decrypt(&ring, &msg).unwrap(), b"before", "{object}");
        let msg = encrypt(&ring, b"after").unwrap();
        assert_eq!(decrypt(&ring, &msg).unwrap(), b"after", "{object}");
    }
}
