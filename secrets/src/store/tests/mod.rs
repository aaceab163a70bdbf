#![allow(clippy::unwrap_used, reason = "tests")]

use std::sync::Arc;

use coffer_core::keyring::{BranchKeyStore as _, RootKey};
use futures::executor::block_on;

use crate::store::audit_signer::AuditSigner;
use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use rusqlite::{Connection, params};

use super::root::RootKeyMaterial;
use super::*;
use crate::error::Advice;

mod audit_head;
mod root_switch;

struct Fixture {
    _dir: tempfile::TempDir,
    home: Home,
    keys: LocalKeyStore,
}

/// The SQLite store under a [`LocalKeyStore`], as a second connection to its file.
trait Sqlite {
    fn store(&self) -> Store;
}

impl Sqlite for LocalKeyStore {
    fn store(&self) -> Store {
        let store = Store::open_file(self.table().location().into()).unwrap();
        let key = block_on(self.audit_key()).unwrap();
        store.set_audit_signer(Arc::new(AuditSigner::new(key, None, (0, vec![0; 32]))));
        store
    }
}

fn root() -> Arc<dyn RootKey> {
    RootKeyMaterial::generate()
        .unwrap()
        .into_root_key()
        .unwrap()
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let home = Home::new(dir.path().join("home"));
    home.create_dir().unwrap();
    let store = Arc::new(Store::create(&home).unwrap());
    let keys = attached(LocalKeyStore::new(store, root()).unwrap());
    Fixture {
        _dir: dir,
        home,
        keys,
    }
}

/// A second connection, as another process (or a tamperer) would have.
fn raw(f: &Fixture) -> Connection {
    Connection::open(f.home.store_path()).unwrap()
}

fn uuid_of(f: &Fixture, name: &str, version: u32) -> [u8; 16] {
    let rec = f.keys.store().get_key(name).unwrap().unwrap();
    rec.versions
        .iter()
        .find(|v| v.version == version)
        .unwrap()
        .uuid
}

/// Adds version 2 of `name` as a rotation would (wrapped with the right AAD) and makes it
/// active.
fn add_version(f: &Fixture, root: &dyn RootKey, name: &str) -> [u8; 16] {
    let uuid = new_uuid().unwrap();
    let wrapped = block_on(root.wrap(&[9u8; 32], &branch_key_aad(name, 2, &uuid))).unwrap();
    let c = raw(f);
    c.execute(
        "INSERT INTO key_versions (name, version, uuid, created_at, wrapped, root_id)
         VALUES (?1, 2, ?2, 0, ?3, ?4)",
        params![name, &uuid[..], wrapped, root.id()],
    )
    .unwrap();
    c.execute("UPDATE keys SET active_version = 2 WHERE name = ?1", [name])
        .unwrap();
    f.keys.store().reseal_for_tests(&[], None).unwrap();
    uuid
}

/// The advice of the store's error inside a keyring error.
fn advice_of(r: coffer_core::Result<coffer_core::keyring::BranchKey>) -> Option<Advice> {
    let e = r.unwrap_err();
    let mut src = std::error::Error::source(&e);
    while let Some(x) = src {
        if let Some(e) = x.downcast_ref::<Error>() {
            return e.detail().and_then(|d| d.advice()).cloned();
        }
        src = x.source();
    }
    None
}

fn err_text(r: coffer_core::Result<coffer_core::keyring::BranchKey>) -> String {
    let e = r.unwrap_err();
    let mut s = e.to_string();
    let mut src = std::error::Error::source(&e);
    while let Some(x) = src {
        s.push_str(": ");
        s.push_str(&x.to_string());
        src = x.source();
    }
    s
}

#[test]
fn names() {
    for ok in ["a", "prod-db", "A.b_c-9", &"x".repeat(64), "1key"] {
        validate_name(ok).unwrap();
    }
    for bad in [
        "",
        "-x",
        ".x",
        "_x",
        "a/b",
        "a b",
        "a:b",
        "é",
        "a\0b",
        &"x".repeat(65),
    ] {
        let e = validate_name(bad).unwrap_err();
        assert!(e.to_string().contains("bad key name"), "{bad:?}: {e}");
    }
}

#[test]
fn specs() {
    assert_eq!(KeySpec::parse("aes-256").unwrap(), KeySpec::Aes256);
    let e = KeySpec::parse("rsa-4096").unwrap_err();
    assert!(e.to_string().contains("not supported yet"), "{e}");
    assert!(KeySpec::parse("aes-128").is_err());
}

#[test]
fn schema_and_pragmas() {
    let f = fixture();
    let c = raw(&f);
    let v: u32 = c
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, SCHEMA_VERSION);
    let mode: String = c
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    assert_eq!(
        f.keys.store().meta("schema").unwrap(),
        Some(SCHEMA_VERSION.to_string())
    );
    assert!(f.keys.store().meta("root_id").unwrap().is_some());
    // Opening again is a no-op migration.
    drop(Store::open(&f.home).unwrap());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = fs::metadata(f.home.store_path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn newer_schema_is_refused() {
    let f = fixture();
    raw(&f).execute_batch("PRAGMA user_version = 99").unwrap();
    let e = Store::open(&f.home).unwrap_err();
    assert!(e.to_string().contains("schema version 99"), "{e}");
}

#[test]
fn missing_store() {
    let dir = tempfile::tempdir().unwrap();
    let e = Store::open(&Home::new(dir.path())).unwrap_err();
    assert!(e.to_string().contains("no coffer store"), "{e}");
}

/// A caller tells what went wrong by the kind, not by the words.
#[test]
fn store_errors_have_kinds() {
    let dir = tempfile::tempdir().unwrap();
    let home = Home::new(dir.path());
    assert!(matches!(Store::open(&home), Err(Error::NoStore(_))));
    fs::write(home.store_path(), [7u8; 4096]).unwrap();
    assert!(matches!(Store::open(&home), Err(Error::Corrupt(_))));
    fs::write(home.store_path(), b"").unwrap();
    assert!(matches!(Store::open(&home), Err(Error::Corrupt(_))));

    let f = fixture();
    block_on(f.keys.create_key("app", KeySpec::Aes256, None)).unwrap();
    assert!(matches!(
        block_on(f.keys.create_key("app", KeySpec::Aes256, None)),
        Err(Error::Conflict(_))
    ));
    assert!(matches!(
        block_on(f.keys.rotate_key("nope")),
        Err(Error::Missing(_))
    ));
    raw(&f).execute_batch("PRAGMA user_version = 99").unwrap();
    let e = Store::open(&f.home).unwrap_err();
    assert_eq!(
        e.detail().and_then(|d| d.advice()),
        Some(&Advice::NewerVersion)
    );
}

#[test]
fn create_show_and_one_unwrap_per_version() {
    let f = fixture();
    let rec = block_on(f.keys.create_key("app", KeySpec::Aes256, Some(86_400))).unwrap();
    assert_eq!((rec.active_version, rec.versions.len()), (1, 1));
    assert_eq!(rec.next_rotation(), Some(rec.created_at + 86_400));
    let e = block_on(f.keys.create_key("app", KeySpec::Aes256, None)).unwrap_err();
    assert!(e.to_string().contains("already exists"), "{e}");
    assert_eq!(f.keys.store().get_key("app").unwrap().unwrap(), rec);

    let a = block_on(f.keys.active_branch_key("app")).unwrap();
    assert_eq!(a.id(), "app");
    assert_eq!(a.version(), &rec.versions[0].uuid);
    for _ in 0..100 {
        let b = block_on(f.keys.active_branch_key("app")).unwrap();
        assert_eq!(b.expose_secret(), a.expose_secret());
        let c = block_on(f.keys.branch_key_version("app", &rec.versions[0].uuid)).unwrap();
        assert_eq!(c.expose_secret(), a.expose_secret());
    }
    assert_eq!(f.keys.root_unwraps(), 1);
    let dbg = format!("{:?}", f.keys);
    assert!(!dbg.contains(&hex::encode(a.expose_secret())), "{dbg}");

    block_on(f.keys.create_key("other", KeySpec::Aes256, None)).unwrap();
    let o = block_on(f.keys.active_branch_key("other")).unwrap();
    assert_ne!(o.expose_secret(), a.expose_secret());
    assert_eq!(f.keys.root_unwraps(), 2);
    let names: Vec<_> = f
        .keys
        .store()
        .list_keys()
        .unwrap()
        .into_iter()
        .map(|k| k.name)
        .collect();
    assert_eq!(names, ["app", "other"]);
}

#[test]
fn disabled_retired_and_unknown() {
    let f = fixture();
    let rec = block_on(f.keys.create_key("app", KeySpec::Aes256, None)).unwrap();
    let v1 = rec.versions[0].uuid;
    assert!(f.keys.store().set_state("app", KeyState::Disabled).unwrap());
    assert!(!f.keys.store().set_state("app", KeyState::Disabled).unwrap());
    let e = err_text(block_on(f.keys.active_branch_key("app")));
    assert!(e.contains("`app` is disabled"), "{e}");
    assert_eq!(
        advice_of(block_on(f.keys.active_branch_key("app"))),
        Some(Advice::EnableKey("app".into()))
    );
    let e = err_text(block_on(f.keys.branch_key_version("app", &v1)));
    assert!(e.contains("disabled"), "{e}");
    assert!(f.keys.store().set_state("app", KeyState::Enabled).unwrap());
    block_on(f.keys.active_branch_key("app")).unwrap();

    // Retired in the database alone: the row fails its seal, and version 1 is not used.
    let conn = raw(&f);
    conn.execute(
        "UPDATE keys SET min_decrypt_version = 2 WHERE name = 'app'",
        [],
    )
    .unwrap();
    let e = err_text(block_on(f.keys.branch_key_version("app", &v1)));
    assert!(
        e.contains("key `app`") && e.contains("its row (keys) does not match its MAC"),
        "{e}"
    );
    conn.execute(
        "UPDATE keys SET min_decrypt_version = 1 WHERE name = 'app'",
        [],
    )
    .unwrap();
    block_on(f.keys.rotate_key("app")).unwrap();
    f.keys.store().set_min_decrypt_version("app", 2).unwrap();
    let e = err_text(block_on(f.keys.branch_key_version("app", &v1)));
    assert!(
        e.contains("version 1 of key `app` was retired (versions below 2 may not decrypt)"),
        "{e}"
    );

    let e = err_text(block_on(f.keys.active_branch_key("nope")));
    assert!(e.contains("no key named `nope`"), "{e}");
    let e = err_text(block_on(f.keys.branch_key_version("app", &[0; 16])));
    assert!(e.contains("has no version 00000000-0000"), "{e}");
    let e = f
        .keys
        .store()
        .set_state("nope", KeyState::Enabled)
        .unwrap_err();
    assert!(e.to_string().contains("no key named `nope`"), "{e}");
}

/// A fresh process (empty cache) over the same store and root.
fn reopen(f: &Fixture, root: Arc<dyn RootKey>) -> LocalKeyStore {
    attached(LocalKeyStore::new(Arc::new(Store::open(&f.home).unwrap()), root).unwrap())
}

/// `keys` with the store's audit log opened, as every command that writes opens it first.
fn attached(keys: LocalKeyStore) -> LocalKeyStore {
    block_on(keys.audit_key()).unwrap();
    keys
}

fn fixture_with_root() -> (Fixture, Arc<dyn RootKey>) {
    let dir = tempfile::tempdir().unwrap();
    let home = Home::new(dir.path().join("home"));
    home.create_dir().unwrap();
    let root = root();
    let keys = attached(
        LocalKeyStore::new(Arc::new(Store::create(&home).unwrap()), root.clone()).unwrap(),
    );
    (
        Fixture {
            _dir: dir,
            home,
            keys,
        },
        root,
    )
}

#[test]
fn tampered_rows_fail_to_unwrap() {
    let (f, root) = fixture_with_root();
    block_on(f.keys.create_key("a", KeySpec::Aes256, None)).unwrap();
    block_on(f.keys.create_key("b", KeySpec::Aes256, None)).unwrap();
    let a1 = uuid_of(&f, "a", 1);
    let a2 = add_version(&f, root.as_ref(), "a");
    let fresh = reopen(&f, root.clone());
    block_on(fresh.branch_key_version("a", &a1)).unwrap();
    block_on(fresh.branch_key_version("a", &a2)).unwrap();
    block_on(fresh.active_branch_key("b")).unwrap();

    let expect_fail = |what: &str, uuid: &[u8; 16], name: &str| {
        let ks = reopen(&f, root.clone());
        let e = err_text(block_on(ks.branch_key_version(name, uuid)));
        // Found by the root key's additional data, or before, by the version's seal.
        assert!(
            (e.contains("does not unwrap under the root key") && e.contains("altered or moved"))
                || e.contains("(key_versions) has no MAC or does not match it"),
            "{what}: {e}"
        );
    };
    let c = raw(&f);
    let wrapped = |name: &str, v: u32| -> Vec<u8> {
        c.query_row(
            "SELECT wrapped FROM key_versions WHERE name = ?1 AND version = ?2",
            params![name, v],
            |r| r.get(0),
        )
        .unwrap()
    };
    let set = |name: &str, v: u32, w: &[u8]| {
        c.execute(
            "UPDATE key_versions SET wrapped = ?3 WHERE name = ?1 AND version = ?2",
            params![name, v, w],
        )
        .unwrap();
    };
    let (wa1, wa2, wb1) = (wrapped("a", 1), wrapped("a", 2), wrapped("b", 1));

    // Swap the wrapped blobs of two versions of one key.
    set("a", 1, &wa2);
    set("a", 2, &wa1);
    expect_fail("versions swapped (v1)", &a1, "a");
    expect_fail("versions swapped (v2)", &a2, "a");
    set("a", 1, &wa1);
    set("a", 2, &wa2);

    // Move a blob from one key to another.
    set("b", 1, &wa1);
    expect_fail("blob moved between names", &uuid_of(&f, "b", 1), "b");
    set("b", 1, &wb1);

    // Flip a byte.
    for i in [0, wa1.len() / 2, wa1.len() - 1] {
        let mut w = wa1.clone();
        w[i] ^= 0x01;
        set("a", 1, &w);
        expect_fail(&format!("byte {i} flipped"), &a1, "a");
    }
    set("a", 1, &wa1);

    // Renumber a version (its uuid and blob stay).
    c.execute(
        "UPDATE key_versions SET version = 3 WHERE name = 'a' AND version = 1",
        [],
    )
    .unwrap();
    expect_fail("version renumbered", &a1, "a");
    c.execute(
        "UPDATE key_versions SET version = 1 WHERE name = 'a' AND version = 3",
        [],
    )
    .unwrap();

    // Give a version another uuid.
    let other = new_uuid().unwrap();
    c.execute(
        "UPDATE key_versions SET uuid = ?1 WHERE name = 'a' AND version = 1",
        [&other[..]],
    )
    .unwrap();
    expect_fail("uuid changed", &other, "a");
    c.execute(
        "UPDATE key_versions SET uuid = ?1 WHERE name = 'a' AND version = 1",
        [&a1[..]],
    )
    .unwrap();

    // Restored: everything unwraps again.
    let ks = reopen(&f, root);
    block_on(ks.branch_key_version("a", &a1)).unwrap();
    block_on(ks.branch_key_version("a", &a2)).unwrap();
    block_on(ks.active_branch_key("b")).unwrap();
}

#[test]
fn another_root_is_refused() {
    let (f, _root) = fixture_with_root();
    block_on(f.keys.create_key("a", KeySpec::Aes256, None)).unwrap();
    let e = LocalKeyStore::new(Arc::new(Store::open(&f.home).unwrap()), root()).unwrap_err();
    assert!(e.to_string().contains("is not the one"), "{e}");
}

#[test]
fn aad_layout() {
    let aad = branch_key_aad("k", 258, &[7; 16]);
    let mut want = b"coffer branch key v1\0k\0\0\0\x01\x02".to_vec();
    want.extend_from_slice(&[7; 16]);
    assert_eq!(aad, want);
    assert_eq!(
        format_uuid(&[0x12; 16]),
        "12121212-1212-1212-1212-121212121212"
    );
    let u = new_uuid().unwrap();
    assert_eq!((u[6] >> 4, u[8] >> 6), (4, 2));
}

#[test]
fn root_material_debug_is_redacted() {
    let m = RootKeyMaterial::generate().unwrap();
    let hex = hex::encode(m.expose_secret());
    let s = format!("{m:?}");
    let s = format!("{s} {:?}", m.into_root_key().unwrap());
    assert!(!s.contains(&hex), "{s}");
}

/// Material of every version of `name`, as a fresh process unwraps it.
fn materials(keys: &LocalKeyStore, name: &str) -> Vec<Vec<u8>> {
    let rec = keys.store().get_key(name).unwrap().unwrap();
    rec.versions
        .iter()
        .map(|v| {
            block_on(keys.branch_key_version(name, &v.uuid))
                .unwrap()
                .expose_secret()
                .to_vec()
        })
        .collect()
}

/// Moves the versions of key `name` back by `secs`, and seals them so (as if made then).
fn backdate(f: &Fixture, name: &str, secs: i64) {
    raw(f)
        .execute(
            "UPDATE key_versions SET created_at = created_at - ?2 WHERE name = ?1",
            params![name, secs],
        )
        .unwrap();
    f.keys.store().reseal_for_tests(&[], None).unwrap();
}

#[test]
fn rotate_adds_an_active_version_and_keeps_the_old_ones() {
    let (f, root) = fixture_with_root();
    block_on(f.keys.create_key("app", KeySpec::Aes256, None)).unwrap();
    let v1 = block_on(f.keys.active_branch_key("app")).unwrap();
    let r = block_on(f.keys.rotate_key("app")).unwrap();
    assert_eq!((r.previous_version, r.version.version), (1, 2));
    let r = block_on(f.keys.rotate_key("app")).unwrap();
    assert_eq!((r.previous_version, r.version.version), (2, 3));
    let rec = f.keys.store().get_key("app").unwrap().unwrap();
    assert_eq!(rec.active_version, 3);
    assert_eq!(rec.versions.len(), 3);
    assert_eq!(rec.versions[2].uuid, r.version.uuid);
    let active = block_on(f.keys.active_branch_key("app")).unwrap();
    assert_eq!(active.version(), &r.version.uuid);
    let fresh = reopen(&f, root);
    let m = materials(&fresh, "app");
    assert_eq!(m[0], v1.expose_secret().to_vec());
    assert!(m[0] != m[1] && m[1] != m[2] && m[0] != m[2]);

    let e = block_on(f.keys.rotate_key("nope")).unwrap_err();
    assert!(e.to_string().contains("no key named `nope`"), "{e}");
    f.keys.store().set_state("app", KeyState::Disabled).unwrap();
    let e = block_on(f.keys.rotate_key("app")).unwrap_err();
    assert!(e.to_string().contains("`app` is disabled"), "{e}");
    let after = f.keys.store().get_key("app").unwrap().unwrap();
    assert_eq!((after.active_version, after.versions), (3, rec.versions));
}

#[test]
fn a_due_rotation_is_checked_again_in_its_transaction() {
    let (f, root) = fixture_with_root();
    block_on(f.keys.create_key("app", KeySpec::Aes256, Some(3600))).unwrap();
    let now = crate::time::now_unix();
    assert_eq!(block_on(f.keys.rotate_if_due("app", now)).unwrap(), None);
    backdate(&f, "app", 7200);
    // Two processes that both saw version 1 due make version 2: the first one wins.
    let other = reopen(&f, root.clone());
    let wrap =
        |uuid: &[u8; 16]| block_on(root.wrap(&[5u8; 32], &branch_key_aad("app", 2, uuid))).unwrap();
    let mk = || VersionRecord {
        version: 2,
        uuid: new_uuid().unwrap(),
        created_at: now,
        root_id: root.id(),
        mac: None,
    };
    let (a, b) = (mk(), mk());
    assert_eq!(
        f.keys
            .store()
            .add_version("app", 1, &a, &wrap(&a.uuid), Some(now))
            .unwrap(),
        AddVersion::Added
    );
    assert_eq!(
        other
            .store()
            .add_version("app", 1, &b, &wrap(&b.uuid), Some(now))
            .unwrap(),
        AddVersion::Changed
    );
    // Looking again, the key is not due any more.
    assert_eq!(block_on(other.rotate_if_due("app", now)).unwrap(), None);
    assert_eq!(
        f.keys
            .store()
            .get_key("app")
            .unwrap()
            .unwrap()
            .versions
            .len(),
        2
    );

    // Due again; disabled keys and keys without a period are left alone.
    backdate(&f, "app", 7200);
    f.keys.store().set_state("app", KeyState::Disabled).unwrap();
    assert_eq!(block_on(f.keys.rotate_if_due("app", now)).unwrap(), None);
    f.keys.store().set_state("app", KeyState::Enabled).unwrap();
    let r = block_on(f.keys.rotate_if_due("app", now)).unwrap().unwrap();
    assert_eq!(r.version.version, 3);
    block_on(f.keys.create_key("manual", KeySpec::Aes256, None)).unwrap();
    backdate(&f, "manual", 1_000_000);
    assert_eq!(block_on(f.keys.rotate_if_due("manual", now)).unwrap(), None);
    let c = f
        .keys
        .store()
        .set_rotation_period("manual", Some(60))
        .unwrap();
    assert_eq!(c.rotation_period_secs, Some(60));
    assert!(c.next_rotation().unwrap() <= now);
    assert!(
        block_on(f.keys.rotate_if_due("manual", now))
            .unwrap()
            .is_some()
    );
    let c = f.keys.store().set_rotation_period("manual", None).unwrap();
    assert_eq!((c.rotation_period_secs, c.next_rotation()), (None, None));
    let e = f
        .keys
        .store()
        .set_rotation_period("nope", None)
        .unwrap_err();
    assert!(e.to_string().contains("no key named"), "{e}");
}

#[test]
fn retire_raises_and_lowers_the_minimum() {
    let f = fixture();
    let rec = block_on(f.keys.create_key("app", KeySpec::Aes256, None)).unwrap();
    let v1 = rec.versions[0].uuid;
    let e = f
        .keys
        .store()
        .set_min_decrypt_version("app", 2)
        .unwrap_err();
    assert!(e.to_string().contains("its active version is 1"), "{e}");
    block_on(f.keys.rotate_key("app")).unwrap();
    let (prev, rec) = f.keys.store().set_min_decrypt_version("app", 2).unwrap();
    assert_eq!((prev, rec.min_decrypt_version), (1, 2));
    let e = err_text(block_on(f.keys.branch_key_version("app", &v1)));
    assert!(e.contains("version 1 of key `app` was retired"), "{e}");
    assert_eq!(
        advice_of(block_on(f.keys.branch_key_version("app", &v1))),
        Some(Advice::LowerMinimum {
            key: "app".into(),
            version: 1
        })
    );
    block_on(f.keys.active_branch_key("app")).unwrap();
    let e = f
        .keys
        .store()
        .set_min_decrypt_version("app", 3)
        .unwrap_err();
    assert!(e.to_string().contains("cannot retire"), "{e}");
    let (prev, rec) = f.keys.store().set_min_decrypt_version("app", 1).unwrap();
    assert_eq!((prev, rec.min_decrypt_version), (2, 1));
    block_on(f.keys.branch_key_version("app", &v1)).unwrap();
    assert!(f.keys.store().set_min_decrypt_version("nope", 1).is_err());
}

/// Unwrapped versions live for the cache's TTL: after it, the root key is asked again (for a
/// KMS root, one KMS call per version and period).
#[test]
fn unwrapped_versions_expire_after_their_ttl() {
    let dir = tempfile::tempdir().unwrap();
    let home = Home::new(dir.path().join("home"));
    home.create_dir().unwrap();
    let clock = Arc::new(coffer_cache::ManualClock::new());
    let cache = Arc::new(coffer_cache::LocalCache::with_clock(
        std::num::NonZeroUsize::new(10).unwrap(),
        clock.clone(),
    ));
    let keys = LocalKeyStore::new(Arc::new(Store::create(&home).unwrap()), root())
        .unwrap()
        .with_cache(cache, Duration::from_secs(60));
    block_on(keys.create_key("app", KeySpec::Aes256, None)).unwrap();
    for _ in 0..10 {
        block_on(keys.active_branch_key("app")).unwrap();
    }
    assert_eq!(keys.root_unwraps(), 1);
    clock.advance(Duration::from_secs(59));
    block_on(keys.active_branch_key("app")).unwrap();
    assert_eq!(keys.root_unwraps(), 1);
    clock.advance(Duration::from_secs(1));
    block_on(keys.active_branch_key("app")).unwrap();
    assert_eq!(keys.root_unwraps(), 2);
}
