//! `coffer key create|list|show|enable|disable`.

use crate::cli::OutputFormat;
use crate::config::{KeySettings, Settings};
use crate::output::{KeyStateWire, KeyWire, SCHEMA};
use crate::store::{self, KeyState, Store};
use crate::time::now_unix;

/// Runs `coffer key …`.
pub async fn run(settings: &Settings, k: &KeySettings) -> anyhow::Result<()> {
    let home = settings.home()?;
    let json = settings.format == OutputFormat::Json;
    match k {
        KeySettings::Create {
            name,
            spec,
            rotation_period_secs,
        } => {
            let keys = store::open_keys(&home)?;
            let record = keys.create_key(name, *spec, *rotation_period_secs).await?;
            let wire = KeyWire::new(&record, now_unix());
            if json {
                super::print_json(&wire)
            } else if settings.quiet {
                Ok(())
            } else {
                super::write_stdout(
                    format!(
                        "created key {} ({}, version 1, {})\n",
                        wire.name,
                        wire.spec,
                        wire.versions.first().map_or("", |v| v.id.as_str())
                    )
                    .as_bytes(),
                )
            }
        }
        KeySettings::List => {
            let now = now_unix();
            let keys: Vec<KeyWire> = Store::open(&home)?
                .list_keys()?
                .iter()
                .map(|r| KeyWire::new(r, now))
                .collect();
            if json {
                keys.iter().try_for_each(super::print_json)
            } else if keys.is_empty() {
                if !settings.quiet {
                    eprintln!("no keys yet; create one with: coffer key create NAME");
                }
                Ok(())
            } else {
                super::write_stdout(KeyWire::table(&keys).as_bytes())
            }
        }
        KeySettings::Show { name } => {
            let store = Store::open(&home)?;
            let record = store
                .get_key(name)?
                .ok_or_else(|| store.no_such_key(name))?;
            let wire = KeyWire::new(&record, now_unix());
            if json {
                super::print_json(&wire)
            } else {
                super::write_stdout(wire.to_text().as_bytes())
            }
        }
        KeySettings::SetEnabled { name, enabled } => {
            let state = if *enabled {
                KeyState::Enabled
            } else {
                KeyState::Disabled
            };
            let changed = Store::open(&home)?.set_state(name, state)?;
            tracing::info!(key = %name, state = state.as_str(), changed, "key state");
            let wire = KeyStateWire {
                kind: "key_state",
                schema: SCHEMA,
                name: name.clone(),
                state: state.as_str(),
                changed,
            };
            if json {
                super::print_json(&wire)
            } else if settings.quiet {
                Ok(())
            } else {
                let s = if changed {
                    format!("key {name} {}\n", state.as_str())
                } else {
                    format!("key {name} was {} already\n", state.as_str())
                };
                super::write_stdout(s.as_bytes())
            }
        }
    }
}
