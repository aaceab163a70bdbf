//! The documents about messages: headers, data keys, per-file metadata and run summaries.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use base64::Engine as _;
use coffer_core::{AlgorithmSuite, EncryptedDataKey, EncryptionContext};
use serde::Serialize;

use super::SCHEMA;

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

pub(super) fn context_map(ctx: &EncryptionContext) -> BTreeMap<String, String> {
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

pub(super) fn plural(n: u64) -> &'static str {
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

pub(super) fn content_type_name(h: &coffer_core::MessageHeader) -> &'static str {
    if h.content_type == coffer_core::format::ContentType::Framed {
        "framed"
    } else {
        "non-framed"
    }
}
