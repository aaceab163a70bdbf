//! End-to-end test-vector runs:
//! (a) every ESDK vector directory under `<workspace>/../shared/esdk/vectors`, when
//!     that directory exists (it is not part of the repository);
//! (b) coffer's own encrypt matrix, written to a temporary directory and
//!     decrypted back with the runner.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use coffer_test_vectors::generate::generate;
use coffer_test_vectors::run::{Report, RunOptions, run_decrypt_dirs};

fn run(dirs: &[PathBuf]) -> (Report, String) {
    let mut out = Vec::new();
    let report = run_decrypt_dirs(dirs, RunOptions::default(), &mut out).unwrap();
    (report, String::from_utf8(out).unwrap())
}

#[test]
fn shared_esdk_vectors_decrypt() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/esdk/vectors");
    let Ok(entries) = fs::read_dir(&root) else {
        eprintln!(
            "{} not found: skipping the shared ESDK vectors",
            root.display()
        );
        return;
    };
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("manifest.json").is_file() || p.join("decrypt_message.json").is_file())
        .collect();
    dirs.sort();
    assert!(
        !dirs.is_empty(),
        "no vector directories in {}",
        root.display()
    );
    let started = Instant::now();
    let (report, output) = run(&dirs);
    eprintln!(
        "shared vectors {dirs:?}: {} in {:.1?}",
        report.summary_line(),
        started.elapsed()
    );
    assert!(
        report.success(),
        "{output}{}\n{} manifest error(s)",
        report.summary_line(),
        report.manifest_errors
    );
    assert!(report.passed > 0, "no test ran");
}

#[test]
fn own_matrix_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let generated = generate(dir.path()).unwrap();
    assert!(generated.positive > 200, "{generated:?}");
    assert!(generated.negative > 0, "{generated:?}");
    for name in ["manifest.json", "keys.json", "ciphertexts", "plaintexts"] {
        assert!(dir.path().join(name).exists(), "{name} missing");
    }
    let (report, output) = run(&[dir.path().to_path_buf()]);
    eprintln!(
        "own matrix: {} in {:.1?}",
        report.summary_line(),
        started.elapsed()
    );
    assert!(report.success(), "{output}{}", report.summary_line());
    assert_eq!(report.passed, generated.positive + generated.negative);
    assert_eq!(report.skipped, 0);
}

#[test]
fn bad_directory_is_a_manifest_error() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("manifest.json"), "{").unwrap();
    let (report, output) = run(&[dir.path().to_path_buf(), dir.path().join("missing")]);
    assert_eq!(report.manifest_errors, 2, "{output}");
    assert!(!report.success());
    assert!(output.contains("ERROR "), "{output}");
    assert!(output.contains("invalid manifest"), "{output}");
}
