//! One duration grammar for every flag (`30s`, `90s`, `15m`, `12h`, `90d`, `1w`, `1h30m`),
//! each flag checking its own bounds after parsing, with the flag, the text and the bound in
//! the error.

use super::*;

use serde_json::Value;

/// A scratch directory with an initialised home (`home/`) and a parameter `/app/token`.
fn store() -> Env {
    let env = Env::new();
    run(&env, &["init"]).success();
    cmd(&env)
        .args(["put", "/app/token", "--type", "string"])
        .write_stdin("t0")
        .assert()
        .success();
    env
}

fn cmd(env: &Env) -> Command {
    let mut c = env.cmd();
    c.env("COFFER_HOME", env.path("home"));
    c
}

fn run(env: &Env, args: &[&str]) -> assert_cmd::assert::Assert {
    cmd(env).args(args).assert()
}

fn json(a: &assert_cmd::assert::Assert) -> Value {
    serde_json::from_slice(&a.get_output().stdout).unwrap()
}

/// A refused duration: usage error, the flag and its text, then why.
fn refused(a: assert_cmd::assert::Assert, message: &str) {
    a.code(2).stderr(contains(format!("error: {message}")));
}

#[test]
fn rotation_periods_take_weeks_and_seconds_down_to_a_minute() {
    let env = store();
    let v = json(&run(
        &env,
        &[
            "--output",
            "json",
            "key",
            "create",
            "weekly",
            "--rotation-period",
            "1w",
        ],
    ));
    assert_eq!(v["rotation_period_secs"], 7 * 86_400, "{v}");
    assert_eq!(v["rotation_period"], "7d", "{v}");
    let v = json(&run(
        &env,
        &[
            "--output",
            "json",
            "key",
            "create",
            "fast",
            "--rotation-period",
            "90s",
        ],
    ));
    assert_eq!(v["rotation_period_secs"], 90, "{v}");
    run(
        &env,
        &["key", "create", "mixed", "--rotation-period", "1h30m"],
    )
    .success();
    refused(
        run(&env, &["key", "create", "k", "--rotation-period", "30s"]),
        "--rotation-period 30s: must be at least 1m",
    );
    refused(
        run(&env, &["key", "create", "k", "--rotation-period", "36501d"]),
        "--rotation-period 36501d: must be at most 36500d",
    );
    refused(
        run(&env, &["key", "create", "k", "--rotation-period", "1M"]),
        "--rotation-period 1M: months and years have no fixed length: give days (30d, 365d)",
    );

    let v = json(&run(
        &env,
        &["--output", "json", "key", "set-rotation", "weekly", "2w"],
    ));
    assert_eq!(v["rotation_period_secs"], 14 * 86_400, "{v}");
    run(&env, &["key", "set-rotation", "weekly", "90s"]).success();
    refused(
        run(&env, &["key", "set-rotation", "weekly", "0s"]),
        "key set-rotation 0s: must be at least 1m",
    );
}

#[test]
fn every_takes_weeks_and_seconds_down_to_a_minute() {
    let env = store();
    run(
        &env,
        &["rotate", "/app/token", "--generate", "--every", "1w"],
    )
    .success();
    run(
        &env,
        &["rotate", "/app/token", "--generate", "--every", "90s"],
    )
    .success();
    for (every, why) in [
        ("0s", "must be at least 1m"),
        ("59s", "must be at least 1m"),
    ] {
        refused(
            run(
                &env,
                &["rotate", "/app/token", "--generate", "--every", every],
            ),
            &format!("--every {every}: {why}"),
        );
    }
    refused(
        run(
            &env,
            &[
                "rotate",
                "/app/token",
                "--generate",
                "--every",
                "1fortnight",
            ],
        ),
        "--every 1fortnight: bad duration",
    );
    cmd(&env)
        .args(["rotate", "/app/token", "--generate", "--every", "5x"])
        .assert()
        .code(2)
        .stderr(contains("hint: durations are numbers with units"));
}

#[test]
fn hook_timeouts_take_weeks_and_seconds_up_to_seven_days() {
    let env = store();
    run(
        &env,
        &["rotate", "/app/token", "--generate", "--hook-timeout", "1w"],
    )
    .success();
    run(
        &env,
        &[
            "rotate",
            "/app/token",
            "--generate",
            "--hook-timeout",
            "90s",
        ],
    )
    .success();
    run(
        &env,
        &[
            "rotate",
            "/app/token",
            "--generate",
            "--hook-timeout",
            "1m30s",
        ],
    )
    .success();
    refused(
        run(
            &env,
            &[
                "rotate",
                "/app/token",
                "--generate",
                "--hook-timeout",
                "1w1s",
            ],
        ),
        "--hook-timeout 1w1s: must be at most 7d",
    );
    refused(
        run(
            &env,
            &["rotate", "/app/token", "--generate", "--hook-timeout", "0s"],
        ),
        "--hook-timeout 0s: must be at least 1s",
    );
    refused(
        run(
            &env,
            &[
                "rotate",
                "/app/token",
                "--generate",
                "--hook-timeout",
                "1.5s",
            ],
        ),
        "--hook-timeout 1.5s: durations are whole seconds",
    );
}

#[test]
fn expires_takes_weeks_and_seconds() {
    let env = store();
    let before = now();
    for (when, secs) in [("1w", 7 * 86_400), ("90s", 90), ("1d12h", 36 * 3600)] {
        let name = format!("/app/e{secs}");
        cmd(&env)
            .args(["put", &name, "--type", "string", "--expires", when])
            .write_stdin("v")
            .assert()
            .success();
        let v = json(&run(&env, &["--output", "json", "history", &name]));
        let at = v
            .as_array()
            .and_then(|a| a.first())
            .unwrap_or(&v)
            .get("expires_at")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| panic!("no expires_at in {v}"));
        let at = rfc3339_secs(&at);
        assert!(
            (before + secs..=now() + secs).contains(&at),
            "--expires {when}: {at} is not {secs} s from now"
        );
    }
    for (when, why) in [
        ("0s", "must be at least 1s"),
        ("36501d", "must be at most 36500d"),
        ("1y", "months and years have no fixed length"),
    ] {
        refused(
            run(
                &env,
                &["put", "/app/x", "--type", "string", "--expires", when],
            ),
            &format!("--expires {when}: {why}"),
        );
    }
}

#[test]
fn data_key_cache_max_age_takes_seconds_up_to_a_day() {
    let env = Env::new();
    fs::create_dir(env.path("src")).unwrap();
    env.write("src/a", b"a");
    for (i, age) in ["90s", "1h30m", "1d"].into_iter().enumerate() {
        let out = format!("out{i}");
        let spec = format!("max-age={age}");
        env.run(&[
            "encrypt",
            "--key",
            "aes:k32.bin",
            "-r",
            "-i",
            "src",
            "-o",
            &out,
            "--data-key-cache",
            &spec,
        ])
        .success();
    }
    for (age, why) in [("1w", "must be at most 1d"), ("0s", "must be at least 1s")] {
        let spec = format!("max-age={age}");
        refused(
            env.run(&[
                "encrypt",
                "--key",
                "aes:k32.bin",
                "-r",
                "-i",
                "src",
                "-o",
                "out",
                "--data-key-cache",
                &spec,
            ]),
            &format!("--data-key-cache max-age={age}: max-age: {why}"),
        );
    }
}

fn now() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

/// Unix seconds of `2026-11-22T18:13:45Z`.
fn rfc3339_secs(s: &str) -> i64 {
    let n = |r: std::ops::Range<usize>| s[r].parse::<i64>().unwrap();
    let (y, m, d) = (n(0..4), n(5..7), n(8..10));
    let (y, m) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let doy = (153 * m + 2) / 5 + d - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    days * 86_400 + n(11..13) * 3600 + n(14..16) * 60 + n(17..19)
}
