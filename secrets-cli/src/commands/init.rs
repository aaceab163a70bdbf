//! `coffer init`: creates `COFFER_HOME` (0700), the store and the local root key.
//!
//! Nothing is overwritten: an existing root key, or a store that holds keys, is refused. The
//! passphrase (if any) is read before anything is created, so a mismatch leaves no trace.

use crate::cli::OutputFormat;
use crate::config::{InitSettings, Settings};
use crate::io::FileError;
use crate::output::{InitWire, SCHEMA};
use crate::report::CliError;
use crate::store::Store;
use crate::store::root::{self, KdfParams, PASSPHRASE_FILE_VAR, PassphraseSource, Protection};

/// Runs `coffer init`.
pub async fn run(settings: &Settings, s: &InitSettings) -> anyhow::Result<()> {
    let home = settings.home()?;
    let root_path = home.root_key_path();
    let already = || {
        CliError::failure(format!(
            "coffer is set up in {home} already (its root key {} exists)",
            root_path.display()
        ))
        .hint("nothing was changed; use --home DIR or COFFER_HOME for another home")
    };
    if root_path.symlink_metadata().is_ok() {
        return Err(already().into());
    }
    if home.has_store() && Store::open(&home)?.version_count()? > 0 {
        return Err(CliError::failure(format!(
            "the store {} holds keys, and their root key {} is missing",
            home.store_path().display(),
            root_path.display()
        ))
        .hint("restore root.key from a backup: a new root key could not unwrap those keys")
        .into());
    }
    let (protection, passphrase) = if s.passphrase {
        let p = PassphraseSource::from_env().read(&root_path, true)?;
        (Protection::Passphrase(KdfParams::DEFAULT), Some(p))
    } else {
        if std::env::var_os(PASSPHRASE_FILE_VAR).is_some_and(|v| !v.is_empty()) {
            tracing::warn!(
                "{PASSPHRASE_FILE_VAR} is set but --passphrase was not given: the root key is \
                 not passphrase-protected"
            );
        }
        (Protection::Plain, None)
    };

    home.create_dir().map_err(|e| {
        CliError::failure(format!("cannot create the directory {home}")).caused_by(e.into())
    })?;
    let store = Store::create(&home)?;
    let material = root::RootKeyMaterial::generate()?;
    let bytes = root::encode(&material, protection, passphrase.as_ref())?;
    let root_key = material.into_root_key()?;
    match root::write_new(&root_path, &bytes) {
        Ok(()) => {}
        Err(e) if matches!(e.downcast_ref::<FileError>(), Some(FileError::Exists(_))) => {
            return Err(already().into());
        }
        Err(e) => return Err(e.context("cannot write the root key")),
    }
    let root_id = root_key.id();
    store.reset_root_id_if_empty(&root_id)?;
    tracing::info!(home = %home, root_id, "initialised");

    let wire = InitWire {
        kind: "init",
        schema: SCHEMA,
        home: home.to_string(),
        store: home.store_path().display().to_string(),
        root_key: root_path.display().to_string(),
        root_id,
        passphrase: passphrase.is_some(),
    };
    if settings.format == OutputFormat::Json {
        super::print_json(&wire)
    } else if settings.quiet {
        Ok(())
    } else {
        super::write_stdout(wire.to_text().as_bytes())
    }
}
