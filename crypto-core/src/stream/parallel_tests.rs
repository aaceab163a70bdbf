//! Frames sealed and opened on worker threads must give exactly what the caller's thread
//! alone gives: the same bytes out, the same plaintext released before an error, the same
//! error.

use super::decrypt::{DecryptingReader, ReaderParts, Release};
use super::encrypt::EncryptingWriter;
use super::pool::Threads;
use crate::error::Error;
use crate::format::ContentType;
use crate::primitives::{GcmKey, MessageHasher, SigningKey, VerificationKey};
use crate::suite::SignatureAlgorithm;
use std::io::{Read, Write};
use std::num::NonZeroUsize;

const KEY: [u8; 32] = [9; 32];
const ID: [u8; 32] = [3; 32];
const MIB: usize = 1 << 20;

fn threads(n: usize) -> Threads {
    Threads::Fixed(NonZeroUsize::new(n).unwrap())
}

fn data(n: usize) -> Vec<u8> {
    (0..n)
        .map(|i| u8::try_from((i * 7 + i / 4099) % 251).unwrap())
        .collect()
}

/// The message body for `pt`, written in pieces of `step` bytes.
fn seal(pt: &[u8], frame: u32, step: usize, workers: usize) -> Vec<u8> {
    let gcm = GcmKey::new(&KEY).unwrap();
    let mut w = EncryptingWriter::new(
        Vec::new(),
        gcm,
        ID.to_vec(),
        frame,
        None,
        None,
        threads(workers),
    )
    .unwrap();
    for piece in pt.chunks(step.max(1)) {
        w.write_all(piece).unwrap();
    }
    // Past 4 MiB, with workers and frames of at most 2 MiB, it went parallel.
    let expect = workers > 1 && frame <= 2 << 20 && pt.len() > 4 * MIB;
    assert_eq!(w.is_parallel(), expect, "len {} frame {frame}", pt.len());
    w.finish().unwrap()
}

fn reader(body: &[u8], frame: u32, workers: usize) -> DecryptingReader<&[u8]> {
    let parts = ReaderParts {
        gcm: GcmKey::new(&KEY).unwrap(),
        message_id: ID.to_vec(),
        content_type: ContentType::Framed,
        frame_len: frame,
        max_non_framed: 0,
        hasher: None,
        verification: None,
        threads: threads(workers),
    };
    DecryptingReader::new(body, parts, Release::PerFrame)
}

/// Reads until the end or the first error: the plaintext released and the error.
fn drain(mut r: impl Read, buf_len: usize) -> (Vec<u8>, Option<Error>) {
    let mut out = Vec::new();
    let mut buf = vec![0u8; buf_len];
    loop {
        match r.read(&mut buf) {
            Ok(0) => return (out, None),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) => {
                let e = e
                    .into_inner()
                    .and_then(|e| e.downcast::<Error>().ok())
                    .map(|e| *e);
                return (out, Some(e.expect("a coffer error")));
            }
        }
    }
}

#[test]
fn parallel_sealing_writes_the_same_bytes() {
    // Around the switch to parallel (4 MiB), whole chunks (1 MiB) and frame boundaries.
    let lens = [4 * MIB - 1, 4 * MIB, 4 * MIB + 1, 8 * MIB, 9 * MIB + 4097];
    let big = data(lens[lens.len() - 1]);
    for frame in [4096u32, 65536, 1000, 3 << 20] {
        for &len in &lens {
            let pt = &big[..len];
            let one = seal(pt, frame, usize::MAX, 1);
            for (step, workers) in [(usize::MAX, 3), (7 << 10, 2), (MIB + 3, 4), (65536, 2)] {
                let many = seal(pt, frame, step, workers);
                assert!(
                    one == many,
                    "frame {frame} len {len} step {step} workers {workers}"
                );
            }
            let mut r = reader(&one, frame, 3);
            let mut first = vec![0u8; 5 * MIB + 1];
            // One read hands out as many frames as fit; the next one goes parallel.
            r.read_exact(&mut first[..5 * MIB]).ok();
            r.read_exact(&mut first[5 * MIB..]).ok();
            let expect = frame <= 2 << 20 && len > 6 * MIB;
            assert_eq!(r.is_parallel(), expect, "frame {frame} len {len}");
            let (mut out, err) = drain(r, 256 << 10);
            first.truncate(len.min(5 * MIB + 1));
            first.append(&mut out);
            let out = first;
            assert!(err.is_none(), "{err:?}");
            assert!(out == pt, "frame {frame} len {len}");
        }
    }
}

#[test]
fn parallel_sealing_keeps_the_signature_hash_in_order() {
    let pt = data(11 * MIB + 5);
    for workers in [1, 3] {
        let gcm = GcmKey::new(&KEY).unwrap();
        let alg = SignatureAlgorithm::EcdsaP384Sha384;
        let mut hasher = MessageHasher::new(alg);
        hasher.update(b"header");
        let signing = SigningKey::generate(alg).unwrap();
        let point = signing.public_key_compressed().unwrap();
        let mut w = EncryptingWriter::new(
            Vec::new(),
            gcm,
            ID.to_vec(),
            4096,
            Some(hasher),
            Some(signing),
            threads(workers),
        )
        .unwrap();
        for piece in pt.chunks(300_001) {
            w.write_all(piece).unwrap();
        }
        let body = w.finish().unwrap();
        for readers in [1, 2] {
            let mut hasher = MessageHasher::new(alg);
            hasher.update(b"header");
            let parts = ReaderParts {
                gcm: GcmKey::new(&KEY).unwrap(),
                message_id: ID.to_vec(),
                content_type: ContentType::Framed,
                frame_len: 4096,
                max_non_framed: 0,
                hasher: Some(hasher),
                verification: Some(VerificationKey::from_sec1(alg, &point).unwrap()),
                threads: threads(readers),
            };
            let r = DecryptingReader::new(&body[..], parts, Release::PerFrame);
            let (out, err) = drain(r, 1 << 20);
            assert!(err.is_none(), "{err:?}");
            assert!(out == pt);
        }
    }
}

/// Damage done to a sealed body at a record deep inside the parallel part.
fn damaged(body: &[u8], record: usize, frame: usize, how: &str) -> Vec<u8> {
    let size = 16 + frame + 16;
    let at = record * size;
    let mut b = body.to_vec();
    match how {
        "flip" => b[at + 16 + frame / 2] ^= 1,
        "tag" => b[at + size - 1] ^= 0x80,
        "seq" => b[at + 3] ^= 1,
        "iv" => b[at + 10] ^= 1,
        "swap" => {
            let next: Vec<u8> = b[at + size..at + 2 * size].to_vec();
            let this: Vec<u8> = b[at..at + size].to_vec();
            b[at..at + size].copy_from_slice(&next);
            b[at + size..at + 2 * size].copy_from_slice(&this);
        }
        "truncate" => b.truncate(at + size / 2),
        "cut-record" => b.truncate(at),
        "trailing" => b.push(0),
        _ => unreachable!(),
    }
    b
}

#[test]
fn a_bad_record_fails_the_same_way_in_parallel() {
    let frame = 4096usize;
    let pt = data(12 * MIB + 100);
    let body = seal(&pt, 4096, usize::MAX, 1);
    let records = pt.len() / frame;
    // Before the switch, at it, at a chunk boundary, inside chunks, the last regular one.
    for record in [10, 1024, 1100, 1279, 1280, 2000, 2047, records - 1] {
        for how in ["flip", "tag", "seq", "iv", "swap", "truncate", "cut-record"] {
            if how == "swap" && record == records - 1 {
                continue;
            }
            let bad = damaged(&body, record, frame, how);
            let (seq_out, seq_err) = drain(reader(&bad, 4096, 1), 100_000);
            for (workers, buf) in [(2, 100_000), (4, 1 << 20), (3, 4096)] {
                let (par_out, par_err) = drain(reader(&bad, 4096, workers), buf);
                let what = format!("record {record} {how} workers {workers}");
                assert_eq!(
                    seq_err.as_ref().map(ToString::to_string),
                    par_err.as_ref().map(ToString::to_string),
                    "{what}"
                );
                assert!(par_err.is_some(), "{what}");
                assert_eq!(par_out.len(), seq_out.len(), "{what}");
                // Only verified frames before the damaged record come out.
                assert!(par_out.len() <= record * frame, "{what}");
                assert!(par_out[..] == pt[..par_out.len()], "{what}");
            }
        }
    }
    let bad = damaged(&body, 0, frame, "trailing");
    let (_, err) = drain(reader(&bad, 4096, 2), 1 << 20);
    assert!(matches!(err, Some(Error::TrailingData)), "{err:?}");
}

/// Like [`drain`], through `BufRead` (the plaintext is taken from the reader's buffers).
fn drain_buffered(mut r: impl std::io::BufRead, take: usize) -> (Vec<u8>, Option<Error>) {
    let mut out = Vec::new();
    loop {
        match r.fill_buf() {
            Ok([]) => return (out, None),
            Ok(b) => {
                let n = b.len().min(take);
                out.extend_from_slice(&b[..n]);
                r.consume(n);
            }
            Err(e) => {
                let e = e
                    .into_inner()
                    .and_then(|e| e.downcast::<Error>().ok())
                    .map(|e| *e);
                return (out, Some(e.expect("a coffer error")));
            }
        }
    }
}

#[test]
fn buffered_reads_release_the_same_plaintext_and_errors() {
    let frame = 4096usize;
    for len in [0, 1, 4096, 10_000, 9 * MIB + 3] {
        let pt = data(len);
        let body = seal(&pt, 4096, usize::MAX, 1);
        for (workers, take) in [(1, usize::MAX), (3, 1000), (2, usize::MAX)] {
            let (out, err) = drain_buffered(reader(&body, 4096, workers), take);
            assert!(err.is_none(), "len {len}: {err:?}");
            assert!(out == pt, "len {len} workers {workers}");
        }
        if len < 2 * frame {
            continue;
        }
        let records = len / frame;
        for record in [1, records / 2, records - 1] {
            for how in ["flip", "seq", "truncate"] {
                let bad = damaged(&body, record, frame, how);
                let (seq_out, seq_err) = drain(reader(&bad, 4096, 1), 100_000);
                for workers in [1, 3] {
                    let (out, err) = drain_buffered(reader(&bad, 4096, workers), 70_000);
                    let what = format!("len {len} record {record} {how} workers {workers}");
                    assert_eq!(
                        err.as_ref().map(ToString::to_string),
                        seq_err.as_ref().map(ToString::to_string),
                        "{what}"
                    );
                    assert_eq!(out.len(), seq_out.len(), "{what}");
                    assert!(out[..] == pt[..out.len()], "{what}");
                }
            }
        }
    }
}
