//! The decrypt runner: runs every test of ESDK decrypt manifests with
//! coffer-core's streaming decryptor.

use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use coffer_core::cmm::{DefaultCmm, MaterialsManager, RequiredContextCmm};
use coffer_core::{CommitmentPolicy, DecryptConfig, Decryptor, EncryptionContext, Release};
use futures::executor::block_on;

use crate::keys::{KeyringPlan, keyring_for_test};
use crate::manifest::{CmmKind, DecryptManifest, DecryptTest, Expected, load_decrypt_manifest};

/// Counts over one or more manifests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Report {
    /// Tests that behaved as the manifest says.
    pub passed: usize,
    /// Tests that did not (or whose test case is broken).
    pub failed: usize,
    /// Tests that cannot run here (AWS KMS, unsupported key types).
    pub skipped: usize,
    /// Manifests that could not be loaded at all.
    pub manifest_errors: usize,
}

impl Report {
    /// True when nothing failed and every manifest loaded.
    pub fn success(&self) -> bool {
        self.failed == 0 && self.manifest_errors == 0
    }

    /// The closing line: `N passed, N failed, N skipped`.
    pub fn summary_line(&self) -> String {
        format!(
            "{} passed, {} failed, {} skipped",
            self.passed, self.failed, self.skipped
        )
    }

    fn add(&mut self, other: &Self) {
        self.passed += other.passed;
        self.failed += other.failed;
        self.skipped += other.skipped;
        self.manifest_errors += other.manifest_errors;
    }
}

/// Outcome of one test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// As expected.
    Pass,
    /// Not as expected; the text says what happened.
    Fail(String),
    /// Not run; the text says why.
    Skip(String),
}

/// Options of the decrypt runner.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunOptions {
    /// Also print a line per passed and skipped test.
    pub verbose: bool,
}

/// Runs the decrypt manifests of `dirs`, writing one line per failure (and,
/// when verbose, per pass/skip) to `out`. The caller prints the summary line.
pub fn run_decrypt_dirs(
    dirs: &[PathBuf],
    options: RunOptions,
    out: &mut dyn Write,
) -> io::Result<Report> {
    let mut total = Report::default();
    for dir in dirs {
        let label = label_of(dir);
        match load_decrypt_manifest(dir) {
            Ok(manifest) => {
                let report = run_manifest(&manifest, &label, options, out)?;
                total.add(&report);
            }
            Err(e) => {
                writeln!(out, "ERROR {e}")?;
                total.manifest_errors += 1;
            }
        }
    }
    Ok(total)
}

/// Runs every test of one loaded manifest; lines are labelled `label/test`.
pub fn run_manifest(
    manifest: &DecryptManifest,
    label: &str,
    options: RunOptions,
    out: &mut dyn Write,
) -> io::Result<Report> {
    let mut report = Report::default();
    for test in &manifest.tests {
        match run_test(manifest, test) {
            Outcome::Pass => {
                report.passed += 1;
                if options.verbose {
                    writeln!(out, "PASS {label}/{}", test.id)?;
                }
            }
            Outcome::Fail(reason) => {
                report.failed += 1;
                writeln!(out, "FAIL {label}/{}: {reason}", test.id)?;
            }
            Outcome::Skip(reason) => {
                report.skipped += 1;
                if options.verbose {
                    writeln!(out, "SKIP {label}/{}: {reason}", test.id)?;
                }
            }
        }
    }
    Ok(report)
}

fn label_of(dir: &Path) -> String {
    let text = dir.display().to_string();
    let trimmed = text.trim_end_matches('/');
    if trimmed.is_empty() {
        text
    } else {
        trimmed.to_owned()
    }
}

/// Runs one test.
pub fn run_test(manifest: &DecryptManifest, test: &DecryptTest) -> Outcome {
    let keyring = match keyring_for_test(&test.master_keys, &manifest.keys) {
        Ok(KeyringPlan::Ready(keyring)) => keyring,
        Ok(KeyringPlan::Skip(reason)) => return Outcome::Skip(reason),
        Err(e) => return Outcome::Fail(format!("bad test: {e}")),
    };
    let default_cmm: Arc<dyn MaterialsManager> = Arc::new(DefaultCmm::new(keyring));
    let reproduced: Option<EncryptionContext> = test
        .encryption_context
        .as_ref()
        .map(|ec| ec.iter().map(|(k, v)| (k.clone(), v.clone())).collect());
    let cmm: Arc<dyn MaterialsManager> = match test.cmm {
        CmmKind::Default => default_cmm,
        CmmKind::RequiredEncryptionContext => {
            let required: Vec<String> = test
                .encryption_context
                .as_ref()
                .map(|ec| ec.keys().cloned().collect())
                .unwrap_or_default();
            match RequiredContextCmm::new(default_cmm, required) {
                Ok(cmm) => Arc::new(cmm),
                Err(e) => return Outcome::Fail(format!("cannot build required-context CMM: {e}")),
            }
        }
    };
    if let Err(e) = fs::metadata(&test.ciphertext) {
        return Outcome::Fail(format!(
            "cannot read ciphertext {}: {e}",
            test.ciphertext.display()
        ));
    }
    let attempt = |release: Release| {
        decrypt_stream(
            &test.ciphertext,
            cmm.as_ref(),
            reproduced.as_ref(),
            test.unsigned_only,
            release,
        )
    };

    match &test.expected {
        Expected::Plaintext(path) => {
            let expected = match fs::read(path) {
                Ok(bytes) => bytes,
                Err(e) => {
                    return Outcome::Fail(format!("cannot read plaintext {}: {e}", path.display()));
                }
            };
            // Streaming unsigned-only decryption releases each frame once it
            // is authenticated; otherwise hold everything back until the
            // whole message (incl. any signature) is verified.
            let release = if test.unsigned_only {
                Release::PerFrame
            } else {
                Release::AfterSignature
            };
            let attempt = attempt(release);
            match attempt.error {
                Some(e) => Outcome::Fail(format!(
                    "decrypt failed after {} bytes: {e}",
                    attempt.plaintext.len()
                )),
                None if attempt.plaintext == expected => Outcome::Pass,
                None => Outcome::Fail(describe_mismatch(&attempt.plaintext, &expected)),
            }
        }
        Expected::Error(description) => {
            // A negative test must fail in both release modes.
            for release in [Release::AfterSignature, Release::PerFrame] {
                let attempt = attempt(release);
                if attempt.error.is_none() {
                    return Outcome::Fail(format!(
                        "decrypted {} bytes ({release:?}) but must fail: {description}",
                        attempt.plaintext.len()
                    ));
                }
            }
            Outcome::Pass
        }
    }
}

/// What one streaming decryption gave.
#[derive(Debug)]
struct Attempt {
    /// Plaintext released before the end or the error.
    plaintext: Vec<u8>,
    /// The error, if decryption failed.
    error: Option<String>,
}

fn decrypt_stream(
    ciphertext: &Path,
    cmm: &dyn MaterialsManager,
    reproduced: Option<&EncryptionContext>,
    unsigned_only: bool,
    release: Release,
) -> Attempt {
    let mut plaintext = Vec::new();
    let error = (|| -> Result<(), String> {
        let config = DecryptConfig::default()
            .with_commitment_policy(CommitmentPolicy::RequireEncryptAllowDecrypt)
            .with_unsigned_only(unsigned_only);
        let file = File::open(ciphertext)
            .map_err(|e| format!("cannot open {}: {e}", ciphertext.display()))?;
        let mut reader = BufReader::new(file);
        let header = Decryptor::new(config)
            .read_header(&mut reader)
            .map_err(|e| format!("header: {e}"))?;
        let ready = block_on(header.obtain_materials(cmm, reproduced))
            .map_err(|e| format!("materials: {e}"))?;
        let mut body = ready.into_reader(reader, release);
        body.read_to_end(&mut plaintext)
            .map_err(|e| format!("body: {e}"))?;
        Ok(())
    })()
    .err();
    Attempt { plaintext, error }
}

fn describe_mismatch(got: &[u8], expected: &[u8]) -> String {
    let mut text = format!(
        "plaintext mismatch: got {} bytes, expected {}",
        got.len(),
        expected.len()
    );
    if let Some(i) = got.iter().zip(expected).position(|(a, b)| a != b) {
        let _ = write!(text, ", first difference at byte {i}");
    }
    text
}
