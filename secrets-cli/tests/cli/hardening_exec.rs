//! `exec` and `export` against a hostile store: no parameter chooses the program that runs
//! or how it is loaded; exported text, sourced or parsed, runs nothing and gives every value
//! back; values no environment can carry are named; `put` keeps a parameter's type.

use super::*;

use std::collections::BTreeMap;

/// The test's own PATH for coffer (the planted directory is never in it).
const SYSTEM_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

struct Store {
    env: Env,
}

impl Store {
    fn new() -> Self {
        let s = Self { env: Env::new() };
        s.sh("init").success();
        s
    }

    fn cmd(&self) -> Command {
        let mut c = self.env.cmd();
        c.env("COFFER_HOME", self.env.path("home"))
            .env("PATH", SYSTEM_PATH);
        c
    }

    fn sh(&self, args: &str) -> assert_cmd::assert::Assert {
        self.cmd().args(words(args)).assert()
    }

    /// `put NAME FLAGS` with `value` exactly (a newline is added, and dropped by `put`).
    fn put(&self, name: &str, value: &str, flags: &str) -> assert_cmd::assert::Assert {
        let mut input = value.as_bytes().to_vec();
        input.push(b'\n');
        self.cmd()
            .args(words(&format!("put {name} {flags}")))
            .write_stdin(input)
            .assert()
    }

    fn string(&self, name: &str, value: &str) {
        self.put(name, value, "--type string").success();
    }

    fn sql(&self, sql: &str) {
        let db = rusqlite::Connection::open(self.env.path("home/coffer.db")).unwrap();
        db.execute_batch(sql).unwrap();
    }

    /// The types of every version of `name`, oldest first.
    fn types(&self, name: &str) -> Vec<String> {
        let out = self.sh(&format!("--output json history {name}")).success();
        String::from_utf8(out.get_output().stdout.clone())
            .unwrap()
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                v["param_type"].as_str().unwrap().to_owned()
            })
            .collect()
    }
}

fn stdout(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8(a.get_output().stdout.clone()).unwrap()
}

fn stderr(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8(a.get_output().stderr.clone()).unwrap()
}

/// `NAME=VALUE` lines of `env` output (values without newlines only).
fn env_lines(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// A directory holding an `env` that writes the secret it receives to `marker` (and prints
/// nothing).
fn plant_env(s: &Store) -> (PathBuf, PathBuf) {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = s.env.path("planted");
    fs::create_dir(&dir).unwrap();
    let marker = s.env.path("planted-env-ran");
    let script = dir.join("env");
    fs::write(
        &script,
        // Shell builtins only: the planted directory may be the whole PATH.
        format!(
            "#!/bin/sh\nprintf '%s' \"$DB_PASSWORD\" > '{}'\n",
            marker.display()
        ),
    )
    .unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    (dir, marker)
}

#[test]
fn a_planted_path_does_not_choose_the_program() {
    let s = Store::new();
    let (dir, marker) = plant_env(&s);
    s.put("/prod/app/db-password", "hunter2", "").success();
    // Written by anyone who can write the store: no key is needed for a string.
    s.string("/prod/app/path", dir.to_str().unwrap());

    let a = s.sh("exec --path /prod/app -- env").success();
    assert!(!marker.exists(), "the planted env ran");
    let vars = env_lines(&stdout(&a));
    assert_eq!(vars["DB_PASSWORD"], "hunter2", "the real env ran");
    assert_eq!(vars["PATH"], SYSTEM_PATH, "PATH was set from the store");
    assert!(stderr(&a).contains("left out PATH (from /prod/app/path)"));

    s.sh("exec --strict --path /prod/app -- env")
        .code(1)
        .stderr(
            contains("the store would set PATH (from /prod/app/path)")
                .and(contains("--allow-var PATH")),
        );
    assert!(!marker.exists());

    // Allowed by name, PATH reaches the command; the command is still found with coffer's.
    let a = s
        .sh("exec --allow-var PATH --strict --path /prod/app -- env")
        .success();
    assert!(!marker.exists(), "the planted env ran");
    let vars = env_lines(&stdout(&a));
    assert_eq!(vars["PATH"], dir.to_str().unwrap());
    assert_eq!(vars["DB_PASSWORD"], "hunter2");
    // The name typed is the command's argv[0], as with a shell.
    let a = s
        .cmd()
        .args(words("exec --allow-var PATH --path /prod/app -- sh -c"))
        .arg("printf %s \"$0\"")
        .assert()
        .success();
    assert_eq!(stdout(&a), "sh");
}

#[test]
fn loader_shell_and_interpreter_variables_are_left_out() {
    let s = Store::new();
    s.string("/p/ld-preload", "/nonexistent/evil.so");
    s.string("/p/bash-env", "/nonexistent/evil.sh");
    s.string("/p/pythonpath", "/nonexistent/py");
    s.string("/p/git-ssh-command", "touch /nonexistent");
    s.string("/p/home", "/nonexistent");
    s.string("/p/ordinary", "kept");
    let script = r#"printf '%s|%s|%s|%s|%s|%s' "${LD_PRELOAD-unset}" "${BASH_ENV-unset}" "${PYTHONPATH-unset}" "${GIT_SSH_COMMAND-unset}" "${HOME-unset}" "$ORDINARY""#;
    let run = |flags: &str| {
        s.cmd()
            .env_remove("HOME")
            .args(words(&format!("exec {flags} --path /p -- sh -c")))
            .arg(script)
            .assert()
    };
    let a = run("").success();
    assert_eq!(stdout(&a), "unset|unset|unset|unset|unset|kept");
    for var in [
        "LD_PRELOAD",
        "BASH_ENV",
        "PYTHONPATH",
        "GIT_SSH_COMMAND",
        "HOME",
    ] {
        assert!(
            stderr(&a).contains(&format!("left out {var} ")),
            "{}",
            stderr(&a)
        );
    }
    run("--strict")
        .code(1)
        .stderr(contains("the store would set BASH_ENV (from /p/bash-env)"));
    // --allow-var lets exactly the named one through.
    let a = run("--allow-var PYTHONPATH").success();
    assert_eq!(stdout(&a), "unset|unset|/nonexistent/py|unset|unset|kept");
    run("--allow-var path")
        .code(2)
        .stderr(contains("--allow-var"));
}

#[test]
fn export_leaves_them_out_too() {
    let s = Store::new();
    let (dir, marker) = plant_env(&s);
    s.string("/p/path", dir.to_str().unwrap());
    s.string("/p/ld-preload", "/nonexistent/evil.so");
    s.string("/p/ordinary", "kept");
    for format in ["dotenv", "shell", "json", "yaml"] {
        let a = s
            .sh(&format!("export --path /p --format {format}"))
            .success();
        let text = stdout(&a);
        assert!(text.contains("ORDINARY"), "{format}: {text}");
        assert!(
            !text.contains("PATH") && !text.contains("LD_PRELOAD"),
            "{format}: {text}"
        );
        assert!(stderr(&a).contains("left out PATH"), "{format}");
        s.sh(&format!("export --strict --path /p --format {format}"))
            .code(1)
            .stdout("");
    }
    // Sourcing the export cannot change which env the shell runs next.
    let a = s.sh("export --path /p").success();
    let o = std::process::Command::new("bash")
        .env("PATH", SYSTEM_PATH)
        .args(["-c", &format!("set -a\n{}\nenv >/dev/null", stdout(&a))])
        .output()
        .unwrap();
    assert!(o.status.success());
    assert!(!marker.exists());
    let a = s
        .sh("export --allow-var PATH --path /p --format json")
        .success();
    let v: serde_json::Value = serde_json::from_str(&stdout(&a)).unwrap();
    assert_eq!(v["PATH"], dir.to_str().unwrap());
    assert!(v.get("LD_PRELOAD").is_none());
}

/// Values that break quoting, by parameter name (below /v); none holds a NUL.
fn nasty(marker: &Path) -> Vec<(&'static str, String)> {
    let m = marker.display();
    [
        ("plain", "plain".to_owned()),
        ("single", "it's".to_owned()),
        ("double", "say \"hi\"".to_owned()),
        ("backslash", r"a\b \n \t \\ \0101 \c".to_owned()),
        ("dollar", "$HOME $1 $$ $? ${X:y}".to_owned()),
        ("backquote", format!("`touch {m}`")),
        ("subst", format!("$(touch {m})")),
        ("hash", "a #b # c".to_owned()),
        ("spaces", "  lead and trail  ".to_owned()),
        ("equals", "a=b=c".to_owned()),
        ("newlines", "line1\nline2\n\n".to_owned()),
        ("controls", "\x01\x02\x1b[31m\x7f\t".to_owned()),
        ("unicode", "ü€😀\u{a0}\u{85}".to_owned()),
        ("empty", String::new()),
        ("quotes", r#"'"'"'"#.to_owned()),
        ("mixed", "\\'\"# =ü \\ x".to_owned()),
        ("bang", "!x !! !$".to_owned()),
        ("meta", "a;b|c&d>e<f * ? [a] ~ {a,b}".to_owned()),
    ]
    .into_iter()
    .collect()
}

/// Values no dotenv quoting gives back to python-dotenv (the shell wins), and what
/// `export` says about each.
fn python_dotenv_loses(marker: &Path) -> Vec<(&'static str, String)> {
    let m = marker.display();
    vec![
        ("braces", "${HOME}".to_owned()),
        ("cr", "a\rb\r\n".to_owned()),
        ("single-dollar", "it's $HOME".to_owned()),
        ("single-backquote", format!("it's `touch {m}`")),
        ("trailing", "ends in \\".to_owned()),
    ]
}

/// `bash -c 'set -a; . FILE; printf "%s\0" "$V"…'`: the values after sourcing.
fn source_in_bash(file: &Path, vars: &[String]) -> Vec<String> {
    let script = format!(
        "set -a; . \"$1\"; for v in {}; do printf '%s\\0' \"${{!v}}\"; done",
        vars.join(" ")
    );
    let o = std::process::Command::new("bash")
        .env_clear()
        .env("PATH", SYSTEM_PATH)
        .args(["-c", &script, "bash"])
        .arg(file)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        o.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let mut values: Vec<String> = String::from_utf8(o.stdout)
        .unwrap()
        .split('\0')
        .map(str::to_owned)
        .collect();
    assert_eq!(values.pop().as_deref(), Some(""));
    values
}

fn var(name: &str) -> String {
    name.to_ascii_uppercase().replace('-', "_")
}

#[test]
fn dotenv_sources_exactly_and_runs_nothing() {
    let s = Store::new();
    let marker = s.env.path("a-command-ran");
    let mut all = nasty(&marker);
    all.extend(python_dotenv_loses(&marker));
    for (name, value) in &all {
        s.string(&format!("/v/{name}"), value);
    }
    // One secure value too.
    s.put("/v/secret", "it's `$(secret)`", "").success();
    all.push(("secret", "it's `$(secret)`".to_owned()));

    let a = s.sh("export --path /v").success();
    s.env.write("app.env", stdout(&a).as_bytes());
    let vars: Vec<String> = all.iter().map(|(n, _)| var(n)).collect();
    let got = source_in_bash(&s.env.path("app.env"), &vars);
    assert!(!marker.exists(), "sourcing the export ran a command");
    for ((name, want), got) in all.iter().zip(&got) {
        assert_eq!(got, want, "{name}: sourced back differently");
    }
    // The shell format, for eval, too.
    let a = s.sh("export --path /v --format shell").success();
    s.env.write("app.sh", stdout(&a).as_bytes());
    let got = source_in_bash(&s.env.path("app.sh"), &vars);
    assert!(!marker.exists());
    for ((name, want), got) in all.iter().zip(&got) {
        assert_eq!(got, want, "{name}: eval'd back differently");
    }
}

/// python3 with python-dotenv and PyYAML (scripts/test.sh installs them).
fn python(script: &str, args: &[&Path]) -> String {
    let o = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("python3 is needed (scripts/test.sh installs python-dotenv and PyYAML)");
    assert!(
        o.status.success(),
        "python3 failed (scripts/test.sh installs python-dotenv and PyYAML): {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

#[test]
fn python_dotenv_reads_the_export_back_and_export_names_what_it_cannot() {
    let s = Store::new();
    let marker = s.env.path("a-command-ran");
    let readable = nasty(&marker);
    for (name, value) in &readable {
        s.string(&format!("/r/{name}"), value);
    }
    let lost = python_dotenv_loses(&marker);
    for (name, value) in &lost {
        s.string(&format!("/l/{name}"), value);
    }
    let a = s.sh("export --strict --path /r").success();
    assert_eq!(stderr(&a), "");
    s.env.write("r.env", stdout(&a).as_bytes());
    let read = python(
        "import json, sys\nfrom dotenv import dotenv_values\n\
         print(json.dumps(dotenv_values(sys.argv[1])))",
        &[&s.env.path("r.env")],
    );
    let read: BTreeMap<String, String> = serde_json::from_str(&read).unwrap();
    for (name, want) in &readable {
        assert_eq!(read.get(&var(name)), Some(want), "{name}");
    }
    assert_eq!(read.len(), readable.len());
    assert!(!marker.exists());

    // The others: the shell still reads them exactly (above); export says who does not.
    let a = s.sh("export --path /l").success();
    let err = stderr(&a);
    for (name, _) in &lost {
        assert!(
            err.contains(&format!(
                "python-dotenv will not read {} (from /l/{name})",
                var(name)
            )),
            "{name}: {err}"
        );
    }
    assert!(
        err.contains("docker compose will not read SINGLE_BACKQUOTE"),
        "{err}"
    );
    s.sh("export --strict --path /l")
        .code(1)
        .stdout("")
        .stderr(contains("would not read"));
}

#[test]
fn yaml_and_json_are_exact() {
    let s = Store::new();
    let marker = s.env.path("unused");
    let mut all = nasty(&marker);
    all.extend(python_dotenv_loses(&marker));
    all.push(("line-separators", "a\u{2028}b\u{2029}c\u{feff}".to_owned()));
    // YAML 1.1 reads a bare ON, YES or NULL key as a boolean or null.
    all.push(("on", "on".to_owned()));
    all.push(("null", "~".to_owned()));
    for (name, value) in &all {
        s.string(&format!("/y/{name}"), value);
    }
    let want: BTreeMap<String, String> = all.iter().map(|(n, v)| (var(n), v.clone())).collect();
    let a = s.sh("export --strict --path /y --format yaml").success();
    s.env.write("y.yaml", stdout(&a).as_bytes());
    let read = python(
        "import json, sys, yaml\nprint(json.dumps(yaml.safe_load(open(sys.argv[1], encoding='utf-8'))))",
        &[&s.env.path("y.yaml")],
    );
    let read: BTreeMap<String, String> = serde_json::from_str(&read).unwrap();
    assert_eq!(read, want);
    let a = s.sh("export --strict --path /y --format json").success();
    let read: BTreeMap<String, String> = serde_json::from_str(&stdout(&a)).unwrap();
    assert_eq!(read, want);
}

#[test]
fn nul_bytes_are_refused_at_put_and_named_at_exec() {
    let s = Store::new();
    s.put("/n/x", "a\0b", "--type string")
        .code(1)
        .stderr(contains("NUL byte"));
    s.put("/n/y", "a\0b", "")
        .code(1)
        .stderr(contains("NUL byte"));
    s.sh("history /n/x").code(1);
    // rotate's new value goes through the same check.
    s.string("/rot/r", "one");
    s.env.write("nul.bin", b"two\0");
    s.sh("rotate /rot/r --value-file nul.bin")
        .code(1)
        .stderr(contains("NUL byte"));
    assert_eq!(s.types("/rot/r").len(), 1, "rotate wrote a version");

    // A NUL already in the store (an old store, or a hostile writer).
    s.string("/n/bad", "placeholder");
    s.string("/n/good", "fine");
    s.sql("UPDATE param_versions SET value = X'610062' WHERE name = '/n/bad'");
    reseal(&s.env.path("home"), None);
    let a = s
        .cmd()
        .args(words("exec --path /n -- sh -c"))
        .arg(r#"printf '%s|%s' "${BAD-unset}" "$GOOD""#)
        .assert()
        .success();
    assert_eq!(stdout(&a), "unset|fine");
    assert!(
        stderr(&a).contains("left out BAD (from /n/bad)"),
        "{}",
        stderr(&a)
    );
    s.sh("exec --strict --path /n -- true")
        .code(1)
        .stderr(contains("/n/bad").and(contains("NUL byte")));
    // Sourced formats cannot carry it either; JSON can.
    let a = s.sh("export --path /n").success();
    assert_eq!(stdout(&a), "GOOD=\"fine\"\n");
    s.sh("export --strict --path /n --format shell").code(1);
    let a = s.sh("export --strict --path /n --format json").success();
    let v: serde_json::Value = serde_json::from_str(&stdout(&a)).unwrap();
    assert_eq!(v["BAD"], "a\0b");
}

#[test]
fn exec_and_export_take_keys() {
    let s = Store::new();
    s.put("/k/token", "t0ken", "--key aes:k32.bin").success();
    s.sh("exec --path /k -- true")
        .code(1)
        .stderr(contains("--key"));
    let a = s
        .cmd()
        .args(words("exec --key aes:k32.bin --path /k -- sh -c"))
        .arg(r#"printf %s "$TOKEN""#)
        .assert()
        .success();
    assert_eq!(stdout(&a), "t0ken");
    let a = s
        .sh("export -k aes:k32.bin -k aes:other.bin --path /k --format json")
        .success();
    let v: serde_json::Value = serde_json::from_str(&stdout(&a)).unwrap();
    assert_eq!(v["TOKEN"], "t0ken");
    s.sh("export --key aes:other.bin --path /k").code(1);
}

#[test]
fn put_keeps_the_type_unless_told_to_change_it() {
    let s = Store::new();
    s.put("/t/secret", "one", "").success();
    // The mistake: the next value would be stored in the clear.
    s.put("/t/secret", "two", "--type string --overwrite")
        .code(1)
        .stderr(
            contains("/t/secret is a secure-string parameter (version 1)")
                .and(contains("stored in the clear"))
                .and(contains("--change-type")),
        );
    s.put("/t/secret", "two", "--type string --if-version 1")
        .code(1)
        .stderr(contains("secure-string"));
    assert_eq!(s.types("/t/secret"), ["secure-string"]);
    // Without --type a new version keeps a secure type; over a clear one, --type must say
    // so (the type column alone never decides that a value is stored in the clear).
    s.put("/t/secret", "two", "--overwrite").success();
    s.string("/t/plain", "one");
    s.put("/t/plain", "two", "--overwrite")
        .code(1)
        .stderr(contains("only when --type says so"));
    s.put("/t/plain", "two", "--type string --overwrite")
        .success();
    s.put("/t/plain", "three", "--type secure-string --overwrite")
        .code(1);
    assert_eq!(s.types("/t/plain"), ["string", "string"]);
    // Asked for, the type changes.
    s.put(
        "/t/secret",
        "three",
        "--type string --overwrite --change-type",
    )
    .success();
    s.put(
        "/t/plain",
        "three",
        "--type secure-string --overwrite --change-type",
    )
    .success();
    assert_eq!(
        s.types("/t/secret"),
        ["secure-string", "secure-string", "string"]
    );
    assert_eq!(s.types("/t/plain"), ["string", "string", "secure-string"]);
    s.put("/t/plain", "x", "--overwrite --change-type")
        .code(2)
        .stderr(contains("--type"));
    // --key means secure-string.
    s.put("/t/plain", "four", "--overwrite --key aes:k32.bin")
        .success();
    s.put("/t/secret", "four", "--overwrite --key aes:k32.bin")
        .code(1)
        .stderr(contains("is a string parameter"));
}
