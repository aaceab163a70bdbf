//! Many messages under one local key: the root key unwraps each branch key version once per
//! process, not once per message.

use super::*;

#[test]
fn ten_thousand_messages_one_root_unwrap() {
    let env = Env::new();
    let home = env.path("home");
    let sh = |args: &str| {
        env.cmd()
            .env("COFFER_HOME", &home)
            .args(words(args))
            .assert()
    };
    sh("init").success();
    sh("key create app").success();
    fs::create_dir(env.path("in")).unwrap();
    for i in 0..10_000 {
        env.write(&format!("in/m{i:05}"), format!("message {i}").as_bytes());
    }
    let stderr = |a: &assert_cmd::assert::Assert| {
        String::from_utf8_lossy(&a.get_output().stderr).into_owned()
    };
    let a = sh("-vv encrypt -r --suite 0478 --key app -i in -o enc").success();
    let log = stderr(&a);
    assert!(
        log.contains("local key store closed: 1 root unwrap(s) in this process"),
        "{}",
        log.lines().rev().take(5).collect::<Vec<_>>().join("\n")
    );
    assert_eq!(fs::read_dir(env.path("enc")).unwrap().count(), 10_000);
    // Decrypting them all (local keyring, no --key) also unwraps the version once.
    let a = sh("-vv decrypt -r -i enc -o dec").success();
    assert!(stderr(&a).contains("local key store closed: 1 root unwrap(s) in this process"));
    assert_eq!(env.read("dec/m09999"), b"message 9999");
}
