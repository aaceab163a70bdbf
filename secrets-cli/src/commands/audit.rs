//! `coffer audit ls|verify|accept`: the store's keyed audit log ([`coffer::store::audit`]).

use crate::cli::{AuditCommand, OutputFormat};
use crate::config::Settings;
use crate::output::{AuditEntryWire, AuditVerifiedWire, SCHEMA};
use crate::report::CliError;
use coffer::store::audit::Verified;

/// Runs `coffer audit …` on the store `settings` names (`--store`, `COFFER_STORE`, else
/// `COFFER_HOME/coffer.db`). `ls` needs no key; `verify` and `accept` need the root key.
pub async fn run(settings: &Settings, cmd: AuditCommand) -> anyhow::Result<()> {
    let json = settings.format == OutputFormat::Json;
    let home = settings.home()?;
    let (_, table) = coffer::store::open_store(&settings.store_location()?, &home).await?;
    let at = table.location();
    match cmd {
        AuditCommand::Ls => {
            let (list, _) = table.audit_log().await?;
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
        AuditCommand::Verify => {
            let passphrase = crate::terminal::passphrase();
            match coffer::store::verify_store(&home, table, &passphrase).await? {
                (Verified::Ok(n), 0) => verified(settings, json, n, 0, "audit log OK"),
                (Verified::Ok(n), unkeyed) => verified(
                    settings,
                    json,
                    n,
                    unkeyed,
                    &format!(
                        "audit log OK (entries 1-{unkeyed} are from before the log was keyed: \
                         hashed, not authenticated)"
                    ),
                ),
                (Verified::Bad { seq, why }, _) => Err(CliError::failure(format!(
                    "audit log of {at} fails verification at seq {seq}: {why}"
                ))
                .hint("the log was changed outside coffer; compare it with a backup")
                .into()),
            }
        }
        AuditCommand::Accept => {
            let n =
                coffer::store::accept_store(&home, table, &crate::terminal::passphrase()).await?;
            verified(
                settings,
                json,
                n,
                0,
                &format!("accepted the store {at} as it is now"),
            )
        }
    }
}

fn verified(
    settings: &Settings,
    json: bool,
    n: u64,
    unkeyed: u64,
    what: &str,
) -> anyhow::Result<()> {
    if json {
        super::stdout::print_json(&AuditVerifiedWire {
            kind: "audit_verified",
            schema: SCHEMA,
            ok: true,
            entries: n,
            unkeyed,
        })
    } else if settings.quiet {
        Ok(())
    } else {
        super::stdout::write_stdout(format!("{what}: {n} entries\n").as_bytes())
    }
}
