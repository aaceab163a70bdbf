//! `coffer import FILE`: the parameters of a dotenv, JSON or YAML file, written in one
//! transaction or not at all ([`coffer::params::import`]).

use std::path::Path;

use serde::Serialize;
use zeroize::Zeroizing;

use crate::cli::OutputFormat;
use crate::config::{ImportSettings, Settings};
use crate::output::{ParamVersionWire, SCHEMA};
use coffer::params::{self, import};
use coffer::time::now_unix;

/// The largest file `import` reads, in bytes.
pub const MAX_IMPORT_BYTES: usize = 64 << 20;

/// What `--dry-run` would write of one parameter.
#[derive(Debug, Serialize)]
struct PlannedWire {
    /// Always `"param_import_plan"`.
    #[serde(rename = "type")]
    kind: &'static str,
    schema: u32,
    name: String,
    /// The version it would write (1: a new parameter).
    version: u32,
    param_type: &'static str,
    /// Where in the file it is (`line 3`, `key db.password`).
    origin: String,
}

/// Runs `import`.
pub async fn run(settings: &Settings, s: &ImportSettings) -> anyhow::Result<()> {
    let text = read(&s.file)?;
    let entries = import::parse(&text, s.format, &s.path, s.param_type)
        .map_err(|e| anyhow::Error::new(e).context(format!("import {}", shown(&s.file))))?;
    drop(text);
    let json = settings.format == OutputFormat::Json;
    let params = super::open::open_params(settings, s.key.clone(), Vec::new()).await?;
    if s.dry_run {
        let plan = params.plan_import(&entries, s.overwrite).await?;
        if json {
            for (p, e) in plan.iter().zip(&entries) {
                super::stdout::print_json(&PlannedWire {
                    kind: "param_import_plan",
                    schema: SCHEMA,
                    name: p.name.to_string(),
                    version: p.version,
                    param_type: p.param_type.as_str(),
                    origin: e.origin.clone(),
                })?;
            }
        } else if !settings.quiet {
            let mut out = String::new();
            for p in &plan {
                out.push_str(&format!(
                    "would write {} version {} ({}{})\n",
                    p.name,
                    p.version,
                    p.param_type,
                    if p.version == 1 { ", new" } else { "" }
                ));
            }
            out.push_str(&format!(
                "dry run: {} parameter{} checked, nothing written\n",
                plan.len(),
                if plan.len() == 1 { "" } else { "s" }
            ));
            super::stdout::write_stdout(out.as_bytes())?;
        }
        return Ok(());
    }
    let written = params
        .import(&entries, s.overwrite, &params::os_user())
        .await?;
    tracing::info!(count = written.len(), "parameters imported");
    let now = now_unix();
    if json {
        return written
            .iter()
            .try_for_each(|m| super::stdout::print_json(&ParamVersionWire::new(m, now)));
    }
    if !settings.quiet {
        let new = written.iter().filter(|m| m.version == 1).count();
        let out = format!(
            "imported {} parameter{} below {} ({new} new, {} new version{}) in one transaction\n",
            written.len(),
            if written.len() == 1 { "" } else { "s" },
            s.path,
            written.len() - new,
            if written.len() - new == 1 { "" } else { "s" },
        );
        super::stdout::write_stdout(out.as_bytes())?;
    }
    Ok(())
}

fn shown(file: &Path) -> String {
    if file.as_os_str() == "-" {
        "(stdin)".to_owned()
    } else {
        file.display().to_string()
    }
}

/// The text of `file` (`-`: stdin), up to [`MAX_IMPORT_BYTES`], in a buffer wiped on drop.
fn read(file: &Path) -> anyhow::Result<Zeroizing<String>> {
    let bytes = if file.as_os_str() == "-" {
        coffer::smallfile::read_to_limit(std::io::stdin().lock(), MAX_IMPORT_BYTES)
            .map_err(|e| anyhow::Error::new(e).context("cannot read stdin"))?
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "stdin holds more than {MAX_IMPORT_BYTES} bytes, the most import reads"
                )
            })?
    } else {
        coffer::smallfile::read(file, "import file", MAX_IMPORT_BYTES)
            .map_err(|e| anyhow::Error::new(e).context(format!("cannot read {}", file.display())))?
    };
    // A byte order mark, as some editors on Windows write, is not text of the file.
    let body = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(&bytes);
    let text = std::str::from_utf8(body)
        .map_err(|e| {
            anyhow::anyhow!(
                "{} is not UTF-8 text (byte {})",
                shown(file),
                e.valid_up_to()
            )
        })?
        .to_owned();
    Ok(Zeroizing::new(text))
}
