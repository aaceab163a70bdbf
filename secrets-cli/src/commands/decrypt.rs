//! `coffer decrypt`.
//!
//! To a file: frames are decrypted into a temporary file (`0600`, unnamed on Linux) that gets
//! the output name only once the whole message, signature included, has verified. To stdout,
//! and to an output written in place (a FIFO, a device, `/dev/stdout`: [`cio::open_output`]):
//! frames are written as they authenticate (`Release::PerFrame`), so a later failure leaves
//! unverified output behind, and the error says so; `--buffer` holds everything until the
//! signature verifies (`Release::AfterSignature`).

use std::io::{self, Write};
use std::sync::Arc;

use anyhow::Context as _;
use coffer_core::cmm::DefaultCmm;
use coffer_core::{DecryptConfig, Decryptor, EncryptionContext, ReadyToDecrypt, Release};

use super::file_run::{TreeJob, finish_one, message_threads, plan_tree};
use super::pool::run_tree;
use super::pump::{PumpError, pump_buffered};
use crate::config::{DecryptSettings, Settings};
use crate::io::{self as cio, Input, InputReader, Output, OutputFile, Place};
use crate::output::MetadataWire;
use crate::progress::Progress;
use crate::report::CliError;
use crate::tree::Direction;
use coffer::keyref::Purpose;
use coffer::keys;

/// Where the plaintext goes. No extra buffering layer: plaintext should not linger in buffers
/// that are not zeroized.
enum Sink {
    Stdout(io::StdoutLock<'static>),
    File(OutputFile),
}

impl Sink {
    /// Whether what is written is out at once (stdout, an output written in place), rather
    /// than in a file that gets its name only after verification.
    fn streams(&self) -> bool {
        match self {
            Self::Stdout(_) => true,
            Self::File(f) => f.is_in_place(),
        }
    }
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Self::Stdout(w) => w.write(buf),
            Self::File(w) => w.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::Stdout(w) => w.flush(),
            Self::File(w) => w.flush(),
        }
    }
}

/// How many keys a hint names at most.
const HINT_KEYS: usize = 5;

/// `a, b, c and 7 more`: at most [`HINT_KEYS`] of `names`, without repeats.
fn some_of(names: impl Iterator<Item = String>) -> String {
    let mut shown: Vec<String> = Vec::new();
    let mut more = 0usize;
    for name in names {
        if shown.contains(&name) {
            continue;
        }
        if shown.len() < HINT_KEYS {
            shown.push(name);
        } else {
            more += 1;
        }
    }
    let mut text = shown.join(", ");
    if more > 0 {
        text.push_str(&format!(" and {more} more"));
    }
    text
}

/// `namespace/name, …` of a message's data keys (a few of them), for hints.
fn wrapped_for(edks: &[coffer_core::EncryptedDataKey]) -> String {
    some_of(edks.iter().map(|k| {
        let name = crate::output::key_name(&k.provider_info)
            .unwrap_or_else(|| "(binary key info)".to_owned());
        format!("{}/{}", k.provider_id.escape_debug(), name.escape_debug())
    }))
}

/// What to tell a user whose keys cannot unwrap any of `edks`.
fn unwrap_hint(edks: &[coffer_core::EncryptedDataKey]) -> String {
    use coffer_core::keyring::hierarchy::{PROVIDER_ID, describe_edk};
    if !edks.is_empty() && edks.iter().all(|k| k.provider_id == PROVIDER_ID) {
        let names = some_of(
            edks.iter()
                .filter_map(|k| describe_edk(k).map(|(id, _)| id.escape_debug().to_string())),
        );
        return format!(
            "the message's data keys are wrapped under local key {names} (of the coffer home \
             that encrypted it); see a key with: coffer key show NAME"
        );
    }
    format!(
        "the message's data keys are wrapped for {}; a key reference matches one when its \
         namespace and name (?namespace=NS&name=NAME, default coffer and the key file's name) \
         are the same",
        wrapped_for(edks)
    )
}

/// Checks that `context` holds every required pair. The values are not printed.
pub(crate) fn check_required(
    context: &EncryptionContext,
    required: &[(String, String)],
) -> Result<(), CliError> {
    for (k, v) in required {
        match context.get(k) {
            Some(stored) if stored == v => {}
            Some(_) => {
                return Err(CliError::failure(format!(
                    "the message's encryption context has a different value for `{k}` than -c requires"
                ))
                .hint("see the message's context with: coffer inspect FILE"));
            }
            None => {
                return Err(CliError::failure(format!(
                    "the message's encryption context has no key `{k}` (required by -c)"
                ))
                .hint("see the message's context with: coffer inspect FILE"));
            }
        }
    }
    Ok(())
}

/// Decrypts `s.input` into `s.output` (or a directory tree with `-r`).
pub async fn run(settings: &Settings, s: &DecryptSettings) -> anyhow::Result<()> {
    cio::check_metadata(s.metadata.as_ref(), &s.input, &s.output)?;
    if !s.recursive {
        preflight(s, &s.input, &s.output)?;
    }
    let keyring = if s.keys.is_empty() {
        let home = settings.home()?;
        if !home.has_store() {
            return Err(CliError::usage("decrypt needs at least one --key KEYREF")
                .hint(format!(
                    "or set up the local keyring, which decrypt uses without --key: coffer init \
                     (no store in {home})"
                ))
                .into());
        }
        keys::local_keyring(&home, &crate::terminal::passphrase())?
    } else {
        keys::keyrings(
            &s.keys,
            Purpose::Decrypt,
            keys::LocalKeys::new(|| settings.home(), crate::terminal::passphrase()),
            "--key",
        )?
    };
    let cmm = DefaultCmm::new(keyring);
    let mut cfg = DecryptConfig::default()
        .with_commitment_policy(s.policy)
        .with_max_frame_length(s.max_frame)
        .with_unsigned_only(s.unsigned_only)
        .with_threads(message_threads(s.recursive, s.jobs));
    if let Some(n) = s.max_edks {
        // Whoever allows N data keys expects them to be tried.
        cfg = cfg
            .with_max_encrypted_data_keys(Some(n))
            .with_max_unwrap_attempts(Some(n));
    }

    let (Some(in_dir), Some(out_dir), true) = (s.input.path(), s.output.path(), s.recursive) else {
        let result = async {
            let reader = s.input.open()?;
            let ready = prepare(&cmm, &cfg, s, reader, &s.input, &s.output).await?;
            let progress = Progress::new(
                settings.quiet,
                ready.reader.file_len(),
                &format!("decrypting {}", s.input),
            );
            let opts = WriteOptions {
                force: s.force,
                buffer: s.buffer,
            };
            write(ready, opts, &s.input, &s.output, None, &progress)
        }
        .await;
        return finish_one(
            settings,
            s.metadata.as_ref(),
            "decrypt",
            &s.input,
            &s.output,
            result,
        );
    };
    let plan = plan_tree(in_dir, out_dir, Direction::Decrypt, s.follow_symlinks)?;
    let (force, buffer) = (s.force, s.buffer);
    run_tree(
        settings,
        "decrypt",
        s.metadata.as_ref(),
        s.jobs,
        plan,
        async |job: &TreeJob| {
            // The trees do not overlap; the output's directories are made (never through a
            // link) and its name checked before any work on the file.
            let place = job.place(force)?;
            let reader = job.input.open_direct()?;
            let ready = prepare(&cmm, &cfg, s, reader, &job.input, &job.output).await?;
            Ok((place, ready))
        },
        Arc::new(
            move |job: &TreeJob, (place, ready): (Place, Ready), progress: &Progress| {
                let opts = WriteOptions { force, buffer };
                write(ready, opts, &job.input, &job.output, Some(place), progress)
            },
        ),
    )
    .await
}

/// Checks done before any work: distinct files, no clobbering.
fn preflight(s: &DecryptSettings, input: &Input, output: &Output) -> anyhow::Result<()> {
    cio::check_distinct(input, output)?;
    if let Output::File(path) = output {
        cio::check_output(path, s.force)?;
    }
    Ok(())
}

/// An open input positioned after an authenticated header, with the message's key.
struct Ready {
    reader: InputReader,
    ready: ReadyToDecrypt,
    record: MetadataWire,
}

/// The flags the byte step needs.
#[derive(Debug, Clone, Copy)]
struct WriteOptions {
    force: bool,
    buffer: bool,
}

/// The materials step (async, on the caller's executor): reads the header of `input` (open as
/// `reader`), checks the required context and gets the data key.
async fn prepare(
    cmm: &DefaultCmm,
    cfg: &DecryptConfig,
    s: &DecryptSettings,
    mut reader: InputReader,
    input: &Input,
    output: &Output,
) -> anyhow::Result<Ready> {
    let cannot = || format!("cannot decrypt {input}");
    let header = Decryptor::new(cfg.clone())
        .read_header(&mut reader)
        .with_context(cannot)?;
    // Fail before any key work or output. The header is not authenticated yet, but no
    // plaintext is released before its tag has verified.
    check_required(&header.header().context, &s.required_context).with_context(cannot)?;
    let hint = unwrap_hint(&header.header().edks);
    let ready = match header.obtain_materials(cmm, None).await {
        Ok(r) => r,
        Err(coffer_core::Error::Unwrap(report)) => {
            let mut err = CliError::failure(cannot()).hint(hint);
            if report.not_tried_count() > 0 {
                err = err.hint(crate::report::UNTRIED_KEYS_HINT);
            }
            return Err(err
                .caused_by_error(coffer_core::Error::Unwrap(report))
                .into());
        }
        Err(e) => return Err(anyhow::Error::new(e).context(cannot())),
    };
    let record = MetadataWire::new(
        "decrypt",
        input.to_string(),
        output.to_string(),
        ready.suite(),
        ready.message_id(),
        ready.context(),
        ready.encrypted_data_keys(),
    );
    tracing::info!(
        input = %input,
        suite = %ready.suite().name(),
        message_id = %record.message_id,
        "decrypting"
    );
    Ok(Ready {
        reader,
        ready,
        record,
    })
}

/// The byte step (sync): decrypts the body into the output (into `place` in a directory run,
/// whose directories the caller syncs); returns the result record.
fn write(
    ready: Ready,
    opts: WriteOptions,
    input: &Input,
    output: &Output,
    place: Option<Place>,
    progress: &Progress,
) -> anyhow::Result<MetadataWire> {
    let Ready {
        reader,
        ready,
        mut record,
    } = ready;
    let in_tree = place.is_some();
    let mut sink = match (place, output) {
        (Some(place), _) => Sink::File(OutputFile::create_at(place, opts.force)?),
        (None, Output::Stdout { .. }) => Sink::Stdout(io::stdout().lock()),
        (None, Output::File(path)) => Sink::File(cio::open_output(path, opts.force)?),
    };
    // A new file gets its name only after full verification; what streams is out at once.
    let release = if sink.streams() && opts.buffer {
        Release::AfterSignature
    } else {
        Release::PerFrame
    };
    let cannot = || format!("cannot decrypt {input}");
    let mut decrypting = ready.into_reader(reader, release);
    let mut n = 0u64;
    if let Err(e) = pump_buffered(&mut decrypting, &mut sink, &mut n, progress) {
        let partial = sink.streams() && n > 0;
        let written_to = match output {
            Output::Stdout { .. } => "stdout".to_owned(),
            Output::File(p) => p.display().to_string(),
        };
        // Dropping the sink removes a temporary output file.
        drop(sink);
        return Err(match e {
            PumpError::Read(e) if partial => CliError::failure(format!(
                "cannot decrypt {input} (the {n} bytes already written to {written_to} are \
                 incomplete or unverified: do not use them)"
            ))
            .hint("decrypt to a file (-o FILE) or use --buffer to get only verified output")
            .caused_by(coffer_core::Error::from(e).into())
            .into(),
            PumpError::Read(e) => anyhow::Error::new(coffer_core::Error::from(e)).context(cannot()),
            PumpError::Write(e) => {
                anyhow::Error::new(e).context(format!("cannot write the plaintext to {output}"))
            }
        });
    }
    match sink {
        Sink::Stdout(mut w) => w
            .flush()
            .with_context(|| format!("cannot write the plaintext to {output}"))?,
        Sink::File(f) if in_tree => drop(f.commit_without_dir_sync()?),
        Sink::File(f) => f.commit()?,
    }
    tracing::info!(input = %input, plaintext_bytes = n, "decrypted");
    record.bytes = n;
    Ok(record)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    #[test]
    fn required_pairs() {
        let mut ctx = EncryptionContext::new();
        ctx.insert("app", "billing");
        ctx.insert("env", "prod");
        check_required(&ctx, &[]).unwrap();
        check_required(&ctx, &[("app".into(), "billing".into())]).unwrap();
        let e = check_required(&ctx, &[("env".into(), "dev".into())]).unwrap_err();
        assert!(e.to_string().contains("`env`"), "{e}");
        assert!(
            !e.to_string().contains("prod"),
            "values are not printed: {e}"
        );
        let e = check_required(&ctx, &[("team".into(), "x".into())]).unwrap_err();
        assert!(e.to_string().contains("no key `team`"), "{e}");
    }
}
