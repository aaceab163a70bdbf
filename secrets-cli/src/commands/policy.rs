//! `coffer policy set|ls|rm`: which key protects the secure values below a path
//! ([`coffer::params::policy`]).

use crate::cli::OutputFormat;
use crate::config::{PolicySettings, Settings};
use crate::output::PolicyWire;

/// Runs `coffer policy …` on the store `settings` names. Every verb needs the root key: the
/// policies are checked against their seal.
pub async fn run(settings: &Settings, cmd: &PolicySettings) -> anyhow::Result<()> {
    let json = settings.format == OutputFormat::Json;
    let params = super::open::open_params(settings, None, Vec::new()).await?;
    let say = |text: String| -> anyhow::Result<()> {
        if settings.quiet {
            Ok(())
        } else {
            super::stdout::write_stdout(text.as_bytes())
        }
    };
    match cmd {
        PolicySettings::Set { path, key } => {
            let author = coffer::params::os_user();
            let (policy, old) = params.set_policy(path, key, &author).await?;
            if json {
                return super::stdout::print_json(&PolicyWire::new(&policy));
            }
            let key = &policy.key;
            match old {
                Some(old) if &old.key == key => {
                    say(format!("{path} was already protected by key {key}\n"))
                }
                Some(old) => say(format!(
                    "{path} is now protected by key {key} (was {})\n",
                    old.key
                )),
                None => say(format!("{path} is now protected by key {key}\n")),
            }
        }
        PolicySettings::Ls => {
            let policies = params.policies().await?;
            let wires: Vec<PolicyWire> = policies.iter().map(PolicyWire::new).collect();
            if json {
                return wires.iter().try_for_each(super::stdout::print_json);
            }
            if wires.is_empty() {
                if !settings.quiet {
                    eprintln!("no path policies: secure values are under the key each put names");
                }
                return Ok(());
            }
            super::stdout::write_stdout(PolicyWire::table(&wires).as_bytes())
        }
        PolicySettings::Rm { path } => {
            let old = params.remove_policy(path).await?;
            if json {
                return super::stdout::print_json(&PolicyWire::new(&old));
            }
            say(format!(
                "removed the policy of {path} (key {}); its values stay under the keys they \
                 were written with\n",
                old.key
            ))
        }
    }
}
