//! `coffer rewrap`: new encrypted data keys for unsigned messages, bodies untouched.
//!
//! The data key is unwrapped with the `--from` keys (default: the local keyring), wrapped
//! again with the `--key` keys (a local key uses its active version), and the header tag is
//! recomputed ([`coffer_core::ReadyToDecrypt::rewrap`]). The new header and the old body go
//! to a temporary file that replaces the output (which may be the input) only when complete.
//! Rewrapping in place through a symbolic link replaces the file the link leads to (the link
//! stays), so no copy under the old keys is left behind. With `-r`, nothing is created through
//! a symbolic link below the output directory ([`Place::in_tree`]).

use std::io::{self, Write as _};
use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use coffer_core::cmm::DefaultCmm;
use coffer_core::keyring::{HierarchicalKeyring, Keyring};
use coffer_core::{CommitmentPolicy, DecryptConfig, Decryptor};
use serde::Serialize;

use super::file_run::Tally;
use crate::cli::OutputFormat;
use crate::config::{RewrapSettings, Settings};
use crate::io::{self as cio, AtomicFile, Input, OutDir, Output, OutputFile, Place};
use crate::output::{DataKeyWire, SCHEMA, SuiteWire};
use crate::report::CliError;
use crate::tree;
use coffer::keyref::Purpose;
use coffer::keys::{self, LocalKeys};

/// One rewrapped message (`--output json`).
#[derive(Debug, Serialize)]
struct RewrapWire {
    #[serde(rename = "type")]
    kind: &'static str,
    schema: u32,
    input: String,
    output: String,
    suite: SuiteWire,
    message_id: String,
    encrypted_data_keys: Vec<DataKeyWire>,
}

/// The keys of a run: what unwraps, what wraps.
struct Keys {
    from: DefaultCmm,
    to: Arc<dyn Keyring>,
    cfg: DecryptConfig,
}

/// Runs `coffer rewrap`.
pub async fn run(settings: &Settings, s: &RewrapSettings) -> anyhow::Result<()> {
    // One local store (one passphrase prompt) for both sides.
    let mut local = LocalKeys::new(|| settings.home(), crate::terminal::passphrase());
    let to = keys::combine(
        s.keys
            .iter()
            .map(|k| keys::keyring(k, Purpose::Encrypt, &mut local, "--key"))
            .collect::<Result<Vec<_>, _>>()?,
        Purpose::Encrypt,
    )?;
    let from: Arc<dyn Keyring> = if s.from.is_empty() {
        Arc::new(HierarchicalKeyring::any_branch_key(local.store().context(
            "rewrap unwraps with the local keyring unless --from names the keys",
        )?))
    } else {
        keys::combine(
            s.from
                .iter()
                .map(|k| keys::keyring(k, Purpose::Decrypt, &mut local, "--key"))
                .collect::<Result<Vec<_>, _>>()?,
            Purpose::Decrypt,
        )?
    };
    let keys = Keys {
        from: DefaultCmm::new(from),
        to,
        // The suite stays what it is: any message that decrypts may be rewrapped. The body is
        // copied as it is, never buffered: any frame length will do.
        cfg: DecryptConfig::default()
            .with_commitment_policy(CommitmentPolicy::RequireEncryptAllowDecrypt)
            .with_max_frame_length(u32::MAX),
    };
    if !s.recursive {
        if s.input.is_dir() {
            return Err(CliError::usage(format!(
                "{} is a directory: use -r to rewrap the messages below it",
                s.input.display()
            ))
            .into());
        }
        return rewrap_one(settings, &keys, &s.input, &s.output, None, s.force).await;
    }
    if !s.input.is_dir() {
        return Err(CliError::usage(format!(
            "-r needs an input directory: {} is not one",
            s.input.display()
        ))
        .into());
    }
    let in_place = same_file(&s.input, &s.output);
    if !in_place {
        tree::check_not_nested(&s.input, &s.output)?;
    }
    let files = tree::walk(&s.input, &tree::Links::Skip)
        .with_context(|| format!("cannot read the directory {}", s.input.display()))?;
    // The output directory itself is the user's to choose, a link included; nothing below it.
    tree::create_dir_all(&s.output)
        .with_context(|| format!("cannot create the directory {}", s.output.display()))?;
    let root = OutDir::open(&s.output)
        .with_context(|| format!("cannot open the directory {}", s.output.display()))?;
    let mut tally = Tally::default();
    for rel in files {
        let is_message = rel
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.ends_with(tree::SUFFIX) && n.len() > tree::SUFFIX.len());
        if !is_message {
            tracing::warn!(file = %s.input.join(&rel).display(), "skipped: no {} suffix", tree::SUFFIX);
            continue;
        }
        let output = s.output.join(&rel);
        let result = async {
            // In place, each output is its own input: replacing it needs no --force.
            let place = Place::in_tree(&root, &rel, s.force || in_place)?;
            rewrap_one(
                settings,
                &keys,
                &s.input.join(&rel),
                &output,
                Some(place),
                s.force,
            )
            .await
        }
        .await;
        tally.record(settings, result)?;
    }
    tally.finish()
}

/// Whether `a` and `b` name the same file (`b` may not exist yet).
fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

/// Rewraps `input` into `output` (which may be `input`), or into `place` (checked already) in
/// a directory run.
async fn rewrap_one(
    settings: &Settings,
    keys: &Keys,
    input: &Path,
    output: &Path,
    place: Option<Place>,
    force: bool,
) -> anyhow::Result<()> {
    let cannot = || format!("cannot rewrap {}", input.display());
    let in_place = same_file(input, output);
    if !in_place && place.is_none() {
        cio::check_output(output, force)?;
    }
    let mut reader = Input::File(input.to_path_buf()).open()?;
    let parsed = Decryptor::new(keys.cfg.clone())
        .read_header(&mut reader)
        .with_context(cannot)?;
    let ready = parsed
        .obtain_materials(&keys.from, None)
        .await
        .with_context(cannot)?;
    if ready.suite().is_signing() {
        return Err(CliError::failure(format!(
            "cannot rewrap {}: suite {} is signed, and the signature covers the data keys",
            input.display(),
            ready.suite().name()
        ))
        .hint("decrypt it and encrypt it again (which also gives it a new data key)")
        .into());
    }
    let header = ready.rewrap(keys.to.as_ref()).await.with_context(cannot)?;
    // What the new header says (parsed back: it is what readers will see).
    let new = coffer_core::inspect(&mut header.as_slice()).with_context(cannot)?;
    // Replacing the input itself needs no --force; another existing file does. In place, the
    // file replaced is the input's real file, not a link that leads to it.
    let mut out = match place {
        Some(place) => OutputFile::create_at(place, force || in_place)?,
        None if in_place => {
            let real = std::fs::canonicalize(input)
                .with_context(|| format!("cannot open {}", input.display()))?;
            OutputFile::Atomic(AtomicFile::create(&real, true)?)
        }
        None => cio::open_output(output, force)?,
    };
    let written = (|| -> io::Result<u64> {
        out.write_all(&header)?;
        io::copy(&mut reader, &mut out)
    })();
    written.with_context(|| format!("cannot write {}", output.display()))?;
    out.commit()?;
    let wire = RewrapWire {
        kind: "rewrap",
        schema: SCHEMA,
        input: input.display().to_string(),
        output: output.display().to_string(),
        suite: SuiteWire::from(new.suite),
        message_id: hex::encode(&new.message_id),
        encrypted_data_keys: new.edks.iter().map(DataKeyWire::from).collect(),
    };
    let line = match settings.format {
        OutputFormat::Json => serde_json::to_string(&wire)?,
        OutputFormat::Text => {
            let keys: Vec<String> = wire
                .encrypted_data_keys
                .iter()
                .map(|k| {
                    format!(
                        "{} {}",
                        k.provider_id,
                        k.key_name.as_deref().unwrap_or("(binary info)")
                    )
                })
                .collect();
            format!(
                "rewrapped {} -> {}: {}",
                wire.input,
                wire.output,
                keys.join(", ")
            )
        }
    };
    cio::append_line(&Output::Stdout { explicit: true }, &line)?;
    Ok(())
}
