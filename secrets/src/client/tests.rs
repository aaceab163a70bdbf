#![allow(clippy::unwrap_used, clippy::panic, reason = "tests")]

use std::collections::BTreeMap;

use futures::executor::block_on;

use super::*;
use crate::params::STORE_KEY_NAME;
use crate::params::{Expect, ParamName, ParamType, PutRequest, SecretValue};
use crate::store::root::{self, KdfParams, Protection, RootKeyMaterial};
use crate::store::{KeySpec, LocalKeyStore};
use crate::store::{PASSPHRASE_FILE_VAR, Passphrase};

/// A home with a store, a root key protected as `protection`, and the store key.
fn home(protection: Protection, passphrase: Option<&[u8]>) -> (tempfile::TempDir, Home) {
    let dir = tempfile::tempdir().unwrap();
    let home = Home::new(dir.path().join("home"));
    home.create_dir().unwrap();
    let store = Arc::new(Store::create(&home).unwrap());
    let material = RootKeyMaterial::generate().unwrap();
    let p = passphrase.map(|p| Passphrase::new(Zeroizing::new(p.to_vec())));
    let bytes = root::encode(&material, protection, p.as_ref()).unwrap();
    root::write_new(&home.root_key_path(), &bytes).unwrap();
    let local = LocalKeyStore::new(store, material.into_root_key().unwrap()).unwrap();
    block_on(local.create_key(STORE_KEY_NAME, KeySpec::Aes256, None)).unwrap();
    (dir, home)
}

fn put(s: &Secrets, name: &str, value: &str) {
    block_on(s.params().put(PutRequest {
        name: ParamName::parse(name).unwrap(),
        param_type: ParamType::SecureString,
        value: SecretValue::new(Zeroizing::new(value.to_owned())),
        expect: Expect::Any,
        labels: Vec::new(),
        description: None,
        tags: BTreeMap::new(),
        expires_at: None,
        author: "tester".into(),
    }))
    .unwrap();
}

#[test]
fn opens_a_home_and_a_sqlite_url() {
    let (_dir, home) = home(Protection::Plain, None);
    let by_home = Secrets::open(home.dir().to_str().unwrap()).unwrap();
    put(&by_home, "/app/db", "s3cret");
    put(&by_home, "/app/sub/x", "x");
    assert_eq!(
        block_on(by_home.get("/app/db")).unwrap().value.expose(),
        "s3cret"
    );
    let url = format!("sqlite://{}", home.store_path().display());
    let by_url = Secrets::open(&url).unwrap();
    assert_eq!(
        block_on(by_url.get("/app/db")).unwrap().value.expose(),
        "s3cret"
    );
    let all = block_on(by_url.get_by_path("/app", true)).unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(
        block_on(by_url.get_by_path("/app", false)).unwrap().len(),
        1
    );
}

#[test]
fn bad_locations_are_clear_errors() {
    let e = Secrets::open("postgres://db/coffer")
        .unwrap_err()
        .to_string();
    if cfg!(feature = "postgres") {
        assert!(e.contains("Secrets::connect"), "{e}");
    } else {
        assert!(e.contains("no PostgreSQL support"), "{e}");
    }
    let e = Secrets::open("mysql://x").unwrap_err().to_string();
    assert!(e.contains("unknown store URL scheme `mysql`"), "{e}");
    let dir = tempfile::tempdir().unwrap();
    let e = Secrets::open(dir.path().to_str().unwrap())
        .unwrap_err()
        .to_string();
    assert!(e.contains("no coffer store"), "{e}");
    assert!(Secrets::open("").is_err());
}

#[test]
fn a_passphrase_is_never_asked_for() {
    let kdf = KdfParams {
        m_kib: 64,
        t: 1,
        p: 1,
    };
    let (_dir, home) = home(Protection::Passphrase(kdf), Some(b"correct horse"));
    let dir = home.dir().to_str().unwrap();
    // Writing needs the key too; a string value needs none.
    let with =
        Secrets::open_with_passphrase(dir, Zeroizing::new(b"correct horse".to_vec())).unwrap();
    put(&with, "/app/db", "s3cret");
    assert_eq!(
        block_on(with.get("/app/db")).unwrap().value.expose(),
        "s3cret"
    );

    let wrong = Secrets::open_with_passphrase(dir, Zeroizing::new(b"wrong".to_vec())).unwrap();
    assert!(block_on(wrong.get("/app/db")).is_err());

    if std::env::var_os(PASSPHRASE_FILE_VAR).is_none() {
        let without = Secrets::open(dir).unwrap();
        let e = block_on(without.get("/app/db")).unwrap_err();
        let chain = crate::error::chain_text(&e);
        assert!(chain.contains("a library does not ask"), "{chain}");
    }
}
