//! `coffer put|get|ls|history|label|unlabel|rm|restore|destroy`.

use zeroize::Zeroizing;

use crate::cli::OutputFormat;
use crate::config::{ParamSettings, PutSettings, Settings};
use crate::output::{
    LabelMoveWire, ParamChangeWire, ParamLabelsWire, ParamPathWire, ParamSummaryWire,
    ParamUnheldWire, ParamVersionWire, ParamWire, SCHEMA,
};
use coffer::params::{self, Params, PutRequest, ValueSource};
use coffer::time::now_unix;

/// Runs a parameter verb.
pub async fn run(settings: &Settings, p: &ParamSettings) -> anyhow::Result<()> {
    let json = settings.format == OutputFormat::Json;
    let say = |text: String| -> anyhow::Result<()> {
        if settings.quiet {
            Ok(())
        } else {
            super::stdout::write_stdout(text.as_bytes())
        }
    };
    match p {
        ParamSettings::Import(s) => super::import::run(settings, s).await,
        ParamSettings::Edit { name } => super::edit::run(settings, name).await,
        ParamSettings::Copy {
            what,
            overwrite,
            remove,
        } => copy(settings, what, *overwrite, *remove).await,
        ParamSettings::Put(s) => {
            let params = super::open::open_params(settings, s.key.clone(), Vec::new()).await?;
            let meta = put(&params, s).await?;
            tracing::info!(name = %meta.name, version = meta.version, "parameter written");
            let wire = ParamVersionWire::new(&meta, now_unix());
            if json {
                super::stdout::print_json(&wire)
            } else {
                say(format!("wrote {} version {}\n", meta.name, meta.version))
            }
        }
        ParamSettings::Get { selector, keys } => {
            let params = super::open::open_params(settings, None, keys.clone()).await?;
            let param = params.get(selector).await?;
            let out = if json {
                let mut line = Zeroizing::new(serde_json::to_string(&ParamWire::new(&param))?);
                line.push('\n');
                line
            } else {
                let mut text = Zeroizing::new(String::with_capacity(param.value.len() + 1));
                text.push_str(param.value.expose());
                text.push('\n');
                text
            };
            super::stdout::write_stdout(out.as_bytes())
        }
        ParamSettings::Ls {
            path,
            recursive,
            long,
            deleted,
        } => {
            let params = super::open::open_params(settings, None, Vec::new()).await?;
            let listing = params.store().await?.list(path, *recursive).await?;
            show_listing(settings, path, listing, *long, *deleted, "no parameters")
        }
        ParamSettings::Find { path, tags, long } => {
            let params = super::open::open_params(settings, None, Vec::new()).await?;
            let listing = params.find(path, tags).await?;
            show_listing(
                settings,
                path,
                listing,
                *long,
                false,
                "no parameters with those tags",
            )
        }
        ParamSettings::History { name } => {
            let params = super::open::open_params(settings, None, Vec::new()).await?;
            let (state, versions) = params.store().await?.history(name).await?;
            let now = now_unix();
            let wires: Vec<ParamVersionWire> = versions
                .iter()
                .map(|v| ParamVersionWire::new(v, now))
                .collect();
            if json {
                return wires.iter().try_for_each(super::stdout::print_json);
            }
            super::stdout::write_stdout(ParamVersionWire::table(&wires).as_bytes())?;
            if let Some(at) = state.deleted_at {
                if !settings.quiet {
                    eprintln!(
                        "{name} is deleted (since {}); restore it with: coffer restore {name}",
                        coffer::time::format_rfc3339(at)
                    );
                }
            }
            Ok(())
        }
        ParamSettings::Label {
            name,
            version,
            labels,
        } => {
            let params = super::open::open_params(settings, None, Vec::new()).await?;
            let moves = params.label(name, *version, labels).await?;
            tracing::info!(name = %name, version, labels = moves.len(), "labels set");
            let wire = ParamLabelsWire {
                kind: "param_labels",
                schema: SCHEMA,
                name: name.to_string(),
                labels: moves
                    .into_iter()
                    .map(|m| LabelMoveWire {
                        label: m.label.to_string(),
                        from: m.from,
                        to: Some(m.to),
                    })
                    .collect(),
            };
            if json {
                super::stdout::print_json(&wire)
            } else {
                say(wire.to_text())
            }
        }
        ParamSettings::Unlabel { name, labels } => {
            let params = super::open::open_params(settings, None, Vec::new()).await?;
            let removed = params.unlabel(name, labels).await?;
            tracing::info!(name = %name, labels = removed.len(), "labels removed");
            let wire = ParamLabelsWire {
                kind: "param_labels",
                schema: SCHEMA,
                name: name.to_string(),
                labels: removed
                    .into_iter()
                    .map(|(label, from)| LabelMoveWire {
                        label: label.to_string(),
                        from: Some(from),
                        to: None,
                    })
                    .collect(),
            };
            if json {
                super::stdout::print_json(&wire)
            } else {
                say(wire.to_text())
            }
        }
        ParamSettings::Rm { name } => {
            let params = super::open::open_params(settings, None, Vec::new()).await?;
            params.delete(name, now_unix()).await?;
            tracing::info!(name = %name, "parameter deleted");
            change(settings, "param_deleted", name, None, || {
                format!("deleted {name} (restore it with: coffer restore {name})\n")
            })
        }
        ParamSettings::Restore { name } => {
            let params = super::open::open_params(settings, None, Vec::new()).await?;
            params.restore(name).await?;
            tracing::info!(name = %name, "parameter restored");
            change(settings, "param_restored", name, None, || {
                format!("restored {name}\n")
            })
        }
        ParamSettings::Rollback { name, to } => {
            let params = super::open::open_params(settings, None, Vec::new()).await?;
            let meta = params
                .rollback(name, *to, &params::os_user(), now_unix())
                .await?;
            tracing::info!(name = %name, to, version = meta.version, "rolled back");
            if json {
                super::stdout::print_json(&ParamVersionWire::new(&meta, now_unix()))
            } else {
                say(format!(
                    "wrote {name} version {}, holding the value of version {to}\n",
                    meta.version
                ))
            }
        }
        ParamSettings::Destroy { name, version } => {
            let params = super::open::open_params(settings, None, Vec::new()).await?;
            let d = params.destroy(name, *version, now_unix()).await?;
            tracing::info!(name = %name, ?version, "destroyed");
            if let Some(place) = &d.lingers {
                eprintln!(
                    "warning: the value is destroyed in the store, but its old bytes remain in \
                     {place}"
                );
            }
            change(
                settings,
                "param_destroyed",
                name,
                Some(&d),
                || match version {
                    Some(v) => format!("destroyed the value of {name} version {v}\n"),
                    None => format!(
                        "destroyed {name} ({} version(s) with a value)\n",
                        d.versions.len()
                    ),
                },
            )
        }
    }
}

async fn put(params: &Params, s: &PutSettings) -> anyhow::Result<params::VersionMeta> {
    let prompt = crate::terminal::value_prompt();
    let source = match (&s.value_file, &prompt) {
        (Some(p), _) => ValueSource::File(p),
        (None, Some(prompt)) => ValueSource::Prompt(prompt.as_ref()),
        (None, None) => ValueSource::Stdin,
    };
    let max = params::max_value_bytes_from_env()?;
    let value = params::read_value(&source, max)?;
    let req = PutRequest {
        name: s.name.clone(),
        param_type: s.param_type,
        value,
        expect: s.expect,
        labels: s.labels.clone(),
        description: s.description.clone(),
        tags: s.tags.clone(),
        expires_at: s.expires_at,
        author: params::os_user(),
    };
    Ok(params.put_with(req, s.type_rule).await?)
}

fn change(
    settings: &Settings,
    kind: &'static str,
    name: &params::ParamName,
    destroyed: Option<&params::Destroyed>,
    text: impl FnOnce() -> String,
) -> anyhow::Result<()> {
    if settings.format == OutputFormat::Json {
        super::stdout::print_json(&ParamChangeWire {
            kind,
            schema: SCHEMA,
            name: name.to_string(),
            versions: destroyed.map(|d| d.versions.clone()),
            whole: destroyed.map(|d| d.whole),
        })
    } else if settings.quiet {
        Ok(())
    } else {
        super::stdout::write_stdout(text().as_bytes())
    }
}

/// `cp` (`remove` false) and `mv`.
async fn copy(
    settings: &Settings,
    what: &crate::config::CopyWhat,
    overwrite: bool,
    remove: bool,
) -> anyhow::Result<()> {
    use crate::config::CopyWhat;
    let params = super::open::open_params(settings, None, Vec::new()).await?;
    let author = params::os_user();
    let done = match what {
        CopyWhat::Name(from, to) => vec![params.copy(from, to, overwrite, remove, &author).await?],
        CopyWhat::Path(from, to) => {
            params
                .copy_path(from, to, overwrite, remove, &author)
                .await?
        }
    };
    tracing::info!(count = done.len(), remove, "parameters copied");
    let verb = if remove { "moved" } else { "copied" };
    if settings.format == OutputFormat::Json {
        return done.iter().try_for_each(|c| {
            super::stdout::print_json(&CopiedWire {
                kind: if remove {
                    "param_moved"
                } else {
                    "param_copied"
                },
                schema: SCHEMA,
                from: c.from.to_string(),
                name: c.to.name.to_string(),
                version: c.to.version,
                param_type: c.to.param_type.as_str(),
            })
        });
    }
    if settings.quiet {
        return Ok(());
    }
    let mut text = String::new();
    for c in &done {
        text.push_str(&format!(
            "{verb} {} to {} (version {})\n",
            c.from, c.to.name, c.to.version
        ));
    }
    if remove {
        text.push_str(&format!(
            "the source{} deleted: coffer restore NAME brings one back\n",
            if done.len() == 1 { " is" } else { "s are" }
        ));
    }
    super::stdout::write_stdout(text.as_bytes())
}

/// `cp --output json`: one parameter copied (or moved).
#[derive(Debug, serde::Serialize)]
struct CopiedWire {
    /// `"param_copied"` or `"param_moved"`.
    #[serde(rename = "type")]
    kind: &'static str,
    schema: u32,
    /// The source.
    from: String,
    /// The new name.
    name: String,
    /// The version written.
    version: u32,
    param_type: &'static str,
}

/// `ls` and `find`: the parameters of `listing` (its deleted ones with `deleted`), names or
/// a table (`long`), or JSON lines; `none` says that there are none.
fn show_listing(
    settings: &Settings,
    path: &params::ParamPath,
    listing: params::Listing,
    long: bool,
    deleted: bool,
    none: &str,
) -> anyhow::Result<()> {
    let json = settings.format == OutputFormat::Json;
    let now = now_unix();
    if !listing.unheld.is_empty() && !settings.quiet {
        eprintln!("{}", unheld_note(&listing.unheld));
    }
    let (shown, subpaths) = if deleted {
        (&listing.deleted, &[][..])
    } else {
        (&listing.params, &listing.subpaths[..])
    };
    if json {
        for (name, key) in &listing.unheld {
            super::stdout::print_json(&ParamUnheldWire {
                kind: "param_unheld",
                schema: SCHEMA,
                name: name.to_string(),
                key: key.clone(),
            })?;
        }
        for sub in subpaths {
            super::stdout::print_json(&ParamPathWire {
                kind: "param_path",
                schema: SCHEMA,
                path: sub.to_string(),
            })?;
        }
        for p in shown {
            super::stdout::print_json(&ParamSummaryWire::new(p, now))?;
        }
        return Ok(());
    }
    let mut text = String::new();
    for sub in subpaths {
        text.push_str(sub.as_str());
        text.push_str("/\n");
    }
    if long && !shown.is_empty() {
        let wires: Vec<ParamSummaryWire> = shown
            .iter()
            .map(|p| ParamSummaryWire::new(p, now))
            .collect();
        text.push_str(&ParamSummaryWire::table(&wires, deleted));
    } else {
        for p in shown {
            text.push_str(p.latest.name.as_str());
            text.push('\n');
        }
    }
    if text.is_empty() && listing.unheld.is_empty() && !settings.quiet {
        let none = if deleted {
            "no deleted parameters"
        } else {
            none
        };
        eprintln!("{none} under {path}");
    }
    super::stdout::write_stdout(text.as_bytes())
}

/// What `ls` says of the parameters it left out because this home lacks the root of the key
/// that protects them.
fn unheld_note(unheld: &[(params::ParamName, String)]) -> String {
    let mut keys: Vec<&str> = unheld.iter().map(|(_, k)| k.as_str()).collect();
    keys.sort_unstable();
    keys.dedup();
    let many = keys.len() > 1;
    let keys = keys
        .iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let n = unheld.len();
    format!(
        "{n} parameter{} not listed: protected by {} {keys}, whose root{} this home does not \
         hold (only a home that holds {} checks and reads them)",
        if n == 1 { " is" } else { "s are" },
        if many { "keys" } else { "key" },
        if many { "s" } else { "" },
        if many { "them" } else { "it" },
    )
}
