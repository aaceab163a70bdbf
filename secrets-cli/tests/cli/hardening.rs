//! Issue 13's promises that a killed process, a hostile writer of the store or a careless
//! sequence of commands must not break: reads never serve an untested value, hooks never
//! outlive coffer or run twice at once, scheduled hooks run where they were given, and no
//! core dump holds a secret.

use super::*;

use std::os::unix::process::{CommandExt as _, ExitStatusExt as _};
use std::process::Stdio;
use std::time::{Duration, Instant};

impl Store {
    fn stderr_of(&self, args: &[&str]) -> (Option<i32>, String, String) {
        let out = self.cmd().args(args).output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// `ulimit -c LIMIT`, then `coffer ARGS` (a shell's words) on this store, in its directory.
    fn with_core_limit(&self, limit: &str, args: &str) -> Output {
        let mut cmd = std::process::Command::new("sh");
        cmd.arg("-c")
            .arg(format!(
                "ulimit -c {limit} && exec {} {args}",
                env!("CARGO_BIN_EXE_coffer")
            ))
            .current_dir(self.env.path("."));
        for (k, v) in self.vars() {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        cmd.output().unwrap()
    }
}

/// Item 1: with version 2 left `pending` by a failed test hook, destroying version 1, or a
/// `current` label removed in the database, makes every read fail and say why; none
/// serves version 2 unless asked for it.
fn never_serves_pending(s: &Store) {
    s.put("put /h/pw", "tested").success();
    s.put("put /h/other --type string", "o").success();
    s.sh("rotate /h/pw --generate length=30 --test-hook false")
        .code(1);
    let untested = s.get("/h/pw:pending");
    assert_eq!(s.get("/h/pw"), "tested\n");
    // `current` exists from the first put: `NAME:current` reads it.
    assert_eq!(s.get("/h/other:current"), "o\n");
    // It cannot be unlabelled.
    s.sh("unlabel /h/pw current")
        .code(2)
        .stderr(contains("`current` cannot be removed"));
    s.sh("destroy /h/pw:1").success();
    let (code, out, err) = s.stderr_of(&["get", "/h/pw"]);
    assert_eq!(code, Some(1));
    assert!(
        out.is_empty() && !err.contains(untested.trim_end()),
        "{err}"
    );
    assert!(
        err.contains("the current version 1 of /h/pw was destroyed")
            && err.contains("coffer label /h/pw:VERSION current"),
        "{err}"
    );
    // exec and export leave it out and say so; --strict refuses.
    let show = "printf '%s|%s' \"${PW-unset}\" \"$OTHER\"";
    let (code, out, err) = s.stderr_of(&["exec", "--path", "/h", "--", "sh", "-c", show]);
    assert_eq!((code, out.as_str()), (Some(0), "unset|o"), "{err}");
    assert!(
        err.contains("left out: the current version 1 of /h/pw was destroyed"),
        "{err}"
    );
    let (code, out, err) = s.stderr_of(&["exec", "--strict", "--path", "/h", "--", "true"]);
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(
        err.contains("the current version 1 of /h/pw was destroyed"),
        "{err}"
    );
    let (code, out, err) = s.stderr_of(&["export", "--path", "/h", "--format", "json"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        !out.contains(untested.trim_end()) && !out.contains("PW"),
        "{out}"
    );
    // Asked for by label or number, the pending value is there.
    assert_eq!(s.get("/h/pw:2"), untested);
    // A `current` label removed by whoever can write the database: the row fails its MAC,
    // and nothing is read at all (never the latest, pending, value).
    s.sh("label /h/pw:2 current").success();
    assert_eq!(s.get("/h/pw"), untested);
    s.run_sql("DELETE FROM param_labels WHERE name = '/h/pw' AND label = 'current'");
    for args in [
        &["get", "/h/pw"][..],
        &["exec", "--path", "/h", "--", "sh", "-c", show],
    ] {
        let (code, out, err) = s.stderr_of(args);
        assert_eq!((code, out.as_str()), (Some(1), ""), "{err}");
        assert!(
            err.contains("parameter `/h/pw`") && err.contains("do not match its MAC"),
            "{err}"
        );
    }
}

#[test]
fn a_read_never_serves_a_pending_version() {
    never_serves_pending(&Store::new());
}

#[test]
fn a_read_never_serves_a_pending_version_on_postgres() {
    if let Some(s) = Store::pg() {
        never_serves_pending(&s);
    }
}

/// The first put of a store made before `current` existed gets one when the schema is
/// migrated: its newest version that is not pending.
#[test]
fn older_stores_get_their_current_labels() {
    let s = Store::new();
    s.put("put /m/a", "a1").success();
    s.put("put /m/a --overwrite", "a2").success();
    s.put("put /m/b", "b1").success();
    s.sh("rotate /m/b --generate --test-hook false").code(1);
    // As a schema-4 store left them: no `current` labels, no audit key, no key or parameter
    // seals (and a home that never saw a keyed log of it).
    s.run_sql(
        "DELETE FROM param_labels WHERE label = 'current';
         DROP TABLE key_paths;
         DROP TABLE policies;
         DROP TABLE policy_seal;
         DROP INDEX param_versions_destroyed;
         DROP INDEX audit_param_changes;
         ALTER TABLE params DROP COLUMN born;
         ALTER TABLE params DROP COLUMN seal_seq;
         ALTER TABLE params DROP COLUMN mac;
         ALTER TABLE param_versions DROP COLUMN mac;
         ALTER TABLE param_rotations DROP COLUMN workdir;
         ALTER TABLE param_rotations DROP COLUMN pending_run;
         ALTER TABLE param_rotations DROP COLUMN lease_hook;
         ALTER TABLE keys DROP COLUMN root;
         ALTER TABLE keys DROP COLUMN seal_seq;
         ALTER TABLE keys DROP COLUMN mac;
         ALTER TABLE key_versions DROP COLUMN mac;
         DROP INDEX audit_by_name;
         DELETE FROM meta WHERE key IN ('store_id', 'audit_key', 'audit_key_format',
                                        'audit_keyed_from', 'audit_head_mac');
         PRAGMA user_version = 4;
         UPDATE meta SET value = '4' WHERE key = 'schema';",
    );
    fs::remove_dir_all(s.home().join("seen")).unwrap();
    assert_eq!(s.get("/m/a"), "a2\n");
    assert_eq!(s.get("/m/b"), "b1\n");
    assert_eq!(s.get("/m/b:current"), "b1\n");
    // Its pending version, staged without recorded settings, is not resumed blindly.
    s.sh("rotate /m/b")
        .code(1)
        .stderr(contains("cannot resume the rotation of /m/b to version 2"))
        .stderr(contains("--discard-pending"));
    s.sh("rotate /m/b --generate --discard-pending").success();
}

/// Item 3: `kill -9` of `rotate --due` while its set hook runs, then another `--due` at
/// once, in a loop: the hook dies with coffer, the second run takes the lease only once it
/// is gone, so no two hooks ever run at once (the hook takes a lock that its processes hold
/// while they live, and logs when it finds it taken).
#[test]
fn a_killed_rotation_never_runs_two_hooks_at_once() {
    let s = Store::new();
    s.put("put /k/token", "t0").success();
    s.env.write(
        "set.sh",
        b"exec 9>>hook.lock\n\
          flock -n 9 || echo OVERLAP >> overlap.log\n\
          echo $$ >> started.log\n\
          sleep 4\n\
          echo $$ >> finished.log\n",
    );
    s.cmd()
        .args([
            "rotate",
            "/k/token",
            "--every",
            "30d",
            "--generate",
            "length=12",
            "--set-hook",
            "sh set.sh",
        ])
        .assert()
        .success();
    let count = |f: &str| {
        fs::read_to_string(s.env.path(f))
            .map(|t| t.lines().count())
            .unwrap_or(0)
    };
    let mut seed = std::process::id();
    for round in 0..4 {
        s.run_sql("UPDATE param_rotations SET next_due = 0");
        let before = count("started.log");
        let mut child = s
            .child()
            .current_dir(s.env.path("."))
            .args(["rotate", "--due"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        while count("started.log") == before {
            assert!(
                Instant::now() < deadline,
                "round {round}: the hook never started"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
        std::thread::sleep(Duration::from_millis(u64::from(seed % 1500)));
        child.kill().unwrap();
        assert_eq!(child.wait().unwrap().signal(), Some(9));
        // At once, and until it rotates: the next run.
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let out = s
                .child()
                .current_dir(s.env.path("."))
                .args(["rotate", "--due"])
                .output()
                .unwrap();
            let report: Value = serde_json::from_slice(&out.stdout).unwrap();
            if report["rotated"].as_array().is_some_and(|r| !r.is_empty()) {
                break;
            }
            assert!(
                report["failed"].as_array().is_some_and(Vec::is_empty),
                "round {round}: {report}"
            );
            assert!(
                Instant::now() < deadline,
                "round {round}: never rotated: {report}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        assert_eq!(
            count("overlap.log"),
            0,
            "round {round}: two hooks ran at once"
        );
    }
    // Every killed hook died before finishing; every completed run (the first, when the
    // schedule was stored, and one a round) finished its own.
    assert_eq!(count("started.log"), 9);
    assert_eq!(count("finished.log"), 5);
    assert_eq!(count("overlap.log"), 0);
}

/// Item 4: a schedule's hooks run in the directory where `rotate --every` was typed, so a
/// relative hook works from cron (whose directory is `/`).
#[test]
fn scheduled_hooks_run_where_they_were_given() {
    let s = Store::new();
    s.put("put /c/token", "t0").success();
    fs::create_dir_all(s.env.path("project/hooks")).unwrap();
    s.env.write(
        "project/hooks/set.sh",
        b"#!/bin/sh\ncat > set.out; pwd -P > where.out\n",
    );
    Command::new("chmod")
        .args(["755", "hooks/set.sh"])
        .current_dir(s.env.path("project"))
        .assert()
        .success();
    s.cmd()
        .current_dir(s.env.path("project"))
        .args([
            "rotate",
            "/c/token",
            "--every",
            "1d",
            "--generate",
            "length=16",
            "--set-hook",
            "./hooks/set.sh",
        ])
        .assert()
        .success();
    fs::remove_file(s.env.path("project/set.out")).unwrap();
    s.run_sql("UPDATE param_rotations SET next_due = 0");
    let out = s
        .cmd()
        .current_dir("/")
        .args(["rotate", "--due"])
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(out.status.success(), "{report}");
    assert_eq!(report["rotated"][0]["version"], 3, "{report}");
    let value = s.get("/c/token");
    assert_eq!(
        fs::read_to_string(s.env.path("project/set.out")).unwrap(),
        value.trim_end()
    );
    assert_eq!(
        fs::read_to_string(s.env.path("project/where.out"))
            .unwrap()
            .trim_end(),
        s.env
            .path("project")
            .canonicalize()
            .unwrap()
            .to_str()
            .unwrap()
    );
    // A directory that went away is a clear failure, not a hook run elsewhere.
    fs::rename(s.env.path("project"), s.env.path("moved")).unwrap();
    s.run_sql("UPDATE param_rotations SET next_due = 0");
    let out = s
        .cmd()
        .current_dir("/")
        .args(["rotate", "--due"])
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(!out.status.success());
    assert!(
        report["failed"][0]["error"]
            .as_str()
            .unwrap()
            .contains("cannot run the set hook in"),
        "{report}"
    );
}

/// Item 14: coffer runs with core dumps off (an abort during `rotate` writes no core with
/// the generated value or the root key in it); its hooks get the user's limit back.
#[test]
fn no_core_dump_holds_a_secret() {
    let s = Store::new();
    s.put("put /d/pw", "v1").success();
    // The hook finds its coffer (the topmost `coffer` above it), notes its limits and its
    // own, then aborts it.
    s.env.write(
        "abort.sh",
        b"ulimit -c > hook-limit.txt\n\
          p=$PPID\n\
          while q=$(awk '{print $4}' /proc/$p/stat) && [ \"$(cat /proc/$q/comm)\" = coffer ]; do p=$q; done\n\
          grep 'Max core file size' /proc/$p/limits > coffer-limits.txt\n\
          kill -ABRT $p\n\
          sleep 5\n",
    );
    let out = s.with_core_limit(
        "unlimited",
        "rotate /d/pw --generate length=40 --set-hook 'sh abort.sh'",
    );
    assert_eq!(out.status.signal(), Some(6), "{out:?}");
    let limits = fs::read_to_string(s.env.path("coffer-limits.txt")).unwrap();
    let soft: Vec<&str> = limits.split_whitespace().collect();
    assert_eq!(
        soft.get(4),
        Some(&"0"),
        "coffer ran with core dumps on: {limits}"
    );
    assert_eq!(
        fs::read_to_string(s.env.path("hook-limit.txt"))
            .unwrap()
            .trim_end(),
        "unlimited",
        "the hook did not get the user's limit back"
    );
    let pattern = fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap_or_default();
    if !pattern.starts_with('|') {
        let cores: Vec<String> = s
            .env
            .names()
            .into_iter()
            .filter(|n| n.starts_with("core"))
            .collect();
        assert!(cores.is_empty(), "a core dump was written: {cores:?}");
    }
    // exec: the command gets the user's limit back.
    let out = s.with_core_limit("12345", "exec --path /d -- sh -c 'ulimit -c'");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "12345\n");
}

/// Item 15: the audit log names the real user, never what `$USER` says, and `audit ls`
/// prints every field with its control characters escaped.
#[test]
fn the_audit_log_names_the_real_user_and_prints_no_control_characters() {
    let s = Store::new();
    s.cmd()
        .args(["put", "/a/x"])
        .env(
            "USER",
            "alice\n   99  2026-01-01T00:00:00Z  root  destroy  /forged\u{1b}[2J",
        )
        .env("LOGNAME", "alice")
        .write_stdin("v")
        .assert()
        .success();
    let entries = s.json_lines("audit ls");
    let user = entries.last().unwrap()["user"].as_str().unwrap().to_owned();
    assert_eq!(user, real_user());
    assert_eq!(s.json("get /a/x")["author"], real_user());
    // A user name with control characters (written by whoever can write the store).
    s.run_sql(
        "UPDATE audit SET user = 'mallory' || char(10) || '  9  forged' || char(27) || '[2J'",
    );
    let out = s.sh("audit ls").success();
    let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(!text.contains('\u{1b}'), "{text:?}");
    assert_eq!(
        text.lines().count(),
        1 + s.json_lines("audit ls").len(),
        "{text}"
    );
    assert!(text.contains("mallory\\n  9  forged\\u{1b}[2J"), "{text}");
}

/// Item 16: an empty or foreign store file is an error that changes nothing; only `init`
/// makes a store, and it may make one over an empty file.
#[test]
fn an_empty_store_file_is_refused_never_set_up() {
    let s = Store::new();
    s.put("put /e/x", "v").success();
    fs::write(s.db_path(), b"").unwrap();
    for args in [
        &["get", "/e/x"][..],
        &["audit", "verify"],
        &["ls", "/"],
        &["key", "list"],
    ] {
        let (code, _, err) = s.stderr_of(args);
        assert_eq!(code, Some(1), "{args:?}: {err}");
        assert!(
            err.contains("is empty (0 bytes, no coffer schema)"),
            "{args:?}: {err}"
        );
    }
    let put = s.put("put /e/y", "v");
    put.code(1).stderr(contains("is empty"));
    assert_eq!(
        fs::metadata(s.db_path()).unwrap().len(),
        0,
        "the empty file was set up"
    );
    // Another program's database is refused the same way.
    let other = s.env.path("other.db");
    Connection::open(&other)
        .unwrap()
        .execute_batch("CREATE TABLE t (x)")
        .unwrap();
    s.cmd()
        .args([
            "--store",
            &format!("sqlite://{}", other.display()),
            "ls",
            "/",
        ])
        .assert()
        .code(1)
        .stderr(contains("is not a coffer store"));
}

/// `destroy` while another process has the store open says where the old bytes remain,
/// without waiting for that process; alone, it empties the write-ahead log.
#[test]
fn destroy_says_when_the_old_bytes_remain() {
    let s = Store::new();
    s.put("put /z/x", "gone soon").success();
    s.put("put /z/x --overwrite", "kept").success();
    let (code, _, err) = s.stderr_of(&["destroy", "/z/x:2"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(!err.contains("warning"), "{err}");
    // A reader in the middle of a transaction.
    let reader = s.db();
    reader
        .execute_batch("BEGIN; SELECT count(*) FROM params;")
        .unwrap();
    let start = Instant::now();
    let (code, out, err) = s.stderr_of(&["destroy", "/z/x:1"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.contains("destroyed the value of /z/x version 1"),
        "{out}"
    );
    assert!(
        err.contains("its old bytes remain in") && err.contains("coffer.db-wal"),
        "{err}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(8),
        "{:?}",
        start.elapsed()
    );
    drop(reader);
}

/// Item 2: the settings recorded with a pending version are sealed: a record edited in the
/// database, or copied from another parameter, is refused and no hook runs.
fn recorded_runs_are_sealed(s: &Store) {
    for name in ["/r/a", "/r/b"] {
        s.put(&format!("put {name}"), "v1").success();
        s.cmd()
            .args([
                "rotate",
                name,
                "--generate",
                "--set-hook",
                "echo ran >> ran.txt; exit 1",
            ])
            .assert()
            .code(1);
    }
    fs::remove_file(s.env.path("ran.txt")).unwrap();
    // Another parameter's record (same version number, a valid seal of its own).
    s.run_sql(
        "UPDATE param_rotations SET pending_run =
             (SELECT pending_run FROM param_rotations WHERE name = '/r/b') WHERE name = '/r/a'",
    );
    let (code, _, err) = s.stderr_of(&["rotate", "/r/a"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("belong to another parameter or version"),
        "{err}"
    );
    // Garbage, and nothing at all.
    for sql in [
        "UPDATE param_rotations SET pending_run = NULL WHERE name = '/r/b'",
        "UPDATE param_rotations SET pending_run = CAST('{\"set_hook\":\"touch planted\"}' AS BLOB) WHERE name = '/r/b'",
    ] {
        let sql = if s.url.is_some() {
            sql.replace(
                "CAST('{\"set_hook\":\"touch planted\"}' AS BLOB)",
                "'\\x7b7d'::bytea",
            )
        } else {
            sql.to_owned()
        };
        s.run_sql(&sql);
        let (code, _, err) = s.stderr_of(&["rotate", "/r/b"]);
        assert_eq!(code, Some(1), "{err}");
        assert!(
            err.contains("cannot resume the rotation of /r/b to version 2"),
            "{err}"
        );
    }
    assert!(!s.env.path("ran.txt").exists() && !s.env.path("planted").exists());
    assert_eq!(s.get("/r/a"), "v1\n");
    // Starting over is always possible.
    s.sh("rotate /r/b --generate --discard-pending").success();
}

#[test]
fn recorded_rotation_runs_are_sealed() {
    recorded_runs_are_sealed(&Store::new());
}

#[test]
fn recorded_rotation_runs_are_sealed_on_postgres() {
    if let Some(s) = Store::pg() {
        recorded_runs_are_sealed(&s);
    }
}

/// From the attack on this changes: whoever can write the database cannot make coffer
/// store the next value in the clear, nor make a resumed rotation push a value of their
/// choosing to the system it rotates.
#[test]
fn a_database_writer_cannot_choose_clear_text_or_the_pushed_value() {
    let s = Store::new();
    s.put("put /w/api", "s1").success();
    // The latest version's type flipped to `string` in the database.
    s.run_sql(
        "UPDATE param_versions SET type = 'string', value = CAST('x' AS BLOB), key_ref = NULL
         WHERE name = '/w/api'",
    );
    // The row fails its MAC; sealed as it is now (as by a holder of the root key), the
    // next write still does not follow it into the clear.
    s.put("put /w/api --overwrite", "REALSECRET")
        .code(1)
        .stderr(contains(
            "its version 1 (param_versions) does not match its MAC",
        ));
    reseal(&s.home(), None);
    s.put("put /w/api --overwrite", "REALSECRET")
        .code(1)
        .stderr(contains(
            "a value is stored in the clear only when --type says so",
        ));
    // A rotation always writes an encrypted value.
    s.sh("rotate /w/api --generate length=20").success();
    let types: Vec<String> = s
        .json_lines("history /w/api")
        .iter()
        .map(|v| v["param_type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(types, ["string", "secure-string"]);
    let stored: Vec<u8> = s
        .db()
        .query_row(
            "SELECT value FROM param_versions WHERE name = '/w/api' AND version = 2",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let value = s.get("/w/api");
    let value = value.trim_end().as_bytes();
    assert!(
        !stored.windows(value.len()).any(|w| w == value),
        "the rotated value is in the clear"
    );

    // The pending value swapped for one the writer chose: the resume refuses, no hook runs.
    s.put("put /w/db", "oldpw").success();
    s.cmd()
        .args([
            "rotate",
            "/w/db",
            "--generate",
            "--set-hook",
            "cat > pushed.txt",
            "--test-hook",
            "test -e ok",
        ])
        .assert()
        .code(1);
    fs::remove_file(s.env.path("pushed.txt")).unwrap();
    s.run_sql(
        "UPDATE param_versions SET type = 'string', value = CAST('attacker-chosen' AS BLOB),
             key_ref = NULL WHERE name = '/w/db' AND version = 2",
    );
    reseal(&s.home(), None);
    s.env.write("ok", b"");
    let (code, _, err) = s.stderr_of(&["rotate", "/w/db"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("not what the run that staged it wrote"),
        "{err}"
    );
    assert!(!s.env.path("pushed.txt").exists());
    assert_eq!(s.get("/w/db"), "oldpw\n");
}

/// A resume given a value on stdin (`--value-file -`) is refused, as a file is.
#[test]
fn a_resume_refuses_a_value_on_stdin() {
    let s = Store::new();
    s.put("put /v/z", "s3").success();
    s.cmd()
        .args([
            "rotate",
            "/v/z",
            "--value-file",
            "-",
            "--test-hook",
            "test -e ok",
        ])
        .write_stdin("OLDPENDING")
        .assert()
        .code(1);
    s.env.write("ok", b"");
    s.cmd()
        .args(["rotate", "/v/z", "--value-file", "-"])
        .write_stdin("USERNEW")
        .assert()
        .code(1)
        .stderr(contains("--value-file gives a new one"));
    assert_eq!(s.get("/v/z"), "s3\n");
}

/// The holder of a lease as coffer names it: `HOST/PIDNS:PID:NONCE`.
fn holder_name(pid: u32) -> String {
    let host = fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let ns = fs::read_link("/proc/self/ns/pid").unwrap();
    format!("{}/{}:{pid}:00", host.trim_end(), ns.display())
}

/// A lease is taken over only once the hook its holder recorded is gone: while its holder
/// runs, after it died (given a few seconds to go), and after the lease ran out.
#[test]
fn a_lease_is_taken_only_once_the_recorded_hook_is_gone() {
    let s = Store::new();
    s.put("put /l/k", "v1").success();
    s.sh("rotate /l/k --generate").success();
    // A process group standing for a hook that is still running.
    let mut hook = std::process::Command::new("sleep")
        .arg("60")
        .process_group(0)
        .spawn()
        .unwrap();
    let dead = {
        let mut c = std::process::Command::new("true").spawn().unwrap();
        let pid = c.id();
        c.wait().unwrap();
        pid
    };
    for (holder, until) in [
        (holder_name(dead), "strftime('%s','now') + 3600"),
        (holder_name(dead), "0"),
        (holder_name(std::process::id()), "0"),
    ] {
        s.run_sql(&format!(
            "UPDATE param_rotations SET lease_holder = '{holder}', lease_until = {until},
                 lease_hook = {}",
            hook.id()
        ));
        let (code, _, err) = s.stderr_of(&["rotate", "/l/k", "--generate"]);
        assert_eq!(code, Some(1), "{holder} {until}: {err}");
        assert!(
            err.contains(&format!(
                "its hook (process group {}) still runs",
                hook.id()
            )),
            "{err}"
        );
    }
    // A dead holder's hook that goes within moments (as its supervisor kills it) is waited
    // for, and its lease taken.
    s.run_sql(&format!(
        "UPDATE param_rotations SET lease_holder = '{}', lease_until = strftime('%s','now') + 3600,
             lease_hook = {}",
        holder_name(dead),
        hook.id()
    ));
    let killer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(500));
        hook.kill().unwrap();
        hook.wait().unwrap();
    });
    s.sh("rotate /l/k --generate").success();
    killer.join().unwrap();
    // A lease that ran out with no hook recorded is free, as before.
    s.run_sql(&format!(
        "UPDATE param_rotations SET lease_holder = '{}', lease_until = 0, lease_hook = NULL",
        holder_name(std::process::id())
    ));
    s.sh("rotate /l/k --generate").success();
}

/// A resume holds its lease for the time limit recorded with the pending version, not the
/// one typed on the resume.
#[test]
fn a_resume_holds_its_lease_for_the_recorded_time_limit() {
    let s = Store::new();
    s.put("put /t/k", "v1").success();
    s.env.write(
        "set.sh",
        b"[ -e armed ] || exit 1; touch running; sleep 3\n",
    );
    s.cmd()
        .args(["rotate", "/t/k", "--generate", "--set-hook", "sh set.sh"])
        .args(["--hook-timeout", "10m"])
        .assert()
        .code(1);
    s.env.write("set.sh", b"touch running; sleep 3\n");
    let mut child = s
        .child()
        .current_dir(s.env.path("."))
        .args(["rotate", "/t/k", "--hook-timeout", "1s"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !s.env.path("running").exists() {
        assert!(Instant::now() < deadline, "the hook never ran");
        std::thread::sleep(Duration::from_millis(20));
    }
    let left: i64 = s
        .db()
        .query_row(
            "SELECT lease_until - strftime('%s','now') FROM param_rotations WHERE name = '/t/k'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(
        left >= 1200,
        "the lease runs out in {left} s, before the hook's limit"
    );
    assert!(child.wait().unwrap().success());
}

/// Labels and lease holders read from the store are shown with their control characters
/// escaped; a foreign database that looks migrated is refused; a version number overflow
/// is a clear error.
#[test]
fn rows_from_the_store_cannot_forge_output() {
    let s = Store::new();
    s.put("put /f/x", "v").success();
    s.run_sql(
        "INSERT INTO param_labels (name, label, version)
         VALUES ('/f/x', 'lab' || char(27) || '[32mel' || char(10) || 'FORGED', 1)",
    );
    reseal(&s.home(), None);
    let out = s.sh("history /f/x").success();
    let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(
        !text.contains('\u{1b}') && !text.contains("\nFORGED"),
        "{text:?}"
    );
    s.run_sql("INSERT INTO param_rotations (name, hook_timeout_secs) VALUES ('/f/x', 1) ON CONFLICT DO NOTHING");
    s.run_sql(
        "UPDATE param_rotations SET lease_holder = 'x' || char(27) || '[31m' || char(10) || \
         'FORGED LINE', lease_until = 99999999999",
    );
    let (_, _, err) = s.stderr_of(&["rotate", "/f/x", "--generate"]);
    assert!(
        !err.contains('\u{1b}') && !err.contains("\nFORGED"),
        "{err:?}"
    );
    // Another program's database with a user_version and a `meta` table of its own.
    let other = s.env.path("other.db");
    Connection::open(&other)
        .unwrap()
        .execute_batch("CREATE TABLE meta (key TEXT, value TEXT); PRAGMA user_version = 3;")
        .unwrap();
    s.cmd()
        .args([
            "--store",
            &format!("sqlite://{}", other.display()),
            "ls",
            "/",
        ])
        .assert()
        .code(1)
        .stderr(contains("is not a coffer store"));
    let v: i64 = Connection::open(&other)
        .unwrap()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, 3, "the foreign database was migrated");
    // No version numbers left.
    s.run_sql("UPDATE params SET latest = 4294967295 WHERE name = '/f/x'");
    reseal(&s.home(), None);
    s.put("put /f/x --overwrite", "w")
        .code(2)
        .stderr(contains("has no version numbers left"));
}
