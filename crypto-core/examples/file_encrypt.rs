//! File-to-file encryption with a raw AES key: the streaming API end to end.
//!
//! ```text
//! cargo run --release -p coffer-core --example file_encrypt -- encrypt KEYFILE IN OUT [SUITE] [FRAME]
//! cargo run --release -p coffer-core --example file_encrypt -- decrypt KEYFILE IN OUT
//! ```
//!
//! `KEYFILE` holds 16, 24 or 32 raw bytes (the wrapping key). `SUITE` is a hex suite id
//! (default 0578), `FRAME` the frame length (default 4096). The memory used is a few
//! buffers of about a frame each, whatever the size of the file.

use coffer_core::cmm::DefaultCmm;
use coffer_core::keyring::RawAesKeyring;
use coffer_core::{
    AlgorithmSuite, CommitmentPolicy, DEFAULT_FRAME_LENGTH, DecryptConfig, Decryptor,
    EncryptConfig, EncryptionContext, Encryptor, Release,
};
use std::error::Error;
use std::fs::File;
use std::io::{Read, Write};
use std::sync::Arc;

type BoxResult<T> = Result<T, Box<dyn Error>>;

/// Copy buffer: a whole 64 KiB frame fits, so frames are decrypted straight into it.
const CHUNK: usize = 64 * 1024;

fn main() -> BoxResult<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage =
        "usage: file_encrypt encrypt KEYFILE IN OUT [SUITE_HEX] [FRAME] | decrypt KEYFILE IN OUT";
    let (verb, key, input, output) = match args.as_slice() {
        [v, k, i, o, ..] => (v.as_str(), k, i, o),
        _ => return Err(usage.into()),
    };
    let key = std::fs::read(key)?;
    let keyring = Arc::new(RawAesKeyring::new("example", "file-key", &key)?);
    let cmm = Arc::new(DefaultCmm::new(keyring));
    match verb {
        "encrypt" => {
            let suite = match args.get(4) {
                Some(hex) => AlgorithmSuite::from_id(u16::from_str_radix(hex, 16)?)?,
                None => AlgorithmSuite::Aes256GcmHkdfSha512CommitKeyEcdsaP384,
            };
            let frame = match args.get(5) {
                Some(n) => n.parse()?,
                None => DEFAULT_FRAME_LENGTH,
            };
            let policy = if suite.is_committing() {
                CommitmentPolicy::RequireEncryptRequireDecrypt
            } else {
                CommitmentPolicy::ForbidEncryptAllowDecrypt
            };
            let cfg = EncryptConfig::default()
                .with_suite(Some(suite))
                .with_commitment_policy(policy)
                .with_frame_length(frame)?;
            let mut reader = File::open(input)?;
            let len = reader.metadata()?.len();
            let mut ctx = EncryptionContext::new();
            ctx.insert("purpose", "example");
            let prepared =
                futures::executor::block_on(Encryptor::new(cmm, cfg).prepare(&ctx, Some(len)))?;
            // The writer batches sealed frames into large writes: no BufWriter needed.
            let mut writer = prepared.wrap_output(File::create(output)?)?;
            pump(&mut reader, &mut writer)?;
            writer.finish()?;
        }
        "decrypt" => {
            let cfg = DecryptConfig::default()
                .with_commitment_policy(CommitmentPolicy::RequireEncryptAllowDecrypt);
            let mut reader = File::open(input)?;
            let parsed = Decryptor::new(cfg).read_header(&mut reader)?;
            let ready = futures::executor::block_on(parsed.obtain_materials(cmm.as_ref(), None))?;
            // The reader reads ahead in large reads: no BufReader needed.
            let mut plain = ready.into_reader(reader, Release::PerFrame);
            let mut out = File::create(output)?;
            let copied = pump(&mut plain, &mut out);
            if copied.is_err() || !plain.is_verified() {
                // Each frame was authenticated before it was written, but the message as a
                // whole (truncation, the signature) was not: do not leave the output around.
                drop(out);
                std::fs::remove_file(output)?;
                return Err(copied
                    .err()
                    .unwrap_or_else(|| "message not verified".into()));
            }
        }
        _ => return Err(usage.into()),
    }
    Ok(())
}

/// Copies `r` to `w` in `CHUNK`-sized reads.
fn pump(r: &mut impl Read, w: &mut impl Write) -> BoxResult<()> {
    let mut buf = zeroize::Zeroizing::new(vec![0u8; CHUNK]);
    loop {
        match r.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => w.write_all(&buf[..n])?,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
}
