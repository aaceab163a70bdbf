//! The key table's records, and the rules both backends apply to them: key names, states,
//! version ids and the additional data that binds a wrapped branch key to its row.

use super::audit::AuditEntry;
use crate::error::{Advice, Error};

/// Longest key name.
pub const MAX_NAME_LEN: usize = 64;

/// Checks a key name: 1 to 64 characters of `A-Z a-z 0-9 _ . -`, starting with a letter or
/// digit.
///
/// # Errors
/// A usage error saying what is wrong.
pub fn validate_name(name: &str) -> Result<(), Error> {
    match name_problem(name) {
        None => Ok(()),
        Some(why) => Err(
            Error::invalid(format!("bad key name `{}`: {why}", name.escape_debug()))
                .advice(Advice::KeyNameRules),
        ),
    }
}

/// What is wrong with a key name, if anything (see [`validate_name`]).
pub fn name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("empty".into());
    }
    if name.len() > MAX_NAME_LEN {
        return Some(format!("longer than {MAX_NAME_LEN} characters"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
    {
        return Some(format!("`{}` is not allowed", c.escape_debug()));
    }
    if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Some("must start with a letter or digit".into());
    }
    None
}

/// Key specs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySpec {
    /// A 256-bit symmetric branch key (hierarchical keyring).
    Aes256,
}

impl KeySpec {
    /// The spelling in the CLI and the store.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Aes256 => "aes-256",
        }
    }

    /// Parses a `--spec`.
    ///
    /// # Errors
    /// Unknown specs, and the RSA specs this build cannot make yet.
    pub fn parse(s: &str) -> Result<Self, Error> {
        match s {
            "aes-256" => Ok(Self::Aes256),
            "rsa-3072" | "rsa-4096" => Err(Error::invalid(format!(
                "key spec {s}: RSA keys are not supported yet in this build"
            ))
            .advice(Advice::LocalKeysAreAes)),
            _ => Err(Error::invalid(format!("unknown key spec `{s}`")).advice(Advice::KeySpecs)),
        }
    }
}

/// Whether a key may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    /// Encrypts and decrypts.
    Enabled,
    /// Neither encrypts nor decrypts until enabled again.
    Disabled,
}

impl KeyState {
    /// The spelling in the store and in output.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enabled => "enabled",
            Self::Disabled => "disabled",
        }
    }

    pub(crate) fn parse(s: &str) -> Result<Self, String> {
        match s {
            "enabled" => Ok(Self::Enabled),
            "disabled" => Ok(Self::Disabled),
            _ => Err(format!("unknown key state `{s}`")),
        }
    }
}

/// A key as the store holds it (no key material).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    /// The name (the branch key id).
    pub name: String,
    /// The spec, as stored.
    pub spec: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Enabled or disabled.
    pub state: KeyState,
    /// Rotation period in seconds, if the key rotates on a schedule.
    pub rotation_period_secs: Option<u64>,
    /// Versions below this one may not decrypt.
    pub min_decrypt_version: u32,
    /// The version new messages are encrypted under.
    pub active_version: u32,
    /// The root of a key with a root of its own ([`crate::store::roots`]: `local:ID`,
    /// `kms:ARN`, `pkcs11:URI`), which wraps its versions instead of the store's root key.
    pub root: Option<String>,
    /// The versions, oldest first.
    pub versions: Vec<VersionRecord>,
    /// The row's MAC and the audit entry it is tied to (`None`: not sealed; see
    /// [`crate::store::key_seal`]).
    pub seal: Option<Seal>,
    /// The newest audit entry of a change to this key, read with the row (the check of
    /// [`crate::store::key_seal`] needs it to be the entry the seal is tied to).
    pub last_change: Option<AuditEntry>,
}

/// The MAC of a `keys` row and the sequence number of the audit entry of the change that
/// wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seal {
    /// The audit entry.
    pub seq: i64,
    /// The MAC (see [`crate::store::key_seal`]).
    pub mac: Vec<u8>,
}

impl KeyRecord {
    /// When the next rotation is due (Unix seconds): the active version's creation plus the
    /// rotation period.
    pub fn next_rotation(&self) -> Option<i64> {
        let period = i64::try_from(self.rotation_period_secs?).ok()?;
        let active = self
            .versions
            .iter()
            .find(|v| v.version == self.active_version)?;
        active.created_at.checked_add(period)
    }
}

/// One version of a key (no key material).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionRecord {
    /// 1, 2, …
    pub version: u32,
    /// The 16 bytes that name this version in messages.
    pub uuid: [u8; 16],
    /// Unix seconds.
    pub created_at: i64,
    /// The root key that wraps it.
    pub root_id: String,
    /// The row's MAC (`None`: not sealed; see [`crate::store::key_seal`]).
    pub mac: Option<Vec<u8>>,
}

/// Formats a version UUID (`8-4-4-4-12` lower-case hex).
pub fn format_uuid(u: &[u8; 16]) -> String {
    coffer_core::keyring::hierarchy::format_version(u)
}

/// Authenticated data binding a wrapped branch key version to its row:
/// `"coffer branch key v1\0" ‖ name ‖ 0x00 ‖ version (u32, big-endian) ‖ uuid`.
/// Names cannot hold NUL, so the encoding is unambiguous.
pub fn branch_key_aad(name: &str, version: u32, uuid: &[u8; 16]) -> Vec<u8> {
    const LABEL: &[u8] = b"coffer branch key v1\0";
    let mut aad = Vec::with_capacity(LABEL.len() + name.len() + 1 + 4 + 16);
    aad.extend_from_slice(LABEL);
    aad.extend_from_slice(name.as_bytes());
    aad.push(0);
    aad.extend_from_slice(&version.to_be_bytes());
    aad.extend_from_slice(uuid);
    aad
}

/// What the branch key store needs to unwrap one version: the key's record, holding that
/// version only, and the version's material.
#[derive(Debug, Clone)]
pub struct VersionRow {
    /// The key, with [`KeyRecord::versions`] holding the version looked up.
    pub key: KeyRecord,
    /// The material, wrapped under the root key.
    pub wrapped: Vec<u8>,
}

impl VersionRow {
    /// The version looked up.
    ///
    /// # Errors
    /// The record holds no version (a backend's bug).
    pub fn version(&self) -> Result<&VersionRecord, Error> {
        self.key.versions.first().ok_or_else(|| {
            Error::backend(format!(
                "internal error: the row of key `{}` holds no version",
                self.key.name
            ))
        })
    }
}

/// The result of looking a version up.
#[derive(Debug)]
pub enum Lookup {
    /// No key of that name.
    NoKey,
    /// The key exists, without such a version.
    NoVersion,
    /// Found.
    Found(Box<VersionRow>),
}

/// Which version of a key to look up.
#[derive(Debug, Clone, Copy)]
pub enum Which<'a> {
    /// The active version.
    Active,
    /// The version with this UUID.
    Uuid(&'a [u8; 16]),
}

/// One version row with its wrapped material, as a root rotation reads and rewrites it.
#[cfg(feature = "sqlite")]
#[derive(Debug, Clone)]
pub(crate) struct WrappedVersion {
    pub(crate) name: String,
    pub(crate) version: u32,
    pub(crate) uuid: [u8; 16],
    pub(crate) wrapped: Vec<u8>,
    pub(crate) root_id: String,
}

/// How `Store::add_version` ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddVersion {
    /// The version was added and is active.
    Added,
    /// The active version is no longer the one the new version was made to follow.
    Changed,
    /// `--due`: the key's rotation is not due (any more).
    NotDue,
    /// The key is disabled.
    Disabled,
    /// There is no such key.
    NoKey,
}

/// How `Store::switch_root` ended.
#[cfg(feature = "sqlite")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SwitchRoot {
    /// Committed: the store uses the new root.
    Done,
    /// The store's root is no longer the old root.
    RootChanged,
    /// Version rows were added or changed since they were read.
    RowsChanged,
}

/// Checks that `key` may be retired below version `min` (`min` is at least 1 and at most
/// the active version, which must stay usable).
pub(crate) fn check_retire(key: &KeyRecord, min: u32) -> Result<(), Error> {
    let name = &key.name;
    if min == 0 {
        return Err(Error::invalid(
            "the version to retire below must be 1 or more",
        ));
    }
    if min > key.active_version {
        return Err(Error::conflict(format!(
            "cannot retire the versions below {min} of key `{name}`: its active version is \
             {}, and the active version must stay usable",
            key.active_version
        ))
        .advice(Advice::RotateBeforeRetire(name.to_owned())));
    }
    Ok(())
}

/// The audit detail of a key's state change, and its verb.
pub(crate) fn state_verb(state: KeyState) -> &'static str {
    match state {
        KeyState::Enabled => "key-enable",
        KeyState::Disabled => "key-disable",
    }
}

/// The audit detail of a rotation period change.
pub(crate) fn period_detail(period_secs: Option<u64>) -> String {
    period_secs.map_or_else(|| "none".to_owned(), |p| format!("{p}s"))
}

/// A fresh random version id (a version 4 UUID).
///
/// # Errors
/// The random source failed.
pub fn new_uuid() -> Result<[u8; 16], Error> {
    let mut u = [0u8; 16];
    coffer_core::fill_random(&mut u)
        .map_err(|_| Error::backend("the system's random number generator failed"))?;
    u[6] = (u[6] & 0x0f) | 0x40;
    u[8] = (u[8] & 0x3f) | 0x80;
    Ok(u)
}

/// In a write of key `name`, whose own root is `own`: the version written is wrapped by it.
///
/// # Errors
/// A version wrapped by another root.
pub(crate) fn check_own_root(name: &str, own: &str, version_root: &str) -> Result<(), Error> {
    if own == version_root {
        Ok(())
    } else {
        Err(Error::denied(format!(
            "key `{name}` has a root of its own ({own}), and the version written is wrapped by \
             {version_root}; nothing was changed"
        )))
    }
}
