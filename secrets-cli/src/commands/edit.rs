//! `coffer edit NAME`: the value in the user's editor, on memory-backed storage, written
//! back as a new version only if it changed ([`coffer::params::edit`], [`coffer::memdir`]).

use std::process::Command;

use zeroize::Zeroizing;

use crate::cli::OutputFormat;
use crate::config::Settings;
use crate::interrupt::EditorRuns;
use crate::output::{ParamChangeWire, ParamVersionWire, SCHEMA};
use crate::report::CliError;
use coffer::memdir::MemDir;
use coffer::params::{self, ParamName};
use coffer::time::now_unix;

/// The editor: `$VISUAL`, else `$EDITOR`, else `vi`.
fn editor() -> String {
    ["VISUAL", "EDITOR"]
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .find(|e| !e.trim().is_empty())
        .unwrap_or_else(|| "vi".to_owned())
}

/// Runs `edit NAME`.
pub async fn run(settings: &Settings, name: &ParamName) -> anyhow::Result<()> {
    let params = super::open::open_params(settings, None, Vec::new()).await?;
    let max = params::max_value_bytes_from_env()?;
    let read = params.edit_read(name).await?;
    let dir = MemDir::create("coffer-edit-")?;
    let file = {
        let value = read.param.value.expose();
        let mut text = Zeroizing::new(String::with_capacity(value.len() + 1));
        text.push_str(value);
        text.push('\n');
        dir.write(name.leaf(), text.as_bytes())
            .map_err(|e| anyhow::Error::new(e).context("cannot write the file to edit"))?
    };
    let editor = editor();
    let status = {
        let _sigint = EditorRuns::start();
        Command::new("sh")
            .arg("-c")
            .arg(format!("{editor} \"$1\""))
            .arg("coffer-edit")
            .arg(&file)
            .status()
    };
    let status =
        status.map_err(|e| anyhow::Error::new(e).context(format!("cannot run `{editor}`")))?;
    if !status.success() {
        use std::os::unix::process::ExitStatusExt as _;
        let how = match (status.code(), status.signal()) {
            (Some(code), _) => format!("exited with status {code}"),
            (None, Some(sig)) => format!("was killed by signal {sig}"),
            (None, None) => format!("ended with {status}"),
        };
        return Err(CliError::failure(format!(
            "the editor (`{editor}`) {how}: nothing was written"
        ))
        .into());
    }
    let bytes = match coffer::smallfile::read(&file, "edited file", max.saturating_add(2)) {
        Ok(b) => b,
        Err(coffer::smallfile::ReadError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(
                CliError::failure("the editor removed the file: nothing was written").into(),
            );
        }
        Err(e) => {
            return Err(anyhow::Error::new(e).context("nothing was written"));
        }
    };
    let value = params::value_of(bytes, max)?;
    let written = params.edit_write(&read, value, &params::os_user()).await?;
    drop(dir);
    let json = settings.format == OutputFormat::Json;
    match written {
        None => {
            if json {
                super::stdout::print_json(&ParamChangeWire {
                    kind: "param_unchanged",
                    schema: SCHEMA,
                    name: name.to_string(),
                    versions: None,
                    whole: None,
                })
            } else {
                if !settings.quiet {
                    eprintln!(
                        "{name} unchanged: no new version written (version {} stays current)",
                        read.param.meta.version
                    );
                }
                Ok(())
            }
        }
        Some(meta) => {
            tracing::info!(name = %name, version = meta.version, "edited");
            if json {
                super::stdout::print_json(&ParamVersionWire::new(&meta, now_unix()))
            } else if settings.quiet {
                Ok(())
            } else {
                super::stdout::write_stdout(
                    format!("wrote {name} version {}\n", meta.version).as_bytes(),
                )
            }
        }
    }
}
