//! `coffer-test-vectors`: runs ESDK decrypt test vectors against coffer-core
//! and writes coffer's own encrypt matrix as ESDK test vectors.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use coffer_test_vectors::generate::generate;
use coffer_test_vectors::run::{RunOptions, run_decrypt_dirs};

#[derive(Debug, Parser)]
#[command(name = "coffer-test-vectors", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Decrypt every test of ESDK decrypt-manifest directories
    /// (manifest.json / decrypt_message.json + keys.json).
    ///
    /// Prints `FAIL <dir>/<test>: <reason>` per failure and finally
    /// `N passed, N failed, N skipped`; exits 1 on any failure or manifest error.
    Decrypt {
        /// Also list passed and skipped tests.
        #[arg(short, long)]
        verbose: bool,
        /// Manifest directories (or manifest files).
        #[arg(required = true, value_name = "DIR")]
        dirs: Vec<PathBuf>,
    },
    /// Encrypt coffer's test matrix and write it as an ESDK decrypt manifest
    /// directory (manifest.json, keys.json, ciphertexts/, plaintexts/).
    Encrypt {
        /// Output directory (created if missing; existing files are overwritten).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Decrypt { verbose, dirs } => {
            let stdout = io::stdout();
            let mut out = stdout.lock();
            let report = match run_decrypt_dirs(&dirs, RunOptions { verbose }, &mut out) {
                Ok(report) => report,
                Err(e) => {
                    eprintln!("error: cannot write output: {e}");
                    return ExitCode::FAILURE;
                }
            };
            if writeln!(out, "{}", report.summary_line()).is_err() {
                return ExitCode::FAILURE;
            }
            if report.success() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Command::Encrypt { out } => match generate(&out) {
            Ok(generated) => {
                println!(
                    "wrote {} tests ({} positive, {} negative) to {}",
                    generated.positive + generated.negative,
                    generated.positive,
                    generated.negative,
                    out.display()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
    }
}
