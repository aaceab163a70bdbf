//! A `kms:` key with no AWS Region configured: one error and one hint, none of the AWS
//! SDK's warnings. (With a Region from a key ARN, see `kms::a_key_arn_gives_its_region`.)

use super::*;

/// `coffer ARGS…` with an empty AWS configuration: no Region, no profile, no credentials.
fn no_region(env: &Env, args: &[&str]) -> assert_cmd::assert::Assert {
    fs::create_dir_all(env.path("empty-home")).unwrap();
    env.cmd()
        .env("HOME", env.path("empty-home"))
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION")
        .env_remove("AWS_PROFILE")
        .env("COFFER_HOME", env.path("kms-home"))
        .args(args)
        .timeout(std::time::Duration::from_secs(120))
        .assert()
}

fn assert_one_error_and_a_hint(a: assert_cmd::assert::Assert, error: &str) {
    let a = a.code(predicate::in_iter([1, 2]));
    let stderr = String::from_utf8_lossy(&a.get_output().stderr).into_owned();
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines,
        [
            error,
            "hint: set AWS_REGION or a region in a profile of ~/.aws/config, or give the key \
             as a key ARN (kms:arn:aws:kms:REGION:ACCOUNT:key/ID): its Region is used",
        ],
        "{stderr}"
    );
}

#[test]
fn no_region_is_one_error_with_a_hint() {
    let env = Env::new();
    env.run(&[
        "encrypt",
        "--key",
        "aes:k32.bin",
        "-i",
        "plain",
        "-o",
        "aes.msg",
    ])
    .success();
    assert_one_error_and_a_hint(
        no_region(
            &env,
            &[
                "encrypt",
                "--key",
                "kms:alias/app",
                "-i",
                "plain",
                "-o",
                "out",
            ],
        ),
        "error: cannot encrypt plain: AWS KMS: no AWS Region is configured",
    );
    for key in ["kms:alias/app", "kms:discovery"] {
        assert_one_error_and_a_hint(
            no_region(
                &env,
                &["decrypt", "--key", key, "-i", "aes.msg", "-o", "out"],
            ),
            "error: cannot decrypt aes.msg: AWS KMS: no AWS Region is configured",
        );
    }
    assert_one_error_and_a_hint(
        no_region(&env, &["init", "--root", "kms:alias/root"]),
        "error: --root kms:alias/root: AWS KMS: no AWS Region is configured",
    );
    assert!(!env.path("out").exists());
}
