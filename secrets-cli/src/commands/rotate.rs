//! `coffer rotate NAME`.

use crate::cli::OutputFormat;
use crate::config::{RotateSettings, Settings};
use crate::output::{RotationWire, SCHEMA};
use crate::report::CliError;
use crate::rotate::{self, HookFailed};

/// Runs `coffer rotate NAME`.
pub async fn run(settings: &Settings, s: &RotateSettings) -> anyhow::Result<()> {
    let decrypt_keys = s.key.iter().map(|(k, _)| k.clone()).collect();
    let params = crate::params::open_cli(settings, s.key.clone(), decrypt_keys).await?;
    let quiet = settings.quiet;
    let done = rotate::rotate(&params, &s.request, |step| {
        tracing::info!(name = %s.request.name, "{step}");
        if !quiet {
            eprintln!("{step}");
        }
    })
    .await;
    let done = match done {
        Ok(done) => done,
        Err(e) => {
            let Some(failed) = e.downcast_ref::<HookFailed>() else {
                return Err(e);
            };
            if !failed.output.is_empty() {
                eprintln!("--- output of the {} hook ---", failed.step);
                eprint!("{}", failed.output);
                if !failed.output.ends_with('\n') {
                    eprintln!();
                }
                eprintln!("--- end of output ---");
            }
            let name = &failed.name;
            return Err(CliError::failure(failed.to_string())
                .hint(format!(
                    "fix the hook and run `coffer rotate {name}` again to retry version {} \
                     (--discard-pending starts over); see the versions with: coffer history {name}",
                    failed.version
                ))
                .into());
        }
    };
    let wire = RotationWire {
        kind: "rotation",
        schema: SCHEMA,
        name: done.name.to_string(),
        version: done.version,
        previous: done.previous,
        resumed: done.resumed,
        hooks: done.hooks.clone(),
    };
    if settings.format == OutputFormat::Json {
        super::print_json(&wire)
    } else if quiet {
        Ok(())
    } else {
        super::write_stdout(wire.to_text().as_bytes())
    }
}
