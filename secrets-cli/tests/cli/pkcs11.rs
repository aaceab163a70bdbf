//! `pkcs11:` keys through the CLI, against the SoftHSM2 token that `scripts/test.sh` makes
//! (`scripts/hsm.sh`). Without a token the tests skip, except under `CI=true`.

use super::*;

struct Token {
    module: String,
    pin_file: String,
}

/// Held by each test for its whole run: SoftHSM2 keeps a token in files that one process
/// rewrites (a login's PIN counter, a new key) while another may be reading them, and the
/// reader then sees `CKR_GENERAL_ERROR` or no token. The tests' processes take turns.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn token() -> Option<(Token, std::sync::MutexGuard<'static, ()>)> {
    let Ok(module) = std::env::var("COFFER_TEST_PKCS11_MODULE") else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "COFFER_TEST_PKCS11_MODULE is not set: CI runs the PKCS#11 tests"
        );
        eprintln!("skipped: no SoftHSM2 token (scripts/hsm.sh makes one)");
        return None;
    };
    let turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let token = Token {
        module,
        pin_file: std::env::var("COFFER_TEST_PKCS11_PIN_FILE").unwrap(),
    };
    Some((token, turn))
}

impl Token {
    /// The token that tests make keys on (for `key create --in`): another than the one the
    /// other tests read, as SoftHSM2's file store does not bear one process writing a token
    /// while another reads it.
    fn token_uri(&self) -> String {
        format!(
            "pkcs11:token=coffer-keys?module-path={}&pin-source=file:{}",
            self.module, self.pin_file
        )
    }

    /// A key on the token of [`Self::token_uri`].
    fn keys_uri(&self, object: &str) -> String {
        self.uri(object)
            .replace("token=coffer-test;", "token=coffer-keys;")
    }

    fn uri(&self, object: &str) -> String {
        format!(
            "pkcs11:token=coffer-test;object={object}?module-path={}&pin-source=file:{}",
            self.module, self.pin_file
        )
    }
}

#[test]
fn encrypt_and_decrypt_with_keys_on_the_token() {
    let Some((t, _turn)) = token() else { return };
    let env = Env::new();
    env.write("plain.txt", b"kept in the HSM");
    for object in ["coffer-aes", "coffer-rsa"] {
        env.cmd()
            .args([
                "encrypt",
                "-i",
                "plain.txt",
                "-o",
                "msg",
                "--force",
                "--key",
            ])
            .arg(t.uri(object))
            .assert()
            .success();
        let out = env
            .cmd()
            .args(["decrypt", "-i", "msg", "-o", "-", "--key"])
            .arg(t.uri(object))
            .assert()
            .success();
        assert_eq!(out.get_output().stdout, b"kept in the HSM", "{object}");
    }
    // The public half of an RSA pair encrypts without a PIN.
    env.cmd()
        .args([
            "encrypt",
            "-i",
            "plain.txt",
            "-o",
            "msg",
            "--force",
            "--key",
        ])
        .arg(format!(
            "pkcs11:token=coffer-test;object=coffer-rsa?module-path={}",
            t.module
        ))
        .env_remove("COFFER_PKCS11_PIN_FILE")
        .assert()
        .success();
    // HSM and raw AES in one message: either alone decrypts.
    env.cmd()
        .args(["encrypt", "-i", "plain.txt", "-o", "both", "--key"])
        .arg(t.uri("coffer-aes"))
        .args(["--key", "aes:k32.bin"])
        .assert()
        .success();
    for key in [t.uri("coffer-aes"), "aes:k32.bin".to_owned()] {
        let out = env
            .cmd()
            .args(["decrypt", "-i", "both", "-o", "-", "--key", &key])
            .assert()
            .success();
        assert_eq!(out.get_output().stdout, b"kept in the HSM");
    }
}

#[test]
fn pins_objects_tokens_and_permissions() {
    let Some((t, _turn)) = token() else { return };
    let env = Env::new();
    env.write("plain.txt", b"x");
    let encrypt = |key: &str| {
        env.cmd()
            .args([
                "encrypt",
                "-i",
                "plain.txt",
                "-o",
                "msg",
                "--force",
                "--key",
                key,
            ])
            .assert()
    };
    // A wrong PIN: refused, and never printed.
    let a = encrypt(&format!(
        "pkcs11:token=coffer-test;object=coffer-aes?module-path={}&pin-value=wrong-pin-0000",
        t.module
    ))
    .code(1);
    let e = String::from_utf8_lossy(&a.get_output().stderr).into_owned();
    assert!(e.contains("wrong PIN"), "{e}");
    assert!(!e.contains("wrong-pin-0000"), "{e}");
    // A missing object, another token.
    encrypt(&t.uri("no-such-key")).code(1).stderr(contains(
        "no key `object=no-such-key` on token `coffer-test`",
    ));
    encrypt(
        &t.uri("coffer-aes")
            .replace("token=coffer-test", "token=elsewhere"),
    )
    .code(1)
    .stderr(contains("no token labelled `elsewhere`").and(contains("coffer-test")));
    assert!(!env.path("msg").exists());
    // A data key wrapped by another object of the token is refused by name.
    encrypt(&t.uri("coffer-aes")).success();
    env.cmd()
        .args(["decrypt", "-i", "msg", "-o", "-", "--key"])
        .arg(t.uri("coffer-rsa"))
        .assert()
        .code(1)
        .stderr(contains("object=coffer-aes"));
}

/// `key create --in` makes keys on the token; one becomes the root of the key hierarchy, and
/// the root moves to another; root.key names the key and never holds a PIN.
#[test]
fn an_hsm_root_for_the_key_hierarchy() {
    let Some((t, _turn)) = token() else { return };
    let env = Env::new();
    let home = env.path("home");
    let cmd = || {
        let mut c = env.cmd();
        c.env("COFFER_HOME", &home)
            .env_remove("COFFER_PKCS11_MODULE");
        c
    };
    let pid = std::process::id();
    let (root1, root2) = (format!("root1-{pid}"), format!("root2-{pid}"));
    let made = cmd()
        .args([
            "key",
            "create",
            &root1,
            "--in",
            &t.token_uri(),
            "--output",
            "json",
        ])
        .assert()
        .success();
    let made = String::from_utf8_lossy(&made.get_output().stdout).into_owned();
    assert!(
        made.contains("\"type\":\"token-key\"") && made.contains(&t.keys_uri(&root1)),
        "{made}"
    );
    cmd()
        .args(["key", "create", &root1, "--in", &t.token_uri()])
        .assert()
        .code(1)
        .stderr(contains("already has a key labelled"));
    // Refused before anything is made: a key pair, a missing key, a PIN in the URI, a passphrase.
    for (root, code, msg) in [
        (
            t.uri("coffer-rsa"),
            1,
            "is a key pair: a root key must be an AES",
        ),
        (t.uri("no-such-key"), 1, "no key `object=no-such-key`"),
        (
            format!(
                "pkcs11:token=coffer-test;object={root1}?module-path={}&pin-value=0000",
                t.module
            ),
            2,
            "not pin-value",
        ),
    ] {
        let a = cmd().args(["init", "--root", &root]).assert().code(code);
        let e = String::from_utf8_lossy(&a.get_output().stderr).into_owned();
        assert!(e.contains(msg) && !e.contains("0000"), "{e}");
        assert!(!home.exists());
    }
    cmd()
        .args(["init", "--passphrase", "--root", &t.keys_uri(&root1)])
        .assert()
        .code(2);
    cmd()
        .args(["init", "--root", &t.keys_uri(&root1)])
        .assert()
        .success()
        .stdout(contains(format!(
            "the PKCS#11 key pkcs11:token=coffer-keys;object={root1}"
        )));
    let file = fs::read(home.join("root.key")).unwrap();
    let pin = fs::read_to_string(&t.pin_file).unwrap();
    assert!(!String::from_utf8_lossy(&file).contains(pin.trim()));
    cmd().args(["key", "create", "app"]).assert().success();
    cmd()
        .args(["put", "/hsm/secret", "--type", "secure-string"])
        .write_stdin("s3")
        .assert()
        .success();
    env.write("plain.txt", b"under the HSM root");
    cmd()
        .args(["encrypt", "-i", "plain.txt", "-o", "m", "--key", "app"])
        .assert()
        .success();
    // The root moves to a second key on the token; everything still opens.
    cmd()
        .args(["key", "create", &root2, "--in", &t.token_uri(), "-q"])
        .assert()
        .success();
    cmd()
        .args(["key", "rotate", "--root"])
        .assert()
        .code(2)
        .stderr(contains("--to pkcs11:"));
    cmd()
        .args(["key", "rotate", "--root", "--to", &t.keys_uri(&root2)])
        .assert()
        .success();
    cmd()
        .args(["key", "rotate", "--root", "--to", &t.keys_uri(&root2)])
        .assert()
        .code(2)
        .stderr(contains("already"));
    let got = cmd().args(["get", "/hsm/secret"]).assert().success();
    assert_eq!(got.get_output().stdout, b"s3\n");
    let back = cmd()
        .args(["decrypt", "-i", "m", "-o", "-"])
        .assert()
        .success();
    assert_eq!(back.get_output().stdout, b"under the HSM root");
    // Without the PIN file the keys do not open, and the error says why.
    let moved = env.path("pin-moved");
    fs::copy(&t.pin_file, &moved).unwrap();
    let uri = t
        .keys_uri(&root2)
        .replace(&t.pin_file, &moved.to_string_lossy());
    cmd()
        .args(["key", "create", &format!("root3-{pid}"), "--in"])
        .arg(uri.replace(&format!(";object={root2}"), ""))
        .assert()
        .success();
    cmd()
        .args(["key", "rotate", "--root", "--to"])
        .arg(uri.replace(&root2, &format!("root3-{pid}")))
        .assert()
        .success();
    fs::remove_file(&moved).unwrap();
    cmd()
        .args(["get", "/hsm/secret"])
        .assert()
        .code(1)
        .stderr(contains("cannot read the PIN file").and(contains("pin-moved")));
}
