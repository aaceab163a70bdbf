//! The settings of the parameter verbs: put, get, ls, history, labels, exec, export.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::path::PathBuf;

use crate::cli::PutArgs;
use crate::envmap::Format;
use crate::report::CliError;
use coffer::keyref::KeyRef;
use coffer::params::import::ImportFormat;
use coffer::params::{Expect, Label, ParamName, ParamPath, ParamType, Selector, TypeRule};

use super::parse_keys;

/// Longest `--description`, in bytes.
pub const MAX_DESCRIPTION_LEN: usize = 1024;
/// Longest tag key, in bytes.
pub const MAX_TAG_KEY_LEN: usize = 128;
/// Longest tag value, in bytes.
pub const MAX_TAG_VALUE_LEN: usize = 256;

/// `coffer put`.
#[derive(Debug)]
pub struct PutSettings {
    /// The parameter.
    pub name: ParamName,
    /// `--type` (secure-string if not given).
    pub param_type: ParamType,
    /// `--type` given or not, `--change-type`.
    pub type_rule: TypeRule,
    /// `--value-file`; `None` is stdin.
    pub value_file: Option<PathBuf>,
    /// `--overwrite`, `--if-version`.
    pub expect: Expect,
    /// `--label`.
    pub labels: Vec<Label>,
    /// `--description`.
    pub description: Option<String>,
    /// `--tag`.
    pub tags: BTreeMap<String, String>,
    /// `--expires` (Unix seconds).
    pub expires_at: Option<i64>,
    /// `--key`, and its spelling.
    pub key: Option<(KeyRef, String)>,
}

/// `coffer import`.
#[derive(Debug)]
pub struct ImportSettings {
    /// The file; `-` is stdin.
    pub file: PathBuf,
    /// `--path`.
    pub path: ParamPath,
    /// `--format`, or the extension's.
    pub format: ImportFormat,
    /// `--dry-run`.
    pub dry_run: bool,
    /// `--type`.
    pub param_type: Option<ParamType>,
    /// `--overwrite`.
    pub overwrite: bool,
    /// `--key`, and its spelling.
    pub key: Option<(KeyRef, String)>,
}

/// The settings of `import`.
pub(super) fn import_settings(a: crate::cli::ImportArgs) -> anyhow::Result<ImportSettings> {
    use crate::cli::ImportFormatArg;
    let format = match a.format {
        Some(ImportFormatArg::Dotenv) => ImportFormat::Dotenv,
        Some(ImportFormatArg::Json) => ImportFormat::Json,
        Some(ImportFormatArg::Yaml) => ImportFormat::Yaml,
        None => ImportFormat::of_path(&a.file).unwrap_or(ImportFormat::Dotenv),
    };
    let param_type = a.param_type.as_deref().map(ParamType::parse).transpose()?;
    let key = match a.key {
        Some(k) if param_type.is_some_and(|t| !t.is_secure()) => {
            return Err(CliError::usage(format!(
                "--key {k}: --type {} values are stored in the clear; only secure-string \
                 values are encrypted",
                param_type.unwrap_or_default()
            ))
            .into());
        }
        Some(k) => Some((
            k.parse::<KeyRef>()
                .map_err(|e| anyhow::Error::new(e).context(format!("--key {k}")))?,
            k,
        )),
        None => None,
    };
    Ok(ImportSettings {
        file: a.file,
        path: ParamPath::parse(a.path.as_deref().unwrap_or("/"))?,
        format,
        dry_run: a.dry_run,
        param_type,
        overwrite: a.overwrite,
        key,
    })
}

/// What `cp` and `mv` copy.
#[derive(Debug)]
pub enum CopyWhat {
    /// One parameter.
    Name(ParamName, ParamName),
    /// `-r`: every parameter below a path.
    Path(ParamPath, ParamPath),
}

/// The settings of `cp` (`remove` false) and `mv`.
pub(super) fn copy_settings(
    a: crate::cli::CopyArgs,
    remove: bool,
) -> anyhow::Result<ParamSettings> {
    let what = if a.recursive {
        CopyWhat::Path(ParamPath::parse(&a.src)?, ParamPath::parse(&a.dst)?)
    } else {
        CopyWhat::Name(ParamName::parse(&a.src)?, ParamName::parse(&a.dst)?)
    };
    Ok(ParamSettings::Copy {
        what,
        overwrite: a.overwrite,
        remove,
    })
}

/// The tags of `find --tag K=V|K`.
pub(super) fn find_tags(tags: &[String]) -> anyhow::Result<Vec<coffer::params::find::TagQuery>> {
    tags.iter()
        .map(|t| {
            let q = coffer::params::find::TagQuery::parse(t);
            if q.key.is_empty() {
                return Err(CliError::usage(format!(
                    "bad tag `{}`: expected K=V or K",
                    t.escape_debug()
                ))
                .into());
            }
            Ok(q)
        })
        .collect()
}

/// The parameter verbs.
#[derive(Debug)]
pub enum ParamSettings {
    /// `import FILE`.
    Import(ImportSettings),
    /// `edit NAME`.
    Edit {
        /// The parameter.
        name: ParamName,
    },
    /// `cp|mv SRC DST [-r]`.
    Copy {
        /// The names or paths.
        what: CopyWhat,
        /// `--overwrite`.
        overwrite: bool,
        /// `mv`.
        remove: bool,
    },
    /// `put`.
    Put(PutSettings),
    /// `get NAME[:VERSION|:LABEL]`.
    Get {
        /// Which version.
        selector: Selector,
        /// `--key`.
        keys: Vec<KeyRef>,
    },
    /// `ls [PATH] [-r] [-l] [--deleted]`.
    Ls {
        /// The path.
        path: ParamPath,
        /// `-r`.
        recursive: bool,
        /// `-l`.
        long: bool,
        /// `--deleted`.
        deleted: bool,
    },
    /// `find [PATH] --tag K=V…`.
    Find {
        /// The path.
        path: ParamPath,
        /// The tags.
        tags: Vec<coffer::params::find::TagQuery>,
        /// `-l`.
        long: bool,
    },
    /// `history NAME`.
    History {
        /// The parameter.
        name: ParamName,
    },
    /// `label NAME:VERSION LABEL…`.
    Label {
        /// The parameter.
        name: ParamName,
        /// The version.
        version: u32,
        /// The labels.
        labels: Vec<Label>,
    },
    /// `unlabel NAME LABEL…`.
    Unlabel {
        /// The parameter.
        name: ParamName,
        /// The labels.
        labels: Vec<Label>,
    },
    /// `rm NAME`.
    Rm {
        /// The parameter.
        name: ParamName,
    },
    /// `restore NAME`.
    Restore {
        /// The parameter.
        name: ParamName,
    },
    /// `rollback NAME --to VERSION`.
    Rollback {
        /// The parameter.
        name: ParamName,
        /// The version whose value the new version holds.
        to: u32,
    },
    /// `destroy NAME[:VERSION]`.
    Destroy {
        /// The parameter.
        name: ParamName,
        /// `None`: the whole parameter.
        version: Option<u32>,
    },
}

pub(super) fn parse_labels(raw: &[String]) -> Result<Vec<Label>, coffer::error::Error> {
    let mut out: Vec<Label> = Vec::with_capacity(raw.len());
    for l in raw {
        let l = Label::parse(l)?;
        if !out.contains(&l) {
            out.push(l);
        }
    }
    Ok(out)
}

pub(super) fn put(a: PutArgs) -> anyhow::Result<PutSettings> {
    let name = ParamName::parse(&a.name)?;
    // Without --type a new version keeps the parameter's type; --key means secure-string.
    let (param_type, type_rule) = match (&a.param_type, a.change_type) {
        (Some(t), false) => (ParamType::parse(t)?, TypeRule::Same),
        (Some(t), true) => (ParamType::parse(t)?, TypeRule::Change),
        (None, _) if a.key.is_some() => (ParamType::SecureString, TypeRule::Same),
        (None, _) => (ParamType::default(), TypeRule::Keep),
    };
    let expect = match (a.if_version, a.overwrite) {
        (Some(n), _) => Expect::Version(n),
        (None, true) => Expect::Any,
        (None, false) => Expect::New,
    };
    if let Some(d) = &a.description {
        if d.len() > MAX_DESCRIPTION_LEN {
            return Err(CliError::usage(format!(
                "--description is {} bytes; at most {MAX_DESCRIPTION_LEN} are allowed",
                d.len()
            ))
            .into());
        }
    }
    let mut tags = BTreeMap::new();
    for t in &a.tags {
        let (k, v) = t
            .split_once('=')
            .filter(|(k, _)| !k.is_empty())
            .ok_or_else(|| {
                CliError::usage(format!("bad tag `{}`: expected K=V", t.escape_debug()))
            })?;
        if k.len() > MAX_TAG_KEY_LEN || v.len() > MAX_TAG_VALUE_LEN {
            return Err(CliError::usage(format!(
                "tag `{}` is too long (keys up to {MAX_TAG_KEY_LEN} bytes, values up to \
                 {MAX_TAG_VALUE_LEN})",
                k.escape_debug()
            ))
            .into());
        }
        if tags.insert(k.to_owned(), v.to_owned()).is_some() {
            return Err(CliError::usage(format!("tag `{}` given twice", k.escape_debug())).into());
        }
    }
    let expires_at = a
        .expires
        .as_deref()
        .map(|w| {
            coffer::time::parse_when(w, coffer::time::now_unix())
                .map_err(|e| anyhow::Error::new(e).context(format!("--expires {w}")))
        })
        .transpose()?;
    let key = match a.key {
        Some(k) if !param_type.is_secure() => {
            return Err(CliError::usage(format!(
                "--key {k}: {param_type} values are stored in the clear; only secure-string \
                 values are encrypted"
            ))
            .into());
        }
        Some(k) => Some((
            k.parse::<KeyRef>()
                .map_err(|e| anyhow::Error::new(e).context(format!("--key {k}")))?,
            k,
        )),
        None => None,
    };
    Ok(PutSettings {
        name,
        param_type,
        type_rule,
        value_file: a.value_file.filter(|p| p.as_os_str() != "-"),
        expect,
        labels: parse_labels(&a.labels)?,
        description: a.description,
        tags,
        expires_at,
        key,
    })
}

/// The paths of `exec`/`export`, validated.
pub(super) fn selection(a: crate::cli::SelectionArgs) -> anyhow::Result<Selection> {
    let paths = a
        .paths
        .iter()
        .map(|p| ParamPath::parse(p))
        .collect::<Result<Vec<_>, _>>()?;
    let mut allow_vars = BTreeSet::new();
    for v in &a.allow_vars {
        let ok = !v.is_empty()
            && !v.starts_with(|c: char| c.is_ascii_digit())
            && v.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
        if !ok {
            return Err(CliError::usage(format!(
                "--allow-var {}: not a variable coffer sets",
                v.escape_debug()
            ))
            .hint(
                "give the variable's name as exec sets it: upper-case A-Z 0-9 _, for example \
                 --allow-var PATH",
            )
            .into());
        }
        allow_vars.insert(v.clone());
    }
    Ok(Selection {
        paths,
        recursive: a.recursive,
        strict: a.strict,
        allow_vars,
        keys: parse_keys(&a.keys)?,
    })
}

/// What `exec` and `export` read.
#[derive(Debug)]
pub struct Selection {
    /// `--path`, in order (later paths win).
    pub paths: Vec<ParamPath>,
    /// `-r`: parameters at any depth below each path.
    pub recursive: bool,
    /// `--strict`: a name clash, an expired value, or anything `exec`'s screening leaves out or
    /// warns about is an error.
    pub strict: bool,
    /// `--allow-var`: guarded variables ([`crate::envmap::guard`]) the store may set.
    pub allow_vars: BTreeSet<String>,
    /// `--key`: the keys secure values are decrypted with (empty: the local keyring).
    pub keys: Vec<KeyRef>,
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
