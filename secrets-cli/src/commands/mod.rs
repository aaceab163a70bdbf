//! The verbs. Each takes its resolved settings; `main.rs` runs them on an executor.

mod audit;
mod decrypt;
mod edit;
mod encrypt;
pub mod exec;
mod file_run;
mod import;
mod init;
mod inspect;
mod key;
mod open;
mod params;
mod policy;
mod pool;
mod pump;
mod rewrap;
mod role;
mod rotate;
mod stdout;

use std::io;

use crate::config::{CommandSettings, Settings};

pub use decrypt::run as decrypt;
pub use encrypt::run as encrypt;
pub use inspect::run as inspect;

/// Runs the command of `settings`.
pub async fn run(settings: &Settings) -> anyhow::Result<()> {
    match &settings.command {
        CommandSettings::Encrypt(s) => encrypt(settings, s).await,
        CommandSettings::Decrypt(s) => decrypt(settings, s).await,
        CommandSettings::Inspect(s) => inspect(settings, s),
        CommandSettings::Rewrap(s) => rewrap::run(settings, s).await,
        CommandSettings::Init(s) => init::run(settings, s).await,
        CommandSettings::Key(k) => key::run(settings, k).await,
        CommandSettings::Param(p) => params::run(settings, p).await,
        CommandSettings::Rotate(s) => rotate::run(settings, s).await,
        CommandSettings::Exec(s) => exec::exec(settings, s).await,
        CommandSettings::Export(s) => exec::export(settings, s).await,
        CommandSettings::Policy(p) => policy::run(settings, p).await,
        CommandSettings::Role(r) => role::run(settings, r).await,
        CommandSettings::Audit(a) => audit::run(settings, *a).await,
        CommandSettings::Completions(shell) => completions(*shell),
        CommandSettings::Man => man_page(),
    }
}

/// Writes a completion script for `shell`, generated from the clap definitions.
fn completions(shell: clap_complete::Shell) -> anyhow::Result<()> {
    use clap::CommandFactory as _;
    let mut cmd = crate::cli::Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, "coffer", &mut out);
    stdout::write_stdout(&out)
}

/// Writes the man pages (roff), generated from the clap definitions: coffer(1), then each
/// subcommand's page that it lists (coffer-encrypt(1), …, coffer-key-create(1), …), in one
/// stream that `man -l -` shows page after page.
fn man_page() -> anyhow::Result<()> {
    use clap::CommandFactory as _;
    fn render(cmd: clap::Command, out: &mut Vec<u8>) -> io::Result<()> {
        let subcommands: Vec<clap::Command> = cmd
            .get_subcommands()
            .filter(|s| !s.is_hide_set())
            .cloned()
            .collect();
        clap_mangen::Man::new(cmd).render(out)?;
        for sub in subcommands {
            render(sub, out)?;
        }
        Ok(())
    }
    let mut cmd = crate::cli::Cli::command().disable_help_subcommand(true);
    // Building gives each subcommand its page name (`coffer-encrypt`).
    cmd.build();
    let mut out = Vec::new();
    render(cmd, &mut out)?;
    stdout::write_stdout(&out)
}
