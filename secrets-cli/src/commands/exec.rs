//! `coffer exec` (parameters into a command's environment) and `coffer export` (into text).
//!
//! The parameters under each `--path` come from the store in one query per path
//! ([`coffer::params::Params::get_by_path`]); secure values are decrypted with the local
//! keyring (or `--key`). Names follow [`crate::envmap`]; what the store may not set, and
//! what a target cannot carry, is left out with a warning or refused with `--strict`
//! ([`screen`]). `exec` finds the command with coffer's own `PATH`, then replaces coffer with
//! it (`execve`): its exit status and signals are the command's own, and values travel only
//! in its environment, never in argv.

use std::ffi::OsStr;
use std::io::Write as _;
use std::path::PathBuf;

use crate::config::{ExecSettings, ExportSettings, Selection, Settings};
use crate::envmap::{EnvMap, Format, guard, quote};
use crate::report::CliError;

use coffer::time;

/// Reads the variables of `sel`.
async fn fetch(settings: &Settings, sel: &Selection) -> anyhow::Result<EnvMap> {
    let params = super::open::open_params(settings, None, sel.keys.clone()).await?;
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

/// Where the variables go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// A command's environment.
    Exec,
    /// `export` text.
    Export(Format),
}

/// Leaves out of `map` what must not reach `target`, with a warning (with `--strict`, the
/// first is an error instead):
/// - a guarded variable ([`guard::guarded`]: `PATH`, `LD_PRELOAD`, …) that `--allow-var`
///   does not name: the store never sets how a program is found, loaded or started;
/// - a value holding a NUL byte, which no environment variable (and no shell variable) can
///   carry: for `exec`, `dotenv` and `shell` (JSON and YAML carry it exactly).
///
/// For `dotenv`, a value that a reader other than a POSIX shell will not read back exactly
/// ([`quote::dotenv`]) is kept, and named in a warning (an error with `--strict`).
///
/// # Errors
/// With `--strict`, the first of these.
fn screen(map: &mut EnvMap, sel: &Selection, target: Target) -> anyhow::Result<()> {
    let carries_nul = matches!(target, Target::Export(Format::Json | Format::Yaml));
    let mut left_out = Vec::new();
    for (var, v) in map.iter() {
        let from = v.name.as_str();
        if let Some(why) = guard::guarded(var).filter(|_| !sel.allow_vars.contains(var)) {
            if sel.strict {
                return Err(CliError::failure(format!(
                    "the store would set {var} (from {from}), which {why}"
                ))
                .hint(format!(
                    "add --allow-var {var} if the store may set it, or rename the parameter"
                ))
                .into());
            }
            tracing::warn!(
                "left out {var} (from {from}): it {why}; --allow-var {var} lets the store set it"
            );
            left_out.push(var.to_owned());
            continue;
        }
        if !carries_nul && v.value.contains('\0') {
            let what = match target {
                Target::Exec => "an environment variable",
                Target::Export(_) => "a shell variable",
            };
            if sel.strict {
                return Err(CliError::failure(format!(
                    "the value of {from} holds a NUL byte, which {what} cannot carry"
                ))
                .hint(format!(
                    "write a new value: coffer put {from} --overwrite (or run without --strict \
                     to leave it out)"
                ))
                .into());
            }
            tracing::warn!(
                "left out {var} (from {from}): its value holds a NUL byte, which {what} cannot carry"
            );
            left_out.push(var.to_owned());
            continue;
        }
        if target == Target::Export(Format::Dotenv) {
            for m in quote::dotenv(&v.value).misread {
                let (reader, why) = (m.reader, m.why);
                if sel.strict {
                    return Err(CliError::failure(format!(
                        "{reader} would not read {var} (from {from}) back exactly: {why}"
                    ))
                    .hint(
                        "a POSIX shell reads it exactly: run without --strict, or use --format \
                         json or shell",
                    )
                    .into());
                }
                tracing::warn!(
                    "{reader} will not read {var} (from {from}) back exactly: {why}; a POSIX \
                     shell will"
                );
            }
        }
    }
    for var in left_out {
        map.remove(&var);
    }
    Ok(())
}

/// The program `exec` runs: `program` itself if it holds a `/`, else the first executable
/// `program` in coffer's own `PATH` (`/bin:/usr/bin` if unset, as `execvp` does), found
/// before the store's variables are applied, so that no parameter chooses it.
///
/// # Errors
/// Not found (exit 127).
fn resolve(program: &OsStr) -> Result<PathBuf, CliError> {
    use std::os::unix::ffi::OsStrExt as _;
    if program.as_bytes().contains(&b'/') {
        return Ok(PathBuf::from(program));
    }
    let search = std::env::var_os("PATH").unwrap_or_else(|| "/bin:/usr/bin".into());
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    which::which_in(program, Some(search), cwd).map_err(|_| {
        CliError::exit(
            127,
            format!("{}: command not found", program.to_string_lossy()),
        )
    })
}

/// Runs `coffer exec`: never returns on success.
pub async fn exec(settings: &Settings, s: &ExecSettings) -> anyhow::Result<()> {
    use std::os::unix::process::CommandExt as _;
    let Some((program, args)) = s.command.split_first() else {
        return Err(
            CliError::usage("exec needs a command: coffer exec --path P -- COMMAND").into(),
        );
    };
    // Found first (and nothing read from the store for a command that is not there).
    let path = resolve(program)?;
    let mut map = fetch(settings, &s.selection).await?;
    screen(&mut map, &s.selection, Target::Exec)?;
    let mut cmd = std::process::Command::new(&path);
    cmd.arg0(program).args(args);
    if s.pristine {
        cmd.env_clear();
    }
    for (k, v) in map.iter() {
        cmd.env(k, v.value.as_str());
    }
    tracing::debug!(vars = map.len(), program = %path.display(), "exec");
    let _ = std::io::stdout().flush();
    // The command gets the user's core limit back (coffer ran with none, see `dumps`).
    if let Err(e) = coffer::dumps::restore() {
        tracing::debug!("cannot restore the core file size limit: {e}");
    }
    let err = cmd.exec();
    let _ = coffer::dumps::disable();
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
    let mut map = fetch(settings, &s.selection).await?;
    screen(&mut map, &s.selection, Target::Export(s.format))?;
    let text = crate::envmap::render(&map, s.format);
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}
