//! JSON wire types, kept apart from the library's types (ripgrep `jsont.rs`).
//!
//! Every object has `"type"` and `"schema": 1`. These types only serialize. They never carry
//! key material or plaintext: encrypted data keys are shown by provider id and info only.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use base64::Engine as _;
use coffer_core::{AlgorithmSuite, EncryptedDataKey, EncryptionContext};
use serde::Serialize;

/// Wire schema version.
pub const SCHEMA: u32 = 1;

/// An algorithm suite.
#[derive(Debug, Serialize)]
pub struct SuiteWire {
    /// `"0x0578"`.
    pub id: String,
    /// The ESDK name.
    pub name: &'static str,
}

impl From<AlgorithmSuite> for SuiteWire {
    fn from(s: AlgorithmSuite) -> Self {
        Self {
            id: format!("0x{:04X}", s.id()),
            name: s.name(),
        }
    }
}

/// An encrypted data key, without its ciphertext.
#[derive(Debug, Serialize)]
pub struct DataKeyWire {
    /// The key provider (namespace) id.
    pub provider_id: String,
    /// The provider info: UTF-8 text when valid, else base64.
    pub provider_info: String,
    /// `"utf8"` or `"base64"`.
    pub provider_info_encoding: &'static str,
    /// The key name, when the provider info has a known layout (raw AES, raw RSA, KMS).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_name: Option<String>,
    /// The key version, for keys of a key hierarchy (`aws-kms-hierarchy`): its UUID.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_version: Option<String>,
    /// The version's number (1, 2, …) when the local store knows the key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_version_number: Option<u32>,
    /// The local store's verdict on that version: `"active"`, `"decrypt-only"`, `"retired"`
    /// (may no longer decrypt) or `"unknown"` (not in the local store).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_version_state: Option<&'static str>,
}

impl From<&EncryptedDataKey> for DataKeyWire {
    fn from(edk: &EncryptedDataKey) -> Self {
        let (provider_info, provider_info_encoding) = match std::str::from_utf8(&edk.provider_info)
        {
            Ok(s) => (s.to_owned(), "utf8"),
            Err(_) => (
                base64::engine::general_purpose::STANDARD.encode(&edk.provider_info),
                "base64",
            ),
        };
        Self {
            provider_id: edk.provider_id.clone(),
            provider_info,
            provider_info_encoding,
            key_name: key_name(&edk.provider_info),
            key_version: coffer_core::keyring::hierarchy::describe_edk(edk)
                .map(|(_, v)| coffer_core::keyring::hierarchy::format_version(&v)),
            key_version_number: None,
            key_version_state: None,
        }
    }
}

/// The raw AES keyring's provider info ends with the tag length in bits (128), the IV length
/// (12) and the IV; other keyrings put the key name (or ARN) there as it is.
pub fn key_name(provider_info: &[u8]) -> Option<String> {
    const RAW_AES_SUFFIX: [u8; 8] = [0, 0, 0, 128, 0, 0, 0, 12];
    let name = match provider_info.len().checked_sub(20) {
        Some(n)
            if provider_info
                .get(n..n + 8)
                .is_some_and(|s| s == RAW_AES_SUFFIX) =>
        {
            provider_info.get(..n)?
        }
        _ => provider_info,
    };
    std::str::from_utf8(name).ok().map(str::to_owned)
}

fn context_map(ctx: &EncryptionContext) -> BTreeMap<String, String> {
    ctx.iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// One `--metadata-output` line.
#[derive(Debug, Serialize)]
pub struct MetadataWire {
    /// Always `"metadata"`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// [`SCHEMA`].
    pub schema: u32,
    /// `"encrypt"` or `"decrypt"`.
    pub mode: &'static str,
    /// The input (`-` for stdin).
    pub input: String,
    /// The output (`-` for stdout).
    pub output: String,
    /// The suite.
    pub suite: SuiteWire,
    /// Hex.
    pub message_id: String,
    /// The whole stored context (with `aws-crypto-` entries).
    pub encryption_context: BTreeMap<String, String>,
    /// The data keys.
    pub encrypted_data_keys: Vec<DataKeyWire>,
    /// Plaintext bytes encrypted or decrypted.
    pub bytes: u64,
}

/// A `--metadata-output` line for a file that failed.
#[derive(Debug, Serialize)]
pub struct FailureWire {
    /// Always `"failure"`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// [`SCHEMA`].
    pub schema: u32,
    /// `"encrypt"` or `"decrypt"`.
    pub mode: &'static str,
    /// The input (`-` for stdin).
    pub input: String,
    /// The output that was not written (`-` for stdout).
    pub output: String,
    /// Why, as the error message says it (never key material or plaintext).
    pub reason: String,
}

impl FailureWire {
    /// Builds a record.
    pub fn new(mode: &'static str, input: String, output: String, err: &anyhow::Error) -> Self {
        Self {
            kind: "failure",
            schema: SCHEMA,
            mode,
            input,
            output,
            reason: format!("{err:#}"),
        }
    }
}

impl MetadataWire {
    /// Builds a record.
    pub fn new(
        mode: &'static str,
        input: String,
        output: String,
        suite: AlgorithmSuite,
        message_id: &[u8],
        context: &EncryptionContext,
        edks: &[EncryptedDataKey],
    ) -> Self {
        Self {
            kind: "metadata",
            schema: SCHEMA,
            mode,
            input,
            output,
            suite: suite.into(),
            message_id: hex::encode(message_id),
            encryption_context: context_map(context),
            encrypted_data_keys: edks.iter().map(DataKeyWire::from).collect(),
            bytes: 0,
        }
    }
}

/// The last line of a directory run (`-r`) in JSON mode.
#[derive(Debug, Serialize)]
pub struct SummaryWire {
    /// Always `"summary"`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// [`SCHEMA`].
    pub schema: u32,
    /// `"encrypt"` or `"decrypt"`.
    pub mode: &'static str,
    /// Files processed (`succeeded + failed`).
    pub files: u64,
    /// Files written.
    pub succeeded: u64,
    /// Files that failed (each has its own error).
    pub failed: u64,
    /// Files left alone (decrypting: no `.coffer` suffix).
    pub skipped: u64,
    /// Plaintext bytes of the files written.
    pub bytes: u64,
    /// Wall-clock seconds of the run.
    pub seconds: f64,
}

impl SummaryWire {
    /// The human-readable form (one line, no newline).
    pub fn to_text(&self) -> String {
        let verb = if self.mode == "encrypt" {
            "encrypted"
        } else {
            "decrypted"
        };
        let count = if self.failed == 0 {
            format!("{} file{}", self.succeeded, plural(self.succeeded))
        } else {
            format!(
                "{} of {} file{}",
                self.succeeded,
                self.files,
                plural(self.files)
            )
        };
        let mut s = format!(
            "{verb} {count} ({}) in {:.2} s",
            indicatif::HumanBytes(self.bytes),
            self.seconds
        );
        if self.failed > 0 {
            let _ = write!(s, ", {} failed", self.failed);
        }
        if self.skipped > 0 {
            let _ = write!(s, ", {} skipped", self.skipped);
        }
        s
    }
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// `coffer inspect --output json`.
#[derive(Debug, Serialize)]
pub struct HeaderWire {
    /// Always `"header"`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// [`SCHEMA`].
    pub schema: u32,
    /// The input (`-` for stdin).
    pub input: String,
    /// Message format version (1 or 2).
    pub version: u8,
    /// The suite.
    pub suite: SuiteWire,
    /// Hex.
    pub message_id: String,
    /// `"framed"` or `"non-framed"`.
    pub content_type: &'static str,
    /// Frame length in bytes (0 for non-framed).
    pub frame_length: u32,
    /// The stored context.
    pub encryption_context: BTreeMap<String, String>,
    /// The data keys.
    pub encrypted_data_keys: Vec<DataKeyWire>,
}

impl HeaderWire {
    /// Builds the record from a parsed header.
    pub fn new(input: String, h: &coffer_core::MessageHeader) -> Self {
        Self {
            kind: "header",
            schema: SCHEMA,
            input,
            version: h.version(),
            suite: h.suite.into(),
            message_id: hex::encode(&h.message_id),
            content_type: content_type_name(h),
            frame_length: h.frame_length,
            encryption_context: context_map(&h.context),
            encrypted_data_keys: h.edks.iter().map(DataKeyWire::from).collect(),
        }
    }

    /// The human-readable form.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "input:       {}", self.input);
        let _ = writeln!(s, "version:     {}", self.version);
        let _ = writeln!(s, "suite:       {} {}", self.suite.id, self.suite.name);
        let _ = writeln!(s, "message id:  {}", self.message_id);
        if self.content_type == "framed" {
            let _ = writeln!(s, "content:     framed, {}-byte frames", self.frame_length);
        } else {
            let _ = writeln!(s, "content:     {}", self.content_type);
        }
        if self.encryption_context.is_empty() {
            let _ = writeln!(s, "context:     (empty)");
        } else {
            let _ = writeln!(s, "context:");
            for (k, v) in &self.encryption_context {
                let _ = writeln!(s, "  {} = {}", k.escape_debug(), v.escape_debug());
            }
        }
        let _ = writeln!(s, "data keys:   {}", self.encrypted_data_keys.len());
        for k in &self.encrypted_data_keys {
            let name = k.key_name.as_deref().map_or_else(
                || format!("(info, base64: {})", k.provider_info),
                |n| n.escape_debug().to_string(),
            );
            let version = match (&k.key_version, k.key_version_number, k.key_version_state) {
                (_, Some(n), Some(state)) => format!("  version {n} ({state})"),
                (Some(uuid), None, Some(state)) => format!("  version {uuid} ({state})"),
                (Some(uuid), _, None) => format!("  version {uuid}"),
                _ => String::new(),
            };
            let _ = writeln!(s, "  {}  {}{version}", k.provider_id.escape_debug(), name);
        }
        s
    }
}

fn content_type_name(h: &coffer_core::MessageHeader) -> &'static str {
    if h.content_type == coffer_core::format::ContentType::Framed {
        "framed"
    } else {
        "non-framed"
    }
}

/// `coffer init --output json`.
#[derive(Debug, Serialize)]
pub struct InitWire {
    /// Always `"init"`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// [`SCHEMA`].
    pub schema: u32,
    /// `COFFER_HOME`.
    pub home: String,
    /// The database file.
    pub store: String,
    /// The root key file.
    pub root_key: String,
    /// The root key's non-secret id.
    pub root_id: String,
    /// Whether the root key is passphrase-protected.
    pub passphrase: bool,
}

impl InitWire {
    /// The human-readable form.
    pub fn to_text(&self) -> String {
        if let Some(arn) = self.root_id.strip_prefix("kms:") {
            return format!(
                "initialised {}\n  store:    {}\n  root key: the AWS KMS key {arn} (named in {})\nbranch keys are wrapped by KMS: whoever may use that key may use the keys of this store\n",
                self.home, self.store, self.root_key
            );
        }
        if self.root_id.starts_with("pkcs11:") {
            return format!(
                "initialised {}\n  store:    {}\n  root key: the PKCS#11 key {} (named in {})\nbranch keys are wrapped inside the token: the store's keys need that token and its PIN\n",
                self.home, self.store, self.root_id, self.root_key
            );
        }
        format!(
            "initialised {}\n  store:    {}\n  root key: {} ({})\nback the root key up: without it the keys in the store cannot be used\n",
            self.home,
            self.store,
            self.root_key,
            if self.passphrase {
                "passphrase-protected"
            } else {
                "not passphrase-protected; mode 0600"
            }
        )
    }
}

/// One version of a key (never its material).
#[derive(Debug, Serialize)]
pub struct KeyVersionWire {
    /// 1, 2, …
    pub version: u32,
    /// The UUID that names the version in messages.
    pub id: String,
    /// RFC 3339.
    pub created_at: String,
    /// New messages use this version.
    pub active: bool,
    /// Below the minimum decryption version: may not decrypt.
    pub retired: bool,
    /// The root key that wraps it.
    pub root_id: String,
}

/// A rotation done (`rotate NAME`).
#[derive(Debug, Serialize)]
pub struct RotationWire {
    /// Always `"rotation"`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// [`SCHEMA`].
    pub schema: u32,
    /// The parameter.
    pub name: String,
    /// The version now `current`.
    pub version: u32,
    /// The version now `previous` (`null`: none).
    pub previous: Option<u32>,
    /// Whether a version left pending by an earlier run was resumed.
    pub resumed: bool,
    /// The hooks that ran (`set`, `test`).
    pub hooks: Vec<&'static str>,
}

impl RotationWire {
    /// The human-readable form.
    pub fn to_text(&self) -> String {
        match self.previous {
            Some(p) => format!(
                "rotated {}: version {} is current, version {p} previous\n",
                self.name, self.version
            ),
            None => format!(
                "rotated {}: version {} is current\n",
                self.name, self.version
            ),
        }
    }
}

/// A key made on a PKCS#11 token (`key create NAME --in pkcs11:…`).
#[derive(Debug, Serialize)]
pub struct TokenKeyWire {
    /// Always `"token-key"`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// [`SCHEMA`].
    pub schema: u32,
    /// The key's label on the token.
    pub name: String,
    /// `aes-256`.
    pub spec: &'static str,
    /// The token's label.
    pub token: String,
    /// The URI that names the key (`--key`, `init --root`); never a PIN value.
    pub uri: String,
}

/// A key (`key create|show`; one line per key for `key list`).
#[derive(Debug, Serialize)]
pub struct KeyWire {
    /// Always `"key"`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// [`SCHEMA`].
    pub schema: u32,
    /// The name.
    pub name: String,
    /// `aes-256`.
    pub spec: String,
    /// `enabled` or `disabled`.
    pub state: &'static str,
    /// RFC 3339.
    pub created_at: String,
    /// The version new messages use.
    pub active_version: u32,
    /// Versions below this one may not decrypt.
    pub min_decrypt_version: u32,
    /// `90d`, or `null` without a schedule.
    pub rotation_period: Option<String>,
    /// The same in seconds.
    pub rotation_period_secs: Option<u64>,
    /// RFC 3339, or `null` without a schedule.
    pub next_rotation: Option<String>,
    /// Whether the next rotation is due now.
    pub rotation_due: bool,
    /// Oldest first.
    pub versions: Vec<KeyVersionWire>,
}

impl KeyWire {
    /// Builds the record (`now` decides `rotation_due`).
    pub fn new(k: &crate::store::KeyRecord, now: i64) -> Self {
        use crate::time::{format_duration, format_rfc3339};
        let next = k.next_rotation();
        Self {
            kind: "key",
            schema: SCHEMA,
            name: k.name.clone(),
            spec: k.spec.clone(),
            state: k.state.as_str(),
            created_at: format_rfc3339(k.created_at),
            active_version: k.active_version,
            min_decrypt_version: k.min_decrypt_version,
            rotation_period: k.rotation_period_secs.map(format_duration),
            rotation_period_secs: k.rotation_period_secs,
            next_rotation: next.map(format_rfc3339),
            rotation_due: next.is_some_and(|t| t <= now),
            versions: k
                .versions
                .iter()
                .map(|v| KeyVersionWire {
                    version: v.version,
                    id: crate::store::format_uuid(&v.uuid),
                    created_at: format_rfc3339(v.created_at),
                    active: v.version == k.active_version,
                    retired: v.version < k.min_decrypt_version,
                    root_id: v.root_id.clone(),
                })
                .collect(),
        }
    }

    /// `every 90d, next …`, `every 90d, due since …` or `none`.
    pub fn rotation_text(&self) -> String {
        match (&self.rotation_period, &self.next_rotation) {
            (Some(p), Some(n)) if self.rotation_due => format!("every {p}, due since {n}"),
            (Some(p), Some(n)) => format!("every {p}, next {n}"),
            (Some(p), None) => format!("every {p}"),
            _ => "none".to_owned(),
        }
    }

    /// `key show`.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "name:                {}", self.name);
        let _ = writeln!(s, "spec:                {}", self.spec);
        let _ = writeln!(s, "state:               {}", self.state);
        let _ = writeln!(s, "created:             {}", self.created_at);
        let _ = writeln!(s, "rotation:            {}", self.rotation_text());
        let _ = writeln!(s, "active version:      {}", self.active_version);
        let _ = writeln!(s, "min decrypt version: {}", self.min_decrypt_version);
        let _ = writeln!(s, "versions:            {}", self.versions.len());
        for v in &self.versions {
            let mut notes = Vec::new();
            if v.active {
                notes.push("active");
            }
            if v.retired {
                notes.push("retired");
            }
            let _ = writeln!(
                s,
                "  {:>4}  {}  {}  {}",
                v.version,
                v.created_at,
                v.id,
                notes.join(", ")
            );
        }
        s
    }

    /// `key list`: a table with a header line.
    pub fn table(keys: &[Self]) -> String {
        let head = ["NAME", "STATE", "SPEC", "VERSION", "ROTATION"];
        let rows: Vec<[String; 5]> = keys
            .iter()
            .map(|k| {
                [
                    k.name.clone(),
                    k.state.to_owned(),
                    k.spec.clone(),
                    k.active_version.to_string(),
                    k.rotation_text(),
                ]
            })
            .collect();
        let mut width = head.map(str::len);
        for r in &rows {
            for (w, c) in width.iter_mut().zip(r) {
                *w = (*w).max(c.len());
            }
        }
        let mut s = String::new();
        let mut line = |cells: [&str; 5]| {
            let mut l = String::new();
            for (i, (c, w)) in cells.iter().zip(width).enumerate() {
                if i + 1 == cells.len() {
                    l.push_str(c);
                } else {
                    let _ = write!(l, "{c:<w$}  ");
                }
            }
            s.push_str(l.trim_end());
            s.push('\n');
        };
        line(head);
        for r in &rows {
            line([&r[0], &r[1], &r[2], &r[3], &r[4]]);
        }
        s
    }
}

/// `key enable|disable --output json`.
#[derive(Debug, Serialize)]
pub struct KeyStateWire {
    /// Always `"key_state"`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// [`SCHEMA`].
    pub schema: u32,
    /// The name.
    pub name: String,
    /// `enabled` or `disabled`.
    pub state: &'static str,
    /// Whether the state changed (`false`: it was so already).
    pub changed: bool,
}

/// `key rotate NAME|--due --output json`: one per rotated key.
#[derive(Debug, Serialize)]
pub struct KeyRotatedWire {
    /// Always `"key_rotated"`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// [`SCHEMA`].
    pub schema: u32,
    /// The key.
    pub name: String,
    /// The new, active version.
    pub version: u32,
    /// Its UUID (as messages name it).
    pub id: String,
    /// RFC 3339.
    pub created_at: String,
    /// The version that was active before (it still decrypts).
    pub previous_version: u32,
    /// `manual` (`key rotate NAME`) or `due` (`key rotate --due`).
    pub reason: &'static str,
}

impl KeyRotatedWire {
    /// The record of `r`.
    pub fn new(r: &crate::store::Rotation, reason: &'static str) -> Self {
        Self {
            kind: "key_rotated",
            schema: SCHEMA,
            name: r.name.clone(),
            version: r.version.version,
            id: crate::store::format_uuid(&r.version.uuid),
            created_at: crate::time::format_rfc3339(r.version.created_at),
            previous_version: r.previous_version,
            reason,
        }
    }

    /// One line of text.
    pub fn to_text(&self) -> String {
        format!(
            "rotated key {}: version {} ({}) is active; older versions still decrypt unless \
             retired",
            self.name, self.version, self.id
        )
    }
}

/// `key rotate --due --output json` when no key was due.
#[derive(Debug, Serialize)]
pub struct NothingDueWire {
    /// Always `"nothing_due"`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// [`SCHEMA`].
    pub schema: u32,
    /// How many keys have a rotation period.
    pub scheduled_keys: usize,
    /// The earliest next rotation of an enabled key (RFC 3339), if any.
    pub next_rotation: Option<String>,
}

impl NothingDueWire {
    /// One line of text.
    pub fn to_text(&self) -> String {
        match &self.next_rotation {
            Some(n) => format!(
                "nothing due ({} key(s) rotate on a schedule; the next rotation is due {n})",
                self.scheduled_keys
            ),
            None => format!(
                "nothing due ({} key(s) rotate on a schedule)",
                self.scheduled_keys
            ),
        }
    }
}

/// `key rotate --root --output json`.
#[derive(Debug, Serialize)]
pub struct RootRotatedWire {
    /// Always `"root_rotated"`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// [`SCHEMA`].
    pub schema: u32,
    /// The root key before.
    pub old_root_id: String,
    /// The root key now.
    pub new_root_id: String,
    /// Key versions re-wrapped.
    pub versions: usize,
    /// Keys they belong to.
    pub keys: usize,
    /// The root key file is passphrase-protected (by the same passphrase as before).
    pub passphrase: bool,
    /// The root key file.
    pub root_key: String,
}

impl RootRotatedWire {
    /// The record of `r`.
    pub fn new(r: &crate::store::RootRotation, root_key: String) -> Self {
        Self {
            kind: "root_rotated",
            schema: SCHEMA,
            old_root_id: r.old_root_id.clone(),
            new_root_id: r.new_root_id.clone(),
            versions: r.versions,
            keys: r.keys,
            passphrase: r.passphrase,
            root_key,
        }
    }

    /// Text.
    pub fn to_text(&self) -> String {
        format!(
            "rotated the root key: {} -> {}; {} version(s) of {} key(s) re-wrapped{}\n\
             back up {} again: the previous copy no longer opens the keys of this store\n",
            self.old_root_id,
            self.new_root_id,
            self.versions,
            self.keys,
            if self.passphrase {
                " (same passphrase)"
            } else {
                ""
            },
            self.root_key
        )
    }
}

/// `version 3` or `versions 3 to 5`.
fn span(from: u32, to: u32) -> String {
    if from == to {
        format!("version {from}")
    } else {
        format!("versions {from} to {to}")
    }
}

/// `key retire --output json`.
#[derive(Debug, Serialize)]
pub struct KeyRetiredWire {
    /// Always `"key_retired"`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// [`SCHEMA`].
    pub schema: u32,
    /// The key.
    pub name: String,
    /// Versions below this one may not decrypt.
    pub min_decrypt_version: u32,
    /// The minimum before.
    pub previous_min_decrypt_version: u32,
    /// The active version.
    pub active_version: u32,
}

impl KeyRetiredWire {
    /// One line of text.
    pub fn to_text(&self) -> String {
        let (n, prev) = (self.min_decrypt_version, self.previous_min_decrypt_version);
        let what = match n.cmp(&prev) {
            std::cmp::Ordering::Equal => "unchanged".to_owned(),
            std::cmp::Ordering::Greater => format!("was {prev}; {} retired", span(prev, n - 1)),
            std::cmp::Ordering::Less => {
                format!("was {prev}; {} decrypt again", span(n, prev - 1))
            }
        };
        if n <= 1 {
            format!("key {}: every version may decrypt ({what})", self.name)
        } else {
            format!(
                "key {}: versions below {n} may no longer decrypt ({what})",
                self.name
            )
        }
    }
}

/// One version of a parameter, without its value (`put`, `history`).
#[derive(Debug, Serialize)]
pub struct ParamVersionWire {
    /// Always `"param_version"`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// [`SCHEMA`].
    pub schema: u32,
    /// The parameter.
    pub name: String,
    /// 1, 2, …
    pub version: u32,
    /// `string`, `string-list` or `secure-string`.
    pub param_type: &'static str,
    /// The labels pointing at this version.
    pub labels: Vec<String>,
    /// RFC 3339.
    pub created_at: String,
    /// The OS user that wrote it.
    pub author: String,
    /// `--description`.
    pub description: Option<String>,
    /// `--tag`.
    pub tags: BTreeMap<String, String>,
    /// RFC 3339, or `null`.
    pub expires_at: Option<String>,
    /// Whether the value has expired now.
    pub expired: bool,
    /// RFC 3339 when the value was destroyed, or `null`.
    pub destroyed_at: Option<String>,
    /// The key a secure value was encrypted with.
    pub key: Option<String>,
}

impl ParamVersionWire {
    /// The record of `m` (`now` decides `expired`).
    pub fn new(m: &crate::params::VersionMeta, now: i64) -> Self {
        use crate::time::format_rfc3339;
        Self {
            kind: "param_version",
            schema: SCHEMA,
            name: m.name.to_string(),
            version: m.version,
            param_type: m.param_type.as_str(),
            labels: m.labels.clone(),
            created_at: format_rfc3339(m.created_at),
            author: m.author.clone(),
            description: m.description.clone(),
            tags: m.tags.clone(),
            expires_at: m.expires_at.map(format_rfc3339),
            expired: m.is_expired(now),
            destroyed_at: m.destroyed_at.map(format_rfc3339),
            key: m.key_ref.clone(),
        }
    }

    /// `history`: a table with a header line.
    pub fn table(versions: &[Self]) -> String {
        let head = ["VERSION", "CREATED", "AUTHOR", "TYPE", "LABELS", "NOTES"];
        let rows: Vec<[String; 6]> = versions
            .iter()
            .map(|v| {
                let mut notes = Vec::new();
                if let Some(d) = &v.destroyed_at {
                    notes.push(format!("destroyed {d}"));
                }
                match (&v.expires_at, v.expired) {
                    (Some(t), true) => notes.push(format!("expired {t}")),
                    (Some(t), false) => notes.push(format!("expires {t}")),
                    _ => {}
                }
                if let Some(d) = &v.description {
                    notes.push(d.escape_debug().to_string());
                }
                [
                    v.version.to_string(),
                    v.created_at.clone(),
                    v.author.escape_debug().to_string(),
                    v.param_type.to_owned(),
                    if v.labels.is_empty() {
                        "-".to_owned()
                    } else {
                        v.labels.join(",").escape_debug().to_string()
                    },
                    notes.join("; "),
                ]
            })
            .collect();
        table(&head, &rows)
    }
}

/// A left-aligned table with a header line (the last column is not padded).
fn table<const N: usize>(head: &[&str; N], rows: &[[String; N]]) -> String {
    let mut width = head.map(str::len);
    for r in rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.len());
        }
    }
    let mut s = String::new();
    let mut line = |cells: Vec<&str>| {
        let mut l = String::new();
        for (i, (c, w)) in cells.iter().zip(width).enumerate() {
            if i + 1 == N {
                l.push_str(c);
            } else {
                let _ = write!(l, "{c:<w$}  ");
            }
        }
        s.push_str(l.trim_end());
        s.push('\n');
    };
    line(head.to_vec());
    for r in rows {
        line(r.iter().map(String::as_str).collect());
    }
    s
}

/// `get --output json`: a version with its value.
#[derive(Debug, Serialize)]
pub struct ParamWire<'a> {
    /// Always `"param"`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// [`SCHEMA`].
    pub schema: u32,
    /// The parameter.
    pub name: String,
    /// 1, 2, …
    pub version: u32,
    /// `string`, `string-list` or `secure-string`.
    pub param_type: &'static str,
    /// The value (asked for: `get`).
    pub value: &'a str,
    /// `string-list`: the items (split at commas).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<&'a str>>,
    /// The labels pointing at this version.
    pub labels: Vec<String>,
    /// RFC 3339.
    pub created_at: String,
    /// The OS user that wrote it.
    pub author: String,
    /// `--description`.
    pub description: Option<String>,
    /// `--tag`.
    pub tags: BTreeMap<String, String>,
    /// RFC 3339, or `null`.
    pub expires_at: Option<String>,
    /// The key a secure value was encrypted with.
    pub key: Option<String>,
}

impl<'a> ParamWire<'a> {
    /// The record of `p`. It holds the value: the caller wipes what it serializes.
    pub fn new(p: &'a crate::params::Param) -> Self {
        use crate::time::format_rfc3339;
        let m = &p.meta;
        let value = p.value.expose();
        Self {
            kind: "param",
            schema: SCHEMA,
            name: m.name.to_string(),
            version: m.version,
            param_type: m.param_type.as_str(),
            value,
            values: (m.param_type == crate::params::ParamType::StringList)
                .then(|| value.split(',').collect()),
            labels: m.labels.clone(),
            created_at: format_rfc3339(m.created_at),
            author: m.author.clone(),
            description: m.description.clone(),
            tags: m.tags.clone(),
            expires_at: m.expires_at.map(format_rfc3339),
            key: m.key_ref.clone(),
        }
    }
}

/// `ls --output json`: a parameter (its latest version, never its value).
#[derive(Debug, Serialize)]
pub struct ParamSummaryWire {
    /// Always `"param_summary"`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// [`SCHEMA`].
    pub schema: u32,
    /// The parameter.
    pub name: String,
    /// The latest version.
    pub version: u32,
    /// Its type.
    pub param_type: &'static str,
    /// Its labels.
    pub labels: Vec<String>,
    /// RFC 3339: the first version.
    pub created_at: String,
    /// RFC 3339: the latest version.
    pub updated_at: String,
    /// The latest version's expiry (RFC 3339), or `null`.
    pub expires_at: Option<String>,
    /// Whether it has expired now.
    pub expired: bool,
    /// Whether the latest version's value was destroyed.
    pub destroyed: bool,
    /// The latest version's description.
    pub description: Option<String>,
}

impl ParamSummaryWire {
    /// The record of `s`.
    pub fn new(s: &crate::params::ParamSummary, now: i64) -> Self {
        use crate::time::format_rfc3339;
        let m = &s.latest;
        Self {
            kind: "param_summary",
            schema: SCHEMA,
            name: m.name.to_string(),
            version: m.version,
            param_type: m.param_type.as_str(),
            labels: m.labels.clone(),
            created_at: format_rfc3339(s.created_at),
            updated_at: format_rfc3339(m.created_at),
            expires_at: m.expires_at.map(format_rfc3339),
            expired: m.is_expired(now),
            destroyed: m.destroyed_at.is_some(),
            description: m.description.clone(),
        }
    }
}

/// `ls --output json` without `-r`: a path one level below that holds parameters.
#[derive(Debug, Serialize)]
pub struct ParamPathWire {
    /// Always `"param_path"`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// [`SCHEMA`].
    pub schema: u32,
    /// The path (`/app/prod`).
    pub path: String,
}

/// One label moved by `label`.
#[derive(Debug, Serialize)]
pub struct LabelMoveWire {
    /// The label.
    pub label: String,
    /// The version it pointed at before, or `null`.
    pub from: Option<u32>,
    /// The version it points at now (`null`: removed by `unlabel`).
    pub to: Option<u32>,
}

/// `label`, `unlabel --output json`.
#[derive(Debug, Serialize)]
pub struct ParamLabelsWire {
    /// Always `"param_labels"`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// [`SCHEMA`].
    pub schema: u32,
    /// The parameter.
    pub name: String,
    /// The labels moved, set or removed.
    pub labels: Vec<LabelMoveWire>,
}

impl ParamLabelsWire {
    /// Text, one line per label.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        for l in &self.labels {
            let _ = match (l.from, l.to) {
                (None, Some(to)) => writeln!(s, "{}: label {} -> version {to}", self.name, l.label),
                (Some(from), Some(to)) if from == to => writeln!(
                    s,
                    "{}: label {} -> version {to} (unchanged)",
                    self.name, l.label
                ),
                (Some(from), Some(to)) => writeln!(
                    s,
                    "{}: label {} -> version {to} (was {from})",
                    self.name, l.label
                ),
                (Some(from), None) => writeln!(
                    s,
                    "{}: label {} removed (was version {from})",
                    self.name, l.label
                ),
                (None, None) => Ok(()),
            };
        }
        s
    }
}

/// `rm`, `restore`, `destroy --output json`.
#[derive(Debug, Serialize)]
pub struct ParamChangeWire {
    /// `"param_deleted"`, `"param_restored"` or `"param_destroyed"`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// [`SCHEMA`].
    pub schema: u32,
    /// The parameter.
    pub name: String,
    /// `destroy`: the versions whose values were destroyed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub versions: Option<Vec<u32>>,
    /// `destroy`: whether the whole parameter is gone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub whole: Option<bool>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    #[test]
    fn summary_text() {
        let mut w = SummaryWire {
            kind: "summary",
            schema: SCHEMA,
            mode: "encrypt",
            files: 3,
            succeeded: 3,
            failed: 0,
            skipped: 0,
            bytes: 2048,
            seconds: 0.5,
        };
        assert_eq!(w.to_text(), "encrypted 3 files (2.00 KiB) in 0.50 s");
        w.mode = "decrypt";
        w.succeeded = 1;
        w.failed = 2;
        w.skipped = 1;
        assert_eq!(
            w.to_text(),
            "decrypted 1 of 3 files (2.00 KiB) in 0.50 s, 2 failed, 1 skipped"
        );
        let v = serde_json::to_value(&w).unwrap();
        assert_eq!(v["type"], "summary");
        assert_eq!(v["files"], 3);
    }

    #[test]
    fn raw_aes_provider_info_key_name() {
        let mut info = b"master.key".to_vec();
        info.extend_from_slice(&[0, 0, 0, 128, 0, 0, 0, 12]);
        info.extend_from_slice(&[0xff; 12]);
        assert_eq!(key_name(&info).as_deref(), Some("master.key"));
        assert_eq!(key_name(b"rsa-key").as_deref(), Some("rsa-key"));
        assert_eq!(key_name(&[0xff, 0xfe]), None);

        let edk = EncryptedDataKey {
            provider_id: "coffer".into(),
            provider_info: info,
            ciphertext: vec![1, 2, 3],
        };
        let w = DataKeyWire::from(&edk);
        assert_eq!(w.provider_info_encoding, "base64");
        assert_eq!(w.key_name.as_deref(), Some("master.key"));
        let json = serde_json::to_string(&w).unwrap();
        assert!(!json.contains("AQID"), "ciphertext must not appear: {json}");
    }
}

/// `audit ls --output json`: one per entry.
#[derive(Debug, Serialize)]
pub struct AuditEntryWire {
    /// Always `"audit_entry"`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// [`SCHEMA`].
    pub schema: u32,
    /// 1, 2, …
    pub seq: i64,
    /// RFC 3339.
    pub at: String,
    /// The OS user.
    pub user: String,
    /// `put`, `get-secure`, `key-rotate`, …
    pub verb: String,
    /// The parameter or key.
    pub name: String,
    /// Version numbers, labels (never a value).
    pub detail: String,
    /// The entry's hash (hex).
    pub hash: String,
}

impl AuditEntryWire {
    /// The wire form of `e`.
    pub fn new(e: &crate::store::audit::AuditEntry) -> Self {
        Self {
            kind: "audit_entry",
            schema: SCHEMA,
            seq: e.seq,
            at: crate::time::format_rfc3339(e.at),
            user: e.user.clone(),
            verb: e.verb.clone(),
            name: e.name.clone(),
            detail: e.detail.clone(),
            hash: hex::encode(&e.hash),
        }
    }

    /// Aligned text lines: `SEQ  TIME  USER  VERB  NAME  DETAIL`. Every field is shown with
    /// its control characters escaped (`\n`, `\u{1b}`): an entry is one line, and whoever
    /// wrote the store cannot forge lines or send codes to the terminal.
    pub fn table(entries: &[Self]) -> String {
        let rows: Vec<[String; 5]> = entries
            .iter()
            .map(|e| {
                [
                    e.seq.to_string(),
                    e.user.escape_debug().to_string(),
                    e.verb.escape_debug().to_string(),
                    e.name.escape_debug().to_string(),
                    e.detail.escape_debug().to_string(),
                ]
            })
            .collect();
        let w = |i: usize, min: usize| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .max()
                .unwrap_or(0)
                .max(min)
        };
        let (ws, wu, wv, wn) = (w(0, 3), w(1, 4), w(2, 4), w(3, 4));
        let mut s = format!(
            "{:>ws$}  {:<20}  {:<wu$}  {:<wv$}  {:<wn$}  DETAIL\n",
            "SEQ", "TIME", "USER", "VERB", "NAME"
        );
        for (e, [seq, user, verb, name, detail]) in entries.iter().zip(&rows) {
            let line = format!(
                "{seq:>ws$}  {:<20}  {user:<wu$}  {verb:<wv$}  {name:<wn$}  {detail}",
                e.at.escape_debug()
            );
            let _ = writeln!(s, "{}", line.trim_end());
        }
        s
    }
}

/// `audit verify --output json` when the chain holds.
#[derive(Debug, Serialize)]
pub struct AuditVerifiedWire {
    /// Always `"audit_verified"`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// [`SCHEMA`].
    pub schema: u32,
    /// Always `true` (a broken chain is an error).
    pub ok: bool,
    /// How many entries.
    pub entries: u64,
}
