//! `coffer encrypt`.

use std::io::{self, BufWriter, Write};
use std::sync::Arc;

use anyhow::Context as _;
use coffer_core::cmm::{DefaultCmm, MaterialsManager};
use coffer_core::{EncryptConfig, Encryptor};

use super::{PumpError, Tally, create_parent, emit_record, plan_tree, pump, record_failure};
use crate::config::{EncryptSettings, Settings};
use crate::io::{self as cio, AtomicFile, Input, Output};
use crate::keyref::Purpose;
use crate::keys;
use crate::output::MetadataWire;
use crate::progress::Progress;
use crate::tree::Direction;

/// Where the message goes.
enum Sink {
    Stdout(BufWriter<io::StdoutLock<'static>>),
    File(BufWriter<AtomicFile>),
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

/// Encrypts `s.input` into `s.output` (or a directory tree with `-r`).
pub async fn run(settings: &Settings, s: &EncryptSettings) -> anyhow::Result<()> {
    if !s.recursive {
        // Checks that need no work first.
        preflight(s, &s.input, &s.output)?;
    }
    let keyring = keys::keyrings(&s.keys, Purpose::Encrypt)?;
    let cmm: Arc<dyn MaterialsManager> = Arc::new(DefaultCmm::new(keyring));
    let cfg = EncryptConfig::default()
        .with_suite(s.suite)
        .with_frame_length(s.frame_length)?
        .with_commitment_policy(s.policy)
        .with_max_encrypted_data_keys(s.max_edks);
    let encryptor = Encryptor::new(cmm, cfg);

    let (Some(in_dir), Some(out_dir), true) = (s.input.path(), s.output.path(), s.recursive) else {
        let record = match encrypt_one(&encryptor, s, &s.input, &s.output, settings.quiet).await {
            Ok(r) => r,
            Err(e) => {
                return Err(record_failure(
                    s.metadata.as_ref(),
                    "encrypt",
                    &s.input,
                    &s.output,
                    e,
                ));
            }
        };
        return emit_record(settings, s.metadata.as_ref(), s.output.is_stdout(), &record);
    };
    let mut tally = Tally::default();
    for job in plan_tree(in_dir, out_dir, Direction::Encrypt)? {
        let input = Input::File(job.input);
        let output = Output::File(job.output.clone());
        let result = async {
            create_parent(&job.output)?;
            preflight(s, &input, &output)?;
            let record = encrypt_one(&encryptor, s, &input, &output, settings.quiet).await?;
            emit_record(settings, s.metadata.as_ref(), false, &record)
        }
        .await
        .map_err(|e| record_failure(s.metadata.as_ref(), "encrypt", &input, &output, e));
        tally.record(settings, result)?;
    }
    tally.finish()
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

/// Encrypts one input into one output; returns the result record.
async fn encrypt_one(
    encryptor: &Encryptor,
    s: &EncryptSettings,
    input: &Input,
    output: &Output,
    quiet: bool,
) -> anyhow::Result<MetadataWire> {
    let mut reader = input.open()?;
    let progress = Progress::new(quiet, reader.file_len(), &format!("encrypting {input}"));
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

    let cannot_write = || format!("cannot write the message to {output}");
    let sink = match output {
        Output::Stdout { .. } => Sink::Stdout(BufWriter::new(io::stdout().lock())),
        Output::File(path) => Sink::File(BufWriter::new(AtomicFile::create(path, s.force)?)),
    };
    let mut writer = prepared.wrap_output(sink).with_context(cannot_write)?;
    let mut n = 0;
    match pump(&mut reader, &mut writer, &mut n, &progress) {
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
            file.commit()?;
        }
    }
    tracing::info!(input = %input, plaintext_bytes = n, "encrypted");
    let mut record = record;
    record.bytes = n;
    Ok(record)
}
