//! Small files are read with a limit: key files (`aes:`, `rsa:`), the passphrase file
//! (`COFFER_PASSPHRASE_FILE`), PKCS#11 PIN files (`pin-source=file:`,
//! `COFFER_PKCS11_PIN_FILE`) and values (`put`, stdin or `--value-file`). An endless device
//! or a huge file is refused at once, with an error naming the file and the limit.
//!
//! Each command runs under an address-space cap (`ulimit -v`), so that a build that reads
//! such a file whole dies of a failed allocation instead of taking the machine's memory, and
//! under a timeout.

use super::*;

use std::time::Duration;

/// Address space for one coffer run, KiB: plenty for coffer, far less than `/dev/zero`.
const ADDRESS_SPACE_KIB: u32 = 2_000_000;

/// `coffer ARGS…` in `env`'s directory, under the address-space cap and a timeout.
fn capped(env: &Env, args: &[&str]) -> Command {
    let mut sh = Command::new("sh");
    sh.current_dir(env.path("."))
        .env_remove("RUST_LOG")
        .env_remove("COFFER_PASSPHRASE_FILE")
        .env_remove("COFFER_PKCS11_PIN_FILE")
        .env("COFFER_HOME", env.path("home"))
        .arg("-c")
        .arg(format!(
            "ulimit -v {ADDRESS_SPACE_KIB} && exec \"$0\" \"$@\""
        ))
        .arg(env!("CARGO_BIN_EXE_coffer"))
        .args(args)
        .timeout(Duration::from_secs(120));
    sh
}

/// A sparse file of 1 GiB (no disk space used).
fn huge_file(env: &Env, name: &str) -> PathBuf {
    let path = env.path(name);
    fs::File::create(&path).unwrap().set_len(1 << 30).unwrap();
    path
}

#[test]
fn endless_and_huge_key_files_are_refused_at_once() {
    let env = Env::new();
    huge_file(&env, "huge.key");
    for (key, limit) in [
        ("aes:/dev/zero", "over the limit of 1024 bytes"),
        ("rsa:/dev/zero", "over the limit of 65536 bytes"),
    ] {
        capped(&env, &["encrypt", "--key", key, "-i", "plain", "-o", "out"])
            .assert()
            .code(1)
            .stderr(contains(format!(
                "key file /dev/zero is too large: {limit}"
            )));
    }
    for key in ["aes:huge.key", "rsa:huge.key"] {
        capped(&env, &["encrypt", "--key", key, "-i", "plain", "-o", "out"])
            .assert()
            .code(1)
            .stderr(contains(
                "key file huge.key is too large: 1073741824 bytes, over the limit of",
            ));
    }
    capped(
        &env,
        &[
            "decrypt",
            "--key",
            "rsa:/dev/zero",
            "-i",
            "plain",
            "-o",
            "out",
        ],
    )
    .assert()
    .code(1)
    .stderr(contains("key file /dev/zero is too large"));
    assert!(!env.path("out").exists());
}

#[test]
fn endless_and_huge_passphrase_files_are_refused_at_once() {
    let env = Env::new();
    huge_file(&env, "huge.pass");
    capped(&env, &["init", "--passphrase"])
        .env("COFFER_PASSPHRASE_FILE", "/dev/zero")
        .assert()
        .code(2)
        .stderr(contains(
            "passphrase file /dev/zero is too large: over the limit of 16384 bytes \
             (COFFER_PASSPHRASE_FILE)",
        ));
    capped(&env, &["init", "--passphrase"])
        .env("COFFER_PASSPHRASE_FILE", env.path("huge.pass"))
        .assert()
        .code(2)
        .stderr(contains(
            "is too large: 1073741824 bytes, over the limit of 16384",
        ));
    // A protected root key, then a wrong file when it is opened.
    env.write("pass", b"correct horse\n");
    capped(&env, &["init", "--passphrase"])
        .env("COFFER_PASSPHRASE_FILE", env.path("pass"))
        .assert()
        .success();
    capped(&env, &["key", "create", "app"])
        .env("COFFER_PASSPHRASE_FILE", "/dev/zero")
        .assert()
        .code(2)
        .stderr(contains("passphrase file /dev/zero is too large"));
    // A passphrase at the limit is read whole (and is the wrong one).
    env.write("long.pass", &vec![b'p'; 16 * 1024]);
    capped(&env, &["key", "create", "app"])
        .env("COFFER_PASSPHRASE_FILE", env.path("long.pass"))
        .assert()
        .failure()
        .stderr(contains("too large").not());
}

#[test]
fn a_huge_root_key_file_is_refused_at_once() {
    let env = Env::new();
    capped(&env, &["init"]).assert().success();
    let root = env.path("home/root.key");
    fs::OpenOptions::new()
        .write(true)
        .open(&root)
        .unwrap()
        .set_len(1 << 30)
        .unwrap();
    capped(&env, &["key", "create", "app"])
        .assert()
        .code(1)
        .stderr(contains(
            "root.key is too large: 1073741824 bytes, over the limit of 65589",
        ));
}

#[cfg(feature = "pkcs11")]
#[test]
fn endless_and_huge_pin_files_are_refused_at_once() {
    let env = Env::new();
    huge_file(&env, "huge.pin");
    // The PIN is read before the module is loaded, so no module is needed here.
    for pin in ["/dev/zero", "huge.pin"] {
        let key = format!(
            "pkcs11:token=t;object=o?module-path=/nonexistent/module.so&pin-source=file:{pin}"
        );
        capped(
            &env,
            &["encrypt", "--key", &key, "-i", "plain", "-o", "out"],
        )
        .assert()
        .code(1)
        .stderr(contains(format!("PIN file {pin} is too large")).and(contains("1024")));
    }
    capped(
        &env,
        &[
            "encrypt",
            "--key",
            "pkcs11:token=t;object=o?module-path=/nonexistent/module.so",
            "-i",
            "plain",
            "-o",
            "out",
        ],
    )
    .env("COFFER_PKCS11_PIN_FILE", "/dev/zero")
    .assert()
    .code(1)
    .stderr(contains(
        "PIN file /dev/zero is too large: over the limit of 1024 bytes",
    ));
}

#[test]
fn a_value_over_the_limit_is_reported_truly() {
    let env = Env::new();
    capped(&env, &["init"]).assert().success();
    let value = "v".repeat(70_000);
    env.write("big.txt", value.as_bytes());
    capped(&env, &["put", "/big", "--type", "string"])
        .write_stdin(value.clone())
        .assert()
        .code(1)
        .stderr(
            contains("the value is over the limit of 65536 bytes").and(contains("65539").not()),
        );
    capped(
        &env,
        &["put", "/big", "--type", "string", "--value-file", "big.txt"],
    )
    .assert()
    .code(1)
    .stderr(contains(
        "the value is at least 69998 bytes, over the limit of 65536",
    ));
    // An endless value file: nothing read past the limit.
    capped(
        &env,
        &[
            "put",
            "/big",
            "--type",
            "string",
            "--value-file",
            "/dev/zero",
        ],
    )
    .assert()
    .code(1)
    .stderr(contains("the value is over the limit of 65536 bytes"));
    // At the limit, with its newline, the value is taken.
    env.write("max.txt", format!("{}\n", &value[..65_536]).as_bytes());
    capped(
        &env,
        &["put", "/max", "--type", "string", "--value-file", "max.txt"],
    )
    .assert()
    .success();
}

#[test]
fn an_endless_root_certificate_file_is_refused_at_once() {
    let env = Env::new();
    capped(&env, &["ls"])
        .env("PGSSLROOTCERT", "/dev/zero")
        .env(
            "COFFER_STORE",
            "postgres://u@127.0.0.1:1/db?sslmode=require",
        )
        .assert()
        .code(2)
        .stderr(contains(
            "PGSSLROOTCERT=/dev/zero: root certificate file /dev/zero is too large: over the \
             limit of 4194304 bytes",
        ));
}
