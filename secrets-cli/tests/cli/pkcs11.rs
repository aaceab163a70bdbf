//! `pkcs11:` keys through the CLI, against the SoftHSM2 token that `scripts/test.sh` makes
//! (`scripts/hsm.sh`). Without a token the tests skip, except under `CI=true`.

use super::*;

struct Token {
    module: String,
    pin_file: String,
}

fn token() -> Option<Token> {
    let Ok(module) = std::env::var("COFFER_TEST_PKCS11_MODULE") else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "COFFER_TEST_PKCS11_MODULE is not set: CI runs the PKCS#11 tests"
        );
        eprintln!("skipped: no SoftHSM2 token (scripts/hsm.sh makes one)");
        return None;
    };
    Some(Token {
        module,
        pin_file: std::env::var("COFFER_TEST_PKCS11_PIN_FILE").unwrap(),
    })
}

impl Token {
    fn uri(&self, object: &str) -> String {
        format!(
            "pkcs11:token=coffer-test;object={object}?module-path={}&pin-source=file:{}",
            self.module, self.pin_file
        )
    }
}

#[test]
fn encrypt_and_decrypt_with_keys_on_the_token() {
    let Some(t) = token() else { return };
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
    let Some(t) = token() else { return };
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
    encrypt(&t.uri("no-such-key"))
        .code(1)
        .stderr(contains("no key labelled `no-such-key`"));
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
