//! `coffer init`: creates `COFFER_HOME` (0700), the store and the local root key.
//!
//! Nothing is overwritten: an existing root key, or a store that holds keys, is refused. The
//! passphrase (if any) is read before anything is created, so a mismatch leaves no trace.

use crate::cli::OutputFormat;
use crate::config::{InitSettings, Settings};
use crate::io::FileError;
use crate::output::{InitWire, SCHEMA};
use crate::report::CliError;
use coffer::store::PASSPHRASE_FILE_VAR;
use coffer::store::Store;
use coffer::store::root::{self, KdfParams, Protection};

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
    // An empty store file (a truncated one, or one made by hand) holds nothing to lose:
    // `init` sets it up; anything else is opened and must hold no keys.
    let empty_file = std::fs::metadata(home.store_path()).is_ok_and(|m| m.len() == 0);
    if home.has_store() && !empty_file && Store::open(&home)?.version_count()? > 0 {
        return Err(CliError::failure(format!(
            "the store {} holds keys, and their root key {} is missing",
            home.store_path().display(),
            root_path.display()
        ))
        .hint("restore root.key from a backup: a new root key could not unwrap those keys")
        .into());
    }
    if let Some(key) = &s.kms {
        return init_kms(settings, &home, key, already).await;
    }
    if let Some(key) = &s.pkcs11 {
        return init_pkcs11(settings, &home, key, already).await;
    }
    let (protection, passphrase) = if s.passphrase {
        let p = crate::terminal::passphrase().read(&root_path, true)?;
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
        Err(FileError::Exists(_)) => {
            return Err(already().into());
        }
        Err(e) => return Err(anyhow::Error::new(e).context("cannot write the root key")),
    }
    let root_id = root_key.id();
    store.reset_root_id_if_empty(&root_id)?;
    report(settings, &home, root_id, passphrase.is_some())
}

/// `coffer init --root kms:KEY`: the key is resolved to its ARN and tried (a wrap and an
/// unwrap through KMS) before anything is written.
#[cfg(feature = "kms")]
async fn init_kms(
    settings: &Settings,
    home: &coffer::home::Home,
    key: &str,
    already: impl Fn() -> CliError,
) -> anyhow::Result<()> {
    use coffer_core::keyring::RootKey as _;
    let arn = coffer::kms::resolve(key)
        .await
        .map_err(|e| CliError::failure(format!("--root kms:{key}")).caused_by(e.into()))?;
    let root_key = coffer::kms::KmsRootKey::new(arn.clone());
    let probe = [0u8; 32];
    let aad = b"coffer init: does this key wrap and unwrap?";
    let wrapped = root_key
        .wrap(&probe, aad)
        .await
        .map_err(|e| CliError::failure(format!("--root kms:{key}")).caused_by(e.into()))?;
    let back = root_key
        .unwrap(&wrapped, aad)
        .await
        .map_err(|e| CliError::failure(format!("--root kms:{key}")).caused_by(e.into()))?;
    if back.as_slice() != probe {
        return Err(CliError::failure(format!(
            "--root kms:{key}: the key did not give back what it wrapped"
        ))
        .into());
    }
    write_named_root(
        settings,
        home,
        &root::encode_kms(&arn)?,
        root_key.id(),
        already,
    )
}

#[cfg(not(feature = "kms"))]
async fn init_kms(
    _settings: &Settings,
    _home: &coffer::home::Home,
    key: &str,
    _already: impl Fn() -> CliError,
) -> anyhow::Result<()> {
    Err(CliError::usage(format!(
        "--root kms:{key}: this build has no AWS KMS support"
    ))
    .into())
}

/// `coffer init --root pkcs11:…`: the AES key on the token is tried (a wrap and an unwrap
/// inside it) before anything is written; root.key records its URI.
#[cfg(feature = "pkcs11")]
async fn init_pkcs11(
    settings: &Settings,
    home: &coffer::home::Home,
    key: &coffer::keyref::Pkcs11KeyRef,
    already: impl Fn() -> CliError,
) -> anyhow::Result<()> {
    let (root_key, uri) = coffer::hsm::new_root(key).await.map_err(|e| {
        CliError::failure(format!("--root pkcs11:{}", key.path())).caused_by_error(e)
    })?;
    write_named_root(
        settings,
        home,
        &root::encode_pkcs11(&uri)?,
        root_key.id(),
        already,
    )
}

#[cfg(not(feature = "pkcs11"))]
async fn init_pkcs11(
    _settings: &Settings,
    _home: &coffer::home::Home,
    key: &coffer::keyref::Pkcs11KeyRef,
    _already: impl Fn() -> CliError,
) -> anyhow::Result<()> {
    Err(CliError::usage(format!(
        "--root pkcs11:{}: this build has no PKCS#11 support",
        key.path()
    ))
    .into())
}

/// Creates the home and store, and writes a root key file that names a key kept elsewhere.
#[cfg_attr(not(any(feature = "kms", feature = "pkcs11")), allow(dead_code))]
fn write_named_root(
    settings: &Settings,
    home: &coffer::home::Home,
    file: &[u8],
    root_id: String,
    already: impl Fn() -> CliError,
) -> anyhow::Result<()> {
    home.create_dir().map_err(|e| {
        CliError::failure(format!("cannot create the directory {home}")).caused_by(e.into())
    })?;
    let store = Store::create(home)?;
    match root::write_new(&home.root_key_path(), file) {
        Ok(()) => {}
        Err(FileError::Exists(_)) => {
            return Err(already().into());
        }
        Err(e) => return Err(anyhow::Error::new(e).context("cannot write the root key file")),
    }
    store.reset_root_id_if_empty(&root_id)?;
    report(settings, home, root_id, false)
}

fn report(
    settings: &Settings,
    home: &coffer::home::Home,
    root_id: String,
    passphrase: bool,
) -> anyhow::Result<()> {
    tracing::info!(home = %home, root_id, "initialised");
    let wire = InitWire {
        kind: "init",
        schema: SCHEMA,
        home: home.to_string(),
        store: home.store_path().display().to_string(),
        root_key: home.root_key_path().display().to_string(),
        root_id,
        passphrase,
    };
    if settings.format == OutputFormat::Json {
        super::stdout::print_json(&wire)
    } else if settings.quiet {
        Ok(())
    } else {
        super::stdout::write_stdout(wire.to_text().as_bytes())
    }
}
