//! `coffer decrypt` against hostile messages: what a message says cannot make decrypt hold
//! gigabytes, make thousands of key operations or print megabytes; input that is no message
//! says so.

use super::*;
use coffer_core::keyring::{BoxFuture, Keyring, MultiKeyring, RawAesKeyring, RawRsaKeyring};
use coffer_core::materials::{DecryptionMaterials, EncryptionMaterials};
use coffer_core::{EncryptConfig, EncryptedDataKey, EncryptionContext};
use std::io::Write as _;
use std::process::Stdio;
use std::sync::Arc;

/// The header of message `msg` (body and authentication).
fn header_of(msg: &[u8]) -> Vec<u8> {
    let mut rest = msg;
    coffer_core::inspect(&mut rest).unwrap();
    msg[..msg.len() - rest.len()].to_vec()
}

#[test]
fn a_header_naming_4_gib_frames_is_refused_before_the_junk_after_it_is_read() {
    let env = Env::new();
    env.write("hi", b"hi");
    env.sh("encrypt --key aes:k32.bin --frame-size 4294967295 -i hi -o huge.ct")
        .success();
    // The header, the start of frame 1 (its sequence number and IV), then up to 256 MiB of
    // junk on stdin, for as long as decrypt reads it.
    let mut header = header_of(&env.read("huge.ct"));
    header.extend_from_slice(&1u32.to_be_bytes());
    header.extend_from_slice(&coffer_core::format::frame_iv(1));
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_coffer"))
        .current_dir(env.path(""))
        .env_remove("RUST_LOG")
        .env("COFFER_HOME", env.path("no-coffer-home"))
        .args(words("decrypt --key aes:k32.bin -o out"))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || {
        let junk = vec![0u8; 64 << 10];
        let mut written = 0usize;
        if stdin.write_all(&header).is_err() {
            return written;
        }
        while written < 256 << 20 {
            match stdin.write(&junk) {
                Ok(n) => written += n,
                Err(_) => break,
            }
        }
        written
    });
    let out = child.wait_with_output().unwrap();
    let junk_written = feeder.join().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // What a pipe and a read buffer hold, not what the frame length says.
    assert!(
        junk_written < 1 << 20,
        "decrypt read {junk_written} bytes of junk"
    );
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "message frames of 4294967295 bytes are longer than the limit of 16777216 bytes (16 MiB)"
        ) && stderr.contains("hint: raise --max-frame-size"),
        "{stderr}"
    );
    assert!(!env.path("out").exists());
    // The honest message decrypts when any frame length is allowed.
    env.sh("decrypt --key aes:k32.bin --max-frame-size 4G -i huge.ct -o out")
        .success();
    assert_eq!(env.read("out"), b"hi");
    // A lower limit refuses what the default takes.
    env.sh("encrypt --key aes:k32.bin --frame-size 8192 -i plain -o p.ct")
        .success();
    env.sh("decrypt --key aes:k32.bin --max-frame-size 4K -i p.ct -o p.out")
        .code(1)
        .stderr(contains(
            "8192 bytes (8 KiB) are longer than the limit of 4096 bytes (4 KiB)",
        ));
    env.sh("decrypt --key aes:k32.bin -i p.ct -o p.out")
        .success();
    env.sh("decrypt --key aes:k32.bin --max-frame-size 0 -i p.ct -o p.out2")
        .code(2)
        .stderr(contains("--max-frame-size"));
}

/// Adds one data key per name in `names`, as the raw RSA keyring `coffer/NAME` would,
/// that no key opens.
#[derive(Debug)]
struct Decoys(Vec<String>);

impl Keyring for Decoys {
    fn on_encrypt<'a>(
        &'a self,
        materials: EncryptionMaterials,
    ) -> BoxFuture<'a, coffer_core::Result<EncryptionMaterials>> {
        let mut m = Ok(materials);
        for name in &self.0 {
            m = m.and_then(|m| {
                m.with_edk(EncryptedDataKey {
                    provider_id: "coffer".into(),
                    provider_info: name.as_bytes().to_vec(),
                    ciphertext: vec![7; 256],
                })
            });
        }
        Box::pin(std::future::ready(m))
    }

    fn on_decrypt<'a>(
        &'a self,
        _: DecryptionMaterials,
        _: &'a [EncryptedDataKey],
    ) -> BoxFuture<'a, coffer_core::Result<DecryptionMaterials>> {
        unreachable!("only encrypts")
    }
}

/// A message for a raw AES key nobody has (data key #1), then `decoys`, then the real data
/// key for the RSA key `coffer/victim` of `tests/data/rsa-test.pem`, last.
fn message(decoys: Vec<String>) -> Vec<u8> {
    let public = fs::read(RSA_PUBLIC).unwrap();
    let rsa = RawRsaKeyring::new(
        "coffer",
        "victim",
        coffer_core::keyring::RsaPadding::OaepSha256,
        Some(&public),
        None,
    )
    .unwrap();
    let ring = MultiKeyring::new(
        Some(Arc::new(
            RawAesKeyring::new("coffer", "gone", &[9; 32]).unwrap(),
        )),
        vec![Arc::new(Decoys(decoys)), Arc::new(rsa)],
    )
    .unwrap();
    let cmm = Arc::new(coffer_core::cmm::DefaultCmm::new(Arc::new(ring)));
    let cfg = EncryptConfig::default().with_max_encrypted_data_keys(None);
    futures::executor::block_on(coffer_core::encrypt(
        cmm,
        &cfg,
        &EncryptionContext::new(),
        b"the real one is last",
    ))
    .unwrap()
}

#[test]
fn data_keys_tried_are_bounded_and_the_error_stays_short() {
    let env = Env::new();
    let victim = format!("rsa:{RSA_PRIVATE}?name=victim");
    // 200 data keys for the same RSA key that do not open, then the one that does.
    env.write("same.ct", &message(vec!["victim".to_owned(); 200]));
    let out = env
        .run(&[
            "decrypt", "--key", &victim, "-i", "same.ct", "-o", "same.out",
        ])
        .code(1)
        .get_output()
        .clone();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.len() < 2000, "{} bytes: {stderr}", stderr.len());
    assert_eq!(
        stderr.matches("RSA decryption failed").count(),
        9,
        "ten lines (data key #1 is not for this key): {stderr}"
    );
    assert!(
        contains_all(&[
            "... and 23 more",
            "169 more data keys for these keys not tried: at most 32 unwrap attempts are made per message",
            "hint: raise --max-encrypted-data-keys",
        ])
        .eval(&stderr),
        "{stderr}"
    );
    assert!(!env.path("same.out").exists());
    // Allowed, every one is tried and the last one opens.
    env.run(&[
        "decrypt",
        "--key",
        &victim,
        "-i",
        "same.ct",
        "-o",
        "same.out",
        "--max-encrypted-data-keys",
        "202",
    ])
    .success();
    assert_eq!(env.read("same.out"), b"the real one is last");

    // 250 data keys for 250 other keys: the error and its hint name a few.
    let names: Vec<String> = (0..250).map(|i| format!("someone-{i:03}")).collect();
    env.write("others.ct", &message(names));
    let out = env
        .run(&[
            "decrypt",
            "--key",
            &format!("rsa:{RSA_PRIVATE}?name=nobody"),
            "-i",
            "others.ct",
        ])
        .code(1)
        .get_output()
        .clone();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.len() < 2000, "{} bytes: {stderr}", stderr.len());
    assert!(
        contains_all(&["coffer/someone-003", "and 247 more", "... and 242 more"]).eval(&stderr),
        "{stderr}"
    );

    // More data keys than the default of 256: refused while parsing the header.
    let names: Vec<String> = (0..300).map(|i| format!("someone-{i:03}")).collect();
    env.write("many.ct", &message(names));
    env.run(&[
        "decrypt", "--key", &victim, "-i", "many.ct", "-o", "many.out",
    ])
    .code(1)
    .stderr(contains_all(&[
        "302 encrypted data keys, more than the limit of 256",
        "hint: raise --max-encrypted-data-keys",
    ]));
    env.run(&[
        "decrypt",
        "--key",
        &victim,
        "-i",
        "many.ct",
        "-o",
        "many.out",
        "--max-encrypted-data-keys",
        "302",
    ])
    .success();
    assert_eq!(env.read("many.out"), b"the real one is last");
}

#[test]
fn input_that_is_no_message_says_so() {
    let env = Env::new();
    env.write("hello.txt", b"hello world, this is not encrypted at all\n");
    env.sh("decrypt --key aes:k32.bin -i hello.txt -o out")
        .code(1)
        .stderr(contains(
            "not an AWS Encryption SDK message (it starts with text \"hello world, this is not\"...)",
        ));
    env.write("short.txt", b"hi\n");
    env.sh("decrypt --key aes:k32.bin -i short.txt")
        .code(1)
        .stderr(contains("it starts with text \"hi\\n\")"));
    env.write("image.png", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR");
    env.sh("decrypt --key aes:k32.bin -i image.png")
        .code(1)
        .stderr(contains(
            "it starts with bytes 89 50 4E 47 0D 0A; a message starts with version 0x01 or 0x02",
        ));
    // A message of a later format version keeps its precise error.
    env.sh("encrypt --key aes:k32.bin -i plain -o m.ct")
        .success();
    let mut msg = env.read("m.ct");
    msg[0] = 3;
    env.write("v3.ct", &msg);
    env.sh("decrypt --key aes:k32.bin -i v3.ct")
        .code(1)
        .stderr(contains(
            "unsupported message version 0x03 (versions 1 and 2 are supported)",
        ));
    // And base64 of a message is still recognised.
    env.write("m.b64", b64(&env.read("m.ct")).as_bytes());
    env.sh("decrypt --key aes:k32.bin -i m.b64")
        .code(1)
        .stderr(contains("looks like base64"));
    // inspect says the same.
    env.sh("inspect hello.txt")
        .code(1)
        .stderr(contains("not an AWS Encryption SDK message"));
}
