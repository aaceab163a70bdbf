//! `coffer audit ls|verify`: the store's hash-chained audit log ([`coffer::store::audit`]).

use crate::cli::{AuditCommand, OutputFormat};
use crate::config::Settings;
use crate::output::{AuditEntryWire, AuditVerifiedWire, SCHEMA};
use crate::report::CliError;
use coffer::store::Store;
use coffer::store::StoreLocation;
use coffer::store::audit::Verified;

/// Runs `coffer audit …` on the store `settings` names (`--store`, `COFFER_STORE`, else
/// `COFFER_HOME/coffer.db`).
pub async fn run(settings: &Settings, cmd: AuditCommand) -> anyhow::Result<()> {
    let json = settings.format == OutputFormat::Json;
    let home = settings.home()?;
    let location = settings.store_location()?;
    let (list, verified, at) = match &location {
        #[cfg(feature = "postgres")]
        StoreLocation::Postgres(url) => {
            let pg = coffer::store::PgStore::connect(url.expose()).await?;
            let at = pg.location().to_owned();
            match cmd {
                AuditCommand::Ls => (Some(pg.audit_entries().await?), None, at),
                AuditCommand::Verify => (None, Some(pg.verify_audit().await?), at),
            }
        }
        #[cfg(not(feature = "postgres"))]
        StoreLocation::Postgres(_) => {
            return Err(CliError::usage("this build has no PostgreSQL support").into());
        }
        StoreLocation::Sqlite(path) => {
            let store = if *path == home.store_path() {
                Store::open(&home)?
            } else {
                Store::open_file(path.clone())?
            };
            let at = store.path().display().to_string();
            match cmd {
                AuditCommand::Ls => (Some(store.audit_entries()?), None, at),
                AuditCommand::Verify => (None, Some(store.verify_audit()?), at),
            }
        }
    };
    match (list, verified) {
        (Some(list), _) => {
            let entries: Vec<AuditEntryWire> = list.iter().map(AuditEntryWire::new).collect();
            if json {
                entries.iter().try_for_each(super::stdout::print_json)
            } else if entries.is_empty() {
                if !settings.quiet {
                    eprintln!("the audit log is empty");
                }
                Ok(())
            } else {
                super::stdout::write_stdout(AuditEntryWire::table(&entries).as_bytes())
            }
        }
        (None, verified) => match verified.unwrap_or(Verified::Ok(0)) {
            Verified::Ok(n) => {
                if json {
                    super::stdout::print_json(&AuditVerifiedWire {
                        kind: "audit_verified",
                        schema: SCHEMA,
                        ok: true,
                        entries: n,
                    })
                } else if settings.quiet {
                    Ok(())
                } else {
                    super::stdout::write_stdout(format!("audit log OK: {n} entries\n").as_bytes())
                }
            }
            Verified::Bad { seq, why } => Err(CliError::failure(format!(
                "audit log of {at} fails verification at seq {seq}: {why}"
            ))
            .hint("the log was changed outside coffer; compare it with a backup")
            .into()),
        },
    }
}
