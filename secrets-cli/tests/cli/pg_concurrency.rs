//! Concurrent reads and writes on the PostgreSQL store never fail for lock reasons: a hundred
//! `exec` against a server restarted just before, writers of every kind at once, and the
//! transient errors coffer retries (a deadlock, a lock timeout, a server that is starting up,
//! no free connection slot). Skips without a server as `pg.rs` does.

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt as _;
use std::process::{Child, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::pg::{fresh_database, run_sql};
use super::*;

use coffer::backend::postgres::testing;

/// How long a burst of processes may take before the test gives up (a correctness limit for a
/// loaded 2-core machine, not a speed target).
const BURST_LIMIT: Duration = Duration::from_secs(600);

/// `coffer` on the store at `url` with home `home`, as a `std` command (to start many at once).
fn coffer(env: &Env, home: &str, url: &str) -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_coffer"));
    c.current_dir(env.dir.path())
        .env_remove("RUST_LOG")
        .env_remove("COFFER_PASSPHRASE_FILE")
        .env("COFFER_HOME", env.path(home))
        .env("COFFER_STORE", url)
        .env("USER", "tester")
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    c
}

/// Runs `coffer ARGS` to completion; its stdout, or a panic with its stderr.
fn ok(env: &Env, url: &str, args: &str) -> String {
    ok_in(env, "a", url, args)
}

/// [`ok`] with home `home`.
fn ok_in(env: &Env, home: &str, url: &str, args: &str) -> String {
    let out = coffer(env, home, url)
        .args(words(args))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "coffer {args}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `put NAME --value-file F` (and `extra`) with `value`.
fn put(env: &Env, url: &str, name: &str, value: &str, extra: &str) {
    put_in(env, "a", url, name, value, extra);
}

/// [`put`] with home `home`.
fn put_in(env: &Env, home: &str, url: &str, name: &str, value: &str, extra: &str) {
    let file = format!("value-{home}{}", name.replace('/', "_"));
    env.write(&file, value.as_bytes());
    ok_in(
        env,
        home,
        url,
        &format!("put {name} --value-file {file} {extra}"),
    );
}

/// The entries `audit verify` counts (it must say OK).
fn audit_entries(env: &Env, url: &str) -> u64 {
    audit_entries_in(env, "a", url)
}

/// [`audit_entries`] with home `home`.
fn audit_entries_in(env: &Env, home: &str, url: &str) -> u64 {
    let out = ok_in(env, home, url, "audit verify");
    out.trim()
        .strip_prefix("audit log OK: ")
        .and_then(|s| s.strip_suffix(" entries"))
        .unwrap_or_else(|| panic!("audit verify: {out}"))
        .parse()
        .unwrap()
}

/// Starts every command at once (stderr to a file each), then waits for all of them.
/// Returns, per command, whether it succeeded and its stderr.
fn burst(env: &Env, cmds: Vec<std::process::Command>) -> Vec<(ExitStatus, String)> {
    let n = cmds.len();
    let mut children: Vec<Option<Child>> = cmds
        .into_iter()
        .enumerate()
        .map(|(i, mut c)| {
            let err = fs::File::create(env.path(&format!("burst-err.{i}"))).unwrap();
            Some(c.stderr(err).spawn().unwrap())
        })
        .collect();
    let mut status = vec![None; n];
    let deadline = Instant::now() + BURST_LIMIT;
    while status.iter().any(Option::is_none) {
        for (i, slot) in children.iter_mut().enumerate() {
            if let Some(child) = slot {
                if let Some(s) = child.try_wait().unwrap() {
                    status[i] = Some(s);
                    *slot = None;
                }
            }
        }
        if Instant::now() > deadline {
            for child in children.iter_mut().flatten() {
                let _ = child.kill();
                let _ = child.wait();
            }
            panic!("the burst of {n} processes did not end within {BURST_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    status
        .into_iter()
        .enumerate()
        .map(|(i, s)| {
            let err = fs::read_to_string(env.path(&format!("burst-err.{i}"))).unwrap();
            (s.unwrap(), err)
        })
        .collect()
}

/// Panics, with the first errors, unless every process of a burst succeeded.
fn all_succeeded(what: &str, results: &[(ExitStatus, String)]) {
    let failed: Vec<&String> = results
        .iter()
        .filter(|(s, _)| !s.success())
        .map(|(_, e)| e)
        .collect();
    assert!(
        failed.is_empty(),
        "{what}: {} of {} failed; the first errors:\n{}",
        failed.len(),
        results.len(),
        failed
            .iter()
            .take(5)
            .map(|e| e.trim())
            .collect::<Vec<_>>()
            .join("\n")
    );
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// A PostgreSQL server of this test's own, which it may restart (the shared test server may
/// not be: other tests use it at the same time). Built with the programs of the shared one
/// (`COFFER_TEST_PG_BIN`, from `scripts/pg.sh`), with its settings (`max_connections=200`),
/// on 127.0.0.1 only, trusting local logins for the few seconds it lives.
struct OwnServer {
    dir: TempDir,
    bin: PathBuf,
    port: u16,
}

impl OwnServer {
    /// `None` (skip) where there is no test server at all.
    fn start() -> Option<Self> {
        testing::admin_url()?;
        let bin =
            PathBuf::from(std::env::var_os("COFFER_TEST_PG_BIN").expect(
                "COFFER_TEST_PG_BIN (scripts/pg.sh exports it) names the server's programs",
            ));
        let dir = tempfile::Builder::new()
            .prefix("coffer-pg-own.")
            .tempdir_in("/tmp")
            .unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        if is_root() {
            let chown = std::process::Command::new("chown")
                .arg("postgres")
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(chown.success(), "chown postgres {}", dir.path().display());
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let server = Self { dir, bin, port };
        let data = server.data();
        server.run(
            "initdb",
            &[
                "-D",
                &data,
                "-U",
                "coffer",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            ],
        );
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {port} -k {} -c fsync=on -c max_connections=200",
            server.dir.path().display()
        );
        server.run(
            "pg_ctl",
            &[
                "-D",
                &data,
                "-l",
                &server.log(),
                "-w",
                "-t",
                "60",
                "-o",
                &options,
                "start",
            ],
        );
        run_sql(&server.url("postgres"), "CREATE DATABASE coffer");
        Some(server)
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn log(&self) -> String {
        self.dir.path().join("server.log").display().to_string()
    }

    fn url(&self, db: &str) -> String {
        format!("postgres://coffer@127.0.0.1:{}/{db}", self.port)
    }

    /// Runs one of the server's programs (as `postgres` when the tests run as root:
    /// PostgreSQL refuses to run as root).
    fn run(&self, program: &str, args: &[&str]) {
        let path = self.bin.join(program);
        let mut c = if is_root() {
            let mut c = std::process::Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&path);
            c
        } else {
            std::process::Command::new(&path)
        };
        let out = c
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{program} {args:?}: {}{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            fs::read_to_string(self.log()).unwrap_or_default()
        );
    }

    /// `pg_ctl restart` (a fast shutdown, then a start with the same options), waiting until
    /// the server accepts connections.
    fn restart(&self) {
        let (data, log) = (self.data(), self.log());
        self.run(
            "pg_ctl",
            &[
                "-D", &data, "-l", &log, "-m", "fast", "-w", "-t", "60", "restart",
            ],
        );
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        let data = self.data();
        let mut c = if is_root() {
            let mut c = std::process::Command::new("runuser");
            c.args(["-u", "postgres", "--"])
                .arg(self.bin.join("pg_ctl"));
            c
        } else {
            std::process::Command::new(self.bin.join("pg_ctl"))
        };
        let _ = c
            .args(["-D", &data, "-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// The case: 100 `exec` of 100 secure values each, started at once against a server
/// restarted just before. Every one succeeds, and the audit chain holds exactly one entry per
/// value read on top of what was there. Two stores, each written by 100 `put` one after the
/// other as a user would, then one burst each after a restart: whether the old code
/// deadlocked depended on how the burst's appends overlapped as the head rows moved between
/// pages, which one burst did not always show.
#[test]
fn a_hundred_execs_against_a_restarted_server_all_succeed() {
    const STORES: usize = 2;
    let Some(server) = OwnServer::start() else {
        return;
    };
    let env = Env::new();
    let stores: Vec<(String, String)> = (0..STORES)
        .map(|n| {
            run_sql(
                &server.url("postgres"),
                &format!("CREATE DATABASE store{n}"),
            );
            (format!("h{n}"), server.url(&format!("store{n}")))
        })
        .collect();
    std::thread::scope(|s| {
        for (home, url) in &stores {
            let env = &env;
            s.spawn(move || {
                ok_in(env, home, url, "init");
                for i in 0..100 {
                    put_in(
                        env,
                        home,
                        url,
                        &format!("/f/p{i}"),
                        &format!("value {i}"),
                        "",
                    );
                }
            });
        }
    });
    for (home, url) in &stores {
        let before = audit_entries_in(&env, home, url);
        server.restart();
        let started = Instant::now();
        let cmds = (0..100)
            .map(|_| {
                let mut c = coffer(&env, home, url);
                c.args(["exec", "--path", "/f", "--", "true"]);
                c
            })
            .collect();
        let results = burst(&env, cmds);
        eprintln!(
            "{url}: 100 exec of 100 values after a restart: {:.1} s",
            started.elapsed().as_secs_f64()
        );
        all_succeeded(&format!("{url}: exec after a restart"), &results);
        assert_eq!(audit_entries_in(&env, home, url), before + 100 * 100);
    }
}

/// Writers of every kind and readers at once on one store: puts of one name, `exec`, label
/// moves, rotations, removals and key rotations. All succeed; no version is lost or doubled;
/// the audit chain holds exactly one entry per write and per value read.
#[test]
fn concurrent_writers_and_readers_all_succeed_and_lose_nothing() {
    const ROUNDS: usize = 3;
    let Some(url) = fresh_database() else { return };
    let env = Env::new();
    ok(&env, &url, "init");
    for i in 1..=10 {
        put(&env, &url, &format!("/w/v{i}"), &format!("v{i}"), "");
    }
    put(&env, &url, "/w/hot", "hot-a", "");
    put(&env, &url, "/w/hot", "hot-b", "--overwrite");
    put(&env, &url, "/r/rot", "old", "");
    for r in 0..ROUNDS {
        for i in 0..5 {
            put(&env, &url, &format!("/r/rot{r}_{i}"), "old", "");
            put(&env, &url, &format!("/x/gone{r}_{i}"), "g", "");
        }
    }
    // What one rotation of a fresh name appends to the log.
    let n = audit_entries(&env, &url);
    ok(&env, &url, "rotate /r/rot --generate length=16,charset=hex");
    let per_rotation = audit_entries(&env, &url) - n;

    for r in 0..ROUNDS {
        let before = audit_entries(&env, &url);
        let mut cmds = Vec::new();
        for i in 0..20 {
            let file = format!("hot{r}_{i}");
            env.write(&file, format!("w{r}_{i}").as_bytes());
            let mut c = coffer(&env, "a", &url);
            c.args(["put", "/w/hot", "--overwrite", "--value-file", &file]);
            cmds.push(c);
            let mut c = coffer(&env, "a", &url);
            c.args(["exec", "--path", "/w", "--", "true"]);
            cmds.push(c);
        }
        for i in 0..10 {
            let mut c = coffer(&env, "a", &url);
            c.args(["label", &format!("/w/hot:{}", 1 + i % 2), "blue"]);
            cmds.push(c);
        }
        for i in 0..5 {
            let mut c = coffer(&env, "a", &url);
            c.args([
                "rotate",
                &format!("/r/rot{r}_{i}"),
                "--generate",
                "length=16,charset=hex",
            ]);
            cmds.push(c);
            let mut c = coffer(&env, "a", &url);
            c.args(["rm", &format!("/x/gone{r}_{i}")]);
            cmds.push(c);
            let mut c = coffer(&env, "a", &url);
            c.args(["key", "rotate", "params"]);
            cmds.push(c);
        }
        let started = Instant::now();
        let results = burst(&env, cmds);
        eprintln!(
            "round {r}: {} concurrent writers and readers: {:.1} s",
            results.len(),
            started.elapsed().as_secs_f64()
        );
        all_succeeded(&format!("round {r}: writers and readers"), &results);
        // 20 puts, 20 exec of 11 values, 10 labels, 5 rotations, 5 rm, 5 key rotations.
        let expected = before + 20 + 20 * 11 + 10 + 5 * per_rotation + 5 + 5;
        assert_eq!(audit_entries(&env, &url), expected, "round {r}");
    }

    // /w/hot: versions 1..=62, each once; 3..=62 hold each value written, once.
    let history = ok(&env, &url, "history /w/hot --output json");
    let versions: Vec<u64> = history
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["version"]
                .as_u64()
                .unwrap()
        })
        .collect();
    let written = u64::try_from(20 * ROUNDS).unwrap();
    assert_eq!(versions, (1..=2 + written).collect::<Vec<_>>(), "{history}");
    let mut values: Vec<String> = (3..=2 + written)
        .map(|v| {
            let out = coffer(&env, "a", &url)
                .args(["get", &format!("/w/hot:{v}")])
                .stdout(Stdio::piped())
                .output()
                .unwrap();
            assert!(out.status.success());
            String::from_utf8(out.stdout).unwrap().trim_end().to_owned()
        })
        .collect();
    values.sort();
    let mut want: Vec<String> = (0..ROUNDS)
        .flat_map(|r| (0..20).map(move |i| format!("w{r}_{i}")))
        .collect();
    want.sort();
    assert_eq!(values, want);
    for r in 0..ROUNDS {
        for i in 0..5 {
            let name = format!("/r/rot{r}_{i}");
            let h = ok(&env, &url, &format!("history {name} --output json"));
            assert_eq!(h.lines().count(), 2, "{name}: {h}");
        }
    }
    let key = ok(&env, &url, "key show params");
    let active = format!("active version:      {}", 1 + 5 * ROUNDS);
    assert!(key.contains(&active), "{key}");
}

/// A session that takes the same row locks as a `put` in the opposite order makes the server
/// pick the `put` as the deadlock's victim (it waited first); coffer retries the whole
/// transaction, which then succeeds.
#[test]
fn a_deadlock_is_retried_not_reported() {
    let Some(url) = fresh_database() else { return };
    let env = Env::new();
    ok(&env, &url, "init");
    put(&env, &url, "/d/p", "one", "");
    block_on_local(async {
        let other = connect(&url).await;
        // This session never looks for deadlocks itself: the put's backend does.
        other
            .batch_execute("SET deadlock_timeout = '1h'; BEGIN")
            .await
            .unwrap();
        other
            .batch_execute("SELECT * FROM params WHERE name = '/d/p' FOR UPDATE")
            .await
            .unwrap();
        env.write("two", b"two");
        let mut put = coffer(&env, "a", &url);
        let err = fs::File::create(env.path("put-err")).unwrap();
        let mut child = put
            .args(["put", "/d/p", "--overwrite", "--value-file", "two"])
            .stderr(err)
            .spawn()
            .unwrap();
        // The put holds the store's write lock and waits for the row.
        wait_for_lock_wait(&url, &mut child, &env.path("put-err")).await;
        // Now this session waits for the write lock: a cycle, which the put's backend finds
        // first (it has waited longer) and breaks by failing the put's transaction.
        other
            .batch_execute("SELECT * FROM meta WHERE key = 'audit_count' FOR UPDATE")
            .await
            .unwrap();
        other.batch_execute("COMMIT").await.unwrap();
        let status = wait(child).await;
        let err = fs::read_to_string(env.path("put-err")).unwrap();
        assert!(status.success(), "{err}");
    });
    assert_eq!(ok(&env, &url, "get /d/p"), "two\n");
}

/// With `lock_timeout` set for coffer's sessions (a DBA's setting), a write lock held by
/// another session for longer fails coffer's statements with 55P03; coffer retries until the
/// lock is free.
#[test]
fn a_lock_timeout_is_retried() {
    let Some(url) = fresh_database() else { return };
    let env = Env::new();
    ok(&env, &url, "init");
    put(&env, &url, "/t/p", "one", "");
    let before = audit_entries(&env, &url);
    let db = url.rsplit('/').next().unwrap();
    run_sql(
        &url,
        &format!("ALTER DATABASE {db} SET lock_timeout = '500ms'"),
    );
    block_on_local(async {
        let other = connect(&url).await;
        other.batch_execute("BEGIN").await.unwrap();
        other
            .batch_execute("SELECT * FROM meta WHERE key = 'audit_count' FOR UPDATE")
            .await
            .unwrap();
        let err = fs::File::create(env.path("exec-err")).unwrap();
        let mut child = coffer(&env, "a", &url)
            .args(["exec", "--path", "/t", "--", "true"])
            .stderr(err)
            .spawn()
            .unwrap();
        // The exec's audit append waits for the lock; once it has waited longer than the
        // timeout, its statement has failed at least once.
        wait_for_lock_wait(&url, &mut child, &env.path("exec-err")).await;
        tokio::time::sleep(Duration::from_millis(800)).await;
        other.batch_execute("COMMIT").await.unwrap();
        let status = wait(child).await;
        let err = fs::read_to_string(env.path("exec-err")).unwrap();
        assert!(status.success(), "{err}");
    });
    assert_eq!(audit_entries(&env, &url), before + 1);
}

/// A role limited to one connection, which another session holds: coffer's login is refused
/// with 53300 (too many connections) until that session ends, and coffer waits for it.
#[test]
fn no_free_connection_is_retried() {
    let Some(admin) = testing::admin_url() else {
        return;
    };
    let Some(url) = fresh_database() else { return };
    let db = url.rsplit('/').next().unwrap();
    let role = format!("{db}_one");
    run_sql(
        &admin,
        &format!(
            "CREATE ROLE {role} LOGIN PASSWORD '{pw}' CONNECTION LIMIT 1;
             ALTER DATABASE {db} OWNER TO {role}",
            pw = std::env::var("PGPASSWORD").unwrap_or_default()
        ),
    );
    let url = url.replacen("postgres://coffer@", &format!("postgres://{role}@"), 1);
    let env = Env::new();
    ok(&env, &url, "init");
    put(&env, &url, "/c/p", "one", "");
    // coffer logs in through a proxy that counts its logins.
    let proxy = Proxy::new(&url, 0);
    block_on_local(async {
        let held = connect(&url).await;
        held.batch_execute("SELECT 1").await.unwrap();
        let err = fs::File::create(env.path("get-err")).unwrap();
        let mut child = coffer(&env, "a", &proxy.url)
            .args(["get", "/c/p"])
            .stderr(err)
            .spawn()
            .unwrap();
        // Until coffer has been refused and come back (or has given up).
        let deadline = Instant::now() + Duration::from_secs(60);
        while proxy.logins.load(Ordering::SeqCst) < 2 && child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "coffer never came back");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        drop(held);
        let status = wait(child).await;
        let err = fs::read_to_string(env.path("get-err")).unwrap();
        assert!(status.success(), "{err}");
    });
}

/// A server that answers the first logins with 57P03 ("the database system is starting up",
/// as one does right after a start or a crash): coffer tries again and gets in.
#[test]
fn a_server_that_is_starting_up_is_waited_for() {
    let Some(url) = fresh_database() else { return };
    let env = Env::new();
    ok(&env, &url, "init");
    put(&env, &url, "/s/p", "one", "");
    let proxy = Proxy::new(&url, 3);
    assert_eq!(ok(&env, &proxy.url, "get /s/p"), "one\n");
    assert_eq!(proxy.logins.load(Ordering::SeqCst), 4);
}

/// A TCP proxy to the test server that counts the connections made through it and answers
/// the first `refuse` of them as a starting server does (57P03).
struct Proxy {
    url: String,
    logins: Arc<AtomicUsize>,
}

impl Proxy {
    fn new(url: &str, refuse: usize) -> Self {
        let rest = url.strip_prefix("postgres://").unwrap();
        let (user, rest) = rest.split_once('@').unwrap();
        let (server, db) = rest.split_once('/').unwrap();
        let server = server.to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let logins = Arc::new(AtomicUsize::new(0));
        let count = logins.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(mut client) = client else { return };
                if count.fetch_add(1, Ordering::SeqCst) < refuse {
                    starting_up(&mut client);
                    continue;
                }
                let Ok(upstream) = TcpStream::connect(&server) else {
                    return;
                };
                let (mut c2, mut u2) = (client.try_clone().unwrap(), upstream.try_clone().unwrap());
                let mut upstream = upstream;
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut c2, &mut u2);
                    let _ = u2.shutdown(std::net::Shutdown::Write);
                });
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut upstream, &mut client);
                    let _ = client.shutdown(std::net::Shutdown::Write);
                });
            }
        });
        Self {
            url: format!("postgres://{user}@127.0.0.1:{port}/{db}"),
            logins,
        }
    }
}

/// Reads a startup message and answers it as a starting server does.
fn starting_up(client: &mut TcpStream) {
    let mut len = [0u8; 4];
    if client.read_exact(&mut len).is_err() {
        return;
    }
    let mut startup = vec![0u8; usize::try_from(u32::from_be_bytes(len)).unwrap() - 4];
    if client.read_exact(&mut startup).is_err() {
        return;
    }
    let mut fields = Vec::new();
    for (code, text) in [
        (b'S', "FATAL"),
        (b'V', "FATAL"),
        (b'C', "57P03"),
        (b'M', "the database system is starting up"),
    ] {
        fields.push(code);
        fields.extend_from_slice(text.as_bytes());
        fields.push(0);
    }
    fields.push(0);
    let mut msg = vec![b'E'];
    msg.extend_from_slice(&u32::try_from(fields.len() + 4).unwrap().to_be_bytes());
    msg.extend_from_slice(&fields);
    let _ = client.write_all(&msg);
}

/// A session of the test's own on the database at `url`.
async fn connect(url: &str) -> tokio_postgres::Client {
    let mut config: tokio_postgres::Config = url.parse().unwrap();
    if let Some(p) = std::env::var_os("PGPASSWORD") {
        config.password(p.to_string_lossy().as_bytes());
    }
    let (client, conn) = config.connect(tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(conn);
    client
}

/// Waits until a `coffer` session of the database at `url` waits for a lock (`child`, whose
/// stderr goes to `err`, must not end meanwhile). Asks in a session of its own: a transaction
/// sees one snapshot of `pg_stat_activity`.
async fn wait_for_lock_wait(url: &str, child: &mut Child, err: &Path) {
    let c = connect(url).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let row = c
            .query_one(
                "SELECT count(*) FROM pg_stat_activity
                 WHERE datname = current_database() AND application_name = 'coffer'
                   AND wait_event_type = 'Lock'",
                &[],
            )
            .await
            .unwrap();
        if row.get::<_, i64>(0) > 0 {
            return;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "coffer ended ({status}) before it waited for the lock: {}",
                fs::read_to_string(err).unwrap()
            );
        }
        assert!(
            Instant::now() < deadline,
            "coffer never waited for the lock"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits for `child` off the runtime's threads (they drive the test's sessions meanwhile).
async fn wait(mut child: Child) -> ExitStatus {
    tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap()
}

fn block_on_local<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}
