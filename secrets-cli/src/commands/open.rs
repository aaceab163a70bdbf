//! Opening the parameter service a verb works on.

use std::sync::Arc;

use crate::config::Settings;
/// The CLI's parameter service: the store that `settings` names (`--store`, `COFFER_STORE`,
/// else `COFFER_HOME/coffer.db`), with the CLI's keys for secure values: `encrypt_key` (`put
/// --key`, with its spelling as given) or the store key; `decrypt_keys` (`get --key`) or the
/// local keyring. Values up to `COFFER_MAX_VALUE_BYTES`.
///
/// Nothing is decrypted and no root key is loaded until something is written or a secure
/// value read; the store is checked against what the home has seen of it first.
///
/// # Errors
/// No store; a store that is not a database or is of a newer schema; a bad
/// `COFFER_MAX_VALUE_BYTES`.
pub(crate) async fn open_params(
    settings: &Settings,
    encrypt_key: Option<(coffer::keyref::KeyRef, String)>,
    decrypt_keys: Vec<coffer::keyref::KeyRef>,
) -> anyhow::Result<coffer::params::Params> {
    let max = coffer::params::max_value_bytes_from_env()?;
    let home = settings.home()?;
    let (store, table) = coffer::store::open_store(&settings.store_location()?, &home).await?;
    let seen = coffer::store::seen::SeenFile::new(&home, &table.location());
    coffer::store::audit_key::precheck(table.as_ref(), &seen).await?;
    let keys = coffer::params::StoreKeys::for_cli(
        home,
        table,
        encrypt_key,
        decrypt_keys,
        crate::terminal::passphrase(),
    );
    Ok(coffer::params::Params::new(store, Arc::new(keys), max))
}
