//! Resolved, validated settings (ripgrep's high-args): built from [`Cli`] before any command
//! runs. Commands take these, never the raw clap structs.
//!
//! Everything that can be checked without touching files is checked here and reported as a
//! usage error (exit 2): key reference syntax, context pairs, suite names, flag combinations.

use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};

use coffer_core::{AlgorithmSuite, CommitmentPolicy, EncryptionContext};

use std::collections::BTreeMap;

use crate::cli::{
    Cli, Command, DecryptArgs, EncryptArgs, InitArgs, InspectArgs, KeyCommand, OutputFormat,
    PutArgs,
};
use crate::home::Home;
use crate::io::{Input, Output};
use crate::keyref::KeyRef;
use crate::params::{
    Expect, Label, ParamError, ParamName, ParamPath, ParamType, Selector, TypeRule, Which,
};
use crate::report::CliError;
use crate::store::KeySpec;

/// The resolved command line.
#[derive(Debug)]
pub struct Settings {
    /// `--output`.
    pub format: OutputFormat,
    /// `-q`: errors only, no progress bar.
    pub quiet: bool,
    /// `--home`, resolved against the environment by [`Settings::home`].
    pub home_flag: Option<PathBuf>,
    /// `--store`, resolved against `COFFER_STORE` by [`Settings::store_location`].
    pub store_flag: Option<String>,
    /// The verb.
    pub command: CommandSettings,
}

/// The resolved verb.
#[derive(Debug)]
pub enum CommandSettings {
    /// `coffer encrypt`.
    Encrypt(EncryptSettings),
    /// `coffer decrypt`.
    Decrypt(DecryptSettings),
    /// `coffer inspect`.
    Inspect(InspectSettings),
    /// `coffer rewrap`.
    Rewrap(RewrapSettings),
    /// `coffer init`.
    Init(InitSettings),
    /// `coffer key …`.
    Key(KeySettings),
    /// `coffer put|get|ls|history|label|unlabel|rm|restore|destroy`.
    Param(ParamSettings),
    /// `coffer rotate NAME`.
    Rotate(RotateSettings),
    /// `coffer exec`.
    Exec(crate::commands::exec::ExecSettings),
    /// `coffer export`.
    Export(crate::commands::exec::ExportSettings),
    /// `coffer audit ls|verify`.
    Audit(crate::cli::AuditCommand),
    /// `coffer completions SHELL`.
    Completions(clap_complete::Shell),
    /// `coffer man`.
    Man,
}

/// `coffer encrypt`.
#[derive(Debug)]
pub struct EncryptSettings {
    /// The keys; the first is the generator.
    pub keys: Vec<KeyRef>,
    /// Plaintext.
    pub input: Input,
    /// Message.
    pub output: Output,
    /// The context to store.
    pub context: EncryptionContext,
    /// `None`: the policy's default suite.
    pub suite: Option<AlgorithmSuite>,
    /// Frame length.
    pub frame_length: u32,
    /// Commitment policy.
    pub policy: CommitmentPolicy,
    /// Limit on data keys.
    pub max_edks: Option<u16>,
    /// `--force`.
    pub force: bool,
    /// `--metadata-output`.
    pub metadata: Option<Output>,
    /// `-r`: input and output are directories.
    pub recursive: bool,
    /// `-j`: files processed at once with `-r`.
    pub jobs: NonZeroUsize,
    /// `-L`: follow symbolic links with `-r`.
    pub follow_symlinks: bool,
    /// `--data-key-cache`: reuse data keys within these limits.
    pub data_key_cache: Option<coffer_cache::Limits>,
}

/// `coffer decrypt`.
#[derive(Debug)]
pub struct DecryptSettings {
    /// The keys; any may unwrap.
    pub keys: Vec<KeyRef>,
    /// Message.
    pub input: Input,
    /// Plaintext.
    pub output: Output,
    /// Pairs the message's context must contain.
    pub required_context: Vec<(String, String)>,
    /// Commitment policy.
    pub policy: CommitmentPolicy,
    /// Limit on data keys.
    pub max_edks: Option<u16>,
    /// `--max-frame-size`.
    pub max_frame: u32,
    /// `--unsigned-only`.
    pub unsigned_only: bool,
    /// `--buffer`.
    pub buffer: bool,
    /// `--force`.
    pub force: bool,
    /// `--metadata-output`.
    pub metadata: Option<Output>,
    /// `-r`: input and output are directories.
    pub recursive: bool,
    /// `-j`: files processed at once with `-r`.
    pub jobs: NonZeroUsize,
    /// `-L`: follow symbolic links with `-r`.
    pub follow_symlinks: bool,
}

/// `coffer inspect`.
#[derive(Debug)]
pub struct InspectSettings {
    /// The message.
    pub input: Input,
    /// `-r`: the input is a directory.
    pub recursive: bool,
}

/// `coffer rewrap`.
#[derive(Debug)]
pub struct RewrapSettings {
    /// The message (or directory).
    pub input: PathBuf,
    /// The output (or directory); may equal `input`.
    pub output: PathBuf,
    /// The new keys; the first is the generator.
    pub keys: Vec<KeyRef>,
    /// The keys that may unwrap; empty: the local keyring.
    pub from: Vec<KeyRef>,
    /// `-r`.
    pub recursive: bool,
    /// `--force`.
    pub force: bool,
}

/// `coffer init`.
#[derive(Debug)]
pub struct InitSettings {
    /// `--passphrase`.
    pub passphrase: bool,
    /// `--root kms:KEY`: the KMS key (as given).
    pub kms: Option<String>,
    /// `--root pkcs11:…`: the key on a token.
    pub pkcs11: Option<Box<crate::keyref::Pkcs11KeyRef>>,
}

/// `coffer key …`.
#[derive(Debug)]
pub enum KeySettings {
    /// `key create`.
    Create {
        /// Validated name.
        name: String,
        /// The spec.
        spec: KeySpec,
        /// `--rotation-period`, in seconds.
        rotation_period_secs: Option<u64>,
        /// `--in pkcs11:…`: make the key on this token instead.
        on_token: Option<Box<crate::keyref::Pkcs11KeyRef>>,
    },
    /// `key list`.
    List,
    /// `key show`.
    Show {
        /// Validated name.
        name: String,
    },
    /// `key enable` (`true`) or `key disable` (`false`).
    SetEnabled {
        /// Validated name.
        name: String,
        /// Enable or disable.
        enabled: bool,
    },
    /// `key rotate NAME`.
    Rotate {
        /// Validated name.
        name: String,
    },
    /// `key rotate --due`.
    RotateDue,
    /// `key rotate --root [--to KEYREF]`.
    RotateRoot {
        /// The new root (`kms:KEY`); `None`: a new local key.
        to: Option<String>,
    },
    /// `key set-rotation NAME DURATION|off`.
    SetRotation {
        /// Validated name.
        name: String,
        /// The period in seconds; `None` for `off`.
        period_secs: Option<u64>,
    },
    /// `key retire NAME --below-version N`.
    Retire {
        /// Validated name.
        name: String,
        /// The new minimum decryption version (1 or more).
        below_version: u32,
    },
}

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

/// The parameter verbs.
#[derive(Debug)]
pub enum ParamSettings {
    /// `put`.
    Put(PutSettings),
    /// `get NAME[:VERSION|:LABEL]`.
    Get {
        /// Which version.
        selector: Selector,
        /// `--key`.
        keys: Vec<KeyRef>,
    },
    /// `ls [PATH] [-r]`.
    Ls {
        /// The path.
        path: ParamPath,
        /// `-r`.
        recursive: bool,
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
    /// `destroy NAME[:VERSION]`.
    Destroy {
        /// The parameter.
        name: ParamName,
        /// `None`: the whole parameter.
        version: Option<u32>,
    },
}

impl Settings {
    /// Resolves and validates the command line.
    pub fn from_cli(cli: Cli) -> Result<Self, anyhow::Error> {
        let command = match cli.command {
            Command::Encrypt(a) => CommandSettings::Encrypt(encrypt(a)?),
            Command::Decrypt(a) => CommandSettings::Decrypt(decrypt(a)?),
            Command::Inspect(a) => CommandSettings::Inspect(inspect(a)?),
            Command::Rewrap(a) => CommandSettings::Rewrap(RewrapSettings {
                input: a.input,
                output: a.out,
                keys: parse_keys(&a.keys)?,
                from: parse_keys(&a.from)?,
                recursive: a.recursive,
                force: a.force,
            }),
            Command::Init(a) => CommandSettings::Init(init(&a)?),
            Command::Key(k) => CommandSettings::Key(key(k)?),
            Command::Put(a) => CommandSettings::Param(ParamSettings::Put(put(a)?)),
            Command::Rotate(a) => CommandSettings::Rotate(rotate(a)?),
            Command::Get(a) => CommandSettings::Param(ParamSettings::Get {
                selector: Selector::parse(&a.selector)?,
                keys: parse_keys(&a.keys)?,
            }),
            Command::Ls(a) => CommandSettings::Param(ParamSettings::Ls {
                path: ParamPath::parse(a.path.as_deref().unwrap_or("/"))?,
                recursive: a.recursive,
            }),
            Command::History { name } => CommandSettings::Param(ParamSettings::History {
                name: ParamName::parse(&name)?,
            }),
            Command::Label { selector, labels } => {
                let sel = Selector::parse(&selector)?;
                let Which::Version(version) = sel.which else {
                    return Err(CliError::usage(format!(
                        "label {selector}: give the version as NAME:VERSION"
                    ))
                    .hint("for example: coffer label /app/db:3 current")
                    .into());
                };
                CommandSettings::Param(ParamSettings::Label {
                    name: sel.name,
                    version,
                    labels: parse_labels(&labels)?,
                })
            }
            Command::Unlabel { name, labels } => CommandSettings::Param(ParamSettings::Unlabel {
                name: ParamName::parse(&name)?,
                labels: parse_labels(&labels)?,
            }),
            Command::Rm { name } => CommandSettings::Param(ParamSettings::Rm {
                name: ParamName::parse(&name)?,
            }),
            Command::Restore { name } => CommandSettings::Param(ParamSettings::Restore {
                name: ParamName::parse(&name)?,
            }),
            Command::Destroy { selector } => {
                let sel = Selector::parse(&selector)?;
                let version = match sel.which {
                    Which::Latest => None,
                    Which::Version(v) => Some(v),
                    Which::Label(_) => {
                        return Err(CliError::usage(format!(
                            "destroy {selector}: give NAME or NAME:VERSION, not a label"
                        ))
                        .into());
                    }
                };
                CommandSettings::Param(ParamSettings::Destroy {
                    name: sel.name,
                    version,
                })
            }
            Command::Exec(a) => CommandSettings::Exec(crate::commands::exec::ExecSettings {
                selection: selection(a.selection)?,
                pristine: a.pristine,
                command: a.command,
            }),
            Command::Export(a) => CommandSettings::Export(crate::commands::exec::ExportSettings {
                selection: selection(a.selection)?,
                format: a.format,
            }),
            Command::Audit(a) => CommandSettings::Audit(a),
            Command::Completions { shell } => CommandSettings::Completions(shell),
            Command::Man => CommandSettings::Man,
        };
        Ok(Self {
            format: cli.output,
            quiet: cli.quiet,
            home_flag: cli.home,
            store_flag: cli.store,
            command,
        })
    }

    /// `COFFER_HOME`: `--home`, else the environment (see [`Home::resolve`]).
    ///
    /// # Errors
    /// Nothing names a home.
    pub fn home(&self) -> Result<Home, CliError> {
        Home::resolve(self.home_flag.as_deref())
    }

    /// The parameter store: `--store`, else `COFFER_STORE`, else the SQLite store of the
    /// home (`sqlite://$COFFER_HOME/coffer.db`).
    ///
    /// # Errors
    /// A URL of an unknown or unsupported kind (usage); no home.
    pub fn store_location(&self) -> Result<StoreLocation, CliError> {
        let url = self
            .store_flag
            .clone()
            .or_else(|| std::env::var("COFFER_STORE").ok().filter(|v| !v.is_empty()));
        let Some(url) = url else {
            return Ok(StoreLocation::Sqlite(self.home()?.store_path()));
        };
        StoreLocation::parse(&url)
    }

    /// Whether the command writes output files (through temporary files that an
    /// interruption must remove).
    pub fn writes_files(&self) -> bool {
        match &self.command {
            CommandSettings::Encrypt(e) => e.output.path().is_some(),
            CommandSettings::Decrypt(d) => d.output.path().is_some(),
            // Rotation runs hooks, which an interruption kills.
            CommandSettings::Rewrap(_) | CommandSettings::Rotate(_) => true,
            _ => false,
        }
    }

    /// Whether stdout carries data (so a JSON error object must not go there).
    pub fn stdout_is_data(&self) -> bool {
        match &self.command {
            CommandSettings::Encrypt(e) => e.output.is_stdout(),
            CommandSettings::Decrypt(d) => d.output.is_stdout(),
            CommandSettings::Inspect(_)
            | CommandSettings::Rewrap(_)
            | CommandSettings::Init(_)
            | CommandSettings::Key(_)
            | CommandSettings::Param(_)
            | CommandSettings::Rotate(_)
            | CommandSettings::Audit(_)
            | CommandSettings::Exec(_) => false,
            CommandSettings::Completions(_) | CommandSettings::Man | CommandSettings::Export(_) => {
                true
            }
        }
    }
}

/// Where the parameter store is (`--store`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// `sqlite://PATH`: an SQLite store file.
    Sqlite(PathBuf),
    /// `postgres://…` (or `postgresql://…`): a PostgreSQL database.
    Postgres(StoreUrl),
}

/// A database URL, which may hold a password: `Debug` shows the scheme only.
#[derive(Clone, PartialEq, Eq)]
pub struct StoreUrl(zeroize::Zeroizing<String>);

impl StoreUrl {
    /// The URL, password and all (to connect with; never for messages).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for StoreUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreUrl(postgres://[redacted])")
    }
}

impl StoreLocation {
    /// Parses `sqlite://PATH` (`sqlite:///abs/coffer.db`, `sqlite://rel/coffer.db`) and
    /// `postgres://USER@HOST:PORT/DATABASE`.
    ///
    /// # Errors
    /// Other schemes (usage errors; `postgres://` in a build without the `postgres`
    /// feature).
    pub fn parse(url: &str) -> Result<Self, CliError> {
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(CliError::usage(format!("--store {url}: no file path")));
            }
            return Ok(Self::Sqlite(PathBuf::from(path)));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            if cfg!(feature = "postgres") {
                return Ok(Self::Postgres(StoreUrl(zeroize::Zeroizing::new(
                    url.to_owned(),
                ))));
            }
            return Err(CliError::usage(
                "--store postgres://…: this build has no PostgreSQL support",
            )
            .hint("build coffer with its default features (the `postgres` feature)"));
        }
        let scheme = url.split_once("://").map_or("", |(s, _)| s);
        Err(CliError::usage(format!(
            "--store: unknown store URL scheme `{}`",
            scheme.escape_debug()
        ))
        .hint("store URLs are sqlite://PATH and postgres://USER@HOST:PORT/DATABASE"))
    }
}

fn parse_labels(raw: &[String]) -> Result<Vec<Label>, ParamError> {
    let mut out: Vec<Label> = Vec::with_capacity(raw.len());
    for l in raw {
        let l = Label::parse(l)?;
        if !out.contains(&l) {
            out.push(l);
        }
    }
    Ok(out)
}

/// `coffer rotate NAME` or `coffer rotate --due`.
#[derive(Debug)]
pub struct RotateSettings {
    /// What to do.
    pub mode: RotateMode,
    /// `--key`, parsed, and as given.
    pub key: Option<(KeyRef, String)>,
}

/// What `coffer rotate` does.
#[derive(Debug)]
pub enum RotateMode {
    /// `rotate NAME`.
    One {
        /// The rotation.
        request: crate::rotate::RotateRequest,
        /// `--every`: `Some(Some(secs))` a schedule, `Some(None)` `off`.
        every: Option<Option<u64>>,
    },
    /// `rotate --due`.
    Due,
}

/// A hook's time limit: a duration within [`crate::time::HOOK_TIMEOUT`].
fn hook_timeout(s: &str) -> anyhow::Result<std::time::Duration> {
    let secs = crate::time::parse_bounded(s, crate::time::HOOK_TIMEOUT)
        .map_err(|e| anyhow::Error::new(e).context(format!("--hook-timeout {s}")))?;
    Ok(std::time::Duration::from_secs(secs))
}

fn rotate(a: crate::cli::RotateArgs) -> anyhow::Result<RotateSettings> {
    if a.due {
        return Ok(RotateSettings {
            mode: RotateMode::Due,
            key: None,
        });
    }
    let Some(name) = a.name.as_deref() else {
        return Err(CliError::usage("rotate takes NAME or --due").into());
    };
    let every = match a.every.as_deref() {
        None => None,
        Some("off") => Some(None),
        Some(d) => Some(Some(
            crate::time::parse_bounded(d, crate::time::ROTATION_PERIOD)
                .map_err(|e| anyhow::Error::new(e).context(format!("--every {d}")))?,
        )),
    };
    if matches!(every, Some(Some(_))) && a.key.is_some() {
        return Err(CliError::usage(
            "a rotation schedule encrypts under the store key: --key cannot be stored with it",
        )
        .into());
    }
    if matches!(every, Some(Some(_))) && (a.generate.is_none() || a.value_file.is_some()) {
        return Err(CliError::usage(
            "a rotation schedule needs --generate SPEC: scheduled rotations read no stdin",
        )
        .into());
    }
    let value_given = a.value_file.is_some();
    let explicit = a.generate.is_some()
        || a.value_file.is_some()
        || a.set_hook.is_some()
        || a.test_hook.is_some();
    let generate = a
        .generate
        .as_deref()
        .map(crate::rotate::GenSpec::parse)
        .transpose()
        .map_err(|e| CliError::usage(e.to_string()))?;
    let key = a
        .key
        .map(|k| {
            k.parse::<KeyRef>()
                .map_err(|e| anyhow::Error::new(e).context(format!("--key {k}")))
                .map(|r| (r, k))
        })
        .transpose()?;
    Ok(RotateSettings {
        mode: RotateMode::One {
            request: crate::rotate::RotateRequest {
                name: ParamName::parse(name)?,
                generate,
                value_file: a.value_file.filter(|p| p.as_os_str() != "-"),
                set_hook: a.set_hook,
                test_hook: a.test_hook,
                hook_timeout: hook_timeout(&a.hook_timeout)?,
                discard_pending: a.discard_pending,
                explicit,
                value_given,
                workdir: std::env::current_dir().map_err(|e| {
                    CliError::usage("cannot read the working directory (hooks run there)")
                        .caused_by(e.into())
                })?,
            },
            every,
        },
        key,
    })
}

fn put(a: PutArgs) -> anyhow::Result<PutSettings> {
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
            crate::time::parse_when(w, crate::time::now_unix())
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
fn selection(a: crate::cli::SelectionArgs) -> anyhow::Result<crate::commands::exec::Selection> {
    let paths = a
        .paths
        .iter()
        .map(|p| ParamPath::parse(p))
        .collect::<Result<Vec<_>, _>>()?;
    let mut allow_vars = std::collections::BTreeSet::new();
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
    Ok(crate::commands::exec::Selection {
        paths,
        recursive: a.recursive,
        strict: a.strict,
        allow_vars,
        keys: parse_keys(&a.keys)?,
    })
}

/// Parses `--data-key-cache max-age=DURATION[,max-messages=N][,max-bytes=SIZE]`: DURATION is
/// a duration ([`crate::time`]) of at most a day; SIZE is bytes, or a number with `K`, `M`,
/// `G` (`KiB`, `MiB`, `GiB`: powers of 1024).
///
/// # Errors
/// A usage error naming what is wrong.
pub fn parse_data_key_cache(spec: &str) -> Result<coffer_cache::Limits, CliError> {
    let bad = |why: String| {
        CliError::usage(format!("--data-key-cache {}: {why}", spec.escape_debug())).hint(
            "the form is max-age=DURATION[,max-messages=N][,max-bytes=SIZE], for example \
             max-age=5m,max-messages=1000,max-bytes=1G",
        )
    };
    let mut age = None;
    let mut messages = None;
    let mut bytes = None;
    for part in spec.split(',') {
        let Some((key, value)) = part.split_once('=') else {
            return Err(bad(format!("`{part}` is not KEY=VALUE")));
        };
        let number = |v: &str| -> Result<u64, CliError> {
            v.parse::<u64>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| bad(format!("{key}={v}: expected a whole number above zero")))
        };
        let slot = match key {
            "max-age" => &mut age,
            "max-messages" => &mut messages,
            "max-bytes" => &mut bytes,
            _ => {
                return Err(bad(format!(
                    "unknown setting `{key}` (the settings are max-age, max-messages and \
                     max-bytes)"
                )));
            }
        };
        if slot.is_some() {
            return Err(bad(format!("{key} is given twice")));
        }
        *slot = Some(match key {
            "max-age" => crate::time::parse_bounded(value, crate::time::CACHE_MAX_AGE)
                .map_err(|e| bad(format!("max-age: {e}")))?,
            "max-bytes" => {
                let (digits, scale) = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)]
                    .into_iter()
                    .chain([("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)])
                    .find_map(|(suffix, scale)| value.strip_suffix(suffix).map(|d| (d, scale)))
                    .unwrap_or((value, 1));
                number(digits)?
                    .checked_mul(scale)
                    .ok_or_else(|| bad(format!("max-bytes={value} is too large")))?
            }
            _ => number(value)?,
        });
    }
    let age = age.ok_or_else(|| bad("max-age is required".into()))?;
    let mut limits = coffer_cache::Limits::new(std::time::Duration::from_secs(age));
    if let Some(n) = messages {
        limits.max_messages = n;
    }
    if let Some(n) = bytes {
        limits.max_bytes = n;
    }
    Ok(limits)
}

fn parse_keys(raw: &[String]) -> anyhow::Result<Vec<KeyRef>> {
    raw.iter()
        .map(|s| {
            s.parse::<KeyRef>()
                .map_err(|e| anyhow::Error::new(e).context(format!("--key {s}")))
        })
        .collect()
}

/// Splits `KEY=VALUE` at the first `=`.
pub fn parse_pair(s: &str) -> Result<(String, String), CliError> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(CliError::usage(format!(
            "bad encryption context pair `{s}`: expected KEY=VALUE"
        ))),
    }
}

/// Parses `-c` pairs: no duplicate keys; on encrypt, no reserved `aws-crypto-` keys.
pub fn parse_context(raw: &[String], encrypt: bool) -> Result<Vec<(String, String)>, CliError> {
    let mut pairs: Vec<(String, String)> = Vec::with_capacity(raw.len());
    for s in raw {
        let (k, v) = parse_pair(s)?;
        if encrypt && k.starts_with(coffer_core::context::RESERVED_PREFIX) {
            return Err(CliError::usage(format!(
                "encryption context key `{k}` uses the reserved prefix `{}`",
                coffer_core::context::RESERVED_PREFIX
            ))
            .hint("choose another key name; the SDK sets aws-crypto-* keys itself"));
        }
        if pairs.iter().any(|(pk, _)| *pk == k) {
            return Err(CliError::usage(format!(
                "encryption context key `{k}` given twice"
            )));
        }
        pairs.push((k, v));
    }
    Ok(pairs)
}

fn policy(s: &str) -> Result<CommitmentPolicy, CliError> {
    s.parse()
        .map_err(|e| CliError::usage(format!("--commitment-policy {s}: {e}")))
}

fn max_edks(n: Option<u64>) -> Result<Option<u16>, CliError> {
    n.map(|n| {
        u16::try_from(n).map_err(|_| {
            CliError::usage(format!(
                "--max-encrypted-data-keys {n} is too large (a message holds at most 65535 data keys)"
            ))
        })
    })
    .transpose()
}

fn metadata(p: Option<&Path>, output: &Output) -> Result<Option<Output>, CliError> {
    let Some(p) = p else { return Ok(None) };
    let m = Output::from_arg(Some(p));
    if m.is_stdout() && output.is_stdout() {
        return Err(CliError::usage(
            "--metadata-output - needs the output in a file (stdout already carries the data)",
        )
        .hint("add -o FILE, or give --metadata-output a file"));
    }
    if m.path().is_some() && m.path() == output.path() {
        return Err(CliError::usage(
            "--metadata-output and -o name the same file",
        ));
    }
    Ok(Some(m))
}

/// `-j N`, or one job per CPU; only looked up for `-r` (it reads cgroup files).
fn jobs(recursive: bool, n: Option<u16>) -> NonZeroUsize {
    match n.and_then(|n| NonZeroUsize::new(usize::from(n))) {
        Some(n) => n,
        None if recursive => std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN),
        None => NonZeroUsize::MIN,
    }
}

/// `-r` needs real directories on both sides.
fn check_recursive(input: &Input, output: &Output) -> Result<(), CliError> {
    if input.path().is_none() || output.path().is_none() {
        return Err(
            CliError::usage("-r needs an input directory and an output directory")
                .hint("use -r -i DIR -o DIR"),
        );
    }
    Ok(())
}

fn encrypt(a: EncryptArgs) -> anyhow::Result<EncryptSettings> {
    let data_key_cache = a
        .data_key_cache
        .as_deref()
        .map(parse_data_key_cache)
        .transpose()?;
    let keys = parse_keys(&a.keys)?;
    if let Some(k) = keys
        .iter()
        .find(|k| matches!(k, KeyRef::KmsDiscovery { .. }))
    {
        return Err(
            CliError::usage(format!("--key {k}: a discovery keyring only decrypts"))
                .hint("name the KMS key to encrypt with: --key kms:ARN or kms:alias/NAME")
                .into(),
        );
    }
    let suite = a
        .suite
        .as_deref()
        .map(|s| {
            s.parse::<AlgorithmSuite>().map_err(|e| {
                CliError::usage(format!("--suite {s}: {e}")).hint(
                    "give the hex id (e.g. 0578) or the ESDK name (e.g. AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384)",
                )
            })
        })
        .transpose()?;
    let policy = policy(&a.commitment_policy)?;
    if let Some((s, Err(e))) = suite.map(|s| (s, policy.check_encrypt(s))) {
        return Err(CliError::usage(format!("--suite {}: {e}", s.name()))
            .hint(if s.is_committing() {
                "committing suites need a policy other than forbid-encrypt-allow-decrypt"
            } else {
                "non-committing suites need --commitment-policy forbid-encrypt-allow-decrypt"
            })
            .into());
    }
    let context: EncryptionContext = parse_context(&a.context, true)?.into_iter().collect();
    let input = Input::from_arg(a.input.as_deref());
    let output = Output::from_arg(a.out.as_deref());
    let metadata = metadata(a.metadata_output.as_deref(), &output)?;
    if a.recursive {
        check_recursive(&input, &output)?;
    }
    Ok(EncryptSettings {
        keys,
        input,
        output,
        context,
        suite,
        frame_length: a.frame_size,
        policy,
        max_edks: max_edks(a.max_encrypted_data_keys)?,
        force: a.force,
        metadata,
        recursive: a.recursive,
        jobs: jobs(a.recursive, a.jobs),
        follow_symlinks: a.follow_symlinks,
        data_key_cache,
    })
}

fn decrypt(a: DecryptArgs) -> anyhow::Result<DecryptSettings> {
    // No --key: the local keyring, if COFFER_HOME has a store (checked when the command runs).
    let keys = parse_keys(&a.keys)?;
    let input = Input::from_arg(a.input.as_deref());
    let output = Output::from_arg(a.out.as_deref());
    let metadata = metadata(a.metadata_output.as_deref(), &output)?;
    if a.recursive {
        check_recursive(&input, &output)?;
    }
    Ok(DecryptSettings {
        keys,
        input,
        output,
        required_context: parse_context(&a.context, false)?,
        policy: policy(&a.commitment_policy)?,
        max_edks: max_edks(a.max_encrypted_data_keys)?,
        // 4 GiB and more: any frame (the format's longest is 4 GiB - 1).
        max_frame: u32::try_from(a.max_frame_size).unwrap_or(u32::MAX),
        unsigned_only: a.unsigned_only,
        buffer: a.buffer,
        force: a.force,
        metadata,
        recursive: a.recursive,
        jobs: jobs(a.recursive, a.jobs),
        follow_symlinks: a.follow_symlinks,
    })
}

fn init(a: &InitArgs) -> anyhow::Result<InitSettings> {
    let mut pkcs11 = None;
    let kms = match a.root.as_str() {
        "local" | "local:" => None,
        r if r.starts_with("kms:") => {
            let key = &r["kms:".len()..];
            if key.is_empty() || key == "discovery" || key.contains('?') {
                return Err(CliError::usage(format!("--root {r}: name one AWS KMS key"))
                    .hint("for example --root kms:alias/coffer-root or --root kms:arn:aws:kms:…")
                    .into());
            }
            if a.passphrase {
                return Err(CliError::usage(
                    "--passphrase protects a local root key; a KMS root has none",
                )
                .into());
            }
            Some(key.to_owned())
        }
        r if r.starts_with("pkcs11:") => {
            // The URI is never echoed: it may hold a PIN.
            let k = match r.parse::<KeyRef>() {
                Ok(KeyRef::Pkcs11(k)) => k,
                Ok(other) => {
                    return Err(
                        CliError::usage(format!("--root: {other} is not a PKCS#11 key")).into(),
                    );
                }
                Err(e) => return Err(CliError::usage(format!("--root: {e}")).into()),
            };
            k.check_recordable()
                .map_err(|e| CliError::usage(format!("--root: {e}")))?;
            if a.passphrase {
                return Err(CliError::usage(
                    "--passphrase protects a local root key; a PKCS#11 root has none",
                )
                .into());
            }
            pkcs11 = Some(k);
            None
        }
        r => {
            return Err(CliError::usage(format!("--root {r}: unknown root key"))
                .hint("the root is `local` (the default), kms:KEY or pkcs11:…")
                .into());
        }
    };
    Ok(InitSettings {
        passphrase: a.passphrase,
        kms,
        pkcs11,
    })
}

fn key_name(name: String) -> Result<String, CliError> {
    crate::store::validate_name(&name)?;
    Ok(name)
}

fn key(k: KeyCommand) -> anyhow::Result<KeySettings> {
    Ok(match k {
        KeyCommand::Create {
            name,
            spec,
            rotation_period,
            on_token,
        } => KeySettings::Create {
            name: key_name(name)?,
            on_token: on_token.as_deref().map(token_uri).transpose()?,
            spec: KeySpec::parse(&spec)?,
            rotation_period_secs: rotation_period
                .as_deref()
                .map(|d| {
                    crate::time::parse_bounded(d, crate::time::ROTATION_PERIOD).map_err(|e| {
                        anyhow::Error::new(e).context(format!("--rotation-period {d}"))
                    })
                })
                .transpose()?,
        },
        KeyCommand::List => KeySettings::List,
        KeyCommand::Show { name } => KeySettings::Show {
            name: key_name(name)?,
        },
        KeyCommand::Enable { name } => KeySettings::SetEnabled {
            name: key_name(name)?,
            enabled: true,
        },
        KeyCommand::Disable { name } => KeySettings::SetEnabled {
            name: key_name(name)?,
            enabled: false,
        },
        KeyCommand::Rotate {
            name,
            due,
            root,
            to,
        } => match (name, due, root) {
            (Some(name), false, false) => KeySettings::Rotate {
                name: key_name(name)?,
            },
            (None, true, false) => KeySettings::RotateDue,
            (None, false, true) => KeySettings::RotateRoot { to },
            // clap refuses the other combinations already.
            _ => {
                return Err(CliError::usage("key rotate takes one of: NAME, --due, --root").into());
            }
        },
        KeyCommand::SetRotation { name, period } => KeySettings::SetRotation {
            name: key_name(name)?,
            period_secs: rotation_period(&period)?,
        },
        KeyCommand::Retire {
            name,
            below_version,
        } => KeySettings::Retire {
            name: key_name(name)?,
            below_version,
        },
    })
}

/// `key create --in`'s token (the URI is never echoed: it may hold a PIN).
fn token_uri(uri: &str) -> anyhow::Result<Box<crate::keyref::Pkcs11KeyRef>> {
    let Some(rest) = uri.strip_prefix("pkcs11:") else {
        return Err(
            CliError::usage("--in takes a PKCS#11 token: pkcs11:token=LABEL?…")
                .hint("for example --in 'pkcs11:token=prod?pin-source=file:/run/pin'")
                .into(),
        );
    };
    crate::keyref::Pkcs11KeyRef::parse_token(rest)
        .map(Box::new)
        .map_err(|e| CliError::usage(format!("--in: {e}")).into())
}

/// `key set-rotation`'s period: a duration, or `off`.
fn rotation_period(period: &str) -> anyhow::Result<Option<u64>> {
    if period == "off" {
        return Ok(None);
    }
    crate::time::parse_bounded(period, crate::time::ROTATION_PERIOD)
        .map(Some)
        .map_err(|e| anyhow::Error::new(e).context(format!("key set-rotation {period}")))
}

fn inspect(a: InspectArgs) -> anyhow::Result<InspectSettings> {
    let input = Input::from_arg(Some(&a.input));
    if a.recursive && input.path().is_none() {
        return Err(CliError::usage("inspect -r needs a directory, not stdin").into());
    }
    Ok(InspectSettings {
        input,
        recursive: a.recursive,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;
    use clap::Parser;

    fn settings(args: &[&str]) -> anyhow::Result<Settings> {
        let mut v = vec!["coffer"];
        v.extend_from_slice(args);
        Settings::from_cli(Cli::try_parse_from(v).unwrap())
    }

    fn exit_code(r: anyhow::Result<Settings>) -> u8 {
        crate::report::report(&r.unwrap_err()).exit_code
    }

    #[test]
    fn data_key_cache_specs() {
        let l = parse_data_key_cache("max-age=5m,max-messages=1000,max-bytes=1G").unwrap();
        assert_eq!(l.max_age, std::time::Duration::from_secs(300));
        assert_eq!((l.max_messages, l.max_bytes), (1000, 1 << 30));
        let l = parse_data_key_cache("max-age=30s").unwrap();
        assert_eq!(l.max_age, std::time::Duration::from_secs(30));
        assert_eq!(l.max_messages, 1 << 32);
        assert_eq!(
            parse_data_key_cache("max-bytes=64KiB,max-age=1h")
                .unwrap()
                .max_bytes,
            65536
        );
        for bad in [
            "",
            "max-age",
            "max-age=0s",
            "max-age=5",
            "max-age=-1s",
            "max-age=1m,max-age=2m",
            "max-messages=5",
            "max-age=1m,max-messages=0",
            "max-age=1m,max-bytes=1T",
            "max-age=1m,max-bytes=99999999999999G",
            "max-age=1m,other=1",
        ] {
            let e = parse_data_key_cache(bad).unwrap_err();
            assert!(e.to_string().contains("--data-key-cache"), "{bad}: {e}");
        }
    }

    #[test]
    fn pairs() {
        assert_eq!(parse_pair("a=b=c").unwrap(), ("a".into(), "b=c".into()));
        assert_eq!(parse_pair("a=").unwrap(), ("a".into(), String::new()));
        assert!(parse_pair("=b").is_err());
        assert!(parse_pair("ab").is_err());
        assert!(parse_context(&["a=1".into(), "a=2".into()], false).is_err());
        let e = parse_context(&["aws-crypto-public-key=x".into()], true).unwrap_err();
        assert!(e.to_string().contains("reserved"), "{e}");
        assert!(parse_context(&["aws-crypto-public-key=x".into()], false).is_ok());
    }

    #[test]
    fn encrypt_settings() {
        let s = settings(&[
            "encrypt",
            "--key",
            "aes:k",
            "-c",
            "app=x",
            "--suite",
            "0478",
            "--commitment-policy",
            "require-encrypt-allow-decrypt",
            "-o",
            "out",
        ])
        .unwrap();
        let CommandSettings::Encrypt(e) = s.command else {
            panic!()
        };
        assert_eq!(e.suite.map(AlgorithmSuite::id), Some(0x0478));
        assert_eq!(e.context.get("app"), Some("x"));
        assert_eq!(e.output, Output::File("out".into()));
        assert_eq!(e.input, Input::Stdin);
        assert_eq!(e.frame_length, 4096);
    }

    #[test]
    fn usage_errors() {
        assert_eq!(
            exit_code(settings(&["encrypt", "--key", "kms:discovery"])),
            2
        );
        assert_eq!(exit_code(settings(&["encrypt", "--key", "aes:k", "-r"])), 2);
        assert_eq!(
            exit_code(settings(&["decrypt", "--key", "aes:k", "-r", "-i", "d"])),
            2
        );
        assert!(settings(&["decrypt", "--key", "aes:k", "-r", "-i", "d", "-o", "e"]).is_ok());
        assert_eq!(exit_code(settings(&["inspect", "-r"])), 2);
        let s = settings(&[
            "decrypt", "--key", "aes:k", "-r", "-i", "d", "-o", "e", "-j", "3",
        ]);
        let CommandSettings::Decrypt(d) = s.unwrap().command else {
            panic!()
        };
        assert_eq!(d.jobs.get(), 3);
        assert!(
            settings(&["decrypt"]).is_ok(),
            "the local keyring, checked at run time"
        );
        assert_eq!(exit_code(settings(&["init", "--root", "kms:discovery"])), 2);
        assert_eq!(exit_code(settings(&["init", "--root", "aes:k"])), 2);
        assert_eq!(exit_code(settings(&["key", "create", "a/b"])), 2);
        assert_eq!(
            exit_code(settings(&["key", "create", "a", "--spec", "rsa-3072"])),
            2
        );
        assert_eq!(
            exit_code(settings(&["key", "create", "a", "--rotation-period", "90"])),
            2
        );
        assert_eq!(exit_code(settings(&["key", "show", ""])), 2);
        assert_eq!(
            exit_code(settings(&["encrypt", "--key", "aes:k", "--suite", "zzz"])),
            2
        );
        // non-committing suite under the default policy
        assert_eq!(
            exit_code(settings(&["encrypt", "--key", "aes:k", "--suite", "0178"])),
            2
        );
        assert_eq!(
            exit_code(settings(&[
                "decrypt",
                "--key",
                "aes:k",
                "--metadata-output",
                "-"
            ])),
            2
        );
        assert!(
            settings(&[
                "decrypt",
                "--key",
                "aes:k",
                "--metadata-output",
                "-",
                "-o",
                "f"
            ])
            .is_ok()
        );
    }
}
