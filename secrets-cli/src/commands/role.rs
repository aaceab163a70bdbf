//! `coffer role create`: a PostgreSQL login limited to paths
//! (`coffer::backend::postgres`'s row security).

use crate::config::{RoleSettings, Settings, StoreLocation};
use crate::report::CliError;

/// The longest password file read.
#[cfg(feature = "postgres")]
const MAX_PASSWORD: usize = 1024;

/// Runs `coffer role create` on the store `settings` names, which must be PostgreSQL.
pub async fn run(settings: &Settings, cmd: &RoleSettings) -> anyhow::Result<()> {
    let StoreLocation::Postgres(url) = settings.store_location()? else {
        return Err(CliError::usage(
            "database roles are for PostgreSQL stores; an SQLite store is one file, which its \
             file permissions protect",
        )
        .hint("give the store with --store postgres://… or COFFER_STORE")
        .into());
    };
    create(settings, cmd, url.expose()).await
}

#[cfg(feature = "postgres")]
async fn create(settings: &Settings, cmd: &RoleSettings, url: &str) -> anyhow::Result<()> {
    let pg = coffer::backend::postgres::PgStore::connect(url).await?;
    coffer::backend::postgres::roles::validate_role(&cmd.name)?;
    if cmd.sql {
        let sql = pg.role_sql(&cmd.name, &cmd.paths).await?;
        return super::stdout::write_stdout(sql.as_bytes());
    }
    let password = match &cmd.password_file {
        Some(path) => {
            let mut bytes =
                coffer::smallfile::read(path, "password file", MAX_PASSWORD).map_err(|e| {
                    anyhow::Error::new(e).context(format!("--password-file {}", path.display()))
                })?;
            if bytes.last() == Some(&b'\n') {
                bytes.pop();
            }
            if bytes.is_empty() {
                return Err(CliError::usage(format!(
                    "--password-file {}: the file is empty",
                    path.display()
                ))
                .into());
            }
            Some(bytes)
        }
        None => None,
    };
    pg.create_role(&cmd.name, &cmd.paths, password.as_deref().map(|p| &p[..]))
        .await?;
    if !settings.quiet {
        let paths: Vec<&str> = cmd.paths.iter().map(|p| p.as_str()).collect();
        let mut text = format!(
            "created database login {} limited to {}\n",
            cmd.name,
            paths.join(", ")
        );
        if password.is_none() {
            text.push_str(&format!(
                "it has no password yet: set one as the server's administrator (\\password {} \
                 in psql)\n",
                cmd.name
            ));
        }
        super::stdout::write_stdout(text.as_bytes())?;
    }
    Ok(())
}

#[cfg(not(feature = "postgres"))]
async fn create(_settings: &Settings, _cmd: &RoleSettings, _url: &str) -> anyhow::Result<()> {
    Err(anyhow::Error::new(
        coffer::error::Error::unsupported("this build has no PostgreSQL support")
            .advice(coffer::error::Advice::BuildWithPostgres),
    ))
}
