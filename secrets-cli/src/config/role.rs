//! `coffer role create`, validated.

use std::path::PathBuf;

use coffer::params::ParamPath;

use crate::cli::RoleCommand;

/// `coffer role create NAME --path PATH… [--password-file FILE | --sql]`.
#[derive(Debug)]
pub struct RoleSettings {
    /// The login's name (checked by the store).
    pub name: String,
    /// Its paths.
    pub paths: Vec<ParamPath>,
    /// Where its password is.
    pub password_file: Option<PathBuf>,
    /// Print the SQL instead.
    pub sql: bool,
}

pub(super) fn role_settings(cmd: RoleCommand) -> anyhow::Result<RoleSettings> {
    let RoleCommand::Create {
        name,
        paths,
        password_file,
        sql,
    } = cmd;
    Ok(RoleSettings {
        name,
        paths: paths
            .iter()
            .map(|p| ParamPath::parse(p))
            .collect::<Result<_, _>>()?,
        password_file,
        sql,
    })
}
