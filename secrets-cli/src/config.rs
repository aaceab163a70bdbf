//! Resolved, validated settings (ripgrep's high-args): built from [`Cli`] before any command
//! runs. Commands take these, never the raw clap structs.
//!
//! Everything that can be checked without touching files is checked here and reported as a
//! usage error (exit 2): key reference syntax, context pairs, suite names, flag combinations.

use std::path::PathBuf;

use crate::cli::{Cli, Command, OutputFormat};
use crate::report::CliError;
use coffer::home::Home;
use coffer::keyref::KeyRef;
use coffer::params::{ParamName, ParamPath, Selector, Which};

mod files;
mod keys;
mod params;
mod policy;
mod role;
mod rotate;

pub use coffer::store::{StoreLocation, StoreUrl};
pub use files::*;
pub use keys::*;
pub use params::*;
pub use policy::*;
pub use role::*;
pub use rotate::*;

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
    Exec(ExecSettings),
    /// `coffer export`.
    Export(ExportSettings),
    /// `coffer policy set|ls|rm`.
    Policy(PolicySettings),
    /// `coffer role create`.
    Role(RoleSettings),
    /// `coffer audit ls|verify`.
    Audit(crate::cli::AuditCommand),
    /// `coffer completions SHELL`.
    Completions(clap_complete::Shell),
    /// `coffer man`.
    Man,
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
            Command::Edit { name } => CommandSettings::Param(ParamSettings::Edit {
                name: ParamName::parse(&name)?,
            }),
            Command::Cp(a) => CommandSettings::Param(copy_settings(a, false)?),
            Command::Mv(a) => CommandSettings::Param(copy_settings(a, true)?),
            Command::Import(a) => {
                CommandSettings::Param(ParamSettings::Import(import_settings(a)?))
            }
            Command::Rotate(a) => CommandSettings::Rotate(rotate(a)?),
            Command::Get(a) => CommandSettings::Param(ParamSettings::Get {
                selector: Selector::parse(&a.selector)?,
                keys: parse_keys(&a.keys)?,
            }),
            Command::Ls(a) => CommandSettings::Param(ParamSettings::Ls {
                path: ParamPath::parse(a.path.as_deref().unwrap_or("/"))?,
                recursive: a.recursive,
                long: a.long,
                deleted: a.deleted,
            }),
            Command::Find(a) => CommandSettings::Param(ParamSettings::Find {
                path: ParamPath::parse(a.path.as_deref().unwrap_or("/"))?,
                tags: find_tags(&a.tags)?,
                long: a.long,
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
            Command::Rollback { name, to } => CommandSettings::Param(ParamSettings::Rollback {
                name: ParamName::parse(&name)?,
                to,
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
            Command::Exec(a) => CommandSettings::Exec(ExecSettings {
                selection: selection(a.selection)?,
                pristine: a.pristine,
                command: a.command,
            }),
            Command::Export(a) => CommandSettings::Export(ExportSettings {
                selection: selection(a.selection)?,
                format: a.format,
            }),
            Command::Policy(a) => CommandSettings::Policy(policy_settings(a)?),
            Command::Role(a) => CommandSettings::Role(role_settings(a)?),
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
    pub fn home(&self) -> Result<Home, coffer::error::Error> {
        Home::resolve(self.home_flag.as_deref())
    }

    /// The parameter store: `--store`, else `COFFER_STORE`, else the SQLite store of the
    /// home (`sqlite://$COFFER_HOME/coffer.db`).
    ///
    /// # Errors
    /// A URL of an unknown or unsupported kind (usage); no home.
    pub fn store_location(&self) -> anyhow::Result<StoreLocation> {
        let (url, from) = match &self.store_flag {
            Some(url) => (url.clone(), "--store"),
            None => match std::env::var("COFFER_STORE").ok().filter(|v| !v.is_empty()) {
                Some(url) => (url, "COFFER_STORE"),
                None => {
                    let home = self.home()?;
                    return Ok(StoreLocation::Sqlite(home.store_path()));
                }
            },
        };
        Ok(StoreLocation::parse(&url).map_err(|e| CliError::usage(from).caused_by_error(e))?)
    }

    /// Whether the command writes output files (through temporary files that an
    /// interruption must remove).
    pub fn writes_files(&self) -> bool {
        match &self.command {
            CommandSettings::Encrypt(e) => e.output.path().is_some(),
            CommandSettings::Decrypt(d) => d.output.path().is_some(),
            // Rotation runs hooks, which an interruption kills.
            CommandSettings::Rewrap(_) | CommandSettings::Rotate(_) => true,
            // The file being edited is removed on SIGTERM and SIGHUP.
            CommandSettings::Param(ParamSettings::Edit { .. }) => true,
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
            | CommandSettings::Policy(_)
            | CommandSettings::Audit(_)
            | CommandSettings::Role(RoleSettings { sql: false, .. })
            | CommandSettings::Exec(_) => false,
            CommandSettings::Completions(_)
            | CommandSettings::Man
            | CommandSettings::Export(_)
            | CommandSettings::Role(RoleSettings { sql: true, .. }) => true,
        }
    }
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use coffer_core::AlgorithmSuite;

    use super::*;
    use crate::io::{Input, Output};
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
