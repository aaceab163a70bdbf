//! `coffer exec` and `coffer export`: parameters into a command's environment, or into text.

use super::*;

use std::os::unix::process::ExitStatusExt as _;

/// A scratch directory with an initialised `COFFER_HOME` holding a few parameters.
struct Store {
    env: Env,
}

impl Store {
    fn new() -> Self {
        let s = Self { env: Env::new() };
        s.sh("init").success();
        s.put("/app/prod/db-password", "hunter2 'quoted' $HOME", "");
        s.put("/app/prod/log.level", "debug", "--type string");
        s.put("/app/prod/db/host", "db.internal", "--type string");
        s.put("/app/common/log.level", "info", "--type string");
        s
    }

    fn cmd(&self) -> Command {
        let mut c = self.env.cmd();
        c.env("COFFER_HOME", self.env.path("home"));
        c
    }

    fn sh(&self, args: &str) -> assert_cmd::assert::Assert {
        self.cmd().args(words(args)).assert()
    }

    fn put(&self, name: &str, value: &str, flags: &str) {
        self.cmd()
            .args(words(&format!("put {name} {flags}")))
            .write_stdin(format!("{value}\n"))
            .assert()
            .success();
    }

    /// `coffer ARGS -- sh -c SCRIPT`.
    fn exec(&self, args: &str, script: &str) -> assert_cmd::assert::Assert {
        self.cmd()
            .args(words(args))
            .args(["--", "sh", "-c", script])
            .assert()
    }

    fn sql(&self, sql: &str) {
        let db = rusqlite::Connection::open(self.env.path("home/coffer.db")).unwrap();
        db.execute_batch(sql).unwrap();
    }
}

fn out(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8(a.get_output().stdout.clone()).unwrap()
}

#[test]
fn environment_contents_and_path_order() {
    let s = Store::new();
    let a = s
        .exec(
            "exec --path /app/common --path /app/prod",
            r#"printf '%s|%s|%s|%s' "$DB_PASSWORD" "$LOG_LEVEL" "${DB_HOST-unset}" "${HOME:+home}""#,
        )
        .success();
    // Secure value decrypted, later path wins, one level only, inherited environment kept.
    assert_eq!(out(&a), "hunter2 'quoted' $HOME|debug|unset|home");
    let a = s
        .exec("exec -r --path /app/prod", r#"printf '%s' "$DB_HOST""#)
        .success();
    assert_eq!(out(&a), "db.internal");
    // The values are in the environment only, never in the command's arguments.
    let a = s
        .exec("exec --path /app/prod", "tr '\\0' ' ' < /proc/$$/cmdline")
        .success();
    assert!(!out(&a).contains("hunter2"), "{}", out(&a));
}

#[test]
fn pristine_starts_from_nothing() {
    let s = Store::new();
    let a = s
        .cmd()
        .env("SOMETHING_INHERITED", "1")
        .args(words("exec --pristine --path /app/prod -- /usr/bin/env"))
        .assert()
        .success();
    let text = out(&a);
    let mut lines: Vec<&str> = text.lines().map(|l| l.split('=').next().unwrap()).collect();
    lines.sort_unstable();
    assert_eq!(lines, ["DB_PASSWORD", "LOG_LEVEL"]);
}

#[test]
fn strict_refuses_clashes_and_expired_values() {
    let s = Store::new();
    // /app/prod/db/host and /app/prod/db-host both give DB_HOST under -r.
    s.put("/app/prod/db-host", "other", "--type string");
    s.exec("exec -r --path /app/prod", r#"printf '%s' "$DB_HOST""#)
        .success()
        .stderr(contains("clash"));
    s.exec("exec -r --strict --path /app/prod", "true")
        .code(1)
        .stderr(contains("both give the variable DB_HOST"));
    s.sql("UPDATE param_versions SET expires_at = 946684800 WHERE name = '/app/prod/log.level'");
    reseal(&s.env.path("home"), None);
    let a = s
        .exec(
            "exec --path /app/prod",
            r#"printf '%s' "${LOG_LEVEL-unset}""#,
        )
        .success()
        .stderr(contains("expired"));
    assert_eq!(out(&a), "unset");
    s.exec("exec --strict --path /app/prod", "true")
        .code(1)
        .stderr(contains("expired at 2000-01-01T00:00:00Z"));
}

#[test]
fn exit_status_signals_and_the_process_itself_pass_through() {
    let s = Store::new();
    s.exec("exec --path /app/prod", "exit 42").code(42);
    let a = s.exec("exec --path /app/prod", "kill -TERM $$");
    assert_eq!(a.get_output().status.signal(), Some(15));
    // The command replaces coffer: it runs as the process coffer started as.
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_coffer"));
    c.env("COFFER_HOME", s.env.path("home"))
        .env_remove("RUST_LOG")
        .args(words("exec --path /app/prod -- sh -c"))
        .arg("echo $$")
        .stdout(std::process::Stdio::piped());
    let spawned = c.spawn().unwrap();
    let pid = spawned.id();
    let o = spawned.wait_with_output().unwrap();
    assert_eq!(String::from_utf8(o.stdout).unwrap().trim(), pid.to_string());
    s.sh("exec --path /app/prod -- no-such-command-here")
        .code(127)
        .stderr(contains("command not found"));
    s.sh("exec --path /app/prod -- /etc/passwd").code(126);
    s.sh("exec --path /app/prod").code(2);
    s.sh("exec -- true").code(2);
    s.sh("exec --path /bad*name -- true").code(2);
}

#[test]
fn export_formats() {
    let s = Store::new();
    let a = s.sh("export --path /app/prod").success();
    assert_eq!(
        out(&a),
        "DB_PASSWORD=\"hunter2 'quoted' \\$HOME\"\nLOG_LEVEL=\"debug\"\n"
    );
    let a = s.sh("export --path /app/prod --format json").success();
    let v: serde_json::Value = serde_json::from_str(&out(&a)).unwrap();
    assert_eq!(v["DB_PASSWORD"], "hunter2 'quoted' $HOME");
    // Shell lines evaluate back to the same values.
    let a = s.sh("export --path /app/prod --format shell").success();
    let script = format!("{}\nprintf '%s' \"$DB_PASSWORD\"", out(&a));
    let o = std::process::Command::new("sh")
        .args(["-c", &script])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8(o.stdout).unwrap(),
        "hunter2 'quoted' $HOME"
    );
    let a = s.sh("export --path /app/prod --format yaml").success();
    assert!(out(&a).contains("\"LOG_LEVEL\": \"debug\""));
}
