//! `coffer exec` (parameters into a command's environment) and `coffer export` (into text).
//!
//! The parameters under each `--path` come from the store in one query per path
//! ([`crate::params::Params::get_by_path`]); secure values are decrypted with the local
//! keyring. Names follow [`crate::envmap`]. `exec` replaces coffer with the command
//! (`execve`): its exit status and signals are the command's own, and values travel only in
//! its environment, never in argv.

use std::ffi::OsString;
use std::io::Write as _;

use crate::config::Settings;
use crate::envmap::{EnvMap, Format};
use crate::params::{self, ParamPath};
use crate::report::CliError;
use crate::time;

/// What `exec` and `export` read.
#[derive(Debug)]
pub struct Selection {
    /// `--path`, in order (later paths win).
    pub paths: Vec<ParamPath>,
    /// `-r`: parameters at any depth below each path.
    pub recursive: bool,
    /// `--strict`: a name clash or an expired value is an error.
    pub strict: bool,
}

/// `coffer exec`.
#[derive(Debug)]
pub struct ExecSettings {
    /// The parameters.
    pub selection: Selection,
    /// `--pristine`: start from an empty environment.
    pub pristine: bool,
    /// The command and its arguments.
    pub command: Vec<OsString>,
}

/// `coffer export`.
#[derive(Debug)]
pub struct ExportSettings {
    /// The parameters.
    pub selection: Selection,
    /// `--format`.
    pub format: Format,
}

/// Reads the variables of `sel`.
async fn fetch(settings: &Settings, sel: &Selection) -> anyhow::Result<EnvMap> {
    let params = params::open_cli(settings, None, Vec::new()).await?;
    let now = time::now_unix();
    let mut map = EnvMap::default();
    for path in &sel.paths {
        let read = params.read_path(path, sel.recursive).await?;
        for e in read.unreadable {
            // Never another version instead: the latest may be an untested `pending` one.
            if sel.strict {
                return Err(e.into());
            }
            tracing::warn!("left out: {e}");
        }
        let found = read.values;
        let mut values = Vec::with_capacity(found.len());
        for p in found {
            if let Some(at) = p.meta.expires_at.filter(|_| p.meta.is_expired(now)) {
                let when = time::format_rfc3339(at);
                if sel.strict {
                    return Err(CliError::failure(format!(
                        "{} (version {}) expired at {when}",
                        p.meta.name, p.meta.version
                    ))
                    .hint("put a new value, or run without --strict to leave expired values out")
                    .into());
                }
                tracing::warn!(name = %p.meta.name, expired = %when, "left out: the value has expired");
                continue;
            }
            values.push((p.meta.name.as_str().to_owned(), p.value.into_inner()));
        }
        map.add(path.as_str(), values);
    }
    if let Some(c) = map.clashes().first() {
        if sel.strict {
            return Err(CliError::failure(format!(
                "{} and {} both give the variable {}",
                c.lost, c.won, c.var
            ))
            .hint("rename one of them, or run without --strict (the later one wins)")
            .into());
        }
        for c in map.clashes() {
            tracing::warn!(var = %c.var, from = %c.won, over = %c.lost, "name clash: the later parameter wins");
        }
    }
    Ok(map)
}

/// Runs `coffer exec`: never returns on success.
pub async fn exec(settings: &Settings, s: &ExecSettings) -> anyhow::Result<()> {
    use std::os::unix::process::CommandExt as _;
    let map = fetch(settings, &s.selection).await?;
    let Some((program, args)) = s.command.split_first() else {
        return Err(
            CliError::usage("exec needs a command: coffer exec --path P -- COMMAND").into(),
        );
    };
    let mut cmd = std::process::Command::new(program);
    cmd.args(args);
    if s.pristine {
        cmd.env_clear();
    }
    for (k, v) in map.iter() {
        cmd.env(k, v.value.as_str());
    }
    tracing::debug!(vars = map.len(), program = %program.to_string_lossy(), "exec");
    let _ = std::io::stdout().flush();
    // The command gets the user's core limit back (coffer ran with none, see `dumps`).
    if let Err(e) = crate::dumps::restore() {
        tracing::debug!("cannot restore the core file size limit: {e}");
    }
    let err = cmd.exec();
    let _ = crate::dumps::disable();
    let shown = program.to_string_lossy();
    Err(match err.kind() {
        std::io::ErrorKind::NotFound => CliError::exit(127, format!("{shown}: command not found")),
        std::io::ErrorKind::PermissionDenied => {
            CliError::exit(126, format!("{shown}: permission denied"))
        }
        _ => CliError::exit(126, format!("cannot run {shown}: {err}")),
    }
    .into())
}

/// Runs `coffer export`.
pub async fn export(settings: &Settings, s: &ExportSettings) -> anyhow::Result<()> {
    let map = fetch(settings, &s.selection).await?;
    let text = crate::envmap::render(&map, s.format);
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}
