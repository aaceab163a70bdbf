//! Least privilege in PostgreSQL (`coffer role create`): a login limited to a path by row
//! security sees and writes nothing else of the store's parameters, in coffer and in plain
//! SQL, while the store's owner sees everything and the audit chain stays whole.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;

/// A role name of its own for each test (roles belong to the whole server).
fn role_name() -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "coffer_dev_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// The dev machine's login, limited to `/app/dev`, reads and writes `/app/dev` with coffer;
/// it lists, reads and writes nothing of `/app/prod` (coffer and plain SQL alike: the server
/// hides the rows and refuses the writes), sees no audit entry of `/app/prod`, and is told
/// that `audit verify` needs a login that sees the whole log; the owner's home reads
/// everything, and the whole log (the dev login's appends included) verifies.
#[test]
fn a_login_limited_to_a_path_sees_and_writes_nothing_else() {
    let Some(s) = Site::pg() else { return };
    let Db::Pg { url, .. } = &s.db else {
        unreachable!()
    };
    s.put("a", "put /app/prod/db", "prod-secret").success();
    s.put("a", "put /app/prod/region --type string", "eu")
        .success();
    s.put("a", "put /app/dev/db", "dev-secret").success();
    let role = role_name();
    let a = s
        .sh("a", &format!("role create {role} --path /app/dev --sql"))
        .success();
    let sql = String::from_utf8_lossy(&a.get_output().stdout).into_owned();
    assert!(
        sql.starts_with(&format!("CREATE ROLE \"{role}\" LOGIN;\n")),
        "{sql}"
    );
    assert!(sql.contains("INSERT INTO \"public\".role_paths"), "{sql}");
    let pw = s.env.path("dev-db-password");
    fs::write(&pw, "dev-db-pass-1\n").unwrap();
    let create = format!(
        "role create {role} --path /app/dev --password-file {}",
        pw.display()
    );
    s.sh("a", &create).success().stdout(contains(format!(
        "created database login {role} limited to /app/dev"
    )));
    s.refused("a", &create, "exists already");
    // Usage errors: exit 2.
    s.sh("a", "role create Bad --path /x")
        .code(2)
        .stderr(contains("role name `Bad`: use 1-63 of a-z"));

    s.share("dev");
    let dev_url = url.replacen("://coffer@", &format!("://{role}@"), 1);
    assert_ne!(&dev_url, url);
    let dev = |args: &str, stdin: Option<&str>| {
        let mut c = s.cmd("dev");
        c.env("COFFER_STORE", &dev_url)
            .env("PGPASSWORD", "dev-db-pass-1")
            .args(words(args));
        if let Some(v) = stdin {
            c.write_stdin(v.as_bytes().to_vec());
        }
        c.assert()
    };
    let out = |a: &assert_cmd::assert::Assert| {
        String::from_utf8_lossy(&a.get_output().stdout).into_owned()
    };
    let err = |a: &assert_cmd::assert::Assert| {
        String::from_utf8_lossy(&a.get_output().stderr).into_owned()
    };
    assert_eq!(out(&dev("get /app/dev/db", None).success()), "dev-secret\n");
    dev("put /app/dev/new", Some("dev-2")).success();
    dev("label /app/dev/new:1 stable", None).success();
    let ls = out(&dev("ls -r /", None).success());
    assert!(
        ls.contains("/app/dev/db") && ls.contains("/app/dev/new"),
        "{ls}"
    );
    assert!(!ls.contains("prod"), "{ls}");
    let e = dev("get /app/prod/region", None).code(1);
    assert!(err(&e).contains("/app/prod/region"), "{}", err(&e));
    assert!(!out(&e).contains("eu"));
    let e = dev("put /app/prod/planted --type string", Some("x")).code(1);
    assert!(err(&e).contains("row-level security"), "{}", err(&e));
    assert!(
        err(&e).contains("hint: a database login made by `coffer role create`"),
        "{}",
        err(&e)
    );
    let e = dev("put /app/prod/region --type string --overwrite", Some("x")).code(1);
    assert!(
        err(&e).contains("the database refused this login"),
        "{}",
        err(&e)
    );
    // Keys and policies are written by logins that are not limited.
    let e = dev("key create devkey", None).code(1);
    assert!(
        err(&e).contains("the database refused this login"),
        "{}",
        err(&e)
    );
    let e = dev("key rotate params", None).code(1);
    assert!(err(&e).contains("is limited to some paths"), "{}", err(&e));
    let e = dev("policy set /app/dev --key params", None).code(1);
    assert!(
        err(&e).contains("the database refused this login"),
        "{}",
        err(&e)
    );
    let env = out(&dev("exec -r --path /app -- env", None).success());
    assert!(env.lines().any(|l| l == "DEV_DB=dev-secret"), "{env}");
    assert!(!env.contains("prod-secret") && !env.lines().any(|l| l == "PROD_REGION=eu"));
    let log = out(&dev("audit ls", None).success());
    assert!(log.contains("/app/dev/new"), "{log}");
    assert!(!log.contains("/app/prod"), "{log}");
    let e = dev("audit verify", None).code(1);
    assert!(err(&e).contains("is limited to some paths"), "{}", err(&e));

    // Plain SQL as that login: the server shows and takes no row of /app/prod.
    let query = |sql: &str| pg::query_as(&dev_url, "dev-db-pass-1", sql);
    let one = |sql: &str| query(sql).unwrap()[0].clone().unwrap();
    for table in ["params", "param_versions", "param_labels", "audit"] {
        assert_eq!(
            one(&format!(
                "SELECT count(*) FROM {table} WHERE name LIKE '/app/prod%'"
            )),
            "0",
            "{table}"
        );
        assert_ne!(
            one(&format!(
                "SELECT count(*) FROM {table} WHERE name LIKE '/app/dev%'"
            )),
            "0",
            "{table}"
        );
    }
    assert_eq!(
        one("SELECT count(*) FROM audit_chain"),
        one("SELECT max(seq) FROM audit_chain")
    );
    let planted = query(
        "INSERT INTO params (name, parent, latest, created_at)
         VALUES ('/app/prod/planted', '/app/prod', 1, 0)",
    );
    let e = planted.unwrap_err();
    assert!(
        e.as_db_error()
            .is_some_and(|d| d.message().contains("row-level security")),
        "{e:?}"
    );
    assert!(query("UPDATE param_versions SET value = NULL WHERE name = '/app/prod/db'").is_ok());
    assert!(query("SELECT * FROM role_paths").is_err());
    // A temporary table of the same name does not stand in for the list of limits.
    assert_eq!(
        query(
            "CREATE TEMP TABLE role_paths (role oid, path text);
             SELECT count(*) FROM params WHERE name LIKE '/app/prod%'"
        )
        .unwrap(),
        [Some("0".to_owned())]
    );
    // Of the rest it reads the keys and policies, and of meta it updates only the log's head.
    for denied in [
        "DELETE FROM key_versions",
        "UPDATE keys SET min_decrypt_version = 1",
        "DELETE FROM policies",
        "DELETE FROM key_paths",
        "INSERT INTO meta (key, value) VALUES ('x', 'y')",
        "DELETE FROM meta",
        "INSERT INTO audit (seq, at, actor, verb, name, detail, prev_hash, hash)
         VALUES (100000, 0, 'x', 'key-create', 'planted', '', '', '')",
    ] {
        assert!(query(denied).is_err(), "{denied}");
    }
    // What keys with roots of their own seal of the policies, it reads, as every home holding
    // such a root must.
    assert!(query("SELECT count(*) FROM key_paths").is_ok());
    assert!(query("UPDATE meta SET value = '99' WHERE key = 'schema'").is_ok());
    assert_eq!(
        one("SELECT value FROM meta WHERE key = 'schema'"),
        coffer::backend::postgres::PG_SCHEMA_VERSION.to_string()
    );

    // The owner's home: everything, and the whole log verifies.
    assert_eq!(s.get("a", "/app/prod/db"), "prod-secret\n");
    assert_eq!(s.get("a", "/app/prod/region"), "eu\n");
    assert_eq!(s.get("a", "/app/dev/new"), "dev-2\n");
    s.sh("a", "audit verify").success();

    // A login with the same grants but no paths (not made by `role create`) sees everything,
    // as every login did before row security.
    let app = role_name();
    let grants = sql
        .lines()
        .filter(|l| !l.contains("role_paths"))
        .collect::<Vec<_>>()
        .join("\n")
        .replace(&format!("\"{role}\""), &format!("\"{app}\""))
        .replace(" LOGIN;", " LOGIN PASSWORD 'app-pass-1';");
    pg::run_sql(url, &grants);
    let app_url = url.replacen("://coffer@", &format!("://{app}@"), 1);
    let count = |sql: &str| {
        pg::query_as(&app_url, "app-pass-1", sql).unwrap()[0]
            .clone()
            .unwrap()
    };
    assert_eq!(count("SELECT count(*) FROM params"), "4");
    assert_eq!(
        count("SELECT count(*) FROM audit"),
        count("SELECT count(*) FROM audit_chain")
    );
    // A member of the limited role (with its privileges) is limited as it is, and a rename
    // keeps the limits (they follow the role, not its name).
    pg::run_sql(url, &format!("GRANT \"{role}\" TO \"{app}\""));
    assert_eq!(count("SELECT count(*) FROM params"), "2");
    pg::run_sql(url, &format!("REVOKE \"{role}\" FROM \"{app}\""));
    assert_eq!(count("SELECT count(*) FROM params"), "4");
    let renamed = format!("{role}_x");
    pg::run_sql(
        url,
        &format!("ALTER ROLE \"{role}\" RENAME TO \"{renamed}\""),
    );
    let renamed_url = url.replacen("://coffer@", &format!("://{renamed}@"), 1);
    let seen = pg::query_as(&renamed_url, "dev-db-pass-1", "SELECT count(*) FROM params").unwrap();
    assert_eq!(seen, [Some("2".to_owned())]);
    pg::run_sql(
        url,
        &format!("ALTER ROLE \"{renamed}\" RENAME TO \"{role}\""),
    );
    for r in [&role, &app] {
        pg::run_sql(url, &format!("DROP OWNED BY {r}; DROP ROLE {r}"));
    }
}

/// On SQLite there are no database roles: the command says so.
#[test]
fn roles_are_refused_on_sqlite() {
    let s = Site::sqlite();
    s.sh("a", "role create dev --path /app/dev")
        .code(2)
        .stderr(contains("database roles are for PostgreSQL stores"));
}
