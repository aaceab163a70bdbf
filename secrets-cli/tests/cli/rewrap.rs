//! `coffer rewrap`: new data keys for unsigned messages, bodies untouched.

use super::*;

/// A scratch directory with an initialised `COFFER_HOME` and local keys `app` and `other`.
fn setup() -> (Env, impl Fn(&str) -> assert_cmd::assert::Assert) {
    let env = Env::new();
    let home = env.path("home");
    let bin = env!("CARGO_BIN_EXE_coffer");
    let dir = env.path("");
    let sh = move |args: &str| {
        Command::new(bin)
            .current_dir(&dir)
            .env_remove("RUST_LOG")
            .env_remove("COFFER_PASSPHRASE_FILE")
            .env("COFFER_HOME", &home)
            .args(words(args))
            .assert()
    };
    sh("init").success();
    sh("key create app").success();
    sh("key create other").success();
    (env, sh)
}

/// The bytes after the header of message `name` (its body and footer).
fn body(env: &Env, name: &str) -> Vec<u8> {
    let msg = env.read(name);
    let mut rest = &msg[..];
    coffer_core::inspect(&mut rest).unwrap();
    rest.to_vec()
}

#[test]
fn raw_key_to_local_key_body_untouched() {
    let (env, sh) = setup();
    sh("encrypt --suite 0478 --key aes:k32.bin -i plain -o m.coffer").success();
    sh("rewrap --from aes:k32.bin --key app -i m.coffer -o r.coffer")
        .success()
        .stdout(contains("aws-kms-hierarchy app"));
    assert_eq!(body(&env, "m.coffer"), body(&env, "r.coffer"));
    // The new key decrypts it (the local keyring, without --key); the old one no longer does.
    sh("decrypt -i r.coffer -o out").success();
    assert_eq!(env.read("out"), env.read("plain"));
    sh("decrypt --key aes:k32.bin -i r.coffer -o out2").code(1);
    assert!(!env.path("out2").exists());
}

#[test]
fn in_place_between_local_keys_and_json() {
    let (env, sh) = setup();
    sh("encrypt --suite 0478 --key app -i plain -o m.coffer").success();
    let before = body(&env, "m.coffer");
    // The local keyring unwraps (no --from); -o may be the input itself.
    let out = sh("--output json rewrap --key other -i m.coffer -o m.coffer").success();
    let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(v["type"], "rewrap");
    assert_eq!(v["encrypted_data_keys"][0]["key_name"], "other");
    assert_eq!(body(&env, "m.coffer"), before);
    env.assert_no_temp_files();
    sh("decrypt --key other -i m.coffer -o out").success();
    sh("decrypt --key app -i m.coffer -o out2").code(1);
}

#[test]
fn signed_messages_and_bad_input_change_nothing() {
    let (env, sh) = setup();
    sh("encrypt --key app -i plain -o signed.coffer").success();
    let original = env.read("signed.coffer");
    sh("rewrap --key other -i signed.coffer -o signed.coffer")
        .code(1)
        .stderr(contains("signed").and(contains("encrypt it again")));
    assert_eq!(env.read("signed.coffer"), original);
    // An existing output needs --force; a key that cannot unwrap writes nothing.
    sh("encrypt --suite 0478 --key app -i plain -o m.coffer").success();
    env.write("taken", b"keep me");
    sh("rewrap --key other -i m.coffer -o taken")
        .code(1)
        .stderr(contains("exists"));
    assert_eq!(env.read("taken"), b"keep me");
    sh("rewrap --from aes:k32.bin --key other -i m.coffer -o new.coffer").code(1);
    assert!(!env.path("new.coffer").exists());
    // Not a message; a truncated one.
    sh("rewrap --key other -i plain -o x.coffer").code(1);
    let m = env.read("m.coffer");
    env.write("cut.coffer", &m[..m.len() / 3]);
    sh("rewrap --key other -i cut.coffer -o cut2.coffer").success();
    // The header is whole, so the rewrap succeeds; the truncated body is still refused.
    sh("decrypt --key other -i cut2.coffer -o out").code(1);
    env.assert_no_temp_files();
}

#[test]
fn a_tree_in_place() {
    let (env, sh) = setup();
    fs::create_dir_all(env.path("src/d")).unwrap();
    env.write("src/a", b"one");
    env.write("src/d/b", b"two");
    sh("encrypt -r --suite 0478 --key app -i src -o enc").success();
    env.write("enc/notes.txt", b"not a message");
    sh("encrypt --key app -i plain -o enc/d/signed.coffer").success();
    // The signed message fails, the others are rewrapped, the run says so.
    sh("rewrap -r --key other -i enc -o enc")
        .code(1)
        .stderr(contains("signed").and(contains("1 of 3 files failed")));
    sh("decrypt -r --key other -i enc -o dec").code(1);
    assert_eq!(env.read("dec/a"), b"one");
    assert_eq!(env.read("dec/d/b"), b"two");
    // Into another tree, never inside the input.
    sh("rewrap -r --key app -i enc -o enc/inner").code(2);
}

#[test]
fn inspect_names_the_key_version() {
    let (env, sh) = setup();
    sh("encrypt --suite 0478 --key app -i plain -o m.coffer").success();
    sh("inspect m.coffer")
        .success()
        .stdout(contains("aws-kms-hierarchy  app  version 1 (active)"));
    let out = sh("--output json inspect m.coffer").success();
    let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let k = &v["encrypted_data_keys"][0];
    assert_eq!(k["key_version_number"], 1);
    assert_eq!(k["key_version_state"], "active");
    assert_eq!(k["key_version"].as_str().unwrap().len(), 36);
    // Without the store that holds the key: the version's UUID, no number.
    env.cmd()
        .args(["inspect", "m.coffer"])
        .assert()
        .success()
        .stdout(contains("app  version ").and(contains("(active)").not()));
}

/// The README's workflow: encrypt, rotate, find what uses the old version, rewrap it, retire
/// the old version; the rewrapped message still decrypts, an old copy no longer does.
#[test]
fn rotate_inspect_rewrap_retire() {
    let (env, sh) = setup();
    sh("encrypt --suite 0478 --key app -i plain -o old.coffer").success();
    env.write("copy.coffer", &env.read("old.coffer"));
    sh("key rotate app").success();
    sh("encrypt --suite 0478 --key app -i plain -o new.coffer").success();
    sh("inspect old.coffer")
        .success()
        .stdout(contains("app  version 1 (decrypt-only)"));
    sh("inspect new.coffer")
        .success()
        .stdout(contains("app  version 2 (active)"));
    // Both versions decrypt.
    sh("decrypt -i old.coffer -o a").success();
    sh("decrypt -i new.coffer -o b").success();
    // Move the old message to the active version, then retire version 1.
    sh("rewrap --key app -i old.coffer -o old.coffer").success();
    sh("inspect old.coffer")
        .success()
        .stdout(contains("app  version 2 (active)"));
    sh("key retire app --below-version 2").success();
    sh("decrypt -i old.coffer -o c").success();
    assert_eq!(env.read("c"), env.read("plain"));
    sh("inspect copy.coffer")
        .success()
        .stdout(contains("app  version 1 (retired)"));
    sh("decrypt -i copy.coffer -o d")
        .code(1)
        .stderr(contains("version 1 of key `app` was retired"));
    assert!(!env.path("d").exists());
}
