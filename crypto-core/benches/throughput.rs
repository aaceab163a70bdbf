//! Encrypt and decrypt throughput, in memory, per algorithm suite.
//!
//! Every message is a whole one: materials from a raw AES-256 keyring through the default
//! CMM, header, framed body, footer (and for signing suites the ECDSA key generation,
//! signature and verification). The plaintext is read from a slice and the ciphertext is
//! written to a `Vec` that is reused between iterations (so the figures are the byte path,
//! not page faults of a fresh 64 MiB allocation).
//!
//! Groups and ids (filter with `cargo bench -p coffer-core --bench throughput -- REGEX`):
//!
//! * `encrypt-1MiB/SUITE/FRAME`, `decrypt-1MiB/SUITE/FRAME`: all 11 suites, frames 4096
//!   and 65536.
//! * `encrypt-64MiB/SUITE/FRAME`, `decrypt-64MiB/SUITE/FRAME`: suites 0014, 0178, 0378,
//!   0478 and 0578, frames 4096 and 65536.
//! * `backend-64MiB/aes256gcm-seal/CHUNK`, `backend-64MiB/aes256gcm-open/CHUNK`: the
//!   backend's AES-256-GCM alone (aws-lc-rs, in place, chunks of 16 KiB and 64 KiB): the
//!   ceiling for coffer's byte path on this machine. `backend-64MiB/sha384`: the backend's
//!   SHA-384, which signed suites run over the whole message (their ceiling).
//!
//! `scripts/bench-core.sh` runs the 0478 figures next to `openssl speed` on one core.

use aws_lc_rs::aead;
use coffer_core::cmm::{DefaultCmm, MaterialsManager};
use coffer_core::keyring::RawAesKeyring;
use coffer_core::{
    AlgorithmSuite, CommitmentPolicy, DecryptConfig, Decryptor, EncryptConfig, EncryptionContext,
    Encryptor, Release, Threads,
};
use criterion::{BenchmarkGroup, Criterion, SamplingMode, Throughput, measurement::WallTime};
use std::hint::black_box;
use std::io::{Read, Write};
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

const MIB: usize = 1 << 20;
const FRAMES: [u32; 2] = [4096, 65536];
/// Suites measured at every size; the others only at 1 MiB.
const EVERY_SIZE: [u16; 5] = [0x0014, 0x0178, 0x0378, 0x0478, 0x0578];

fn policy_for(s: AlgorithmSuite) -> CommitmentPolicy {
    if s.is_committing() {
        CommitmentPolicy::RequireEncryptRequireDecrypt
    } else {
        CommitmentPolicy::ForbidEncryptAllowDecrypt
    }
}

/// Deterministic incompressible-looking bytes (xorshift64*); AES-GCM does not care.
fn plaintext(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        v.extend_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    v.truncate(len);
    v
}

fn context() -> EncryptionContext {
    let mut ctx = EncryptionContext::new();
    ctx.insert("purpose", "benchmark");
    ctx
}

struct Fixture {
    cmm: Arc<dyn MaterialsManager>,
    ctx: EncryptionContext,
}

impl Fixture {
    fn new() -> Self {
        let keyring =
            Arc::new(RawAesKeyring::new("bench", "aes-256", &[0x42; 32]).expect("AES keyring"));
        Self {
            cmm: Arc::new(DefaultCmm::new(keyring)),
            ctx: context(),
        }
    }

    fn encrypt_config(suite: AlgorithmSuite, frame: u32) -> EncryptConfig {
        EncryptConfig::default()
            .with_suite(Some(suite))
            .with_commitment_policy(policy_for(suite))
            .with_frame_length(frame)
            .expect("frame length")
    }

    /// One whole message into `sink` (cleared first, capacity kept).
    fn encrypt_into(&self, cfg: &EncryptConfig, pt: &[u8], sink: &mut Vec<u8>) {
        sink.clear();
        let len = u64::try_from(pt.len()).expect("length");
        let prepared = futures::executor::block_on(
            Encryptor::new(self.cmm.clone(), cfg.clone()).prepare(&self.ctx, Some(len)),
        )
        .expect("prepare");
        let mut w = prepared.wrap_output(&mut *sink).expect("header");
        w.write_all(pt).expect("body");
        w.finish().expect("finish");
    }

    /// One whole message from `msg` into `out`, which is room that is kept (and grown)
    /// between calls; returns the plaintext length.
    fn decrypt_into(&self, cfg: &DecryptConfig, msg: &[u8], out: &mut Vec<u8>) -> usize {
        let mut input = msg;
        let parsed = Decryptor::new(cfg.clone())
            .read_header(&mut input)
            .expect("header");
        let ready = futures::executor::block_on(parsed.obtain_materials(self.cmm.as_ref(), None))
            .expect("materials");
        let mut r = ready.into_reader(input, Release::PerFrame);
        // Read into initialized room, growing it as needed, so that iterations do not pay
        // `read_to_end`'s zeroing of the spare capacity.
        let mut filled = 0;
        loop {
            if filled == out.len() {
                out.resize((2 * out.len()).max(1 << 16), 0);
            }
            match r.read(&mut out[filled..]).expect("body") {
                0 => break,
                n => filled += n,
            }
        }
        assert!(r.is_verified());
        filled
    }
}

fn configure(g: &mut BenchmarkGroup<'_, WallTime>, size: usize) {
    g.sample_size(10);
    if size >= 16 * MIB {
        // One iteration takes tens of milliseconds: a flat number per sample, no ramp.
        g.sampling_mode(SamplingMode::Flat);
        g.warm_up_time(Duration::from_millis(300));
        g.measurement_time(Duration::from_millis(1500));
    } else {
        g.warm_up_time(Duration::from_millis(300));
        g.measurement_time(Duration::from_millis(800));
    }
    g.throughput(Throughput::Bytes(u64::try_from(size).expect("size")));
}

fn size_name(size: usize) -> String {
    format!("{}MiB", size / MIB)
}

fn suites_for(size: usize) -> impl Iterator<Item = AlgorithmSuite> {
    AlgorithmSuite::ALL
        .into_iter()
        .filter(move |s| size == MIB || EVERY_SIZE.contains(&s.id()))
}

/// Large messages are measured on the caller's thread alone and on every core; messages
/// under 4 MiB never leave the caller's thread.
fn thread_settings(size: usize) -> Vec<(Threads, &'static str)> {
    if size < 16 * MIB {
        return vec![(Threads::Auto, "")];
    }
    vec![
        (Threads::Fixed(NonZeroUsize::MIN), "/1-thread"),
        (Threads::Auto, "/all-cores"),
    ]
}

fn encrypt_benches(c: &mut Criterion) {
    let fx = Fixture::new();
    for size in [MIB, 64 * MIB] {
        let pt = plaintext(size);
        let mut sink = Vec::with_capacity(size + size / 4096 * 32 + 4096);
        let mut g = c.benchmark_group(format!("encrypt-{}", size_name(size)));
        configure(&mut g, size);
        for suite in suites_for(size) {
            for frame in FRAMES {
                for (threads, tag) in thread_settings(size) {
                    let cfg = Fixture::encrypt_config(suite, frame).with_threads(threads);
                    g.bench_function(format!("{:04x}/{frame}{tag}", suite.id()), |b| {
                        b.iter(|| {
                            fx.encrypt_into(&cfg, black_box(&pt), &mut sink);
                            black_box(sink.len())
                        });
                    });
                }
            }
        }
        g.finish();
    }
}

fn decrypt_benches(c: &mut Criterion) {
    let fx = Fixture::new();
    let dcfg = DecryptConfig::default()
        .with_commitment_policy(CommitmentPolicy::RequireEncryptAllowDecrypt);
    for size in [MIB, 64 * MIB] {
        let pt = plaintext(size);
        let mut msg = Vec::with_capacity(size + size / 4096 * 32 + 4096);
        let mut out = vec![0u8; size];
        let mut g = c.benchmark_group(format!("decrypt-{}", size_name(size)));
        configure(&mut g, size);
        for suite in suites_for(size) {
            for frame in FRAMES {
                // The message is made when the benchmark runs (not when it is filtered out).
                let mut made = false;
                for (threads, tag) in thread_settings(size) {
                    let dcfg = dcfg.clone().with_threads(threads);
                    g.bench_function(format!("{:04x}/{frame}{tag}", suite.id()), |b| {
                        if !made {
                            let ecfg = Fixture::encrypt_config(suite, frame);
                            fx.encrypt_into(&ecfg, &pt, &mut msg);
                            let n = fx.decrypt_into(&dcfg, &msg, &mut out);
                            assert!(out[..n] == pt[..], "round trip {suite} frame {frame}");
                            made = true;
                        }
                        b.iter(|| black_box(fx.decrypt_into(&dcfg, black_box(&msg), &mut out)));
                    });
                }
            }
        }
        g.finish();
    }
}

/// AES-256-GCM of the backend alone, in place, chunk by chunk: coffer's ceiling.
fn backend_benches(c: &mut Criterion) {
    let size = 64 * MIB;
    let key = aead::LessSafeKey::new(
        aead::UnboundKey::new(&aead::AES_256_GCM, &[0x42; 32]).expect("AES key"),
    );
    let mut buf = plaintext(size);
    let mut g = c.benchmark_group(format!("backend-{}", size_name(size)));
    configure(&mut g, size);
    for chunk in [16 * 1024, 64 * 1024] {
        g.bench_function(format!("aes256gcm-seal/{chunk}"), |b| {
            b.iter(|| {
                for (i, part) in buf.chunks_mut(chunk).enumerate() {
                    let mut iv = [0u8; 12];
                    iv[4..].copy_from_slice(&(i as u64).to_be_bytes());
                    let nonce = aead::Nonce::assume_unique_for_key(iv);
                    let tag = key
                        .seal_in_place_separate_tag(nonce, aead::Aad::from(&[0u8; 80]), part)
                        .expect("seal");
                    black_box(tag.as_ref()[0]);
                }
            });
        });
    }
    // Open needs each chunk's tag next to it: seal once into a chunk ‖ tag layout.
    for chunk in [16 * 1024, 64 * 1024] {
        let sealed: Vec<Vec<u8>> = buf
            .chunks(chunk)
            .enumerate()
            .map(|(i, part)| {
                let mut iv = [0u8; 12];
                iv[4..].copy_from_slice(&(i as u64).to_be_bytes());
                let mut rec = part.to_vec();
                key.seal_in_place_append_tag(
                    aead::Nonce::assume_unique_for_key(iv),
                    aead::Aad::from(&[0u8; 80]),
                    &mut rec,
                )
                .expect("seal");
                rec
            })
            .collect();
        g.bench_function(format!("aes256gcm-open/{chunk}"), |b| {
            // Opening in place overwrites the ciphertext, so each iteration opens a fresh
            // copy; the copy is measured too, which is what a reader that decrypts into a
            // buffer it read into also pays (a read is a copy).
            let mut work = vec![0u8; chunk + 16];
            b.iter(|| {
                for (i, rec) in sealed.iter().enumerate() {
                    let w = &mut work[..rec.len()];
                    w.copy_from_slice(rec);
                    let mut iv = [0u8; 12];
                    iv[4..].copy_from_slice(&(i as u64).to_be_bytes());
                    let pt = key
                        .open_in_place(
                            aead::Nonce::assume_unique_for_key(iv),
                            aead::Aad::from(&[0u8; 80]),
                            w,
                        )
                        .expect("open");
                    black_box(pt.len());
                }
            });
        });
    }
    // Signed suites hash the whole message with SHA-384 (0x0214: SHA-256): their ceiling.
    g.bench_function("sha384", |b| {
        b.iter(|| black_box(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA384, &buf)));
    });
    g.finish();
}

criterion::criterion_group!(benches, encrypt_benches, decrypt_benches, backend_benches);
criterion::criterion_main!(benches);
