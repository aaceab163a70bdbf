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

/// Says that `name` was left as it was (version `version`).
fn unchanged(settings: &Settings, name: &ParamName, version: u32) -> anyhow::Result<()> {
    if settings.format == OutputFormat::Json {
        super::stdout::print_json(&ParamChangeWire {
            kind: "param_unchanged",
            schema: SCHEMA,
            name: name.to_string(),
            versions: None,
            whole: None,
        })
    } else {
        if !settings.quiet {
            eprintln!("{name} unchanged: no new version written (version {version} stays current)");
        }
        Ok(())
    }
}

/// For Vim and Neovim: no swap file and no viminfo/shada file, where the text of deleted
/// or yanked lines would be kept on disk (`-n -i NONE`); else nothing.
fn vim_flags(editor: &str) -> &'static str {
    let Some(program) = editor.split_whitespace().next() else {
        return "";
    };
    let base = std::path::Path::new(program)
        .file_name()
        .and_then(|f| f.to_str())
        .unwrap_or_default();
    let vim = match base {
        "vim" | "nvim" | "gvim" | "mvim" | "vimx" => true,
        // `vi` is Vim on many systems, and something else on others.
        "vi" | "view" => Command::new(program)
            .arg("--version")
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .output()
            .is_ok_and(|o| {
                o.status.success()
                    && (o.stdout.starts_with(b"VIM") || o.stdout.starts_with(b"NVIM"))
            }),
        _ => false,
    };
    if vim { " -n -i NONE" } else { "" }
}

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
    let value = read.param.value.expose();
    let mut text = Zeroizing::new(String::with_capacity(value.len() + 1));
    text.push_str(value);
    text.push('\n');
    let file = dir
        .write(name.leaf(), text.as_bytes())
        .map_err(|e| anyhow::Error::new(e).context("cannot write the file to edit"))?;
    let editor = editor();
    let status = {
        let _sigint = EditorRuns::start();
        // `exec`: the editor is the shell's process, so a Ctrl-C it bears ends nothing.
        Command::new("sh")
            .arg("-c")
            .arg(format!("exec {editor}{} \"$1\"", vim_flags(&editor)))
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
    // The text as written: nothing changed (one trailing newline is not the value's).
    if bytes.as_slice() == text.as_bytes() {
        drop(dir);
        return unchanged(settings, name, read.param.meta.version);
    }
    drop(text);
    let value = params::value_of(bytes, max)?;
    let written = params.edit_write(&read, value, &params::os_user()).await?;
    drop(dir);
    let json = settings.format == OutputFormat::Json;
    match written {
        None => unchanged(settings, name, read.param.meta.version),
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
