//! The settings of `init` and the key verbs.

use crate::cli::{InitArgs, KeyCommand};
use crate::report::CliError;
use coffer::keyref::KeyRef;
use coffer::store::KeySpec;

/// `coffer init`.
#[derive(Debug)]
pub struct InitSettings {
    /// `--passphrase`.
    pub passphrase: bool,
    /// `--root kms:KEY`: the KMS key (as given).
    pub kms: Option<String>,
    /// `--root pkcs11:…`: the key on a token.
    pub pkcs11: Option<Box<coffer::keyref::Pkcs11KeyRef>>,
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
        on_token: Option<Box<coffer::keyref::Pkcs11KeyRef>>,
        /// `--root`: a root of its own (`local`, `kms:KEY`, `pkcs11:…`).
        root: Option<String>,
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

pub(super) fn init(a: &InitArgs) -> anyhow::Result<InitSettings> {
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

pub(super) fn key_name(name: String) -> Result<String, coffer::error::Error> {
    coffer::store::validate_name(&name)?;
    Ok(name)
}

pub(super) fn key(k: KeyCommand) -> anyhow::Result<KeySettings> {
    Ok(match k {
        KeyCommand::Create {
            name,
            spec,
            rotation_period,
            on_token,
            root,
        } => KeySettings::Create {
            name: key_name(name)?,
            root,
            on_token: on_token.as_deref().map(token_uri).transpose()?,
            spec: KeySpec::parse(&spec)?,
            rotation_period_secs: rotation_period
                .as_deref()
                .map(|d| {
                    coffer::time::parse_bounded(d, coffer::time::ROTATION_PERIOD).map_err(|e| {
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
pub(super) fn token_uri(uri: &str) -> anyhow::Result<Box<coffer::keyref::Pkcs11KeyRef>> {
    let Some(rest) = uri.strip_prefix("pkcs11:") else {
        return Err(
            CliError::usage("--in takes a PKCS#11 token: pkcs11:token=LABEL?…")
                .hint("for example --in 'pkcs11:token=prod?pin-source=file:/run/pin'")
                .into(),
        );
    };
    coffer::keyref::Pkcs11KeyRef::parse_token(rest)
        .map(Box::new)
        .map_err(|e| CliError::usage(format!("--in: {e}")).into())
}

/// `key set-rotation`'s period: a duration, or `off`.
pub(super) fn rotation_period(period: &str) -> anyhow::Result<Option<u64>> {
    if period == "off" {
        return Ok(None);
    }
    coffer::time::parse_bounded(period, coffer::time::ROTATION_PERIOD)
        .map(Some)
        .map_err(|e| anyhow::Error::new(e).context(format!("key set-rotation {period}")))
}
