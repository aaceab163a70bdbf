//! `coffer rotate NAME`: staging, hooks, promotion, failures, timeouts and crashes, on the
//! SQLite store and on PostgreSQL.

use super::*;

use std::io::{BufRead as _, BufReader};
use std::os::unix::process::ExitStatusExt as _;
use std::time::{Duration, Instant};

impl Store {
    /// `coffer rotate NAME ARGS…` (hooks as separate arguments, so they may hold spaces).
    fn rotate(&self, name: &str, args: &[&str]) -> assert_cmd::assert::Assert {
        self.cmd().arg("rotate").arg(name).args(args).assert()
    }

    fn read(&self, file: &str) -> String {
        String::from_utf8(self.env.read(file)).unwrap()
    }

    fn labels(&self, name: &str) -> Vec<(i64, Vec<String>)> {
        self.json_lines(&format!("history {name}"))
            .iter()
            .map(|v| {
                (
                    v["version"].as_i64().unwrap(),
                    v["labels"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|l| l.as_str().unwrap().to_owned())
                        .collect(),
                )
            })
            .collect()
    }
}

fn labelled(versions: &[(i64, Vec<String>)], label: &str) -> Option<i64> {
    versions
        .iter()
        .find(|(_, ls)| ls.iter().any(|l| l == label))
        .map(|(v, _)| *v)
}

fn stderr(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&a.get_output().stderr).into_owned()
}

const SET: &str = "cat > set.txt; env | grep '^COFFER_ROTATE_' | sort > env.txt";
const TEST: &str = "cat > test.txt";

fn promotes_after_both_hooks(s: &Store) {
    s.put("put /app/db-password", "first").success();
    let out = s
        .rotate(
            "/app/db-password",
            &[
                "--generate",
                "length=24,charset=hex",
                "--set-hook",
                SET,
                "--test-hook",
                TEST,
            ],
        )
        .success();
    assert_eq!(
        String::from_utf8_lossy(&out.get_output().stdout),
        "rotated /app/db-password: version 2 is current, version 1 previous\n"
    );
    let value = s.get("/app/db-password");
    let value = value.trim_end();
    assert_eq!(value.len(), 24);
    assert!(value.bytes().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(s.read("set.txt"), value);
    assert_eq!(s.read("test.txt"), value);
    assert_eq!(
        s.read("env.txt"),
        "COFFER_ROTATE_NAME=/app/db-password\nCOFFER_ROTATE_OLD_VERSION=1\n\
         COFFER_ROTATE_STEP=set\nCOFFER_ROTATE_VERSION=2\n"
    );
    assert_eq!(s.get("/app/db-password:previous"), "first\n");
    let labels = s.labels("/app/db-password");
    assert_eq!(labelled(&labels, "current"), Some(2));
    assert_eq!(labelled(&labels, "previous"), Some(1));
    assert_eq!(labelled(&labels, "pending"), None);
    // exec reads `current` as well.
    let out = s
        .cmd()
        .args([
            "exec",
            "--path",
            "/app",
            "--",
            "sh",
            "-c",
            "printf %s \"$DB_PASSWORD\"",
        ])
        .assert()
        .success();
    assert_eq!(String::from_utf8_lossy(&out.get_output().stdout), value);
    // A value from stdin; JSON out.
    let out = s
        .cmd()
        .args([
            "--output",
            "json",
            "rotate",
            "/app/db-password",
            "--test-hook",
            TEST,
        ])
        .write_stdin("typed\n")
        .assert()
        .success();
    let j: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(j["type"], "rotation");
    assert_eq!(
        (j["version"].as_i64(), j["previous"].as_i64()),
        (Some(3), Some(2))
    );
    assert_eq!(j["hooks"], serde_json::json!(["test"]));
    assert_eq!(s.read("test.txt"), "typed");
    // A plain put moves `current` along.
    s.put("put /app/db-password --overwrite", "by hand")
        .success();
    assert_eq!(s.get("/app/db-password"), "by hand\n");
    assert_eq!(labelled(&s.labels("/app/db-password"), "current"), Some(4));
}

#[test]
fn rotation_promotes_after_both_hooks() {
    promotes_after_both_hooks(&Store::new());
}

#[test]
fn rotation_promotes_after_both_hooks_on_postgres() {
    if let Some(s) = Store::pg() {
        promotes_after_both_hooks(&s);
    }
}

fn failing_hooks(s: &Store) {
    s.put("put /db/pw", "v1").success();
    // The set hook fails: its output is shown, `current` stays, the new version is pending.
    s.env
        .write("set.sh", b"echo set-out; echo set-err >&2; exit 3\n");
    s.env.write("test.sh", b"cat > test.txt\n");
    let a = s
        .rotate(
            "/db/pw",
            &[
                "--generate",
                "--set-hook",
                "sh set.sh",
                "--test-hook",
                "sh test.sh",
            ],
        )
        .code(1);
    let e = stderr(&a);
    for want in [
        "set-out",
        "set-err",
        "the set hook exited with status 3",
        "version 2 of /db/pw stays `pending`",
        "`current` is still version 1",
        "coffer rotate /db/pw",
    ] {
        assert!(e.contains(want), "{want}: {e}");
    }
    assert_eq!(s.get("/db/pw"), "v1\n");
    let labels = s.labels("/db/pw");
    assert_eq!(labelled(&labels, "current"), Some(1));
    assert_eq!(labelled(&labels, "pending"), Some(2));
    let pending = s.get("/db/pw:pending");
    // A bare rerun resumes the same value with the hooks it was staged with (never
    // promoting without them); now the test hook fails after the set hook ran.
    s.env.write("set.sh", b"cat > set.txt\n");
    s.env.write("test.sh", b"echo nope; exit 1\n");
    let a = s.rotate("/db/pw", &[]).code(1);
    let e = stderr(&a);
    assert!(
        e.contains("resuming the rotation of /db/pw to version 2"),
        "{e}"
    );
    assert!(
        e.contains("the test hook exited with status 1") && e.contains("nope"),
        "{e}"
    );
    assert_eq!(format!("{}\n", s.read("set.txt")), pending);
    assert_eq!(s.get("/db/pw"), "v1\n");
    // Other hooks, another generator or a new value on a resume are refused; nothing runs.
    fs::remove_file(s.env.path("set.txt")).unwrap();
    for args in [
        &["--set-hook", "cat > set.txt"][..],
        &["--generate", "length=8"][..],
        &["--value-file", "test.sh"][..],
    ] {
        let a = s.rotate("/db/pw", args).code(1);
        let e = stderr(&a);
        assert!(
            e.contains("cannot resume the rotation of /db/pw to version 2")
                && e.contains("--discard-pending"),
            "{args:?}: {e}"
        );
    }
    assert!(!s.env.path("set.txt").exists());
    assert_eq!(s.get("/db/pw"), "v1\n");
    // The same hooks given again are fine. Fixed: the same version is promoted.
    s.env.write("test.sh", b"cat > test.txt\n");
    s.rotate(
        "/db/pw",
        &["--set-hook", "sh set.sh", "--test-hook", "sh test.sh"],
    )
    .success();
    assert_eq!(s.get("/db/pw"), pending);
    assert_eq!(format!("{}\n", s.read("test.txt")), pending);
    let labels = s.labels("/db/pw");
    assert_eq!(
        (labelled(&labels, "current"), labelled(&labels, "previous")),
        (Some(2), Some(1))
    );
    // --discard-pending drops a failed version and starts over.
    s.rotate("/db/pw", &["--generate", "--set-hook", "exit 1"])
        .code(1);
    s.rotate("/db/pw", &["--generate", "--discard-pending"])
        .success();
    let labels = s.labels("/db/pw");
    assert_eq!(
        (
            labelled(&labels, "current"),
            labelled(&labels, "previous"),
            labelled(&labels, "pending")
        ),
        (Some(4), Some(2), None)
    );
}

#[test]
fn failing_hooks_leave_current_and_are_resumed() {
    failing_hooks(&Store::new());
}

#[test]
fn failing_hooks_leave_current_and_are_resumed_on_postgres() {
    if let Some(s) = Store::pg() {
        failing_hooks(&s);
    }
}

/// A hook that hangs (its child too) is killed at the time limit, with its process group.
#[test]
fn a_hanging_hook_times_out_cleanly() {
    let s = Store::new();
    s.put("put /db/pw", "v1").success();
    let start = Instant::now();
    let a = s
        .rotate(
            "/db/pw",
            &[
                "--generate",
                "--hook-timeout",
                "2s",
                "--set-hook",
                "echo $$ > hook.pid; sleep 600 & sleep 600",
            ],
        )
        .code(1);
    assert!(start.elapsed() < Duration::from_secs(60));
    let e = stderr(&a);
    assert!(
        e.contains("ran past its time limit of 2s and was killed"),
        "{e}"
    );
    let pid = s.read("hook.pid");
    let gone = (0..50).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        !Path::new(&format!("/proc/{}", pid.trim())).exists()
    });
    assert!(gone, "the hook's shell {pid} still runs");
    assert_eq!(s.get("/db/pw"), "v1\n");
    assert_eq!(labelled(&s.labels("/db/pw"), "pending"), Some(2));
    s.sh("rotate /db/pw --hook-timeout 0s").code(2);
    s.sh("rotate /db/pw --hook-timeout soon").code(2);
}

/// Waits until `file` exists in the scratch directory.
fn wait_for(s: &Store, file: &str) {
    let path = s.env.path(file);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !path.exists() {
        assert!(Instant::now() < deadline, "{file} never appeared");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn killed_rotations(s: &Store) {
    s.put("put /db/pw", "v1").success();
    // SIGKILL while the set hook runs: the hook dies with coffer; the rerun resumes the
    // same version with the same hook and completes.
    s.env.write("set.sh", b"echo $$ > hook.pid; sleep 600\n");
    let mut child = s
        .child()
        .current_dir(s.env.path("."))
        .args(["rotate", "/db/pw", "--generate", "--set-hook", "sh set.sh"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(s, "hook.pid");
    std::thread::sleep(Duration::from_millis(100));
    child.kill().unwrap();
    assert_eq!(child.wait().unwrap().signal(), Some(9));
    let pid = s.read("hook.pid");
    let gone = (0..100).any(|_| {
        std::thread::sleep(Duration::from_millis(50));
        !Path::new(&format!("/proc/{}", pid.trim())).exists()
    });
    assert!(gone, "the hook {} outlived a killed coffer", pid.trim());
    assert_eq!(s.get("/db/pw"), "v1\n");
    let pending = s.get("/db/pw:pending");
    s.env.write("set.sh", b"cat > set.txt\n");
    s.rotate("/db/pw", &[]).success();
    assert_eq!(s.get("/db/pw"), pending);
    assert_eq!(format!("{}\n", s.read("set.txt")), pending);

    // SIGKILL inside the promoting transaction: nothing is promoted; the rerun completes.
    let mut child = s
        .child()
        .current_dir(s.env.path("."))
        .args(["rotate", "/db/pw", "--generate"])
        .env("COFFER_TEST_PAUSE_MS", "3000")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while err.read_line(&mut line).unwrap() > 0 {
        if line.contains("coffer test pause: promote: in transaction") {
            break;
        }
        line.clear();
    }
    assert!(
        line.contains("promote"),
        "never reached the promotion: {line}"
    );
    child.kill().unwrap();
    assert_eq!(child.wait().unwrap().signal(), Some(9));
    assert_eq!(
        s.get("/db/pw"),
        pending,
        "a killed promotion changed `current`"
    );
    let labels = s.labels("/db/pw");
    assert_eq!(labelled(&labels, "pending"), Some(3));
    let staged = s.get("/db/pw:pending");
    s.sh("rotate /db/pw").success();
    assert_eq!(s.get("/db/pw"), staged);
    let labels = s.labels("/db/pw");
    assert_eq!(
        (labelled(&labels, "current"), labelled(&labels, "previous")),
        (Some(3), Some(2))
    );
    s.sh("audit verify").success();
}

#[test]
#[cfg_attr(
    not(feature = "test-pause"),
    ignore = "stops coffer at each step with the test-pause feature (scripts/test.sh turns it on)"
)]
fn killed_rotations_resume() {
    killed_rotations(&Store::new());
}

#[test]
#[cfg_attr(
    not(feature = "test-pause"),
    ignore = "stops coffer at each step with the test-pause feature (scripts/test.sh turns it on)"
)]
fn killed_rotations_resume_on_postgres() {
    if let Some(s) = Store::pg() {
        killed_rotations(&s);
    }
}

#[test]
fn bad_rotations_change_nothing() {
    let s = Store::new();
    s.rotate("/no/such", &["--generate"])
        .code(1)
        .stderr(contains("no parameter named /no/such").and(contains("coffer put /no/such")));
    s.put("put /db/pw", "v1").success();
    for (args, msg) in [
        (&["--generate", "length=0"][..], "length=0"),
        (&["--generate", "charset=emoji"][..], "charset=emoji"),
        (
            &["--generate", "", "--value-file", "x"][..],
            "cannot be used with",
        ),
    ] {
        s.rotate("/db/pw", args).code(2).stderr(contains(msg));
    }
    // An empty value is refused before anything is written.
    s.cmd()
        .args(["rotate", "/db/pw"])
        .write_stdin("\n")
        .assert()
        .code(2)
        .stderr(contains("empty"));
    assert_eq!(s.versions("/db/pw"), vec![1]);
    s.sh("rm /db/pw").success();
    s.rotate("/db/pw", &["--generate"])
        .code(1)
        .stderr(contains("is deleted"));
    // The generated value is never printed or logged.
    s.sh("restore /db/pw").success();
    let a = s
        .cmd()
        .env("RUST_LOG", "coffer=trace")
        .args(["rotate", "/db/pw", "--generate", "length=40"])
        .assert()
        .success();
    let value = s.get("/db/pw");
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&a.get_output().stdout),
        stderr(&a)
    );
    assert!(!all.contains(value.trim_end()), "{all}");
}

impl Store {
    /// Runs `sql` on the store's database (SQLite or PostgreSQL).
    pub(super) fn run_sql(&self, sql: &str) {
        match &self.url {
            None => self.db().execute_batch(sql).unwrap(),
            #[cfg(not(feature = "postgres"))]
            Some(url) => panic!("{url}: this build has no PostgreSQL stores"),
            #[cfg(feature = "postgres")]
            Some(url) => tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(coffer::backend::postgres::testing::run_sql(url, sql))
                .unwrap(),
        }
    }

    /// Makes every schedule due now.
    fn make_due(&self) {
        self.run_sql("UPDATE param_rotations SET next_due = 0 WHERE every_secs IS NOT NULL");
    }

    fn due(&self) -> (bool, Value) {
        let out = self.cmd().args(["rotate", "--due"]).output().unwrap();
        (
            out.status.success(),
            serde_json::from_slice(&out.stdout).unwrap(),
        )
    }
}

fn schedules(s: &Store) {
    s.put("put /svc/token", "t1").success();
    s.put("put /svc/other", "o1").success();
    // --every stores the plan and rotates now.
    s.rotate(
        "/svc/token",
        &[
            "--every",
            "30d",
            "--generate",
            "length=20,charset=base64",
            "--set-hook",
            "cat > set.txt; echo x >> runs.txt",
        ],
    )
    .success();
    assert_eq!(s.versions("/svc/token"), vec![1, 2]);
    s.rotate("/svc/other", &["--every", "30d"])
        .code(2)
        .stderr(contains("needs --generate"));
    // Nothing is due yet.
    let (ok, report) = s.due();
    assert!(ok);
    assert_eq!(report["type"], "rotate_due");
    assert_eq!(report["rotated"], serde_json::json!([]));
    // Due: rotated with the stored generator and hook, and due again 30 days on.
    s.make_due();
    let (ok, report) = s.due();
    assert!(ok, "{report}");
    assert_eq!(report["rotated"][0]["name"], "/svc/token");
    assert_eq!(report["rotated"][0]["version"], 3);
    assert_eq!(report["rotated"][0]["previous"], 2);
    let value = s.get("/svc/token");
    assert_eq!(value.trim_end().len(), 20);
    assert_eq!(format!("{}\n", s.read("set.txt")), value);
    assert_eq!(s.read("runs.txt").lines().count(), 2);
    let (_, report) = s.due();
    assert_eq!(report["rotated"], serde_json::json!([]));
    // A bare `rotate NAME` uses the stored plan too.
    s.sh("rotate /svc/token").success();
    assert_eq!(s.read("runs.txt").lines().count(), 3);
    // A plan edited in the database (a hook planted by whoever can write it) is refused,
    // and nothing runs.
    s.run_sql("UPDATE param_rotations SET set_hook = 'echo planted > planted.txt'");
    s.make_due();
    let (ok, report) = s.due();
    assert!(!ok);
    assert!(
        report["failed"][0]["error"]
            .as_str()
            .unwrap()
            .contains("changed outside coffer"),
        "{report}"
    );
    s.sh("rotate /svc/token")
        .code(1)
        .stderr(contains("changed outside coffer"));
    assert!(!s.env.path("planted.txt").exists());
    assert_eq!(s.versions("/svc/token").len(), 4);
    // --key cannot be stored with a schedule.
    s.rotate(
        "/svc/token",
        &["--every", "30d", "--generate", "", "--key", "aes:k32.bin"],
    )
    .code(2);
    // A failing scheduled rotation: reported with the hook's output, exit 1, still due.
    s.env
        .write("hook.sh", b"echo cannot reach the service; exit 7\n");
    s.rotate(
        "/svc/token",
        &[
            "--every",
            "30d",
            "--generate",
            "",
            "--set-hook",
            "sh hook.sh",
        ],
    )
    .code(1);
    s.make_due();
    let (ok, report) = s.due();
    assert!(!ok);
    assert_eq!(report["failed"][0]["name"], "/svc/token");
    assert!(
        report["failed"][0]["output"]
            .as_str()
            .unwrap()
            .contains("cannot reach the service")
    );
    let (ok, report) = s.due();
    assert!(!ok, "a failed rotation stays due: {report}");
    // A changed plan does not take over the pending version staged by the old one.
    s.rotate(
        "/svc/token",
        &[
            "--every",
            "30d",
            "--generate",
            "",
            "--set-hook",
            "cat > set.txt",
        ],
    )
    .code(1)
    .stderr(contains("cannot resume"));
    s.rotate(
        "/svc/token",
        &[
            "--every",
            "30d",
            "--generate",
            "",
            "--set-hook",
            "sh hook.sh",
        ],
    )
    .code(1);
    // Fixed hook: the pending version is resumed and promoted.
    s.env.write("hook.sh", b"cat > set.txt\n");
    s.make_due();
    let (ok, report) = s.due();
    assert!(ok, "{report}");
    assert_eq!(report["rotated"][0]["version"], 5);
    let (ok, report) = s.due();
    assert!(ok && report["rotated"] == serde_json::json!([]), "{report}");
    // off: no longer scheduled.
    s.sh("rotate /svc/token --every off")
        .success()
        .stdout(contains("removed the rotation schedule"));
    s.make_due();
    let (_, report) = s.due();
    assert_eq!(report["rotated"], serde_json::json!([]));
    s.sh("rotate /svc/token --every off").code(1);
    s.sh("audit verify").success();
}

#[test]
fn schedules_and_due() {
    schedules(&Store::new());
}

#[test]
fn schedules_and_due_on_postgres() {
    if let Some(s) = Store::pg() {
        schedules(&s);
    }
}

/// Two `rotate --due` runs at once rotate a due secret once; a manual rotation meanwhile is
/// refused while the lease is held.
fn racing_due_runs(s: &Store) {
    s.put("put /race/pw", "p1").success();
    s.rotate(
        "/race/pw",
        &[
            "--every",
            "1d",
            "--generate",
            "",
            "--set-hook",
            "echo x >> runs.txt; sleep 1",
        ],
    )
    .success();
    for round in 0..3 {
        s.make_due();
        let spawn = || {
            s.child()
                .current_dir(s.env.path("."))
                .args(["rotate", "--due"])
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap()
        };
        let (a, b) = (spawn(), spawn());
        let reports: Vec<Value> = [a, b]
            .into_iter()
            .map(|c| {
                let out = c.wait_with_output().unwrap();
                assert!(out.status.success());
                serde_json::from_slice(&out.stdout).unwrap()
            })
            .collect();
        let rotated: usize = reports
            .iter()
            .map(|r| r["rotated"].as_array().unwrap().len())
            .sum();
        assert_eq!(rotated, 1, "round {round}: {reports:?}");
        assert_eq!(s.read("runs.txt").lines().count(), round + 2);
        assert_eq!(s.versions("/race/pw").len(), round + 3);
    }
    // A manual rotation while a due run holds the lease: refused, nothing written. (A
    // slower hook this time, so the manual run surely comes while it holds the lease.)
    s.rotate(
        "/race/pw",
        &[
            "--every",
            "1d",
            "--generate",
            "",
            "--set-hook",
            "echo x >> runs.txt; sleep 4",
        ],
    )
    .success();
    s.make_due();
    let lines = s.read("runs.txt").lines().count();
    let mut busy = s
        .child()
        .current_dir(s.env.path("."))
        .args(["rotate", "--due"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while s.read("runs.txt").lines().count() == lines {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(20));
    }
    let versions = s.versions("/race/pw");
    s.rotate("/race/pw", &["--generate"])
        .code(1)
        .stderr(contains("is being rotated by another run"));
    assert!(busy.wait().unwrap().success());
    assert_eq!(s.versions("/race/pw").len(), versions.len());
}

#[test]
fn racing_due_runs_rotate_once() {
    racing_due_runs(&Store::new());
}

#[test]
fn racing_due_runs_rotate_once_on_postgres() {
    if let Some(s) = Store::pg() {
        racing_due_runs(&s);
    }
}

/// The worked example of `contrib/rotate-postgres`, for real: a PostgreSQL role's password
/// rotated by `ALTER ROLE` in the set hook and checked by logging in in the test hook.
#[test]
#[cfg(feature = "postgres")]
fn the_postgres_role_example_rotates_a_real_password() {
    let Some(admin) = coffer::backend::postgres::testing::admin_url() else {
        return;
    };
    let bin = std::env::var("COFFER_TEST_PG_BIN").expect("scripts/pg.sh sets COFFER_TEST_PG_BIN");
    let path = format!("{bin}:{}", std::env::var("PATH").unwrap_or_default());
    let role = format!("app_{}", std::process::id());
    let initial = "initial-Pw-1";
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(coffer::backend::postgres::testing::run_sql(
            &admin,
            &format!("CREATE ROLE {role} LOGIN PASSWORD '{initial}'"),
        ))
        .unwrap();
    let app_url = admin.replacen("coffer@", &format!("{role}@"), 1);
    // Logs in as the role with `password`: whether it worked.
    let login = |password: &str| {
        std::process::Command::new(format!("{bin}/psql"))
            .args([app_url.as_str(), "--no-psqlrc", "-tAc", "SELECT 1"])
            .env("PGPASSWORD", password)
            .env("PGCONNECT_TIMEOUT", "10")
            .output()
            .unwrap()
            .status
            .success()
    };
    assert!(login(initial));

    let s = Store::new();
    s.put("put /db/app-password", initial).success();
    let contrib = Path::new(env!("CARGO_MANIFEST_DIR")).join("../contrib/rotate-postgres");
    let set = format!("sh {}", contrib.join("set-password.sh").display());
    let test = format!("sh {}", contrib.join("test-password.sh").display());
    let rotate = |app_url: &str| {
        s.cmd()
            .env("PATH", &path)
            .env("PG_ADMIN_URL", &admin)
            .env("PG_ROLE", &role)
            .env("PG_APP_URL", app_url)
            .args([
                "rotate",
                "/db/app-password",
                "--generate",
                "length=32,charset=alnum",
                "--set-hook",
                &set,
                "--test-hook",
                &test,
                "--hook-timeout",
                "60s",
            ])
            .assert()
    };
    let a = rotate(&app_url).success();
    let e = stderr(&a);
    assert!(
        e.contains("running the set hook") && e.contains("running the test hook"),
        "{e}"
    );
    let new = s.get("/db/app-password");
    let new = new.trim_end();
    assert_eq!(new.len(), 32);
    assert!(login(new), "the role does not take the new password");
    assert!(!login(initial), "the old password still works");
    assert_eq!(s.get("/db/app-password:previous"), format!("{initial}\n"));

    // A test hook that cannot connect: `current` stays, and the rerun finishes the job.
    let wrong = app_url.replacen("/coffer", "/no_such_database", 1);
    rotate(&wrong)
        .code(1)
        .stderr(contains("the test hook exited"));
    let pending = s.get("/db/app-password:pending");
    assert_eq!(s.get("/db/app-password").trim_end(), new);
    assert!(
        login(pending.trim_end()),
        "the set hook ran before the test hook failed"
    );
    rotate(&app_url).success();
    assert_eq!(s.get("/db/app-password"), pending);
    assert!(!login(new));
}

/// SIGTERM to coffer while a hook runs: the hook's process group dies with it, and the next
/// run resumes the pending version.
#[test]
fn an_interrupted_rotation_takes_its_hook_along() {
    let s = Store::new();
    s.put("put /db/pw", "v1").success();
    s.env.write("set.sh", b"echo $$ > hook.pid; sleep 600\n");
    let child = s
        .child()
        .current_dir(s.env.path("."))
        .args(["rotate", "/db/pw", "--generate", "--set-hook", "sh set.sh"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(&s, "hook.pid");
    std::thread::sleep(Duration::from_millis(100));
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(143));
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(e.contains("killed 1 running hook"), "{e}");
    let pid = s.read("hook.pid");
    let gone = (0..50).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        !Path::new(&format!("/proc/{}", pid.trim())).exists()
    });
    assert!(gone, "the hook {pid} outlived coffer");
    assert_eq!(s.get("/db/pw"), "v1\n");
    s.env.write("set.sh", b"exit 0\n");
    s.sh("rotate /db/pw")
        .success()
        .stdout(contains("version 2 is current"));
}
