//! End-to-end tests of the `coffer` binary, grouped by theme. One test binary.

#![allow(clippy::unwrap_used, reason = "tests")]

use std::fs;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;
use predicates::str::contains;
use tempfile::TempDir;

const RSA_PRIVATE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/rsa-test.pem");
const RSA_PUBLIC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/rsa-test.pub.pem");
const RSA_PKCS1: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/rsa-test.pkcs1.pem");

/// A scratch directory with key files and a plaintext; commands run inside it.
struct Env {
    dir: TempDir,
}

impl Env {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let env = Self { dir };
        env.write("k32.bin", &pattern(32, 1));
        env.write("k16.bin", &pattern(16, 2));
        env.write("k24.bin", &pattern(24, 3));
        env.write("other.bin", &pattern(32, 4));
        env.write("plain", &pattern(10_000, 5));
        env
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, data: &[u8]) {
        fs::write(self.path(name), data).unwrap();
    }

    fn read(&self, name: &str) -> Vec<u8> {
        fs::read(self.path(name)).unwrap()
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_coffer"));
        // No local keyring unless a test makes one (tests/keys.rs).
        c.current_dir(self.dir.path())
            .env_remove("RUST_LOG")
            .env_remove("COFFER_PASSPHRASE_FILE")
            .env("COFFER_HOME", self.dir.path().join("no-coffer-home"));
        c
    }

    /// `coffer WORDS…` in the scratch directory (arguments split at spaces).
    fn sh(&self, args: &str) -> assert_cmd::assert::Assert {
        self.cmd().args(words(args)).assert()
    }

    /// `coffer ARGS…` in the scratch directory.
    fn run(&self, args: &[&str]) -> assert_cmd::assert::Assert {
        self.cmd().args(args).assert()
    }

    /// The names in the scratch directory (to spot leftover temporary files).
    fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    fn assert_no_temp_files(&self) {
        let names = self.names();
        assert!(
            !names.iter().any(|n| n.starts_with('.')),
            "temporary files left behind: {names:?}"
        );
    }
}

/// The relative paths of the files below `root` (sorted; none if `root` does not exist).
fn tree_names(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for e in entries {
            let e = e.unwrap();
            let path = e.path();
            if e.file_type().unwrap().is_dir() {
                stack.push(path);
            } else {
                out.push(
                    path.strip_prefix(root)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                );
            }
        }
    }
    out.sort();
    out
}

/// Every file below `root` with its contents, by relative path (sorted).
fn tree_files(root: &Path) -> Vec<(String, Vec<u8>)> {
    tree_names(root)
        .into_iter()
        .map(|n| {
            let data = fs::read(root.join(&n)).unwrap_or_default();
            (n, data)
        })
        .collect()
}

/// Names below `root` that look like temporary outputs.
fn temp_files(root: &Path) -> Vec<String> {
    tree_names(root)
        .into_iter()
        .filter(|n| n.ends_with(".coffer-tmp"))
        .collect()
}

/// Seals the rows of the SQLite store of `home` as they are now, edits made with plain SQL
/// included (the tests that set up a state no verb makes, such as an expiry in the past, to
/// test what a read does with it); `pass` is the root key's passphrase file, if any.
fn reseal(home: &Path, pass: Option<&Path>) {
    #[cfg(feature = "test-pause")]
    {
        let pass = pass.map_or(coffer::store::PassphraseSource::None, |p| {
            coffer::store::PassphraseSource::File(p.to_path_buf())
        });
        coffer::store::reseal_for_tests(&coffer::home::Home::new(home), &pass, None).unwrap();
    }
    #[cfg(not(feature = "test-pause"))]
    panic!(
        "sealing rows edited in {} needs the test-pause feature ({pass:?})",
        home.display()
    );
}

/// Seals key `name`'s rows in the SQLite store of `home` under the store's `K_rows`, as a
/// holder of the store's root key without the key's own root could (a modified coffer on a
/// dev machine), with everything else as [`reseal`] seals it.
#[cfg(feature = "test-pause")]
fn reseal_key_as_store(home: &Path, name: &str) {
    coffer::store::reseal_for_tests(
        &coffer::home::Home::new(home),
        &coffer::store::PassphraseSource::None,
        Some(name),
    )
    .unwrap();
}

/// Seals the policies of the SQLite store of `home` as their rows are now, appending nothing
/// to its log (what a holder of the root key could write while another process runs).
#[cfg(feature = "test-pause")]
fn reseal_policies(home: &Path) {
    coffer::store::reseal_policies_for_tests(
        &coffer::home::Home::new(home),
        &coffer::store::PassphraseSource::None,
    )
    .unwrap();
}

fn words(s: &str) -> Vec<&str> {
    s.split_whitespace().collect()
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| u8::try_from(i % 251).unwrap().wrapping_mul(31) ^ seed)
        .collect()
}

fn contains_all(parts: &[&'static str]) -> impl Predicate<str> {
    parts.iter().fold(predicate::always().boxed(), |acc, p| {
        acc.and(contains(*p)).boxed()
    })
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

mod roundtrip {
    use super::*;

    #[test]
    fn aes_key_sizes_and_base64_key_files() {
        let env = Env::new();
        let b64 = b64(&pattern(32, 9));
        env.write("b64.key", format!("{b64}\n").as_bytes());
        for key in ["k16.bin", "k24.bin", "k32.bin", "b64.key"] {
            let keyref = format!("aes:{key}");
            let ct = format!("{key}.ct");
            let out = format!("{key}.out");
            env.run(&["encrypt", "--key", &keyref, "-i", "plain", "-o", &ct])
                .success();
            env.run(&["decrypt", "--key", &keyref, "-i", &ct, "-o", &out])
                .success();
            assert_eq!(env.read(&out), env.read("plain"), "{key}");
            #[cfg(unix)]
            assert_eq!(mode(&env.path(&out)), 0o600, "decrypted files are 0600");
        }
        env.assert_no_temp_files();
    }

    #[test]
    fn rsa_public_to_encrypt_private_to_decrypt() {
        let env = Env::new();
        for padding in [
            "oaep-sha1",
            "oaep-sha256",
            "oaep-sha384",
            "oaep-sha512",
            "pkcs1",
        ] {
            let enc = format!("rsa:{RSA_PUBLIC}?padding={padding}&name=test-rsa");
            let dec = format!("rsa:{RSA_PRIVATE}?padding={padding}&name=test-rsa");
            env.run(&[
                "encrypt", "--key", &enc, "-i", "plain", "-o", "rsa.ct", "--force",
            ])
            .success();
            env.run(&[
                "decrypt", "--key", &dec, "-i", "rsa.ct", "-o", "rsa.out", "--force",
            ])
            .success();
            assert_eq!(env.read("rsa.out"), env.read("plain"), "{padding}");
        }
    }

    #[test]
    fn several_keys_each_decrypts() {
        let env = Env::new();
        let rsa_enc = format!("rsa:{RSA_PUBLIC}?name=rsa");
        let rsa_dec = format!("rsa:{RSA_PRIVATE}?name=rsa");
        env.run(&[
            "encrypt",
            "--key",
            "aes:k32.bin",
            "--key",
            &rsa_enc,
            "--key",
            "aes:k16.bin",
            "-i",
            "plain",
            "-o",
            "multi.ct",
        ])
        .success();
        env.sh("inspect multi.ct").success().stdout(
            contains("data keys:   3")
                .and(contains("k32.bin"))
                .and(contains("rsa")),
        );
        for key in ["aes:k32.bin", rsa_dec.as_str(), "aes:k16.bin"] {
            env.cmd()
                .args(["decrypt", "--key", key, "-i", "multi.ct"])
                .assert()
                .success()
                .stdout(predicate::eq(env.read("plain")));
        }
        // A wrong key next to a right one: any may unwrap.
        env.sh("decrypt --key aes:other.bin?name=k32.bin --key aes:k16.bin -i multi.ct")
            .success();
    }

    #[test]
    fn every_suite() {
        let env = Env::new();
        for suite in coffer_core::AlgorithmSuite::ALL {
            let id = format!("{:04X}", suite.id());
            let (enc_policy, dec_policy) = if suite.is_committing() {
                (
                    "require-encrypt-require-decrypt",
                    "require-encrypt-require-decrypt",
                )
            } else {
                (
                    "forbid-encrypt-allow-decrypt",
                    "require-encrypt-allow-decrypt",
                )
            };
            env.run(&[
                "encrypt",
                "--key",
                "aes:k32.bin",
                "--suite",
                &id,
                "--commitment-policy",
                enc_policy,
                "-i",
                "plain",
                "-o",
                "s.ct",
                "--force",
                "--frame-size",
                "1000",
            ])
            .success();
            env.sh("inspect s.ct --output json")
                .success()
                .stdout(contains(format!("\"id\":\"0x{id}\"")));
            env.run(&[
                "decrypt",
                "--key",
                "aes:k32.bin",
                "--commitment-policy",
                dec_policy,
                "-i",
                "s.ct",
                "-o",
                "s.out",
                "--force",
            ])
            .success();
            assert_eq!(env.read("s.out"), env.read("plain"), "suite {id}");
        }
        // By name, too.
        env.sh("encrypt --key aes:k32.bin --suite AES_256_GCM_HKDF_SHA512_COMMIT_KEY -i plain -o named.ct")
        .success();
        env.sh("inspect named.ct")
            .success()
            .stdout(contains("0x0478"));
    }

    #[test]
    fn stdin_to_stdout() {
        let env = Env::new();
        let plain = env.read("plain");
        let ct = env
            .cmd()
            .args(words("encrypt --key aes:k32.bin -o -"))
            .write_stdin(plain.clone())
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        assert_ne!(ct, plain);
        env.cmd()
            .args(words("decrypt --key aes:k32.bin"))
            .write_stdin(ct.clone())
            .assert()
            .success()
            .stdout(predicate::eq(plain.clone()));
        env.cmd()
            .args(words("decrypt --key aes:k32.bin -i - -o - --buffer"))
            .write_stdin(ct)
            .assert()
            .success()
            .stdout(predicate::eq(plain));
    }

    #[test]
    fn empty_plaintext() {
        let env = Env::new();
        env.write("empty", b"");
        env.sh("encrypt --key aes:k32.bin -i empty -o e.ct")
            .success();
        env.sh("decrypt --key aes:k32.bin -i e.ct -o e.out")
            .success();
        assert!(env.read("e.out").is_empty());
    }
}

mod files {
    use super::*;

    #[test]
    fn existing_output_needs_force() {
        let env = Env::new();
        env.write("taken", b"keep me");
        env.sh("encrypt --key aes:k32.bin -i plain -o taken")
            .code(1)
            .stderr(contains("already exists").and(contains("hint: use --force")));
        assert_eq!(env.read("taken"), b"keep me");
        env.sh("encrypt --key aes:k32.bin -i plain -o ct").success();
        env.sh("decrypt --key aes:k32.bin -i ct -o taken").code(1);
        assert_eq!(env.read("taken"), b"keep me");
        env.sh("decrypt --key aes:k32.bin -i ct -o taken --force")
            .success();
        assert_eq!(env.read("taken"), env.read("plain"));
        env.assert_no_temp_files();
    }

    #[test]
    fn wrong_key_leaves_no_output() {
        let env = Env::new();
        env.sh("encrypt --key aes:k32.bin -i plain -o ct").success();
        let before = env.names();
        env.sh("decrypt --key aes:other.bin --key aes:k16.bin -i ct -o out")
            .code(1)
            .stderr(contains_all(&[
                "error: cannot decrypt ct",
                "raw-aes coffer/other.bin",
                "raw-aes coffer/k16.bin",
                "hint: the message's data keys are wrapped for coffer/k32.bin",
            ]));
        // Same name, wrong bytes: the unwrap fails on authentication.
        env.sh("decrypt --key aes:other.bin?name=k32.bin -i ct -o out")
            .code(1);
        assert_eq!(env.names(), before);
        assert!(!env.path("out").exists());
    }

    #[test]
    fn truncated_or_tampered_message_leaves_no_output() {
        let env = Env::new();
        env.sh("encrypt --key aes:k32.bin -i plain -o ct --frame-size 512")
            .success();
        let ct = env.read("ct");
        env.write("trunc.ct", &ct[..ct.len() / 2]);
        let mut tampered = ct.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1; // in the signature
        env.write("tampered.ct", &tampered);
        env.write("trailing.ct", &[ct.as_slice(), b"x"].concat());
        let before = env.names();
        for input in ["trunc.ct", "tampered.ct", "trailing.ct"] {
            env.run(&["decrypt", "--key", "aes:k32.bin", "-i", input, "-o", "out"])
                .code(1)
                .stderr(contains(format!("error: cannot decrypt {input}")));
            assert_eq!(env.names(), before, "{input}");
        }
    }

    #[test]
    fn same_input_and_output_refused() {
        let env = Env::new();
        env.sh("encrypt --key aes:k32.bin -i plain -o ./plain --force")
            .code(2)
            .stderr(contains("same file"));
        assert_eq!(env.read("plain"), pattern(10_000, 5));
    }

    #[test]
    fn missing_parent_directory() {
        let env = Env::new();
        env.sh("encrypt --key aes:k32.bin -i plain -o no/such/dir/ct")
            .code(1)
            .stderr(contains("directory no/such/dir does not exist"));
    }

    #[test]
    fn missing_input() {
        let env = Env::new();
        env.sh("encrypt --key aes:k32.bin -i nope -o ct")
            .code(1)
            .stderr(contains("cannot open nope"));
        assert!(!env.path("ct").exists());
    }

    #[test]
    fn metadata_output_lines() {
        let env = Env::new();
        env.sh(
            "encrypt --key aes:k32.bin -c app=billing -i plain -o ct --metadata-output meta.jsonl",
        )
        .success();
        env.sh("decrypt --key aes:k32.bin -i ct -o out --metadata-output meta.jsonl")
            .success();
        let text = String::from_utf8(env.read("meta.jsonl")).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["mode"], "encrypt");
        assert_eq!(lines[1]["mode"], "decrypt");
        assert_eq!(lines[0]["message_id"], lines[1]["message_id"]);
        assert_eq!(lines[0]["input"], "plain");
        assert_eq!(lines[0]["output"], "ct");
        assert_eq!(lines[0]["suite"]["id"], "0x0578");
        assert_eq!(lines[0]["encryption_context"]["app"], "billing");
        let edk = &lines[0]["encrypted_data_keys"][0];
        assert_eq!(edk["provider_id"], "coffer");
        assert_eq!(edk["key_name"], "k32.bin");
        assert_eq!(edk["provider_info_encoding"], "base64");
        assert_eq!(lines[0]["bytes"], 10_000);
        assert_eq!(lines[1]["bytes"], 10_000);

        // A failure gets a line with the reason, and no output file.
        env.sh("decrypt --key aes:other.bin -i ct -o bad --metadata-output fail.jsonl")
            .code(1);
        assert!(!env.path("bad").exists());
        let text = String::from_utf8(env.read("fail.jsonl")).unwrap();
        let fail: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(fail["type"], "failure");
        assert_eq!(fail["mode"], "decrypt");
        assert_eq!(fail["input"], "ct");
        assert_eq!(fail["output"], "bad");
        assert!(
            fail["reason"]
                .as_str()
                .unwrap()
                .contains("no key could decrypt")
        );

        // To stdout when the data goes to a file.
        env.cmd()
            .args(words(
                "decrypt --key aes:k32.bin -i ct -o out2 --metadata-output -",
            ))
            .assert()
            .success()
            .stdout(contains("\"type\":\"metadata\""));
        env.sh("decrypt --key aes:k32.bin -i ct --metadata-output -")
            .code(2);
    }
}

mod keyrefs {
    use super::*;

    #[test]
    fn unsupported_and_malformed_references() {
        let env = Env::new();
        for (key, msg) in [
            ("kms:", "bad AWS KMS key reference"),
            ("kms:discovery?account=12", "12-digit AWS account ids"),
            ("kms:discovery?region=x", "unknown parameter `region`"),
            (
                "pkcs11:token=a;object=b",
                "no PKCS#11 module: add ?module-path",
            ),
            (
                "pkcs11:token=a",
                "token=LABEL and object=LABEL (or id=%XX…) are required",
            ),
            ("local:a/b", "is not a valid key name"),
            ("./k32.bin", "is not a valid key name"),
            ("foo:bar", "unknown key reference scheme `foo:`"),
            ("aes:k32.bin?nmae=x", "unknown parameter `nmae`"),
            ("aes:k32.bin?name=a&name=b", "given twice"),
            (
                "rsa:x.pem?padding=oaep-md5",
                "unknown RSA padding `oaep-md5`",
            ),
            ("aes:", "has no key file path"),
        ] {
            env.run(&["encrypt", "--key", key, "-i", "plain", "-o", "ct"])
                .code(2)
                .stderr(contains(format!("error: --key {key}: ")).and(contains(msg)));
        }
        assert!(!env.path("ct").exists());
    }

    #[test]
    fn bad_key_files_name_the_file() {
        let env = Env::new();
        env.write("short.key", &[1; 20]);
        env.sh("encrypt --key aes:short.key -i plain -o ct")
            .code(1)
            .stderr(contains("key file short.key is not an AES key: 20 bytes"));
        env.sh("encrypt --key aes:missing.key -i plain -o ct")
            .code(1)
            .stderr(contains("cannot read key file missing.key"));
        env.run(&[
            "encrypt",
            "--key",
            &format!("rsa:{RSA_PRIVATE}"),
            "-i",
            "plain",
            "-o",
            "ct",
        ])
        .code(1)
        .stderr(contains("encrypt needs the public key (SPKI PEM)"));
        env.run(&[
            "decrypt",
            "--key",
            &format!("rsa:{RSA_PUBLIC}"),
            "-i",
            "plain",
            "-o",
            "ct",
        ])
        .code(1)
        .stderr(contains("decrypt needs the private key (PKCS#8 PEM)"));
        env.run(&[
            "decrypt",
            "--key",
            &format!("rsa:{RSA_PKCS1}"),
            "-i",
            "plain",
            "-o",
            "ct",
        ])
        .code(1)
        .stderr(contains("RSA PRIVATE KEY").and(contains("hint: convert")));
        env.sh("encrypt --key rsa:k32.bin -i plain -o ct")
            .code(1)
            .stderr(contains("not a PEM file"));
        assert!(!env.path("ct").exists());
    }

    #[test]
    fn decrypt_needs_a_key() {
        let env = Env::new();
        env.sh("decrypt -i plain")
            .code(2)
            .stderr(contains("needs at least one --key"));
    }
}

mod policy {
    use super::*;

    fn encrypted(env: &Env, extra: &[&str]) {
        let mut args = vec!["encrypt", "--key", "aes:k32.bin", "-i", "plain", "-o", "ct"];
        args.extend_from_slice(extra);
        env.run(&args).success();
    }

    #[test]
    fn required_context_pairs() {
        let env = Env::new();
        encrypted(&env, &["-c", "app=billing", "-c", "env=prod"]);
        env.sh("decrypt --key aes:k32.bin -i ct -o out -c app=billing")
            .success();
        env.sh("decrypt --key aes:k32.bin -i ct -o out2 -c env=dev")
            .code(1)
            .stderr(contains("different value for `env`").and(contains("prod").not()));
        env.sh("decrypt --key aes:k32.bin -i ct -o out2 -c team=x")
            .code(1)
            .stderr(contains("no key `team`"));
        assert!(!env.path("out2").exists());
        env.cmd()
            .args(words("decrypt --key aes:k32.bin -i ct -c team=x"))
            .assert()
            .code(1)
            .stdout(predicate::str::is_empty());
    }

    #[test]
    fn reserved_context_keys_refused() {
        let env = Env::new();
        env.sh("encrypt --key aes:k32.bin -i plain -o ct -c aws-crypto-public-key=x")
            .code(2)
            .stderr(contains("reserved prefix"));
        env.sh("encrypt --key aes:k32.bin -i plain -o ct -c novalue")
            .code(2)
            .stderr(contains("expected KEY=VALUE"));
    }

    #[test]
    fn unsigned_only() {
        let env = Env::new();
        encrypted(&env, &[]);
        env.sh("decrypt --key aes:k32.bin -i ct -o out --unsigned-only")
            .code(1)
            .stderr(contains("signed"));
        assert!(!env.path("out").exists());
        env.sh("encrypt --key aes:k32.bin -i plain -o u.ct --suite 0478")
            .success();
        env.sh("decrypt --key aes:k32.bin -i u.ct -o out --unsigned-only")
            .success();
    }

    #[test]
    fn commitment_policy() {
        let env = Env::new();
        env.sh("encrypt --key aes:k32.bin -i plain -o ct --suite 0178")
            .code(2)
            .stderr(contains(
                "hint: non-committing suites need --commitment-policy",
            ));
        env.sh("encrypt --key aes:k32.bin -i plain -o ct --suite 0178 --commitment-policy forbid-encrypt-allow-decrypt")
        .success();
        env.sh("decrypt --key aes:k32.bin -i ct -o out")
            .code(1)
            .stderr(contains("hint:"));
        assert!(!env.path("out").exists());
    }

    #[test]
    fn max_encrypted_data_keys() {
        let env = Env::new();
        env.sh("encrypt --key aes:k32.bin --key aes:k16.bin -i plain -o ct --max-encrypted-data-keys 1")
        .code(1);
        assert!(!env.path("ct").exists());
        encrypted(&env, &["--key", "aes:k16.bin"]);
        env.sh("decrypt --key aes:k32.bin -i ct -o out --max-encrypted-data-keys 1")
            .code(1);
        env.sh("decrypt --key aes:k32.bin -i ct -o out --max-encrypted-data-keys 2")
            .success();
    }

    #[test]
    fn base64_input_hint() {
        let env = Env::new();
        let ct = env
            .cmd()
            .args(words("encrypt --key aes:k32.bin -i plain -o -"))
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        let b64 = b64(&ct);
        env.write("b64.ct", b64.as_bytes());
        env.sh("decrypt --key aes:k32.bin -i b64.ct -o out")
            .code(1)
            .stderr(contains("base64").and(contains("decode it first")));
        env.sh("inspect b64.ct")
            .code(1)
            .stderr(contains("decode it first"));
    }

    #[test]
    fn stdout_release_per_frame_or_buffered() {
        let env = Env::new();
        encrypted(&env, &["--frame-size", "256"]);
        let mut ct = env.read("ct");
        let last = ct.len() - 1;
        ct[last] ^= 1; // breaks the signature only
        // Per-frame: frames come out, then the failure says they must not be trusted.
        env.cmd()
            .args(words("decrypt --key aes:k32.bin -i -"))
            .write_stdin(ct.clone())
            .assert()
            .code(1)
            .stdout(predicate::function(|s: &[u8]| !s.is_empty()))
            .stderr(contains("already written to stdout").and(contains("do not use them")));
        // --buffer: nothing unverified is written.
        env.cmd()
            .args(words("decrypt --key aes:k32.bin -i - --buffer"))
            .write_stdin(ct)
            .assert()
            .code(1)
            .stdout(predicate::function(|s: &[u8]| s.is_empty()));
    }
}

/// Standard base64 (test helper, so the tests need no base64 crate).
fn b64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::new();
    for c in bytes.chunks(3) {
        let b = [c[0], *c.get(1).unwrap_or(&0), *c.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= c.len() {
                s.push(char::from(
                    A[usize::try_from((n >> (18 - 6 * i)) & 63).unwrap()],
                ));
            } else {
                s.push('=');
            }
        }
    }
    s
}

mod inspect {
    use super::*;

    #[test]
    fn text_and_json() {
        let env = Env::new();
        env.sh("encrypt --key aes:k32.bin?namespace=acme&name=prod -c app=x -i plain -o ct")
            .success();
        env.sh("inspect ct").success().stdout(contains_all(&[
            "suite:       0x0578 AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384",
            "message id:  ",
            "app = x",
            "data keys:   1",
            "acme  prod",
        ]));
        let out = env
            .cmd()
            .args(words("--output json inspect"))
            .write_stdin(env.read("ct"))
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["type"], "header");
        assert_eq!(v["schema"], 1);
        assert_eq!(v["input"], "-");
        assert_eq!(v["encryption_context"]["app"], "x");
        assert_eq!(v["encrypted_data_keys"][0]["provider_id"], "acme");
        assert_eq!(v["encrypted_data_keys"][0]["key_name"], "prod");
        assert_eq!(v["message_id"].as_str().unwrap().len(), 64);
    }

    #[test]
    fn not_a_message() {
        let env = Env::new();
        env.sh("inspect plain").code(1).stderr(contains("error: "));
        env.sh("inspect missing --output json")
            .code(1)
            .stdout(contains("\"type\":\"error\""))
            .stderr(contains("error: cannot open missing"));
    }
}

mod directories {
    use super::*;

    /// `--data-key-cache max-messages=10` over 25 files: 3 data keys (files in name order),
    /// and every file decrypts.
    #[test]
    fn a_data_key_cache_shares_keys_within_its_limits() {
        let env = Env::new();
        fs::create_dir_all(env.path("in")).unwrap();
        for i in 0..25 {
            env.write(&format!("in/f{i:02}"), format!("file {i}").as_bytes());
        }
        let out = env
            .sh(
                "--output json encrypt -r -i in -o out --key aes:k32.bin -j 4 \
                 --data-key-cache max-age=10m,max-messages=10 --metadata-output -",
            )
            .success();
        let stdout = String::from_utf8(out.get_output().stdout.clone()).unwrap();
        let mut keys: Vec<(String, String)> = stdout
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|v| v["type"] == "metadata")
            .map(|v| {
                (
                    v["input"].as_str().unwrap().to_owned(),
                    v["encrypted_data_keys"].to_string(),
                )
            })
            .collect();
        keys.sort();
        assert_eq!(keys.len(), 25);
        let distinct: std::collections::BTreeSet<&String> = keys.iter().map(|k| &k.1).collect();
        assert_eq!(distinct.len(), 3);
        assert!(keys[..10].iter().all(|k| k.1 == keys[0].1));
        assert_ne!(keys[10].1, keys[9].1);
        env.sh("decrypt -r -i out -o back --key aes:k32.bin")
            .success();
        assert_eq!(tree_files(&env.path("in")), tree_files(&env.path("back")));
        // Without the cache, every file has its own data key.
        let out = env
            .sh("encrypt -r -i in -o out2 --key aes:k32.bin --metadata-output -")
            .success();
        let lines = String::from_utf8(out.get_output().stdout.clone()).unwrap();
        let distinct: std::collections::BTreeSet<String> = lines
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .map(|v| v["encrypted_data_keys"].to_string())
            .collect();
        assert_eq!(distinct.len(), 25);
    }

    fn tree(env: &Env) {
        fs::create_dir_all(env.path("src/a/b")).unwrap();
        env.write("src/top.txt", b"top");
        env.write("src/a/one.txt", &pattern(5000, 1));
        env.write("src/a/b/two.bin", &pattern(70_000, 2));
        env.write("src/a/b/empty", b"");
    }

    #[test]
    fn encrypt_and_decrypt_a_tree() {
        let env = Env::new();
        tree(&env);
        env.sh("encrypt -r --key aes:k32.bin -i src -o enc --metadata-output meta.jsonl")
            .success();
        assert!(env.path("enc/a/b/two.bin.coffer").is_file());
        assert!(!env.path("enc/a/b/two.bin").exists());
        let meta = String::from_utf8(env.read("meta.jsonl")).unwrap();
        assert_eq!(meta.lines().count(), 4);
        env.write("enc/a/stray.txt", b"not a message");
        env.sh("decrypt -r --key aes:k32.bin -i enc -o dec")
            .success()
            .stderr(contains("skipped"));
        for f in ["top.txt", "a/one.txt", "a/b/two.bin", "a/b/empty"] {
            assert_eq!(
                env.read(&format!("dec/{f}")),
                env.read(&format!("src/{f}")),
                "{f}"
            );
        }
        assert!(!env.path("dec/a/stray.txt").exists());
        let out = env
            .cmd()
            .args(words("inspect -r enc --output json"))
            .assert()
            .code(1) // stray.txt is not a message
            .get_output()
            .stdout
            .clone();
        let text = String::from_utf8(out).unwrap();
        let count = |t: &str| text.lines().filter(|l| l.contains(t)).count();
        assert_eq!(count("\"type\":\"header\""), 4, "{text}");
        // One for stray.txt, one for the run ("1 of 5 files failed").
        assert_eq!(count("\"type\":\"error\""), 2, "{text}");
    }

    #[test]
    fn symlinks_are_skipped_unless_followed() {
        let env = Env::new();
        tree(&env);
        fs::create_dir_all(env.path("outside")).unwrap();
        env.write("outside/secret.txt", b"from outside the tree");
        std::os::unix::fs::symlink(env.path("outside"), env.path("src/linked-dir")).unwrap();
        std::os::unix::fs::symlink("top.txt", env.path("src/linked-file")).unwrap();
        std::os::unix::fs::symlink("..", env.path("src/a/loop")).unwrap();
        env.sh("encrypt -r --key aes:k32.bin -i src -o enc")
            .success()
            .stderr(contains("symbolic link").and(contains("-L")));
        assert!(!env.path("enc/linked-dir").exists());
        assert!(!env.path("enc/linked-file.coffer").exists());
        env.sh("encrypt -r -L --key aes:k32.bin -i src -o enc2")
            .success();
        assert!(env.path("enc2/linked-dir/secret.txt.coffer").is_file());
        // A link is encrypted as the file it leads to, under its own name; a loop is not
        // followed round.
        assert!(env.path("enc2/linked-file.coffer").is_file());
        assert!(!env.path("enc2/a/loop").exists());
        env.sh("decrypt -r --key aes:k32.bin -i enc2 -o dec")
            .success();
        assert_eq!(env.read("dec/linked-file"), b"top");
        assert_eq!(
            env.read("dec/linked-dir/secret.txt"),
            b"from outside the tree"
        );
        // -L means nothing without -r.
        env.sh("encrypt -L --key aes:k32.bin -i src/top.txt -o x")
            .code(2);
    }

    #[test]
    fn failures_are_reported_per_file_and_the_run_goes_on() {
        let env = Env::new();
        tree(&env);
        fs::create_dir_all(env.path("enc/a")).unwrap();
        env.write("enc/a/one.txt.coffer", b"already here");
        env.sh("encrypt -r --key aes:k32.bin -i src -o enc")
            .code(1)
            .stderr(contains("already exists").and(contains("1 of 4 files failed")));
        assert_eq!(env.read("enc/a/one.txt.coffer"), b"already here");
        assert!(env.path("enc/top.txt.coffer").is_file());
        assert!(env.path("enc/a/b/two.bin.coffer").is_file());
        // A message that fails leaves no output; the others are decrypted.
        env.write("enc/a/one.txt.coffer", b"garbage");
        env.sh("decrypt -r --key aes:k32.bin -i enc -o dec --metadata-output meta.jsonl")
            .code(1)
            .stderr(contains("cannot decrypt enc/a/one.txt.coffer"));
        let meta = String::from_utf8(env.read("meta.jsonl")).unwrap();
        let lines: Vec<serde_json::Value> = meta
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 4, "{meta}");
        let failed: Vec<_> = lines.iter().filter(|l| l["type"] == "failure").collect();
        assert_eq!(failed.len(), 1, "{meta}");
        assert_eq!(failed[0]["input"], "enc/a/one.txt.coffer");
        assert!(!failed[0]["reason"].as_str().unwrap().is_empty());
        assert!(!env.path("dec/a/one.txt").exists());
        assert_eq!(env.read("dec/top.txt"), b"top");
        let leftovers: Vec<_> = fs::read_dir(env.path("dec/a"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .filter(|n| n.to_string_lossy().starts_with('.'))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn bad_directory_arguments() {
        let env = Env::new();
        tree(&env);
        let before = tree_files(&env.path("src"));
        for out in ["src/enc", "src/a/new/deeper", "src", "other/../src/x"] {
            env.run(&[
                "encrypt",
                "-r",
                "--key",
                "aes:k32.bin",
                "-i",
                "src",
                "-o",
                out,
            ])
            .code(2)
            .stderr(contains("overlap").and(contains("hint: choose an output directory")));
            env.run(&[
                "decrypt",
                "-r",
                "--key",
                "aes:k32.bin",
                "-i",
                "src",
                "-o",
                out,
            ])
            .code(2)
            .stderr(contains("overlap"));
        }
        // The input tree is left as it was: the refused output directory was not created.
        assert_eq!(tree_files(&env.path("src")), before);
        assert!(!env.path("src/enc").exists());
        assert!(!env.path("src/a/new").exists());
        // The input inside the output tree, and an output reached through a symbolic link.
        env.sh("encrypt -r --key aes:k32.bin -i src/a -o src")
            .code(2)
            .stderr(contains("overlap"));
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink("src/a", env.path("link")).unwrap();
            env.sh("encrypt -r --key aes:k32.bin -i src -o link/enc")
                .code(2)
                .stderr(contains("overlap"));
            assert!(!env.path("src/a/enc").exists());
        }
        assert_eq!(tree_files(&env.path("src")), before);
        env.sh("encrypt -r --key aes:k32.bin -i src")
            .code(2)
            .stderr(contains("-r needs"));
        env.sh("encrypt -r --key aes:k32.bin -i plain -o out")
            .code(2)
            .stderr(contains("is not one"));
    }
}

mod misc {
    use super::*;

    #[test]
    fn completions_and_man_page_come_from_the_clap_definitions() {
        let env = Env::new();
        env.run(&["completions", "bash"])
            .success()
            .stdout(contains("complete -o nospace").and(contains("COFFER_COMPLETE=\"bash\"")));
        env.run(&["completions", "zsh"])
            .success()
            .stdout(contains("#compdef coffer"));
        env.run(&["completions", "fish"]).success().stdout(contains(
            "complete --keep-order --exclusive --command coffer",
        ));
        // The shell's question, as the scripts ask it: the flags of the clap definitions.
        env.cmd()
            .env("COFFER_COMPLETE", "fish")
            .args(["--", "coffer", "encrypt", "--commit"])
            .assert()
            .success()
            .stdout(contains("--commitment-policy"));
        env.run(&["completions", "tcsh"]).code(2);
        env.run(&["man"])
            .success()
            .stdout(contains(".TH coffer 1").and(contains("encrypt")));
    }

    #[test]
    fn help_on_every_verb() {
        let env = Env::new();
        env.sh("--help").success().stdout(contains("Exit status"));
        for verb in ["encrypt", "decrypt", "inspect"] {
            env.run(&[verb, "--help"])
                .success()
                .stdout(contains("Usage: coffer"));
        }
        env.sh("decrypt --help")
            .success()
            .stdout(contains("--buffer").and(contains("must not be trusted")));
    }

    #[test]
    fn usage_errors_exit_2() {
        let env = Env::new();
        env.sh("encrypt").code(2);
        env.sh("encrypt --key aes:k32.bin --frame-size 0").code(2);
        env.sh("encrypt --key aes:k32.bin --commitment-policy nope")
            .code(2);
        env.sh("encrypt --key aes:k32.bin --data-key-cache max-messages=10")
            .code(2)
            .stderr(contains("max-age is required"));
        env.sh("frobnicate").code(2);
    }

    #[test]
    fn broken_pipe_exits_0() {
        use std::io::Read as _;
        use std::process::{Command as StdCommand, Stdio};
        let env = Env::new();
        env.write("big", &pattern(4 << 20, 7));
        env.sh("encrypt --key aes:k32.bin -i big -o big.ct")
            .success();
        let mut child = StdCommand::new(env!("CARGO_BIN_EXE_coffer"))
            .current_dir(env.dir.path())
            .args(words("decrypt --key aes:k32.bin -i big.ct"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let mut buf = [0u8; 16];
        stdout.read_exact(&mut buf).unwrap();
        drop(stdout);
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    #[test]
    fn verbose_logs_go_to_stderr() {
        let env = Env::new();
        env.sh("-vv encrypt --key aes:k32.bin -i plain -o ct")
            .success()
            .stdout(predicate::str::is_empty())
            .stderr(contains("encrypting"));
        env.sh("-q encrypt --key aes:k32.bin -i plain -o ct2")
            .success()
            .stderr(predicate::str::is_empty());
    }
}

mod bad_input {
    use super::*;

    #[test]
    fn unreadable_input_file() {
        let env = Env::new();
        // A directory where a file is expected.
        fs::create_dir(env.path("adir")).unwrap();
        env.sh("encrypt --key aes:k32.bin -i adir -o ct")
            .code(1)
            .stderr(contains("adir is a directory"));
        // A file that opens but cannot be read (EIO at offset 0), whoever runs the test.
        #[cfg(target_os = "linux")]
        env.sh("encrypt --key aes:k32.bin -i /proc/self/mem -o ct")
            .code(1)
            .stderr(contains("cannot read /proc/self/mem"));
        // No permission. Root reads the file anyway: the cases above cover it.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            env.write("secret", b"top secret");
            let locked = fs::Permissions::from_mode(0o000);
            fs::set_permissions(env.path("secret"), locked).unwrap();
            if fs::File::open(env.path("secret")).is_err() {
                env.sh("encrypt --key aes:k32.bin -i secret -o ct")
                    .code(1)
                    .stderr(contains("cannot open secret").and(contains("ermission denied")));
                // In a tree: reported, and the other files are encrypted.
                fs::create_dir_all(env.path("src/d")).unwrap();
                env.write("src/ok", b"fine");
                fs::rename(env.path("secret"), env.path("src/d/secret")).unwrap();
                env.sh("encrypt -r -j 2 --key aes:k32.bin -i src -o enc")
                    .code(1)
                    .stderr(
                        contains("cannot open src/d/secret").and(contains("1 of 2 files failed")),
                    );
                assert!(env.path("enc/ok.coffer").is_file());
                assert!(!env.path("enc/d/secret.coffer").exists());
                assert!(temp_files(&env.path("enc")).is_empty());
            }
        }
        assert!(!env.path("ct").exists());
        env.assert_no_temp_files();
    }

    /// `coffer ARGS…` under `ulimit -f` (a file size limit: writes past it fail with EFBIG, the
    /// same path as a full disk).
    #[cfg(unix)]
    fn with_file_size_limit(env: &Env, blocks: u32, args: &[&str]) -> assert_cmd::assert::Assert {
        let mut c = Command::new("sh");
        c.current_dir(env.dir.path())
            .env_remove("RUST_LOG")
            .arg("-c")
            .arg(format!("ulimit -f {blocks} && exec \"$0\" \"$@\""))
            .arg(env!("CARGO_BIN_EXE_coffer"))
            .args(args);
        c.assert()
    }

    #[cfg(unix)]
    #[test]
    fn full_disk() {
        let env = Env::new();
        env.write("big", &pattern(1 << 20, 6));
        // 64 blocks: 32 KiB (or 64 KiB where a block is 1 KiB), far below the message.
        with_file_size_limit(
            &env,
            64,
            &[
                "encrypt",
                "--key",
                "aes:k32.bin",
                "-i",
                "big",
                "-o",
                "big.ct",
            ],
        )
        .code(1)
        .stderr(
            contains("cannot write the message to big.ct")
                .and(contains("File too large"))
                .and(contains("hint: the disk is full")),
        );
        assert!(!env.path("big.ct").exists());
        env.assert_no_temp_files();

        env.sh("encrypt --key aes:k32.bin -i big -o big.ct")
            .success();
        with_file_size_limit(
            &env,
            64,
            &[
                "decrypt",
                "--key",
                "aes:k32.bin",
                "-i",
                "big.ct",
                "-o",
                "big.out",
            ],
        )
        .code(1)
        .stderr(contains("cannot write the plaintext to big.out").and(contains("File too large")));
        assert!(!env.path("big.out").exists());
        env.assert_no_temp_files();

        // In a tree: the file that does not fit fails, the small one is written.
        fs::create_dir_all(env.path("src/d")).unwrap();
        env.write("src/small", b"small");
        fs::rename(env.path("big"), env.path("src/d/big")).unwrap();
        with_file_size_limit(
            &env,
            64,
            &[
                "encrypt",
                "-r",
                "--key",
                "aes:k32.bin",
                "-i",
                "src",
                "-o",
                "enc",
            ],
        )
        .code(1)
        .stderr(
            contains("cannot write the message to enc/d/big.coffer")
                .and(contains("1 of 2 files failed")),
        );
        assert_eq!(tree_names(&env.path("enc")), ["small.coffer"]);
        env.sh("decrypt --key aes:k32.bin -i enc/small.coffer")
            .success()
            .stdout("small");
    }
}

#[cfg(unix)]
mod interrupts {
    use super::*;
    use std::io::Write as _;
    use std::process::{Child, Command as StdCommand, Stdio};
    use std::time::{Duration, Instant};

    /// Waits (at most 20 s) until a temporary output with data in it exists below `root`
    /// (named, or unnamed and open in coffer).
    fn wait_for_partial_output(root: &Path, child: &mut Child) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let partial = tree_names(root).iter().any(|n| {
                n.ends_with(".coffer-tmp") && fs::metadata(root.join(n)).is_ok_and(|m| m.len() > 0)
            }) || hardening_files::has_partial_open(child.id(), root);
            if partial {
                return;
            }
            assert!(
                child.try_wait().unwrap().is_none(),
                "coffer ended before the signal"
            );
            assert!(Instant::now() < deadline, "no temporary output appeared");
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    fn send(signal: &str, child: &Child) {
        let status = StdCommand::new("sh")
            .args(["-c", &format!("kill -s {signal} {}", child.id())])
            .status()
            .unwrap();
        assert!(status.success());
    }

    #[test]
    fn signal_while_writing_a_file_removes_the_partial_output() {
        for (signal, code) in [("INT", 130), ("TERM", 143), ("HUP", 129)] {
            let env = Env::new();
            let mut child = StdCommand::new(env!("CARGO_BIN_EXE_coffer"))
                .current_dir(env.dir.path())
                .args(words("encrypt --key aes:k32.bin -o out.ct"))
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            // Part of the input, then nothing: coffer waits for more, mid-message.
            let mut stdin = child.stdin.take().unwrap();
            stdin.write_all(&pattern(256 << 10, 1)).unwrap();
            stdin.flush().unwrap();
            wait_for_partial_output(env.dir.path(), &mut child);
            send(signal, &child);
            let out = child.wait_with_output().unwrap();
            drop(stdin);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(code), "SIG{signal}: {stderr}");
            assert!(
                stderr.contains(&format!(
                    "interrupted (SIG{signal}); removed 1 partial output"
                )),
                "{stderr}"
            );
            assert!(!env.path("out.ct").exists());
            env.assert_no_temp_files();
        }
    }

    #[test]
    fn sigint_during_a_directory_run() {
        use std::os::unix::fs::MetadataExt;
        let env = Env::new();
        // Much more work than the test waits for: hard links to one 4 MiB file.
        let data = pattern(4 << 20, 3);
        fs::create_dir_all(env.path("src/d")).unwrap();
        env.write("src/d/f00", &data);
        for i in 1..64 {
            fs::hard_link(env.path("src/d/f00"), env.path(&format!("src/d/f{i:02}"))).unwrap();
        }
        let stat = |root: &Path| -> Vec<(String, u64, i64, i64, u64)> {
            tree_names(root)
                .into_iter()
                .map(|n| {
                    let m = fs::metadata(root.join(&n)).unwrap();
                    (n, m.len(), m.mtime(), m.mtime_nsec(), m.nlink())
                })
                .collect()
        };
        let before = stat(&env.path("src"));
        let mut child = StdCommand::new(env!("CARGO_BIN_EXE_coffer"))
            .current_dir(env.dir.path())
            .args(words(
                "encrypt -r -j 2 --suite 0478 --key aes:k32.bin -i src -o enc",
            ))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        wait_for_partial_output(&env.path("enc"), &mut child);
        send("INT", &child);
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(130), "{stderr}");
        assert!(stderr.contains("interrupted (SIGINT); removed"), "{stderr}");
        assert!(temp_files(&env.path("enc")).is_empty());
        // The input is as it was, and what is in the output tree is complete.
        assert_eq!(stat(&env.path("src")), before);
        assert_eq!(env.read("src/d/f00"), data);
        for name in tree_names(&env.path("enc")) {
            let path = format!("enc/{name}");
            env.run(&["decrypt", "--key", "aes:k32.bin", "-i", &path])
                .success()
                .stdout(predicate::function(|s: &[u8]| s == data.as_slice()));
        }
    }
}

mod parallel {
    use super::*;

    fn many(env: &Env) {
        for i in 0..40 {
            let dir = format!("src/d{}/e{}", i % 3, i % 2);
            fs::create_dir_all(env.path(&dir)).unwrap();
            let len = [0, 1, 1024, 5000, 70_000][i % 5];
            env.write(
                &format!("{dir}/f{i}"),
                &pattern(len, u8::try_from(i).unwrap()),
            );
        }
    }

    #[test]
    fn jobs_do_not_change_the_result() {
        let env = Env::new();
        many(&env);
        env.sh("encrypt -r -j 4 --key aes:k32.bin -i src -o enc4 --metadata-output meta.jsonl")
            .success()
            .stderr(contains("encrypted 40 files"));
        env.sh("encrypt -r -j 1 --key aes:k32.bin -i src -o enc1")
            .success();
        assert_eq!(tree_names(&env.path("enc4")), tree_names(&env.path("enc1")));
        assert_eq!(tree_names(&env.path("enc4")).len(), 40);
        // Whole lines, one per file.
        let meta = String::from_utf8(env.read("meta.jsonl")).unwrap();
        let inputs: std::collections::BTreeSet<String> = meta
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["input"].to_string())
            .collect();
        assert_eq!(inputs.len(), 40);
        env.sh("decrypt -r -j 4 --key aes:k32.bin -i enc4 -o dec")
            .success();
        assert_eq!(tree_files(&env.path("dec")), tree_files(&env.path("src")));
    }

    #[test]
    fn json_summary_and_failures() {
        let env = Env::new();
        many(&env);
        fs::create_dir_all(env.path("enc/d1/e1")).unwrap();
        env.write("enc/d1/e1/f1.coffer", b"already here");
        let out = env
            .cmd()
            .args(words(
                "--output json encrypt -r -j 4 --key aes:k32.bin -i src -o enc --metadata-output meta.jsonl",
            ))
            .assert()
            .code(1)
            .stderr(contains("already exists"))
            .get_output()
            .stdout
            .clone();
        assert_eq!(env.read("enc/d1/e1/f1.coffer"), b"already here");
        let lines: Vec<serde_json::Value> = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let of = |t: &str| lines.iter().filter(|l| l["type"] == t).count();
        assert_eq!(of("metadata"), 39);
        // The file's error, then the run's.
        assert_eq!(of("error"), 2);
        let summary = lines.iter().find(|l| l["type"] == "summary").unwrap();
        assert_eq!(summary["schema"], 1);
        assert_eq!(summary["mode"], "encrypt");
        assert_eq!(summary["files"], 40);
        assert_eq!(summary["succeeded"], 39);
        assert_eq!(summary["failed"], 1);
        assert!(summary["seconds"].as_f64().unwrap() >= 0.0);
        let meta = String::from_utf8(env.read("meta.jsonl")).unwrap();
        assert_eq!(meta.lines().count(), 40);
        assert_eq!(
            meta.lines()
                .filter(|l| l.contains("\"type\":\"failure\""))
                .count(),
            1
        );
        assert!(temp_files(&env.path("enc")).is_empty());

        // Decrypting: the summary counts the skipped files; -q drops the text summary.
        env.sh("-q decrypt -r --key aes:k32.bin -i enc -o dec")
            .code(1)
            .stderr(contains("encrypted").not().and(contains("decrypted").not()));
        env.sh("decrypt -r --key aes:k32.bin -i enc -o dec2")
            .code(1)
            .stderr(contains("decrypted 39 of 40 files"));
        env.sh("encrypt -j 2 --key aes:k32.bin -i plain -o x")
            .code(2)
            .stderr(contains("--recursive"));
    }
}

#[path = "cli/audit.rs"]
mod audit;
#[path = "cli/decrypt_limits.rs"]
mod decrypt_limits;
#[path = "cli/durations.rs"]
mod durations;
#[path = "cli/exec.rs"]
mod exec;
#[path = "cli/file_limits.rs"]
mod file_limits;
#[path = "cli/hardening_exec.rs"]
mod hardening_exec;
#[cfg(unix)]
#[path = "cli/hardening_files.rs"]
mod hardening_files;
#[path = "cli/help_texts.rs"]
mod help_texts;
#[path = "cli/hooks.rs"]
mod hooks;
#[path = "cli/keys.rs"]
mod keys;
#[cfg(feature = "kms")]
#[path = "cli/kms.rs"]
mod kms;
#[cfg(feature = "kms")]
#[path = "cli/kms_region.rs"]
mod kms_region;
#[path = "cli/memory.rs"]
mod memory;
#[path = "cli/params.rs"]
mod params;
#[cfg(feature = "postgres")]
#[path = "cli/pg.rs"]
mod pg;
#[cfg(feature = "postgres")]
#[path = "cli/pg_concurrency.rs"]
mod pg_concurrency;
#[cfg(feature = "pkcs11")]
#[path = "cli/pkcs11.rs"]
mod pkcs11;
#[path = "cli/rewrap.rs"]
mod rewrap;
#[path = "cli/scale.rs"]
mod scale;
#[path = "cli/untrusted/mod.rs"]
mod untrusted;

/// The kill tests stop coffer at each step through the `test-pause` feature; CI must build
/// with it, or those tests would be ignored there.
#[test]
fn ci_runs_the_kill_tests() {
    let built_with_it = cfg!(feature = "test-pause");
    let ci = std::env::var("CI").as_deref() == Ok("true");
    assert!(
        built_with_it || !ci,
        "CI runs the tests with --features coffer-cli/test-pause (scripts/test.sh)"
    );
}
