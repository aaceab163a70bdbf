//! The parameter store: `coffer put|get|ls|history|label|unlabel|rm|restore|destroy`.
//! Each test has its own `COFFER_HOME` inside its scratch directory.

use super::*;

use std::io::Write as _;
use std::process::{Output, Stdio};

use rusqlite::{Connection, params};
use serde_json::Value;

/// What coffer records as the user: the real uid's name and the uid.
pub(crate) fn real_user() -> String {
    let id = |flag: &str| {
        let out = std::process::Command::new("id").arg(flag).output().unwrap();
        String::from_utf8(out.stdout).unwrap().trim_end().to_owned()
    };
    format!("{} (uid {})", id("-un"), id("-u"))
}

/// A scratch directory with its own `COFFER_HOME` (`home/`, initialised), and the store:
/// the SQLite one of the home, or a fresh PostgreSQL database (`url`).
struct Store {
    env: Env,
    url: Option<String>,
}

impl Store {
    fn new() -> Self {
        let s = Self::bare();
        s.sh("init").success();
        s
    }

    /// A home (for its root key) and a fresh database on the test PostgreSQL server; `None`
    /// when there is no server outside CI.
    #[cfg(feature = "postgres")]
    fn pg() -> Option<Self> {
        let url = pg::fresh_database()?;
        let s = Self {
            env: Env::new(),
            url: Some(url),
        };
        s.sh("init").success();
        Some(s)
    }

    /// A build without PostgreSQL stores: none.
    #[cfg(not(feature = "postgres"))]
    fn pg() -> Option<Self> {
        None
    }

    /// Not initialised.
    fn bare() -> Self {
        Self {
            env: Env::new(),
            url: None,
        }
    }

    /// A plain child process on this store, as [`Store::cmd`] (for the races).
    fn child(&self) -> std::process::Command {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_coffer"));
        for (k, v) in self.vars() {
            match v {
                Some(v) => c.env(k, v),
                None => c.env_remove(k),
            };
        }
        c
    }

    fn home(&self) -> PathBuf {
        self.env.path("home")
    }

    fn db_path(&self) -> PathBuf {
        self.home().join("coffer.db")
    }

    fn db(&self) -> Connection {
        Connection::open(self.db_path()).unwrap()
    }

    /// The environment of a coffer process on this store: a value to set, or `None` to
    /// remove the variable.
    fn vars(&self) -> Vec<(&'static str, Option<std::ffi::OsString>)> {
        vec![
            ("COFFER_HOME", Some(self.home().into())),
            ("COFFER_STORE", self.url.clone().map(Into::into)),
            ("COFFER_MAX_VALUE_BYTES", None),
            ("RUST_LOG", None),
            ("USER", Some("tester".into())),
        ]
    }

    fn cmd(&self) -> Command {
        let mut c = self.env.cmd();
        for (k, v) in self.vars() {
            match v {
                Some(v) => c.env(k, v),
                None => c.env_remove(k),
            };
        }
        c
    }

    fn sh(&self, args: &str) -> assert_cmd::assert::Assert {
        self.cmd().args(words(args)).assert()
    }

    /// `coffer ARGS` with `value` on stdin.
    fn put(&self, args: &str, value: &str) -> assert_cmd::assert::Assert {
        self.cmd()
            .args(words(args))
            .write_stdin(value.as_bytes().to_vec())
            .assert()
    }

    fn get(&self, sel: &str) -> String {
        let out = self.sh(&format!("get {sel}")).success();
        String::from_utf8(out.get_output().stdout.clone()).unwrap()
    }

    fn json(&self, args: &str) -> Value {
        let out = self.sh(&format!("--output json {args}")).success();
        serde_json::from_slice(&out.get_output().stdout).unwrap()
    }

    fn json_lines(&self, args: &str) -> Vec<Value> {
        let out = self.sh(&format!("--output json {args}")).success();
        String::from_utf8(out.get_output().stdout.clone())
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// The version numbers of `name`, as `history` lists them (any store).
    fn versions(&self, name: &str) -> Vec<i64> {
        let out = self
            .cmd()
            .args(["--output", "json", "history", name])
            .output()
            .unwrap();
        if !out.status.success() {
            return Vec::new();
        }
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| {
                serde_json::from_str::<Value>(l).unwrap()["version"]
                    .as_i64()
                    .unwrap()
            })
            .collect()
    }

    /// A put as a plain child process (for the races).
    fn spawn_put(&self, args: &[&str], value: &str) -> std::process::Child {
        let mut child = self
            .child()
            .arg("put")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(value.as_bytes())
            .unwrap();
        child
    }
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn put_get_versions_labels_and_history() {
    let s = Store::new();
    s.put("put /app/prod/db-password", "first\n")
        .success()
        .stdout("wrote /app/prod/db-password version 1\n");
    // One trailing newline is dropped, no more.
    s.put(
        "put app/prod/db-password --overwrite --label stable --description second --tag team=db --tag env=prod",
        "second\n\n",
    )
    .success();
    fs::write(s.env.path("v3"), "third\n").unwrap();
    s.sh("put /app/prod/db-password --overwrite --if-version 2 --value-file v3")
        .success();
    s.put(
        "put /app/prod/db-password --overwrite --value-file - --label next",
        "fourth",
    )
    .success();
    assert_eq!(s.get("/app/prod/db-password"), "fourth\n");
    assert_eq!(s.get("/app/prod/db-password:1"), "first\n");
    assert_eq!(s.get("/app/prod/db-password:2"), "second\n\n");
    assert_eq!(s.get("/app/prod/db-password:stable"), "second\n\n");
    assert_eq!(s.get("/app/prod/db-password:3"), "third\n");

    // Labels move.
    s.sh("label /app/prod/db-password:3 stable previous")
        .success()
        .stdout(contains("label stable -> version 3 (was 2)"));
    assert_eq!(s.get("/app/prod/db-password:stable"), "third\n");
    let v = s.json("label /app/prod/db-password:4 stable");
    assert_eq!(v["type"], "param_labels");
    assert_eq!(v["labels"][0]["from"], 3);
    assert_eq!(v["labels"][0]["to"], 4);
    let v = s.json("unlabel /app/prod/db-password previous");
    assert_eq!(v["labels"][0]["from"], 3);
    s.sh("get /app/prod/db-password:previous")
        .code(1)
        .stderr(contains("has no label `previous`"));
    s.sh("unlabel /app/prod/db-password previous").code(1);
    s.sh("label /app/prod/db-password stable").code(2);
    s.sh("label /app/prod/db-password:9 x")
        .code(1)
        .stderr(contains("no version 9 (latest: 4)"));
    s.sh("get /app/prod/db-password:5").code(1);

    // get --output json.
    let v = s.json("get /app/prod/db-password:2");
    assert_eq!(v["type"], "param");
    assert_eq!(v["name"], "/app/prod/db-password");
    assert_eq!(v["version"], 2);
    assert_eq!(v["param_type"], "secure-string");
    assert_eq!(v["value"], "second\n");
    assert_eq!(v["description"], "second");
    assert_eq!(v["tags"]["team"], "db");
    // The real uid's name, whatever $USER says.
    assert_eq!(v["author"], real_user());
    assert_eq!(v["key"], "local:params");
    assert!(v["created_at"].as_str().unwrap().ends_with('Z'));
    let v = s.json("get /app/prod/db-password");
    assert_eq!(
        v["labels"],
        serde_json::json!(["current", "next", "stable"])
    );

    // history: every version, never a value.
    let out = s.sh("history /app/prod/db-password").success();
    let table = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert_eq!(table.lines().count(), 5, "{table}");
    assert!(table.starts_with("VERSION"));
    assert!(table.contains("next,stable"), "{table}");
    for secret in ["first", "third", "fourth"] {
        assert!(!table.contains(secret), "{table}");
    }
    let lines = s.json_lines("history /app/prod/db-password");
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[1]["type"], "param_version");
    assert_eq!(lines[1]["description"], "second");
    assert!(lines.iter().all(|l| l.get("value").is_none()));

    // The store key was created on the first secure put.
    let keys = s.json_lines("key list");
    assert_eq!(keys[0]["name"], "params");
}

#[test]
fn overwrite_and_check_and_set() {
    let s = Store::new();
    s.put("put /x --type string", "1").success();
    s.put("put /x --type string", "2")
        .code(1)
        .stderr(contains("exists (latest version 1)").and(contains("--overwrite")));
    s.put("put /x --type string --if-version 2", "2")
        .code(1)
        .stderr(contains("is at version 1, not 2"));
    s.put("put /new --if-version 1", "2")
        .code(1)
        .stderr(contains("it does not exist"));
    s.put("put /x --type string --if-version 1", "2").success();
    assert_eq!(s.versions("/x"), [1, 2]);
    s.sh("put /x --if-version 0").code(2);
}

#[test]
fn types() {
    let s = Store::new();
    s.put("put /t/list --type string-list", "a,b,c\n").success();
    let v = s.json("get /t/list");
    assert_eq!(v["value"], "a,b,c");
    assert_eq!(v["values"], serde_json::json!(["a", "b", "c"]));
    assert_eq!(v["key"], Value::Null);
    s.put("put /t/s --type string", "plain").success();
    let stored: Vec<u8> = s
        .db()
        .query_row(
            "SELECT value FROM param_versions WHERE name = '/t/s'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(stored, b"plain");
    s.put("put /t/secret", "hunter2").success();
    let stored: Vec<u8> = s
        .db()
        .query_row(
            "SELECT value FROM param_versions WHERE name = '/t/secret'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(!stored.windows(7).any(|w| w == b"hunter2"));
    // It is an ESDK message: inspect reads its header.
    s.env.write("msg", &stored);
    s.sh("inspect msg")
        .success()
        .stdout(contains("coffer:param = /t/secret").and(contains("0x0478")));
    s.put("put /t/x --type bogus", "v").code(2);
    s.put("put /t/x --type string --key aes:k32.bin", "v")
        .code(2)
        .stderr(contains("stored in the clear"));
}

#[test]
fn ls_one_level_and_recursive() {
    let s = Store::new();
    for name in [
        "/top",
        "/app/prod/db-password",
        "/app/prod/api-key",
        "/app/prod/deep/x",
        "/app/dev/db-password",
        "/app/readme",
    ] {
        s.put(&format!("put {name} --type string"), "v").success();
    }
    let ls = |args: &str| {
        let out = s.sh(args).success();
        String::from_utf8(out.get_output().stdout.clone()).unwrap()
    };
    assert_eq!(ls("ls"), "/app/\n/top\n");
    assert_eq!(ls("ls /app"), "/app/dev/\n/app/prod/\n/app/readme\n");
    assert_eq!(
        ls("ls /app/prod/"),
        "/app/prod/deep/\n/app/prod/api-key\n/app/prod/db-password\n"
    );
    assert_eq!(
        ls("ls /app -r"),
        "/app/dev/db-password\n/app/prod/api-key\n/app/prod/db-password\n/app/prod/deep/x\n/app/readme\n"
    );
    assert_eq!(ls("ls -r").lines().count(), 6);
    let lines = s.json_lines("ls /app");
    assert_eq!(lines[0]["type"], "param_path");
    assert_eq!(lines[0]["path"], "/app/dev");
    assert_eq!(lines[2]["type"], "param_summary");
    assert_eq!(lines[2]["name"], "/app/readme");
    assert_eq!(lines[2]["version"], 1);
    assert!(lines.iter().all(|l| l.get("value").is_none()));
    s.sh("ls /nothing")
        .success()
        .stdout("")
        .stderr(contains("no parameters under /nothing"));
    s.sh("ls /a//b").code(2);
}

#[test]
fn rm_restore_destroy() {
    let s = Store::new();
    s.put("put /r/a", "v1").success();
    s.put("put /r/a --overwrite", "v2").success();
    s.sh("rm /r/a").success().stdout(contains("deleted /r/a"));
    s.sh("get /r/a")
        .code(1)
        .stderr(contains("is deleted").and(contains("coffer restore /r/a")));
    assert_eq!(s.sh("ls -r").success().get_output().stdout.len(), 0);
    s.put("put /r/a --overwrite", "v3").code(1);
    s.sh("rm /r/a").code(1);
    s.sh("history /r/a")
        .success()
        .stderr(contains("is deleted"));
    let v = s.json("restore /r/a");
    assert_eq!(v["type"], "param_restored");
    s.sh("restore /r/a")
        .code(1)
        .stderr(contains("is not deleted"));
    assert_eq!(s.get("/r/a"), "v2\n");

    // destroy one version: its value goes, its history stays.
    let v = s.json("destroy /r/a:1");
    assert_eq!(
        (
            v["type"].as_str(),
            v["versions"][0].as_u64(),
            v["whole"].as_bool()
        ),
        (Some("param_destroyed"), Some(1), Some(false))
    );
    s.sh("get /r/a:1")
        .code(1)
        .stderr(contains("version 1 of /r/a was destroyed"));
    let value: Option<Vec<u8>> = s
        .db()
        .query_row(
            "SELECT value FROM param_versions WHERE name = '/r/a' AND version = 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(value, None);
    let h = s.json_lines("history /r/a");
    assert!(h[0]["destroyed_at"].is_string());
    assert_eq!(s.get("/r/a"), "v2\n");
    s.sh("destroy /r/a:current").code(2);

    // destroy the whole parameter: the name is free again.
    s.sh("destroy /r/a").success();
    s.sh("get /r/a")
        .code(1)
        .stderr(contains("no parameter named /r/a"));
    s.sh("history /r/a").code(1);
    s.put("put /r/a", "new").success();
    assert_eq!(s.versions("/r/a"), [1]);
    let n: i64 = s
        .db()
        .query_row("SELECT count(*) FROM param_versions", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 1);
}

/// `rollback NAME --to VERSION` writes a new version holding that version's value, type,
/// description and tags, which `get NAME` then serves; the versions between stay, other
/// labels stay where they are; a version that is missing, destroyed or of another type than
/// the latest, a deleted parameter and a bad version number change nothing.
#[test]
fn rollback_writes_an_older_value_as_a_new_version() {
    rollback(&Store::new());
}

/// As [`rollback_writes_an_older_value_as_a_new_version`], on PostgreSQL.
#[test]
fn rollback_writes_an_older_value_as_a_new_version_on_postgres() {
    if let Some(s) = Store::pg() {
        rollback(&s);
    }
}

fn rollback(s: &Store) {
    s.put("put /rb/db --description first --tag team=a", "one")
        .success();
    s.put("put /rb/db --overwrite", "two").success();
    s.sh("label /rb/db:2 stable").success();
    s.sh("rollback /rb/db --to 1")
        .success()
        .stdout("wrote /rb/db version 3, holding the value of version 1\n");
    assert_eq!(s.get("/rb/db"), "one\n");
    assert_eq!(s.get("/rb/db:2"), "two\n");
    assert_eq!(s.get("/rb/db:stable"), "two\n");
    let last = s.json_lines("history /rb/db");
    let three = last.iter().find(|v| v["version"] == 3).unwrap();
    assert_eq!(three["description"], "first");
    assert_eq!(three["tags"]["team"], "a");
    assert_eq!(three["param_type"], "secure-string");
    let v = s.json("rollback /rb/db --to 2");
    assert_eq!(
        (v["type"].as_str(), v["version"].as_u64()),
        (Some("param_version"), Some(4))
    );
    assert_eq!(s.get("/rb/db"), "two\n");
    // Bad input: nothing is written.
    let before = s.versions("/rb/db");
    s.sh("rollback /rb/db --to 9")
        .code(1)
        .stderr(contains("has no version 9"));
    s.sh("rollback /rb/db --to 0").code(2);
    s.sh("rollback /rb/db --to x").code(2);
    s.sh("rollback /rb/nope --to 1")
        .code(1)
        .stderr(contains("no parameter named /rb/nope"));
    s.sh("destroy /rb/db:1").success();
    s.sh("rollback /rb/db --to 1")
        .code(1)
        .stderr(contains("destroyed"));
    s.put("put /rb/t --type string", "plain").success();
    s.put(
        "put /rb/t --type secure-string --overwrite --change-type",
        "sec",
    )
    .success();
    s.sh("rollback /rb/t --to 1")
        .code(1)
        .stderr(contains("type"));
    assert_eq!(s.get("/rb/t"), "sec\n");
    s.sh("rm /rb/db").success();
    s.sh("rollback /rb/db --to 2")
        .code(1)
        .stderr(contains("deleted"));
    s.sh("restore /rb/db").success();
    assert_eq!(s.versions("/rb/db"), before);
    assert_eq!(s.get("/rb/db"), "two\n");
}

#[test]
fn expiry() {
    let s = Store::new();
    s.put("put /e/later --expires 30m", "fresh").success();
    assert_eq!(s.get("/e/later"), "fresh\n");
    let v = s.json("get /e/later");
    assert!(v["expires_at"].is_string());
    s.put("put /e/abs --expires 2999-01-01T00:00:00Z", "v")
        .success();
    assert_eq!(s.json("get /e/abs")["expires_at"], "2999-01-01T00:00:00Z");
    s.put("put /e/past --expires 2001-01-01T00:00:00Z", "v")
        .code(2)
        .stderr(contains("has passed"));
    s.put("put /e/bad --expires tomorrow", "v")
        .code(2)
        .stderr(contains("RFC 3339"));
    // Time passes.
    s.db()
        .execute(
            "UPDATE param_versions SET expires_at = 978307200 WHERE name = '/e/later'",
            [],
        )
        .unwrap();
    reseal(&s.home(), None);
    s.sh("get /e/later").code(1).stderr(contains(
        "version 1 of /e/later expired at 2001-01-01T00:00:00Z",
    ));
    let h = s.json_lines("history /e/later");
    assert_eq!(h[0]["expired"], true);
    assert_eq!(s.json_lines("ls /e")[1]["expired"], true);
    // A new version without --expires does not expire.
    s.put("put /e/later --overwrite", "renewed").success();
    assert_eq!(s.get("/e/later"), "renewed\n");
}

#[test]
fn json_everywhere() {
    let s = Store::new();
    let out = s
        .cmd()
        .args(words(
            "--output json put /j --label a --tag k=v --description d",
        ))
        .write_stdin("v")
        .assert()
        .success();
    let v: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(v["type"], "param_version");
    assert_eq!(v["version"], 1);
    assert_eq!(v["labels"], serde_json::json!(["a", "current"]));
    assert!(v.get("value").is_none());
    assert_eq!(s.json("rm /j")["type"], "param_deleted");
    assert_eq!(s.json("restore /j")["type"], "param_restored");
    assert_eq!(s.json("destroy /j")["whole"], true);
    // Errors: a JSON object on stdout too.
    let out = s.sh("--output json get /j").code(1);
    let v: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(v["type"], "error");
    assert_eq!(v["exit_code"], 1);
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("no parameter named /j")
    );
}

#[test]
fn bad_names_and_labels_change_nothing() {
    let s = Store::new();
    let levels16 = "/a".repeat(16);
    for bad in [
        "/a//b",
        "/a/",
        "/a b",
        "/a:b:c",
        "/é",
        "/a/../b",
        levels16.as_str(),
        "/",
    ] {
        s.cmd()
            .args(["put", bad, "--type", "string"])
            .write_stdin("v")
            .assert()
            .code(2)
            .stderr(contains("bad parameter").and(contains("hint:")));
    }
    let fifteen = "/a".repeat(15);
    s.cmd()
        .args(["put", &fifteen, "--type", "string"])
        .write_stdin("v")
        .assert()
        .success();
    s.put("put /x --label 1abc", "v")
        .code(2)
        .stderr(contains("bad label"));
    s.put("put /x --tag novalue", "v").code(2);
    s.sh("get /x:0").code(2);
    let n: i64 = s
        .db()
        .query_row("SELECT count(*) FROM params", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 1);
}

#[test]
fn values_over_the_limit_are_refused() {
    let s = Store::new();
    let max = "x".repeat(64 * 1024);
    s.put("put /big", &format!("{max}\n")).success();
    assert_eq!(s.get("/big").len(), 64 * 1024 + 1);
    s.put("put /bigger", &format!("{max}y")).code(1).stderr(
        contains("65537 bytes, over the limit of 65536").and(contains("COFFER_MAX_VALUE_BYTES")),
    );
    s.cmd()
        .env("COFFER_MAX_VALUE_BYTES", "4")
        .args(["put", "/small", "--type", "string"])
        .write_stdin("12345")
        .assert()
        .code(1);
    s.cmd()
        .env("COFFER_MAX_VALUE_BYTES", "4")
        .args(["put", "/small", "--type", "string"])
        .write_stdin("1234\n")
        .assert()
        .success();
    s.cmd()
        .env("COFFER_MAX_VALUE_BYTES", "lots")
        .args(["put", "/small2"])
        .write_stdin("1")
        .assert()
        .code(2);
    // A NUL cannot reach an environment variable: refused (hardening_exec.rs).
    s.put("put /bin --type string", "\u{0}ok")
        .code(1)
        .stderr(contains("NUL byte"));
    s.cmd()
        .args(["put", "/notutf8", "--type", "string"])
        .write_stdin(vec![0xff, 0xfe])
        .assert()
        .code(1)
        .stderr(contains("not UTF-8"));
    assert!(s.versions("/bigger").is_empty());
    assert!(s.versions("/small2").is_empty());
    s.sh("put /nofile --value-file missing.txt")
        .code(1)
        .stderr(contains("cannot read missing.txt"));
}

#[test]
fn a_store_that_is_not_a_database() {
    let s = Store::bare();
    fs::create_dir_all(s.home()).unwrap();
    let junk = pattern(10_000, 9);
    fs::write(s.db_path(), &junk).unwrap();
    s.put("put /a --type string", "v")
        .code(1)
        .stderr(contains("not an SQLite database").and(contains("nothing was changed")));
    s.sh("get /a")
        .code(1)
        .stderr(contains("not an SQLite database"));
    s.sh("ls").code(1);
    assert_eq!(fs::read(s.db_path()).unwrap(), junk);
    // No store at all.
    let none = Store::bare();
    none.sh("ls").code(2).stderr(contains("coffer init"));
    none.sh("--store postgres://coffer@127.0.0.1:1/none ls")
        .code(1)
        .stderr(contains("is the PostgreSQL server running"));
    none.sh("--store ftp://x ls").code(2);
}

#[test]
fn a_store_of_a_newer_schema_is_refused_unchanged() {
    let s = Store::new();
    s.put("put /a --type string", "v").success();
    s.db().execute_batch("PRAGMA user_version = 99").unwrap();
    // Fold the WAL into the file, then compare bytes.
    s.db()
        .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .unwrap();
    let before = fs::read(s.db_path()).unwrap();
    s.sh("get /a")
        .code(1)
        .stderr(contains("schema version 99").and(contains("newer coffer")));
    s.put("put /b --type string", "v")
        .code(1)
        .stderr(contains("schema version 99"));
    s.db()
        .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .unwrap();
    assert_eq!(fs::read(s.db_path()).unwrap(), before);
}

#[test]
fn wrong_or_missing_keys() {
    let s = Store::new();
    s.put("put /k/aes --key aes:k32.bin", "under aes").success();
    assert_eq!(s.get("/k/aes --key aes:k32.bin"), "under aes\n");
    s.sh("get /k/aes")
        .code(1)
        .stderr(contains("cannot decrypt version 1 of /k/aes").and(contains("--key")));
    s.sh("get /k/aes --key aes:other.bin")
        .code(1)
        .stderr(contains("cannot decrypt").and(contains("aes:k32.bin")));
    // A local key named on put must exist; then get finds it through the local keyring.
    s.put("put /k/local --key local:app", "v")
        .code(1)
        .stderr(contains("no key named `app`"));
    s.sh("key create app").success();
    s.put("put /k/local --key app", "under app").success();
    assert_eq!(s.get("/k/local"), "under app\n");
    assert_eq!(s.json("get /k/local")["key"], "local:app");
    s.sh("key disable app").success();
    s.sh("get /k/local").code(1).stderr(contains("disabled"));
    s.sh("key enable app").success();

    // Without the root key nothing is read or written: every row read is checked against
    // its MAC, and every write signed into the audit log, under keys only the root key
    // opens. A `string` value is no exception (a writer could have planted it).
    s.put("put /k/plain --type string", "clear").success();
    s.put("put /k/secure", "hidden").success();
    fs::rename(s.home().join("root.key"), s.env.path("root.key.bak")).unwrap();
    for args in [
        "get /k/secure",
        "get /k/plain",
        "ls -r",
        "history /k/secure",
    ] {
        s.sh(args).code(1).stderr(contains("root.key"));
    }
    s.put("put /k/plain --type string --overwrite", "clear2")
        .code(1)
        .stderr(contains("root.key"));
    s.put("put /k/secure --overwrite", "x").code(1);
    fs::rename(s.env.path("root.key.bak"), s.home().join("root.key")).unwrap();
    assert_eq!(s.get("/k/plain"), "clear\n");
    assert_eq!(s.versions("/k/secure"), [1]);
}

/// With a passphrase on the root key, every command that reads or writes the store needs
/// it, a `string` read included (its row's MAC is checked under a key the root key opens);
/// without a passphrase file or a terminal it fails, saying so.
#[test]
fn every_read_and_write_needs_the_passphrase() {
    let s = Store::bare();
    let pass = s.env.path("pass");
    fs::write(&pass, "correct horse\n").unwrap();
    s.cmd()
        .env("COFFER_PASSPHRASE_FILE", &pass)
        .args(["init", "--passphrase"])
        .assert()
        .success();
    s.cmd()
        .env("COFFER_PASSPHRASE_FILE", &pass)
        .args(["put", "/p/secure"])
        .write_stdin("s")
        .assert()
        .success();
    // No passphrase file, no terminal: any attempt to ask fails.
    s.put("put /p/plain --type string", "clear")
        .failure()
        .stderr(contains("needs a passphrase"));
    s.cmd()
        .env("COFFER_PASSPHRASE_FILE", &pass)
        .args(["put", "/p/plain", "--type", "string"])
        .write_stdin("clear")
        .assert()
        .success();
    for name in ["/p/plain", "/p/secure"] {
        s.sh(&format!("get {name}"))
            .failure()
            .stderr(contains("needs a passphrase"));
    }
    for (name, value) in [("/p/plain", "clear\n"), ("/p/secure", "s\n")] {
        let out = s
            .cmd()
            .env("COFFER_PASSPHRASE_FILE", &pass)
            .args(["get", name])
            .assert()
            .success();
        assert_eq!(out.get_output().stdout, value.as_bytes());
    }
}

#[test]
fn copied_blobs_fail_to_decrypt() {
    let s = Store::new();
    s.put("put /c/a", "alpha").success();
    s.put("put /c/a --overwrite", "alpha2").success();
    s.put("put /c/b", "beta").success();
    let blob = |name: &str, v: i64| -> Vec<u8> {
        s.db()
            .query_row(
                "SELECT value FROM param_versions WHERE name = ?1 AND version = ?2",
                params![name, v],
                |r| r.get(0),
            )
            .unwrap()
    };
    let set = |name: &str, v: i64, value: &[u8]| {
        s.db()
            .execute(
                "UPDATE param_versions SET value = ?3 WHERE name = ?1 AND version = ?2",
                params![name, v, value],
            )
            .unwrap();
    };
    let (a1, a2, b1) = (blob("/c/a", 1), blob("/c/a", 2), blob("/c/b", 1));
    // Another name: the row fails its MAC first.
    set("/c/b", 1, &a1);
    s.sh("get /c/b").code(1).stderr(contains(
        "its version 1 (param_versions) does not match its MAC",
    ));
    // Sealed as it is (as if by a holder of the root key), the message is still bound to
    // its row.
    reseal(&s.home(), None);
    s.sh("get /c/b")
        .code(1)
        .stderr(contains("encrypted for /c/a:1").and(contains("copied or moved")));
    // Another version of the same name.
    set("/c/a", 2, &a1);
    reseal(&s.home(), None);
    s.sh("get /c/a")
        .code(1)
        .stderr(contains("encrypted for /c/a:1"));
    let out = s.sh("get /c/a --output json").code(1);
    assert!(!String::from_utf8_lossy(&out.get_output().stdout).contains("alpha"));
    // Put back, they read again.
    set("/c/b", 1, &b1);
    set("/c/a", 2, &a2);
    reseal(&s.home(), None);
    assert_eq!(s.get("/c/b"), "beta\n");
    assert_eq!(s.get("/c/a"), "alpha2\n");
}

#[test]
fn values_are_not_logged() {
    let s = Store::new();
    let out = s
        .cmd()
        .args(["-vvv", "put", "/log/x", "--label", "l"])
        .write_stdin("needle-value")
        .assert()
        .success();
    let all = [
        out.get_output().stdout.clone(),
        out.get_output().stderr.clone(),
    ]
    .concat();
    assert!(!String::from_utf8_lossy(&all).contains("needle-value"));
    for args in [
        "-vvv ls -r",
        "-vvv history /log/x",
        "-vvv --output json ls -r",
    ] {
        let out = s.sh(args).success();
        let all = [
            out.get_output().stdout.clone(),
            out.get_output().stderr.clone(),
        ]
        .concat();
        assert!(
            !String::from_utf8_lossy(&all).contains("needle-value"),
            "{args}"
        );
    }
    let out = s.sh("-vvv get /log/x").success();
    assert_eq!(out.get_output().stdout, b"needle-value\n");
    assert!(!String::from_utf8_lossy(&out.get_output().stderr).contains("needle-value"));
}

/// Two processes put the same name 500 times each: versions 1 to 1000, none lost, none
/// written twice, every value its writer's.
#[test]
fn racing_writers_lose_nothing() {
    racing_writers(&Store::new());
}

/// As [`racing_writers_lose_nothing`], on PostgreSQL.
#[test]
fn racing_writers_lose_nothing_on_postgres() {
    if let Some(s) = Store::pg() {
        racing_writers(&s);
    }
}

fn racing_writers(s: &Store) {
    const EACH: usize = 500;
    let start = std::time::Instant::now();
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let mut cmds: Vec<std::process::Command> = (0..EACH).map(|_| s.child()).collect();
            std::thread::spawn(move || {
                let mut failures = Vec::new();
                for (i, c) in cmds.iter_mut().enumerate() {
                    let out = c
                        .args(["put", "/race", "--overwrite", "-q"])
                        .stdin(Stdio::piped())
                        .stdout(Stdio::null())
                        .stderr(Stdio::piped())
                        .spawn()
                        .and_then(|mut c| {
                            c.stdin
                                .take()
                                .unwrap()
                                .write_all(format!("w{w}-{i}").as_bytes())?;
                            c.wait_with_output()
                        })
                        .unwrap();
                    if !out.status.success() {
                        failures.push(text(&out));
                    }
                }
                failures
            })
        })
        .collect();
    for w in writers {
        let failures = w.join().unwrap();
        assert!(failures.is_empty(), "{failures:?}");
    }
    eprintln!("{} puts in {:?}", 2 * EACH, start.elapsed());
    let versions = s.versions("/race");
    assert_eq!(versions, (1..=1000).collect::<Vec<i64>>());
    assert_eq!(s.get("/race"), s.get("/race:1000"));
    // Each writer's values are all there, in its order; spot-check by decrypting them all
    // in one process.
    let lines = s.json_lines("history /race");
    assert_eq!(lines.len(), 1000);
    let mut seen = [Vec::new(), Vec::new()];
    for v in [1, 2, 3, 500, 777, 999, 1000] {
        let value = s.get(&format!("/race:{v}"));
        let (w, i) = value.trim_end()[1..].split_once('-').unwrap();
        seen[w.parse::<usize>().unwrap()].push(i.parse::<usize>().unwrap());
    }
    for s in &seen {
        assert!(s.windows(2).all(|p| p[0] < p[1]), "{seen:?}");
    }
}

/// Two processes race `put --if-version N`: exactly one wins, every time.
#[test]
fn racing_check_and_set_has_one_winner() {
    racing_check_and_set(&Store::new());
}

/// As [`racing_check_and_set_has_one_winner`], on PostgreSQL.
#[test]
fn racing_check_and_set_has_one_winner_on_postgres() {
    if let Some(s) = Store::pg() {
        racing_check_and_set(&s);
    }
}

fn racing_check_and_set(s: &Store) {
    s.put("put /cas", "0").success();
    for round in 1..=8u32 {
        let n = round.to_string();
        let children: Vec<_> = (0..2)
            .map(|w| s.spawn_put(&["/cas", "--if-version", &n], &format!("{round}-{w}")))
            .collect();
        let outs: Vec<Output> = children
            .into_iter()
            .map(|c| c.wait_with_output().unwrap())
            .collect();
        let wins = outs.iter().filter(|o| o.status.success()).count();
        assert_eq!(
            wins,
            1,
            "round {round}: {:?}",
            outs.iter().map(text).collect::<Vec<_>>()
        );
        let loser = outs.iter().find(|o| !o.status.success()).unwrap();
        assert_eq!(loser.status.code(), Some(1));
        assert!(
            text(loser).contains(&format!("is at version {}, not {round}", round + 1)),
            "{}",
            text(loser)
        );
    }
    assert_eq!(s.versions("/cas"), (1..=9).collect::<Vec<i64>>());
}

/// SIGKILL during `put`, in its write transaction or anywhere: the store opens afterwards,
/// every completed version reads back, and a killed write left nothing behind.
#[cfg(unix)]
#[test]
#[cfg_attr(
    not(feature = "test-pause"),
    ignore = "stops coffer at each step with the test-pause feature (scripts/test.sh turns it on)"
)]
fn killed_puts_leave_the_store_intact() {
    killed_puts(&Store::new());
}

/// As [`killed_puts_leave_the_store_intact`], on PostgreSQL.
#[cfg(unix)]
#[test]
#[cfg_attr(
    not(feature = "test-pause"),
    ignore = "stops coffer at each step with the test-pause feature (scripts/test.sh turns it on)"
)]
fn killed_puts_leave_the_store_intact_on_postgres() {
    if let Some(s) = Store::pg() {
        killed_puts(&s);
    }
}

#[cfg(unix)]
fn killed_puts(s: &Store) {
    use std::io::{BufRead as _, BufReader};
    use std::os::unix::process::ExitStatusExt as _;
    use std::time::Duration;

    s.put("put /kill", "v0").success();
    let mut expected = vec!["v0".to_owned()];
    for i in 1..=10u64 {
        let value = format!("v{i}");
        let mut c = s.child();
        c.args(["put", "/kill", "--overwrite"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let in_tx = i % 2 == 0;
        if in_tx {
            c.env("COFFER_TEST_PAUSE_MS", "5000");
        }
        let mut child = c.spawn().unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(value.as_bytes())
            .unwrap();
        if in_tx {
            let mut stderr = BufReader::new(child.stderr.take().unwrap());
            let mut line = String::new();
            while stderr.read_line(&mut line).unwrap() > 0 {
                if line.contains("coffer test pause: put: in transaction") {
                    break;
                }
                line.clear();
            }
        } else {
            std::thread::sleep(Duration::from_millis(i * 2));
        }
        let _ = child.kill();
        let status = child.wait().unwrap();
        let versions = s.versions("/kill");
        if status.success() {
            assert!(!in_tx, "put {i} ended without pausing in its transaction");
            expected.push(value);
        } else {
            assert_eq!(status.signal(), Some(9), "{status}");
            // A kill that lands after the commit (and before the process exits) leaves a
            // complete version: it must read back as written, below.
            if !in_tx && versions.len() == expected.len() + 1 {
                expected.push(value);
            }
        }
        // The store opens, and holds exactly the completed versions.
        assert_eq!(
            versions,
            (1..=i64::try_from(expected.len()).unwrap()).collect::<Vec<_>>(),
            "after put {i} ({})",
            if in_tx {
                "killed in its transaction"
            } else {
                "killed at some point"
            }
        );
    }
    for (v, value) in expected.iter().enumerate() {
        assert_eq!(s.get(&format!("/kill:{}", v + 1)), format!("{value}\n"));
    }
    s.put("put /kill --overwrite", "after").success();
    assert_eq!(s.get("/kill"), "after\n");
}

#[test]
fn store_urls() {
    let s = Store::new();
    s.put("put /u --type string", "v").success();
    let url = format!("sqlite://{}", s.db_path().display());
    // Another home, holding the store's root key.
    fs::create_dir_all(s.env.path("elsewhere")).unwrap();
    fs::copy(
        s.home().join("root.key"),
        s.env.path("elsewhere").join("root.key"),
    )
    .unwrap();
    let out = s
        .cmd()
        .env("COFFER_HOME", s.env.path("elsewhere"))
        .args(["--store", &url, "get", "/u"])
        .assert()
        .success();
    assert_eq!(out.get_output().stdout, b"v\n");
    s.cmd()
        .env("COFFER_STORE", "sqlite://home/coffer.db")
        .args(["get", "/u"])
        .assert()
        .success();
    s.cmd()
        .env("COFFER_STORE", "sqlite://nowhere.db")
        .args(["get", "/u"])
        .assert()
        .code(2)
        .stderr(contains("no coffer store at nowhere.db"));
}

#[path = "hardening.rs"]
mod hardening;
#[path = "secret_rotation.rs"]
mod secret_rotation;
#[path = "store_verbs.rs"]
mod store_verbs;
