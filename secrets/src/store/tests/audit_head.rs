//! The audit head checked again in every append, and the upgrade that seals the key rows of
//! a store of the release before.

use super::*;

/// The head is checked again inside every append's transaction: a head changed in the
/// database after the store was opened (the whole log declared unkeyed, so that a rewrite
/// with plain SHA-256 would verify; a count out of range; the last entry removed) is refused,
/// never signed, and nothing is written.
#[test]
fn a_head_changed_after_the_open_is_refused_not_signed() {
    let f = fixture();
    block_on(f.keys.create_key("a", KeySpec::Aes256, None)).unwrap();
    let count = |c: &Connection| -> i64 {
        c.query_row("SELECT count(*) FROM audit", [], |r| r.get(0))
            .unwrap()
    };
    let conn = raw(&f);
    let saved: Vec<(String, String)> = conn
        .prepare("SELECT key, value FROM meta")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for tamper in [
        "UPDATE meta SET value = CAST((SELECT count(*) FROM audit) + 1 AS TEXT)
         WHERE key = 'audit_keyed_from'",
        "UPDATE meta SET value = '9223372036854775807' WHERE key = 'audit_count'",
        "DELETE FROM audit WHERE seq = (SELECT max(seq) FROM audit)",
    ] {
        let before = count(&conn);
        conn.execute_batch(tamper).unwrap();
        // A new key: its write checks no row of its own, only the head it appends to.
        let e = block_on(f.keys.create_key("b", KeySpec::Aes256, None)).unwrap_err();
        assert!(
            e.to_string().contains("changed outside coffer"),
            "{tamper}: {e}"
        );
        assert!(e.to_string().contains("nothing was written"), "{e}");
        assert!(f.keys.store().get_key("b").unwrap().is_none());
        assert!(count(&conn) <= before, "{tamper}: nothing was appended");
        for (k, v) in &saved {
            conn.execute("UPDATE meta SET value = ?2 WHERE key = ?1", [k, v])
                .unwrap();
        }
    }
}

/// A head with a good MAC may still be an older one: one put back under a running process
/// (a backup restored while a hook runs, a service) is refused by that process's next
/// append, which knows the log held a later entry.
#[test]
fn an_older_head_put_back_under_a_running_process_is_refused() {
    let f = fixture();
    block_on(f.keys.create_key("a", KeySpec::Aes256, None)).unwrap();
    let conn = raw(&f);
    let saved: Vec<(String, String)> = conn
        .prepare("SELECT key, value FROM meta")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    block_on(f.keys.rotate_key("a")).unwrap();
    conn.execute(
        "DELETE FROM audit WHERE seq = (SELECT max(seq) FROM audit)",
        [],
    )
    .unwrap();
    for (k, v) in &saved {
        conn.execute("UPDATE meta SET value = ?2 WHERE key = ?1", [k, v])
            .unwrap();
    }
    let e = block_on(f.keys.create_key("b", KeySpec::Aes256, None)).unwrap_err();
    assert!(e.to_string().contains("it was rolled back"), "{e}");
    assert!(e.to_string().contains("nothing was written"), "{e}");
}

/// Takes the store of `f` back to the release before the key table was sealed (audit key
/// format 2: wrapped under the older additional data, no MACs on the key or parameter
/// rows), as that release left it.
fn unseal(f: &Fixture, root: &dyn RootKey) {
    let c = raw(f);
    let meta = |k: &str| -> String {
        c.query_row("SELECT value FROM meta WHERE key = ?1", [k], |r| r.get(0))
            .unwrap()
    };
    let store_id = meta("store_id");
    let wrapped = hex::decode(meta("audit_key")).unwrap();
    let secret = block_on(root.unwrap(
        &wrapped,
        &audit::key_aad(&store_id, audit::KEY_FORMAT_SEALED),
    ))
    .unwrap();
    let old = block_on(root.wrap(&secret, &audit::key_aad(&store_id, 2))).unwrap();
    c.execute_batch(&format!(
        "UPDATE meta SET value = '{}' WHERE key = 'audit_key';
         DELETE FROM meta WHERE key = 'audit_key_format';
         UPDATE keys SET seal_seq = NULL, mac = NULL;
         UPDATE key_versions SET mac = NULL;
         UPDATE params SET seal_seq = NULL, mac = NULL;
         UPDATE param_versions SET mac = NULL;",
        hex::encode(old)
    ))
    .unwrap();
}

/// The upgrade that seals the key rows of a store of the release before checks each key's
/// row against what the (verified) log says of it first: a version un-retired, or a key
/// enabled again, in the database before the upgrade is refused, not sealed, and the store
/// stays unsealed until the row is put right.
#[test]
fn an_edit_before_the_seal_is_refused_not_sealed() {
    let (f, root) = fixture_with_root();
    block_on(f.keys.create_key("app", KeySpec::Aes256, None)).unwrap();
    block_on(f.keys.rotate_key("app")).unwrap();
    f.keys.store().set_min_decrypt_version("app", 2).unwrap();
    block_on(f.keys.create_key("off", KeySpec::Aes256, None)).unwrap();
    f.keys.store().set_state("off", KeyState::Disabled).unwrap();
    unseal(&f, root.as_ref());
    let c = raw(&f);
    let format = || -> Option<String> {
        c.query_row(
            "SELECT value FROM meta WHERE key = 'audit_key_format'",
            [],
            |r| r.get(0),
        )
        .ok()
    };
    for (edit, undo, says) in [
        (
            "UPDATE keys SET min_decrypt_version = 1 WHERE name = 'app'",
            "UPDATE keys SET min_decrypt_version = 2 WHERE name = 'app'",
            "key `app` in the store",
        ),
        (
            "UPDATE keys SET state = 'enabled' WHERE name = 'off'",
            "UPDATE keys SET state = 'disabled' WHERE name = 'off'",
            "key `off` in the store",
        ),
        (
            "UPDATE keys SET active_version = 1 WHERE name = 'app'",
            "UPDATE keys SET active_version = 2 WHERE name = 'app'",
            "its row (keys) says active version 1, its audit log 2",
        ),
    ] {
        c.execute_batch(edit).unwrap();
        let keys =
            LocalKeyStore::new(Arc::new(Store::open(&f.home).unwrap()), root.clone()).unwrap();
        let e = block_on(keys.audit_key()).unwrap_err().to_string();
        assert!(
            e.contains(says) && e.contains("were not sealed"),
            "{edit}: {e}"
        );
        assert_eq!(format(), None, "{edit}: nothing was sealed");
        c.execute_batch(undo).unwrap();
    }
    // Put right, the store is sealed on the next open: one entry for the key rows, one per
    // key, one for the parameter rows.
    let before: i64 = c
        .query_row("SELECT count(*) FROM audit", [], |r| r.get(0))
        .unwrap();
    let keys = reopen(&f, root.clone());
    assert_eq!(format().as_deref(), Some("4"));
    let sealed: Vec<(String, String)> = c
        .prepare("SELECT verb, name FROM audit WHERE seq > ?1 ORDER BY seq")
        .unwrap()
        .query_map([before], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        sealed,
        [
            ("audit-seal".to_owned(), "keys".to_owned()),
            ("key-seal".to_owned(), "app".to_owned()),
            ("key-seal".to_owned(), "off".to_owned()),
            ("audit-seal".to_owned(), "params".to_owned())
        ]
    );
    let e = err_text(block_on(
        keys.branch_key_version("app", &uuid_of(&f, "app", 1)),
    ));
    assert!(e.contains("was retired"), "{e}");
    block_on(keys.active_branch_key("app")).unwrap();
}
