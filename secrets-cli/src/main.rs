//! The `coffer` binary: parse, resolve, run, report.

use std::process::ExitCode;

use clap::Parser as _;
use coffer::rotate::hook::SUPERVISOR_ARG;
use coffer_cli::cli::{Cli, OutputFormat};
use coffer_cli::config::Settings;
use coffer_cli::report;

fn main() -> ExitCode {
    // Before anything holds a secret: no core dumps of this process (see `dumps`).
    let dumps = coffer::dumps::disable();
    let mut args = std::env::args_os();
    if args.nth(1).as_deref() == Some(std::ffi::OsStr::new(SUPERVISOR_ARG)) {
        return match (args.next(), args.next()) {
            (Some(command), None) => coffer::rotate::hook::supervise(&command),
            _ => ExitCode::from(2),
        };
    }
    // The shell asking for completions (COFFER_COMPLETE set): answered, and exits.
    coffer_cli::commands::complete_now();
    let cli = Cli::parse(); // usage errors: clap prints them and exits 2
    coffer_cli::logging::init(cli.verbose, cli.quiet);
    if let Err(e) = dumps {
        tracing::warn!("cannot turn core dumps off (a crash could write secrets to disk): {e}");
    }
    let format = cli.output;
    let settings = match Settings::from_cli(cli) {
        Ok(s) => s,
        Err(e) => return fail(&e, format, false),
    };
    if settings.writes_files() {
        // Temporary output files are removed on SIGINT/SIGTERM/SIGHUP.
        if let Err(e) = coffer_cli::interrupt::install() {
            tracing::warn!("cannot handle interruptions (temporary files may be left): {e}");
        }
    }
    // One thread: the async parts (materials, a PostgreSQL store) wait on the network, and
    // the bytes are handled on threads of their own.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let e = anyhow::Error::new(e).context("cannot start the async runtime");
            return fail(&e, format, false);
        }
    };
    match runtime.block_on(coffer_cli::commands::run(&settings)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e, format, settings.stdout_is_data()),
    }
}

fn fail(err: &anyhow::Error, format: OutputFormat, stdout_is_data: bool) -> ExitCode {
    let r = report::emit(err, format == OutputFormat::Json, stdout_is_data);
    ExitCode::from(r.exit_code)
}
