//! Rotation: `key rotate NAME|--due|--root`, `key set-rotation`, `key retire`, their faults,
//! and the kill tests (SIGKILL at random points; the store stays usable, old messages decrypt).

use super::*;

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command as StdCommand, Stdio};
use std::time::{Duration, Instant};

/// The files of the home, but SQLite's own (`coffer.db-wal`, `coffer.db-shm`).
/// The files of the home, without SQLite's side files and the home's audit records
/// (`seen/` + 32 hex digits, its lock, and the side file a killed write of it leaves, which
/// the next write replaces), which commands keep there.
fn home_files(h: &Home) -> Vec<String> {
    let record = |n: &str| {
        n.strip_prefix("seen/")
            .map(|r| {
                r.strip_suffix(".lock")
                    .or_else(|| r.strip_suffix(".next"))
                    .unwrap_or(r)
            })
            .is_some_and(|r| r.len() == 32 && r.bytes().all(|b| b.is_ascii_hexdigit()))
    };
    tree_names(&h.home())
        .into_iter()
        .filter(|n| !n.starts_with("coffer.db-") && !record(n))
        .collect()
}

fn versions(h: &Home, name: &str) -> u64 {
    h.json(&format!("key show {name}"))["versions"]
        .as_array()
        .unwrap()
        .len() as u64
}

fn meta_root_id(h: &Home) -> String {
    h.db()
        .query_row("SELECT value FROM meta WHERE key = 'root_id'", [], |r| {
            r.get(0)
        })
        .unwrap()
}

/// Moves every version of every key back by `secs` (as if made that long ago), and seals
/// the rows so under the root key (an edit made in the database alone is refused).
fn backdate_all(h: &Home, secs: i64) {
    backdate_all_with(h, secs, None);
}

/// As [`backdate_all`], for a root key whose passphrase is in the file `pass`.
fn backdate_all_with(h: &Home, secs: i64, pass: Option<PathBuf>) {
    h.db()
        .execute(
            "UPDATE key_versions SET created_at = created_at - ?1",
            [secs],
        )
        .unwrap();
    reseal(&h.home(), pass.as_deref());
}

/// The store's consistency: integrity check, active = highest version, versions 1..=n.
fn assert_store_consistent(h: &Home) {
    let db = h.db();
    let ok: String = db
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
    let mut stmt = db
        .prepare(
            "SELECT k.name, k.active_version, max(v.version), count(*), min(v.version)
             FROM keys k JOIN key_versions v ON v.name = k.name GROUP BY k.name",
        )
        .unwrap();
    let rows: Vec<(String, i64, i64, i64, i64)> = stmt
        .query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(!rows.is_empty());
    for (name, active, max, count, min) in rows {
        assert_eq!(active, max, "key {name}: the active version is the highest");
        assert_eq!((min, count), (1, max), "key {name}: versions 1..={max}");
    }
}

#[test]
fn rotate_retire_and_lower_the_minimum_again() {
    let h = Home::with_key("app");
    h.env.write("p1", b"under version 1");
    h.env.write("p2", b"under version 2");
    h.sh("encrypt --key app -i p1 -o c1").success();
    h.sh("key rotate app")
        .success()
        .stdout(contains("rotated key app: version 2 (").and(contains("is active")));
    h.sh("encrypt --key app -i p2 -o c2").success();
    // Both decrypt; the header names the version.
    h.sh("decrypt -i c1").success().stdout("under version 1");
    h.sh("decrypt -i c2").success().stdout("under version 2");
    let v = h.json("key show app");
    assert_eq!(
        (v["active_version"].as_u64(), versions(&h, "app")),
        (Some(2), 2)
    );

    // Retiring above the active version is refused, and changes nothing.
    h.sh("key retire app --below-version 3").code(1).stderr(
        contains("cannot retire the versions below 3")
            .and(contains("active version is 2"))
            .and(contains("hint: rotate first")),
    );
    h.sh("key retire app --below-version 0")
        .code(2)
        .stderr(contains("--below-version"));
    assert_eq!(h.json("key show app")["min_decrypt_version"], 1);

    let v = h.json("key retire app --below-version 2");
    assert_eq!(
        (
            v["type"].as_str(),
            v["min_decrypt_version"].as_u64(),
            v["previous_min_decrypt_version"].as_u64()
        ),
        (Some("key_retired"), Some(2), Some(1))
    );
    let a = h.sh("decrypt -i c1 -o out").code(1);
    let err = stderr(&a);
    assert!(
        err.contains("version 1 of key `app` was retired (versions below 2 may not decrypt)")
            && err.contains("coffer key retire app --below-version 1"),
        "{err}"
    );
    assert!(!h.env.path("out").exists());
    h.sh("decrypt -i c2").success().stdout("under version 2");
    h.sh("encrypt --key app -i p2 -o c3").success();
    h.sh("key show app")
        .success()
        .stdout(contains("min decrypt version: 2").and(contains("retired")));

    // The way out the error names: lower the minimum again.
    h.sh("key retire app --below-version 1")
        .success()
        .stdout(contains("every version may decrypt").and(contains("version 1 decrypt again")));
    h.sh("decrypt -i c1").success().stdout("under version 1");
    h.sh("key retire nope --below-version 1")
        .code(1)
        .stderr(contains("no key named `nope`"));
}

#[test]
fn rotate_output_and_refusals() {
    let h = Home::with_key("app");
    let v = h.json("key rotate app");
    assert_eq!(
        (
            v["type"].as_str(),
            v["name"].as_str(),
            v["version"].as_u64(),
            v["previous_version"].as_u64(),
            v["reason"].as_str()
        ),
        (
            Some("key_rotated"),
            Some("app"),
            Some(2),
            Some(1),
            Some("manual")
        )
    );
    let show = h.json("key show app");
    assert_eq!(show["versions"][1]["id"], v["id"]);
    assert_eq!(show["versions"][1]["active"], true);
    assert_eq!(show["versions"][0]["active"], false);
    h.sh("-q key rotate app").success().stdout("");
    assert_eq!(versions(&h, "app"), 3);

    h.sh("key rotate nope")
        .code(1)
        .stderr(contains("no key named `nope`"));
    h.sh("key rotate bad/name")
        .code(2)
        .stderr(contains("bad key name"));
    h.sh("key rotate").code(2);
    h.sh("key rotate app --due").code(2);
    h.sh("key rotate --due --root").code(2);
    h.sh("key disable app").success();
    h.sh("key rotate app")
        .code(1)
        .stderr(contains("`app` is disabled").and(contains("coffer key enable app")));
    assert_eq!(versions(&h, "app"), 3, "nothing changed");
    let fresh = Home::new();
    fresh
        .sh("key rotate app")
        .code(2)
        .stderr(contains("no coffer store"));
}

#[test]
#[cfg_attr(
    not(feature = "test-pause"),
    ignore = "seals back-dated key rows with the test-pause feature (scripts/test.sh turns it on)"
)]
fn set_rotation_and_the_next_rotation() {
    let h = Home::with_key("app");
    assert_eq!(h.json("key show app")["next_rotation"], Value::Null);
    h.sh("key set-rotation app 30m")
        .success()
        .stdout(contains("key app: rotation every 30m, next "));
    let v = h.json("key show app");
    assert_eq!(
        (v["rotation_period"].as_str(), v["rotation_due"].as_bool()),
        (Some("30m"), Some(false))
    );
    assert!(v["next_rotation"].as_str().unwrap().ends_with('Z'));
    backdate_all(&h, 3600);
    h.sh("key show app")
        .success()
        .stdout(contains("rotation:            every 30m, due since "));
    let v = h.json("key set-rotation app 90d");
    assert_eq!(
        (v["type"].as_str(), v["rotation_period_secs"].as_u64()),
        (Some("key"), Some(90 * 86_400))
    );
    h.sh("key set-rotation app off")
        .success()
        .stdout(contains("no scheduled rotation"));
    assert_eq!(h.json("key show app")["rotation_period"], Value::Null);
    for (bad, why) in [
        ("0d", "must be at least 1m"),
        ("5x", "bad duration"),
        ("", "bad duration"),
        ("never", "bad duration"),
    ] {
        h.cmd()
            .args(["key", "set-rotation", "app", bad])
            .assert()
            .code(2)
            .stderr(contains(why));
    }
    h.sh("key set-rotation nope 1d")
        .code(1)
        .stderr(contains("no key named"));
    h.sh("key --help")
        .success()
        .stdout(contains_all(&["rotate", "set-rotation", "retire"]));
    h.sh("key set-rotation --help")
        .success()
        .stdout(contains("DURATION|off"));
    h.sh("key rotate --help").success().stdout(contains_all(&[
        "--due",
        "--root",
        "coffer key rotate NAME",
        "nothing due",
        "root.key.next",
    ]));
    h.sh("key retire --help")
        .success()
        .stdout(contains("--below-version").and(contains("Lowering N again")));
}

fn spawn_due(h: &Home) -> Child {
    StdCommand::new(env!("CARGO_BIN_EXE_coffer"))
        .args(words("key rotate --due --output json"))
        .current_dir(h.env.path(""))
        .env("COFFER_HOME", h.home())
        .env_remove("RUST_LOG")
        .env_remove("COFFER_PASSPHRASE_FILE")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Two `key rotate --due` started together rotate each due key once, run after run.
#[test]
#[cfg_attr(
    not(feature = "test-pause"),
    ignore = "seals back-dated key rows with the test-pause feature (scripts/test.sh turns it on)"
)]
fn two_due_runs_at_once_rotate_a_key_once() {
    let h = Home::new();
    h.sh("init").success();
    for k in ["a", "b", "c"] {
        h.sh(&format!("key create {k} --rotation-period 1d"))
            .success();
    }
    h.sh("key create manual").success();
    h.sh("key create off --rotation-period 1d").success();
    h.sh("key disable off").success();
    h.sh("key rotate --due").success().stdout(contains(
        "nothing due (3 key(s) rotate on a schedule; the next rotation is due",
    ));
    for round in 0..12u64 {
        backdate_all(&h, 2 * 86_400);
        let (x, y) = (spawn_due(&h), spawn_due(&h));
        let mut rotated = std::collections::BTreeMap::<String, u64>::new();
        for child in [x, y] {
            let out = child.wait_with_output().unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "round {round}: {err}");
            let lines: Vec<Value> = String::from_utf8(out.stdout)
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
            assert!(!lines.is_empty(), "round {round}: no output");
            for l in &lines {
                match l["type"].as_str().unwrap() {
                    "key_rotated" => {
                        assert_eq!(l["reason"], "due");
                        *rotated
                            .entry(l["name"].as_str().unwrap().to_owned())
                            .or_default() += 1;
                    }
                    "nothing_due" => assert_eq!(lines.len(), 1, "{lines:?}"),
                    other => panic!("round {round}: unexpected {other}: {l}"),
                }
            }
        }
        let want: std::collections::BTreeMap<String, u64> =
            ["a", "b", "c"].map(|k| (k.to_owned(), 1)).into();
        assert_eq!(rotated, want, "round {round}");
        for k in ["a", "b", "c"] {
            assert_eq!(versions(&h, k), round + 2, "round {round}: key {k}");
        }
        assert_eq!(versions(&h, "manual"), 1);
        assert_eq!(versions(&h, "off"), 1);
    }
    assert_store_consistent(&h);
}

/// The exact command line of contrib/systemd/coffer-rotate.service, with a passphrase root:
/// no passphrase is needed while nothing is due.
#[test]
#[cfg_attr(
    not(feature = "test-pause"),
    ignore = "seals back-dated key rows with the test-pause feature (scripts/test.sh turns it on)"
)]
fn the_systemd_command_line_works() {
    let service = fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../contrib/systemd/coffer-rotate.service"
    ))
    .unwrap();
    let exec = service
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .unwrap();
    let mut argv = exec.split_whitespace();
    assert_eq!(argv.next(), Some("/usr/local/bin/coffer"));
    let args: Vec<&str> = argv.collect();
    assert_eq!(args, ["key", "rotate", "--due", "--output", "json"]);

    let h = Home::new();
    h.with_pass("pw", "init --passphrase").success();
    h.with_pass("pw", "key create app --rotation-period 12h")
        .success();
    h.with_pass("pw", "encrypt --key app -i plain -o ct")
        .success();
    let run = |pass: bool| {
        let mut c = h.cmd();
        if pass {
            c.env("COFFER_PASSPHRASE_FILE", h.env.path("pass-2"));
        }
        c.args(&args).assert()
    };
    // What is due is read from rows checked against their seals, which takes the root key
    // even when nothing is due (the unit's commented lines give it the passphrase).
    run(false)
        .code(2)
        .stderr(contains("set COFFER_PASSPHRASE_FILE"));
    let out = run(true).success();
    let v: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(
        (v["type"].as_str(), v["scheduled_keys"].as_u64()),
        (Some("nothing_due"), Some(1))
    );
    backdate_all_with(&h, 86_400, Some(h.env.path("pass-2")));
    let out = run(true).success();
    let v: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(
        (
            v["type"].as_str(),
            v["name"].as_str(),
            v["version"].as_u64()
        ),
        (Some("key_rotated"), Some("app"), Some(2))
    );
    h.with_pass("pw", "decrypt -i ct -o out").success();
    assert_eq!(h.env.read("out"), h.env.read("plain"));
}

#[test]
fn rotate_root_keeps_every_message_and_the_passphrase() {
    let h = Home::new();
    h.with_pass("correct horse", "init --passphrase").success();
    h.with_pass("correct horse", "key create a").success();
    h.with_pass("correct horse", "key create b").success();
    h.with_pass("correct horse", "encrypt --key a -i plain -o ca1")
        .success();
    h.with_pass("correct horse", "key rotate a").success();
    h.with_pass("correct horse", "encrypt --key a -i plain -o ca2")
        .success();
    h.with_pass("correct horse", "encrypt --key b -i plain -o cb1")
        .success();
    let before = fs::read(h.root_key()).unwrap();
    let old_id = meta_root_id(&h);
    let messages: Vec<Vec<u8>> = ["ca1", "ca2", "cb1"]
        .iter()
        .map(|m| h.env.read(m))
        .collect();

    // A wrong passphrase changes nothing.
    h.with_pass("battery staple", "key rotate --root")
        .code(1)
        .stderr(contains("wrong passphrase"));
    assert_eq!(fs::read(h.root_key()).unwrap(), before);
    assert_eq!(meta_root_id(&h), old_id);
    assert!(!h.home().join("root.key.next").exists());

    let out = h
        .with_pass("correct horse", "--output json key rotate --root")
        .success();
    let v: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(
        (
            v["type"].as_str(),
            v["versions"].as_u64(),
            v["keys"].as_u64(),
            v["passphrase"].as_bool()
        ),
        (Some("root_rotated"), Some(3), Some(2), Some(true))
    );
    assert_eq!(v["old_root_id"].as_str(), Some(old_id.as_str()));
    let new_id = meta_root_id(&h);
    assert_eq!(v["new_root_id"].as_str(), Some(new_id.as_str()));
    assert_ne!(new_id, old_id);
    let after = fs::read(h.root_key()).unwrap();
    assert_ne!(after, before);
    assert_eq!(after.len(), 140, "still passphrase-protected");
    assert!(after.starts_with(b"coffer-root-key v1\n\x02"));
    #[cfg(unix)]
    assert_eq!(mode(&h.root_key()), 0o600);
    assert_eq!(home_files(&h), ["coffer.db", "root.key"]);
    let shown = h
        .with_pass("correct horse", "--output json key show a")
        .success();
    let shown: Value = serde_json::from_slice(&shown.get_output().stdout).unwrap();
    let roots: Vec<String> = shown["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["root_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(roots, [new_id.clone(), new_id]);

    // The messages did not change, and decrypt.
    for (m, bytes) in ["ca1", "ca2", "cb1"].iter().zip(&messages) {
        assert_eq!(&h.env.read(m), bytes);
        h.with_pass("correct horse", &format!("decrypt -i {m} -o {m}.out"))
            .success();
        assert_eq!(h.env.read(&format!("{m}.out")), h.env.read("plain"));
    }
    h.with_pass("battery staple", "decrypt -i ca1 -o x")
        .code(1)
        .stderr(contains("wrong passphrase"));
    // The old root key file no longer opens the store.
    fs::write(h.root_key(), &before).unwrap();
    h.with_pass("correct horse", "decrypt -i ca1 -o y")
        .code(1)
        .stderr(contains("is not the one"));
    fs::write(h.root_key(), &after).unwrap();
    h.sh("key rotate --root --help").success();
    let plain = Home::with_key("k");
    plain
        .sh("key rotate --root")
        .success()
        .stdout(contains("rotated the root key: local:").and(contains("back up")));
    assert_eq!(fs::read(plain.root_key()).unwrap().len(), 84, "still plain");
}

/// Faults: each is reported, exits non-zero, and changes nothing.
#[test]
fn rotation_faults_change_nothing() {
    let h = Home::with_key("app");
    h.sh("encrypt --key app -i plain -o ct").success();
    let snapshot = || {
        (
            fs::read(h.root_key()).ok(),
            home_files(&h),
            h.json("key show app"),
            meta_root_id(&h),
        )
    };
    let good = fs::read(h.root_key()).unwrap();
    let before = snapshot();
    let bad_files: Vec<(Option<Vec<u8>>, &str)> = vec![
        (None, "is missing"),
        (Some(good[..40].to_vec()), "truncated"),
        (
            Some({
                let mut b = good.clone();
                b[25] ^= 4;
                b
            }),
            "checksum mismatch",
        ),
    ];
    for (bytes, msg) in bad_files {
        match &bytes {
            Some(b) => fs::write(h.root_key(), b).unwrap(),
            None => fs::remove_file(h.root_key()).unwrap(),
        }
        for cmd in ["key rotate app", "key rotate --root"] {
            let a = h.sh(cmd).code(1);
            let err = stderr(&a);
            assert!(
                err.contains(msg) && err.contains("root"),
                "{cmd}: {msg}: {err}"
            );
        }
        fs::write(h.root_key(), &good).unwrap();
        assert_eq!(snapshot(), before, "{msg}");
    }

    // A tampered row: rotate --root refuses (nothing changed); a plain rotation does not
    // need to unwrap the old versions.
    let db = h.db();
    let w: Vec<u8> = db
        .query_row("SELECT wrapped FROM key_versions", [], |r| r.get(0))
        .unwrap();
    let mut t = w.clone();
    t[30] ^= 0x20;
    db.execute("UPDATE key_versions SET wrapped = ?1", [&t])
        .unwrap();
    h.sh("key rotate --root").code(1).stderr(
        contains("version 1 of key `app` does not unwrap")
            .and(contains("altered or moved"))
            .and(contains("nothing was changed")),
    );
    db.execute("UPDATE key_versions SET wrapped = ?1", [&w])
        .unwrap();
    assert_eq!(snapshot(), before);

    // A root key of another home.
    let other = Home::with_key("x");
    fs::write(h.root_key(), fs::read(other.root_key()).unwrap()).unwrap();
    for cmd in ["key rotate app", "key rotate --root"] {
        h.sh(cmd).code(1).stderr(contains("is not the one"));
    }
    fs::write(h.root_key(), &good).unwrap();
    assert_eq!(snapshot(), before);
    h.sh("decrypt -i ct -o out").success();
}

/// A deterministic PRNG (SplitMix64) for the kill tests.
struct Rng(u64);

impl Rng {
    fn seeded(default: u64) -> Self {
        let seed = std::env::var("COFFER_KILL_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(default);
        eprintln!("kill test seed: {seed} (set COFFER_KILL_SEED to change it)");
        Self(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// How one killed (or not) run ended.
#[derive(Debug)]
struct Run {
    completed: bool,
    /// The last step a targeted run announced; `None` for a run killed after a random delay.
    last_step: Option<String>,
}

/// How long a targeted run pauses at each step; it is killed 0 to `KILL_OFFSET_MS` into the
/// pause of its target step, leaving a margin for a slow test thread.
const PAUSE_MS: u64 = 60;
const KILL_OFFSET_MS: u64 = 10;

/// Runs `coffer ARGS` and SIGKILLs it: with `target` set, the run pauses `PAUSE_MS` at each
/// step and is killed a random moment early in the pause of step `target`; else it is killed
/// `delay` after it started (it may have finished by then).
fn run_and_kill(
    h: &Home,
    args: &str,
    pass: Option<&Path>,
    target: Option<&str>,
    delay: Duration,
    rng: &mut Rng,
) -> Run {
    let mut c = StdCommand::new(env!("CARGO_BIN_EXE_coffer"));
    c.args(words(args))
        .current_dir(h.env.path(""))
        .env("COFFER_HOME", h.home())
        .env_remove("RUST_LOG")
        .env_remove("COFFER_PASSPHRASE_FILE")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(p) = pass {
        c.env("COFFER_PASSPHRASE_FILE", p);
    }
    if target.is_some() {
        c.env("COFFER_TEST_PAUSE_MS", PAUSE_MS.to_string());
    }
    let mut child = c.spawn().unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = Vec::new();
    match target {
        Some(step) => loop {
            let mut line = String::new();
            if stderr.read_line(&mut line).unwrap() == 0 {
                break; // ended without reaching the step
            }
            let reached = line.trim_end().strip_prefix("coffer test pause: ") == Some(step);
            seen.push(line);
            if reached {
                std::thread::sleep(Duration::from_millis(rng.below(KILL_OFFSET_MS + 1)));
                break;
            }
        },
        None => std::thread::sleep(delay),
    }
    let _ = child.kill(); // SIGKILL; fails only if it was reaped already (it was not)
    let status = child.wait().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    seen.extend(rest.lines().map(str::to_owned));
    let last_step = seen.iter().rev().find_map(|l| {
        l.trim_end()
            .strip_prefix("coffer test pause: ")
            .map(str::to_owned)
    });
    let last_step = match (last_step, target) {
        (Some(step), _) => Some(step),
        (None, Some(_)) => Some("(before the first step)".to_owned()),
        (None, None) => None,
    };
    if status.success() {
        return Run {
            completed: true,
            last_step,
        };
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt as _;
        assert_eq!(status.signal(), Some(9), "{args}: {status}: {seen:?}");
    }
    Run {
        completed: false,
        last_step,
    }
}

/// Messages written so far (in `msgs/`), decrypted together in one `decrypt -r` run.
struct Messages {
    plain: Vec<(String, Vec<u8>)>,
}

impl Messages {
    fn add(&mut self, h: &Home, key: &str, pass: Option<&Path>, i: usize) {
        fs::create_dir_all(h.env.path("msgs")).unwrap();
        let name = format!("m{i:03}");
        let data = pattern(100 + i, u8::try_from(i % 256).unwrap());
        h.env.write(&format!("{name}.txt"), &data);
        let mut c = h.cmd();
        if let Some(p) = pass {
            c.env("COFFER_PASSPHRASE_FILE", p);
        }
        c.args([
            "encrypt",
            "--key",
            key,
            "-i",
            &format!("{name}.txt"),
            "-o",
            &format!("msgs/{name}.coffer"),
        ])
        .assert()
        .success();
        self.plain.push((name, data));
    }

    fn assert_all_decrypt(&self, h: &Home, pass: Option<&Path>, what: &str) {
        let out = h.env.path("out");
        let _ = fs::remove_dir_all(&out);
        let mut c = h.cmd();
        if let Some(p) = pass {
            c.env("COFFER_PASSPHRASE_FILE", p);
        }
        let a = c
            .args(["decrypt", "-r", "-i", "msgs", "-o", "out"])
            .assert();
        let err = stderr(&a);
        a.try_success()
            .unwrap_or_else(|e| panic!("{what}: old messages must decrypt: {err}: {e}"));
        let got = tree_files(&out);
        let want: Vec<(String, Vec<u8>)> = self.plain.clone();
        assert_eq!(got, want, "{what}");
    }
}

/// The checks after each kill: the store opens, is consistent, and every message decrypts
/// (which also finishes or cleans up an interrupted root switch).
fn check_after_kill(h: &Home, msgs: &Messages, pass: Option<&Path>, what: &str) {
    for args in ["key show app", "key list"] {
        let mut c = h.cmd();
        if let Some(p) = pass {
            c.env("COFFER_PASSPHRASE_FILE", p);
        }
        c.args(words(args)).assert().success();
    }
    assert_store_consistent(h);
    msgs.assert_all_decrypt(h, pass, what);
    assert_eq!(
        home_files(h),
        ["coffer.db", "root.key"],
        "{what}: leftovers"
    );
}

#[derive(Debug, Default)]
struct Tally {
    completed: usize,
    killed: usize,
    killed_at: std::collections::BTreeMap<String, usize>,
}

impl Tally {
    fn record(&mut self, run: &Run) {
        if run.completed {
            self.completed += 1;
        } else {
            self.killed += 1;
            let at = run
                .last_step
                .clone()
                .unwrap_or_else(|| "(random delay)".into());
            *self.killed_at.entry(at).or_default() += 1;
        }
    }
}

/// `coffer key rotate app`, SIGKILLed at random points, 36 times.
#[test]
#[cfg_attr(
    not(feature = "test-pause"),
    ignore = "stops coffer at each step with the test-pause feature (scripts/test.sh turns it on)"
)]
fn kill_rotate_at_random_points() {
    let started = Instant::now();
    let mut rng = Rng::seeded(0xC0_FFEE_0001);
    let h = Home::with_key("app");
    h.sh("key create other").success();
    let mut msgs = Messages { plain: Vec::new() };
    msgs.add(&h, "app", None, 0);
    let steps = [
        "rotate: wrapped",
        "rotate: in transaction",
        "rotate: committed",
    ];
    // One whole run sets the scale of the random delays (0 to twice its length), so that
    // some runs are killed and some complete however busy the machine is.
    let t = Instant::now();
    h.sh("key rotate other").success();
    let max_delay_ms = u64::try_from(t.elapsed().as_millis() * 2).unwrap().max(20);
    let mut tally = Tally::default();
    let mut lost_or_kept = [0usize; 2];
    for i in 0..36 {
        if i % 4 == 1 {
            msgs.add(&h, if i % 8 == 1 { "app" } else { "other" }, None, i);
        }
        let before = versions(&h, "app");
        let (target, delay) = if i % 2 == 0 {
            (Some(steps[(i / 2) % steps.len()]), Duration::ZERO)
        } else {
            (None, Duration::from_millis(rng.below(max_delay_ms + 1)))
        };
        let run = run_and_kill(&h, "key rotate app", None, target, delay, &mut rng);
        tally.record(&run);
        let after = versions(&h, "app");
        assert!(
            after == before || after == before + 1,
            "{i}: {before} -> {after}"
        );
        if !run.completed {
            lost_or_kept[usize::from(after == before + 1)] += 1;
        }
        if run.last_step.as_deref() == Some("rotate: in transaction") && !run.completed {
            assert_eq!(after, before, "{i}: killed before COMMIT, yet committed");
        }
        if run.last_step.as_deref() == Some("rotate: committed") {
            assert_eq!(after, before + 1, "{i}: committed, yet lost");
        }
        check_after_kill(&h, &msgs, None, &format!("iteration {i}"));
    }
    eprintln!(
        "kill rotate: {tally:?}; killed without / with the new version: {lost_or_kept:?}; {:?}",
        started.elapsed()
    );
    assert!(tally.completed >= 1 && tally.killed >= 1, "{tally:?}");
    for step in steps {
        assert!(
            tally.killed_at.get(step).copied().unwrap_or(0) >= 1,
            "{step}: {tally:?}"
        );
    }
    // New messages use the latest version, old ones still decrypt.
    h.sh("encrypt --key app -i plain -o last").success();
    h.sh("decrypt -i last -o last.out").success();
}

/// What a killed root rotation left, seen before anything repairs it.
fn root_state(h: &Home, old_file: &[u8], old_id: &str) -> &'static str {
    let next = h.home().join("root.key.next").exists();
    let file_same = fs::read(h.root_key()).unwrap() == old_file;
    let id_same = meta_root_id(h) == old_id;
    match (id_same, file_same, next) {
        (true, true, false) => "untouched",
        (true, true, true) => SIDE_FILE_ONLY,
        (false, true, true) => COMMITTED_ONLY,
        (false, false, false) => "switched",
        other => panic!("impossible state {other:?}"),
    }
}

/// Root rotations killed at random points, `iterations` times. Asserts that some runs were
/// killed and some completed, that kills left each state in `required` at least once, and
/// that at least one left a half-done switch.
fn kill_rotate_root(pass: Option<&str>, iterations: usize, seed: u64, required: &[&str]) {
    let started = Instant::now();
    let mut rng = Rng::seeded(seed);
    let h = Home::new();
    let pass_file = pass.map(|p| {
        h.env.write("passphrase", p.as_bytes());
        h.env.path("passphrase")
    });
    let pass = pass_file.as_deref();
    let init = if pass.is_some() {
        "init --passphrase"
    } else {
        "init"
    };
    let with_pass = |args: &str| {
        let mut c = h.cmd();
        if let Some(p) = pass {
            c.env("COFFER_PASSPHRASE_FILE", p);
        }
        c.args(words(args)).assert().success();
    };
    with_pass(init);
    with_pass("key create app");
    with_pass("key create db");
    with_pass("key rotate db");
    let key_file_len = fs::read(h.root_key()).unwrap().len();
    let mut msgs = Messages { plain: Vec::new() };
    msgs.add(&h, "app", pass, 0);
    msgs.add(&h, "db", pass, 1);
    let steps = [
        "root: rewrapped",
        "root: in transaction (side file written)",
        "root: committed",
        "root: switched",
    ];
    // One whole run sets the scale of the random delays (0 to twice its length), so that
    // some runs are killed and some complete however fast the machine is.
    let t = Instant::now();
    with_pass("key rotate --root");
    let max_delay_ms = u64::try_from(t.elapsed().as_millis() * 2).unwrap().max(20);
    let mut tally = Tally::default();
    let mut states = std::collections::BTreeMap::<&str, usize>::new();
    type States = std::collections::BTreeMap<&'static str, usize>;
    let kill_once = |i: usize,
                     target: Option<&str>,
                     delay: Duration,
                     rng: &mut Rng,
                     msgs: &Messages,
                     tally: &mut Tally,
                     states: &mut States| {
        let old_file = fs::read(h.root_key()).unwrap();
        let old_id = meta_root_id(&h);
        let run = run_and_kill(&h, "key rotate --root", pass, target, delay, rng);
        tally.record(&run);
        let state = root_state(&h, &old_file, &old_id);
        *states.entry(state).or_default() += 1;
        if run.completed {
            assert_eq!(state, "switched", "{i}");
        }
        check_after_kill(&h, msgs, pass, &format!("iteration {i} ({state})"));
        let file = fs::read(h.root_key()).unwrap();
        assert_eq!(file.len(), key_file_len, "{i}: the protection is unchanged");
        match state {
            "untouched" | SIDE_FILE_ONLY => assert_eq!(file, old_file),
            _ => assert_ne!(meta_root_id(&h), old_id),
        }
    };
    for i in 0..iterations {
        if i % 5 == 2 {
            with_pass("key rotate app");
            msgs.add(&h, "app", pass, i + 2);
        }
        let (target, delay) = if i % 2 == 0 {
            (Some(steps[(i / 2) % steps.len()]), Duration::ZERO)
        } else {
            (None, Duration::from_millis(rng.below(max_delay_ms + 1)))
        };
        kill_once(i, target, delay, &mut rng, &msgs, &mut tally, &mut states);
    }
    // A busy machine can make every run slower than the delays measured at the start: then
    // runs with ever longer delays follow until one completes (a kill after it is harmless).
    let mut scale = max_delay_ms;
    for i in iterations..iterations + 8 {
        if tally.completed > 0 {
            break;
        }
        scale = scale.saturating_mul(2);
        let delay = Duration::from_millis(scale / 2 + rng.below(scale / 2 + 1));
        kill_once(i, None, delay, &mut rng, &msgs, &mut tally, &mut states);
    }
    eprintln!(
        "kill rotate --root (passphrase: {}, random delays up to {max_delay_ms} ms): \
         {tally:?}; states: {states:?}; {:?}",
        pass.is_some(),
        started.elapsed()
    );
    assert!(tally.completed >= 1 && tally.killed >= 1, "{tally:?}");
    let count = |s: &str| states.get(s).copied().unwrap_or(0);
    assert!(
        count(SIDE_FILE_ONLY) + count(COMMITTED_ONLY) >= 1,
        "no kill landed mid-switch: {states:?}"
    );
    for s in required {
        assert!(count(s) >= 1, "{s}: {states:?}");
    }
}

const SIDE_FILE_ONLY: &str = "side file written, not committed";
const COMMITTED_ONLY: &str = "committed, root.key not yet replaced";

/// `coffer key rotate --root` (plain root key), SIGKILLed at random points, 32 times.
#[test]
#[cfg_attr(
    not(feature = "test-pause"),
    ignore = "stops coffer at each step with the test-pause feature (scripts/test.sh turns it on)"
)]
fn kill_rotate_root_at_random_points() {
    kill_rotate_root(None, 32, 0xC0_FFEE_0002, &[SIDE_FILE_ONLY, COMMITTED_ONLY]);
}

/// The same with a passphrase-protected root key (Argon2id: slow enough to be killed in the
/// middle without the pauses too), 12 times.
#[test]
#[cfg_attr(
    not(feature = "test-pause"),
    ignore = "stops coffer at each step with the test-pause feature (scripts/test.sh turns it on)"
)]
fn kill_rotate_root_with_a_passphrase() {
    kill_rotate_root(Some("kill test passphrase"), 12, 0xC0_FFEE_0003, &[]);
}
