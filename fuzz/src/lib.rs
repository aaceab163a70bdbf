//! Shared pieces of the fuzz targets and of `make-seeds`: the fixed raw AES key, the
//! decryption settings, a tiny executor and a reader that hands out a few bytes at a time.

use coffer_core::cmm::DefaultCmm;
use coffer_core::keyring::RawAesKeyring;
use coffer_core::{CommitmentPolicy, DecryptConfig, Decryptor, Release};
use std::future::Future;
use std::io::Read;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Waker};

/// Key namespace (provider id) of the fixed fuzzing key.
pub const NAMESPACE: &str = "fuzz";
/// Key name of the fixed fuzzing key.
pub const KEY_NAME: &str = "fuzz-key";
/// The fixed raw AES-256 wrapping key every seed is encrypted under.
pub const KEY: [u8; 32] = [0x11; 32];

/// The materials manager over the fixed key (built once per process).
pub fn cmm() -> &'static DefaultCmm {
    static CMM: OnceLock<DefaultCmm> = OnceLock::new();
    CMM.get_or_init(|| {
        let keyring = RawAesKeyring::new(NAMESPACE, KEY_NAME, &KEY).expect("valid fuzz key");
        DefaultCmm::new(Arc::new(keyring))
    })
}

/// Decryption settings of the `decrypt` target: the defaults, except that legacy
/// (non-committing) suites are accepted so that every suite's code path is reachable.
pub fn decrypt_config() -> DecryptConfig {
    DecryptConfig::default().with_commitment_policy(CommitmentPolicy::RequireEncryptAllowDecrypt)
}

/// Runs a future to completion. The raw AES keyring never waits, so this only polls.
pub fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::yield_now();
    }
}

/// A reader that returns at most `step` bytes per `read`, like a slow pipe.
#[derive(Debug)]
pub struct Trickle<'a> {
    data: &'a [u8],
    step: usize,
}

impl<'a> Trickle<'a> {
    /// Reads `data` at most `step` (at least 1) bytes at a time.
    pub fn new(data: &'a [u8], step: usize) -> Self {
        Self {
            data,
            step: step.max(1),
        }
    }
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.step).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

/// One-shot decryption (`coffer_core::decrypt`) under the fixed key.
pub fn decrypt_one_shot(message: &[u8]) -> coffer_core::Result<Vec<u8>> {
    block_on(coffer_core::decrypt(
        cmm(),
        &decrypt_config(),
        None,
        message,
    ))
    .map(|d| d.plaintext)
}

/// Streaming decryption under the fixed key: the input arrives `chunk` bytes at a time and
/// the plaintext is read `chunk` bytes at a time with [`Release::PerFrame`].
pub fn decrypt_streaming(message: &[u8], chunk: usize) -> coffer_core::Result<Vec<u8>> {
    let mut input = Trickle::new(message, chunk);
    let parsed = Decryptor::new(decrypt_config()).read_header(&mut input)?;
    let ready = block_on(parsed.obtain_materials(cmm(), None))?;
    let mut reader = ready.into_reader(input, Release::PerFrame);
    let mut out = Vec::new();
    let mut buf = vec![0u8; chunk.max(1)];
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    // `read` may return Ok(0) only once the whole message (signature included) verified.
    assert!(reader.is_verified(), "end of stream before verification");
    Ok(out)
}
