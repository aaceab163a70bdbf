//! Keys with roots of their own (`key create --root`, `coffer::store::roots`) and path
//! policies together: two homes on one store, a "prod machine" holding the prod key's root
//! and a "dev machine" holding only the store's root key.

use super::*;

/// The dev home reads and writes `/app/dev`, and every read, write and rotation of
/// `/app/prod` fails with an error naming the key, its root and the file the home lacks;
/// `exec` over both paths leaves `/app/prod` out (or fails, with `--strict`); the prod home
/// does everything. Copying the root file is what lets a machine in.
#[test]
fn a_home_without_a_keys_own_root_cannot_use_what_it_protects() {
    Site::each(|s| {
        let prod = "a";
        s.sh(prod, "key create prod --root local")
            .success()
            .stdout(contains("created key prod"));
        let root_file = s.env.path(prod).join("roots").join("prod.key");
        assert_eq!(mode(&root_file) & 0o777, 0o600);
        let show = s.sh(prod, "key show prod").success();
        assert!(stdout(&show).contains("root:                its own, local:"));
        s.sh(prod, "key create dev").success();
        s.sh(prod, "policy set /app/prod --key prod").success();
        s.sh(prod, "policy set /app/dev --key dev").success();
        s.put(prod, "put /app/prod/db", "prod-secret").success();
        s.put(prod, "put /app/prod/region --type string", "eu")
            .success();

        s.share("dev");
        s.put("dev", "put /app/dev/db", "dev-secret").success();
        assert_eq!(s.get("dev", "/app/dev/db"), "dev-secret\n");
        let lacks = "key `prod` has a root of its own (local:";
        let e = s.refused("dev", "get /app/prod/db", lacks);
        assert!(e.contains("which this home does not hold"), "{e}");
        assert!(e.contains("roots/prod.key does not exist"), "{e}");
        assert!(
            e.contains("hint: if this machine should use key `prod`, copy"),
            "{e}"
        );
        assert!(!e.contains("give that key with --key"), "{e}");
        let e = s.put("dev", "put /app/prod/db --overwrite", "mine").code(1);
        assert!(stderr(&e).contains(lacks), "{}", stderr(&e));
        let e = s
            .put("dev", "put /app/prod/db --overwrite --key dev", "mine")
            .code(1);
        assert!(stderr(&e).contains(lacks), "{}", stderr(&e));
        s.refused("dev", "key rotate prod", lacks);
        s.refused(
            "dev",
            "rotate /app/prod/db --generate length=16,charset=alnum",
            lacks,
        );
        // Nothing was staged by the failed rotation.
        assert_eq!(s.get(prod, "/app/prod/db"), "prod-secret\n");
        let h = s.sh(prod, "history /app/prod/db").success();
        assert!(!stdout(&h).contains("pending"), "{}", stdout(&h));

        // `exec` over both paths: the one it cannot read is left out, with a warning.
        let a = s
            .sh("dev", "exec --path /app/dev --path /app/prod -- env")
            .success();
        let env = stdout(&a);
        assert!(env.lines().any(|l| l == "DB=dev-secret"), "{env}");
        assert!(!env.contains("prod-secret"), "{env}");
        assert!(
            stderr(&a).contains("left out: /app/prod/db is below /app/prod"),
            "{}",
            stderr(&a)
        );
        s.refused(
            "dev",
            "exec --strict --path /app/dev --path /app/prod -- env",
            lacks,
        );
        let a = s.sh("dev", "export --path /app/prod").success();
        assert!(!stdout(&a).contains("prod-secret"));

        // The prod home does all of it.
        assert_eq!(s.get(prod, "/app/prod/db"), "prod-secret\n");
        s.sh(prod, "key rotate prod").success();
        s.put(prod, "put /app/prod/db --overwrite", "prod-2")
            .success();
        let a = s
            .sh(prod, "exec --path /app/dev --path /app/prod -- env")
            .success();
        assert!(stdout(&a).lines().any(|l| l == "DB=prod-2"));
        s.sh(
            prod,
            "rotate /app/prod/db --generate length=16,charset=alnum",
        )
        .success();

        // A root file of another key in its place is refused, not used.
        fs::create_dir_all(s.env.path("dev").join("roots")).unwrap();
        s.sh(prod, "key create other --root local").success();
        fs::copy(
            s.env.path(prod).join("roots").join("other.key"),
            s.env.path("dev").join("roots").join("prod.key"),
        )
        .unwrap();
        s.refused("dev", "get /app/prod/db", "holds another root");
        // The right file lets the machine in.
        fs::copy(&root_file, s.env.path("dev").join("roots").join("prod.key")).unwrap();
        s.put("dev", "put /app/prod/db --overwrite", "from-dev")
            .success();
        assert_eq!(s.get(prod, "/app/prod/db"), "from-dev\n");

        // The key's row pointed at the store's root in the database, so that its next version
        // would be wrapped under a root every machine holds: the row fails its MAC.
        let root_of = |sql: &str| s.sql(sql, sql);
        root_of(
            "CREATE TABLE saved_root AS SELECT root FROM keys WHERE name = 'prod';
             UPDATE keys SET root = NULL WHERE name = 'prod'",
        );
        let pinned = "holds a root of its own for it";
        s.refused(prod, "key rotate prod", pinned);
        s.refused(prod, "get /app/prod/db", pinned);
        root_of("UPDATE keys SET root = (SELECT root FROM saved_root) WHERE name = 'prod'");
        assert_eq!(s.get(prod, "/app/prod/db"), "from-dev\n");

        // A row's words do not make a path left out: only a missing root file does.
        root_of(
            "CREATE TABLE saved_ids AS SELECT name, version, root_id FROM key_versions;
             UPDATE key_versions SET root_id = 'x, which this home does not hold'
             WHERE name = 'dev'",
        );
        let a = s
            .sh(prod, "exec --path /app/dev --path /app/prod -- env")
            .code(1);
        assert!(!stdout(&a).contains("dev-secret"));
        root_of(
            "UPDATE key_versions SET root_id = (SELECT root_id FROM saved_ids i
               WHERE i.name = key_versions.name AND i.version = key_versions.version)",
        );
        assert_eq!(s.get(prod, "/app/dev/db"), "dev-secret\n");
        s.sh(prod, "audit verify").success();
    });
}

/// Below a path whose policy names a key with a root of its own, a home without that root
/// changes and reads nothing, whatever the type: no `string` value is read or written, no
/// label moved, no parameter removed, restored or destroyed, no policy that changes which key
/// protects a name below it is set or removed, and `rotate --due` leaves its schedules to
/// the machines that hold the root; the prod home does all of it. Their rows, sealed under
/// prod's root, are neither listed nor shown in a history there.
#[test]
fn a_home_without_a_keys_own_root_changes_nothing_below_its_path() {
    Site::each(|s| {
        let prod = "a";
        s.sh(prod, "key create prod --root local").success();
        s.sh(prod, "key create dev").success();
        s.sh(prod, "policy set /app/prod --key prod").success();
        s.sh(prod, "policy set /app/dev --key dev").success();
        s.put(prod, "put /app/prod/db", "one").success();
        s.put(prod, "put /app/prod/db --overwrite", "two").success();
        s.put(prod, "put /app/prod/region --type string", "eu")
            .success();
        s.put(prod, "put /app/prod/gone --type string", "x")
            .success();
        s.sh(prod, "rm /app/prod/gone").success();
        s.sh(
            prod,
            "rotate /app/prod/db --every 30d --generate length=16,charset=alnum",
        )
        .success();
        let db = s.get(prod, "/app/prod/db");

        s.share("dev");
        let below = "/app/prod/region is below /app/prod, whose path policy names key \
                     local:prod: key `prod` has a root of its own";
        let e = s.refused("dev", "get /app/prod/region", below);
        assert!(e.contains("roots/prod.key does not exist"), "{e}");
        assert!(e.contains("copy"), "{e}");
        let lacks = "key `prod` has a root of its own";
        for args in [
            "label /app/prod/db:1 current",
            "unlabel /app/prod/db previous",
            "rm /app/prod/db",
            "restore /app/prod/gone",
            "destroy /app/prod/db:1",
            "destroy /app/prod/gone",
            "rotate /app/prod/db --every off",
            "rotate /app/prod/db --every 1d --generate length=8,charset=hex --set-hook true",
            "get /app/prod/db:previous",
            // The key's own state decides what below its paths reads.
            "key disable prod",
            "key retire prod --below-version 2",
            "key set-rotation prod 30d",
        ] {
            s.refused("dev", args, lacks);
        }
        let e = s
            .put(
                "dev",
                "put /app/prod/region --type string --overwrite",
                "us",
            )
            .code(1);
        assert!(stderr(&e).contains(below), "{}", stderr(&e));
        let e = s
            .put("dev", "put /app/prod/new --type string", "planted")
            .code(1);
        assert!(stderr(&e).contains(lacks), "{}", stderr(&e));
        for args in [
            "policy rm /app/prod",
            "policy set /app/prod --key dev",
            "policy set /app/prod/sub --key dev",
        ] {
            let e = s.refused("dev", args, lacks);
            assert!(
                e.contains("it changes which key protects the names below it"),
                "{e}"
            );
        }
        // A policy that changes no name of the prod key's is the dev home's to set.
        s.sh("dev", "policy set /app --key dev").success();
        s.sh("dev", "policy set /app/dev2 --key dev").success();
        // Due schedules below the path are left to the prod machine.
        s.sql(
            "UPDATE param_rotations SET next_due = 0",
            "UPDATE param_rotations SET next_due = 0",
        );
        let a = s.sh("dev", "rotate --due").success();
        let report: Value = serde_json::from_str(&stdout(&a)).unwrap();
        assert_eq!(report["skipped"][0]["name"], "/app/prod/db", "{report}");
        assert!(
            report["skipped"][0]["reason"]
                .as_str()
                .is_some_and(|r| r.contains(lacks)),
            "{report}"
        );
        assert_eq!(report["rotated"], serde_json::json!([]), "{report}");
        // exec and export leave the string out as well.
        let a = s.sh("dev", "exec --path /app/prod -- env").success();
        assert!(
            !stdout(&a).lines().any(|l| l.starts_with("REGION=")),
            "{}",
            stdout(&a)
        );
        assert!(stderr(&a).contains("left out"), "{}", stderr(&a));
        s.refused("dev", "exec --strict --path /app/prod -- env", lacks);
        // Its rows cannot be checked here: not listed (said so), no history.
        let a = s.sh("dev", "ls /app/prod").success();
        assert!(!stdout(&a).contains("region"), "{}", stdout(&a));
        assert!(stderr(&a).contains("not listed"), "{}", stderr(&a));
        assert!(
            !stderr(&a).contains("no parameters under"),
            "{}",
            stderr(&a)
        );
        s.refused("dev", "history /app/prod/db", "protected by key `prod`");

        // Nothing changed, and the prod home does every one of them.
        assert_eq!(s.get(prod, "/app/prod/db"), db);
        let show = stdout(&s.sh(prod, "key show prod").success());
        assert!(show.contains("enabled"), "{show}");
        assert!(show.contains("rotation:            none"), "{show}");
        assert_eq!(s.get(prod, "/app/prod/region"), "eu\n");
        s.sh(prod, "rotate --due").success();
        s.sh(prod, "label /app/prod/db:1 old").success();
        s.sh(prod, "unlabel /app/prod/db old").success();
        s.sh(prod, "restore /app/prod/gone").success();
        s.sh(prod, "destroy /app/prod/db:1").success();
        s.put(prod, "put /app/prod/region --type string --overwrite", "us")
            .success();
        s.sh(prod, "policy set /app/prod/sub --key dev").success();
        s.sh(prod, "policy rm /app/prod/sub").success();
        s.sh(prod, "rotate /app/prod/db --every off").success();
        s.sh(prod, "key set-rotation prod 30d").success();
        s.sh(prod, "rm /app/prod/db").success();
        s.sh(prod, "audit verify").success();
    });
}

/// A holder of the store's root key can seal a key's row as it likes (it holds the audit
/// secret): one that moves key `prod` under the store's root, so that its next version would
/// be readable by every such holder, is refused by a home that holds prod's root.
#[test]
fn a_key_moved_under_the_stores_root_is_refused_where_its_own_root_is_held() {
    let s = Site::sqlite();
    s.sh("a", "key create prod --root local").success();
    s.put("a", "put /app/prod/db --key prod", "secret")
        .success();
    s.sql("UPDATE keys SET root = NULL WHERE name = 'prod'", "");
    // As a holder of the store's root key could write it: sealed.
    reseal(&s.env.path("a"), None);
    let e = s.refused(
        "a",
        "key rotate prod",
        "this home holds a root of its own for it",
    );
    assert!(e.contains("roots/prod.key"), "{e}");
    s.refused(
        "a",
        "get /app/prod/db",
        "this home holds a root of its own for it",
    );
}

/// `key rotate --root` re-wraps the keys of the store's root and leaves a key with a root of
/// its own as it is (its root is not the store's to change), checking every key's seal first.
#[test]
fn a_root_rotation_leaves_keys_with_roots_of_their_own_alone() {
    let s = Site::sqlite();
    s.sh("a", "key create prod --root local").success();
    s.sh("a", "policy set /app/prod --key prod").success();
    s.put("a", "put /app/prod/db", "prod-secret").success();
    s.put("a", "put /app/x", "store-key").success();
    let before = stdout(&s.sh("a", "key show prod").success());
    let a = s.sh("a", "key rotate --root").success();
    assert!(stdout(&a).contains("1 key"), "{}", stdout(&a));
    assert_eq!(stdout(&s.sh("a", "key show prod").success()), before);
    assert_eq!(s.get("a", "/app/prod/db"), "prod-secret\n");
    assert_eq!(s.get("a", "/app/x"), "store-key\n");
    // The row of a key of the store's root deleted around a rotation: its versions are
    // re-wrapped all the same, so that the row put back reads.
    s.sql(
        "PRAGMA foreign_keys = OFF;
         CREATE TABLE saved_key AS SELECT * FROM keys WHERE name = 'params';
         DELETE FROM keys WHERE name = 'params'",
        "",
    );
    s.sh("a", "key rotate --root").success();
    s.sql("INSERT INTO keys SELECT * FROM saved_key", "");
    assert_eq!(s.get("a", "/app/x"), "store-key\n");
    // A key of the store's root edited to claim a root of its own, with a row of paths
    // planted so that its rows would be taken to be under a key of its own, which this home
    // cannot check, and its versions made not to unwrap under the store's root: no
    // authentic entry seals that row, so the key's row is checked, and refused.
    s.sql(
        "CREATE TABLE saved_keys AS SELECT * FROM keys;
         CREATE TABLE saved_versions AS SELECT * FROM key_versions;
         UPDATE keys SET root = 'local:0011' WHERE name = 'params';
         UPDATE key_versions SET root_id = 'local:0011', wrapped = zeroblob(60)
         WHERE name = 'params';
         INSERT INTO key_paths VALUES ('params', x'00', '', '', 1, x'00')",
        "",
    );
    s.refused("a", "key rotate --root", "does not match its MAC");
    s.sql(
        "PRAGMA foreign_keys = OFF;
         DELETE FROM key_paths WHERE name = 'params';
         DELETE FROM keys; INSERT INTO keys SELECT * FROM saved_keys;
         DELETE FROM key_versions; INSERT INTO key_versions SELECT * FROM saved_versions",
        "",
    );
    assert_eq!(s.get("a", "/app/x"), "store-key\n");
    // A key's root cleared in the database would leave its versions behind: refused first.
    s.sql("UPDATE keys SET root = NULL WHERE name = 'prod'", "");
    s.refused("a", "key rotate --root", "does not match its MAC");
}

/// A policy changed by a holder of the store's root key alone (plain SQL with the set's MAC
/// recomputed from the store's audit secret, as a modified coffer on a dev machine could
/// write it) is refused by a home that holds the root of the key whose paths it changes:
/// every command that reads the policies fails, naming what changed. Put back as it was, the
/// set is used again.
#[test]
fn a_policy_changed_without_the_keys_root_is_refused_where_the_root_is_held() {
    let s = Site::sqlite();
    s.sh("a", "key create prod --root local").success();
    s.sh("a", "policy set /app/prod --key prod").success();
    s.put("a", "put /app/prod/db", "prod-secret").success();
    s.put("a", "put /app/x", "x").success();
    s.sql(
        "CREATE TABLE saved_heads AS SELECT * FROM params;
         CREATE TABLE saved_versions AS SELECT * FROM param_versions;
         CREATE TABLE saved_labels AS SELECT * FROM param_labels",
        "",
    );
    let forge = |sql: &str| {
        s.sql(sql, "");
        // As a holder of the store's root key could seal it (the parameter rows too, which
        // breaks those below prod's paths: they are not sealed under the store's key).
        reseal(&s.env.path("a"), None);
    };
    // The parameter rows as they were before the reseal.
    let rows_back = || {
        s.sql(
            "PRAGMA foreign_keys = OFF;
             DELETE FROM param_labels; INSERT INTO param_labels SELECT * FROM saved_labels;
             DELETE FROM param_versions; INSERT INTO param_versions SELECT * FROM saved_versions;
             DELETE FROM params; INSERT INTO params SELECT * FROM saved_heads",
            "",
        );
    };
    let cases = [
        (
            "UPDATE policies SET key_ref = 'local:params' WHERE path = '/app/prod'",
            "UPDATE policies SET key_ref = 'local:prod' WHERE path = '/app/prod'",
            "/app/prod is no longer under it",
        ),
        (
            "INSERT INTO policies SELECT '/app/prod/db', 'local:params', created_at, author
             FROM policies WHERE path = '/app/prod'",
            "DELETE FROM policies WHERE path = '/app/prod/db'",
            "a policy of /app/prod/db takes names from it",
        ),
        (
            "CREATE TABLE saved_policies AS SELECT * FROM policies; DELETE FROM policies",
            "INSERT INTO policies SELECT * FROM saved_policies; DROP TABLE saved_policies",
            "/app/prod is no longer under it",
        ),
        (
            "INSERT INTO policies SELECT '/app/dev', 'local:prod', created_at, author
             FROM policies WHERE path = '/app/prod'",
            "DELETE FROM policies WHERE path = '/app/dev'",
            "/app/dev was put under it",
        ),
    ];
    for (attack, undo, says) in cases {
        forge(attack);
        for args in ["get /app/prod/db", "get /app/x", "policy ls"] {
            let e = s.refused("a", args, "are not what key `prod` sealed");
            assert!(e.contains(says), "{attack}: {args}: {e}");
            assert!(e.contains("no policy was used"), "{e}");
        }
        let e = s.put("a", "put /app/prod/db --overwrite", "mine").code(1);
        assert!(stderr(&e).contains(says), "{}", stderr(&e));
        forge(undo);
        let e = s.refused("a", "get /app/prod/db", "outside coffer");
        assert!(e.contains("/app/prod/db"), "{e}");
        rows_back();
        assert_eq!(s.get("a", "/app/prod/db"), "prod-secret\n", "{attack}");
    }
    // Two policies of one path (the table rebuilt without its key), the second naming another
    // key: the key's paths would not change, the names would.
    forge(
        "CREATE TABLE saved_policies AS SELECT * FROM policies; DROP TABLE policies;
         CREATE TABLE policies (path TEXT, key_ref TEXT, created_at INTEGER, author TEXT);
         INSERT INTO policies SELECT * FROM saved_policies;
         INSERT INTO policies SELECT path, 'local:params', created_at, author FROM saved_policies",
    );
    s.refused(
        "a",
        "get /app/prod/db",
        "two rows name the path `/app/prod`",
    );
    s.share("dev");
    s.refused("dev", "get /app/x", "two rows name the path `/app/prod`");
    forge(
        "DROP TABLE policies;
         CREATE TABLE policies (path TEXT PRIMARY KEY, key_ref TEXT, created_at INTEGER,
                                author TEXT);
         INSERT INTO policies SELECT * FROM saved_policies WHERE key_ref = 'local:prod'",
    );
    rows_back();
    assert_eq!(s.get("a", "/app/prod/db"), "prod-secret\n");

    // The key removed with every trace of its seals (the row, the entries' verb), for a home
    // holding its root that never checked it: it uses no policy rather than take the key for
    // another store's.
    s.sql(
        "PRAGMA foreign_keys = OFF;
         UPDATE audit SET verb = 'attest-pathz' WHERE verb = 'attest-paths';
         DELETE FROM key_paths; DELETE FROM key_versions WHERE name = 'prod';
         DELETE FROM keys WHERE name = 'prod'",
        "",
    );
    s.share_root("b", "prod");
    s.refused("b", "get /app/x", "is not in the store");
    s.refused("a", "get /app/x", "is gone from the store");
}

/// A policy changed by a holder of the store's root key alone while a home that holds the
/// key's root changes another one (after it checked the set, before its transaction) is not
/// sealed into the key's paths: the change is refused, and the key's seal stays as it was.
#[cfg(feature = "test-pause")]
#[test]
fn a_policy_changed_during_a_policy_change_is_not_sealed_into_the_keys_paths() {
    let s = Site::sqlite();
    s.sh("a", "key create prod --root local").success();
    s.sh("a", "policy set /app/prod --key prod").success();
    s.put("a", "put /app/prod/db", "prod-secret").success();
    let child = s.paused(
        "a",
        &["policy", "set", "/app/more", "--key", "prod"],
        "policy: checked",
    );
    s.sql(
        "UPDATE policies SET key_ref = 'local:dev' WHERE path = '/app/prod'",
        "",
    );
    reseal_policies(&s.env.path("a"));
    let (status, rest) = child.finish();
    assert!(!status.success(), "{rest}");
    assert!(rest.contains("are not what key `prod` sealed"), "{rest}");
    assert!(rest.contains("/app/prod is no longer under it"), "{rest}");
    s.sql(
        "UPDATE policies SET key_ref = 'local:prod' WHERE path = '/app/prod'",
        "",
    );
    reseal_policies(&s.env.path("a"));
    assert_eq!(s.get("a", "/app/prod/db"), "prod-secret\n");
    let a = s.sh("a", "policy ls").success();
    assert!(!stdout(&a).contains("/app/more"), "{}", stdout(&a));
}

/// The row in which a key with a root of its own seals its paths, removed, edited or put back
/// from before a policy change with plain SQL, is refused where the key's root is held; the
/// key's creation and every policy change that moves names to or from it seal it, each with
/// an audit entry that names the key.
#[test]
fn a_keys_sealed_paths_edited_in_the_database_are_refused() {
    Site::each(|s| {
        s.sh("a", "key create prod --root local").success();
        s.sh("a", "policy set /app/prod --key prod").success();
        s.put("a", "put /app/prod/db", "prod-secret").success();
        s.put("a", "put /app/x", "x").success(); // makes the store key, `params`
        s.sh("a", "policy set /app/prod/new --key params").success();
        s.sh("a", "policy set /app/other --key params").success();
        let sealed = || -> Vec<String> {
            s.entries("a")
                .into_iter()
                .filter(|e| e["verb"] == "attest-paths")
                .map(|e| format!("{} {}", e["name"], e["detail"]))
                .collect()
        };
        assert_eq!(
            sealed(),
            [
                r#""prod" "paths none; holes none""#,
                r#""prod" "paths /app/prod; holes none""#,
                r#""prod" "paths /app/prod; holes /app/prod/new""#,
            ],
            "{}",
            s.what()
        );
        s.sql(
            "CREATE TABLE saved_paths AS SELECT * FROM key_paths",
            "CREATE TABLE saved_paths AS SELECT * FROM key_paths",
        );
        s.sh("a", "policy rm /app/prod/new").success();
        assert_eq!(sealed().len(), 4);
        assert_eq!(s.get("a", "/app/prod/db"), "prod-secret\n");
        let put_back = "DELETE FROM key_paths; INSERT INTO key_paths SELECT * FROM saved_paths";
        let cases = [
            (put_back, put_back, "no policy was used"),
            (
                "DELETE FROM key_paths",
                "DELETE FROM key_paths",
                "its row is gone, though audit entry",
            ),
            (
                "UPDATE key_paths SET mac = zeroblob(32)",
                "UPDATE key_paths SET mac = sha256(mac)",
                "its row does not match its MAC",
            ),
            (
                "UPDATE key_paths SET seal_seq = seal_seq - 1",
                "UPDATE key_paths SET seal_seq = seal_seq - 1",
                "but this home saw it sealed to entry",
            ),
            (
                "UPDATE key_paths SET secret = zeroblob(60)",
                "UPDATE key_paths SET secret = sha256(secret)",
                "its row secret does not unwrap under the root this home holds",
            ),
        ];
        s.sql(
            "CREATE TABLE good_paths AS SELECT * FROM key_paths",
            "CREATE TABLE good_paths AS SELECT * FROM key_paths",
        );
        for (attack, pg, says) in cases {
            s.sql(attack, pg);
            let e = s.refused("a", "get /app/prod/db", says);
            assert!(e.contains("key_paths") || e.contains("not what key"), "{e}");
            s.sql(
                "DELETE FROM key_paths; INSERT INTO key_paths SELECT * FROM good_paths",
                "DELETE FROM key_paths; INSERT INTO key_paths SELECT * FROM good_paths",
            );
            assert_eq!(s.get("a", "/app/prod/db"), "prod-secret\n", "{attack}");
        }
        // The later entries hidden (their verb edited, their hashes left: a read does not walk
        // the chain) with the row removed, or an older row put back: this home saw the row
        // sealed to the last entry, and a home that never saw it makes no row before the
        // whole log verified.
        let hide = "UPDATE audit SET verb = 'attest-pathz' WHERE verb = 'attest-paths'";
        s.sql(
            &format!(
                "CREATE TABLE saved_audit AS SELECT * FROM audit; {hide}; DELETE FROM key_paths"
            ),
            &format!(
                "CREATE TABLE saved_audit AS SELECT * FROM audit; {hide}; DELETE FROM key_paths"
            ),
        );
        s.refused(
            "a",
            "get /app/prod/db",
            "though this home saw it sealed to audit entry",
        );
        // A home that never saw the row finds the key's own rows under a key that no row of
        // paths names (its K_keys(K)): refused before any row is made.
        s.share_root("b", "prod");
        s.refused("b", "get /app/prod/db", "does not match its MAC");
        assert_eq!(
            s.query(
                "SELECT CAST(count(*) AS TEXT) FROM key_paths",
                "SELECT count(*)::text FROM key_paths"
            ),
            "0"
        );
        s.sql(
            "DELETE FROM key_paths; INSERT INTO key_paths SELECT * FROM saved_paths",
            "DELETE FROM key_paths; INSERT INTO key_paths SELECT * FROM saved_paths",
        );
        s.refused(
            "a",
            "get /app/prod/db",
            "but this home saw it sealed to entry",
        );
        s.sql(
            "DELETE FROM audit; INSERT INTO audit SELECT * FROM saved_audit;
             DELETE FROM key_paths; INSERT INTO key_paths SELECT * FROM good_paths",
            "DELETE FROM audit; INSERT INTO audit SELECT * FROM saved_audit;
             DELETE FROM key_paths; INSERT INTO key_paths SELECT * FROM good_paths",
        );
        assert_eq!(s.get("a", "/app/prod/db"), "prod-secret\n");
        assert_eq!(s.get("b", "/app/prod/db"), "prod-secret\n");

        // The paths as written in the row are what its MAC covers too (what decides the key
        // of the key's own rows, which do not read the policies): edited, refused.
        let edit = "CREATE TABLE written_paths AS SELECT * FROM key_paths;
                    UPDATE key_paths SET paths = '/elsewhere'";
        s.sql(edit, edit);
        s.refused("a", "get /app/prod/db", "its row does not match its MAC");
        let back = "DELETE FROM key_paths; INSERT INTO key_paths SELECT * FROM written_paths";
        s.sql(back, back);
        assert_eq!(s.get("a", "/app/prod/db"), "prod-secret\n");
        // A home without the root uses the policies as sealed for the store (it reads nothing
        // below /app/prod either way).
        s.share("dev");
        s.sql("DELETE FROM key_paths", "DELETE FROM key_paths");
        s.put("dev", "put /app/other/x", "dev-value").success();
        assert_eq!(s.get("dev", "/app/other/x"), "dev-value\n");
        s.refused("a", "get /app/other/x", "its row is gone");
    });
}

/// A store of the release before keys sealed their paths (`tests/data/release-843fb8c`).
const UNSEALED_PATHS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/release-843fb8c/sqlite"
);

/// In a store of the release before, the keys with roots of their own seal their paths the
/// first time a home that holds their roots uses the policies, as the policies say then (a
/// home without the roots seals nothing); every value reads back, and from then on a row
/// removed is refused rather than sealed again.
#[test]
fn keys_of_the_release_before_seal_their_paths_where_their_roots_are_held() {
    use std::os::unix::fs::PermissionsExt as _;
    let env = Env::new();
    let (old, dev) = (env.path("old"), env.path("dev"));
    fs::create_dir_all(old.join("roots")).unwrap();
    fs::create_dir_all(&dev).unwrap();
    for f in ["coffer.db", "root.key", "roots/prod.key", "roots/other.key"] {
        fs::copy(format!("{UNSEALED_PATHS}/{f}"), old.join(f)).unwrap();
        if f != "coffer.db" {
            fs::set_permissions(old.join(f), fs::Permissions::from_mode(0o600)).unwrap();
        }
    }
    fs::copy(old.join("root.key"), dev.join("root.key")).unwrap();
    let url = format!("sqlite://{}", old.join("coffer.db").display());
    let run = |home: &Path, args: &str| {
        env.cmd()
            .env("COFFER_HOME", home)
            .env("COFFER_STORE", &url)
            .env("USER", "tester")
            .args(words(args))
            .assert()
    };
    let get = |home: &Path, name: &str| {
        String::from_utf8(
            run(home, &format!("get {name}"))
                .success()
                .get_output()
                .stdout
                .clone(),
        )
        .unwrap()
    };
    let sealed = || -> Vec<String> {
        let a = run(&dev, "--output json audit ls").success();
        String::from_utf8_lossy(&a.get_output().stdout)
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter(|e| e["verb"] == "attest-paths")
            .map(|e| format!("{} {}", e["name"], e["detail"]))
            .collect()
    };
    assert_eq!(get(&dev, "/app/x"), "plain\n");
    assert!(sealed().is_empty());
    assert_eq!(get(&old, "/app/prod/db"), "s3cret\n");
    assert_eq!(
        sealed(),
        [
            r#""other" "paths none; holes none""#,
            r#""prod" "paths /app/prod; holes /app/prod/open""#,
        ]
    );
    assert_eq!(get(&old, "/app/prod/region"), "eu\n");
    assert_eq!(get(&old, "/app/x"), "plain\n");
    run(&old, "audit verify").success();
    assert_eq!(sealed().len(), 2, "sealed once");
    // The rows below prod's paths moved to its key with its seal: a holder of the store's
    // root alone sealing an edit of one is refused, and what the store's key protects reads.
    #[cfg(feature = "test-pause")]
    {
        rusqlite::Connection::open(old.join("coffer.db"))
            .unwrap()
            .execute(
                "UPDATE param_versions SET value = CAST('us' AS BLOB)
                 WHERE name = '/app/prod/region'",
                [],
            )
            .unwrap();
        reseal(&old, None);
        let a = run(&old, "get /app/prod/region").code(1);
        assert!(stderr(&a).contains("outside coffer"), "{}", stderr(&a));
        assert_eq!(get(&old, "/app/x"), "plain\n");
    }
    rusqlite::Connection::open(old.join("coffer.db"))
        .unwrap()
        .execute("DELETE FROM key_paths WHERE name = 'prod'", [])
        .unwrap();
    let a = run(&old, "get /app/x").code(1);
    assert!(
        stderr(&a).contains("its row is gone, though audit entry"),
        "{}",
        stderr(&a)
    );
}

/// A key of the store's root whose row is edited with plain SQL to claim a root of its own
/// (with a row of paths planted for it) is not taken for a key this home cannot check: a
/// home without any root of its own checks it under the store's key and refuses it, in every
/// read, listing and scheduled rotation, rather than leave it out as another machine's.
#[test]
fn a_key_edited_to_claim_a_root_of_its_own_is_refused_by_homes_without_it() {
    Site::each(|s| {
        s.put("a", "put /app/x", "store-key").success();
        s.sh("a", "key set-rotation params 1d").success();
        s.sql(
            "UPDATE keys SET root = 'local:0011' WHERE name = 'params';
             INSERT INTO key_paths VALUES ('params', x'00', '', '', 1, x'00')",
            "UPDATE keys SET root = 'local:0011' WHERE name = 'params';
             INSERT INTO key_paths VALUES ('params', '\\x00', '', '', 1, '\\x00')",
        );
        for args in [
            "get /app/x",
            "key list",
            "key show params",
            "key rotate --due",
        ] {
            let e = s.refused("a", args, "does not match its MAC");
            assert!(e.contains("key `params`"), "{}: {args}: {e}", s.what());
        }
        s.sql(
            "DELETE FROM key_paths; UPDATE keys SET root = NULL WHERE name = 'params'",
            "DELETE FROM key_paths; UPDATE keys SET root = NULL WHERE name = 'params'",
        );
        assert_eq!(s.get("a", "/app/x"), "store-key\n");
    });
}

fn stdout(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&a.get_output().stdout).into_owned()
}

/// A machine's SoftHSM2: its own token directory and configuration (`SOFTHSM2_CONF`), one
/// token with an AES key `root` that coffer makes there, and the PIN in a file.
struct Machine {
    conf: PathBuf,
    uri: String,
}

impl Machine {
    fn new(s: &Site, machine: &str, name: &str, module: &str) -> Self {
        let dir = s.env.path(&format!("hsm-{machine}"));
        fs::create_dir_all(dir.join("tokens")).unwrap();
        let conf = dir.join("softhsm2.conf");
        fs::write(
            &conf,
            format!(
                "directories.tokendir = {}/tokens\nobjectstore.backend = file\nlog.level = ERROR\n",
                dir.display()
            ),
        )
        .unwrap();
        let pin = dir.join("pin");
        fs::write(&pin, format!("pin-{name}")).unwrap();
        let out = std::process::Command::new("softhsm2-util")
            .env("SOFTHSM2_CONF", &conf)
            .args(["--init-token", "--free", "--label", name, "--pin"])
            .arg(format!("pin-{name}"))
            .args(["--so-pin", "so-pin-0000"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let token = format!(
            "pkcs11:token={name}?module-path={module}&pin-source=file:{}",
            pin.display()
        );
        let m = Self {
            conf,
            uri: format!(
                "pkcs11:token={name};object=root?module-path={module}&pin-source=file:{}",
                pin.display()
            ),
        };
        // The home that makes it does not matter: the key lives on the token.
        m.sh(s, "a", &["key", "create", "root", "--in", &token])
            .success();
        m
    }

    /// `coffer ARGS` on this machine, with home `home`.
    fn sh(&self, s: &Site, home: &str, args: &[&str]) -> assert_cmd::assert::Assert {
        s.cmd(home)
            .env("SOFTHSM2_CONF", &self.conf)
            .env_remove("COFFER_PKCS11_MODULE")
            .args(args)
            .assert()
    }
}

/// As with a local root, with the prod key's root on the prod machine's token: the dev
/// machine, with a token of its own, cannot use the key even with a copy of the prod home's
/// root file (it names a token the dev machine does not have).
#[test]
fn a_keys_own_root_on_one_machines_token_is_unusable_on_another() {
    let Ok(module) = std::env::var("COFFER_TEST_PKCS11_MODULE") else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "COFFER_TEST_PKCS11_MODULE is not set: CI runs the PKCS#11 tests"
        );
        eprintln!("skipped: no SoftHSM2 (scripts/hsm.sh installs it)");
        return;
    };
    Site::each(|s| {
        // Tokens of the same name on the two machines: the name alone does not let the dev
        // machine use the prod machine's key.
        let prod = Machine::new(s, "prod", "prod-machine", &module);
        let dev = Machine::new(s, "dev", "prod-machine", &module);
        prod.sh(s, "a", &["key", "create", "prod", "--root", &prod.uri])
            .success();
        let show = prod.sh(s, "a", &["key", "show", "prod"]).success();
        assert!(stdout(&show).contains("root:                its own, pkcs11:"));
        prod.sh(s, "a", &["policy", "set", "/app/prod", "--key", "prod"])
            .success();
        s.cmd("a")
            .env("SOFTHSM2_CONF", &prod.conf)
            .args(["put", "/app/prod/db"])
            .write_stdin("prod-secret")
            .assert()
            .success();
        let got = prod.sh(s, "a", &["get", "/app/prod/db"]).success();
        assert_eq!(stdout(&got), "prod-secret\n");

        s.share("dev");
        s.cmd("dev")
            .env("SOFTHSM2_CONF", &dev.conf)
            .args(["put", "/app/dev/db"])
            .write_stdin("dev-secret")
            .assert()
            .success();
        let e = dev.sh(s, "dev", &["get", "/app/prod/db"]).code(1);
        assert!(
            stderr(&e).contains("key `prod` has a root of its own (pkcs11:"),
            "{}",
            stderr(&e)
        );
        // With the root file copied: the file names the prod machine's token, which this one
        // does not have.
        fs::create_dir_all(s.env.path("dev").join("roots")).unwrap();
        fs::copy(
            s.env.path("a").join("roots").join("prod.key"),
            s.env.path("dev").join("roots").join("prod.key"),
        )
        .unwrap();
        let e = dev.sh(s, "dev", &["get", "/app/prod/db"]).code(1);
        assert!(!stdout(&e).contains("prod-secret"));
        assert!(stderr(&e).contains("prod-machine"), "{}", stderr(&e));
        // It cannot check what key `prod` sealed of the policies either, so it uses none:
        // every command that reads them fails, below any path.
        let e = dev.sh(s, "dev", &["get", "/app/dev/db"]).code(1);
        assert!(
            stderr(&e).contains("does not unwrap under its own root"),
            "{}",
            stderr(&e)
        );
        // Nor do the changes that need no decryption: the root is proven first (its active
        // version unwraps), which a token of the same name cannot do.
        for args in [
            &["label", "/app/prod/db:1", "old"][..],
            &["rm", "/app/prod/db"],
            &["destroy", "/app/prod/db:1"],
            &["policy", "rm", "/app/prod"],
            &["key", "disable", "prod"],
        ] {
            let e = dev.sh(s, "dev", args).code(1);
            assert!(
                stderr(&e).contains("does not unwrap under its own root"),
                "{args:?}: {}",
                stderr(&e)
            );
        }
        let a = dev
            .sh(
                s,
                "dev",
                &[
                    "exec",
                    "--path",
                    "/app/dev",
                    "--path",
                    "/app/prod",
                    "--",
                    "env",
                ],
            )
            .code(1);
        // A root file this home holds but cannot use is an error, not a value left out.
        assert!(!stdout(&a).contains("prod-secret"));
        assert!(
            stderr(&a).contains("does not unwrap under its own root"),
            "{}",
            stderr(&a)
        );
        let e = s
            .cmd("dev")
            .env("SOFTHSM2_CONF", &dev.conf)
            .args(["put", "/app/prod/db", "--overwrite"])
            .write_stdin("mine")
            .assert()
            .code(1);
        assert!(stderr(&e).contains("prod-machine"), "{}", stderr(&e));
        let got = prod.sh(s, "a", &["get", "/app/prod/db"]).success();
        assert_eq!(stdout(&got), "prod-secret\n");
        prod.sh(s, "a", &["key", "rotate", "prod"]).success();
        // The dev machine's token of the same name opens the root file, and its key is not
        // the one that wraps prod: no version is added under it.
        let e = dev.sh(s, "dev", &["key", "rotate", "prod"]).code(1);
        assert!(
            stderr(&e).contains("does not unwrap under its own root"),
            "{}",
            stderr(&e)
        );
        let show = prod.sh(s, "a", &["key", "show", "prod"]).success();
        assert!(
            stdout(&show).contains("active version:      2"),
            "{}",
            stdout(&show)
        );
    });
}

/// `key rotate --due` runs on every machine of a fleet: a due key whose own root a home has no
/// file for is left to the machines that hold it, and the run succeeds.
#[test]
fn a_due_key_is_rotated_only_where_its_own_root_is_held() {
    let s = Site::sqlite();
    s.sh("a", "key create prod --root local --rotation-period 1m")
        .success();
    s.sql(
        "UPDATE key_versions SET created_at = created_at - 3600;
         UPDATE keys SET created_at = created_at - 3600",
        "",
    );
    reseal(&s.env.path("a"), None);
    s.share("dev");
    s.sh("dev", "key rotate --due").success();
    let show = stdout(&s.sh("a", "key show prod").success());
    assert!(show.contains("active version:      1"), "{show}");
    s.sh("a", "key rotate --due")
        .success()
        .stdout(contains("prod"));
    let show = stdout(&s.sh("a", "key show prod").success());
    assert!(show.contains("active version:      2"), "{show}");
}
