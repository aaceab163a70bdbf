//! `coffer rotate NAME [--every DURATION|off]` and `coffer rotate --due`.

use crate::cli::OutputFormat;
use crate::config::{RotateMode, RotateSettings, Settings};
use crate::output::{RotationWire, SCHEMA};
use crate::report::CliError;
use coffer::params::{Params, RotationPlan};
use coffer::rotate::{self, RotateRequest};

/// Runs `coffer rotate`.
pub async fn run(settings: &Settings, s: &RotateSettings) -> anyhow::Result<()> {
    let decrypt_keys = s.key.iter().map(|(k, _)| k.clone()).collect();
    let params = super::open::open_params(settings, s.key.clone(), decrypt_keys).await?;
    let quiet = settings.quiet;
    let say = |step: &str| {
        tracing::info!("{step}");
        if !quiet {
            eprintln!("{step}");
        }
    };
    let (request, every) = match &s.mode {
        RotateMode::Due => return due(&params, say).await,
        RotateMode::One { request, every } => (request, every),
    };
    match every {
        Some(None) => return unschedule(settings, &params, request).await,
        Some(Some(secs)) => schedule(&params, request, *secs).await?,
        None => {}
    }
    let done = match rotate::rotate(&params, request, &this_program()?, say).await {
        Ok(done) => done,
        Err(e) => return Err(explain(e)),
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
        super::stdout::print_json(&wire)
    } else if quiet {
        Ok(())
    } else {
        super::stdout::write_stdout(wire.to_text().as_bytes())
    }
}

/// A failed hook's output on stderr, then the error with what to do next.
fn explain(e: coffer::error::Error) -> anyhow::Error {
    let coffer::error::Error::Hook(failed) = &e else {
        return e.into();
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
    CliError::failure(failed.to_string())
        .hint(format!(
            "fix the hook and run `coffer rotate {name}` again to retry version {} \
             (--discard-pending starts over); see the versions with: coffer history {name}",
            failed.version
        ))
        .into()
}

/// `--every DURATION`: stores the plan (due now, so the rotation that follows sets the next
/// due time).
async fn schedule(params: &Params, req: &RotateRequest, every: u64) -> anyhow::Result<()> {
    let mut plan = RotationPlan {
        name: req.name.clone(),
        every_secs: Some(every),
        generate: req.generate.as_ref().map(ToString::to_string),
        set_hook: req.set_hook.clone(),
        test_hook: req.test_hook.clone(),
        hook_timeout_secs: req.hook_timeout.as_secs().max(1),
        // Hooks given as `./set.sh` run from here, whatever directory `--due` runs in.
        workdir: Some(
            req.workdir
                .to_str()
                .ok_or_else(|| {
                    CliError::usage(format!(
                        "the working directory {} is not UTF-8: a schedule cannot record it",
                        req.workdir.display()
                    ))
                })?
                .to_owned(),
        ),
        next_due: Some(coffer::time::now_unix()),
        last_error: None,
        lease: None,
        lease_hook: None,
        pending_run: None,
        seal: None,
    };
    plan.seal = Some(params.seal_plan(&plan).await?);
    params
        .store()
        .await?
        .set_rotation_plan(&plan)
        .await
        .map_err(|e| match e {
            coffer::error::Error::NotFound(n) => anyhow::Error::new(
                CliError::failure(format!("no parameter named {n}"))
                    .hint(format!("write its first value with: coffer put {n}")),
            ),
            other => other.into(),
        })?;
    tracing::info!(name = %req.name, every, "rotation schedule stored");
    Ok(())
}

/// `--every off`.
async fn unschedule(
    settings: &Settings,
    params: &Params,
    req: &RotateRequest,
) -> anyhow::Result<()> {
    let plans = params.store().await?.rotation_plans().await?;
    let Some(mut plan) = plans
        .into_iter()
        .find(|p| p.name == req.name && p.every_secs.is_some())
    else {
        return Err(CliError::failure(format!("{} has no rotation schedule", req.name)).into());
    };
    plan.every_secs = None;
    plan.next_due = None;
    plan.seal = Some(params.seal_plan(&plan).await?);
    params
        .writable_store()
        .await?
        .set_rotation_plan(&plan)
        .await?;
    if settings.format == OutputFormat::Json {
        super::stdout::print_json(&serde_json::json!({
            "type": "rotation_schedule",
            "schema": SCHEMA,
            "name": req.name.to_string(),
            "every": null,
        }))
    } else if settings.quiet {
        Ok(())
    } else {
        super::stdout::write_stdout(
            format!("removed the rotation schedule of {}\n", req.name).as_bytes(),
        )
    }
}

/// This `coffer` binary, as the hooks' supervisor (`main` dispatches
/// [`coffer::rotate::hook::SUPERVISOR_ARG`]).
fn this_program() -> anyhow::Result<rotate::hook::Launcher> {
    rotate::hook::Launcher::this_program().map_err(|e| {
        anyhow::Error::new(
            coffer::error::Error::backend("cannot find the coffer program").caused_by(e),
        )
    })
}

/// `--due`: the JSON report on stdout; exit 1 if a rotation failed.
async fn due(params: &Params, say: impl FnMut(&str)) -> anyhow::Result<()> {
    let report = rotate::rotate_due(params, &this_program()?, say).await?;
    super::stdout::print_json(&crate::output::DueWire {
        kind: "rotate_due",
        schema: SCHEMA,
        report: &report,
    })?;
    if report.failed.is_empty() {
        Ok(())
    } else {
        Err(CliError::failure(format!(
            "{} scheduled rotation(s) failed: {}",
            report.failed.len(),
            report
                .failed
                .iter()
                .map(|f| f.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .hint("the report says why; the next --due run tries them again")
        .into())
    }
}
