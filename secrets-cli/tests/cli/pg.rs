//! The PostgreSQL store (`--store postgres://…`) through the CLI, against the server that
//! `scripts/test.sh` starts (`COFFER_TEST_PG`, `PGPASSWORD`). Without a server the tests
//! skip, except under `CI=true`, where a missing server is a failure. The races and kills
//! run on both stores in `params.rs`.

use super::*;

use coffer::backend::postgres::testing;

fn block_on<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// Runs `sql` on the database at `url`.
pub fn run_sql(url: &str, sql: &str) {
    block_on(testing::run_sql(url, sql)).unwrap();
}

/// Runs `sql` at `url` as the login the URL names, with `password`: the first column of
/// every row.
pub fn query_as(
    url: &str,
    password: &str,
    sql: &str,
) -> Result<Vec<Option<String>>, tokio_postgres::Error> {
    block_on(testing::query_as(url, password, sql))
}

/// A new, empty database on the test server: its URL (without a password); `None` (skip)
/// without a server outside CI.
pub fn fresh_database() -> Option<String> {
    let admin = testing::admin_url()?;
    Some(block_on(testing::fresh_database(&admin, "cli")).unwrap())
}

/// A scratch directory with homes, on one fresh database.
struct Pg {
    env: Env,
    url: String,
}

impl Pg {
    fn new() -> Option<Self> {
        let url = fresh_database()?;
        let pg = Self {
            env: Env::new(),
            url,
        };
        pg.cmd("a").arg("init").assert().success();
        Some(pg)
    }

    /// `coffer` with home `home` on the store.
    fn cmd(&self, home: &str) -> Command {
        let mut c = self.env.cmd();
        c.env("COFFER_HOME", self.env.path(home))
            .env("COFFER_STORE", &self.url)
            .env("USER", "tester");
        c
    }

    fn put(&self, home: &str, args: &str, value: &str) -> assert_cmd::assert::Assert {
        self.cmd(home)
            .args(words(args))
            .write_stdin(value.as_bytes().to_vec())
            .assert()
    }

    fn out(&self, home: &str, args: &str) -> String {
        let a = self.cmd(home).args(words(args)).assert().success();
        String::from_utf8(a.get_output().stdout.clone()).unwrap()
    }
}

fn stderr(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&a.get_output().stderr).into_owned()
}

#[test]
fn the_secrets_workflow_on_postgres() {
    let Some(pg) = Pg::new() else { return };
    pg.put("a", "put /app/prod/db-password", "s3cret").success();
    pg.put(
        "a",
        "put /app/prod/db-password --overwrite --label current",
        "n3w",
    )
    .success();
    pg.put("a", "put /app/prod/url --type string", "https://db")
        .success();
    assert_eq!(pg.out("a", "get /app/prod/db-password"), "n3w\n");
    assert_eq!(pg.out("a", "get /app/prod/db-password:1"), "s3cret\n");
    assert_eq!(pg.out("a", "get /app/prod/db-password:current"), "n3w\n");
    let ls = pg.out("a", "ls /app");
    assert!(ls.contains("/app/prod/"), "{ls}");
    let ls = pg.out("a", "ls -r /");
    assert!(
        ls.contains("/app/prod/db-password") && ls.contains("/app/prod/url"),
        "{ls}"
    );
    let history = pg.out("a", "history /app/prod/db-password");
    assert_eq!(history.lines().count(), 3, "{history}");
    let env = pg.out("a", "exec --path /app/prod -- env");
    assert!(env.lines().any(|l| l == "DB_PASSWORD=n3w"), "{env}");
    assert!(env.lines().any(|l| l == "URL=https://db"), "{env}");
    pg.cmd("a").args(["rm", "/app/prod/url"]).assert().success();
    pg.cmd("a")
        .args(["get", "/app/prod/url"])
        .assert()
        .code(1)
        .stderr(contains("is deleted"));
    pg.cmd("a")
        .args(["restore", "/app/prod/url"])
        .assert()
        .success();
    pg.cmd("a")
        .args(["destroy", "/app/prod/db-password:1"])
        .assert()
        .success();
    pg.cmd("a")
        .args(["get", "/app/prod/db-password:1"])
        .assert()
        .code(1)
        .stderr(contains("destroyed"));
    let verify = pg.out("a", "audit verify");
    assert!(verify.starts_with("audit log OK"), "{verify}");
    let log = pg.out("a", "audit ls");
    assert!(
        log.contains("get-secure") && log.contains("destroy"),
        "{log}"
    );
    assert!(!log.contains("s3cret") && !log.contains("n3w"), "{log}");
}

/// Machines that share the store need the same root key: a copy of `root.key` reads what
/// another home wrote; another root key is refused with a clear message.
#[test]
fn homes_share_a_store_through_the_root_key() {
    let Some(pg) = Pg::new() else { return };
    pg.put("a", "put /shared", "from-a").success();
    fs::create_dir_all(pg.env.path("b")).unwrap();
    fs::copy(
        pg.env.path("a").join("root.key"),
        pg.env.path("b").join("root.key"),
    )
    .unwrap();
    assert_eq!(pg.out("b", "get /shared"), "from-a\n");
    pg.put("b", "put /shared --overwrite", "from-b").success();
    assert_eq!(pg.out("a", "get /shared"), "from-b\n");
    pg.cmd("c").arg("init").assert().success();
    let a = pg.cmd("c").args(["get", "/shared"]).assert().code(1);
    let e = stderr(&a);
    assert!(e.contains("is not the one the keys of the store"), "{e}");
    assert!(e.contains("root.key"), "{e}");
    // Writing and reading need the store's root key, even for a clear value (the write is
    // signed into the audit log, the row's MAC checked on the read).
    let a = pg.put("c", "put /plain --type string", "p").code(1);
    assert!(stderr(&a).contains("is not the one the keys of the store"));
    pg.put("a", "put /plain --type string", "p").success();
    let a = pg.cmd("c").args(["get", "/plain"]).assert().code(1);
    assert!(stderr(&a).contains("is not the one the keys of the store"));
    assert_eq!(pg.out("b", "get /plain"), "p\n");
}

#[test]
fn bad_connections_are_clear_errors() {
    let Some(pg) = Pg::new() else { return };
    // A wrong password: refused, and the password is never printed.
    let a = pg
        .cmd("a")
        .env("PGPASSWORD", "wrong-password-xyz")
        .args(["get", "/x"])
        .assert()
        .code(1);
    let e = stderr(&a);
    assert!(e.contains("password authentication failed"), "{e}");
    assert!(!e.contains("wrong-password-xyz"), "{e}");
    // A password in the URL is not echoed either.
    let with_pw = pg.url.replacen("coffer@", "coffer:hunter2-secret@", 1);
    let a = pg
        .cmd("a")
        .env("COFFER_STORE", &with_pw)
        .env("PGPASSWORD", "")
        .args(["get", "/x"])
        .assert()
        .code(1);
    assert!(!stderr(&a).contains("hunter2-secret"), "{}", stderr(&a));
    // Nothing listening.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let a = pg
        .cmd("a")
        .env(
            "COFFER_STORE",
            format!("postgres://coffer@127.0.0.1:{port}/coffer"),
        )
        .args(["get", "/x"])
        .assert()
        .code(1);
    let e = stderr(&a);
    assert!(e.contains("is the PostgreSQL server running"), "{e}");
    // A bad URL.
    pg.cmd("a")
        .env("COFFER_STORE", "postgres://coffer@127.0.0.1:notaport/x")
        .args(["get", "/x"])
        .assert()
        .code(2)
        .stderr(contains("bad PostgreSQL URL"));
}

/// `coffer key` on the shared store: the store key rotates there, so every machine sees the
/// new version; old values still read until their version is retired.
#[test]
fn keys_on_postgres() {
    let Some(pg) = Pg::new() else { return };
    pg.put("a", "put /k", "one").success();
    let list = pg.out("a", "key list");
    assert!(list.contains("params"), "{list}");
    let rotated = pg.out("a", "--output json key rotate params");
    assert!(rotated.contains("\"version\":2"), "{rotated}");
    pg.put("a", "put /k --overwrite", "two").success();
    assert_eq!(pg.out("a", "get /k:1"), "one\n");
    assert_eq!(pg.out("a", "get /k"), "two\n");
    pg.out("a", "key set-rotation params 1d");
    let due = pg.out("a", "key rotate --due");
    assert!(due.contains("nothing due"), "{due}");
    pg.out("a", "key disable params");
    pg.cmd("a").args(["get", "/k"]).assert().code(1);
    pg.out("a", "key enable params");
    pg.out("a", "key retire params --below-version 2");
    pg.cmd("a")
        .args(["get", "/k:1"])
        .assert()
        .code(1)
        .stderr(contains("retired"));
    assert_eq!(pg.out("a", "get /k"), "two\n");
    pg.out("a", "key create other");
    pg.put("a", "put /o --key local:other", "o").success();
    // Another machine with the same root key sees the keys and the rotation.
    fs::create_dir_all(pg.env.path("b")).unwrap();
    fs::copy(
        pg.env.path("a").join("root.key"),
        pg.env.path("b").join("root.key"),
    )
    .unwrap();
    assert_eq!(pg.out("b", "get /o"), "o\n");
    let show = pg.out("b", "key show params");
    assert!(show.contains("2"), "{show}");
    let log = pg.out("a", "audit ls");
    for verb in [
        "key-create",
        "key-rotate",
        "key-disable",
        "key-enable",
        "key-retire",
    ] {
        assert!(log.contains(verb), "{verb}: {log}");
    }
    pg.cmd("a")
        .args(["key", "rotate", "--root"])
        .assert()
        .code(2)
        .stderr(contains("PostgreSQL"));
    pg.cmd("a")
        .args(["key", "show", "nope"])
        .assert()
        .code(1)
        .stderr(contains("no key named `nope`"));
}

#[test]
fn a_database_of_a_newer_schema_is_refused_unchanged() {
    let Some(pg) = Pg::new() else { return };
    pg.put("a", "put /s --type string", "v").success();
    run_sql(&pg.url, "UPDATE meta SET value = '99' WHERE key = 'schema'");
    let a = pg.cmd("a").args(["get", "/s"]).assert().code(1);
    let e = stderr(&a);
    assert!(e.contains("schema version 99"), "{e}");
    pg.put("a", "put /t --type string", "w").code(1);
    run_sql(
        &pg.url,
        &format!(
            "UPDATE meta SET value = '{}' WHERE key = 'schema'",
            coffer::backend::postgres::PG_SCHEMA_VERSION
        ),
    );
    assert_eq!(pg.out("a", "get /s"), "v\n");
    pg.cmd("a").args(["get", "/t"]).assert().code(1);
}

#[test]
fn an_edited_audit_log_fails_verification_on_postgres() {
    let Some(pg) = Pg::new() else { return };
    pg.put("a", "put /x --type string", "1").success();
    pg.put("a", "put /x --type string --overwrite", "2")
        .success();
    run_sql(&pg.url, "UPDATE audit SET actor = 'mallory' WHERE seq = 1");
    pg.cmd("a")
        .args(["audit", "verify"])
        .assert()
        .code(1)
        .stderr(contains("fails verification at seq 1"));
}

/// The library client reads what the CLI wrote, from another home holding the same root key.
#[test]
fn the_library_client_reads_a_postgres_store() {
    let Some(pg) = Pg::new() else { return };
    pg.put("a", "put /svc/token", "t0ken").success();
    pg.put("a", "put /svc/name --type string", "svc").success();
    let home = pg.env.path("a");
    let (one, all) = block_on(async {
        let secrets = coffer::client::Secrets::connect(&pg.url, &home)
            .await
            .unwrap();
        let one = secrets.get("/svc/token").await.unwrap();
        let all = secrets.get_by_path("/svc", false).await.unwrap();
        (one, all)
    });
    assert_eq!(one.value.expose(), "t0ken");
    assert_eq!(all.len(), 2);
}

/// `sslmode=require`: TLS, with the server's certificate checked against `PGSSLROOTCERT`
/// (the test server's is signed by a CA of its own).
#[test]
fn tls_checks_the_server_certificate() {
    let Some(pg) = Pg::new() else { return };
    let (Ok(ca), Ok(other)) = (
        std::env::var("COFFER_TEST_PG_CA"),
        std::env::var("COFFER_TEST_PG_OTHER_CA"),
    ) else {
        panic!(
            "COFFER_TEST_PG is set without COFFER_TEST_PG_CA: start the server with scripts/pg.sh"
        );
    };
    let tls = format!("{}?sslmode=require", pg.url);
    pg.cmd("a")
        .env("COFFER_STORE", &tls)
        .env("PGSSLROOTCERT", &ca)
        .args(["put", "/tls", "--type", "string"])
        .write_stdin("over tls")
        .assert()
        .success();
    let out = pg
        .cmd("a")
        .env("COFFER_STORE", format!("{}?sslmode=verify-full", pg.url))
        .env("PGSSLROOTCERT", &ca)
        .args(["get", "/tls"])
        .assert()
        .success();
    assert_eq!(out.get_output().stdout, b"over tls\n");
    // Another CA: the handshake fails, with a hint, and nothing is read.
    pg.cmd("a")
        .env("COFFER_STORE", &tls)
        .env("PGSSLROOTCERT", &other)
        .args(["get", "/tls"])
        .assert()
        .code(1)
        .stdout("")
        .stderr(contains("UnknownIssuer").and(contains("PGSSLROOTCERT")));
    // The certificate names 127.0.0.1 and localhost: either host name of the URL is checked
    // and accepted.
    pg.cmd("a")
        .env("COFFER_STORE", tls.replace("127.0.0.1", "localhost"))
        .env("PGSSLROOTCERT", &ca)
        .args(["get", "/tls"])
        .assert()
        .success();
    // A root file that is not PEM certificates.
    pg.env.write("junk.pem", b"not a certificate");
    pg.cmd("a")
        .env("COFFER_STORE", &tls)
        .env("PGSSLROOTCERT", pg.env.path("junk.pem"))
        .args(["get", "/tls"])
        .assert()
        .code(2)
        .stderr(contains("no root certificate"));
}
