//! The local keyring: `coffer init`, `coffer key …`, `--key NAME`, decrypt without `--key`.
//! Each test has its own `COFFER_HOME` inside its scratch directory.

use super::*;

use rusqlite::{Connection, params};
use serde_json::Value;

/// A scratch directory with its own `COFFER_HOME` (`home/`, not created yet).
struct Home {
    env: Env,
}

impl Home {
    fn new() -> Self {
        Self { env: Env::new() }
    }

    fn home(&self) -> PathBuf {
        self.env.path("home")
    }

    fn cmd(&self) -> Command {
        let mut c = self.env.cmd();
        c.env("COFFER_HOME", self.home());
        c
    }

    fn sh(&self, args: &str) -> assert_cmd::assert::Assert {
        self.cmd().args(words(args)).assert()
    }

    /// `coffer ARGS` with the passphrase in a file.
    fn with_pass(&self, pass: &str, args: &str) -> assert_cmd::assert::Assert {
        let file = self.env.path(&format!("pass-{}", pass.len()));
        fs::write(&file, format!("{pass}\n")).unwrap();
        self.cmd()
            .env("COFFER_PASSPHRASE_FILE", &file)
            .args(words(args))
            .assert()
    }

    fn json(&self, args: &str) -> Value {
        let out = self.sh(&format!("--output json {args}")).success();
        serde_json::from_slice(&out.get_output().stdout).unwrap()
    }

    fn json_lines(&self, args: &str) -> Vec<Value> {
        let out = self.sh(&format!("--output json {args}")).success();
        String::from_utf8(out.get_output().stdout.clone())
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    fn root_key(&self) -> PathBuf {
        self.home().join("root.key")
    }

    fn db(&self) -> Connection {
        Connection::open(self.home().join("coffer.db")).unwrap()
    }

    /// init + one key.
    fn with_key(name: &str) -> Self {
        let h = Self::new();
        h.sh("init").success();
        h.sh(&format!("key create {name}")).success();
        h
    }
}

fn stderr(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&a.get_output().stderr).into_owned()
}

#[cfg(unix)]
#[test]
fn init_makes_a_private_home_and_never_overwrites() {
    let h = Home::new();
    h.sh("init").success().stdout(contains("initialised"));
    assert_eq!(mode(&h.home()), 0o700);
    assert_eq!(mode(&h.root_key()), 0o600);
    assert_eq!(mode(&h.home().join("coffer.db")), 0o600);
    let key = fs::read(h.root_key()).unwrap();
    assert_eq!(key.len(), 84);
    assert!(key.starts_with(b"coffer-root-key v1\n\x01"));
    assert!(tree_names(&h.home()).iter().all(|n| !n.contains("tmp")));

    h.sh("init")
        .code(1)
        .stderr(contains("set up in").and(contains("already")));
    assert_eq!(fs::read(h.root_key()).unwrap(), key, "root key unchanged");

    // A store without keys whose root key went missing may be initialised again.
    fs::remove_file(h.root_key()).unwrap();
    let v = h.json("init");
    assert_eq!(
        (v["type"].as_str(), v["passphrase"].as_bool()),
        (Some("init"), Some(false))
    );
    assert!(v["root_id"].as_str().unwrap().starts_with("local:"));
    assert_ne!(fs::read(h.root_key()).unwrap(), key);

    // Not once it holds keys.
    h.sh("key create app").success();
    fs::remove_file(h.root_key()).unwrap();
    h.sh("init")
        .code(1)
        .stderr(contains("holds keys").and(contains("restore root.key")));
    assert!(!h.root_key().exists());
}

#[test]
fn init_roots_and_home_flag() {
    let h = Home::new();
    h.sh("init --root kms:discovery")
        .code(2)
        .stderr(contains("name one AWS KMS key"));
    h.sh("init --root pkcs11:token=x")
        .code(2)
        .stderr(contains("name the key: token=LABEL and object=LABEL"));
    h.sh("init --root aes:k32.bin").code(2);
    assert!(!h.home().exists());
    // --home wins over COFFER_HOME.
    let other = h.env.path("elsewhere");
    h.cmd()
        .args(["--home", other.to_str().unwrap(), "init"])
        .assert()
        .success();
    assert!(other.join("root.key").exists());
    assert!(!h.home().exists());
    h.cmd()
        .args(["key", "create", "k", "--home", other.to_str().unwrap()])
        .assert()
        .success();
}

#[test]
fn passphrase_protected_root() {
    let h = Home::new();
    h.with_pass("correct horse", "init --passphrase")
        .success()
        .stdout(contains("passphrase-protected"));
    let file = fs::read(h.root_key()).unwrap();
    assert_eq!(file.len(), 140);
    assert!(file.starts_with(b"coffer-root-key v1\n\x02"));
    h.with_pass("correct horse", "key create app").success();

    // Wrong passphrase: exit 1, nothing changed.
    let a = h.with_pass("battery staple", "key create other").code(1);
    assert!(
        stderr(&a).contains("wrong passphrase for root key"),
        "{}",
        stderr(&a)
    );
    // Listing checks every key's seal, which takes the root key.
    h.sh("key list")
        .code(2)
        .stderr(contains("set COFFER_PASSPHRASE_FILE"));
    let out = h
        .with_pass("correct horse", "--output json key list")
        .success();
    let names: Vec<_> = String::from_utf8_lossy(&out.get_output().stdout)
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["name"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(names, ["app"], "nothing was added");

    h.with_pass("correct horse", "encrypt --key app -i plain -o ct")
        .success();
    h.with_pass("battery staple", "decrypt -i ct -o out")
        .code(1)
        .stderr(contains("wrong passphrase"));
    assert!(!h.env.path("out").exists());
    h.with_pass("correct horse", "decrypt -i ct -o out")
        .success();
    assert_eq!(h.env.read("out"), h.env.read("plain"));
    assert_eq!(fs::read(h.root_key()).unwrap(), file, "root key unchanged");

    // An empty passphrase file is refused.
    let h2 = Home::new();
    h2.env.write("empty", b"\n");
    h2.cmd()
        .env("COFFER_PASSPHRASE_FILE", h2.env.path("empty"))
        .args(["init", "--passphrase"])
        .assert()
        .code(2)
        .stderr(contains("empty"));
    assert!(!h2.root_key().exists());
    h2.cmd()
        .env("COFFER_PASSPHRASE_FILE", h2.env.path("missing"))
        .args(["init", "--passphrase"])
        .assert()
        .code(2)
        .stderr(contains("cannot read the passphrase file"));
}

/// Without COFFER_PASSPHRASE_FILE and without a terminal, a passphrase cannot be asked for.
#[cfg(unix)]
#[test]
fn passphrase_without_terminal() {
    if !Path::new("/usr/bin/setsid").exists() {
        eprintln!("skipped: setsid not found");
        return;
    }
    let h = Home::new();
    h.with_pass("pw", "init --passphrase").success();
    for args in [&["key", "create", "k"][..], &["init", "--passphrase"][..]] {
        let mut c = Command::new("/usr/bin/setsid");
        c.arg("-w")
            .arg(env!("CARGO_BIN_EXE_coffer"))
            .args(args)
            .current_dir(h.env.path(""))
            .env("COFFER_HOME", h.home())
            .env_remove("COFFER_PASSPHRASE_FILE");
        let a = c.assert();
        let err = stderr(&a);
        if args[0] == "init" {
            a.code(1);
            assert!(err.contains("already"), "{err}");
        } else {
            a.code(2);
            assert!(
                err.contains("no terminal") && err.contains("COFFER_PASSPHRASE_FILE"),
                "{err}"
            );
        }
    }
    let fresh = Home::new();
    let mut c = Command::new("/usr/bin/setsid");
    c.arg("-w")
        .arg(env!("CARGO_BIN_EXE_coffer"))
        .args(["init", "--passphrase"])
        .env("COFFER_HOME", fresh.home())
        .env_remove("COFFER_PASSPHRASE_FILE");
    c.assert().code(2).stderr(contains("no terminal"));
    assert!(!fresh.root_key().exists(), "nothing created");
}

#[test]
fn damaged_or_missing_root_key() {
    let h = Home::with_key("app");
    h.sh("encrypt --key app -i plain -o ct").success();
    let good = fs::read(h.root_key()).unwrap();
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (good[..50].to_vec(), "truncated"),
        (good[..10].to_vec(), "truncated"),
        (Vec::new(), "truncated"),
        (
            {
                let mut b = good.clone();
                b[30] ^= 0x40;
                b
            },
            "corrupted: checksum mismatch",
        ),
        (
            {
                let mut b = good.clone();
                b.extend_from_slice(b"\n");
                b
            },
            "corrupted",
        ),
        (pattern(32, 9), "not a coffer root key file"),
        (
            {
                let mut b = good.clone();
                b[17] = b'9';
                b
            },
            "format version 9",
        ),
    ];
    for (bytes, msg) in cases {
        fs::write(h.root_key(), &bytes).unwrap();
        for cmd in ["encrypt --key app -i plain -o ct2", "decrypt -i ct -o out"] {
            let a = h.sh(cmd).code(1);
            let err = stderr(&a);
            assert!(err.contains(msg), "{msg}: {cmd}: {err}");
            assert!(
                err.contains("root.key") || err.contains("root key"),
                "{err}"
            );
        }
        assert!(!h.env.path("ct2").exists() && !h.env.path("out").exists());
    }
    fs::remove_file(h.root_key()).unwrap();
    h.sh("decrypt -i ct -o out").code(1).stderr(
        contains("root key")
            .and(contains("is missing"))
            .and(contains("hint: restore")),
    );
    fs::write(h.root_key(), &good).unwrap();
    h.sh("decrypt -i ct -o out").success();
}

#[test]
fn key_create_list_show_enable_disable() {
    let h = Home::new();
    h.sh("key list")
        .code(2)
        .stderr(contains("no coffer store").and(contains("coffer init")));
    h.sh("init").success();
    h.sh("key list").success().stderr(contains("no keys yet"));
    assert!(h.json_lines("key list").is_empty());

    h.sh("key create app --rotation-period 90d")
        .success()
        .stdout(contains("created key app (aes-256, version 1"));
    h.sh("key create app")
        .code(1)
        .stderr(contains("already exists"));
    let v = h.json("key create db.v2 --spec aes-256 --rotation-period 12h");
    assert_eq!(v["type"], "key");
    assert_eq!(v["rotation_period"], "12h");
    assert_eq!(v["rotation_period_secs"], 43_200);
    h.sh("key create plain-1").success();

    let list = h.json_lines("key list");
    let names: Vec<_> = list.iter().map(|k| k["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["app", "db.v2", "plain-1"]);
    for k in &list {
        assert_eq!(
            (k["schema"].as_u64(), k["state"].as_str()),
            (Some(1), Some("enabled"))
        );
        assert!(k.get("wrapped").is_none());
    }
    h.sh("key list").success().stdout(contains_all(&[
        "NAME",
        "app",
        "every 90d, next ",
        "plain-1",
        "none",
    ]));

    let v = h.json("key show app");
    assert_eq!(v["active_version"], 1);
    assert_eq!(v["min_decrypt_version"], 1);
    assert_eq!(v["rotation_period"], "90d");
    assert_eq!(v["rotation_due"], false);
    let versions = v["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 1);
    assert_eq!(versions[0]["version"], 1);
    assert_eq!(versions[0]["active"], true);
    assert_eq!(versions[0]["id"].as_str().unwrap().len(), 36);
    assert!(v["next_rotation"].as_str().unwrap().ends_with('Z'));
    assert!(v["created_at"].as_str().unwrap().ends_with('Z'));
    h.sh("key show app").success().stdout(contains_all(&[
        "name:                app",
        "state:               enabled",
        "rotation:            every 90d, next ",
        "min decrypt version: 1",
        "active",
    ]));
    h.sh("key show plain-1")
        .success()
        .stdout(contains("rotation:            none"));
    h.sh("key show nope")
        .code(1)
        .stderr(contains("no key named `nope`"));

    h.sh("key disable app")
        .success()
        .stdout(contains("key app disabled"));
    h.sh("key disable app")
        .success()
        .stdout(contains("was disabled already"));
    assert_eq!(h.json("key show app")["state"], "disabled");
    let v = h.json("key enable app");
    assert_eq!(
        (
            v["type"].as_str(),
            v["state"].as_str(),
            v["changed"].as_bool()
        ),
        (Some("key_state"), Some("enabled"), Some(true))
    );
    h.sh("key enable nope")
        .code(1)
        .stderr(contains("no key named"));
    h.sh("--output json key show nope")
        .code(1)
        .stdout(contains("\"type\":\"error\""));
}

#[test]
fn bad_names_specs_and_durations() {
    let h = Home::new();
    h.sh("init").success();
    for name in ["a/b", "_x", ".hidden", &"k".repeat(65), "a:b", "é"] {
        h.cmd()
            .args(["key", "create", name])
            .assert()
            .code(2)
            .stderr(contains("bad key name"));
    }
    h.cmd()
        .args(["key", "create", ""])
        .assert()
        .code(2)
        .stderr(contains("bad key name"));
    h.sh("key create k --spec rsa-3072")
        .code(2)
        .stderr(contains("not supported yet"));
    h.sh("key create k --spec des")
        .code(2)
        .stderr(contains("unknown key spec"));
    for d in ["90", "+1d", "d", "90D", "1x"] {
        h.cmd()
            .args(["key", "create", "k", "--rotation-period", d])
            .assert()
            .code(2)
            .stderr(contains("bad duration").and(contains("hint: durations")));
    }
    h.sh("key create k --rotation-period 0d")
        .code(2)
        .stderr(contains("--rotation-period 0d: must be at least 1m"));
    h.sh("key create k --rotation-period 30m").success();
    assert_eq!(h.json("key show k")["rotation_period"], "30m");
    assert_eq!(h.json_lines("key list").len(), 1, "nothing else created");
}

#[test]
fn encrypt_with_a_name_decrypt_with_and_without_key() {
    let h = Home::with_key("app");
    h.sh("key create other").success();
    h.sh("encrypt --key app -i plain -o ct").success();
    h.sh("encrypt --key local:app -c purpose=test -i plain -o ct2")
        .success();
    for args in [
        "decrypt -i ct -o a",
        "decrypt --key app -i ct -o b",
        "decrypt --key local:app -i ct -o c",
        "decrypt -c purpose=test -i ct2 -o d",
    ] {
        h.sh(args).success();
    }
    for f in ["a", "b", "c", "d"] {
        assert_eq!(h.env.read(f), h.env.read("plain"), "{f}");
    }
    // Another key of the store does not decrypt it.
    h.sh("decrypt --key other -i ct -o e")
        .code(1)
        .stderr(contains("not this one").and(contains("local key app")));
    assert!(!h.env.path("e").exists());
    // The header names the key.
    h.sh("inspect ct")
        .success()
        .stdout(contains("aws-kms-hierarchy").and(contains("app")));
    // A local key next to a raw key: either decrypts.
    h.sh("encrypt --key app --key aes:k32.bin -i plain -o both")
        .success();
    h.sh("decrypt -i both -o f").success();
    h.sh("decrypt --key aes:k32.bin -i both -o g").success();
    // Unknown names.
    h.sh("encrypt --key nope -i plain -o x")
        .code(1)
        .stderr(contains("no key named `nope`"));
    assert!(!h.env.path("x").exists());
    h.env.assert_no_temp_files();
}

#[test]
fn local_keys_need_a_store() {
    let h = Home::new();
    h.sh("encrypt --key app -i plain -o ct")
        .code(2)
        .stderr(contains("no coffer store").and(contains("hint: create one with: coffer init")));
    h.sh("decrypt -i plain")
        .code(2)
        .stderr(contains("needs at least one --key").and(contains("coffer init")));
    // Not a valid name: probably meant a key file.
    h.sh("encrypt --key k32.bin/x -i plain -o ct")
        .code(2)
        .stderr(contains("is not a valid key name").and(contains("aes:PATH")));
}

#[test]
fn disabled_key_refuses_to_encrypt_and_decrypt() {
    let h = Home::with_key("app");
    h.sh("encrypt --key app -i plain -o ct").success();
    h.sh("key disable app").success();
    h.sh("encrypt --key app -i plain -o ct2")
        .code(1)
        .stderr(contains("key `app` is disabled").and(contains("coffer key enable app")));
    assert!(!h.env.path("ct2").exists());
    h.sh("decrypt -i ct -o out")
        .code(1)
        .stderr(contains("key `app` is disabled").and(contains("coffer key enable app")));
    assert!(!h.env.path("out").exists());
    h.sh("key enable app").success();
    h.sh("decrypt -i ct -o out").success();
    h.sh("encrypt --key app -i plain -o ct2").success();
}

#[test]
fn retired_version_names_itself() {
    let h = Home::with_key("app");
    h.sh("encrypt --key app -i plain -o ct").success();
    h.sh("key rotate app").success();
    h.sh("key retire app --below-version 2").success();
    h.sh("decrypt -i ct -o out").code(1).stderr(contains(
        "version 1 of key `app` was retired (versions below 2 may not decrypt)",
    ));
    assert!(!h.env.path("out").exists());
}

#[test]
fn tampered_store_rows_fail_to_unwrap() {
    let h = Home::with_key("a");
    h.sh("key create b").success();
    h.sh("encrypt --key a -i plain -o ct").success();
    let db = h.db();
    let wrapped = |name: &str| -> Vec<u8> {
        db.query_row(
            "SELECT wrapped FROM key_versions WHERE name = ?1",
            [name],
            |r| r.get(0),
        )
        .unwrap()
    };
    let set = |name: &str, w: &[u8]| {
        db.execute(
            "UPDATE key_versions SET wrapped = ?2 WHERE name = ?1",
            params![name, w],
        )
        .unwrap();
    };
    let (wa, wb) = (wrapped("a"), wrapped("b"));
    let fails = |what: &str| {
        for cmd in ["decrypt -i ct -o out", "encrypt --key a -i plain -o ct2"] {
            let a = h.sh(cmd).code(1);
            let err = stderr(&a);
            // Found by the root key's additional data, or before, by the row's seal.
            assert!(
                (err.contains("of key `a` does not unwrap under the root key")
                    && err.contains("altered or moved"))
                    || (err.contains("key `a` in the store") && err.contains("MAC")),
                "{what}: {cmd}: {err}"
            );
        }
        assert!(!h.env.path("out").exists() && !h.env.path("ct2").exists());
    };

    // Swap the wrapped keys of two names.
    set("a", &wb);
    set("b", &wa);
    fails("swapped between names");
    set("a", &wa);
    set("b", &wb);

    // Edit one byte.
    let mut w = wa.clone();
    let mid = w.len() / 2;
    w[mid] ^= 0x80;
    set("a", &w);
    fails("byte edited");
    set("a", &wa);

    // Move version 1 to version 2 (and make it active).
    db.execute_batch(
        "UPDATE key_versions SET version = 2 WHERE name = 'a';
         UPDATE keys SET active_version = 2 WHERE name = 'a';",
    )
    .unwrap();
    fails("renumbered");
    db.execute_batch(
        "UPDATE key_versions SET version = 1 WHERE name = 'a';
         UPDATE keys SET active_version = 1 WHERE name = 'a';",
    )
    .unwrap();

    h.sh("decrypt -i ct -o out").success();
    assert_eq!(h.env.read("out"), h.env.read("plain"));
}

#[test]
fn one_root_unwrap_per_version_per_process() {
    let h = Home::with_key("app");
    fs::create_dir(h.env.path("in")).unwrap();
    for i in 0..25 {
        h.env.write(&format!("in/f{i}"), &pattern(100 + i, 7));
    }
    for cmd in [
        "-vv encrypt -r -j 3 --key app -i in -o enc",
        "-vv decrypt -r -j 3 -i enc -o dec",
        "-vv decrypt -r --key app -i enc -o dec2",
    ] {
        let a = h.sh(cmd).success();
        let err = stderr(&a);
        assert!(
            err.contains("local key store closed: 1 root unwrap(s) in this process"),
            "{cmd}: {err}"
        );
    }
    assert_eq!(
        tree_files(&h.env.path("in")),
        tree_files(&h.env.path("dec"))
    );
    assert_eq!(
        tree_files(&h.env.path("in")),
        tree_files(&h.env.path("dec2"))
    );
}

#[test]
fn help_documents_the_local_keyring() {
    let h = Home::new();
    h.sh("encrypt --help")
        .success()
        .stdout(contains("NAME, local:NAME"));
    h.sh("init --help")
        .success()
        .stdout(contains("COFFER_PASSPHRASE_FILE").and(contains("--passphrase")));
    h.sh("key --help").success().stdout(contains_all(&[
        "create", "list", "show", "enable", "disable",
    ]));
    h.sh("--help").success().stdout(contains("--home"));
}

#[path = "rotation.rs"]
mod rotation;
