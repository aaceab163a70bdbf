//! Flags of the parameter verbs: `put`, `get`, `ls`, `exec`, `export`, `import`.

use std::path::PathBuf;

use clap::Args;

/// Which parameters `exec` and `export` read.
#[derive(Debug, Args)]
pub struct SelectionArgs {
    /// A path whose parameters become variables (repeatable; later paths win).
    #[arg(long = "path", value_name = "PATH", required = true, add = crate::complete::names())]
    pub paths: Vec<String>,

    /// Parameters at any depth below each path, not only directly below it.
    #[arg(short, long)]
    pub recursive: bool,

    /// Fail instead of warning: on a name clash, an expired value, a variable left out, or a
    /// dotenv value some reader would not read back exactly.
    #[arg(long)]
    pub strict: bool,

    /// Let the store set VAR although it changes how programs are found, loaded or started
    /// (PATH, LD_PRELOAD, BASH_ENV, PYTHONPATH, …; repeatable).
    #[arg(long = "allow-var", value_name = "VAR")]
    pub allow_vars: Vec<String>,

    /// Decrypt secure values with this key (repeatable) [default: the local keyring].
    #[arg(short = 'k', long = "key", value_name = "KEYREF")]
    pub keys: Vec<String>,
}

/// Flags of `exec`.
#[derive(Debug, Args)]
pub struct ExecArgs {
    /// The parameters.
    #[command(flatten)]
    pub selection: SelectionArgs,

    /// Start from an empty environment (only the parameters).
    #[arg(long)]
    pub pristine: bool,

    /// The command and its arguments (after `--`).
    #[arg(value_name = "COMMAND", required = true, last = true)]
    pub command: Vec<std::ffi::OsString>,
}

/// Flags of `export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The parameters.
    #[command(flatten)]
    pub selection: SelectionArgs,

    /// The output format.
    #[arg(long, value_enum, default_value = "dotenv")]
    pub format: crate::envmap::Format,
}

/// Flags of `put`.
#[derive(Debug, Args)]
pub struct PutArgs {
    /// The parameter.
    #[arg(add = crate::complete::names())]
    pub name: String,

    /// The type: string, string-list or secure-string [default: the parameter's type;
    /// secure-string for a new one].
    #[arg(long = "type", value_name = "TYPE")]
    pub param_type: Option<String>,

    /// Let --type differ from the type of the latest version (without it, a change of type
    /// is refused).
    #[arg(long, requires = "param_type")]
    pub change_type: bool,

    /// Read the value from PATH, or `-` for stdin [default: -].
    #[arg(long, value_name = "PATH")]
    pub value_file: Option<PathBuf>,

    /// Write a new version of an existing parameter.
    #[arg(long)]
    pub overwrite: bool,

    /// Write only if the latest version is N (check-and-set).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub if_version: Option<u32>,

    /// Point LABEL at the new version (repeatable).
    #[arg(long = "label", value_name = "LABEL")]
    pub labels: Vec<String>,

    /// A description of this version.
    #[arg(long, value_name = "TEXT")]
    pub description: Option<String>,

    /// A tag of this version (repeatable).
    #[arg(long = "tag", value_name = "K=V")]
    pub tags: Vec<String>,

    /// When the value expires: RFC 3339, or a duration from now (90d, 12h, 30m).
    #[arg(long, value_name = "WHEN")]
    pub expires: Option<String>,

    /// Encrypt a secure-string with this key [default: the store key, local:params].
    #[arg(short = 'k', long = "key", value_name = "KEYREF")]
    pub key: Option<String>,
}

/// Flags of `get`.
#[derive(Debug, Args)]
pub struct GetArgs {
    /// NAME, NAME:VERSION or NAME:LABEL.
    #[arg(value_name = "NAME[:VERSION|:LABEL]", add = crate::complete::names())]
    pub selector: String,

    /// Decrypt a secure-string with this key (repeatable) [default: the local keyring].
    #[arg(short = 'k', long = "key", value_name = "KEYREF")]
    pub keys: Vec<String>,
}

/// Flags of `ls`.
#[derive(Debug, Args)]
pub struct LsArgs {
    /// The path [default: /].
    #[arg(value_name = "PATH", add = crate::complete::names())]
    pub path: Option<String>,

    /// Every parameter below PATH, at any depth.
    #[arg(short, long)]
    pub recursive: bool,

    /// A table: type, latest version, its labels, when it was written, expiry.
    #[arg(short, long)]
    pub long: bool,

    /// The deleted parameters instead (`restore` brings one back).
    #[arg(long)]
    pub deleted: bool,
}

/// Flags of `find`.
#[derive(Debug, Args)]
pub struct FindArgs {
    /// Where to look, at any depth [default: /].
    #[arg(value_name = "PATH", add = crate::complete::names())]
    pub path: Option<String>,

    /// K=V: a tag the latest version must carry with that value; K: with any value
    /// (repeatable: all of them).
    #[arg(long = "tag", value_name = "K=V", required = true)]
    pub tags: Vec<String>,

    /// A table, as `ls -l`.
    #[arg(short, long)]
    pub long: bool,
}

/// The formats `import` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ImportFormatArg {
    /// `KEY=value` lines (what `export --format dotenv|shell` writes).
    Dotenv,
    /// One JSON object (nested objects are levels of the name).
    Json,
    /// One YAML mapping (nested mappings are levels of the name).
    Yaml,
}

/// Flags of `import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The file, or `-` for stdin.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    /// The path the parameters go below [default: /].
    #[arg(long, value_name = "PATH", add = crate::complete::names())]
    pub path: Option<String>,

    /// The format [default: from the extension (.json, .yaml, .yml), else dotenv].
    #[arg(long, value_enum)]
    pub format: Option<ImportFormatArg>,

    /// Say what would be written, and check it, without writing anything.
    #[arg(long)]
    pub dry_run: bool,

    /// The type of values that are not lists [default: secure-string].
    #[arg(long = "type", value_name = "TYPE")]
    pub param_type: Option<String>,

    /// Write new versions of parameters that exist (of the same type).
    #[arg(long)]
    pub overwrite: bool,

    /// Encrypt secure values with this key [default: the store key, local:params].
    #[arg(short = 'k', long = "key", value_name = "KEYREF")]
    pub key: Option<String>,
}

/// Flags of `cp` and `mv`.
#[derive(Debug, Args)]
pub struct CopyArgs {
    /// The parameter (with -r, the path) to copy.
    #[arg(value_name = "SRC", add = crate::complete::names())]
    pub src: String,

    /// The new name (with -r, the path the names below SRC go below).
    #[arg(value_name = "DST", add = crate::complete::names())]
    pub dst: String,

    /// Every parameter at any depth below the path SRC.
    #[arg(short, long)]
    pub recursive: bool,

    /// Write new versions of names that exist (of the same type).
    #[arg(long)]
    pub overwrite: bool,
}
