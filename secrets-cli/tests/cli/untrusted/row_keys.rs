//! The parameter rows below the paths of a key with a root of its own are MACed under a key
//! derived from that root's row secret (`K_params(K)`, `coffer::params::RowKeys`): a holder of
//! the store's root key alone cannot make or change one so that a home holding the key's
//! root believes it.

use super::*;

/// A policy change moves the rows of the names below it to the key that protects them from
/// then on; a home without that key's root lists, reads and checks none of them (and says
/// how many it left out), and gets them back when the policy goes.
#[test]
fn rows_below_a_keys_paths_move_to_its_key_and_a_home_without_its_root_reads_none() {
    Site::each(|s| {
        s.sh("a", "key create prod --root local").success();
        s.put("a", "put /app/prod/region --type string", "eu")
            .success();
        s.put("a", "put /app/prod/flags --type string-list", "a,b")
            .success();
        s.put("a", "put /app/dev/region --type string", "dev-eu")
            .success();
        s.share("dev");
        // Under the store's key for now: every home reads them.
        assert_eq!(s.get("dev", "/app/prod/region"), "eu\n");
        s.sh("a", "label /app/prod/region:1 stable").success();
        let macs = || {
            s.query(
                "SELECT group_concat(m, ',') FROM (
                   SELECT name AS n, 0 AS v, hex(mac) AS m FROM params
                   UNION ALL SELECT name, version, hex(mac) FROM param_versions
                   WHERE name LIKE '/app/prod/%' ORDER BY n, v)",
                "SELECT string_agg(m, ',' ORDER BY n, v) FROM (
                   SELECT name AS n, 0::bigint AS v, encode(mac, 'hex') AS m FROM params
                   UNION ALL SELECT name, version::bigint, encode(mac, 'hex') FROM param_versions
                   WHERE name LIKE '/app/prod/%') q",
            )
        };
        let unprotected = macs();
        s.sh("a", "policy set /app/prod --key prod").success();
        // Every row below the path was MACed anew, and the others were left as they were.
        let protected = macs();
        let (a, b): (Vec<&str>, Vec<&str>) = (
            unprotected.split(',').collect(),
            protected.split(',').collect(),
        );
        assert_eq!(a.len(), b.len());
        let changed = a.iter().zip(&b).filter(|(x, y)| x != y).count();
        assert_eq!(changed, 2 + 2, "{}: two heads and two versions", s.what());
        assert_eq!(s.get("a", "/app/prod/region"), "eu\n");
        assert_eq!(s.get("a", "/app/prod/flags"), "a,b\n");
        let h = s.sh("a", "history /app/prod/region").success();
        assert!(stdout(&h).contains("stable"), "{}", stdout(&h));

        let lacks = "key `prod` has a root of its own (local:";
        s.refused("dev", "get /app/prod/region", lacks);
        s.refused("dev", "get /app/prod/region:stable", lacks);
        let e = s.refused("dev", "history /app/prod/region", "protected by key `prod`");
        assert!(e.contains("which has a root of its own"), "{e}");
        let ls = s.sh("dev", "ls -r /app").success();
        assert_eq!(stdout(&ls), "/app/dev/region\n", "{}", s.what());
        assert!(
            stderr(&ls).contains(
                "2 parameters are not listed: protected by key `prod`, whose root this home \
                 does not hold"
            ),
            "{}",
            stderr(&ls)
        );
        let json = s.sh("dev", "--output json ls -r /app").success();
        let records: Vec<Value> = stdout(&json)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let left_out: Vec<String> = records
            .iter()
            .filter(|r| r["type"] == "param_unheld")
            .map(|r| format!("{} {}", r["name"], r["key"]))
            .collect();
        assert_eq!(
            left_out,
            [
                r#""/app/prod/flags" "prod""#,
                r#""/app/prod/region" "prod""#
            ]
        );
        let a = s
            .sh("dev", "exec --path /app/dev --path /app/prod -- env")
            .success();
        assert!(stdout(&a).lines().any(|l| l == "REGION=dev-eu"));
        assert!(
            stderr(&a).contains("left out: /app/prod/"),
            "{}",
            stderr(&a)
        );
        s.refused(
            "dev",
            "exec --strict --path /app/dev --path /app/prod -- env",
            lacks,
        );

        // The prod home reads and writes them as before, all of them checked.
        let ls = s.sh("a", "ls -r /app").success();
        assert_eq!(
            stdout(&ls),
            "/app/dev/region\n/app/prod/flags\n/app/prod/region\n"
        );
        assert!(stderr(&ls).is_empty(), "{}", stderr(&ls));
        s.put("a", "put /app/prod/region --type string --overwrite", "us")
            .success();
        s.sh("a", "label /app/prod/region:1 current").success();
        assert_eq!(s.get("a", "/app/prod/region"), "eu\n");
        s.sh("a", "audit verify").success();

        // Without the policy the rows are the store's again.
        let before_rm = macs();
        s.sh("a", "policy rm /app/prod").success();
        assert_ne!(macs(), before_rm);
        assert_eq!(s.get("dev", "/app/prod/region"), "eu\n");
        assert_eq!(s.get("dev", "/app/prod/region:2"), "us\n");
        s.sh("a", "policy set /app/prod --key prod").success();
        s.refused("dev", "get /app/prod/region", lacks);
        assert_eq!(s.get("a", "/app/prod/region:2"), "us\n");
    });
}

/// A holder of the store's root key (every machine of the store) can compute the MACs of
/// the store's key, `K_params`, as a modified coffer on a dev machine would: a `string` value
/// edited, a label moved, an expiry set, a version planted, each below `/app/prod` and
/// sealed so, is refused by the home that holds prod's root.
#[cfg(feature = "test-pause")]
#[test]
fn rows_below_a_keys_paths_sealed_by_a_holder_of_the_stores_root_alone_are_refused() {
    let s = Site::sqlite();
    s.sh("a", "key create prod --root local").success();
    s.sh("a", "policy set /app/prod --key prod").success();
    s.put("a", "put /app/prod/region --type string", "eu")
        .success();
    s.put("a", "put /app/prod/region --type string --overwrite", "us")
        .success();
    s.put("a", "put /app/prod/db", "prod-secret").success();
    s.put("a", "put /app/x --type string", "x").success();
    let db = s.env.path("a").join("coffer.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch(
        "CREATE TABLE saved_heads AS SELECT * FROM params;
         CREATE TABLE saved_labels AS SELECT * FROM param_labels;
         CREATE TABLE saved_versions AS SELECT * FROM param_versions",
    )
    .unwrap();
    let attacks = [
        (
            "UPDATE param_versions SET value = CAST('attacker' AS BLOB)
             WHERE name = '/app/prod/region' AND version = 2",
            "get /app/prod/region",
        ),
        (
            "UPDATE param_labels SET version = 1
             WHERE name = '/app/prod/region' AND label = 'current'",
            "get /app/prod/region",
        ),
        (
            "UPDATE param_versions SET expires_at = 4102444800 WHERE name = '/app/prod/db'",
            "get /app/prod/db",
        ),
        (
            "INSERT INTO params (name, parent, latest, created_at)
               VALUES ('/app/prod/planted', '/app/prod', 1, 1);
             INSERT INTO param_versions (name, version, type, value, tags, created_at, author)
               VALUES ('/app/prod/planted', 1, 'string', CAST('evil' AS BLOB), '{}', 1, 'x');
             INSERT INTO param_labels (name, label, version)
               VALUES ('/app/prod/planted', 'current', 1)",
            "get /app/prod/planted",
        ),
    ];
    for (attack, read) in attacks {
        conn.execute_batch(attack).unwrap();
        // As a holder of the store's root key, without prod's root, could seal them.
        reseal(&s.env.path("a"), None);
        let e = s.refused("a", read, "outside coffer");
        assert!(e.contains("/app/prod/"), "{attack}: {e}");
        // What the store's key protects it still reads: the store's key sealed it.
        assert_eq!(s.get("a", "/app/x"), "x\n");
        s.refused("a", "ls -r /app/prod", "outside coffer");
        conn.execute_batch(
            "PRAGMA foreign_keys = OFF;
             DELETE FROM param_labels; INSERT INTO param_labels SELECT * FROM saved_labels;
             DELETE FROM param_versions; INSERT INTO param_versions SELECT * FROM saved_versions;
             DELETE FROM params; INSERT INTO params SELECT * FROM saved_heads",
        )
        .unwrap();
        // The rows as they were, MACs and all: read again.
        assert_eq!(s.get("a", "/app/prod/region"), "us\n", "{attack}");
        assert_eq!(s.get("a", "/app/prod/db"), "prod-secret\n", "{attack}");
    }
}

/// A write checks, in its transaction, that the policies are the ones its home checked: a
/// policy set by another process between the two, which moves the name to another key, has
/// the write check the policies again and seal the row under the key they give now, never
/// under the key it had before.
#[cfg(feature = "test-pause")]
#[test]
fn a_write_after_a_policy_change_it_did_not_see_checks_the_policies_again() {
    Site::each(|s| {
        s.sh("a", "key create prod --root local").success();
        s.put("a", "put /app/y/x --type string", "1").success();
        let file = s.env.path("value.txt");
        fs::write(&file, "2").unwrap();
        let file = file.display().to_string();
        let put = s.paused(
            "a",
            &[
                "put",
                "/app/y/new",
                "--type",
                "string",
                "--value-file",
                &file,
            ],
            "put: checked",
        );
        s.sh("a", "policy set /app/y --key prod").success();
        let (status, e) = put.finish();
        assert!(status.success(), "{}: {e}", s.what());
        assert_eq!(s.get("a", "/app/y/new"), "2\n");
        assert_eq!(s.get("a", "/app/y/x"), "1\n");
        s.share("dev");
        s.refused("dev", "get /app/y/new", "key `prod` has a root of its own");
        s.sh("a", "audit verify").success();
    });
}

/// A policy change moves rows to another key only after checking them under the one they
/// had: a row edited in the database is refused, and the policy stays as it was.
#[test]
fn a_policy_change_moves_no_row_it_did_not_check() {
    Site::each(|s| {
        s.sh("a", "key create prod --root local").success();
        s.put("a", "put /app/z/v --type string", "one").success();
        s.sql(
            "UPDATE param_versions SET value = CAST('two' AS BLOB) WHERE name = '/app/z/v'",
            "UPDATE param_versions SET value = 'two'::bytea WHERE name = '/app/z/v'",
        );
        let e = s.refused("a", "policy set /app/z --key prod", "outside coffer");
        assert!(e.contains("/app/z/v"), "{e}");
        let ls = s.sh("a", "policy ls").success();
        assert!(!stdout(&ls).contains("/app/z"), "{}", stdout(&ls));
        s.sql(
            "UPDATE param_versions SET value = CAST('one' AS BLOB) WHERE name = '/app/z/v'",
            "UPDATE param_versions SET value = 'one'::bytea WHERE name = '/app/z/v'",
        );
        s.sh("a", "policy set /app/z --key prod").success();
        assert_eq!(s.get("a", "/app/z/v"), "one\n");
        // And back to the store's key, checked under prod's.
        s.sql(
            "UPDATE param_labels SET label = 'other' WHERE name = '/app/z/v'",
            "UPDATE param_labels SET label = 'other' WHERE name = '/app/z/v'",
        );
        s.refused("a", "policy rm /app/z", "outside coffer");
    });
}

/// The stores of the release before (`tests/data/release-8cf4a13`), whose key `prod` sealed its
/// paths while every parameter row was MACed under the store's key.
const ROWS_UNMOVED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/release-8cf4a13");

/// A home `old` holding the store's root and prod's, a home `dev` holding the store's root
/// only, over a copy of the SQLite store of the release before, or (`pg`) a fresh database
/// loaded with its dump; `None` without a server outside CI.
fn rows_unmoved_store(pg: bool) -> Option<(Env, String)> {
    release_store(ROWS_UNMOVED, pg)
}

/// The stores of the release before (`tests/data/release-8956909`), whose key `prod` has its
/// names' rows under its `K_params(K)` (its row of paths at v2) and its own rows under the
/// store's `K_rows`.
const KEYS_UNMOVED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/release-8956909");

/// A copy of the store of release directory `release` (SQLite, or with `pg` PostgreSQL):
/// home `old` holds its root key and prod's root, home `dev` its root key only.
fn release_store(release: &str, pg: bool) -> Option<(Env, String)> {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = format!("{release}/{}", if pg { "postgres" } else { "sqlite" });
    let env = Env::new();
    let (old, dev) = (env.path("old"), env.path("dev"));
    fs::create_dir_all(old.join("roots")).unwrap();
    fs::create_dir_all(&dev).unwrap();
    for f in ["root.key", "roots/prod.key"] {
        fs::copy(format!("{dir}/{f}"), old.join(f)).unwrap();
        fs::set_permissions(old.join(f), fs::Permissions::from_mode(0o600)).unwrap();
    }
    fs::copy(old.join("root.key"), dev.join("root.key")).unwrap();
    let url = if pg {
        #[cfg(feature = "postgres")]
        {
            let url = pg::fresh_database()?;
            pg::run_sql(
                &url,
                &fs::read_to_string(format!("{dir}/store.sql")).unwrap(),
            );
            url
        }
        #[cfg(not(feature = "postgres"))]
        return None;
    } else {
        fs::copy(format!("{dir}/coffer.db"), old.join("coffer.db")).unwrap();
        format!("sqlite://{}", old.join("coffer.db").display())
    };
    Some((env, url))
}

/// A store of the release before, whose key with a root of its own sealed its paths while
/// the rows below them were MACed under the store's key: the first home holding the key's
/// root moves those rows to the key (once, sealing its row of paths anew), and every value,
/// label, deletion and policy hole reads back as it was written; a home without the root
/// reads what the store's key protects and none of the rest.
#[test]
fn rows_sealed_under_the_stores_key_by_the_release_before_move_to_the_keys_key() {
    for pg in [false, true] {
        let Some((env, url)) = rows_unmoved_store(pg) else {
            continue;
        };
        let run = |home: &str, args: &str| {
            env.cmd()
                .env("COFFER_HOME", env.path(home))
                .env("COFFER_STORE", &url)
                .env("USER", "tester")
                .args(words(args))
                .assert()
        };
        let get = |home: &str, name: &str| stdout(&run(home, &format!("get {name}")).success());
        store_sql(
            &url,
            "CREATE TABLE unmoved_paths AS SELECT * FROM key_paths",
        );
        // What MACs key `prod`'s own rows, and the entry they are tied to.
        let key_macs = || prod_key_macs(&url, pg);
        let unmoved_keys = key_macs();
        // The home without prod's root: the hole and the store's own names only.
        assert_eq!(get("dev", "/app/x"), "plain\n");
        assert_eq!(get("dev", "/app/prod/open/x"), "open\n");
        let a = run("dev", "get /app/prod/region").code(1);
        assert!(stderr(&a).contains("key `prod` has a root of its own"));

        // The log that says whether the rows were moved fails verification (an entry edited
        // without its hash recomputed): nothing is moved.
        store_sql(
            &url,
            "UPDATE audit SET detail = detail || ' (edited)' WHERE seq = 3",
        );
        let a = run("old", "get /app/prod/db").code(1);
        assert!(
            stderr(&a).contains("fails verification at seq 3"),
            "pg {pg}: {}",
            stderr(&a)
        );
        assert!(stderr(&a).contains("nothing was moved"), "{}", stderr(&a));
        store_sql(
            &url,
            "UPDATE audit SET detail = replace(detail, ' (edited)', '') WHERE seq = 3",
        );
        assert_eq!(get("old", "/app/prod/db"), "s3cret-2\n", "pg {pg}");
        // Its own rows moved from the store's K_rows to its K_keys(K), tied to the same
        // entry as before.
        let moved_keys = key_macs();
        let (was, now): (Vec<&str>, Vec<&str>) = (
            unmoved_keys.split(' ').collect(),
            moved_keys.split(' ').collect(),
        );
        assert_eq!(was[0], now[0], "pg {pg}");
        assert_ne!(was[1], now[1], "pg {pg}");
        assert_ne!(was[2], now[2], "pg {pg}");
        assert_eq!(get("old", "/app/prod/db:previous"), "s3cret\n");
        assert_eq!(get("old", "/app/prod/region"), "eu\n");
        assert_eq!(get("old", "/app/prod/open/x"), "open\n");
        assert_eq!(get("old", "/app/x"), "plain\n");
        let a = run("old", "get /app/prod/gone").code(1);
        assert!(stderr(&a).contains("deleted"), "{}", stderr(&a));
        run("old", "restore /app/prod/gone").success();
        assert_eq!(get("old", "/app/prod/gone"), "gone\n");
        let ls = run("old", "ls -r /app").success();
        assert_eq!(
            stdout(&ls),
            "/app/prod/db\n/app/prod/gone\n/app/prod/open/x\n/app/prod/region\n/app/x\n"
        );
        run("old", "audit verify").success();
        // The home without the root lists none of them (as before the move: it cannot
        // check them either way), and reads the rest.
        let ls = run("dev", "ls -r /app").success();
        assert_eq!(stdout(&ls), "/app/prod/open/x\n/app/x\n", "pg {pg}");
        assert!(stderr(&ls).contains("3 parameters are not listed"));
        assert_eq!(get("dev", "/app/prod/open/x"), "open\n");
        // And again from the prod home: moved once, read as moved.
        assert_eq!(get("old", "/app/prod/region"), "eu\n");
        // Moved indeed: an edit sealed under the store's key, as a holder of the store's
        // root alone could seal it, is refused now.
        #[cfg(feature = "test-pause")]
        if !pg {
            store_sql(
                &url,
                "CREATE TABLE kept AS SELECT * FROM param_versions;
                 CREATE TABLE kept_heads AS SELECT * FROM params;
                 UPDATE param_versions SET value = CAST('us' AS BLOB)
                 WHERE name = '/app/prod/region'",
            );
            reseal(&env.path("old"), None);
            let a = run("old", "get /app/prod/region").code(1);
            assert!(stderr(&a).contains("outside coffer"), "{}", stderr(&a));
            store_sql(
                &url,
                "PRAGMA foreign_keys = OFF;
                 DELETE FROM param_versions; INSERT INTO param_versions SELECT * FROM kept;
                 DELETE FROM params; INSERT INTO params SELECT * FROM kept_heads",
            );
            assert_eq!(get("old", "/app/prod/region"), "eu\n");
        }
        run("old", "policy rm /app/prod/open").success();
        assert_eq!(get("old", "/app/prod/open/x"), "open\n");
        let a = run("dev", "get /app/prod/open/x").code(1);
        assert!(stderr(&a).contains("key `prod` has a root of its own"));

        // The row of paths put back as it was before the move (with its MAC of then, which
        // says the rows are unmoved), also with the entries of its later seals hidden: older
        // than what this home saw, never a row whose rows are moved again.
        store_sql(
            &url,
            "CREATE TABLE moved_paths AS SELECT * FROM key_paths;
             DELETE FROM key_paths; INSERT INTO key_paths SELECT * FROM unmoved_paths",
        );
        let older = "but this home saw it sealed to entry";
        let a = run("old", "get /app/x").code(1);
        assert!(stderr(&a).contains(older), "pg {pg}: {}", stderr(&a));
        store_sql(
            &url,
            "UPDATE audit SET verb = 'attest-pathz'
             WHERE verb = 'attest-paths' AND seq > (SELECT seal_seq FROM unmoved_paths)",
        );
        let a = run("old", "get /app/prod/region").code(1);
        assert!(stderr(&a).contains(older), "pg {pg}: {}", stderr(&a));
        store_sql(
            &url,
            "UPDATE audit SET verb = 'attest-paths' WHERE verb = 'attest-pathz';
             DELETE FROM key_paths; INSERT INTO key_paths SELECT * FROM moved_paths",
        );
        assert_eq!(get("old", "/app/prod/region"), "eu\n");
    }
}

/// A store of the release before, whose key with a root of its own has its own rows under the
/// store's `K_rows`: the first home holding the key's root moves them to its `K_keys(K)` (once,
/// tied to the same entries, sealing its row of paths anew), and every value, version and
/// label reads back; a home without the root moves nothing and reads the rest; the row of
/// paths put back from before the move is refused, and so is the key's row sealed under the
/// store's key after it.
#[test]
fn a_keys_own_rows_under_the_stores_key_by_the_release_before_move_to_its_key() {
    for pg in [false, true] {
        let Some((env, url)) = release_store(KEYS_UNMOVED, pg) else {
            continue;
        };
        let run = |home: &str, args: &str| {
            env.cmd()
                .env("COFFER_HOME", env.path(home))
                .env("COFFER_STORE", &url)
                .env("USER", "tester")
                .args(words(args))
                .assert()
        };
        let get = |home: &str, name: &str| stdout(&run(home, &format!("get {name}")).success());
        let key_macs = || prod_key_macs(&url, pg);
        store_sql(&url, "CREATE TABLE v2_paths AS SELECT * FROM key_paths");
        let before = key_macs();
        // The home without prod's root reads what the store's key protects, and moves
        // nothing.
        assert_eq!(get("dev", "/app/x"), "plain\n", "pg {pg}");
        assert_eq!(get("dev", "/app/prod/open/x"), "open\n");
        let a = run("dev", "get /app/prod/db").code(1);
        assert!(stderr(&a).contains("key `prod` has a root of its own"));
        assert_eq!(key_macs(), before, "pg {pg}");
        // The prod home moves them, and reads every value back.
        assert_eq!(get("old", "/app/prod/db"), "s3cret-3\n", "pg {pg}");
        let after = key_macs();
        let (was, now): (Vec<&str>, Vec<&str>) =
            (before.split(' ').collect(), after.split(' ').collect());
        assert_eq!(was[0], now[0], "pg {pg}: tied to the same entry");
        assert_ne!(was[1], now[1], "pg {pg}: the key's row");
        assert_ne!(was[2], now[2], "pg {pg}: its versions");
        assert!(
            now[3].parse::<i64>().unwrap() > was[3].parse::<i64>().unwrap(),
            "pg {pg}: its row of paths sealed to a new entry"
        );
        assert_eq!(get("old", "/app/prod/db:2"), "s3cret-2\n");
        assert_eq!(get("old", "/app/prod/db:previous"), "s3cret\n");
        assert_eq!(get("old", "/app/prod/region"), "eu\n");
        assert_eq!(get("old", "/app/prod/open/x"), "open\n");
        assert_eq!(get("old", "/app/x"), "plain\n");
        let show = stdout(&run("old", "key show prod").success());
        assert!(show.contains("active version:      2"), "{show}");
        run("old", "audit verify").success();
        // Moved once: read again, nothing changes.
        assert_eq!(get("old", "/app/prod/region"), "eu\n");
        assert_eq!(key_macs(), after, "pg {pg}");
        // A write of the key seals under its key, and reads back.
        run("old", "key rotate prod").success();
        env.cmd()
            .env("COFFER_HOME", env.path("old"))
            .env("COFFER_STORE", &url)
            .env("USER", "tester")
            .args(["put", "/app/prod/db", "--overwrite"])
            .write_stdin("s3cret-4")
            .assert()
            .success();
        assert_eq!(get("old", "/app/prod/db"), "s3cret-4\n");
        assert_eq!(get("old", "/app/prod/db:2"), "s3cret-2\n");
        // The row of paths of before put back (v2: it says the key's rows are under the
        // store's key): older than what this home saw.
        store_sql(
            &url,
            "CREATE TABLE v3_paths AS SELECT * FROM key_paths;
             DELETE FROM key_paths; INSERT INTO key_paths SELECT * FROM v2_paths",
        );
        let a = run("old", "get /app/prod/db").code(1);
        assert!(
            stderr(&a).contains("but this home saw it sealed to entry"),
            "pg {pg}: {}",
            stderr(&a)
        );
        store_sql(
            &url,
            "DELETE FROM key_paths; INSERT INTO key_paths SELECT * FROM v3_paths",
        );
        assert_eq!(get("old", "/app/prod/db"), "s3cret-4\n");
        // The key's row sealed under the store's key, as a holder of the store's root alone
        // could seal it after the move: refused.
        #[cfg(feature = "test-pause")]
        if !pg {
            store_sql(
                &url,
                "UPDATE keys SET active_version = 2 WHERE name = 'prod'",
            );
            reseal_key_as_store(&env.path("old"), "prod");
            let a = run("old", "get /app/prod/db:2").code(1);
            assert!(
                stderr(&a).contains("does not match its MAC"),
                "{}",
                stderr(&a)
            );
        }
    }
}

/// A home killed in the middle of the move of a key's own rows to its key leaves the store as
/// it was (the move is one transaction), and the next command holding the root moves them.
#[cfg(feature = "test-pause")]
#[test]
fn a_move_of_a_keys_rows_killed_midway_leaves_the_store_as_it_was() {
    let Some((env, url)) = release_store(KEYS_UNMOVED, false) else {
        return;
    };
    let path = env.path("old").join("coffer.db");
    let s = Site {
        env,
        db: Db::Sqlite(path),
    };
    let macs = || {
        store_query(
            &url,
            "SELECT hex(k.mac) || ' ' || hex(p.mac) || ' ' ||
                    (SELECT group_concat(hex(v.mac), ',') FROM key_versions v
                     WHERE v.name = k.name)
             FROM keys k JOIN key_paths p ON p.name = k.name WHERE k.name = 'prod'",
        )
    };
    let before = macs();
    let mut paused = s.paused("old", &["get", "/app/prod/db"], "move: in transaction");
    paused.child.kill().unwrap();
    paused.child.wait().unwrap();
    assert_eq!(macs(), before);
    assert_eq!(s.get("old", "/app/prod/db"), "s3cret-3\n");
    assert_ne!(macs(), before);
    assert_eq!(s.get("old", "/app/prod/db:2"), "s3cret-2\n");
    s.sh("old", "audit verify").success();
}

/// A holder of the store's root key can compute the MACs of the key table's `K_rows`, as a
/// modified coffer on a dev machine would: key `prod`'s row re-enabled, a retired version
/// made to decrypt again, its active version moved back or its schedule removed, each sealed
/// so (with an entry of its own), is refused by the home that holds prod's root, which checks
/// prod's rows under its `K_keys(K)`; so is prod's row as it was, sealed so.
#[cfg(feature = "test-pause")]
#[test]
fn a_keys_own_rows_sealed_by_a_holder_of_the_stores_root_alone_are_refused() {
    let attacks = [
        ("as it was", ""),
        (
            "un-retired",
            "UPDATE keys SET min_decrypt_version = 1 WHERE name = 'prod'",
        ),
        (
            "re-enabled",
            "UPDATE keys SET state = 'enabled' WHERE name = 'prod'",
        ),
        (
            "active moved back",
            "UPDATE keys SET active_version = 1 WHERE name = 'prod'",
        ),
        (
            "schedule removed",
            "UPDATE keys SET rotation_period_secs = NULL WHERE name = 'prod'",
        ),
        (
            "version's time moved",
            "UPDATE key_versions SET created_at = 1 WHERE name = 'prod' AND version = 2",
        ),
    ];
    for (what, attack) in attacks {
        let s = Site::sqlite();
        s.sh("a", "key create prod --root local --rotation-period 30d")
            .success();
        s.sh("a", "policy set /app/prod --key prod").success();
        s.put("a", "put /app/prod/db", "v1-secret").success();
        s.sh("a", "key rotate prod").success();
        s.put("a", "put /app/prod/db --overwrite", "v2-secret")
            .success();
        s.sh("a", "key retire prod --below-version 2").success();
        s.put("a", "put /app/x", "x").success();
        if what == "re-enabled" {
            s.sh("a", "key disable prod").success();
            s.refused("a", "get /app/prod/db", "disabled");
        } else {
            assert_eq!(s.get("a", "/app/prod/db"), "v2-secret\n", "{what}");
            s.refused("a", "get /app/prod/db:1", "retired");
        }
        let db = s.env.path("a").join("coffer.db");
        rusqlite::Connection::open(&db)
            .unwrap()
            .execute_batch(attack)
            .unwrap();
        reseal_key_as_store(&s.env.path("a"), "prod");
        // The home fails closed: a key whose root it holds fails its check, so no policy is
        // used, below any path.
        for read in [
            "get /app/x",
            "get /app/prod/db",
            "get /app/prod/db:1",
            "key show prod",
            "key list",
            "key rotate prod",
            "key enable prod",
            "put /app/prod/new --type string",
        ] {
            let e = s.refused("a", read, "outside coffer");
            assert!(e.contains("key `prod`"), "{what}: {read}: {e}");
        }
    }
}

/// Key `prod`'s row in the store at `url`: the entry it is tied to, its MAC, its versions'
/// MACs and the entry its row of paths is sealed to, separated by spaces.
fn prod_key_macs(url: &str, pg: bool) -> String {
    store_query(
        url,
        if pg {
            "SELECT k.seal_seq || ' ' || encode(k.mac, 'hex') || ' ' ||
                    (SELECT string_agg(encode(v.mac, 'hex'), ',' ORDER BY v.version)
                     FROM key_versions v WHERE v.name = k.name) || ' ' ||
                    (SELECT seal_seq FROM key_paths WHERE name = k.name)
             FROM keys k WHERE k.name = 'prod'"
        } else {
            "SELECT k.seal_seq || ' ' || hex(k.mac) || ' ' ||
                    (SELECT group_concat(hex(v.mac), ',') FROM key_versions v
                     WHERE v.name = k.name) || ' ' ||
                    (SELECT seal_seq FROM key_paths WHERE name = k.name)
             FROM keys k WHERE k.name = 'prod'"
        },
    )
}

fn stdout(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&a.get_output().stdout).into_owned()
}
