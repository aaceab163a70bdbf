//! The key table as a database writer without keys attacks it (`coffer::store::key_seal`):
//! rows edited, put back, stripped, deleted or retyped, entries hidden, triggers racing a
//! write, and the upgrade of a store of the release before.

use super::*;

/// The key table is sealed (`crate::store::key_seal`): a version retired, a key disabled, or
/// a version's age, then changed back in the database by a writer without the root key
/// (edited, put back from an older copy of the row, stripped of its MAC, or passed off as a
/// store not sealed yet) is refused by the next read, naming the key, and by every write,
/// which never seals the edit.
#[test]
fn a_key_un_retired_or_re_enabled_in_the_database_is_refused() {
    Site::each(|s| {
        s.sh("a", "key create app").success();
        s.put("a", "put /app/k --key local:app", "v1").success();
        s.sh("a", "key rotate app").success();
        s.put("a", "put /app/k --key local:app --overwrite", "v2")
            .success();
        let both = |sql: &str| s.sql(sql, sql);
        let put_back = |table: &str| {
            both(&format!(
                "UPDATE keys SET min_decrypt_version = t.min_decrypt_version, state = t.state,
                                 seal_seq = t.seal_seq, mac = t.mac
                 FROM {table} t WHERE keys.name = t.name"
            ));
        };
        // The row as it was before the retirement, as a backup would hold it.
        both("CREATE TABLE before_retire AS SELECT * FROM keys");
        s.sh("a", "key retire app --below-version 2").success();
        both("CREATE TABLE retired AS SELECT * FROM keys");
        s.refused("a", "get /app/k:1", "retired");
        assert_eq!(s.get("a", "/app/k"), "v2\n");

        // Edited.
        both("UPDATE keys SET min_decrypt_version = 1 WHERE name = 'app'");
        let e = s.refused("a", "get /app/k:1", "key `app`");
        assert!(e.contains("its row (keys) does not match its MAC"), "{e}");
        s.refused("a", "get /app/k", "does not match its MAC");
        s.refused("a", "exec --path /app -- true", "does not match its MAC");
        s.refused("a", "key list", "does not match its MAC");
        s.refused("a", "key show app", "does not match its MAC");
        s.refused("a", "key rotate app", "does not match its MAC");
        s.refused("a", "key disable app", "does not match its MAC");
        put_back("retired");
        assert_eq!(s.get("a", "/app/k"), "v2\n");
        s.refused("a", "get /app/k:1", "retired");

        // Put back whole, MAC and all, from before the retirement.
        put_back("before_retire");
        let e = s.refused("a", "get /app/k:1", "is older than its last change");
        assert!(e.contains("key-retire") && e.contains("put back"), "{e}");
        s.refused(
            "a",
            "key retire app --below-version 1",
            "older than its last change",
        );

        // Stripped of its MAC.
        both("UPDATE keys SET mac = NULL WHERE name = 'app'");
        s.refused("a", "get /app/k:1", "has no MAC");

        // Passed off as a store whose rows are not sealed yet, so that the next open would
        // seal the edit: the audit key no longer unwraps, and nothing is sealed.
        both("DELETE FROM meta WHERE key = 'audit_key_format'");
        s.refused("a", "get /app/k:1", "does not unwrap under the root key");
        both("INSERT INTO meta (key, value) VALUES ('audit_key_format', '4')");
        s.refused("a", "get /app/k:1", "has no MAC");
        put_back("retired");
        assert_eq!(s.get("a", "/app/k"), "v2\n");
        s.refused("a", "get /app/k:1", "retired");
        both("DROP TABLE before_retire; DROP TABLE retired");

        // A version's creation time (rotations fall due by it), edited.
        s.sh("a", "key create other").success();
        s.put("a", "put /app/o --key local:other", "o").success();
        both("UPDATE key_versions SET created_at = created_at - 86400 WHERE name = 'other'");
        let e = s.refused("a", "get /app/o", "key `other`");
        assert!(e.contains("its version 1 (key_versions)"), "{e}");
        both("UPDATE key_versions SET created_at = created_at + 86400 WHERE name = 'other'");
        assert_eq!(s.get("a", "/app/o"), "o\n");

        // Disabled, then enabled again in the database.
        s.sh("a", "key disable other").success();
        both("UPDATE keys SET state = 'enabled' WHERE name = 'other'");
        s.refused("a", "get /app/o", "does not match its MAC");
        s.refused("a", "key rotate --due", "does not match its MAC");
        both("UPDATE keys SET state = 'disabled' WHERE name = 'other'");
        s.refused("a", "get /app/o", "disabled");
        assert_eq!(s.get("a", "/app/k"), "v2\n");
        s.sh("a", "audit verify").success();
    });
}

/// Stores of the release with a keyed log and unsealed key rows (`tests/data/release-9c7d071`).
const KEYED_LOG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/release-9c7d071");

/// A store of the release before the key table was sealed: the first open by a holder of the
/// root key seals every key (one `key-seal` entry each, after the whole log verified), and
/// every value and message reads back, retired versions staying retired.
#[test]
fn a_store_with_unsealed_key_rows_is_sealed_and_reads_back() {
    let (env, url) = old_sqlite_store(KEYED_LOG);
    check_sealing(&env, &url);

    #[cfg(feature = "postgres")]
    if let Some((env, url)) = old_pg_store(KEYED_LOG) {
        check_sealing(&env, &url);
    }
}

fn check_sealing(env: &Env, url: &str) {
    let get = |name: &str| {
        let a = old_cmd(env, url).args(["get", name]).assert().success();
        String::from_utf8(a.get_output().stdout.clone()).unwrap()
    };
    let entries = || -> Vec<Value> {
        let a = old_cmd(env, url)
            .args(["--output", "json", "audit", "ls"])
            .assert()
            .success();
        String::from_utf8_lossy(&a.get_output().stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    assert_eq!(entries().len(), 19);
    // The audit key as wrapped before the upgrade, as a writer may keep it.
    store_sql(url, "CREATE TABLE saved_meta AS SELECT * FROM meta");
    // The first read opens the keys and seals the key rows, then the parameter rows.
    assert_eq!(get("/app/dev/greeting"), "plain-two\n");
    assert_eq!(get("/app/prod/db-password"), "s3cret-v2\n");
    let list = entries();
    let sealed: Vec<(&str, &str)> = list[19..23]
        .iter()
        .map(|e| (e["verb"].as_str().unwrap(), e["name"].as_str().unwrap()))
        .collect();
    assert_eq!(
        sealed,
        [
            ("audit-seal", "keys"),
            ("key-seal", "app"),
            ("key-seal", "params"),
            ("audit-seal", "params")
        ]
    );
    assert_eq!(get("/app/prod/db-password:previous"), "s3cret-v1\n");
    assert_eq!(get("/app/prod/api-key"), "app-value-2\n");
    assert_eq!(get("/app/dev/destroyed:2"), "x2\n");
    assert_eq!(get("/app/dev/list"), "a,b,c\n");
    let a = old_cmd(env, url)
        .args(["get", "/app/prod/api-key:1"])
        .assert()
        .code(1);
    assert!(stderr(&a).contains("retired"), "{}", stderr(&a));
    let a = old_cmd(env, url)
        .args(["--output", "json", "key", "show", "app"])
        .assert()
        .success();
    let key: Value = serde_json::from_slice(&a.get_output().stdout).unwrap();
    assert_eq!(key["min_decrypt_version"], 2, "{key}");
    // Sealed once: later opens add no entry of their own.
    let n = entries().len();
    old_cmd(env, url)
        .args(["key", "rotate", "app"])
        .assert()
        .success();
    assert_eq!(entries().len(), n + 1);
    old_cmd(env, url)
        .args(["audit", "verify"])
        .assert()
        .success();

    // The old wrapping put back, so that the next open would seal the store again, with an
    // edit made meanwhile: refused, and nothing is sealed.
    store_sql(
        url,
        "UPDATE keys SET rotation_period_secs = 1, min_decrypt_version = 1 WHERE name = 'app';
         CREATE TABLE edited_meta AS SELECT * FROM meta;
         UPDATE meta SET value = (SELECT value FROM saved_meta WHERE key = 'audit_key')
          WHERE key = 'audit_key';
         DELETE FROM meta WHERE key = 'audit_key_format'",
    );
    let n = entries().len();
    let a = old_cmd(env, url)
        .args(["get", "/app/prod/api-key:1"])
        .assert()
        .code(1);
    assert!(
        stderr(&a).contains("the old wrapping was put back"),
        "{}",
        stderr(&a)
    );
    assert_eq!(entries().len(), n);
    store_sql(
        url,
        "DELETE FROM meta; INSERT INTO meta SELECT * FROM edited_meta;
         DROP TABLE edited_meta; DROP TABLE saved_meta",
    );
    let a = old_cmd(env, url)
        .args(["get", "/app/prod/api-key:1"])
        .assert()
        .code(1);
    assert!(
        stderr(&a).contains("does not match its MAC"),
        "{}",
        stderr(&a)
    );
}

/// A write seals what coffer meant to write, never what it reads back: an edit made in the
/// database while a write runs (here by triggers, as a writer racing it would) is either
/// overwritten or left failing its MAC, and a retired version stays retired.
#[test]
fn an_edit_made_during_a_key_write_is_not_sealed() {
    Site::each(|s| {
        s.sh("a", "key create app").success();
        s.put("a", "put /app/k --key local:app", "v1").success();
        s.sh("a", "key rotate app").success();
        s.put("a", "put /app/k --key local:app --overwrite", "v2")
            .success();
        s.sh("a", "key retire app --below-version 2").success();

        // Un-retires the key as soon as the write appends its audit entry.
        s.sql(
            "CREATE TRIGGER evil AFTER INSERT ON audit
             BEGIN UPDATE keys SET min_decrypt_version = 1; END",
            "CREATE FUNCTION evil() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN UPDATE keys SET min_decrypt_version = 1; RETURN NULL; END $$;
             CREATE TRIGGER evil AFTER INSERT ON audit FOR EACH ROW EXECUTE FUNCTION evil()",
        );
        s.sh("a", "key disable app").success();
        s.sh("a", "key enable app").success();
        s.sql(
            "DROP TRIGGER evil",
            "DROP TRIGGER evil ON audit; DROP FUNCTION evil()",
        );
        s.refused("a", "get /app/k:1", "retired");
        assert_eq!(s.get("a", "/app/k"), "v2\n");

        // Un-retires it right after the write's own update of the row.
        s.sql(
            "CREATE TRIGGER evil AFTER UPDATE OF state ON keys
             BEGIN UPDATE keys SET min_decrypt_version = 1 WHERE name = NEW.name; END",
            "CREATE FUNCTION evil() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN UPDATE keys SET min_decrypt_version = 1 WHERE name = NEW.name;
             RETURN NULL; END $$;
             CREATE TRIGGER evil AFTER UPDATE OF state ON keys
             FOR EACH ROW EXECUTE FUNCTION evil()",
        );
        s.sh("a", "key disable app").success();
        s.sql(
            "DROP TRIGGER evil",
            "DROP TRIGGER evil ON keys; DROP FUNCTION evil()",
        );
        s.refused("a", "get /app/k:1", "does not match its MAC");
        s.refused("a", "key enable app", "does not match its MAC");
        s.sql(
            "UPDATE keys SET min_decrypt_version = 2",
            "UPDATE keys SET min_decrypt_version = 2",
        );
        s.sh("a", "key enable app").success();
        s.refused("a", "get /app/k:1", "retired");
        assert_eq!(s.get("a", "/app/k"), "v2\n");
        s.sh("a", "audit verify").success();
    });
}

/// An older key row put back while the entry of the change after it is hidden from the
/// lookup of the key's last change (its verb edited, or the entry deleted): the next write
/// of the key walks the log from the row's seal and refuses it rather than sealing it, so
/// the edit cannot be laundered and then the entry restored; `audit verify` finds the
/// hidden entry, and once it is back every read refuses the row.
#[test]
fn an_older_key_row_behind_a_hidden_entry_is_not_sealed_by_a_write() {
    Site::each(|s| {
        let both = |sql: &str| s.sql(sql, sql);
        s.sh("a", "key create app").success();
        s.put("a", "put /app/k --key local:app", "v1").success();
        s.sh("a", "key rotate app").success();
        s.put("a", "put /app/k --key local:app --overwrite", "v2")
            .success();
        both("CREATE TABLE before_retire AS SELECT * FROM keys");
        s.sh("a", "key retire app --below-version 2").success();
        both("CREATE TABLE retired AS SELECT * FROM keys");
        assert_eq!(s.get("a", "/app/k"), "v2\n");
        let put_back = |table: &str| {
            both(&format!(
                "UPDATE keys SET min_decrypt_version = t.min_decrypt_version,
                                 seal_seq = t.seal_seq, mac = t.mac
                 FROM {table} t WHERE keys.name = t.name"
            ));
        };

        // The retirement's verb edited, so that it is no longer a change of the key.
        both("UPDATE audit SET verb = 'kex-retire' WHERE verb = 'key-retire'");
        put_back("before_retire");
        for write in [
            "key rotate app",
            "key disable app",
            "key set-rotation app 90d",
            "key retire app --below-version 1",
        ] {
            s.refused(
                "a",
                write,
                "does not match its MAC: it was changed outside coffer",
            );
        }
        s.refused("a", "audit verify", "does not match its MAC");
        both("UPDATE audit SET verb = 'key-retire' WHERE verb = 'kex-retire'");
        s.refused("a", "get /app/k:1", "is older than its last change");
        s.refused("a", "key rotate app", "is older than its last change");

        // The retirement's entry deleted.
        both(
            "CREATE TABLE hidden AS SELECT * FROM audit WHERE verb = 'key-retire';
             DELETE FROM audit WHERE verb = 'key-retire'",
        );
        s.refused("a", "key rotate app", "after its last change is missing");
        s.refused("a", "audit verify", "missing");
        both("INSERT INTO audit SELECT * FROM hidden; DROP TABLE hidden");
        s.refused("a", "get /app/k:1", "is older than its last change");

        // The row put back as it was: every command works again, the version stays retired.
        put_back("retired");
        both("DROP TABLE before_retire; DROP TABLE retired");
        s.refused("a", "get /app/k:1", "retired");
        s.sh("a", "key rotate app").success();
        assert_eq!(s.get("a", "/app/k"), "v2\n");
        s.sh("a", "audit verify").success();
    });
}

/// A key deleted in the database (its row, with or without its versions) is not created
/// again under its name, where its old versions, retired ones included, would join the new
/// key: the error says it was deleted outside coffer.
#[test]
fn a_key_deleted_in_the_database_is_not_created_again() {
    Site::each(|s| {
        s.sh("a", "key create app").success();
        s.put("a", "put /app/k --key local:app", "v1").success();
        s.sh("a", "key rotate app").success();
        s.sh("a", "key retire app --below-version 2").success();
        // The row deleted and its newer version kept (the foreign key out of the way).
        s.sql(
            "PRAGMA foreign_keys = OFF;
             DELETE FROM key_versions WHERE name = 'app' AND version = 1;
             DELETE FROM keys WHERE name = 'app'",
            "ALTER TABLE key_versions DROP CONSTRAINT key_versions_name_fkey;
             DELETE FROM key_versions WHERE name = 'app' AND version = 1;
             DELETE FROM keys WHERE name = 'app'",
        );
        let e = s.refused("a", "key create app", "was deleted outside coffer");
        assert!(e.contains("(entry ") && e.contains("key-retire"), "{e}");
        // Every row of it deleted: the log still names it.
        s.sql(
            "DELETE FROM key_versions WHERE name = 'app'",
            "DELETE FROM key_versions WHERE name = 'app'",
        );
        s.refused("a", "key create app", "its audit log names a change of it");
        s.refused("a", "get /app/k", "app");
        s.sh("a", "key create other").success();
    });
}

/// A suffix of the log hidden while a rotation runs (after the process opened the store,
/// before its transaction), with the key's older row put back, and the suffix restored by a
/// trigger before the append: the write's walk of the log must reach the authenticated head,
/// so the older row is refused rather than sealed to a new, authentic entry.
#[cfg(feature = "test-pause")]
#[test]
fn a_log_suffix_hidden_during_a_key_write_is_found() {
    Site::each(|s| {
        let both = |sql: &str| s.sql(sql, sql);
        s.sh("a", "key create app").success();
        s.put("a", "put /app/k --key local:app", "v1").success();
        s.sh("a", "key rotate app").success();
        both("CREATE TABLE before_retire AS SELECT * FROM keys");
        s.sh("a", "key retire app --below-version 2").success();
        both("CREATE TABLE retired AS SELECT * FROM keys");

        let child = s.paused("a", &["key", "rotate", "app"], "rotate: wrapped");
        let hide = "CREATE TABLE st AS SELECT * FROM audit
                     WHERE seq > (SELECT seal_seq FROM before_retire);
                    DELETE FROM audit WHERE seq > (SELECT seal_seq FROM before_retire);
                    UPDATE keys SET min_decrypt_version = t.min_decrypt_version,
                                    seal_seq = t.seal_seq, mac = t.mac
                     FROM before_retire t WHERE keys.name = t.name;";
        s.sql(
            &format!(
                "{hide} CREATE TRIGGER restore AFTER INSERT ON key_versions
                 BEGIN INSERT INTO audit SELECT * FROM st; END"
            ),
            &format!(
                "{hide} CREATE FUNCTION restore() RETURNS trigger LANGUAGE plpgsql AS $$
                 BEGIN INSERT INTO audit SELECT * FROM st; RETURN NULL; END $$;
                 CREATE TRIGGER restore AFTER INSERT ON key_versions
                 FOR EACH ROW EXECUTE FUNCTION restore()"
            ),
        );
        let (status, rest) = child.finish();
        assert_eq!(status.code(), Some(1), "{}: {rest}", s.what());
        assert!(rest.contains("not at its head"), "{}: {rest}", s.what());

        s.sql(
            "DROP TRIGGER restore",
            "DROP TRIGGER restore ON key_versions; DROP FUNCTION restore()",
        );
        both("INSERT INTO audit SELECT * FROM st; DROP TABLE st");
        s.refused("a", "get /app/k:1", "is older than its last change");
        both(
            "UPDATE keys SET min_decrypt_version = t.min_decrypt_version,
                             seal_seq = t.seal_seq, mac = t.mac
             FROM retired t WHERE keys.name = t.name;
             DROP TABLE before_retire; DROP TABLE retired",
        );
        s.refused("a", "get /app/k:1", "retired");
        s.sh("a", "key rotate app").success();
        s.sh("a", "audit verify").success();
    });
}

/// A column the database owner retyped (`meta.value`, which holds the schema version, the
/// root id and the audit head; a version's creation time) is an error, never a crash. A
/// label's version retyped to text reads as before (the head's labels are read as text and
/// checked against its MAC).
#[cfg(feature = "postgres")]
#[test]
fn a_retyped_column_is_an_error_not_a_crash() {
    for (retype, commands) in [
        (
            "ALTER TABLE meta ALTER COLUMN value TYPE bytea USING convert_to(value, 'UTF8')",
            &["get /app/k", "key list", "key rotate app", "ls /app"][..],
        ),
        (
            "ALTER TABLE param_versions ALTER COLUMN created_at TYPE text",
            &[
                "get /app/k",
                "ls -r /app",
                "exec --path /app -- true",
                "history /app/k",
            ][..],
        ),
    ] {
        let Some(s) = Site::pg() else { return };
        s.sh("a", "key create app").success();
        s.put("a", "put /app/k --key local:app", "v1").success();
        s.put("a", "put /app/k --key local:app --overwrite", "v2")
            .success();
        s.sql("", retype);
        for args in commands {
            let a = s.sh("a", args).code(1);
            let e = stderr(&a);
            assert!(!e.contains("panicked"), "{retype}: `{args}`: {e}");
        }
    }
    let Some(s) = Site::pg() else { return };
    s.put("a", "put /app/k", "v1").success();
    s.put("a", "put /app/k --overwrite", "v2").success();
    s.sql(
        "",
        "ALTER TABLE param_labels DROP CONSTRAINT param_labels_name_version_fkey;
         ALTER TABLE param_labels ALTER COLUMN version TYPE text",
    );
    assert_eq!(s.get("a", "/app/k"), "v2\n");
    s.refused("a", "get /app/k:previous", "has no label `previous`");
}
