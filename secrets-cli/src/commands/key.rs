//! `coffer key create|list|show|enable|disable|rotate|set-rotation|retire`.

use crate::cli::OutputFormat;
use crate::config::{KeySettings, Settings};
use crate::output::{
    KeyRetiredWire, KeyRotatedWire, KeyStateWire, KeyWire, NothingDueWire, RootRotatedWire, SCHEMA,
};
use crate::report::{self, CliError};
use coffer::home::Home;
use coffer::store::StoreLocation;
use coffer::store::{self, KeyRecord, KeyState, KeyTable};
use coffer::time::now_unix;
use std::sync::Arc;

/// Runs `coffer key …`.
pub async fn run(settings: &Settings, k: &KeySettings) -> anyhow::Result<()> {
    let json = settings.format == OutputFormat::Json;
    if let KeySettings::Create {
        name,
        spec,
        on_token: Some(token),
        ..
    } = k
    {
        return create_on_token(settings, name, *spec, token);
    }
    let home = settings.home()?;
    let location = settings.store_location()?;
    if let KeySettings::RotateRoot { .. } = k {
        if let StoreLocation::Postgres(_) = location {
            return Err(CliError::usage(
                "key rotate --root works on the SQLite store of COFFER_HOME; a PostgreSQL \
                 store's root key cannot be rotated in this version",
            )
            .hint("the branch keys can: coffer key rotate NAME")
            .into());
        }
    }
    // The keys of the store `--store` names (the home's SQLite store by default), under the
    // root key of the home.
    let (param_store, table) = store::open_store(&location, &home).await?;
    let seen = store::seen::SeenFile::new(&home, &table.location());
    store::audit_key::precheck(table.as_ref(), &seen).await?;
    let no_such_key = |name: &str| store::no_such_key(&table.location(), name);
    match k {
        KeySettings::Create {
            name,
            spec,
            rotation_period_secs,
            root,
            ..
        } => {
            let keys = Arc::new(
                store::open_keys_in(&home, table.clone(), &crate::terminal::passphrase()).await?,
            );
            let root = match root {
                // Checked before a root file is made for it.
                Some(_) if keys.key(name).await?.is_some() => {
                    return Err(CliError::failure(format!("key `{name}` already exists"))
                        .hint("list the keys with: coffer key list")
                        .into());
                }
                Some(spec) => Some(store::roots::create_root(&home, name, spec).await?),
                None => None,
            };
            let made = root.is_some();
            let record = match keys
                .create_key_under(name, *spec, *rotation_period_secs, root)
                .await
            {
                Ok(r) => r,
                Err(e) => {
                    // The root file made for it stays only with the key.
                    if made {
                        let _ = std::fs::remove_file(store::roots::root_file(&home, name));
                    }
                    return Err(e.into());
                }
            };
            if made {
                // Its row of attested paths (`coffer::store::key_paths`), from the start.
                let params = coffer::params::Params::new(
                    param_store,
                    Arc::new(
                        coffer::params::StoreKeys::for_cli(
                            home.clone(),
                            table.clone(),
                            None,
                            Vec::new(),
                            crate::terminal::passphrase(),
                        )
                        .with_local(keys.clone()),
                    ),
                    coffer::params::max_value_bytes_from_env()?,
                );
                params.policies().await?;
            }
            let wire = KeyWire::new(&record, now_unix());
            if json {
                super::stdout::print_json(&wire)
            } else if settings.quiet {
                Ok(())
            } else {
                super::stdout::write_stdout(
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
            // Read through the keys, so that every row shown is checked against its seal.
            let opened =
                store::open_keys_in(&home, table.clone(), &crate::terminal::passphrase()).await?;
            let keys: Vec<KeyWire> = opened
                .keys()
                .await?
                .iter()
                .map(|r| KeyWire::new(r, now))
                .collect();
            if json {
                keys.iter().try_for_each(super::stdout::print_json)
            } else if keys.is_empty() {
                if !settings.quiet {
                    eprintln!("no keys yet; create one with: coffer key create NAME");
                }
                Ok(())
            } else {
                super::stdout::write_stdout(KeyWire::table(&keys).as_bytes())
            }
        }
        KeySettings::Show { name } => {
            let opened =
                store::open_keys_in(&home, table.clone(), &crate::terminal::passphrase()).await?;
            let record = opened.key(name).await?.ok_or_else(|| no_such_key(name))?;
            let wire = KeyWire::new(&record, now_unix());
            if json {
                super::stdout::print_json(&wire)
            } else {
                super::stdout::write_stdout(wire.to_text().as_bytes())
            }
        }
        KeySettings::SetEnabled { name, enabled } => {
            let state = if *enabled {
                KeyState::Enabled
            } else {
                KeyState::Disabled
            };
            unlock(&home, &table, name).await?;
            let changed = table.set_state(name, state).await?;
            tracing::info!(key = %name, state = state.as_str(), changed, "key state");
            let wire = KeyStateWire {
                kind: "key_state",
                schema: SCHEMA,
                name: name.clone(),
                state: state.as_str(),
                changed,
            };
            if json {
                super::stdout::print_json(&wire)
            } else if settings.quiet {
                Ok(())
            } else {
                let s = if changed {
                    format!("key {name} {}\n", state.as_str())
                } else {
                    format!("key {name} was {} already\n", state.as_str())
                };
                super::stdout::write_stdout(s.as_bytes())
            }
        }
        KeySettings::Rotate { name } => {
            let keys =
                store::open_keys_in(&home, table.clone(), &crate::terminal::passphrase()).await?;
            let rotation = keys.rotate_key(name).await?;
            let wire = KeyRotatedWire::new(&rotation, "manual");
            if json {
                super::stdout::print_json(&wire)
            } else if settings.quiet {
                Ok(())
            } else {
                super::stdout::write_stdout(format!("{}\n", wire.to_text()).as_bytes())
            }
        }
        KeySettings::RotateDue => rotate_due(settings, &home, table).await,
        KeySettings::RotateRoot { to } => {
            let rotation =
                store::rotate_root(&home, to.as_deref(), &crate::terminal::passphrase()).await?;
            let wire = RootRotatedWire::new(&rotation, home.root_key_path().display().to_string());
            if json {
                super::stdout::print_json(&wire)
            } else if settings.quiet {
                Ok(())
            } else {
                super::stdout::write_stdout(wire.to_text().as_bytes())
            }
        }
        KeySettings::SetRotation { name, period_secs } => {
            unlock(&home, &table, name).await?;
            let record = table.set_rotation_period(name, *period_secs).await?;
            tracing::info!(key = %name, period_secs, "rotation period set");
            let wire = KeyWire::new(&record, now_unix());
            if json {
                super::stdout::print_json(&wire)
            } else if settings.quiet {
                Ok(())
            } else {
                super::stdout::write_stdout(
                    match period_secs {
                        Some(_) => format!("key {name}: rotation {}\n", wire.rotation_text()),
                        None => format!("key {name}: no scheduled rotation\n"),
                    }
                    .as_bytes(),
                )
            }
        }
        KeySettings::Retire {
            name,
            below_version,
        } => {
            unlock(&home, &table, name).await?;
            let (previous, record) = table
                .set_min_decrypt_version(name, *below_version)
                .await
                .map_err(|e| match e {
                    coffer::error::Error::Invalid(_) => anyhow::Error::new(
                        CliError::usage(format!("--below-version {below_version}"))
                            .caused_by_error(e),
                    ),
                    other => other.into(),
                })?;
            tracing::info!(key = %name, min = below_version, previous, "minimum decryption version set");
            let wire = KeyRetiredWire {
                kind: "key_retired",
                schema: SCHEMA,
                name: name.clone(),
                min_decrypt_version: record.min_decrypt_version,
                previous_min_decrypt_version: previous,
                active_version: record.active_version,
            };
            if json {
                super::stdout::print_json(&wire)
            } else if settings.quiet {
                Ok(())
            } else {
                super::stdout::write_stdout(format!("{}\n", wire.to_text()).as_bytes())
            }
        }
    }
}

/// `coffer key rotate --due`: rotates every enabled key whose rotation period has passed.
/// The keys are read through the root key, so that what is due is decided on rows checked
/// against their seals (a period cleared in the database does not silently stop
/// rotations). A key that fails is reported and the others go on; the run then fails. A
/// key with a root of its own that this home has no file for is left to the machines that
/// hold it.
async fn rotate_due(
    settings: &Settings,
    home: &Home,
    table: Arc<dyn KeyTable>,
) -> anyhow::Result<()> {
    let json = settings.format == OutputFormat::Json;
    let now = now_unix();
    let keys = store::open_keys_in(home, table.clone(), &crate::terminal::passphrase()).await?;
    let listed = keys.keys().await?;
    let due: Vec<&str> = listed
        .iter()
        .filter(|k| k.state == KeyState::Enabled && k.next_rotation().is_some_and(|t| t <= now))
        // A key whose own root this home has no file for is another machine's to rotate.
        .filter(|k| match keys.root_unusable(k) {
            Some(e) if store::roots::is_missing_root(&e) => {
                tracing::info!(key = %k.name, "not rotated here: {e}");
                false
            }
            _ => true,
        })
        .map(|k| k.name.as_str())
        .collect();
    let mut rotated = 0usize;
    let mut failed = 0usize;
    if !due.is_empty() {
        for name in &due {
            match keys.rotate_if_due(name, now).await {
                Ok(Some(r)) => {
                    rotated += 1;
                    let wire = KeyRotatedWire::new(&r, "due");
                    if json {
                        super::stdout::print_json(&wire)?;
                    } else if !settings.quiet {
                        super::stdout::write_stdout(format!("{}\n", wire.to_text()).as_bytes())?;
                    }
                }
                Ok(None) => {
                    tracing::info!(key = name, "not due any more: rotated by another run");
                }
                Err(e) => {
                    failed += 1;
                    let e = anyhow::Error::new(e);
                    if report::report(&e).broken_pipe {
                        return Err(e);
                    }
                    report::emit(&e, json, false);
                }
            }
        }
    }
    if failed > 0 {
        return Err(CliError::failure(format!(
            "{failed} of {} due key(s) could not be rotated",
            due.len()
        ))
        .into());
    }
    if rotated == 0 {
        // Other runs may have rotated the due keys meanwhile: describe the store as it is now.
        let fresh;
        let keys = if due.is_empty() {
            &listed
        } else {
            fresh = keys.keys().await?;
            &fresh
        };
        let wire = nothing_due(keys);
        if json {
            super::stdout::print_json(&wire)?;
        } else if !settings.quiet {
            super::stdout::write_stdout(format!("{}\n", wire.to_text()).as_bytes())?;
        }
    }
    Ok(())
}

fn nothing_due(keys: &[KeyRecord]) -> NothingDueWire {
    let scheduled: Vec<&KeyRecord> = keys
        .iter()
        .filter(|k| k.state == KeyState::Enabled && k.rotation_period_secs.is_some())
        .collect();
    NothingDueWire {
        kind: "nothing_due",
        schema: SCHEMA,
        scheduled_keys: scheduled.len(),
        next_rotation: scheduled
            .iter()
            .filter_map(|k| k.next_rotation())
            .min()
            .map(coffer::time::format_rfc3339),
    }
}

/// Opens the store's keys so that a write of `table` is signed into its audit log (every
/// write needs the root key, even one that unwraps nothing).
/// Opens the store's keys before a change of key `name`; a key with a root of its own that
/// this home cannot use is left as it is (its state decides what below its paths reads).
async fn unlock(home: &Home, table: &Arc<dyn KeyTable>, name: &str) -> anyhow::Result<()> {
    let keys = store::open_keys_in(home, table.clone(), &crate::terminal::passphrase()).await?;
    if let Some(record) = keys.key(name).await? {
        if let Some(e) = keys.root_unproven(&record).await {
            return Err(e.into());
        }
    }
    Ok(())
}

/// `key create NAME --in pkcs11:…`: an AES-256 key on the token, sensitive and not extractable.
#[cfg(feature = "pkcs11")]
fn create_on_token(
    settings: &Settings,
    name: &str,
    spec: store::KeySpec,
    token: &coffer::keyref::Pkcs11KeyRef,
) -> anyhow::Result<()> {
    let uri = coffer::hsm::create_key(name, token)?;
    let wire = crate::output::TokenKeyWire {
        kind: "token-key",
        schema: SCHEMA,
        name: name.to_owned(),
        spec: spec.as_str(),
        token: token.token.clone(),
        uri,
    };
    tracing::info!(name, token = wire.token, "key made on a PKCS#11 token");
    if settings.format == OutputFormat::Json {
        super::stdout::print_json(&wire)
    } else if settings.quiet {
        Ok(())
    } else {
        super::stdout::write_stdout(
            format!(
                "created key {} ({}) on token {}: sensitive, not extractable\nuse it as {}\n",
                wire.name, wire.spec, wire.token, wire.uri
            )
            .as_bytes(),
        )
    }
}

#[cfg(not(feature = "pkcs11"))]
fn create_on_token(
    _settings: &Settings,
    _name: &str,
    _spec: store::KeySpec,
    _token: &coffer::keyref::Pkcs11KeyRef,
) -> anyhow::Result<()> {
    Err(CliError::usage("key create --in pkcs11:…: this build has no PKCS#11 support").into())
}
