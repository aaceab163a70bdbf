//! `coffer encrypt`.

use std::io::{self, BufWriter, Write};
use std::sync::Arc;

use anyhow::Context as _;
use coffer_cache::{CachingCmm, LocalCache};
use coffer_core::cmm::{DefaultCmm, MaterialsManager};
use coffer_core::{EncryptConfig, Encryptor, PreparedEncryption};

use super::file_run::{TreeJob, finish_one, message_threads, plan_tree};
use super::pool::run_tree;
use super::pump::{PumpError, pump};
use crate::config::{EncryptSettings, Settings};
use crate::io::{self as cio, Input, InputReader, Output, OutputFile, Place};
use crate::output::MetadataWire;
use crate::progress::Progress;
use crate::tree::Direction;
use coffer::keyref::Purpose;
use coffer::keys;

/// Where the message goes.
enum Sink {
    Stdout(BufWriter<io::StdoutLock<'static>>),
    File(BufWriter<OutputFile>),
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

/// Logs what a data-key cache saved, when the run ends (`-v`).
struct CacheReport(Arc<LocalCache>);

impl Drop for CacheReport {
    fn drop(&mut self) {
        let s = self.0.stats();
        tracing::info!(
            "data-key cache: {} message(s) reused a cached data key, {} made a new one",
            s.hits,
            s.misses
        );
    }
}

/// Encrypts `s.input` into `s.output` (or a directory tree with `-r`).
pub async fn run(settings: &Settings, s: &EncryptSettings) -> anyhow::Result<()> {
    cio::check_metadata(s.metadata.as_ref(), &s.input, &s.output)?;
    if !s.recursive {
        // Checks that need no work first.
        preflight(s, &s.input, &s.output)?;
    }
    let keyring = keys::keyrings(
        &s.keys,
        Purpose::Encrypt,
        keys::LocalKeys::new(|| settings.home(), crate::terminal::passphrase()),
        "--key",
    )?;
    let mut cmm: Arc<dyn MaterialsManager> = Arc::new(DefaultCmm::new(keyring));
    let cache = s.data_key_cache.map(|_| Arc::new(LocalCache::default()));
    if let (Some(limits), Some(cache)) = (s.data_key_cache, &cache) {
        cmm = Arc::new(
            CachingCmm::new(cmm, cache.clone(), limits)
                .map_err(|e| crate::report::CliError::failure(e.to_string()))?,
        );
    }
    let _report = cache.map(CacheReport);
    let cfg = EncryptConfig::default()
        .with_suite(s.suite)
        .with_frame_length(s.frame_length)?
        .with_commitment_policy(s.policy)
        .with_max_encrypted_data_keys(s.max_edks)
        .with_threads(message_threads(s.recursive, s.jobs));
    let encryptor = Encryptor::new(cmm, cfg);

    let (Some(in_dir), Some(out_dir), true) = (s.input.path(), s.output.path(), s.recursive) else {
        let result = async {
            let reader = s.input.open()?;
            let ready = prepare(&encryptor, s, reader, &s.input, &s.output).await?;
            let progress = Progress::new(
                settings.quiet,
                ready.reader.file_len(),
                &format!("encrypting {}", s.input),
            );
            write(ready, &s.input, &s.output, None, s.force, &progress)
        }
        .await;
        return finish_one(
            settings,
            s.metadata.as_ref(),
            "encrypt",
            &s.input,
            &s.output,
            result,
        );
    };
    let plan = plan_tree(in_dir, out_dir, Direction::Encrypt, s.follow_symlinks)?;
    let force = s.force;
    run_tree(
        settings,
        "encrypt",
        s.metadata.as_ref(),
        s.jobs,
        plan,
        async |job: &TreeJob| {
            // The trees do not overlap; the output's directories are made (never through a
            // link) and its name checked before any work on the file.
            let place = job.place(force)?;
            let reader = job.input.open_direct()?;
            let ready = prepare(&encryptor, s, reader, &job.input, &job.output).await?;
            Ok((place, ready))
        },
        Arc::new(
            move |job: &TreeJob, (place, ready): (Place, Ready), progress: &Progress| {
                write(ready, &job.input, &job.output, Some(place), force, progress)
            },
        ),
    )
    .await
}

/// Checks done before any work: distinct files, no clobbering, no ciphertext on a terminal.
fn preflight(s: &EncryptSettings, input: &Input, output: &Output) -> anyhow::Result<()> {
    cio::check_distinct(input, output)?;
    match output {
        Output::File(path) => cio::check_output(path, s.force)?,
        Output::Stdout { .. } => cio::check_ciphertext_destination(output)?,
    }
    Ok(())
}

/// An open input and its message's materials and header: all the byte work needs.
struct Ready {
    reader: InputReader,
    prepared: PreparedEncryption,
    record: MetadataWire,
}

/// The materials step (async, on the caller's executor): gets the materials and header of the
/// message for `input` (open as `reader`).
async fn prepare(
    encryptor: &Encryptor,
    s: &EncryptSettings,
    reader: InputReader,
    input: &Input,
    output: &Output,
) -> anyhow::Result<Ready> {
    let prepared = encryptor
        .prepare(&s.context, reader.file_len())
        .await
        .with_context(|| format!("cannot encrypt {input}"))?;
    let header = prepared.header();
    let record = MetadataWire::new(
        "encrypt",
        input.to_string(),
        output.to_string(),
        header.suite,
        &header.message_id,
        &header.context,
        &header.edks,
    );
    tracing::info!(
        input = %input,
        suite = %header.suite.name(),
        message_id = %record.message_id,
        data_keys = header.edks.len(),
        "encrypting"
    );
    Ok(Ready {
        reader,
        prepared,
        record,
    })
}

/// The byte step (sync): encrypts the input into the output (into `place` in a directory run,
/// whose directories the caller syncs); returns the result record.
fn write(
    ready: Ready,
    input: &Input,
    output: &Output,
    place: Option<Place>,
    force: bool,
    progress: &Progress,
) -> anyhow::Result<MetadataWire> {
    let Ready {
        mut reader,
        prepared,
        mut record,
    } = ready;
    let cannot_write = || format!("cannot write the message to {output}");
    let in_tree = place.is_some();
    let sink = match (place, output) {
        (Some(place), _) => Sink::File(BufWriter::new(OutputFile::create_at(place, force)?)),
        (None, Output::Stdout { .. }) => Sink::Stdout(BufWriter::new(io::stdout().lock())),
        (None, Output::File(path)) => Sink::File(BufWriter::new(cio::open_output(path, force)?)),
    };
    let mut writer = prepared.wrap_output(sink).with_context(cannot_write)?;
    let mut n = 0;
    let hint = reader.file_len();
    match pump(&mut reader, &mut writer, &mut n, hint, progress) {
        Ok(()) => {}
        Err(PumpError::Read(e)) => {
            return Err(anyhow::Error::new(e).context(format!("cannot read {input}")));
        }
        Err(PumpError::Write(e)) => {
            return Err(anyhow::Error::new(coffer_core::Error::from(e)).context(cannot_write()));
        }
    }
    match writer.finish().with_context(cannot_write)? {
        Sink::Stdout(mut w) => w.flush().with_context(cannot_write)?,
        Sink::File(w) => {
            let file = w
                .into_inner()
                .map_err(|e| anyhow::Error::new(e.into_error()))
                .with_context(cannot_write)?;
            if in_tree {
                drop(file.commit_without_dir_sync()?);
            } else {
                file.commit()?;
            }
        }
    }
    tracing::info!(input = %input, plaintext_bytes = n, "encrypted");
    record.bytes = n;
    Ok(record)
}
