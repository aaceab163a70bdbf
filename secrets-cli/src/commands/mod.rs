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

/// Writes the completion script for `shell` ([`crate::complete`]): subcommands and flags
/// from the clap definitions, parameter names from the store as the user types.
fn completions(shell: clap_complete::Shell) -> anyhow::Result<()> {
    // The binary itself, so that the script works whatever PATH the shell has.
    let exe = std::env::current_exe()
        .ok()
        .and_then(|p| p.to_str().map(str::to_owned))
        .unwrap_or_else(|| "coffer".to_owned());
    stdout::write_stdout(&crate::complete::registration(&shell.to_string(), &exe)?)
}

/// Answers the shell and exits, if it is asking for completions ([`crate::complete::VAR`]
/// set); else returns.
pub fn complete_now() {
    use clap::CommandFactory as _;
    crate::complete::set_lister(complete_names);
    clap_complete::CompleteEnv::with_factory(crate::cli::Cli::command)
        .var(crate::complete::VAR)
        .complete();
}

/// The names below what was typed, for the shell: from the store of the environment
/// (`COFFER_HOME`, `COFFER_STORE`), nothing asked on the terminal, nothing on failure.
fn complete_names(typed: &str) -> Vec<String> {
    use clap::Parser as _;
    crate::terminal::forbid_prompts();
    let Ok(cli) = crate::cli::Cli::try_parse_from(["coffer", "--quiet", "ls"]) else {
        return Vec::new();
    };
    let Ok(settings) = Settings::from_cli(cli) else {
        return Vec::new();
    };
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return Vec::new();
    };
    rt.block_on(names_below(&settings, typed))
        .unwrap_or_default()
}

/// The parameter names and the paths (with a trailing `/`) one level below the path that
/// `typed` ends in, that start with `typed` (for shell completion; never a value).
///
/// # Errors
/// The store cannot be opened or listed.
pub async fn names_below(settings: &Settings, typed: &str) -> anyhow::Result<Vec<String>> {
    let slashed = !typed.starts_with('/');
    let full = if slashed {
        format!("/{typed}")
    } else {
        typed.to_owned()
    };
    // The path of the level being typed: `/app/pr` is below `/app`.
    let parent = full.rfind('/').map_or("/", |i| &full[..i]);
    let path = coffer::params::ParamPath::parse(if parent.is_empty() { "/" } else { parent })?;
    let params = open::open_params(settings, None, Vec::new()).await?;
    let listing = params.store().await?.list(&path, false).await?;
    let mut out: Vec<String> = listing
        .subpaths
        .iter()
        .map(|p| format!("{}/", p.as_str()))
        .chain(listing.params.iter().map(|p| p.latest.name.to_string()))
        .filter(|n| n.starts_with(&full))
        .map(|n| if slashed { n[1..].to_owned() } else { n })
        .collect();
    out.sort();
    Ok(out)
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
