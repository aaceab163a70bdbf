//! Root rotation: every version rewrapped, an interrupted switch finished, a tampered row or
//! a replaced root refused.

use super::*;

/// A home with a plain `root.key` file, a store, and keys `a` (3 versions) and `b`.
fn file_home() -> (tempfile::TempDir, Home) {
    let dir = tempfile::tempdir().unwrap();
    let home = Home::new(dir.path().join("home"));
    home.create_dir().unwrap();
    drop(Store::create(&home).unwrap());
    let m = RootKeyMaterial::generate().unwrap();
    let bytes = root::encode(&m, root::Protection::Plain, None).unwrap();
    root::write_new(&home.root_key_path(), &bytes).unwrap();
    let keys = open_keys(&home, &PassphraseSource::from_env(None)).unwrap();
    block_on(keys.create_key("a", KeySpec::Aes256, None)).unwrap();
    block_on(keys.rotate_key("a")).unwrap();
    block_on(keys.rotate_key("a")).unwrap();
    block_on(keys.create_key("b", KeySpec::Aes256, None)).unwrap();
    (dir, home)
}

fn all_materials(home: &Home) -> Vec<Vec<u8>> {
    let keys = open_keys(home, &PassphraseSource::from_env(None)).unwrap();
    let mut m = materials(&keys, "a");
    m.extend(materials(&keys, "b"));
    m
}

fn leftovers(home: &Home) -> Vec<PathBuf> {
    root::side_files(&home.root_key_path(), &home.next_root_key_path()).unwrap()
}

#[test]
fn root_rotation_rewraps_every_version() {
    let (_dir, home) = file_home();
    let before = all_materials(&home);
    let old_file = fs::read(home.root_key_path()).unwrap();
    let old_id = Store::open(&home)
        .unwrap()
        .meta("root_id")
        .unwrap()
        .unwrap();
    let r = block_on(rotate_root(&home, None, &PassphraseSource::from_env(None))).unwrap();
    assert_eq!((r.versions, r.keys, r.passphrase), (4, 2, false));
    assert_eq!(r.old_root_id, old_id);
    assert_ne!(r.new_root_id, old_id);
    assert_ne!(fs::read(home.root_key_path()).unwrap(), old_file);
    assert!(leftovers(&home).is_empty());
    let store = Store::open(&home).unwrap();
    assert_eq!(store.meta("root_id").unwrap(), Some(r.new_root_id.clone()));
    for k in store.list_keys().unwrap() {
        assert!(k.versions.iter().all(|v| v.root_id == r.new_root_id));
    }
    assert_eq!(all_materials(&home), before);
    // The old root key opens nothing any more.
    fs::write(home.root_key_path(), &old_file).unwrap();
    let e = open_keys(&home, &PassphraseSource::from_env(None)).unwrap_err();
    assert!(e.to_string().contains("is not the one"), "{e}");
}

#[test]
fn an_interrupted_root_switch_is_finished_on_open() {
    let (_dir, home) = file_home();
    let before = all_materials(&home);
    let old_file = fs::read(home.root_key_path()).unwrap();
    block_on(rotate_root(&home, None, &PassphraseSource::from_env(None))).unwrap();
    let new_file = fs::read(home.root_key_path()).unwrap();
    // The state between the commit and the rename.
    fs::rename(home.root_key_path(), home.next_root_key_path()).unwrap();
    fs::write(home.root_key_path(), &old_file).unwrap();
    assert_eq!(all_materials(&home), before);
    assert_eq!(fs::read(home.root_key_path()).unwrap(), new_file);
    assert!(leftovers(&home).is_empty());
    // And again, then rotating on from there.
    fs::rename(home.root_key_path(), home.next_root_key_path()).unwrap();
    fs::write(home.root_key_path(), &old_file).unwrap();
    block_on(rotate_root(&home, None, &PassphraseSource::from_env(None))).unwrap();
    assert_eq!(all_materials(&home), before);
    assert!(leftovers(&home).is_empty());
}

#[test]
fn leftovers_of_a_root_switch_that_never_committed_are_removed() {
    let (_dir, home) = file_home();
    let before = all_materials(&home);
    let file = fs::read(home.root_key_path()).unwrap();
    let other = RootKeyMaterial::generate().unwrap();
    let other = root::encode(&other, root::Protection::Plain, None).unwrap();
    fs::write(home.next_root_key_path(), &other).unwrap();
    fs::write(
        home.dir().join(".root.key.next.abc123.coffer-tmp"),
        &other[..40],
    )
    .unwrap();
    fs::write(home.dir().join("unrelated"), b"x").unwrap();
    assert_eq!(leftovers(&home).len(), 2);
    assert_eq!(all_materials(&home), before);
    assert!(leftovers(&home).is_empty());
    assert!(home.dir().join("unrelated").exists());
    assert_eq!(fs::read(home.root_key_path()).unwrap(), file);
}

#[test]
fn root_rotation_with_a_tampered_row_changes_nothing() {
    let (_dir, home) = file_home();
    let c = Connection::open(home.store_path()).unwrap();
    let w: Vec<u8> = c
        .query_row(
            "SELECT wrapped FROM key_versions WHERE name = 'a' AND version = 2",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let mut t = w.clone();
    t[20] ^= 1;
    c.execute(
        "UPDATE key_versions SET wrapped = ?1 WHERE name = 'a' AND version = 2",
        [&t],
    )
    .unwrap();
    let file = fs::read(home.root_key_path()).unwrap();
    let id = Store::open(&home).unwrap().meta("root_id").unwrap();
    let e = block_on(rotate_root(&home, None, &PassphraseSource::from_env(None))).unwrap_err();
    assert!(
        e.to_string()
            .contains("version 2 of key `a` does not unwrap")
            && e.to_string().contains("nothing was changed"),
        "{e}"
    );
    assert_eq!(fs::read(home.root_key_path()).unwrap(), file);
    assert_eq!(Store::open(&home).unwrap().meta("root_id").unwrap(), id);
    assert!(leftovers(&home).is_empty());
    c.execute(
        "UPDATE key_versions SET wrapped = ?1 WHERE name = 'a' AND version = 2",
        [&w],
    )
    .unwrap();
    block_on(rotate_root(&home, None, &PassphraseSource::from_env(None))).unwrap();
}

#[test]
fn writes_under_a_replaced_root_are_refused() {
    let (_dir, home) = file_home();
    let stale = attached(open_keys(&home, &PassphraseSource::from_env(None)).unwrap());
    block_on(rotate_root(&home, None, &PassphraseSource::from_env(None))).unwrap();
    // A process that loaded the old root before the rotation committed.
    for e in [
        block_on(stale.rotate_key("a")).unwrap_err(),
        block_on(stale.create_key("c", KeySpec::Aes256, None)).unwrap_err(),
    ] {
        assert!(
            e.to_string().contains("changed while this command ran"),
            "{e}"
        );
    }
    let keys = open_keys(&home, &PassphraseSource::from_env(None)).unwrap();
    assert!(keys.store().get_key("c").unwrap().is_none());
    assert_eq!(
        keys.store().get_key("a").unwrap().unwrap().versions.len(),
        3
    );
    block_on(keys.rotate_key("a")).unwrap();
}
