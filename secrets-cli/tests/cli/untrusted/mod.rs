//! The database is untrusted storage: what a writer with plain SQL and no key can do to the
//! audit log and to the store as a whole, on SQLite and on PostgreSQL, and what finds it
//! (the keyed chain and its authenticated head, `crate::store::audit`; each home's record of
//! what it has seen, `crate::store::seen`). Also: stores written by the previous release
//! upgrade in place, every value reading back.

use super::*;

use serde_json::Value;

mod key_table;
mod param_rows;
mod policies;
#[cfg(feature = "postgres")]
mod roles;
mod roots;
mod row_keys;

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

    /// Gives `home` the store's root key and the root of key `key` that home `a` holds.
    fn share_root(&self, home: &str, key: &str) {
        self.share(home);
        let roots = self.env.path(home).join("roots");
        fs::create_dir_all(&roots).unwrap();
        let file = format!("{key}.key");
        fs::copy(
            self.env.path("a").join("roots").join(&file),
            roots.join(&file),
        )
        .unwrap();
    }

    /// Starts `coffer ARGS` in `home` with the test pause on, and waits until it announces
    /// `step`: it is then stopped there for three seconds.
    #[cfg(feature = "test-pause")]
    #[allow(
        clippy::zombie_processes,
        reason = "the child is handed over, and Paused::finish waits for it"
    )]
    fn paused(&self, home: &str, args: &[&str], step: &str) -> Paused {
        use std::io::BufRead as _;
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_coffer"))
            .args(args)
            .current_dir(self.env.path(""))
            .env("COFFER_HOME", self.env.path(home))
            .env("COFFER_STORE", self.url())
            .env("USER", "tester")
            .env("COFFER_TEST_PAUSE_MS", "3000")
            .env_remove("RUST_LOG")
            .env_remove("COFFER_PASSPHRASE_FILE")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
        let want = format!("coffer test pause: {step}");
        loop {
            let mut line = String::new();
            if stderr.read_line(&mut line).unwrap() == 0 {
                let status = child.wait().unwrap();
                panic!("no pause at {step}: the command ended ({status})");
            }
            if line.contains(&want) {
                return Paused { child, stderr };
            }
        }
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

    /// The first column of the first row of a query, as text: `sqlite` on SQLite, `pg` on
    /// PostgreSQL.
    fn query(&self, sqlite: &str, pg: &str) -> String {
        #[cfg(not(feature = "postgres"))]
        let _ = pg;
        match &self.db {
            Db::Sqlite(path) => rusqlite::Connection::open(path)
                .unwrap()
                .query_row(sqlite, [], |r| r.get(0))
                .unwrap(),
            #[cfg(feature = "postgres")]
            Db::Pg { url, .. } => {
                let password = std::env::var("PGPASSWORD").unwrap_or_default();
                pg::query_as(url, &password, pg).unwrap()[0]
                    .clone()
                    .unwrap()
            }
        }
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

/// A command stopped at a test pause ([`Site::paused`]).
#[cfg(feature = "test-pause")]
struct Paused {
    child: std::process::Child,
    stderr: std::io::BufReader<std::process::ChildStderr>,
}

#[cfg(feature = "test-pause")]
impl Paused {
    /// Lets it run to its end: its exit status and the rest of its stderr.
    fn finish(mut self) -> (std::process::ExitStatus, String) {
        use std::io::Read as _;
        let mut rest = String::new();
        self.stderr.read_to_string(&mut rest).unwrap();
        (self.child.wait().unwrap(), rest)
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
        // Nor afresh without the record: its parameter rows are sealed under the removed
        // key, and keying the store anew would seal whatever they now say.
        s.put("a", "put /app/db --overwrite", "fourth")
            .code(1)
            .stderr(contains("sealed under an audit key it no longer holds"));
        assert_eq!(
            s.entries("a").len(),
            n,
            "{}: nothing was appended",
            s.what()
        );
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

/// Runs `sql` on the store at `url` (`sqlite://PATH` or a PostgreSQL URL) as a database
/// writer would.
/// The first column of the first row of `sql` on the store at `url`, as text.
fn store_query(url: &str, sql: &str) -> String {
    match url.strip_prefix("sqlite://") {
        Some(path) => rusqlite::Connection::open(path)
            .unwrap()
            .query_row(sql, [], |r| r.get(0))
            .unwrap(),
        #[cfg(feature = "postgres")]
        None => {
            let password = std::env::var("PGPASSWORD").unwrap_or_default();
            pg::query_as(url, &password, sql).unwrap()[0]
                .clone()
                .unwrap()
        }
        #[cfg(not(feature = "postgres"))]
        None => panic!("{url}: this build has no PostgreSQL stores"),
    }
}

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
