//! The database is untrusted storage: what a writer with plain SQL and no key can do to the
//! audit log and to the store as a whole, on SQLite and on PostgreSQL, and what finds it
//! (the keyed chain and its authenticated head, `crate::store::audit`; each home's record of
//! what it has seen, `crate::store::seen`). Also: stores written by the previous release
//! upgrade in place, every value reading back.

use super::*;

use serde_json::Value;

/// Where the store is, and how a writer without keys gets at it.
enum Db {
    Sqlite(PathBuf),
    #[cfg(feature = "postgres")]
    Pg {
        url: String,
        admin: String,
        name: String,
    },
}

/// A store with homes on it: home `a` made it (`coffer init`); other homes get a copy of
/// `a`'s root key (`share`), as the machines of a fleet do.
struct Site {
    env: Env,
    db: Db,
}

const SECRET: &str = "hunter2-but-longer";

impl Site {
    fn sqlite() -> Self {
        let env = Env::new();
        let path = env.path("a").join("coffer.db");
        let site = Self {
            env,
            db: Db::Sqlite(path),
        };
        site.init();
        site
    }

    #[cfg(feature = "postgres")]
    fn pg() -> Option<Self> {
        let admin = coffer::backend::postgres::testing::admin_url()?;
        let url = pg::fresh_database()?;
        let name = url.rsplit_once('/').unwrap().1.to_owned();
        let site = Self {
            env: Env::new(),
            db: Db::Pg { url, admin, name },
        };
        site.init();
        Some(site)
    }

    /// Runs `f` on an SQLite store, then on a PostgreSQL one.
    fn each(f: impl Fn(&Site)) {
        f(&Self::sqlite());
        #[cfg(feature = "postgres")]
        if let Some(pg) = Self::pg() {
            f(&pg);
        }
    }

    fn init(&self) {
        let mut c = self.env.cmd();
        c.env("COFFER_HOME", self.env.path("a"));
        if !matches!(self.db, Db::Sqlite(_)) {
            c.env("COFFER_STORE", self.url());
        }
        c.arg("init").assert().success();
    }

    fn url(&self) -> String {
        match &self.db {
            Db::Sqlite(path) => format!("sqlite://{}", path.display()),
            #[cfg(feature = "postgres")]
            Db::Pg { url, .. } => url.clone(),
        }
    }

    fn what(&self) -> &'static str {
        match &self.db {
            Db::Sqlite(_) => "sqlite",
            #[cfg(feature = "postgres")]
            Db::Pg { .. } => "postgres",
        }
    }

    /// Gives `home` a copy of the root key.
    fn share(&self, home: &str) {
        fs::create_dir_all(self.env.path(home)).unwrap();
        fs::copy(
            self.env.path("a").join("root.key"),
            self.env.path(home).join("root.key"),
        )
        .unwrap();
    }

    fn cmd(&self, home: &str) -> Command {
        let mut c = self.env.cmd();
        c.env("COFFER_HOME", self.env.path(home))
            .env("COFFER_STORE", self.url())
            .env("USER", "tester");
        c
    }

    fn sh(&self, home: &str, args: &str) -> assert_cmd::assert::Assert {
        self.cmd(home).args(words(args)).assert()
    }

    fn put(&self, home: &str, args: &str, value: &str) -> assert_cmd::assert::Assert {
        self.cmd(home)
            .args(words(args))
            .write_stdin(value.as_bytes().to_vec())
            .assert()
    }

    fn get(&self, home: &str, name: &str) -> String {
        let a = self.sh(home, &format!("get {name}")).success();
        String::from_utf8(a.get_output().stdout.clone()).unwrap()
    }

    /// The command fails with exit 1 and says `needle`; returns its stderr.
    fn refused(&self, home: &str, args: &str, needle: &str) -> String {
        let a = self.sh(home, args).code(1);
        let e = stderr(&a);
        assert!(
            e.contains(needle),
            "{}: `{args}`: expected `{needle}` in: {e}",
            self.what()
        );
        e
    }

    /// The audit entries, read without any key.
    fn entries(&self, home: &str) -> Vec<Value> {
        let a = self.sh(home, "--output json audit ls").success();
        String::from_utf8_lossy(&a.get_output().stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// Runs SQL as a writer without keys: `sqlite` on SQLite, `pg` on PostgreSQL.
    fn sql(&self, sqlite: &str, pg: &str) {
        match &self.db {
            Db::Sqlite(path) => rusqlite::Connection::open(path)
                .unwrap()
                .execute_batch(sqlite)
                .unwrap(),
            #[cfg(feature = "postgres")]
            Db::Pg { url, .. } => pg::run_sql(url, pg),
        }
        #[cfg(not(feature = "postgres"))]
        let _ = pg;
    }

    /// Keeps a copy of the whole store as it is now (a backup).
    fn snapshot(&self, tag: &str) {
        match &self.db {
            Db::Sqlite(path) => {
                let copy = self.env.path(&format!("{tag}.db"));
                rusqlite::Connection::open(path)
                    .unwrap()
                    .execute(&format!("VACUUM INTO '{}'", copy.display()), [])
                    .unwrap();
            }
            #[cfg(feature = "postgres")]
            Db::Pg { admin, name, .. } => {
                pg::run_sql(
                    admin,
                    &format!("CREATE DATABASE {name}_{tag} TEMPLATE {name}"),
                );
            }
        }
    }

    /// Puts the copy `tag` back in place of the store (a backup restored).
    fn restore(&self, tag: &str) {
        match &self.db {
            Db::Sqlite(path) => {
                for side in ["-wal", "-shm"] {
                    let _ = fs::remove_file(format!("{}{side}", path.display()));
                }
                fs::copy(self.env.path(&format!("{tag}.db")), path).unwrap();
            }
            #[cfg(feature = "postgres")]
            Db::Pg { admin, name, .. } => {
                pg::run_sql(admin, &format!("DROP DATABASE {name} WITH (FORCE)"));
                pg::run_sql(
                    admin,
                    &format!("CREATE DATABASE {name} TEMPLATE {name}_{tag}"),
                );
            }
        }
    }

    /// A few entries of every kind: secure and clear writes, a secure read, a key.
    fn populate(&self) {
        self.put("a", "put /app/db", SECRET).success();
        self.put("a", "put /app/db --overwrite", "second").success();
        self.put("a", "put /app/region --type string", "eu-west-1")
            .success();
        assert_eq!(self.get("a", "/app/db"), "second\n");
        self.sh("a", "key create k1").success();
    }
}

/// Removing the last entries and setting `audit_count` and `audit_head` to the new last one
/// (the `sqlite3` shell is enough): the home that saw the tail says the store was rolled
/// back; a home that never saw it finds the head's MAC wrong; nothing is written.
#[test]
fn a_truncated_log_with_its_head_set_back_is_found() {
    Site::each(|s| {
        s.populate();
        let n = s.entries("a").len();
        s.sql(
            "DELETE FROM audit WHERE seq = (SELECT max(seq) FROM audit);
             UPDATE meta SET value = (SELECT count(*) FROM audit) WHERE key = 'audit_count';
             UPDATE meta SET value = (SELECT lower(hex(hash)) FROM audit ORDER BY seq DESC
                                      LIMIT 1) WHERE key = 'audit_head';",
            "DELETE FROM audit WHERE seq = (SELECT max(seq) FROM audit);
             UPDATE meta SET value = (SELECT count(*)::text FROM audit)
              WHERE key = 'audit_count';
             UPDATE meta SET value = (SELECT encode(hash, 'hex') FROM audit ORDER BY seq DESC
                                      LIMIT 1) WHERE key = 'audit_head';",
        );
        let e = s.refused("a", "get /app/db", "was rolled back");
        assert!(e.contains(&format!("at entry {n}")), "{e}");
        assert!(e.contains("coffer audit accept"), "{e}");
        s.refused("a", "get /app/region", "was rolled back");
        s.refused("a", "audit verify", "was rolled back");
        s.share("b");
        s.refused("b", "get /app/db", "does not match its MAC");
        s.refused("b", "audit verify", "does not match its MAC");
        let a = s
            .cmd("b")
            .args(["put", "/app/new", "--type", "string"])
            .write_stdin("x")
            .assert()
            .code(1);
        assert!(stderr(&a).contains("does not match its MAC"));
        assert_eq!(
            s.entries("b").len(),
            n - 1,
            "{}: nothing was appended",
            s.what()
        );
    });
}

/// Editing an entry and recomputing every hash with the unkeyed SHA-256 of the old format
/// (and the head): the keyed chain refuses it.
#[test]
fn a_log_rewritten_with_recomputed_sha256_hashes_is_found() {
    Site::each(|s| {
        s.populate();
        match &s.db {
            Db::Sqlite(path) => rewrite_sqlite(path),
            #[cfg(feature = "postgres")]
            Db::Pg { url, .. } => pg::run_sql(url, REWRITE_PG),
        }
        // The home that saw the old head finds another entry there.
        s.refused("a", "get /app/db", "was forked");
        s.share("b");
        s.refused("b", "audit verify", "MAC");
        s.refused("b", "get /app/db", "MAC");
    });
}

/// What an attacker without the key would do: entry 2's detail changed, then every hash
/// recomputed in order with the documented unkeyed formula, and the head with them.
fn rewrite_sqlite(path: &Path) {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute("UPDATE audit SET detail = 'version 9' WHERE seq = 2", [])
        .unwrap();
    let rows: Vec<(i64, i64, String, String, String, String)> = conn
        .prepare("SELECT seq, at, user, verb, name, detail FROM audit ORDER BY seq")
        .unwrap()
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut prev = vec![0u8; 32];
    for (seq, at, user, verb, name, detail) in rows {
        let hash = coffer::store::audit::entry_hash(seq, at, &user, &verb, &name, &detail, &prev);
        conn.execute(
            "UPDATE audit SET prev_hash = ?1, hash = ?2 WHERE seq = ?3",
            rusqlite::params![prev, &hash[..], seq],
        )
        .unwrap();
        prev = hash.to_vec();
    }
    conn.execute(
        "UPDATE meta SET value = ?1 WHERE key = 'audit_head'",
        [hex::encode(&prev)],
    )
    .unwrap();
}

/// [`rewrite_sqlite`] in PL/pgSQL: PostgreSQL computes SHA-256 itself.
#[cfg(feature = "postgres")]
const REWRITE_PG: &str = r"
UPDATE audit SET detail = 'version 9' WHERE seq = 2;
DO $$
DECLARE
    r record;
    prev bytea := decode(repeat('00', 32), 'hex');
    h bytea;
    f bytea;
BEGIN
    FOR r IN SELECT * FROM audit ORDER BY seq LOOP
        f := int8send(r.seq) || int8send(r.at);
        f := f || int4send(octet_length(r.actor)) || convert_to(r.actor, 'UTF8');
        f := f || int4send(octet_length(r.verb)) || convert_to(r.verb, 'UTF8');
        f := f || int4send(octet_length(r.name)) || convert_to(r.name, 'UTF8');
        f := f || int4send(octet_length(r.detail)) || convert_to(r.detail, 'UTF8');
        f := f || int4send(length(prev)) || prev;
        h := sha256(convert_to('coffer audit v1', 'UTF8') || '\x00'::bytea || f);
        UPDATE audit SET prev_hash = prev, hash = h WHERE seq = r.seq;
        prev := h;
    END LOOP;
    UPDATE meta SET value = encode(prev, 'hex') WHERE key = 'audit_head';
END $$;
";

/// A backup restored over the store: every command of a home that saw later entries refuses
/// it, saying when it last saw the head, until `coffer audit accept`; then the store is the
/// backup's.
#[test]
fn a_restored_older_copy_is_refused_until_accepted() {
    Site::each(|s| {
        s.populate();
        s.snapshot("backup");
        s.put("a", "put /app/db --overwrite", "third").success();
        s.sh("a", "label /app/db:1 old").success();
        s.restore("backup");
        let e = s.refused("a", "get /app/db", "was rolled back");
        assert!(
            e.contains("this home last saw its audit log at entry"),
            "{e}"
        );
        s.refused("a", "get /app/region", "was rolled back");
        s.refused("a", "ls -r", "was rolled back");
        s.refused("a", "key list", "was rolled back");
        s.refused("a", "audit verify", "was rolled back");
        #[cfg(unix)]
        #[allow(irrefutable_let_patterns, reason = "one variant without PostgreSQL")]
        if let Db::Sqlite(path) = &s.db {
            // The same file through another path: the same record.
            let link = s.env.path("link");
            std::os::unix::fs::symlink(path.parent().unwrap(), &link).unwrap();
            let a = s
                .cmd("a")
                .env(
                    "COFFER_STORE",
                    format!("sqlite://{}/coffer.db", link.display()),
                )
                .args(["get", "/app/db"])
                .assert()
                .code(1);
            assert!(stderr(&a).contains("was rolled back"), "{}", stderr(&a));
        }
        let a = s
            .cmd("a")
            .args(["put", "/app/db", "--overwrite"])
            .write_stdin("fourth")
            .assert()
            .code(1);
        assert!(stderr(&a).contains("was rolled back"));
        let a = s.sh("a", "audit accept").success();
        let out = String::from_utf8_lossy(&a.get_output().stdout).into_owned();
        assert!(out.starts_with("accepted the store"), "{out}");
        assert_eq!(s.get("a", "/app/db"), "second\n", "{}", s.what());
        s.sh("a", "audit verify").success();
    });
}

/// The store restored, then written by another machine: the log has another entry where the
/// home saw one: forked.
#[test]
fn a_forked_log_is_found() {
    Site::each(|s| {
        s.populate();
        s.snapshot("fork");
        s.put("a", "put /app/db --overwrite", "third").success();
        s.restore("fork");
        s.share("b");
        for i in 0..3 {
            s.put("b", &format!("put /b/{i} --type string"), "x")
                .success();
        }
        s.refused("a", "get /app/db", "was forked");
        // The other machine, which never saw the lost write, carries on.
        assert_eq!(s.get("b", "/app/db"), "second\n");
    });
}

/// The store replaced by a fresh, empty one that even names the same root key: refused,
/// and nothing is written to it.
#[test]
fn a_store_replaced_by_an_empty_one_is_found() {
    Site::each(|s| {
        s.populate();
        match &s.db {
            Db::Sqlite(path) => {
                let conn = rusqlite::Connection::open(path).unwrap();
                let root_id: String = conn
                    .query_row("SELECT value FROM meta WHERE key = 'root_id'", [], |r| {
                        r.get(0)
                    })
                    .unwrap();
                drop(conn);
                s.env
                    .cmd()
                    .env("COFFER_HOME", s.env.path("z"))
                    .arg("init")
                    .assert()
                    .success();
                for side in ["-wal", "-shm"] {
                    let _ = fs::remove_file(format!("{}{side}", path.display()));
                }
                fs::copy(s.env.path("z").join("coffer.db"), path).unwrap();
                s.sql(
                    &format!("UPDATE meta SET value = '{root_id}' WHERE key = 'root_id'"),
                    "",
                );
            }
            #[cfg(feature = "postgres")]
            Db::Pg { admin, name, .. } => {
                pg::run_sql(admin, &format!("DROP DATABASE {name} WITH (FORCE)"));
                pg::run_sql(admin, &format!("CREATE DATABASE {name}"));
            }
        }
        s.refused("a", "get /app/db", "is not the store this home has used");
        s.refused("a", "ls -r", "is not the store this home has used");
        let a = s
            .cmd("a")
            .args(["put", "/app/db"])
            .write_stdin("planted")
            .assert()
            .code(1);
        assert!(stderr(&a).contains("is not the store this home has used"));
        assert!(
            s.entries("a").is_empty(),
            "{}: nothing was written",
            s.what()
        );
    });
}

/// The audit key removed (with the head's MAC), so that the store looks like an older
/// release's and whatever log is there would be keyed afresh: the home that saw the keyed
/// log refuses it, `audit accept` will not vouch for it, and the hint names the record to
/// remove to start afresh; after that, `audit verify` finds that the old entries do not
/// check. A count out of range is an error, not a crash.
#[test]
fn a_store_stripped_of_its_audit_key_is_not_keyed_afresh_behind_a_home() {
    Site::each(|s| {
        s.populate();
        let n = s.entries("a").len();
        s.sql(
            "DELETE FROM meta WHERE key IN ('audit_key', 'store_id', 'audit_head_mac', \
             'audit_keyed_from')",
            "DELETE FROM meta WHERE key IN ('audit_key', 'store_id', 'audit_head_mac', \
             'audit_keyed_from')",
        );
        let e = s.refused("a", "get /app/db", "has no audit key");
        let record = s.env.path("a").join("seen");
        assert!(e.contains(&record.display().to_string()), "{e}");
        s.refused("a", "get /app/region", "has no audit key");
        s.refused("a", "audit accept", "it was not accepted");
        for entry in fs::read_dir(&record).unwrap() {
            fs::remove_file(entry.unwrap().path()).unwrap();
        }
        // Starting afresh keys the log from here on; the entries before were keyed by the
        // removed key, so nobody can vouch for them any more, and `verify` says so.
        s.put("a", "put /app/db --overwrite", "fourth").success();
        s.refused(
            "a",
            "audit verify",
            "at seq 1: entry 1 does not match its hash",
        );
        let list = s.entries("a");
        assert_eq!(list[n]["verb"], "audit-rekey", "{}", s.what());
        // The same, with the count set to the largest integer.
        s.sql(
            "DELETE FROM meta WHERE key IN ('audit_key', 'store_id', 'audit_head_mac', \
             'audit_keyed_from');
             UPDATE meta SET value = '9223372036854775807' WHERE key = 'audit_count'",
            "DELETE FROM meta WHERE key IN ('audit_key', 'store_id', 'audit_head_mac', \
             'audit_keyed_from');
             UPDATE meta SET value = '9223372036854775807' WHERE key = 'audit_count'",
        );
        s.share("c");
        s.refused("c", "audit verify", "has no audit key yet");
        let a = s
            .cmd("c")
            .args(["put", "/app/x", "--type", "string"])
            .write_stdin("x")
            .assert()
            .code(1);
        assert!(
            stderr(&a).contains("meta audit_count is out of range"),
            "{}",
            stderr(&a)
        );
    });
}

/// Another store, keyed under the same root key (a second store made with a copy of
/// `root.key`), put in place of the one the home has used: its store id differs, so it is
/// refused as another store.
#[test]
fn a_store_keyed_apart_under_the_same_root_is_found() {
    let s = Site::sqlite();
    s.populate();
    #[allow(irrefutable_let_patterns, reason = "one variant without PostgreSQL")]
    let Db::Sqlite(path) = &s.db else {
        unreachable!()
    };
    let root_id: String = rusqlite::Connection::open(path)
        .unwrap()
        .query_row("SELECT value FROM meta WHERE key = 'root_id'", [], |r| {
            r.get(0)
        })
        .unwrap();
    // Store z: made by `init`, then given a's root key, and keyed by a write.
    let z = s.env.path("z");
    s.env
        .cmd()
        .env("COFFER_HOME", &z)
        .arg("init")
        .assert()
        .success();
    fs::copy(s.env.path("a").join("root.key"), z.join("root.key")).unwrap();
    rusqlite::Connection::open(z.join("coffer.db"))
        .unwrap()
        .execute(
            "UPDATE meta SET value = ?1 WHERE key = 'root_id'",
            [&root_id],
        )
        .unwrap();
    s.env
        .cmd()
        .env("COFFER_HOME", &z)
        .args(["put", "/app/db", "--type", "string"])
        .write_stdin("planted")
        .assert()
        .success();
    let copy = s.env.path("z.db");
    rusqlite::Connection::open(z.join("coffer.db"))
        .unwrap()
        .execute(&format!("VACUUM INTO '{}'", copy.display()), [])
        .unwrap();
    for side in ["-wal", "-shm"] {
        let _ = fs::remove_file(format!("{}{side}", path.display()));
    }
    fs::copy(&copy, path).unwrap();
    let e = s.refused(
        "a",
        "get /app/db",
        "is not the store this home has used (store id",
    );
    assert!(e.contains("it was replaced"), "{e}");
    s.refused("a", "audit verify", "it was replaced");
}

const PREVIOUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/previous-release");

/// A store written by the previous release (unkeyed chain, older schema) upgrades on the
/// first open by a holder of its root key: every value reads back, the old entries still
/// verify (by their unkeyed hash), a keyed `audit-rekey` entry follows them, and editing an
/// old entry is still found.
#[test]
fn a_store_of_the_previous_release_upgrades_and_reads_back() {
    let sqlite = || {
        let (env, url) = old_sqlite_store(PREVIOUS);
        let path = env.path("old").join("coffer.db");
        (env, url, path)
    };
    // Many first opens at once, as a fleet's timers would: each sees one schema, never a
    // half-migrated store.
    let (env, url, _) = sqlite();
    let children: Vec<_> = (0..8)
        .map(|_| {
            std::process::Command::new(env!("CARGO_BIN_EXE_coffer"))
                .env("COFFER_HOME", env.path("old"))
                .env("COFFER_STORE", &url)
                .env_remove("COFFER_PASSPHRASE_FILE")
                .args(["ls", "-r", "/"])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let (env, url, path) = sqlite();
    check_upgrade(&env, &url);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let schema: String = conn
        .query_row("SELECT value FROM meta WHERE key = 'schema'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(schema, coffer::store::SCHEMA_VERSION.to_string());
    conn.execute("UPDATE audit SET detail = 'version 7' WHERE seq = 5", [])
        .unwrap();
    drop(conn);
    let a = old_cmd(&env, &url)
        .args(["audit", "verify"])
        .assert()
        .code(1);
    assert!(
        stderr(&a).contains("at seq 5: entry 5 does not match its hash"),
        "{}",
        stderr(&a)
    );

    #[cfg(feature = "postgres")]
    if let Some((env, url)) = old_pg_store(PREVIOUS) {
        check_upgrade(&env, &url);
        pg::run_sql(&url, "UPDATE audit SET detail = 'version 7' WHERE seq = 5");
        let a = old_cmd(&env, &url)
            .args(["audit", "verify"])
            .assert()
            .code(1);
        assert!(stderr(&a).contains("at seq 5: entry 5 does not match its hash"));
    }
}

fn old_cmd(env: &Env, url: &str) -> Command {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let key = env.path("old").join("root.key");
        fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).unwrap();
    }
    let mut c = env.cmd();
    c.env("COFFER_HOME", env.path("old"))
        .env("COFFER_STORE", url)
        .env("USER", "tester");
    c
}

fn check_upgrade(env: &Env, url: &str) {
    let get = |name: &str| {
        let a = old_cmd(env, url).args(["get", name]).assert().success();
        String::from_utf8(a.get_output().stdout.clone()).unwrap()
    };
    // Read without a key first: the store is not upgraded yet, and reads fine.
    assert_eq!(get("/app/dev/greeting"), "plain-two\n");
    assert_eq!(get("/app/dev/greeting:1"), "plain-one\n");
    assert_eq!(get("/app/dev/list"), "a,b,c\n");
    assert_eq!(get("/app/dev/expiring"), "exp\n");
    // The first secure read opens the keys and upgrades the log.
    assert_eq!(get("/app/prod/db-password"), "s3cret-v2\n");
    assert_eq!(get("/app/prod/db-password:previous"), "s3cret-v1\n");
    assert_eq!(get("/app/prod/db-password:1"), "s3cret-v1\n");
    assert_eq!(get("/app/prod/api-key"), "app-value-2\n");
    assert_eq!(get("/app/dev/destroyed:2"), "x2\n");
    let a = old_cmd(env, url)
        .args(["get", "/app/prod/api-key:1"])
        .assert()
        .code(1);
    assert!(stderr(&a).contains("retired"), "{}", stderr(&a));
    old_cmd(env, url)
        .args(["get", "/app/dev/destroyed:1"])
        .assert()
        .code(1);
    old_cmd(env, url)
        .args(["restore", "/app/dev/old"])
        .assert()
        .success();
    assert_eq!(get("/app/dev/old"), "gone\n");
    let a = old_cmd(env, url)
        .args(["--output", "json", "audit", "ls"])
        .assert()
        .success();
    let entries: Vec<Value> = String::from_utf8_lossy(&a.get_output().stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(entries[19]["seq"], 20);
    assert_eq!(entries[19]["verb"], "audit-rekey");
    assert_eq!(entries[18]["verb"], "key-retire");
    let a = old_cmd(env, url)
        .args(["audit", "verify"])
        .assert()
        .success();
    let out = String::from_utf8_lossy(&a.get_output().stdout).into_owned();
    assert!(
        out.starts_with(
            "audit log OK (entries 1-19 are from before the log was keyed: hashed, not \
             authenticated): "
        ),
        "{out}"
    );
    // Writes go on as before.
    old_cmd(env, url)
        .args([
            "put",
            "/app/dev/greeting",
            "--type",
            "string",
            "--overwrite",
        ])
        .write_stdin("plain-three")
        .assert()
        .success();
    assert_eq!(get("/app/dev/greeting"), "plain-three\n");
}

fn stderr(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&a.get_output().stderr).into_owned()
}

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
        both("INSERT INTO meta (key, value) VALUES ('audit_key_format', '3')");
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

/// A home `old` holding a copy of the SQLite store and root key kept in `dir`/sqlite: the
/// test's environment and the store's URL.
fn old_sqlite_store(dir: &str) -> (Env, String) {
    let env = Env::new();
    let home = env.path("old");
    fs::create_dir_all(&home).unwrap();
    for f in ["coffer.db", "root.key"] {
        fs::copy(format!("{dir}/sqlite/{f}"), home.join(f)).unwrap();
    }
    let url = format!("sqlite://{}", home.join("coffer.db").display());
    (env, url)
}

/// A home `old` with the root key kept in `dir`/postgres, and a fresh database loaded with
/// the dump kept beside it; `None` without a server outside CI.
#[cfg(feature = "postgres")]
fn old_pg_store(dir: &str) -> Option<(Env, String)> {
    let url = pg::fresh_database()?;
    let env = Env::new();
    let home = env.path("old");
    fs::create_dir_all(&home).unwrap();
    fs::copy(format!("{dir}/postgres/root.key"), home.join("root.key")).unwrap();
    let dump = fs::read_to_string(format!("{dir}/postgres/store.sql")).unwrap();
    pg::run_sql(&url, &dump);
    Some((env, url))
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
    assert_eq!(get("/app/dev/greeting"), "plain-two\n");
    assert_eq!(entries().len(), 19);
    // The audit key as wrapped before the upgrade, as a writer may keep it.
    store_sql(url, "CREATE TABLE saved_meta AS SELECT * FROM meta");
    // The first secure read opens the keys and seals them.
    assert_eq!(get("/app/prod/db-password"), "s3cret-v2\n");
    let list = entries();
    let sealed: Vec<(&str, &str)> = list[19..22]
        .iter()
        .map(|e| (e["verb"].as_str().unwrap(), e["name"].as_str().unwrap()))
        .collect();
    assert_eq!(
        sealed,
        [
            ("audit-seal", "keys"),
            ("key-seal", "app"),
            ("key-seal", "params")
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

/// Runs `sql` on the store at `url` (`sqlite://PATH` or a PostgreSQL URL) as a database
/// writer would.
fn store_sql(url: &str, sql: &str) {
    match url.strip_prefix("sqlite://") {
        Some(path) => rusqlite::Connection::open(path)
            .unwrap()
            .execute_batch(sql)
            .unwrap(),
        #[cfg(feature = "postgres")]
        None => pg::run_sql(url, sql),
        #[cfg(not(feature = "postgres"))]
        None => panic!("{url}: this build has no PostgreSQL stores"),
    }
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
    use std::io::{BufRead as _, BufReader, Read as _};
    use std::process::{Command as StdCommand, Stdio};
    Site::each(|s| {
        let both = |sql: &str| s.sql(sql, sql);
        s.sh("a", "key create app").success();
        s.put("a", "put /app/k --key local:app", "v1").success();
        s.sh("a", "key rotate app").success();
        both("CREATE TABLE before_retire AS SELECT * FROM keys");
        s.sh("a", "key retire app --below-version 2").success();
        both("CREATE TABLE retired AS SELECT * FROM keys");

        let mut child = StdCommand::new(env!("CARGO_BIN_EXE_coffer"))
            .args(["key", "rotate", "app"])
            .current_dir(s.env.path(""))
            .env("COFFER_HOME", s.env.path("a"))
            .env("COFFER_STORE", s.url())
            .env("USER", "tester")
            .env("COFFER_TEST_PAUSE_MS", "3000")
            .env_remove("RUST_LOG")
            .env_remove("COFFER_PASSPHRASE_FILE")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        loop {
            let mut line = String::new();
            assert_ne!(stderr.read_line(&mut line).unwrap(), 0, "no pause");
            if line.contains("coffer test pause: rotate: wrapped") {
                break;
            }
        }
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
        let status = child.wait().unwrap();
        let mut rest = String::new();
        stderr.read_to_string(&mut rest).unwrap();
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
/// root id and the audit head; a version's creation time; a label's version) is an error,
/// never a crash.
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
        (
            "ALTER TABLE param_labels DROP CONSTRAINT param_labels_name_version_fkey;
             ALTER TABLE param_labels ALTER COLUMN version TYPE text",
            &["get /app/k", "get /app/k:previous"][..],
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
}
