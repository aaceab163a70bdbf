//! The settings of `rotate`.

use crate::report::CliError;
use coffer::keyref::KeyRef;
use coffer::params::ParamName;

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
        request: Box<coffer::rotate::RotateRequest>,
        /// `--every`: `Some(Some(secs))` a schedule, `Some(None)` `off`.
        every: Option<Option<u64>>,
    },
    /// `rotate --due`.
    Due,
}

/// A hook's time limit: a duration within [`coffer::time::HOOK_TIMEOUT`].
pub(super) fn hook_timeout(s: &str) -> anyhow::Result<std::time::Duration> {
    let secs = coffer::time::parse_bounded(s, coffer::time::HOOK_TIMEOUT)
        .map_err(|e| anyhow::Error::new(e).context(format!("--hook-timeout {s}")))?;
    Ok(std::time::Duration::from_secs(secs))
}

pub(super) fn rotate(a: crate::cli::RotateArgs) -> anyhow::Result<RotateSettings> {
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
            coffer::time::parse_bounded(d, coffer::time::ROTATION_PERIOD)
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
        .map(coffer::rotate::GenSpec::parse)
        .transpose()
        .map_err(|e| CliError::usage(format!("--generate {}: {}", e.spec(), e.why())))?;
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
            request: Box::new(coffer::rotate::RotateRequest {
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
                prompt: crate::terminal::value_prompt(),
            }),
            every,
        },
        key,
    })
}
