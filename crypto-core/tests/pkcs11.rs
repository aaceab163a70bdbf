//! The PKCS#11 keyrings against a SoftHSM2 token that `scripts/hsm.sh` makes
//! (`COFFER_TEST_PKCS11_MODULE`, `_TOKEN`, `_PIN_FILE`). Without one the tests skip, except
//! under `CI=true`, where that is a failure.
#![cfg(feature = "pkcs11")]
#![allow(clippy::unwrap_used, reason = "tests")]

use std::path::PathBuf;
use std::sync::Arc;

use coffer_core::cmm::DefaultCmm;
use coffer_core::keyring::pkcs11::{
    KeyObject, OaepHash, Pkcs11Keyring, Pkcs11RootKey, Pkcs11Token,
};
use coffer_core::keyring::{Keyring, MultiKeyring, RawAesKeyring, RootKey};
use coffer_core::{DecryptConfig, EncryptConfig, EncryptionContext};
use zeroize::Zeroizing;

struct Hsm {
    module: PathBuf,
    token: String,
    pin: String,
}

fn hsm() -> Option<Hsm> {
    let Ok(module) = std::env::var("COFFER_TEST_PKCS11_MODULE") else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "COFFER_TEST_PKCS11_MODULE is not set: CI runs the PKCS#11 tests"
        );
        eprintln!("skipped: no SoftHSM2 token (scripts/hsm.sh makes one)");
        return None;
    };
    let h = Hsm {
        module: module.into(),
        token: std::env::var("COFFER_TEST_PKCS11_TOKEN").unwrap(),
        pin: std::fs::read_to_string(std::env::var("COFFER_TEST_PKCS11_PIN_FILE").unwrap())
            .unwrap(),
    };
    fixtures(&h);
    Some(h)
}

/// The label of the key [`fixtures`] makes through the library.
fn made_label() -> String {
    format!("coffer-made-{}", std::process::id())
}

/// Makes the token objects the tests need, once, before any test goes on: SoftHSM2 fails
/// object creation (`CKR_GENERAL_ERROR`) while other threads of the process use the token,
/// so nothing else may run meanwhile. Every test calls [`hsm`] first, and `get_or_init`
/// holds them all until this is done.
fn fixtures(h: &Hsm) {
    static MADE: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    MADE.get_or_init(|| {
        make_noenc_key(h);
        let t = token(h);
        let label = made_label();
        if Pkcs11Keyring::new(t.clone(), label.as_str(), OaepHash::Sha1).is_err() {
            t.generate_aes_key(&label).unwrap();
        }
    });
}

fn token(h: &Hsm) -> Arc<Pkcs11Token> {
    Pkcs11Token::open(&h.module, &h.token, Some(Zeroizing::new(h.pin.clone()))).unwrap()
}

fn ctx() -> EncryptionContext {
    [("purpose", "hsm-test")].into_iter().collect()
}

fn encrypt(ring: Arc<dyn Keyring>, pt: &[u8]) -> coffer_core::Result<Vec<u8>> {
    futures::executor::block_on(coffer_core::encrypt(
        Arc::new(DefaultCmm::new(ring)),
        &EncryptConfig::default(),
        &ctx(),
        pt,
    ))
}

fn decrypt(ring: Arc<dyn Keyring>, msg: &[u8]) -> coffer_core::Result<Vec<u8>> {
    let cmm = DefaultCmm::new(ring);
    futures::executor::block_on(coffer_core::decrypt(
        &cmm,
        &DecryptConfig::default(),
        None,
        msg,
    ))
    .map(|o| o.plaintext)
}

#[test]
fn aes_and_rsa_keys_on_the_token_round_trip() {
    let Some(h) = hsm() else { return };
    let t = token(&h);
    for object in ["coffer-aes", "coffer-rsa"] {
        let ring: Arc<dyn Keyring> =
            Arc::new(Pkcs11Keyring::new(t.clone(), object, OaepHash::Sha1).unwrap());
        let msg = encrypt(ring.clone(), b"attack at dawn").unwrap();
        assert_eq!(decrypt(ring, &msg).unwrap(), b"attack at dawn", "{object}");
    }
    // A data key wrapped by one object does not open with another.
    let aes: Arc<dyn Keyring> =
        Arc::new(Pkcs11Keyring::new(t.clone(), "coffer-aes", OaepHash::Sha1).unwrap());
    let rsa: Arc<dyn Keyring> =
        Arc::new(Pkcs11Keyring::new(t.clone(), "coffer-rsa", OaepHash::Sha1).unwrap());
    let msg = encrypt(aes.clone(), b"x").unwrap();
    let e = decrypt(rsa, &msg).unwrap_err().to_string();
    assert!(e.contains("token=coffer-test;object=coffer-aes"), "{e}");
}

#[test]
fn a_multi_keyring_of_hsm_and_raw_aes_decrypts_with_either() {
    let Some(h) = hsm() else { return };
    let t = token(&h);
    let hsm: Arc<dyn Keyring> =
        Arc::new(Pkcs11Keyring::new(t, "coffer-aes", OaepHash::Sha1).unwrap());
    let aes: Arc<dyn Keyring> = Arc::new(RawAesKeyring::new("ns", "k", &[5; 32]).unwrap());
    let multi: Arc<dyn Keyring> =
        Arc::new(MultiKeyring::new(Some(hsm.clone()), vec![aes.clone()]).unwrap());
    let msg = encrypt(multi, b"both").unwrap();
    assert_eq!(decrypt(hsm, &msg).unwrap(), b"both");
    assert_eq!(decrypt(aes, &msg).unwrap(), b"both");
}

#[test]
fn bad_pins_objects_tokens_and_permissions_are_clear_errors() {
    let Some(h) = hsm() else { return };
    // (A wrong PIN is tested through the CLI, in a process of its own: PKCS#11 logs an
    // application in once per token, so in this process another test's login stands.)
    let e = Pkcs11Token::open(
        &h.module,
        "no-such-token",
        Some(Zeroizing::new(h.pin.clone())),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("no token labelled `no-such-token`") && e.contains("coffer-test"),
        "{e}"
    );
    let t = token(&h);
    let e = Pkcs11Keyring::new(t.clone(), "missing", OaepHash::Sha1)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("no key `object=missing` on token `coffer-test`"),
        "{e}"
    );
    // A key made without the permission to encrypt (CKA_ENCRYPT false).
    let noenc: Arc<dyn Keyring> =
        Arc::new(Pkcs11Keyring::new(t, "coffer-noenc", OaepHash::Sha1).unwrap());
    let e = encrypt(noenc, b"x").unwrap_err().to_string();
    assert!(e.contains("do not allow"), "{e}");
}

/// 8 threads encrypt through one keyring (one token, a pool of sessions) at once.
#[test]
fn eight_threads_share_one_keyring() {
    let Some(h) = hsm() else { return };
    let ring: Arc<dyn Keyring> =
        Arc::new(Pkcs11Keyring::new(token(&h), "coffer-aes", OaepHash::Sha1).unwrap());
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let ring = ring.clone();
            std::thread::spawn(move || {
                for j in 0..25 {
                    let pt = format!("{i}-{j}");
                    let msg = encrypt(ring.clone(), pt.as_bytes()).unwrap();
                    assert_eq!(decrypt(ring.clone(), &msg).unwrap(), pt.as_bytes());
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

/// A logged-in read-write session of this process on the test token, beside the keyrings'
/// own (the module is initialized once per process; another initialization is a no-op).
fn side_session(h: &Hsm) -> cryptoki::session::Session {
    use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
    use cryptoki::session::UserType;
    use cryptoki::types::AuthPin;
    let p11 = Pkcs11::new(&h.module).unwrap();
    let _ = p11.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK));
    let slot = p11
        .get_slots_with_token()
        .unwrap()
        .into_iter()
        .find(|s| p11.get_token_info(*s).unwrap().label().trim() == h.token)
        .unwrap();
    let s = p11.open_rw_session(slot).unwrap();
    let _ = s.login(UserType::User, Some(&AuthPin::new(h.pin.clone().into())));
    s
}

/// Makes the token object `coffer-noenc` (if it is not there): an AES key that may decrypt
/// but not encrypt, sensitive and not extractable. Called by [`fixtures`] only.
fn make_noenc_key(h: &Hsm) {
    use cryptoki::mechanism::Mechanism;
    use cryptoki::object::{Attribute, ObjectClass};
    let s = side_session(h);
    let label = Attribute::Label(b"coffer-noenc".to_vec());
    if s.find_objects(&[Attribute::Class(ObjectClass::SECRET_KEY), label.clone()])
        .unwrap()
        .is_empty()
    {
        s.generate_key(
            &Mechanism::AesKeyGen,
            &[
                Attribute::Token(true),
                Attribute::Private(true),
                Attribute::ValueLen(32.into()),
                Attribute::Encrypt(false),
                Attribute::Decrypt(true),
                Attribute::Sensitive(true),
                Attribute::Extractable(false),
                label,
            ],
        )
        .unwrap();
    }
}

/// Keys made on the token are sensitive and not extractable: their value cannot be read.
#[test]
fn key_material_cannot_be_read_out() {
    use cryptoki::object::{Attribute, AttributeType, ObjectClass};
    let Some(h) = hsm() else { return };
    let s = side_session(&h);
    for label in ["coffer-aes", "coffer-noenc"] {
        let key = s
            .find_objects(&[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::Label(label.as_bytes().to_vec()),
            ])
            .unwrap()[0];
        let attrs = s
            .get_attributes(key, &[AttributeType::Sensitive, AttributeType::Value])
            .unwrap_or_default();
        assert!(
            attrs
                .iter()
                .any(|a| matches!(a, Attribute::Sensitive(true))),
            "{label}: {attrs:?}"
        );
        assert!(
            !attrs.iter().any(|a| matches!(a, Attribute::Value(_))),
            "{label}: the key value could be read"
        );
    }
}

/// A key found by its id (`id=%01`) makes the same EDKs as by its label: they name the label.
#[test]
fn a_key_found_by_id_is_named_by_its_label() {
    let Some(h) = hsm() else { return };
    let t = token(&h);
    let by_id = KeyObject {
        label: None,
        id: Some(vec![1]),
    };
    let ring: Arc<dyn Keyring> =
        Arc::new(Pkcs11Keyring::new(t.clone(), by_id, OaepHash::Sha1).unwrap());
    let msg = encrypt(ring, b"by id").unwrap();
    let by_label: Arc<dyn Keyring> =
        Arc::new(Pkcs11Keyring::new(t.clone(), "coffer-aes", OaepHash::Sha1).unwrap());
    assert_eq!(decrypt(by_label, &msg).unwrap(), b"by id");
    // Label and id that belong to different keys find nothing.
    let neither = KeyObject {
        label: Some("coffer-aes".into()),
        id: Some(vec![2]),
    };
    let e = Pkcs11Keyring::new(t, neither, OaepHash::Sha1)
        .unwrap_err()
        .to_string();
    assert!(e.contains("no key `object=coffer-aes;id=%02`"), "{e}");
}

/// `generate_aes_key` makes a usable, unreadable key once; an AES key on the token is a root
/// key that binds the authenticated data.
#[test]
fn generated_keys_and_the_root_key() {
    use cryptoki::object::{Attribute, AttributeType, ObjectClass};
    let Some(h) = hsm() else { return };
    let t = token(&h);
    // Made by `fixtures` with `generate_aes_key`; a second time is refused before anything
    // is created.
    let label = made_label();
    let e = t.generate_aes_key(&label).unwrap_err().to_string();
    assert!(e.contains("already has a key labelled"), "{e}");
    let e = t.generate_aes_key("coffer-rsa").unwrap_err().to_string();
    assert!(e.contains("already has a key labelled"), "{e}");
    let ring: Arc<dyn Keyring> =
        Arc::new(Pkcs11Keyring::new(t.clone(), label.as_str(), OaepHash::Sha1).unwrap());
    let msg = encrypt(ring.clone(), b"made here").unwrap();
    assert_eq!(decrypt(ring, &msg).unwrap(), b"made here");

    let s = side_session(&h);
    let key = s
        .find_objects(&[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::Label(label.as_bytes().to_vec()),
        ])
        .unwrap()[0];
    let attrs = s
        .get_attributes(
            key,
            &[
                AttributeType::Sensitive,
                AttributeType::Extractable,
                AttributeType::Token,
                AttributeType::Value,
            ],
        )
        .unwrap_or_default();
    for want in [
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Token(true),
    ] {
        assert!(attrs.contains(&want), "{want:?} not in {attrs:?}");
    }
    assert!(!attrs.iter().any(|a| matches!(a, Attribute::Value(_))));

    let root = Pkcs11RootKey::new(t.clone(), &KeyObject::label(&label)).unwrap();
    assert_eq!(
        root.id(),
        format!("pkcs11:token=coffer-test;object={label}")
    );
    let branch = [7u8; 32];
    let wrapped = futures::executor::block_on(root.wrap(&branch, b"row 1")).unwrap();
    assert_eq!(wrapped.len(), 12 + 32 + 16);
    let again = futures::executor::block_on(root.wrap(&branch, b"row 1")).unwrap();
    assert_ne!(wrapped, again, "a fresh IV each time");
    let opened = futures::executor::block_on(root.unwrap(&wrapped, b"row 1")).unwrap();
    assert_eq!(opened.as_slice(), branch);
    for (bytes, aad) in [
        (wrapped.clone(), &b"row 2"[..]),
        (wrapped[..20].to_vec(), &b"row 1"[..]),
        (wrapped[..5].to_vec(), &b"row 1"[..]),
        (
            {
                let mut w = wrapped.clone();
                w[15] ^= 1;
                w
            },
            &b"row 1"[..],
        ),
    ] {
        let e = futures::executor::block_on(root.unwrap(&bytes, aad))
            .unwrap_err()
            .to_string();
        assert!(e.contains("unwrap with the root key"), "{e}");
    }
    let e = Pkcs11RootKey::new(t, &KeyObject::label("coffer-rsa"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("is a key pair: a root key must be an AES"),
        "{e}"
    );
}
