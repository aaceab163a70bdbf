//! Writes the seed corpus: valid messages under the fixed fuzzing key (`seeds/decrypt`),
//! their headers (`seeds/header`) and serialized encryption contexts (`seeds/context`).
//!
//! Usage, in `fuzz/`: `cargo run --release --features make-seeds --bin make-seeds [-- OUT_DIR]`
//! (default: `fuzz/seeds`).
//! Message ids, IVs and signing keys are random, so the bytes change on every run; every
//! message written is checked to decrypt to its plaintext on both decryption paths.

use aws_lc_rs::{aead, hkdf};
use coffer_core::cmm::DefaultCmm;
use coffer_core::keyring::{Keyring, MultiKeyring, RawAesKeyring};
use coffer_core::{AlgorithmSuite, CommitmentPolicy, EncryptConfig, EncryptionContext};
use coffer_fuzz::{KEY, KEY_NAME, NAMESPACE, block_on, decrypt_one_shot, decrypt_streaming};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

const MEDIUM: &[u8] = b"0123456789abcdef0123456789ABCDEF"; // two 16-byte frames exactly

fn plaintext(len: usize) -> Vec<u8> {
    (0..len).map(|i| b"fuzz seed plaintext "[i % 20]).collect()
}

fn context(with: bool) -> EncryptionContext {
    let mut ctx = EncryptionContext::new();
    if with {
        ctx.insert("purpose", "fuzz");
        ctx.insert("tenant", "t-42");
        ctx.insert("日本", "東京");
    }
    ctx
}

fn suite_tag(s: AlgorithmSuite) -> String {
    format!("{:04x}", s.id())
}

struct Out {
    dir: PathBuf,
    bytes: usize,
    files: usize,
}

impl Out {
    fn write(&mut self, sub: &str, name: &str, data: &[u8]) -> Res<()> {
        fs::write(self.dir.join(sub).join(name), data)?;
        self.bytes += data.len();
        self.files += 1;
        Ok(())
    }

    /// Writes a message to `decrypt/` and its header to `header/`, after checking it.
    /// Returns the context stored in the header.
    fn message(&mut self, name: &str, msg: &[u8], pt: &[u8]) -> Res<EncryptionContext> {
        for (path, got) in [
            ("one-shot", decrypt_one_shot(msg)?),
            ("streaming", decrypt_streaming(msg, 7)?),
        ] {
            if got != pt {
                return Err(format!("{name}: {path} decryption gave another plaintext").into());
            }
        }
        let mut rest = msg;
        let header = coffer_core::inspect(&mut rest)?;
        let header_len = msg.len() - rest.len();
        self.write("decrypt", name, msg)?;
        self.write("header", name, &msg[..header_len])?;
        Ok(header.context)
    }
}

fn encrypt(
    keyring: Arc<dyn Keyring>,
    suite: AlgorithmSuite,
    frame: u32,
    ctx: &EncryptionContext,
    pt: &[u8],
) -> Res<Vec<u8>> {
    let policy = if suite.is_committing() {
        CommitmentPolicy::RequireEncryptRequireDecrypt
    } else {
        CommitmentPolicy::ForbidEncryptAllowDecrypt
    };
    let cfg = EncryptConfig::default()
        .with_suite(Some(suite))
        .with_commitment_policy(policy)
        .with_frame_length(frame)?;
    let cmm = Arc::new(DefaultCmm::new(keyring));
    Ok(block_on(coffer_core::encrypt(cmm, &cfg, ctx, pt))?)
}

fn seal(key: &[u8], iv: [u8; 12], aad: &[u8], buf: &mut Vec<u8>) -> Res<()> {
    let alg = match key.len() {
        16 => &aead::AES_128_GCM,
        24 => &aead::AES_192_GCM,
        _ => &aead::AES_256_GCM,
    };
    let k = aead::LessSafeKey::new(aead::UnboundKey::new(alg, key).map_err(|_| "aead key")?);
    let tag = k
        .seal_in_place_separate_tag(
            aead::Nonce::assume_unique_for_key(iv),
            aead::Aad::from(aad),
            buf,
        )
        .map_err(|_| "seal")?;
    buf.extend_from_slice(tag.as_ref());
    Ok(())
}

fn put_field(out: &mut Vec<u8>, field: &[u8]) -> Res<()> {
    out.extend_from_slice(&u16::try_from(field.len())?.to_be_bytes());
    out.extend_from_slice(field);
    Ok(())
}

/// A legacy non-framed (content type 1) message, which the library can read but not write.
/// Only the unsigned version-1 suites 0x0078 (no KDF) and 0x0178 (HKDF-SHA256) are built.
fn non_framed(suite: AlgorithmSuite, ctx: &EncryptionContext, pt: &[u8]) -> Res<Vec<u8>> {
    let data_key = [0x5au8; 32];
    let message_id = [0xa5u8; 16];
    let suite_id = suite.id().to_be_bytes();
    let content_key = match suite {
        AlgorithmSuite::Aes256GcmNoKdf => data_key,
        AlgorithmSuite::Aes256GcmHkdfSha256 => {
            let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, &[]).extract(&data_key);
            let info: [&[u8]; 2] = [&suite_id, &message_id];
            let okm = prk.expand(&info, hkdf::HKDF_SHA256).map_err(|_| "hkdf")?;
            let mut k = [0u8; 32];
            okm.fill(&mut k).map_err(|_| "hkdf fill")?;
            k
        }
        _ => return Err(format!("no hand-built non-framed messages for {suite}").into()),
    };
    let aad = ctx.serialize()?;
    // The data key wrapped as the raw AES keyring does it.
    let wrap_iv = [0x42u8; 12];
    let mut wrapped = data_key.to_vec();
    seal(&KEY, wrap_iv, &aad, &mut wrapped)?;
    let mut info = KEY_NAME.as_bytes().to_vec();
    info.extend_from_slice(&128u32.to_be_bytes());
    info.extend_from_slice(&12u32.to_be_bytes());
    info.extend_from_slice(&wrap_iv);

    let mut msg = vec![1, 0x80];
    msg.extend_from_slice(&suite_id);
    msg.extend_from_slice(&message_id);
    put_field(&mut msg, &aad)?;
    msg.extend_from_slice(&1u16.to_be_bytes());
    put_field(&mut msg, NAMESPACE.as_bytes())?;
    put_field(&mut msg, &info)?;
    put_field(&mut msg, &wrapped)?;
    msg.extend_from_slice(&[1, 0, 0, 0, 0, 12, 0, 0, 0, 0]); // non-framed, reserved, IV len, frame 0
    let mut tag = Vec::new();
    seal(&content_key, [0; 12], &msg, &mut tag)?;
    msg.extend_from_slice(&[0; 12]);
    msg.extend_from_slice(&tag);

    let len = u64::try_from(pt.len())?;
    let mut iv = [0u8; 12];
    iv[11] = 1;
    let mut body_aad = message_id.to_vec();
    body_aad.extend_from_slice(b"AWSKMSEncryptionClient Single Block");
    body_aad.extend_from_slice(&1u32.to_be_bytes());
    body_aad.extend_from_slice(&len.to_be_bytes());
    let mut body = pt.to_vec();
    seal(&content_key, iv, &body_aad, &mut body)?;
    msg.extend_from_slice(&iv);
    msg.extend_from_slice(&len.to_be_bytes());
    msg.extend_from_slice(&body);
    Ok(msg)
}

fn reset(dir: &Path) -> Res<()> {
    for sub in ["decrypt", "header", "context"] {
        let d = dir.join(sub);
        if d.exists() {
            fs::remove_dir_all(&d)?;
        }
        fs::create_dir_all(&d)?;
    }
    Ok(())
}

fn main() -> Res<()> {
    let dir = std::env::args_os().nth(1).map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds"),
        PathBuf::from,
    );
    reset(&dir)?;
    let mut out = Out {
        dir,
        bytes: 0,
        files: 0,
    };
    let fixed: Arc<dyn Keyring> = Arc::new(RawAesKeyring::new(NAMESPACE, KEY_NAME, &KEY)?);

    // Every suite, each with five (frame length, plaintext, context) cases.
    let cases: [(u32, Vec<u8>, bool); 5] = [
        (1, plaintext(11), true),
        (16, Vec::new(), false),
        (16, MEDIUM.to_vec(), true),
        (4096, plaintext(100), false),
        (4096, Vec::new(), true),
    ];
    let mut stored = Vec::new(); // header contexts carrying a signature key
    for suite in AlgorithmSuite::ALL {
        for (frame, pt, with_ctx) in &cases {
            let msg = encrypt(fixed.clone(), suite, *frame, &context(*with_ctx), pt)?;
            let name = format!(
                "{}-f{frame}-pt{}-{}",
                suite_tag(suite),
                pt.len(),
                if *with_ctx { "ctx" } else { "noctx" }
            );
            let ctx = out.message(&name, &msg, pt)?;
            if suite.is_signing() && *frame == 1 {
                stored.push((format!("header-{}", suite_tag(suite)), ctx));
            }
        }
    }

    // Two encrypted data keys: another key first, the fixed key second.
    let other: Arc<dyn Keyring> =
        Arc::new(RawAesKeyring::new(NAMESPACE, "other-key", &[0x22; 32])?);
    let multi: Arc<dyn Keyring> = Arc::new(MultiKeyring::new(Some(other), vec![fixed.clone()])?);
    for suite in [
        AlgorithmSuite::Aes128GcmHkdfSha256,
        AlgorithmSuite::Aes256GcmHkdfSha512CommitKey,
        AlgorithmSuite::Aes256GcmHkdfSha512CommitKeyEcdsaP384,
    ] {
        let pt = plaintext(40);
        let msg = encrypt(multi.clone(), suite, 16, &context(true), &pt)?;
        out.message(
            &format!("{}-f16-pt40-ctx-2edks", suite_tag(suite)),
            &msg,
            &pt,
        )?;
    }

    // Legacy non-framed bodies.
    for suite in [
        AlgorithmSuite::Aes256GcmNoKdf,
        AlgorithmSuite::Aes256GcmHkdfSha256,
    ] {
        for (pt, with_ctx) in [(Vec::new(), false), (plaintext(50), true)] {
            let msg = non_framed(suite, &context(with_ctx), &pt)?;
            let name = format!(
                "{}-nonframed-pt{}-{}",
                suite_tag(suite),
                pt.len(),
                if with_ctx { "ctx" } else { "noctx" }
            );
            out.message(&name, &msg, &pt)?;
        }
    }

    // Serialized contexts.
    let mut contexts: Vec<(String, EncryptionContext)> = stored;
    contexts.extend(
        [
            ("one-pair", [("a", "1")].into_iter().collect()),
            ("three-pairs-utf8", context(true)),
            (
                "empty-key-and-value",
                [("", ""), ("k", "")].into_iter().collect(),
            ),
            (
                "many-pairs",
                (0..40)
                    .map(|i| (format!("key-{i:02}"), format!("value {i}")))
                    .collect(),
            ),
            (
                "long-value",
                [("blob", "x".repeat(1000).as_str())].into_iter().collect(),
            ),
        ]
        .map(|(n, c)| (n.to_owned(), c)),
    );
    for (name, ctx) in contexts {
        let bytes = ctx.serialize()?;
        if EncryptionContext::deserialize(&bytes)? != ctx {
            return Err(format!("context {name} does not round-trip").into());
        }
        out.write("context", &name, &bytes)?;
    }

    println!(
        "make-seeds: wrote {} files, {} bytes, under {}",
        out.files,
        out.bytes,
        out.dir.display()
    );
    Ok(())
}
