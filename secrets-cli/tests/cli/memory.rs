//! README's promise that memory stays at a few frames whatever the size: 256 MiB through
//! `encrypt | decrypt`, on pipes, with the peak memory of both processes watched.

use super::*;

use std::io::{Read as _, Write as _};
use std::process::Stdio;

/// The peak resident memory (`VmHWM`) of process `pid`, in KiB, if it still runs.
fn peak_kib(pid: u32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn round_trip(suite: &str) -> (u64, u64) {
    const SIZE: usize = 256 << 20;
    let env = Env::new();
    let coffer = || {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_coffer"));
        c.current_dir(env.dir.path())
            .env_remove("RUST_LOG")
            .env("COFFER_HOME", env.path("no-coffer-home"))
            .stderr(Stdio::null());
        c
    };
    let mut enc = coffer()
        .args([
            "encrypt",
            "--key",
            "aes:k32.bin",
            "--suite",
            suite,
            "-o",
            "-",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut dec = coffer()
        .args(["decrypt", "--key", "aes:k32.bin", "-i", "-", "-o", "-"])
        .stdin(Stdio::from(enc.stdout.take().unwrap()))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = enc.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || {
        let chunk = pattern(1 << 20, 9);
        for _ in 0..SIZE >> 20 {
            input.write_all(&chunk).unwrap();
        }
    });
    let mut output = dec.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut buf = vec![0u8; 1 << 16];
        let mut n = 0usize;
        loop {
            match output.read(&mut buf).unwrap() {
                0 => return n,
                k => n += k,
            }
        }
    });
    let (enc_pid, dec_pid) = (enc.id(), dec.id());
    let (mut enc_peak, mut dec_peak) = (0, 0);
    while !reader.is_finished() {
        enc_peak = enc_peak.max(peak_kib(enc_pid).unwrap_or(0));
        dec_peak = dec_peak.max(peak_kib(dec_pid).unwrap_or(0));
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    feeder.join().unwrap();
    assert_eq!(reader.join().unwrap(), SIZE);
    assert!(enc.wait().unwrap().success());
    assert!(dec.wait().unwrap().success());
    (enc_peak, dec_peak)
}

#[test]
fn memory_stays_at_a_few_frames_whatever_the_size() {
    // The whole message is 256 MiB; a few frames (and the worker pool's window) are a few
    // MiB, and the binary and its libraries some more.
    for suite in ["0478", "0578"] {
        let (enc, dec) = round_trip(suite);
        assert!(enc > 0 && dec > 0, "no samples");
        for (what, kib) in [("encrypt", enc), ("decrypt", dec)] {
            assert!(
                kib < 96 * 1024,
                "suite {suite}: {what} peaked at {} MiB for a 256 MiB message",
                kib / 1024
            );
        }
    }
}
