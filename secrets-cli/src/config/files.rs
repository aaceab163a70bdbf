//! The settings of the file verbs: encrypt, decrypt, inspect, rewrap.

use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};

use coffer_core::{AlgorithmSuite, CommitmentPolicy, EncryptionContext};

use crate::cli::{DecryptArgs, EncryptArgs, InspectArgs};
use crate::io::{Input, Output};
use crate::report::CliError;
use coffer::keyref::KeyRef;

use super::{parse_context, parse_keys};

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

/// Parses `--data-key-cache max-age=DURATION[,max-messages=N][,max-bytes=SIZE]`: DURATION is
/// a duration ([`coffer::time`]) of at most a day; SIZE is bytes, or a number with `K`, `M`,
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
            "max-age" => coffer::time::parse_bounded(value, coffer::time::CACHE_MAX_AGE)
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

pub(super) fn policy(s: &str) -> Result<CommitmentPolicy, CliError> {
    s.parse()
        .map_err(|e| CliError::usage(format!("--commitment-policy {s}: {e}")))
}

pub(super) fn max_edks(n: Option<u64>) -> Result<Option<u16>, CliError> {
    n.map(|n| {
        u16::try_from(n).map_err(|_| {
            CliError::usage(format!(
                "--max-encrypted-data-keys {n} is too large (a message holds at most 65535 data keys)"
            ))
        })
    })
    .transpose()
}

pub(super) fn metadata(p: Option<&Path>, output: &Output) -> Result<Option<Output>, CliError> {
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
pub(super) fn jobs(recursive: bool, n: Option<u16>) -> NonZeroUsize {
    match n.and_then(|n| NonZeroUsize::new(usize::from(n))) {
        Some(n) => n,
        None if recursive => std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN),
        None => NonZeroUsize::MIN,
    }
}

/// `-r` needs real directories on both sides.
pub(super) fn check_recursive(input: &Input, output: &Output) -> Result<(), CliError> {
    if input.path().is_none() || output.path().is_none() {
        return Err(
            CliError::usage("-r needs an input directory and an output directory")
                .hint("use -r -i DIR -o DIR"),
        );
    }
    Ok(())
}

pub(super) fn encrypt(a: EncryptArgs) -> anyhow::Result<EncryptSettings> {
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

pub(super) fn decrypt(a: DecryptArgs) -> anyhow::Result<DecryptSettings> {
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

pub(super) fn inspect(a: InspectArgs) -> anyhow::Result<InspectSettings> {
    let input = Input::from_arg(Some(&a.input));
    if a.recursive && input.path().is_none() {
        return Err(CliError::usage("inspect -r needs a directory, not stdin").into());
    }
    Ok(InspectSettings {
        input,
        recursive: a.recursive,
    })
}
