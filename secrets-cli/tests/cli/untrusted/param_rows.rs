//! The parameter rows as a database writer without keys attacks them
//! (`coffer::store::param_seal`): values planted, edited or swapped, labels moved back,
//! expiry, destroy and deletion marks changed, rows put back from an older copy, and what a
//! write does with such rows.

use super::*;

/// Every edit of a parameter's rows by a writer without the root key is refused by the next
/// read, naming the parameter and the row, and nothing is served instead; put right, the
/// parameter reads again.
#[test]
fn edited_parameter_rows_are_refused_by_every_read() {
    Site::each(|s| {
        s.put("a", "put /app/region --type string", "eu-west-1")
            .success();
        s.put("a", "put /app/db", "one").success();
        s.put("a", "put /app/db --overwrite", "two").success();
        s.put("a", "put /app/other", "other").success();
        let both = |sql: &str| s.sql(sql, sql);
        // `BLOB` on SQLite is `BYTEA` on PostgreSQL.
        let bytes = |sql: &str| {
            s.sql(
                sql,
                &sql.replace("CAST(", "convert_to(")
                    .replace(" AS BLOB)", ", 'UTF8')"),
            );
        };
        let refused_everywhere = |needle: &str| {
            for args in [
                "exec --path /app -- true",
                "export --path /app",
                "ls -r /app",
            ] {
                s.refused("a", args, needle);
            }
        };
        // A `string` value edited: `exec` would put it into the environment.
        bytes(
            "UPDATE param_versions SET value = CAST('attacker' AS BLOB) WHERE name = '/app/region'",
        );
        let e = s.refused("a", "get /app/region", "parameter `/app/region`");
        assert!(
            e.contains("its version 1 (param_versions) does not match its MAC"),
            "{e}"
        );
        refused_everywhere("does not match its MAC");
        bytes(
            "UPDATE param_versions SET value = CAST('eu-west-1' AS BLOB) WHERE name = '/app/region'",
        );
        assert_eq!(s.get("a", "/app/region"), "eu-west-1\n");

        // A `string` parameter planted, with a row of each table.
        bytes(
            "INSERT INTO params (name, parent, latest, created_at) VALUES ('/app/planted', '/app', 1, 1);
             INSERT INTO param_versions (name, version, type, value, tags, created_at, author)
               VALUES ('/app/planted', 1, 'string', CAST('evil' AS BLOB), '{}', 1, 'x');
             INSERT INTO param_labels (name, label, version) VALUES ('/app/planted', 'current', 1)",
        );
        s.refused("a", "get /app/planted", "its row (params) has no MAC");
        refused_everywhere("parameter `/app/planted`");
        both(
            "DELETE FROM param_labels WHERE name = '/app/planted';
             DELETE FROM param_versions WHERE name = '/app/planted';
             DELETE FROM params WHERE name = '/app/planted'",
        );

        // A value swapped with another parameter's (its ESDK message would not decrypt
        // either), and a version's expiry moved.
        both(
            "CREATE TABLE saved AS SELECT * FROM param_versions;
             UPDATE param_versions SET value = (SELECT value FROM saved
               WHERE name = '/app/other') WHERE name = '/app/db' AND version = 2",
        );
        s.refused(
            "a",
            "get /app/db",
            "its version 2 (param_versions) does not match its MAC",
        );
        both(
            "UPDATE param_versions SET value = (SELECT value FROM saved s
               WHERE s.name = '/app/db' AND s.version = 2) WHERE name = '/app/db' AND version = 2",
        );
        assert_eq!(s.get("a", "/app/db"), "two\n");
        both("UPDATE param_versions SET expires_at = 4102444800 WHERE name = '/app/db'");
        s.refused("a", "get /app/db", "does not match its MAC");
        s.refused("a", "history /app/db", "does not match its MAC");
        both("UPDATE param_versions SET expires_at = NULL WHERE name = '/app/db'");

        // `current` moved back to the old value.
        both("UPDATE param_labels SET version = 1 WHERE name = '/app/db' AND label = 'current'");
        let e = s.refused("a", "get /app/db", "parameter `/app/db`");
        assert!(
            e.contains("its labels (param_labels) do not match its MAC"),
            "{e}"
        );
        assert!(!e.contains("one"), "{e}");
        s.refused("a", "exec --path /app -- true", "do not match its MAC");
        // A write refuses it too, rather than sealing it.
        s.refused("a", "label /app/db:2 stable", "do not match its MAC");
        s.put("a", "put /app/db --overwrite", "three").code(1);
        both("UPDATE param_labels SET version = 2 WHERE name = '/app/db' AND label = 'current'");
        assert_eq!(s.get("a", "/app/db"), "two\n");

        // Moved to another path in the `parent` column, which non-recursive reads do not
        // go by: it is not hidden, and the row is refused.
        both("UPDATE params SET parent = '/elsewhere' WHERE name = '/app/region'");
        s.refused(
            "a",
            "exec --path /app -- true",
            "puts it under `/elsewhere`",
        );
        both("UPDATE params SET parent = '/app' WHERE name = '/app/region'");

        // A deletion mark set (to hide a value from `exec`), or cleared.
        both("UPDATE params SET deleted_at = 1 WHERE name = '/app/region'");
        s.refused("a", "exec --path /app -- true", "parameter `/app/region`");
        both("UPDATE params SET deleted_at = NULL WHERE name = '/app/region'");
        assert_eq!(s.get("a", "/app/region"), "eu-west-1\n");
        s.sh("a", "rm /app/other").success();
        both("UPDATE params SET deleted_at = NULL WHERE name = '/app/other'");
        s.refused("a", "get /app/other", "do not match its MAC");
        s.refused("a", "exec --path /app -- true", "parameter `/app/other`");
        both("DROP TABLE saved");
    });
}

/// A parameter's rows put back whole from an older copy (MACs and all, as a backup holds
/// them): a label moved back, a destroyed version or a destroyed parameter restored, a
/// deleted one un-deleted. Each carries an older audit entry than the parameter's last
/// change, or disagrees with its head, and is refused.
#[test]
fn parameter_rows_put_back_from_an_older_copy_are_refused() {
    Site::each(|s| {
        s.put("a", "put /app/db", "one").success();
        s.put("a", "put /app/db --overwrite", "two").success();
        let both = |sql: &str| s.sql(sql, sql);
        let save = |tag: &str| {
            for t in ["params", "param_versions", "param_labels"] {
                both(&format!("CREATE TABLE {tag}_{t} AS SELECT * FROM {t}"));
            }
        };
        let put_back = |tag: &str| {
            for t in ["param_labels", "param_versions", "params"] {
                both(&format!("DELETE FROM {t}"));
            }
            for t in ["params", "param_versions", "param_labels"] {
                both(&format!("INSERT INTO {t} SELECT * FROM {tag}_{t}"));
            }
        };

        // `current` moved back with the rows of before the move.
        s.sh("a", "label /app/db:1 current").success();
        save("at1");
        s.sh("a", "label /app/db:2 current").success();
        save("at2");
        put_back("at1");
        let e = s.refused("a", "get /app/db", "parameter `/app/db`");
        assert!(e.contains("older than its last change"), "{e}");
        assert!(e.contains("put back from an older copy"), "{e}");
        s.refused(
            "a",
            "exec --path /app -- true",
            "older than its last change",
        );
        s.refused("a", "label /app/db:1 x", "older than its last change");
        put_back("at2");
        assert_eq!(s.get("a", "/app/db"), "two\n");

        // Version 1 destroyed, then its row put back with its value and MAC.
        both(
            "CREATE TABLE v1 AS SELECT * FROM param_versions WHERE name = '/app/db' AND version = 1",
        );
        s.sh("a", "destroy /app/db:1").success();
        both(
            "CREATE TABLE v1_destroyed AS SELECT * FROM param_versions
              WHERE name = '/app/db' AND version = 1",
        );
        // Version 1's row as `table` holds it (an update: a delete would take its labels
        // with it).
        let row_1 = |table: &str| {
            both(&format!(
                "UPDATE param_versions SET type = t.type, value = t.value, key_ref = t.key_ref,
                   description = t.description, tags = t.tags, created_at = t.created_at,
                   author = t.author, expires_at = t.expires_at, destroyed_at = t.destroyed_at,
                   mac = t.mac
                 FROM {table} t
                 WHERE param_versions.name = '/app/db' AND param_versions.version = 1
                   AND t.name = '/app/db' AND t.version = 1"
            ));
        };
        row_1("v1");
        let e = s.refused("a", "get /app/db:1", "parameter `/app/db`");
        assert!(e.contains("destroyed versions"), "{e}");
        s.refused("a", "history /app/db", "do not match its MAC");
        // A write refuses it rather than sealing it.
        s.refused("a", "destroy /app/db", "do not match its MAC");
        row_1("v1_destroyed");
        assert_eq!(s.get("a", "/app/db"), "two\n");

        // The whole parameter destroyed, then put back from before.
        s.sh("a", "destroy /app/db").success();
        put_back("at2");
        s.refused("a", "get /app/db", "older than its last change");
        s.refused(
            "a",
            "exec --path /app -- true",
            "older than its last change",
        );

        // Deleted, then its rows of before put back.
        for t in ["param_labels", "param_versions", "params"] {
            both(&format!("DELETE FROM {t}"));
        }
        s.put("a", "put /app/db", "fresh").success();
        save("live");
        // A version of the name's life before the destroy, put back over the new one.
        let v1_from = |table: &str| row_1(table);
        v1_from("at2_param_versions");
        s.refused(
            "a",
            "get /app/db",
            "its version 1 (param_versions) does not match its MAC",
        );
        v1_from("live_param_versions");
        assert_eq!(s.get("a", "/app/db"), "fresh\n");
        s.sh("a", "rm /app/db").success();
        put_back("live");
        s.refused("a", "get /app/db", "older than its last change");
        for tag in ["at1", "at2", "live"] {
            for t in ["params", "param_versions", "param_labels"] {
                both(&format!("DROP TABLE {tag}_{t}"));
            }
        }
        both("DROP TABLE v1; DROP TABLE v1_destroyed");
    });
}

/// Stores of the release with sealed key rows and unsealed parameter rows
/// (`tests/data/release-449fe58`).
const SEALED_KEYS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/release-449fe58");

/// A store of the release before the parameter rows were sealed: the first open by a holder
/// of the root key seals them (one `audit-seal` entry, after the whole log verified), every
/// value and message reads back, and the old wrapping of the audit key put back later, with
/// a value planted meanwhile, is refused rather than sealed again.
#[test]
fn a_store_with_unsealed_parameter_rows_is_sealed_and_reads_back() {
    let (env, url) = old_sqlite_store(SEALED_KEYS);
    check_param_sealing(&env, &url);

    #[cfg(feature = "postgres")]
    if let Some((env, url)) = old_pg_store(SEALED_KEYS) {
        check_param_sealing(&env, &url);
    }
}

fn check_param_sealing(env: &Env, url: &str) {
    let get = |name: &str| {
        let a = old_cmd(env, url).args(["get", name]).assert().success();
        String::from_utf8(a.get_output().stdout.clone()).unwrap()
    };
    let refused = |args: &[&str], needle: &str| {
        let a = old_cmd(env, url).args(args).assert().code(1);
        assert!(stderr(&a).contains(needle), "{args:?}: {}", stderr(&a));
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
    store_sql(url, "CREATE TABLE saved_meta AS SELECT * FROM meta");
    // The first read seals the rows, once.
    assert_eq!(get("/app/dev/greeting"), "plain-two\n");
    let list = entries();
    assert_eq!(list.len(), 20);
    assert_eq!(
        (list[19]["verb"].as_str(), list[19]["name"].as_str()),
        (Some("audit-seal"), Some("params"))
    );
    assert_eq!(get("/app/dev/greeting:1"), "plain-one\n");
    assert_eq!(get("/app/dev/list"), "a,b,c\n");
    assert_eq!(get("/app/dev/expiring"), "exp\n");
    assert_eq!(get("/app/prod/db-password"), "s3cret-v2\n");
    assert_eq!(get("/app/prod/db-password:previous"), "s3cret-v1\n");
    assert_eq!(get("/app/prod/api-key"), "app-value-2\n");
    assert_eq!(get("/app/dev/destroyed:2"), "x2\n");
    refused(&["get", "/app/prod/api-key:1"], "retired");
    refused(&["get", "/app/dev/destroyed:1"], "destroyed");
    refused(&["get", "/app/dev/old"], "deleted");
    old_cmd(env, url)
        .args(["restore", "/app/dev/old"])
        .assert()
        .success();
    assert_eq!(get("/app/dev/old"), "gone\n");
    old_cmd(env, url)
        .args(["history", "/app/dev/destroyed"])
        .assert()
        .success();
    old_cmd(env, url)
        .args(["audit", "verify"])
        .assert()
        .success();
    // Sealed: an edit is found.
    store_sql(
        url,
        "UPDATE param_labels SET version = 1 WHERE name = '/app/dev/greeting'",
    );
    refused(&["get", "/app/dev/greeting"], "do not match its MAC");
    store_sql(
        url,
        "UPDATE param_labels SET version = 2 WHERE name = '/app/dev/greeting'",
    );
    assert_eq!(get("/app/dev/greeting"), "plain-two\n");

    // The old wrapping put back, with a parameter's MACs stripped meanwhile so that the next
    // open would seal an edit: refused, and nothing is sealed.
    store_sql(
        url,
        "UPDATE params SET mac = NULL, seal_seq = NULL WHERE name = '/app/dev/list';
         UPDATE param_versions SET mac = NULL WHERE name = '/app/dev/list';
         CREATE TABLE edited_meta AS SELECT * FROM meta;
         UPDATE meta SET value = (SELECT value FROM saved_meta WHERE key = 'audit_key')
          WHERE key = 'audit_key';
         UPDATE meta SET value = '3' WHERE key = 'audit_key_format'",
    );
    let n = entries().len();
    refused(&["get", "/app/dev/list"], "the old wrapping was put back");
    assert_eq!(entries().len(), n);
    store_sql(
        url,
        "DELETE FROM meta; INSERT INTO meta SELECT * FROM edited_meta;
         DROP TABLE edited_meta; DROP TABLE saved_meta",
    );
    refused(&["get", "/app/dev/list"], "its row (params) has no MAC");
}

/// A write seals the head it checked with its change applied, never what it reads back: an
/// edit a trigger makes while the write runs (after its audit entry, after its own update of
/// the row) fails the MAC the write computed, and is refused by the next read.
#[test]
fn an_edit_made_during_a_parameter_write_is_not_sealed() {
    Site::each(|s| {
        s.put("a", "put /app/db", "one").success();
        s.put("a", "put /app/db --overwrite", "two").success();
        // Moves `current` back as soon as the write appends its audit entry.
        s.sql(
            "CREATE TRIGGER evil AFTER INSERT ON audit
             BEGIN UPDATE param_labels SET version = 1
               WHERE name = '/app/db' AND label = 'current'; END",
            "CREATE FUNCTION evil() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN UPDATE param_labels SET version = 1
               WHERE name = '/app/db' AND label = 'current'; RETURN NULL; END $$;
             CREATE TRIGGER evil AFTER INSERT ON audit FOR EACH ROW EXECUTE FUNCTION evil()",
        );
        s.sh("a", "label /app/db:2 stable").success();
        s.sql(
            "DROP TRIGGER evil",
            "DROP TRIGGER evil ON audit; DROP FUNCTION evil()",
        );
        s.refused("a", "get /app/db", "do not match its MAC");
        s.refused("a", "label /app/db:1 old", "do not match its MAC");
        s.sql(
            "UPDATE param_labels SET version = 2 WHERE name = '/app/db' AND label = 'current'",
            "UPDATE param_labels SET version = 2 WHERE name = '/app/db' AND label = 'current'",
        );
        assert_eq!(s.get("a", "/app/db"), "two\n");

        // Clears the deletion mark right after the write's own update of the row.
        s.sql(
            "CREATE TRIGGER evil AFTER UPDATE OF deleted_at ON params
             BEGIN UPDATE params SET deleted_at = NULL WHERE name = NEW.name; END",
            "CREATE FUNCTION evil() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN IF NEW.deleted_at IS NOT NULL THEN
               UPDATE params SET deleted_at = NULL WHERE name = NEW.name; END IF;
             RETURN NULL; END $$;
             CREATE TRIGGER evil AFTER UPDATE OF deleted_at ON params
             FOR EACH ROW EXECUTE FUNCTION evil()",
        );
        s.sh("a", "rm /app/db").success();
        s.sql(
            "DROP TRIGGER evil",
            "DROP TRIGGER evil ON params; DROP FUNCTION evil()",
        );
        s.refused("a", "exec --path /app -- true", "do not match its MAC");
        s.refused("a", "restore /app/db", "do not match its MAC");
        s.sh("a", "audit verify").success();
    });
}

/// A `string` value's row is checked against a MAC keyed from the root key, so a home
/// without the root key reads none (README: reading a `string` value needs it too).
#[test]
fn a_string_value_is_read_only_with_the_root_key() {
    Site::each(|s| {
        s.put("a", "put /app/region --type string", "eu").success();
        fs::create_dir_all(s.env.path("nokey")).unwrap();
        let e = s.refused("nokey", "get /app/region", "root key");
        assert!(e.contains("is missing"), "{e}");
        s.share("nokey");
        assert_eq!(s.get("nokey", "/app/region"), "eu\n");
    });
}
