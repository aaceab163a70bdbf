//! `coffer inspect`: the header of a message, no key needed.

use anyhow::Context as _;

use super::file_run::Tally;
use crate::cli::OutputFormat;
use crate::config::{InspectSettings, Settings};
use crate::io::{self as cio, Input, Output};
use crate::output::HeaderWire;
use crate::tree;
use coffer::home::Home;
use coffer::store::{Store, format_uuid};

/// Prints the header of `s.input` (of every file below it with `-r`).
pub fn run(settings: &Settings, s: &InspectSettings) -> anyhow::Result<()> {
    let (Some(dir), true) = (s.input.path(), s.recursive) else {
        return inspect_one(settings, &LocalVersions::open(settings), &s.input, false);
    };
    let files = tree::walk(dir, &tree::Links::Skip)
        .with_context(|| format!("cannot read the directory {}", dir.display()))?;
    let mut tally = Tally::default();
    let versions = LocalVersions::open(settings);
    for (i, rel) in files.iter().enumerate() {
        let result = inspect_one(settings, &versions, &Input::File(dir.join(rel)), i > 0);
        tally.record(settings, result)?;
    }
    tally.finish()
}

/// The key versions of the local store (no key is unwrapped: only the table is read), to
/// name the versions that messages use.
struct LocalVersions(Option<Store>);

impl LocalVersions {
    fn open(settings: &Settings) -> Self {
        let store = settings
            .home()
            .ok()
            .filter(Home::has_store)
            .and_then(|home| Store::open(&home).ok());
        Self(store)
    }

    /// Fills in the number and state of hierarchy key versions.
    fn annotate(&self, wire: &mut HeaderWire) {
        let Some(store) = &self.0 else { return };
        for k in &mut wire.encrypted_data_keys {
            let (Some(name), Some(uuid)) = (&k.key_name, &k.key_version) else {
                continue;
            };
            let key = store.get_key(name).ok().flatten();
            let found = key.as_ref().and_then(|key| {
                key.versions
                    .iter()
                    .find(|v| format_uuid(&v.uuid) == *uuid)
                    .map(|v| (key, v.version))
            });
            let Some((key, n)) = found else {
                k.key_version_state = Some("unknown");
                continue;
            };
            k.key_version_number = Some(n);
            k.key_version_state = Some(if n < key.min_decrypt_version {
                "retired"
            } else if n == key.active_version {
                "active"
            } else {
                "decrypt-only"
            });
        }
    }
}

fn inspect_one(
    settings: &Settings,
    versions: &LocalVersions,
    input: &Input,
    separate: bool,
) -> anyhow::Result<()> {
    let mut reader = input.open()?;
    let header = coffer_core::inspect(&mut reader)
        .with_context(|| format!("cannot read the message header of {input}"))?;
    let mut wire = HeaderWire::new(input.to_string(), &header);
    versions.annotate(&mut wire);
    let stdout = Output::Stdout { explicit: true };
    match settings.format {
        OutputFormat::Json => cio::append_line(&stdout, &serde_json::to_string(&wire)?)?,
        OutputFormat::Text => {
            let text = wire.to_text();
            let text = if separate {
                format!("\n{}", text.trim_end())
            } else {
                text.trim_end().to_owned()
            };
            cio::append_line(&stdout, &text)?;
        }
    }
    Ok(())
}
