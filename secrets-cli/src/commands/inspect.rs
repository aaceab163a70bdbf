//! `coffer inspect`: the header of a message, no key needed.

use anyhow::Context as _;

use super::Tally;
use crate::cli::OutputFormat;
use crate::config::{InspectSettings, Settings};
use crate::io::{self as cio, Input, Output};
use crate::output::HeaderWire;
use crate::tree;

/// Prints the header of `s.input` (of every file below it with `-r`).
pub fn run(settings: &Settings, s: &InspectSettings) -> anyhow::Result<()> {
    let (Some(dir), true) = (s.input.path(), s.recursive) else {
        return inspect_one(settings, &s.input, false);
    };
    let files = tree::walk(dir, &tree::Links::Skip)
        .with_context(|| format!("cannot read the directory {}", dir.display()))?;
    let mut tally = Tally::default();
    for (i, rel) in files.iter().enumerate() {
        let result = inspect_one(settings, &Input::File(dir.join(rel)), i > 0);
        tally.record(settings, result)?;
    }
    tally.finish()
}

fn inspect_one(settings: &Settings, input: &Input, separate: bool) -> anyhow::Result<()> {
    let mut reader = input.open()?;
    let header = coffer_core::inspect(&mut reader)
        .with_context(|| format!("cannot read the message header of {input}"))?;
    let wire = HeaderWire::new(input.to_string(), &header);
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
