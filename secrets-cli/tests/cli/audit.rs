//! The audit log: `coffer audit ls|verify`, and tampering with it.

use super::*;

use std::io::Write as _;
use std::process::Stdio;

use rusqlite::Connection;
use serde_json::Value;

const SECRET: &str = "hunter2-do-not-log-me";

/// A scratch directory with its own initialised `COFFER_HOME`.
struct Home {
    env: Env,
}

impl Home {
    fn new() -> Self {
        let h = Self { env: Env::new() };
        h.sh("init").success();
        h
    }

    fn home(&self) -> PathBuf {
        self.env.path("home")
    }

    fn db(&self) -> Connection {
        Connection::open(self.home().join("coffer.db")).unwrap()
    }

    fn cmd(&self) -> Command {
        let mut c = self.env.cmd();
        c.env("COFFER_HOME", self.home())
            .env_remove("COFFER_STORE")
            .env("USER", "auditor");
        c
    }

    fn sh(&self, args: &str) -> assert_cmd::assert::Assert {
        self.cmd().args(words(args)).assert()
    }

    fn put(&self, args: &str, value: &str) {
        self.cmd()
            .args(words(args))
            .write_stdin(value.as_bytes().to_vec())
            .assert()
            .success();
    }

    fn entries(&self) -> Vec<Value> {
        let out = self.sh("--output json audit ls").success();
        String::from_utf8(out.get_output().stdout.clone())
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    fn verbs_names(&self) -> Vec<(String, String)> {
        self.entries()
            .iter()
            .map(|e| {
                (
                    e["verb"].as_str().unwrap().to_owned(),
                    e["name"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }

    fn verify_fails(&self, needle: &str) -> String {
        let out = self.sh("audit verify").code(1);
        let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
        assert!(err.contains(needle), "expected `{needle}` in: {err}");
        err
    }

    /// A store with a few entries of every kind.
    fn busy() -> Self {
        let h = Self::new();
        h.put("put /app/db-password", SECRET);
        h.put("put /app/db-password --overwrite --label current", SECRET);
        h.put("put /app/region --type string", "eu-west-1");
        h.sh("get /app/db-password")
            .success()
            .stdout(format!("{SECRET}\n"));
        h.sh("get /app/region").success();
        h.sh("export --path /app").success();
        h.sh("label /app/db-password:1 old").success();
        h.sh("unlabel /app/db-password old").success();
        h.sh("rm /app/region").success();
        h.sh("restore /app/region").success();
        h.sh("destroy /app/db-password:1").success();
        h.sh("key create k1").success();
        h.sh("key rotate k1").success();
        h.sh("key set-rotation k1 30d").success();
        h.sh("key retire k1 --below-version 2").success();
        h.sh("key disable k1").success();
        h.sh("key enable k1").success();
        h.sh("key rotate --root").success();
        h
    }
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(v, n)| ((*v).to_owned(), (*n).to_owned()))
        .collect()
}

#[test]
fn writes_secure_reads_and_key_operations_are_logged_without_values() {
    let h = Home::busy();
    assert_eq!(
        h.verbs_names(),
        pairs(&[
            ("key-create", "params"),
            ("put", "/app/db-password"),
            ("put", "/app/db-password"),
            ("put", "/app/region"),
            ("get-secure", "/app/db-password"),
            ("get-secure", "/app/db-password"),
            ("label", "/app/db-password"),
            ("unlabel", "/app/db-password"),
            ("rm", "/app/region"),
            ("restore", "/app/region"),
            ("destroy", "/app/db-password"),
            ("key-create", "k1"),
            ("key-rotate", "k1"),
            ("key-set-rotation", "k1"),
            ("key-retire", "k1"),
            ("key-disable", "k1"),
            ("key-enable", "k1"),
            ("key-rotate-root", "root"),
        ])
    );
    let entries = h.entries();
    assert_eq!(
        entries[2]["detail"],
        "version 2, secure-string, labels current"
    );
    assert_eq!(entries[5]["detail"], "version 2, by path /app");
    // The real user, whatever $USER says ("auditor").
    let real = params::real_user();
    assert!(
        entries.iter().all(|e| e["user"] == real.as_str()),
        "{entries:?}"
    );
    let seqs: Vec<i64> = entries.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, (1..=18).collect::<Vec<_>>());

    // Never the value: not in the listing, not anywhere in the database files.
    let text = h.sh("audit ls").success();
    let text = String::from_utf8(text.get_output().stdout.clone()).unwrap();
    assert!(text.starts_with("SEQ"), "{text}");
    assert!(
        text.contains("get-secure") && !text.contains(SECRET),
        "{text}"
    );
    let json = h.sh("--output json audit ls").success();
    assert!(!String::from_utf8_lossy(&json.get_output().stdout).contains(SECRET));
    for file in ["coffer.db", "coffer.db-wal"] {
        if let Ok(bytes) = fs::read(h.home().join(file)) {
            assert!(
                !bytes.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()),
                "the secret is in {file}"
            );
        }
    }

    h.sh("audit verify")
        .success()
        .stdout("audit log OK: 18 entries\n");
    let v = h.sh("--output json audit verify").success();
    let v: Value = serde_json::from_slice(&v.get_output().stdout).unwrap();
    assert_eq!(
        (v["ok"].as_bool(), v["entries"].as_u64()),
        (Some(true), Some(18))
    );
}

#[test]
fn failed_and_plain_operations_are_not_logged() {
    let h = Home::new();
    h.put("put /p --type string", "x");
    h.sh("get /p").success();
    h.sh("ls -r /").success();
    h.sh("history /p").success();
    h.cmd()
        .args(["put", "/p", "--type", "string"])
        .write_stdin("y")
        .assert()
        .code(1);
    assert_eq!(h.verbs_names(), pairs(&[("put", "/p")]));
}

#[test]
fn an_edited_row_is_found() {
    let h = Home::busy();
    h.db()
        .execute("UPDATE audit SET name = '/elsewhere' WHERE seq = 4", [])
        .unwrap();
    h.verify_fails("at seq 4: entry 4 does not match its MAC");
}

#[test]
fn a_deleted_middle_row_is_found() {
    let h = Home::busy();
    h.db()
        .execute("DELETE FROM audit WHERE seq = 7", [])
        .unwrap();
    h.verify_fails("at seq 7: entry 7 is missing");
}

#[test]
fn swapped_rows_are_found() {
    let h = Home::busy();
    h.db()
        .execute_batch(
            "UPDATE audit SET seq = 1000 WHERE seq = 3;
             UPDATE audit SET seq = 3 WHERE seq = 5;
             UPDATE audit SET seq = 5 WHERE seq = 1000;",
        )
        .unwrap();
    h.verify_fails("at seq 3:");
}

#[test]
fn a_truncated_log_is_found() {
    let h = Home::busy();
    h.db()
        .execute("DELETE FROM audit WHERE seq = 18", [])
        .unwrap();
    h.verify_fails("no longer holds entry 18, which this home saw");
}

#[test]
fn a_rehashed_row_breaks_the_link_to_the_next() {
    let h = Home::busy();
    // A row given another row's hash fails its own check.
    h.db()
        .execute(
            "UPDATE audit SET hash = (SELECT hash FROM audit WHERE seq = 9) WHERE seq = 8",
            [],
        )
        .unwrap();
    h.verify_fails("at seq 8:");
}

#[test]
fn concurrent_writers_keep_the_chain() {
    const EACH: usize = 100;
    let h = Home::new();
    let spawn = |name: &'static str| {
        let home = h.home();
        std::thread::spawn(move || {
            for i in 0..EACH {
                let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_coffer"))
                    .env("COFFER_HOME", &home)
                    .env_remove("COFFER_STORE")
                    .env_remove("RUST_LOG")
                    .env("USER", "racer")
                    .args(["put", name, "--overwrite", "--type", "string", "-q"])
                    .stdin(Stdio::piped())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap();
                child
                    .stdin
                    .take()
                    .unwrap()
                    .write_all(format!("v{i}").as_bytes())
                    .unwrap();
                assert!(child.wait().unwrap().success());
            }
        })
    };
    let (a, b) = (spawn("/race"), spawn("/race"));
    a.join().unwrap();
    b.join().unwrap();
    let entries = h.entries();
    assert_eq!(entries.len(), 2 * EACH);
    assert!(
        entries
            .iter()
            .all(|e| e["verb"] == "put" && e["name"] == "/race")
    );
    h.sh("audit verify")
        .success()
        .stdout(format!("audit log OK: {} entries\n", 2 * EACH));
}
