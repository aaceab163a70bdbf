//! `coffer audit ls|verify`: the store's hash-chained audit log ([`crate::store::audit`]).

use crate::cli::{AuditCommand, OutputFormat};
use crate::config::{Settings, StoreLocation};
use crate::output::{AuditEntryWire, AuditVerifiedWire, SCHEMA};
use crate::report::CliError;
use crate::store::Store;
use crate::store::audit::Verified;

/// Runs `coffer audit …` on the store `settings` names (`--store`, `COFFER_STORE`, else
/// `COFFER_HOME/coffer.db`).
pub fn run(settings: &Settings, cmd: AuditCommand) -> anyhow::Result<()> {
    let json = settings.format == OutputFormat::Json;
    let home = settings.home()?;
    let store = match settings.store_location()? {
        StoreLocation::Sqlite(path) if path == home.store_path() => Store::open(&home)?,
        StoreLocation::Sqlite(path) => Store::open_file(path)?,
    };
    match cmd {
        AuditCommand::Ls => {
            let entries: Vec<AuditEntryWire> = store
                .audit_entries()?
                .iter()
                .map(AuditEntryWire::new)
                .collect();
            if json {
                entries.iter().try_for_each(super::print_json)
            } else if entries.is_empty() {
                if !settings.quiet {
                    eprintln!("the audit log is empty");
                }
                Ok(())
            } else {
                super::write_stdout(AuditEntryWire::table(&entries).as_bytes())
            }
        }
        AuditCommand::Verify => match store.verify_audit()? {
            Verified::Ok(n) => {
                if json {
                    super::print_json(&AuditVerifiedWire {
                        kind: "audit_verified",
                        schema: SCHEMA,
                        ok: true,
                        entries: n,
                    })
                } else if settings.quiet {
                    Ok(())
                } else {
                    super::write_stdout(format!("audit log OK: {n} entries\n").as_bytes())
                }
            }
            Verified::Bad { seq, why } => Err(CliError::failure(format!(
                "audit log of {} fails verification at seq {seq}: {why}",
                store.path().display()
            ))
            .hint("the log was changed outside coffer; compare it with a backup")
            .into()),
        },
    }
}
