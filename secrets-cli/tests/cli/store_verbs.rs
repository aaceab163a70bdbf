//! The store verbs users reach for beyond put and get: `import` (issue 16, item 5).

use super::*;

/// Every parameter of the store, by name (`ls -r /`).
fn names(s: &Store) -> Vec<String> {
    s.json_lines("ls -r /")
        .iter()
        .filter(|v| v["type"] == "param_summary")
        .map(|v| v["name"].as_str().unwrap().to_owned())
        .collect()
}

/// How many entries the audit log holds.
fn audit_len(s: &Store) -> usize {
    s.json_lines("audit ls").len()
}

/// A value with every character the formats quote.
const AWKWARD: &str = "it's \"quoted\" $HOME `x` \\ \ttab\nline2\\";

fn import_round_trips_export(s: &Store) {
    s.put("put /src/db-password", AWKWARD).success();
    s.put("put /src/api-key --type string", "plain").success();
    s.put("put /src/9lives", "cat").success();
    for (format, read_as) in [
        ("dotenv", "dotenv"),
        ("shell", "dotenv"),
        ("json", "json"),
        ("yaml", "yaml"),
    ] {
        let out = s
            .sh(&format!("export --path /src --format {format}"))
            .success();
        s.env
            .write(&format!("src.{format}"), &out.get_output().stdout);
        s.sh(&format!(
            "import --path /copy/{format} src.{format} --format {read_as}"
        ))
        .success()
        .stdout(format!(
            "imported 3 parameters below /copy/{format} (3 new, 0 new versions) in one \
             transaction\n"
        ));
        assert_eq!(
            s.get(&format!("/copy/{format}/db-password")),
            format!("{AWKWARD}\n"),
            "{format}"
        );
        assert_eq!(s.get(&format!("/copy/{format}/api-key")), "plain\n");
        // `_9LIVES` comes back as the name that gives it again.
        assert_eq!(s.get(&format!("/copy/{format}/-9lives")), "cat\n");
        // Every value is secure unless --type says otherwise.
        let v = s.json(&format!("get /copy/{format}/api-key"));
        assert_eq!(v["param_type"], "secure-string", "{v}");
        // exec gives the variables of the source back.
        let env = s
            .sh(&format!("exec --path /copy/{format} -- env"))
            .success();
        let env = String::from_utf8_lossy(&env.get_output().stdout).into_owned();
        assert!(
            env.contains("API_KEY=plain\n") && env.contains("_9LIVES=cat\n"),
            "{env}"
        );
    }
}

fn import_writes_all_or_nothing(s: &Store) {
    s.env.write(
        "app.json",
        br#"{"DB_URL": "postgres://db", "db": {"port": 5432}, "hosts": ["a", "b"]}"#,
    );
    // The store key is made by the first secure put, with entries of its own.
    s.put("put /seed", "x").success();
    let before = audit_len(s);
    // --dry-run checks and says, and writes nothing.
    s.sh("import --path /app app.json --dry-run")
        .success()
        .stdout(contains(
            "would write /app/db-url version 1 (secure-string, new)",
        ))
        .stdout(contains(
            "would write /app/hosts version 1 (string-list, new)",
        ))
        .stdout(contains("nothing written"));
    let plan = s.json_lines("import --path /app app.json --dry-run");
    assert_eq!(plan.len(), 3);
    assert_eq!(plan[1]["name"], "/app/db/port");
    assert_eq!(plan[1]["origin"], "key db/port");
    assert!(names(s).iter().all(|n| !n.starts_with("/app/")));
    assert_eq!(audit_len(s), before);

    let written = s.json_lines("import --path /app app.json");
    assert_eq!(written.len(), 3);
    assert!(
        written
            .iter()
            .all(|v| v["type"] == "param_version" && v["version"] == 1)
    );
    // One `put` entry per parameter.
    assert_eq!(audit_len(s), before + 3);
    assert_eq!(s.get("/app/hosts"), "a,b\n");
    assert_eq!(s.json("get /app/hosts")["param_type"], "string-list");
    assert_eq!(s.get("/app/db/port"), "5432\n");

    // Each bad file is refused whole: nothing of it is written.
    let all = names(s);
    let audit = audit_len(s);
    let refused = |file: &str, body: &[u8], args: &str, needle: &str| {
        s.env.write(file, body);
        let out = s.sh(&format!("import --path /app {file} {args}")).failure();
        let err = text(out.get_output());
        assert!(err.contains(needle), "{file}: {err}");
        assert!(!err.contains("s3cret"), "{file} printed a value: {err}");
        assert_eq!(names(s), all, "{file} wrote something");
        assert_eq!(audit_len(s), audit, "{file} wrote to the audit log");
    };
    // A bad name after good ones.
    refused(
        "badname.env",
        b"NEW_ONE=s3cret\nbad*name=s3cret\n",
        "",
        "line 2",
    );
    // A duplicate, in each format.
    refused(
        "dup.env",
        b"A=s3cret\nB=1\nA=2\n",
        "",
        "line 3: `A` gives /app/a, as line 1 does",
    );
    refused(
        "dup.json",
        br#"{"x": "s3cret", "x": "2"}"#,
        "",
        "a key given twice: `x`",
    );
    refused("dup.yaml", b"x: s3cret\nx: 2\n", "", "not YAML");
    refused(
        "case.json",
        br#"{"NEW_TWO": "s3cret", "new-two": "2"}"#,
        "",
        "as key NEW_TWO does",
    );
    // A name that exists, after new ones: nothing, not even the new ones.
    refused(
        "exists.env",
        b"FRESH=s3cret\nDB_URL=s3cret\n",
        "",
        "/app/db-url exists",
    );
    // Of another type than the latest version.
    refused(
        "retype.env",
        b"HOSTS=s3cret\n",
        "--overwrite",
        "string-list parameter",
    );
    // A value over the limit.
    s.env
        .write("big.env", b"SMALL=s3cret\nLARGE=0123456789abcdef\n");
    let out = s
        .cmd()
        .env("COFFER_MAX_VALUE_BYTES", "10")
        .args(["import", "--path", "/app", "big.env"])
        .assert()
        .failure();
    assert!(
        text(out.get_output()).contains("/app/large"),
        "{}",
        text(out.get_output())
    );
    assert_eq!(names(s), all);
    // A variable other readers would expand; a file that is not the format.
    refused(
        "expand.env",
        b"OK=1\nURL=\"https://${HOST}/\"\n",
        "",
        "line 2",
    );
    refused("run.env", b"OK=1\nCMD=$(id)\n", "", "expands or runs");
    // A value over two lines without quotes: its second line is never shown.
    refused(
        "pem.env",
        b"KEY=-----BEGIN\nMIIs3cret\n",
        "",
        "line 2: expected KEY=value",
    );
    refused("float.json", br#"{"v": 1.10}"#, "", "quote it");
    refused("broken.json", br#"{"a": "s3cret""#, "", "not JSON");
    refused("list.json", br#"["s3cret"]"#, "", "not one object");
    refused("null.json", br#"{"n": null}"#, "", "null");
    refused("notutf8.env", b"A=\xff\xfe\n", "", "not UTF-8");

    // --overwrite writes new versions of them all, in one go.
    s.env
        .write("again.env", b"DB_URL=postgres://db2\nDB_PORT=1\n");
    s.sh("import --path /app again.env --overwrite")
        .success()
        .stdout(contains("(1 new, 1 new version)"));
    assert_eq!(s.get("/app/db-url"), "postgres://db2\n");
    assert_eq!(s.versions("/app/db-url"), [1, 2]);
    // From stdin, of the type given.
    s.cmd()
        .args(["import", "--path", "/plain", "--type", "string", "-"])
        .write_stdin(b"LEVEL=debug\n".to_vec())
        .assert()
        .success();
    assert_eq!(s.json("get /plain/level")["param_type"], "string");
    // A byte order mark first is not part of the first key.
    s.env.write("bom.env", b"\xef\xbb\xbfBOM_KEY=v\n");
    s.sh("import --path /plain bom.env").success();
    assert_eq!(s.get("/plain/bom-key"), "v\n");
}

#[test]
fn import_reads_what_export_writes() {
    import_round_trips_export(&Store::new());
}

#[cfg(feature = "postgres")]
#[test]
fn import_reads_what_export_writes_on_postgres() {
    if let Some(s) = Store::pg() {
        import_round_trips_export(&s);
    }
}

#[test]
fn import_writes_every_parameter_or_none() {
    import_writes_all_or_nothing(&Store::new());
}

#[cfg(feature = "postgres")]
#[test]
fn import_writes_every_parameter_or_none_on_postgres() {
    if let Some(s) = Store::pg() {
        import_writes_all_or_nothing(&s);
    }
}

/// An import killed inside its transaction, after its first parameter was written there,
/// leaves none of them.
#[cfg(unix)]
fn killed_import(s: &Store) {
    use std::io::{BufRead as _, BufReader};

    s.env.write("many.env", b"A=1\nB=2\nC=3\n");
    let mut child = s
        .child()
        .args(["import", "--path", "/k", "many.env"])
        .current_dir(s.env.path(""))
        .env("COFFER_TEST_PAUSE_MS", "5000")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "no pause");
        if line.contains("coffer test pause: put all: in transaction") {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        names(s).iter().all(|n| !n.starts_with("/k/")),
        "{:?}",
        names(s)
    );
    s.sh("audit verify").success();
    s.sh("import --path /k many.env").success();
    assert_eq!(s.get("/k/c"), "3\n");
}

#[cfg(unix)]
#[test]
#[cfg_attr(
    not(feature = "test-pause"),
    ignore = "stops coffer at each step with the test-pause feature (scripts/test.sh turns it on)"
)]
fn a_killed_import_writes_nothing() {
    killed_import(&Store::new());
}

#[cfg(unix)]
#[test]
#[cfg_attr(
    not(feature = "test-pause"),
    ignore = "stops coffer at each step with the test-pause feature (scripts/test.sh turns it on)"
)]
fn a_killed_import_writes_nothing_on_postgres() {
    if let Some(s) = Store::pg() {
        killed_import(&s);
    }
}

fn long_listing_deleted_and_tags(s: &Store) {
    s.put("put /ls/prod/a --tag team=db --tag env=prod", "a")
        .success();
    s.put(
        "put /ls/prod/b --type string --tag team=web --expires 90d",
        "b",
    )
    .success();
    s.put(
        "put /ls/prod/a --overwrite --label stable --tag team=db",
        "a2",
    )
    .success();
    s.put("put /ls/gone --tag team=db", "g").success();
    s.sh("rm /ls/gone").success();

    // ls -l: type, latest version, its labels, modified, expiry; never a value.
    let out = s.sh("ls -l -r /ls").success();
    let table = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    assert!(
        lines[0].starts_with("NAME") && lines[0].ends_with("EXPIRES"),
        "{table}"
    );
    let a: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(
        a[..4],
        ["/ls/prod/a", "secure-string", "2", "current,stable"],
        "{table}"
    );
    assert_eq!(a[5], "-");
    let b: Vec<&str> = lines[2].split_whitespace().collect();
    assert_eq!(b[..3], ["/ls/prod/b", "string", "1"], "{table}");
    assert!(b[5].starts_with("20"), "{table}");
    assert!(!table.contains("a2"), "{table}");

    // ls --deleted: only the deleted ones, with when.
    let out = s.sh("ls -r --deleted /ls").success();
    assert_eq!(out.get_output().stdout, b"/ls/gone\n");
    let out = s.sh("ls -l -r --deleted /ls").success();
    let table = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(
        table.lines().next().unwrap().ends_with("DELETED"),
        "{table}"
    );
    let gone = s.json_lines("ls -r --deleted /ls");
    assert_eq!(gone.len(), 1);
    assert!(gone[0]["deleted_at"].is_string(), "{}", gone[0]);
    assert!(
        s.json_lines("ls -r /ls")
            .iter()
            .all(|v| v["deleted_at"].is_null())
    );
    s.sh("restore /ls/gone").success();
    s.sh("ls -r --deleted /ls")
        .success()
        .stdout("")
        .stderr(contains("no deleted parameters under /ls"));
    s.sh("rm /ls/gone").success();

    // find --tag: the latest version's tags, all of them; never a deleted one.
    let found = |args: &str| -> Vec<String> {
        s.json_lines(&format!("find {args}"))
            .iter()
            .map(|v| v["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(found("--tag team=db"), ["/ls/prod/a"]);
    assert_eq!(found("--tag team"), ["/ls/prod/a", "/ls/prod/b"]);
    assert_eq!(found("--tag team=db --tag env=prod"), Vec::<String>::new());
    // Version 2 of /ls/prod/a has no env tag: only the latest counts.
    assert_eq!(found("/ls/prod --tag team=web"), ["/ls/prod/b"]);
    assert_eq!(found("/other --tag team=web"), Vec::<String>::new());
    s.sh("find --tag nope")
        .success()
        .stderr(contains("no parameters with those tags under /"));
    s.sh("find --tag =x")
        .code(2)
        .stderr(contains("bad tag `=x`"));
    s.sh("find").code(2);
    let out = s.sh("find -l --tag team=web").success();
    assert!(
        String::from_utf8_lossy(&out.get_output().stdout).starts_with("NAME"),
        "a table"
    );
}

#[test]
fn ls_long_deleted_and_find_by_tag() {
    long_listing_deleted_and_tags(&Store::new());
}

#[cfg(feature = "postgres")]
#[test]
fn ls_long_deleted_and_find_by_tag_on_postgres() {
    if let Some(s) = Store::pg() {
        long_listing_deleted_and_tags(&s);
    }
}

fn copies_and_moves(s: &Store) {
    s.put("put /cp/src/db-password --tag team=web", AWKWARD)
        .success();
    // The current version's type, description, tags and expiry go with the copy.
    s.put(
        "put /cp/src/db-password --overwrite --description pw --tag team=db --expires 90d",
        "second",
    )
    .success();
    s.put("put /cp/src/deep/host --type string", "db.internal")
        .success();

    // One name: its current value, type, description, tags and expiry; a new parameter.
    s.sh("cp /cp/src/db-password /cp/one")
        .success()
        .stdout("copied /cp/src/db-password to /cp/one (version 1)\n");
    assert_eq!(s.get("/cp/one"), "second\n");
    let v = s.json("get /cp/one");
    assert_eq!(v["version"], 1);
    assert_eq!(v["param_type"], "secure-string");
    assert_eq!(v["tags"]["team"], "db", "{v}");
    assert_eq!(v["description"], "pw", "{v}");
    assert!(v["expires_at"].is_string(), "{v}");
    assert_eq!(v["key"], "local:params");
    // Encrypted again for its new name, under the key the policies give the new path (a
    // message copied as it is would not decrypt there: its context names the source).
    s.sh("key create other").success();
    s.sh("policy set /cp/keyed --key other").success();
    s.sh("cp /cp/src/db-password /cp/keyed/pw").success();
    assert_eq!(s.json("get /cp/keyed/pw")["key"], "local:other");
    assert_eq!(s.get("/cp/keyed/pw"), "second\n");
    // An existing name is refused, and --overwrite writes a new version.
    s.sh("cp /cp/src/db-password /cp/one")
        .failure()
        .stderr(contains("/cp/one exists"));
    s.sh("cp /cp/src/db-password /cp/one --overwrite").success();
    assert_eq!(s.versions("/cp/one"), [1, 2]);
    // Of another type: refused, nothing written.
    s.sh("cp /cp/src/deep/host /cp/one --overwrite")
        .failure()
        .stderr(contains("secure-string parameter"));
    assert_eq!(s.versions("/cp/one"), [1, 2]);
    s.sh("cp /cp/one /cp/one")
        .failure()
        .stderr(contains("onto itself"));
    s.sh("cp /cp/nothing /cp/x").failure();

    // -r: every parameter below the path, in one transaction.
    let out = s.json_lines("cp -r /cp/src /cp/tree");
    assert_eq!(out.len(), 2, "{out:?}");
    assert_eq!(out[0]["type"], "param_copied");
    assert_eq!(s.get("/cp/tree/db-password"), "second\n");
    assert_eq!(s.get("/cp/tree/deep/host"), "db.internal\n");
    assert_eq!(s.json("get /cp/tree/deep/host")["param_type"], "string");
    // One name below the destination exists: nothing is copied.
    s.put("put /cp/tree2/deep/host --type string", "taken")
        .success();
    s.sh("cp -r /cp/src /cp/tree2")
        .failure()
        .stderr(contains("/cp/tree2/deep/host exists"));
    assert_eq!(s.versions("/cp/tree2/db-password"), Vec::<i64>::new());
    s.sh("cp -r /cp/empty /cp/x")
        .failure()
        .stderr(contains("no parameters below /cp/empty"));
    // A current value that was destroyed stops it all.
    s.put("put /cp/bad/a", "a").success();
    s.put("put /cp/bad/b", "b").success();
    s.sh("destroy /cp/bad/b:1").success();
    s.sh("cp -r /cp/bad /cp/bad2")
        .failure()
        .stderr(contains("nothing was copied"));
    assert_eq!(s.versions("/cp/bad2/a"), Vec::<i64>::new());

    // mv: a copy, then rm of the source, which restore brings back.
    s.sh("mv /cp/one /cp/moved")
        .success()
        .stdout(contains("moved /cp/one to /cp/moved (version 1)"));
    assert_eq!(s.get("/cp/moved"), "second\n");
    s.sh("get /cp/one").failure().stderr(contains("deleted"));
    let out = s.sh("ls -r --deleted /cp").success();
    assert_eq!(out.get_output().stdout, b"/cp/one\n");
    s.sh("mv -r /cp/tree /cp/tree3").success();
    assert_eq!(s.get("/cp/tree3/deep/host"), "db.internal\n");
    let left: Vec<String> = s
        .json_lines("ls -r /cp/tree")
        .iter()
        .filter_map(|v| v["name"].as_str().map(str::to_owned))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    s.sh("restore /cp/tree/deep/host").success();
    // A name both moved and moved onto: refused, nothing moved.
    s.put("put /ov/x", "A").success();
    s.put("put /ov/b/x", "B").success();
    s.sh("mv -r --overwrite /ov /ov/b")
        .failure()
        .stderr(contains("/ov/b/x is both moved and moved onto"));
    assert_eq!(s.get("/ov/x"), "A\n");
    assert_eq!(s.versions("/ov/b/x"), [1]);
    s.sh("audit verify").success();
}

#[test]
fn cp_and_mv_of_names_and_paths() {
    copies_and_moves(&Store::new());
}

#[cfg(feature = "postgres")]
#[test]
fn cp_and_mv_of_names_and_paths_on_postgres() {
    if let Some(s) = Store::pg() {
        copies_and_moves(&s);
    }
}

/// An editor script `name` in the scratch directory: it records its file's mode, its
/// directory's mode, the directory, its file system and the text it got in `$REC`, then runs
/// `then`.
fn editor(s: &Store, name: &str, then: &str) -> String {
    use std::os::unix::fs::PermissionsExt as _;
    let path = s.env.path(name);
    fs::write(
        &path,
        format!(
            "#!/bin/sh\nf=\"$1\"; d=$(dirname \"$f\")\n\
             {{ stat -c %a \"$f\"; stat -c %a \"$d\"; echo \"$d\"; stat -f -c %T \"$d\"; cat \"$f\"; }} > \"$REC\"\n\
             touch \"$d/.leftover.swp\"\n{then}\n"
        ),
    )
    .unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    path.display().to_string()
}

/// What an editor recorded: file mode, directory mode, directory, file system, text.
fn recorded(s: &Store) -> (String, String, PathBuf, String, String) {
    let rec = fs::read_to_string(s.env.path("rec")).unwrap();
    let mut lines = rec.splitn(5, '\n');
    let mut next = || lines.next().unwrap_or_default().to_owned();
    (next(), next(), PathBuf::from(next()), next(), next())
}

fn edits(s: &Store) {
    s.put("put /e/pw --tag team=db --description pw", "old value")
        .success();
    let run = |editor: &str| {
        s.cmd()
            .env("EDITOR", editor)
            .env_remove("VISUAL")
            .env("REC", s.env.path("rec"))
            // A directory on disk is never used for the file.
            .env("XDG_RUNTIME_DIR", s.env.path(""))
            .args(["edit", "/e/pw"])
            .assert()
    };
    // A change: a new version, tags and description kept.
    let ed = editor(s, "change.sh", "printf 'new value\\n' > \"$f\"");
    run(&ed).success().stdout("wrote /e/pw version 2\n");
    let (file_mode, dir_mode, dir, fs_type, text) = recorded(s);
    assert_eq!((file_mode.as_str(), dir_mode.as_str()), ("600", "700"));
    assert!(
        fs_type == "tmpfs" || fs_type == "ramfs",
        "{fs_type} ({})",
        dir.display()
    );
    assert!(dir.starts_with("/dev/shm"), "{}", dir.display());
    assert_eq!(text, "old value\n");
    assert!(!dir.exists(), "{} is left", dir.display());
    assert_eq!(s.get("/e/pw"), "new value\n");
    let v = s.json("get /e/pw");
    assert_eq!(
        (v["version"].as_i64(), v["tags"]["team"].as_str()),
        (Some(2), Some("db"))
    );
    assert_eq!(v["description"], "pw");

    // The same text: nothing written.
    let ed = editor(s, "same.sh", "true");
    run(&ed)
        .success()
        .stderr(contains("/e/pw unchanged: no new version written"));
    assert_eq!(s.versions("/e/pw"), [1, 2]);
    assert!(!recorded(s).2.exists());
    // An editor that fails, after changing the text: nothing written, nothing left.
    let ed = editor(s, "fail.sh", "printf 'half\\n' > \"$f\"; exit 3");
    run(&ed)
        .code(1)
        .stderr(contains("exited with status 3: nothing was written"));
    assert_eq!(s.versions("/e/pw"), [1, 2]);
    assert!(!recorded(s).2.exists());
    // One that removes the file.
    let ed = editor(s, "rm.sh", "rm \"$f\"");
    run(&ed)
        .code(1)
        .stderr(contains("the editor removed the file"));
    // Another writer while the editor runs: a conflict, the other value stays.
    let ed = editor(
        s,
        "race.sh",
        &format!(
            "echo other | '{}' put /e/pw --overwrite >/dev/null; printf 'mine\\n' > \"$f\"",
            env!("CARGO_BIN_EXE_coffer")
        ),
    );
    run(&ed).failure();
    assert_eq!(s.get("/e/pw"), "other\n");
    assert!(!recorded(s).2.exists());
    // A value over the limit.
    let ed = editor(s, "big.sh", "head -c 100 /dev/zero | tr '\\0' x > \"$f\"");
    s.cmd()
        .env("EDITOR", &ed)
        .env("REC", s.env.path("rec"))
        .env("COFFER_MAX_VALUE_BYTES", "50")
        .args(["edit", "/e/pw"])
        .assert()
        .failure()
        .stderr(contains("too large"));
    assert_eq!(s.versions("/e/pw"), [1, 2, 3]);
    assert!(!recorded(s).2.exists());
    // A value ending in a carriage return, left as it is: unchanged, not rewritten.
    s.env.write("cr.json", br#"{"cr": "tok\r"}"#);
    s.sh("import --path /e cr.json").success();
    s.cmd()
        .env("EDITOR", "true")
        .args(["edit", "/e/cr"])
        .assert()
        .success()
        .stderr(contains("unchanged"));
    assert_eq!(s.versions("/e/cr"), [1]);
    // A version after the current one (a rotation's pending) is not superseded.
    s.put("put /e/pw --overwrite --label pending", "staged")
        .success();
    s.sh("label /e/pw:3 current").success();
    s.cmd()
        .env("EDITOR", "true")
        .args(["edit", "/e/pw"])
        .assert()
        .failure()
        .stderr(contains("after its current version 3"));
    // Vim keeps no swap and no viminfo file of the text.
    let vim = s.env.path("bin/vim");
    fs::create_dir_all(s.env.path("bin")).unwrap();
    fs::write(&vim, "#!/bin/sh\nprintf '%s ' \"$@\" > \"$ARGS\"\n").unwrap();
    {
        use std::os::unix::fs::PermissionsExt as _;
        fs::set_permissions(&vim, fs::Permissions::from_mode(0o755)).unwrap();
    }
    s.cmd()
        .env("EDITOR", &vim)
        .env("ARGS", s.env.path("args"))
        .args(["edit", "/e/cr"])
        .assert()
        .success();
    let args = fs::read_to_string(s.env.path("args")).unwrap();
    assert!(args.starts_with("-n -i NONE /"), "{args}");
    // A name that is not there.
    s.cmd()
        .env("EDITOR", &ed)
        .args(["edit", "/e/none"])
        .assert()
        .failure()
        .stderr(contains("/e/none"));
}

#[test]
fn edit_writes_a_new_version_only_when_the_text_changed() {
    edits(&Store::new());
}

#[cfg(feature = "postgres")]
#[test]
fn edit_writes_a_new_version_only_when_the_text_changed_on_postgres() {
    if let Some(s) = Store::pg() {
        edits(&s);
    }
}

/// SIGTERM while the editor runs removes the file and writes nothing; SIGINT (the
/// terminal's Ctrl-C, which the editor gets too) is the editor's: coffer waits for it.
#[test]
fn edit_under_signals() {
    use std::time::{Duration, Instant};
    let s = Store::new();
    s.put("put /e/sig", "old").success();
    let go = s.env.path("go");
    let ed = editor(
        &s,
        "wait.sh",
        "while [ ! -e \"$GO\" ]; do sleep 0.05; done; printf 'after\\n' > \"$f\"",
    );
    let start = |s: &Store| {
        let _ = fs::remove_file(s.env.path("rec"));
        let child = s
            .child()
            .env("EDITOR", &ed)
            .env("REC", s.env.path("rec"))
            .env("GO", &go)
            .args(["edit", "/e/sig"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let until = Instant::now() + Duration::from_secs(30);
        while !s.env.path("rec").exists() || recorded(s).4.is_empty() {
            assert!(Instant::now() < until, "the editor did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        child
    };
    let signal = |child: &std::process::Child, sig: rustix::process::Signal| {
        let pid = rustix::process::Pid::from_child(child);
        rustix::process::kill_process(pid, sig).unwrap();
    };

    let mut child = start(&s);
    signal(&child, rustix::process::Signal::INT);
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        child.try_wait().unwrap().is_none(),
        "coffer ended on SIGINT"
    );
    fs::write(&go, b"").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(s.get("/e/sig"), "after\n");
    fs::remove_file(&go).unwrap();

    let mut child = start(&s);
    let dir = recorded(&s).2;
    assert!(dir.exists());
    signal(&child, rustix::process::Signal::TERM);
    // (The editor, still running, holds coffer's stderr: only the status is waited for.)
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(143), "{status}");
    assert!(!dir.exists(), "{} is left after SIGTERM", dir.display());
    // The editor still waits; it gets its go, writes into nothing, and nothing is written.
    fs::write(&go, b"").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(s.versions("/e/sig"), [1, 2]);
}

/// What bash completes for each line of `lines` (the words so far, the last being the one
/// completed), with the script `coffer completions bash` prints sourced as a user's
/// `.bashrc` does.
fn bash_completes(s: &Store, extra: &[(&str, &str)], lines: &[&str]) -> Vec<Vec<String>> {
    let mut script = String::from(
        "source <(\"$COFFER_BIN\" completions bash)\n\
         at() { COMP_WORDS=(\"$@\"); COMP_CWORD=$(( $# - 1 )); COMP_TYPE=9; \
         _clap_complete_coffer coffer \"${@: -1}\" x; \
         printf '%s\\n' \"${COMPREPLY[@]}\"; echo --; }\n",
    );
    for l in lines {
        script.push_str(&format!("at coffer {l}\n"));
    }
    let mut c = std::process::Command::new("bash");
    for (k, v) in s.vars() {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    for (k, v) in extra {
        c.env(k, v);
    }
    let out = c
        .env("COFFER_BIN", env!("CARGO_BIN_EXE_coffer"))
        .arg("-c")
        .arg(script)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8(out.stdout)
        .unwrap()
        .split("--\n")
        .take(lines.len())
        .map(|block| {
            block
                .lines()
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .collect()
}

#[test]
fn shell_completion_of_parameter_names() {
    let s = Store::new();
    s.put("put /app/prod/db-password", "s3cret").success();
    s.put("put /app/prod/db-host --type string", "dbhost")
        .success();
    s.put("put /app/top", "t").success();
    let got = bash_completes(
        &s,
        &[],
        &[
            "get /app/",
            "get /app/prod/db",
            "exec --path /ap",
            "rm app/prod/db-h",
            "hist",
            "get /nothing/",
        ],
    );
    assert_eq!(got[0], ["/app/prod/", "/app/top"]);
    assert_eq!(got[1], ["/app/prod/db-host", "/app/prod/db-password"]);
    assert_eq!(got[2], ["/app/"]);
    assert_eq!(got[3], ["app/prod/db-host"]);
    assert_eq!(got[4], ["history"]);
    assert!(got[5].is_empty(), "{:?}", got[5]);
    let all = got.concat().join(" ");
    assert!(!all.contains("s3cret") && !all.contains("dbhost"), "{all}");
    // No store: no names and no error in the shell.
    let none = bash_completes(&s, &[("COFFER_HOME", "/nonexistent")], &["get /app/"]);
    assert!(none[0].is_empty(), "{none:?}");
    // Every shell clap completes has a script.
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        s.sh(&format!("completions {shell}"))
            .success()
            .stdout(contains("COFFER_COMPLETE"));
    }
}
