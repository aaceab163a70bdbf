//! `coffer policy set|ls|rm`, validated.

use coffer::keyref::KeyRef;
use coffer::params::ParamPath;

use crate::cli::PolicyCommand;
use crate::report::CliError;

/// `coffer policy …`.
#[derive(Debug)]
pub enum PolicySettings {
    /// `policy set PATH --key KEYREF`: the key as values record it.
    Set {
        /// The path.
        path: ParamPath,
        /// The key reference, as given (checked).
        key: String,
    },
    /// `policy ls`.
    Ls,
    /// `policy rm PATH`.
    Rm {
        /// The path.
        path: ParamPath,
    },
}

pub(super) fn policy_settings(cmd: PolicyCommand) -> anyhow::Result<PolicySettings> {
    Ok(match cmd {
        PolicyCommand::Set { path, key } => {
            let parsed: KeyRef = key
                .parse()
                .map_err(|e| anyhow::Error::new(e).context(format!("--key {key}")))?;
            if matches!(parsed, KeyRef::KmsDiscovery { .. }) {
                return Err(CliError::usage(format!(
                    "--key {key}: discovery only decrypts; a policy needs a key that encrypts"
                ))
                .hint("name the KMS key: --key kms:KEY-ID, kms:arn:… or kms:alias/NAME")
                .into());
            }
            PolicySettings::Set {
                path: ParamPath::parse(&path)?,
                key,
            }
        }
        PolicyCommand::Ls => PolicySettings::Ls,
        PolicyCommand::Rm { path } => PolicySettings::Rm {
            path: ParamPath::parse(&path)?,
        },
    })
}
