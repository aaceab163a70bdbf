//! Reading ESDK test-vector manifests: decrypt manifests (`awses-decrypt`,
//! versions 1 to 4) and keys manifests (`keys`, versions 1 to 3).
//!
//! Everything that is malformed is reported as an [`Error`] naming the file and
//! what is wrong with it. Things that are well-formed but that this tool cannot
//! run (AWS KMS keys, other key types) are kept as
//! [`KeyDescription::Unsupported`] / [`KeyMaterial::Unsupported`] so that the
//! runner can count the test as skipped.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Component, Path, PathBuf};

use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// Manifest type of a decrypt manifest.
pub const DECRYPT_MANIFEST_TYPE: &str = "awses-decrypt";
/// Manifest type of a keys manifest.
pub const KEYS_MANIFEST_TYPE: &str = "keys";
/// Decrypt manifest versions this loader understands.
pub const DECRYPT_VERSIONS: std::ops::RangeInclusive<u64> = 1..=4;
/// Keys manifest versions this loader understands.
pub const KEYS_VERSIONS: std::ops::RangeInclusive<u64> = 1..=3;
/// Current name of a decrypt manifest in a vector directory.
pub const MANIFEST_FILE: &str = "manifest.json";
/// Legacy name of a decrypt manifest in a vector directory.
pub const LEGACY_MANIFEST_FILE: &str = "decrypt_message.json";
/// Value of `decryption-method` asking for streaming, unsigned-only decryption.
pub const STREAMING_UNSIGNED_ONLY: &str = "streaming-unsigned-only";

/// Key description types that need AWS KMS.
const KMS_KEY_TYPES: &[&str] = &[
    "aws-kms",
    "aws-kms-mrk-aware",
    "aws-kms-mrk-aware-discovery",
    "aws-kms-hierarchy",
    "aws-kms-rsa",
    "aws-kms-ecdh",
];

/// A parsed decrypt manifest with its keys manifest.
#[derive(Debug, Clone)]
pub struct DecryptManifest {
    /// The manifest file.
    pub path: PathBuf,
    /// The directory `file://` URIs are relative to.
    pub dir: PathBuf,
    /// `manifest.version`.
    pub version: u64,
    /// `client`, when given.
    pub client: Option<ClientInfo>,
    /// The keys manifest named by `keys`.
    pub keys: KeysManifest,
    /// The tests, sorted by id.
    pub tests: Vec<DecryptTest>,
}

/// The `client` section of a decrypt manifest.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ClientInfo {
    /// Name of the producer.
    pub name: String,
    /// Version of the producer.
    pub version: String,
}

/// One test of a decrypt manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecryptTest {
    /// The test id (key of `tests`).
    pub id: String,
    /// `description`, when given.
    pub description: Option<String>,
    /// The ciphertext file.
    pub ciphertext: PathBuf,
    /// `master-keys`: decrypting with any of them is enough.
    pub master_keys: Vec<KeyDescription>,
    /// What decrypting must give.
    pub expected: Expected,
    /// `decryption-method` is `streaming-unsigned-only`.
    pub unsigned_only: bool,
    /// `cmm` (default `Default`).
    pub cmm: CmmKind,
    /// `encryption-context`: the reproduced encryption context, when given.
    pub encryption_context: Option<BTreeMap<String, String>>,
}

/// Expected outcome of a decrypt test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expected {
    /// Decryption succeeds and gives the content of this file.
    Plaintext(PathBuf),
    /// Decryption fails; the text describes why.
    Error(String),
}

/// The CMM a test asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CmmKind {
    /// The default CMM.
    #[default]
    Default,
    /// The required-encryption-context CMM; the required keys are the keys of
    /// the test's `encryption-context`.
    RequiredEncryptionContext,
}

impl CmmKind {
    /// The manifest spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Default => "Default",
            Self::RequiredEncryptionContext => "RequiredEncryptionContext",
        }
    }
}

/// One entry of a test's `master-keys`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyDescription {
    /// A raw (local) key.
    Raw(RawKeyDescription),
    /// Something this tool cannot run; the text says why.
    Unsupported(String),
}

/// A `raw` key description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawKeyDescription {
    /// Name of the key in the keys manifest.
    pub key: String,
    /// `provider-id`: the keyring namespace.
    pub provider_id: String,
    /// The wrapping algorithm.
    pub algorithm: RawAlgorithm,
}

/// Wrapping algorithm of a raw key description.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawAlgorithm {
    /// AES-GCM.
    Aes,
    /// RSA with the given padding.
    Rsa(RsaPaddingSpec),
}

/// RSA padding as written in manifests (`padding-algorithm` + `padding-hash`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RsaPaddingSpec {
    /// PKCS#1 v1.5.
    Pkcs1,
    /// OAEP with MGF1, SHA-1.
    OaepSha1,
    /// OAEP with MGF1, SHA-256.
    OaepSha256,
    /// OAEP with MGF1, SHA-384.
    OaepSha384,
    /// OAEP with MGF1, SHA-512.
    OaepSha512,
}

impl RsaPaddingSpec {
    /// All paddings.
    pub const ALL: [Self; 5] = [
        Self::Pkcs1,
        Self::OaepSha1,
        Self::OaepSha256,
        Self::OaepSha384,
        Self::OaepSha512,
    ];

    /// `padding-algorithm` and `padding-hash` of this padding.
    pub fn manifest_fields(self) -> (&'static str, Option<&'static str>) {
        match self {
            Self::Pkcs1 => ("pkcs1", None),
            Self::OaepSha1 => ("oaep-mgf1", Some("sha1")),
            Self::OaepSha256 => ("oaep-mgf1", Some("sha256")),
            Self::OaepSha384 => ("oaep-mgf1", Some("sha384")),
            Self::OaepSha512 => ("oaep-mgf1", Some("sha512")),
        }
    }

    /// A short name (`pkcs1`, `oaep-sha256`, ...).
    pub fn short_name(self) -> &'static str {
        match self {
            Self::Pkcs1 => "pkcs1",
            Self::OaepSha1 => "oaep-sha1",
            Self::OaepSha256 => "oaep-sha256",
            Self::OaepSha384 => "oaep-sha384",
            Self::OaepSha512 => "oaep-sha512",
        }
    }

    /// Parses `padding-algorithm` / `padding-hash`; `Err` holds the reason the
    /// combination is not supported.
    fn from_manifest(algorithm: &str, hash: Option<&str>) -> std::result::Result<Self, String> {
        match (algorithm, hash) {
            ("pkcs1", _) => Ok(Self::Pkcs1),
            ("oaep-mgf1", Some("sha1")) => Ok(Self::OaepSha1),
            ("oaep-mgf1", Some("sha256")) => Ok(Self::OaepSha256),
            ("oaep-mgf1", Some("sha384")) => Ok(Self::OaepSha384),
            ("oaep-mgf1", Some("sha512")) => Ok(Self::OaepSha512),
            ("oaep-mgf1", None) => Err("padding-algorithm oaep-mgf1 without padding-hash".into()),
            ("oaep-mgf1", Some(other)) => Err(format!("unsupported RSA padding hash {other}")),
            (other, _) => Err(format!("unsupported RSA padding algorithm {other}")),
        }
    }
}

/// A parsed keys manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeysManifest {
    /// The keys manifest file.
    pub path: PathBuf,
    /// `manifest.version`.
    pub version: u64,
    /// The keys by name.
    pub keys: BTreeMap<String, KeyEntry>,
}

/// One key of a keys manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyEntry {
    /// The key's name in the manifest.
    pub name: String,
    /// `key-id`, or the name when absent: the key name written into raw EDKs.
    pub key_id: String,
    /// `encrypt` (default true).
    pub encrypt: bool,
    /// `decrypt` (default true).
    pub decrypt: bool,
    /// The key material.
    pub material: KeyMaterial,
}

/// Key material of a keys-manifest entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyMaterial {
    /// A symmetric AES key.
    Aes(Vec<u8>),
    /// An RSA private key, PEM.
    RsaPrivatePem(String),
    /// An RSA public key, PEM.
    RsaPublicPem(String),
    /// Something this tool cannot use; the text says why.
    Unsupported(String),
}

// ---------------------------------------------------------------------------
// Raw serde shapes

#[derive(Debug, Deserialize)]
struct RawHeader {
    #[serde(rename = "type")]
    kind: String,
    version: u64,
}

#[derive(Debug, Deserialize)]
struct RawDecryptManifest {
    manifest: RawHeader,
    client: Option<ClientInfo>,
    keys: String,
    tests: BTreeMap<String, Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct RawTest {
    ciphertext: String,
    master_keys: Vec<Map<String, Value>>,
    result: Option<RawResult>,
    plaintext: Option<String>,
    description: Option<String>,
    decryption_method: Option<String>,
    cmm: Option<String>,
    encryption_context: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawResult {
    output: Option<RawOutput>,
    error: Option<RawErrorResult>,
}

#[derive(Debug, Deserialize)]
struct RawOutput {
    plaintext: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct RawErrorResult {
    error_description: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RawKeysManifest {
    manifest: RawHeader,
    keys: BTreeMap<String, Value>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawMaterial {
    One(String),
    Lines(Vec<String>),
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct RawKey {
    #[serde(rename = "type")]
    kind: String,
    key_id: Option<String>,
    encrypt: Option<bool>,
    decrypt: Option<bool>,
    algorithm: Option<String>,
    bits: Option<u64>,
    encoding: Option<String>,
    line_separator: Option<String>,
    material: Option<RawMaterial>,
}

// ---------------------------------------------------------------------------
// Loading

/// Finds the decrypt manifest of `location`: the file itself, or
/// `manifest.json` (else legacy `decrypt_message.json`) in that directory.
pub fn find_decrypt_manifest(location: &Path) -> Result<PathBuf> {
    if location.is_file() {
        return Ok(location.to_path_buf());
    }
    if !location.is_dir() {
        return Err(Error::at(location, "no such file or directory"));
    }
    for name in [MANIFEST_FILE, LEGACY_MANIFEST_FILE] {
        let candidate = location.join(name);
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    Err(Error::at(
        location,
        format!("neither {MANIFEST_FILE} nor {LEGACY_MANIFEST_FILE} found"),
    ))
}

/// Loads a decrypt manifest (and its keys manifest) from a directory or a
/// manifest file.
pub fn load_decrypt_manifest(location: &Path) -> Result<DecryptManifest> {
    let path = find_decrypt_manifest(location)?;
    let text = read_text(&path)?;
    parse_decrypt_manifest(&text, &path)
}

/// Parses the text of the decrypt manifest at `path` (the keys manifest is
/// read from disk, relative to `path`'s directory).
pub fn parse_decrypt_manifest(text: &str, path: &Path) -> Result<DecryptManifest> {
    let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
    let raw: RawDecryptManifest = serde_json::from_str(text)
        .map_err(|e| Error::at(path, format!("invalid manifest: {e}")))?;
    if raw.manifest.kind != DECRYPT_MANIFEST_TYPE {
        return Err(Error::at(
            path,
            format!(
                "manifest type is {:?}, expected {DECRYPT_MANIFEST_TYPE:?}",
                raw.manifest.kind
            ),
        ));
    }
    if !DECRYPT_VERSIONS.contains(&raw.manifest.version) {
        return Err(Error::at(
            path,
            format!(
                "unsupported {DECRYPT_MANIFEST_TYPE} manifest version {} (supported: {}..={})",
                raw.manifest.version,
                DECRYPT_VERSIONS.start(),
                DECRYPT_VERSIONS.end()
            ),
        ));
    }
    let keys_path =
        resolve_uri(&dir, &raw.keys).map_err(|e| Error::at(path, format!("keys: {e}")))?;
    let keys = load_keys_manifest(&keys_path)?;

    let mut tests = Vec::with_capacity(raw.tests.len());
    for (id, value) in raw.tests {
        let test = parse_test(&id, value, &dir, &keys)
            .map_err(|e| Error::at(path, format!("test {id:?}: {e}")))?;
        tests.push(test);
    }
    Ok(DecryptManifest {
        path: path.to_path_buf(),
        dir,
        version: raw.manifest.version,
        client: raw.client,
        keys,
        tests,
    })
}

fn parse_test(
    id: &str,
    value: Value,
    dir: &Path,
    keys: &KeysManifest,
) -> std::result::Result<DecryptTest, String> {
    let raw: RawTest = serde_json::from_value(value).map_err(|e| e.to_string())?;
    let ciphertext = resolve_uri(dir, &raw.ciphertext).map_err(|e| format!("ciphertext: {e}"))?;
    let expected = match (raw.result, raw.plaintext) {
        (Some(_), Some(_)) => return Err("has both `result` and `plaintext`".into()),
        (None, None) => return Err("missing `result` (or v1 `plaintext`)".into()),
        (None, Some(uri)) => {
            Expected::Plaintext(resolve_uri(dir, &uri).map_err(|e| format!("plaintext: {e}"))?)
        }
        (Some(result), None) => match (result.output, result.error) {
            (Some(output), None) => Expected::Plaintext(
                resolve_uri(dir, &output.plaintext).map_err(|e| format!("plaintext: {e}"))?,
            ),
            (None, Some(error)) => Expected::Error(error.error_description.unwrap_or_default()),
            _ => return Err("`result` must have exactly one of `output` and `error`".into()),
        },
    };
    if raw.master_keys.is_empty() {
        return Err("`master-keys` is empty".into());
    }
    let master_keys = raw
        .master_keys
        .iter()
        .enumerate()
        .map(|(i, mk)| {
            parse_key_description(mk, keys).map_err(|e| format!("master-keys[{i}]: {e}"))
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let unsigned_only = match raw.decryption_method.as_deref() {
        None => false,
        Some(STREAMING_UNSIGNED_ONLY) => true,
        Some(other) => return Err(format!("unknown decryption-method {other:?}")),
    };
    let cmm = match raw.cmm.as_deref() {
        None | Some("Default") => CmmKind::Default,
        Some("RequiredEncryptionContext") => CmmKind::RequiredEncryptionContext,
        Some(other) => return Err(format!("unknown cmm {other:?}")),
    };
    if cmm == CmmKind::RequiredEncryptionContext && raw.encryption_context.is_none() {
        return Err("cmm RequiredEncryptionContext needs an `encryption-context`".into());
    }
    Ok(DecryptTest {
        id: id.to_owned(),
        description: raw.description,
        ciphertext,
        master_keys,
        expected,
        unsigned_only,
        cmm,
        encryption_context: raw.encryption_context,
    })
}

fn str_field<'a>(
    map: &'a Map<String, Value>,
    field: &str,
) -> std::result::Result<Option<&'a str>, String> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(format!("`{field}` must be a string, got {other}")),
    }
}

fn required_str<'a>(
    map: &'a Map<String, Value>,
    field: &str,
) -> std::result::Result<&'a str, String> {
    str_field(map, field)?.ok_or_else(|| format!("missing `{field}`"))
}

fn parse_key_description(
    map: &Map<String, Value>,
    keys: &KeysManifest,
) -> std::result::Result<KeyDescription, String> {
    let kind = required_str(map, "type")?;
    if KMS_KEY_TYPES.contains(&kind) {
        return Ok(KeyDescription::Unsupported(format!(
            "needs AWS KMS ({kind})"
        )));
    }
    if kind != "raw" {
        return Ok(KeyDescription::Unsupported(format!(
            "unsupported key type {kind}"
        )));
    }
    let key = required_str(map, "key")?;
    let provider_id = required_str(map, "provider-id")?;
    let algorithm = match required_str(map, "encryption-algorithm")? {
        "aes" => RawAlgorithm::Aes,
        "rsa" => {
            let padding = required_str(map, "padding-algorithm")?;
            let hash = str_field(map, "padding-hash")?;
            match RsaPaddingSpec::from_manifest(padding, hash) {
                Ok(p) => RawAlgorithm::Rsa(p),
                Err(reason) => return Ok(KeyDescription::Unsupported(reason)),
            }
        }
        other => {
            return Ok(KeyDescription::Unsupported(format!(
                "unsupported raw encryption algorithm {other}"
            )));
        }
    };
    if !keys.keys.contains_key(key) {
        return Err(format!(
            "key {key:?} is not in the keys manifest {}",
            keys.path.display()
        ));
    }
    Ok(KeyDescription::Raw(RawKeyDescription {
        key: key.to_owned(),
        provider_id: provider_id.to_owned(),
        algorithm,
    }))
}

/// Loads a keys manifest file.
pub fn load_keys_manifest(path: &Path) -> Result<KeysManifest> {
    let text = read_text(path)?;
    parse_keys_manifest(&text, path)
}

/// Parses the text of the keys manifest at `path`.
pub fn parse_keys_manifest(text: &str, path: &Path) -> Result<KeysManifest> {
    let raw: RawKeysManifest = serde_json::from_str(text)
        .map_err(|e| Error::at(path, format!("invalid keys manifest: {e}")))?;
    if raw.manifest.kind != KEYS_MANIFEST_TYPE {
        return Err(Error::at(
            path,
            format!(
                "manifest type is {:?}, expected {KEYS_MANIFEST_TYPE:?}",
                raw.manifest.kind
            ),
        ));
    }
    if !KEYS_VERSIONS.contains(&raw.manifest.version) {
        return Err(Error::at(
            path,
            format!(
                "unsupported keys manifest version {} (supported: {}..={})",
                raw.manifest.version,
                KEYS_VERSIONS.start(),
                KEYS_VERSIONS.end()
            ),
        ));
    }
    let mut keys = BTreeMap::new();
    for (name, value) in raw.keys {
        let entry = parse_key_entry(&name, value)
            .map_err(|e| Error::at(path, format!("key {name:?}: {e}")))?;
        keys.insert(name, entry);
    }
    Ok(KeysManifest {
        path: path.to_path_buf(),
        version: raw.manifest.version,
        keys,
    })
}

fn parse_key_entry(name: &str, value: Value) -> std::result::Result<KeyEntry, String> {
    let raw: RawKey = serde_json::from_value(value).map_err(|e| e.to_string())?;
    let material_text = || -> std::result::Result<String, String> {
        match &raw.material {
            None => Err("missing `material`".into()),
            Some(RawMaterial::One(s)) => Ok(s.clone()),
            Some(RawMaterial::Lines(lines)) => {
                Ok(lines.join(raw.line_separator.as_deref().unwrap_or("")))
            }
        }
    };
    let material = match raw.kind.as_str() {
        "symmetric" => match raw.algorithm.as_deref() {
            Some("aes") => {
                let encoding = raw.encoding.as_deref().unwrap_or("base64");
                if encoding != "base64" {
                    return Err(format!(
                        "symmetric key encoding {encoding:?}, expected \"base64\""
                    ));
                }
                let text = material_text()?;
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(text.trim())
                    .map_err(|e| format!("material is not valid base64: {e}"))?;
                if let Some(bits) = raw.bits {
                    let actual = u64::try_from(bytes.len())
                        .unwrap_or(u64::MAX)
                        .saturating_mul(8);
                    if actual != bits {
                        return Err(format!(
                            "`bits` is {bits} but the material has {actual} bits"
                        ));
                    }
                }
                if ![16, 24, 32].contains(&bytes.len()) {
                    return Err(format!(
                        "AES key of {} bytes (must be 16, 24 or 32)",
                        bytes.len()
                    ));
                }
                KeyMaterial::Aes(bytes)
            }
            Some(other) => {
                KeyMaterial::Unsupported(format!("unsupported symmetric algorithm {other}"))
            }
            None => return Err("missing `algorithm`".into()),
        },
        kind @ ("private" | "public") => match raw.algorithm.as_deref() {
            Some("rsa") => {
                let encoding = raw.encoding.as_deref().unwrap_or("pem");
                if encoding != "pem" {
                    return Err(format!("RSA key encoding {encoding:?}, expected \"pem\""));
                }
                let pem = material_text()?;
                if !pem.contains("-----BEGIN ") {
                    return Err("material is not PEM".into());
                }
                if kind == "private" {
                    KeyMaterial::RsaPrivatePem(pem)
                } else {
                    KeyMaterial::RsaPublicPem(pem)
                }
            }
            Some(other) => {
                KeyMaterial::Unsupported(format!("unsupported {kind} key algorithm {other}"))
            }
            None => return Err("missing `algorithm`".into()),
        },
        kms if KMS_KEY_TYPES.contains(&kms) => {
            KeyMaterial::Unsupported(format!("needs AWS KMS ({kms})"))
        }
        other => KeyMaterial::Unsupported(format!("unsupported key type {other}")),
    };
    Ok(KeyEntry {
        name: name.to_owned(),
        key_id: raw.key_id.unwrap_or_else(|| name.to_owned()),
        encrypt: raw.encrypt.unwrap_or(true),
        decrypt: raw.decrypt.unwrap_or(true),
        material,
    })
}

/// Resolves a `file://` URI relative to `dir`. Absolute paths and paths that
/// leave `dir` (`..`) are rejected.
pub fn resolve_uri(dir: &Path, uri: &str) -> std::result::Result<PathBuf, String> {
    let Some(rel) = uri.strip_prefix("file://") else {
        return Err(format!(
            "unsupported URI {uri:?} (only file:// URIs are supported)"
        ));
    };
    if rel.is_empty() {
        return Err(format!("empty path in URI {uri:?}"));
    }
    let rel_path = Path::new(rel);
    let mut clean = PathBuf::new();
    for component in rel_path.components() {
        match component {
            Component::Normal(part) => clean.push(part),
            Component::CurDir => {}
            Component::ParentDir => {
                return Err(format!(
                    "URI {uri:?} uses `..`: paths must stay inside the manifest directory"
                ));
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(format!(
                    "URI {uri:?} is absolute: paths must be relative to the manifest directory"
                ));
            }
        }
    }
    if clean.as_os_str().is_empty() {
        return Err(format!("URI {uri:?} names the manifest directory itself"));
    }
    Ok(dir.join(clean))
}

fn read_text(path: &Path) -> Result<String> {
    fs::read_to_string(path).map_err(|e| Error::at(path, format!("cannot read: {e}")))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const KEYS_V3: &str = r#"{
      "manifest": {"type": "keys", "version": 3},
      "keys": {
        "aes-128": {"type": "symmetric", "key-id": "aes-128", "algorithm": "aes", "bits": 128,
                    "encoding": "base64", "encrypt": true, "decrypt": true,
                    "material": "AAECAwQFBgcICQoLDA0ODw=="},
        "rsa-private": {"type": "private", "algorithm": "rsa", "bits": 4096, "encoding": "pem",
                        "material": "-----BEGIN PRIVATE KEY-----\nAA==\n-----END PRIVATE KEY-----\n"},
        "rsa-public": {"type": "public", "key-id": "rsa-private", "algorithm": "rsa",
                       "encoding": "pem", "decrypt": false,
                       "material": "-----BEGIN PUBLIC KEY-----\nAA==\n-----END PUBLIC KEY-----\n"},
        "kms": {"type": "aws-kms", "key-id": "arn:aws:kms:us-west-2:1:key/x", "bits": 0},
        "ecc": {"type": "ecc-private", "algorithm": "ecdh", "material": "x"}
      }
    }"#;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).unwrap();
        }
        fs::write(&path, text).unwrap();
        path
    }

    fn manifest_with_tests(version: u64, tests: &str) -> String {
        format!(
            r#"{{"manifest": {{"type": "awses-decrypt", "version": {version}}},
                "client": {{"name": "t", "version": "1"}},
                "keys": "file://keys.json", "tests": {tests}}}"#
        )
    }

    fn load(version: u64, tests: &str) -> Result<DecryptManifest> {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "keys.json", KEYS_V3);
        write(
            dir.path(),
            "manifest.json",
            &manifest_with_tests(version, tests),
        );
        load_decrypt_manifest(dir.path())
    }

    #[test]
    fn keys_manifest_v3() {
        let keys = parse_keys_manifest(KEYS_V3, Path::new("keys.json")).unwrap();
        assert_eq!(keys.version, 3);
        let aes = &keys.keys["aes-128"];
        assert_eq!(aes.key_id, "aes-128");
        assert_eq!(aes.material, KeyMaterial::Aes((0u8..16).collect()));
        let private = &keys.keys["rsa-private"];
        assert_eq!(private.key_id, "rsa-private", "key-id defaults to the name");
        assert!(matches!(private.material, KeyMaterial::RsaPrivatePem(_)));
        let public = &keys.keys["rsa-public"];
        assert_eq!(public.key_id, "rsa-private");
        assert!(!public.decrypt);
        assert!(matches!(public.material, KeyMaterial::RsaPublicPem(_)));
        assert!(
            matches!(&keys.keys["kms"].material, KeyMaterial::Unsupported(r) if r.contains("AWS KMS"))
        );
        assert!(
            matches!(&keys.keys["ecc"].material, KeyMaterial::Unsupported(r) if r.contains("ecc-private"))
        );
    }

    #[test]
    fn keys_manifest_v1_lines() {
        let text = r#"{"manifest": {"type": "keys", "version": 1}, "keys": {
            "aes": {"type": "symmetric", "algorithm": "aes", "bits": 128, "encoding": "base64",
                    "material": ["AAECAwQFBgcI", "CQoLDA0ODw=="]},
            "rsa": {"type": "private", "algorithm": "rsa", "encoding": "pem", "line-separator": "\n",
                    "material": ["-----BEGIN PRIVATE KEY-----", "AA==", "-----END PRIVATE KEY-----"]}}}"#;
        let keys = parse_keys_manifest(text, Path::new("k.json")).unwrap();
        assert_eq!(
            keys.keys["aes"].material,
            KeyMaterial::Aes((0u8..16).collect())
        );
        assert_eq!(
            keys.keys["rsa"].material,
            KeyMaterial::RsaPrivatePem(
                "-----BEGIN PRIVATE KEY-----\nAA==\n-----END PRIVATE KEY-----".into()
            )
        );
    }

    #[test]
    fn keys_manifest_errors() {
        let cases = [
            ("not json", "invalid keys manifest"),
            (
                r#"{"manifest": {"type": "awses-decrypt", "version": 1}, "keys": {}}"#,
                "expected \"keys\"",
            ),
            (
                r#"{"manifest": {"type": "keys", "version": 9}, "keys": {}}"#,
                "version 9",
            ),
            (
                r#"{"manifest": {"type": "keys", "version": 3}}"#,
                "missing field `keys`",
            ),
            (
                r#"{"manifest": {"type": "keys", "version": 3}, "keys": {"a": {"type": "symmetric", "algorithm": "aes", "material": "!!"}}}"#,
                "not valid base64",
            ),
            (
                r#"{"manifest": {"type": "keys", "version": 3}, "keys": {"a": {"type": "symmetric", "algorithm": "aes", "bits": 256, "material": "AAECAwQFBgcICQoLDA0ODw=="}}}"#,
                "`bits` is 256",
            ),
            (
                r#"{"manifest": {"type": "keys", "version": 3}, "keys": {"a": {"type": "symmetric", "algorithm": "aes", "material": "AAEC"}}}"#,
                "AES key of 3 bytes",
            ),
            (
                r#"{"manifest": {"type": "keys", "version": 3}, "keys": {"a": {"type": "private", "algorithm": "rsa"}}}"#,
                "missing `material`",
            ),
            (
                r#"{"manifest": {"type": "keys", "version": 3}, "keys": {"a": {"algorithm": "rsa"}}}"#,
                "missing field `type`",
            ),
        ];
        for (text, want) in cases {
            let err = parse_keys_manifest(text, Path::new("dir/keys.json")).unwrap_err();
            let msg = err.to_string();
            assert!(msg.starts_with("dir/keys.json: "), "{msg}");
            assert!(msg.contains(want), "{msg:?} should contain {want:?}");
        }
    }

    #[test]
    fn decrypt_manifest_v4() {
        let m = load(
            4,
            r#"{
              "b-test": {
                "ciphertext": "file://ciphertexts/b",
                "master-keys": [
                  {"type": "raw", "key": "aes-128", "provider-id": "ns", "encryption-algorithm": "aes"},
                  {"type": "raw", "key": "rsa-private", "provider-id": "ns", "encryption-algorithm": "rsa",
                   "padding-algorithm": "oaep-mgf1", "padding-hash": "sha384"}
                ],
                "cmm": "RequiredEncryptionContext",
                "encryption-context": {"k": "v"},
                "decryption-method": "streaming-unsigned-only",
                "result": {"output": {"plaintext": "file://plaintexts/small"}}
              },
              "a-test": {
                "ciphertext": "file://./ciphertexts/a",
                "description": "bad",
                "master-keys": [{"type": "aws-kms", "key": "kms"}],
                "result": {"error": {"error-description": "boom"}}
              }
            }"#,
        )
        .unwrap();
        assert_eq!(m.version, 4);
        assert_eq!(m.client.as_ref().map(|c| c.name.as_str()), Some("t"));
        assert_eq!(m.tests.len(), 2);
        let a = &m.tests[0];
        assert_eq!(a.id, "a-test");
        assert_eq!(a.ciphertext, m.dir.join("ciphertexts/a"));
        assert_eq!(a.expected, Expected::Error("boom".into()));
        assert_eq!(a.description.as_deref(), Some("bad"));
        assert!(
            matches!(&a.master_keys[0], KeyDescription::Unsupported(r) if r.contains("AWS KMS"))
        );
        assert_eq!(a.cmm, CmmKind::Default);
        assert!(!a.unsigned_only);
        let b = &m.tests[1];
        assert_eq!(
            b.expected,
            Expected::Plaintext(m.dir.join("plaintexts/small"))
        );
        assert_eq!(b.cmm, CmmKind::RequiredEncryptionContext);
        assert!(b.unsigned_only);
        assert_eq!(
            b.encryption_context,
            Some(BTreeMap::from([("k".to_owned(), "v".to_owned())]))
        );
        assert_eq!(
            b.master_keys,
            vec![
                KeyDescription::Raw(RawKeyDescription {
                    key: "aes-128".into(),
                    provider_id: "ns".into(),
                    algorithm: RawAlgorithm::Aes
                }),
                KeyDescription::Raw(RawKeyDescription {
                    key: "rsa-private".into(),
                    provider_id: "ns".into(),
                    algorithm: RawAlgorithm::Rsa(RsaPaddingSpec::OaepSha384)
                }),
            ]
        );
    }

    #[test]
    fn decrypt_manifest_v1_plaintext_and_legacy_name() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "keys.json", KEYS_V3);
        write(
            dir.path(),
            LEGACY_MANIFEST_FILE,
            &manifest_with_tests(
                1,
                r#"{"t": {"ciphertext": "file://c", "plaintext": "file://p",
                   "master-keys": [{"type": "raw", "key": "rsa-private", "provider-id": "ns",
                                    "encryption-algorithm": "rsa", "padding-algorithm": "pkcs1"}]}}"#,
            ),
        );
        let m = load_decrypt_manifest(dir.path()).unwrap();
        assert!(m.path.ends_with(LEGACY_MANIFEST_FILE));
        assert_eq!(
            m.tests[0].expected,
            Expected::Plaintext(dir.path().join("p"))
        );
        assert_eq!(
            m.tests[0].master_keys[0],
            KeyDescription::Raw(RawKeyDescription {
                key: "rsa-private".into(),
                provider_id: "ns".into(),
                algorithm: RawAlgorithm::Rsa(RsaPaddingSpec::Pkcs1)
            })
        );
    }

    #[test]
    fn unsupported_descriptions_are_kept() {
        let m = load(
            2,
            r#"{"t": {"ciphertext": "file://c", "result": {"output": {"plaintext": "file://p"}},
                "master-keys": [
                  {"type": "aws-kms-mrk-aware", "key": "kms"},
                  {"type": "raw-ecdh", "key": "ecc"},
                  {"type": "raw", "key": "ecc", "provider-id": "ns", "encryption-algorithm": "ecdh"},
                  {"type": "raw", "key": "rsa-private", "provider-id": "ns", "encryption-algorithm": "rsa",
                   "padding-algorithm": "oaep-mgf1", "padding-hash": "md5"}
                ]}}"#,
        )
        .unwrap();
        let reasons: Vec<String> = m.tests[0]
            .master_keys
            .iter()
            .map(|k| match k {
                KeyDescription::Unsupported(r) => r.clone(),
                KeyDescription::Raw(_) => String::new(),
            })
            .collect();
        assert!(reasons[0].contains("needs AWS KMS"));
        assert_eq!(reasons[1], "unsupported key type raw-ecdh");
        assert_eq!(reasons[2], "unsupported raw encryption algorithm ecdh");
        assert_eq!(reasons[3], "unsupported RSA padding hash md5");
    }

    #[test]
    fn decrypt_manifest_errors() {
        let raw_aes = r#"[{"type": "raw", "key": "aes-128", "provider-id": "ns", "encryption-algorithm": "aes"}]"#;
        let ok_result = r#"{"output": {"plaintext": "file://p"}}"#;
        let test = |ct: &str, mk: &str, result: &str, extra: &str| {
            format!(
                r#"{{"t": {{"ciphertext": "{ct}", "master-keys": {mk}, "result": {result}{extra}}}}}"#
            )
        };
        let cases: Vec<(u64, String, &str)> = vec![
            (
                5,
                test("file://c", raw_aes, ok_result, ""),
                "unsupported awses-decrypt manifest version 5",
            ),
            (0, test("file://c", raw_aes, ok_result, ""), "version 0"),
            (
                4,
                test("file:///etc/passwd", raw_aes, ok_result, ""),
                "is absolute",
            ),
            (4, test("file://../c", raw_aes, ok_result, ""), "uses `..`"),
            (
                4,
                test("file://a/../../c", raw_aes, ok_result, ""),
                "uses `..`",
            ),
            (
                4,
                test("https://x/c", raw_aes, ok_result, ""),
                "only file:// URIs",
            ),
            (
                4,
                test("file://c", "[]", ok_result, ""),
                "`master-keys` is empty",
            ),
            (
                4,
                test(
                    "file://c",
                    r#"[{"type": "raw", "key": "nope", "provider-id": "ns", "encryption-algorithm": "aes"}]"#,
                    ok_result,
                    "",
                ),
                "key \"nope\" is not in the keys manifest",
            ),
            (
                4,
                test(
                    "file://c",
                    r#"[{"type": "raw", "key": "aes-128", "encryption-algorithm": "aes"}]"#,
                    ok_result,
                    "",
                ),
                "master-keys[0]: missing `provider-id`",
            ),
            (
                4,
                test(
                    "file://c",
                    r#"[{"type": "raw", "key": "rsa-private", "provider-id": "ns", "encryption-algorithm": "rsa", "padding-algorithm": "oaep-mgf1"}]"#,
                    ok_result,
                    "",
                ),
                "",
            ),
            (
                4,
                test("file://c", raw_aes, "{}", ""),
                "exactly one of `output` and `error`",
            ),
            (
                4,
                test(
                    "file://c",
                    raw_aes,
                    r#"{"output": {"plaintext": "file://p"}, "error": {}}"#,
                    "",
                ),
                "exactly one",
            ),
            (
                4,
                test("file://c", raw_aes, r#"{"bogus": 1}"#, ""),
                "unknown field `bogus`",
            ),
            (
                4,
                test("file://c", raw_aes, ok_result, r#", "cmm": "Caching""#),
                "unknown cmm \"Caching\"",
            ),
            (
                4,
                test(
                    "file://c",
                    raw_aes,
                    ok_result,
                    r#", "cmm": "RequiredEncryptionContext""#,
                ),
                "needs an `encryption-context`",
            ),
            (
                4,
                test(
                    "file://c",
                    raw_aes,
                    ok_result,
                    r#", "decryption-method": "oneshot""#,
                ),
                "unknown decryption-method",
            ),
            (
                4,
                test(
                    "file://c",
                    raw_aes,
                    ok_result,
                    r#", "encryption-context": {"k": 1}"#,
                ),
                "invalid type",
            ),
            (
                4,
                test(
                    "file://c",
                    raw_aes,
                    ok_result,
                    r#", "plaintext": "file://p""#,
                ),
                "both `result` and `plaintext`",
            ),
            (
                4,
                r#"{"t": {"ciphertext": "file://c", "master-keys": []}}"#.to_owned(),
                "missing `result`",
            ),
            (
                4,
                r#"{"t": {"master-keys": []}}"#.to_owned(),
                "missing field `ciphertext`",
            ),
            (4, r#"[]"#.to_owned(), "invalid manifest"),
        ];
        for (version, tests, want) in cases {
            match load(version, &tests) {
                Ok(m) => {
                    // Only the oaep-without-hash case parses: it becomes unsupported.
                    assert!(want.is_empty(), "{tests} should fail with {want:?}");
                    assert!(matches!(
                        &m.tests[0].master_keys[0],
                        KeyDescription::Unsupported(r) if r.contains("without padding-hash")
                    ));
                }
                Err(e) => {
                    let msg = e.to_string();
                    assert!(!want.is_empty(), "{tests}: unexpected error {msg}");
                    assert!(msg.contains("manifest.json: "), "{msg}");
                    assert!(msg.contains(want), "{msg:?} should contain {want:?}");
                }
            }
        }
    }

    #[test]
    fn whole_file_errors() {
        let dir = tempfile::tempdir().unwrap();
        let err = load_decrypt_manifest(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("neither manifest.json nor decrypt_message.json"),
            "{err}"
        );
        let err = load_decrypt_manifest(&dir.path().join("missing"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("no such file or directory"), "{err}");

        write(dir.path(), "manifest.json", "{\"manifest\": ");
        let err = load_decrypt_manifest(dir.path()).unwrap_err().to_string();
        assert!(err.contains("invalid manifest: EOF"), "{err}");

        write(
            dir.path(),
            "manifest.json",
            r#"{"manifest": {"type": "awses-encrypt", "version": 1}, "keys": "file://keys.json", "tests": {}}"#,
        );
        let err = load_decrypt_manifest(dir.path()).unwrap_err().to_string();
        assert!(err.contains("expected \"awses-decrypt\""), "{err}");

        write(
            dir.path(),
            "manifest.json",
            r#"{"manifest": {"type": "awses-decrypt", "version": 2}, "keys": "file://keys.json", "tests": {}}"#,
        );
        let err = load_decrypt_manifest(dir.path()).unwrap_err().to_string();
        assert!(err.contains("keys.json: cannot read"), "{err}");

        write(
            dir.path(),
            "manifest.json",
            r#"{"manifest": {"type": "awses-decrypt", "version": 2}, "keys": "file://../keys.json", "tests": {}}"#,
        );
        let err = load_decrypt_manifest(dir.path()).unwrap_err().to_string();
        assert!(err.contains("keys: URI"), "{err}");
    }

    #[test]
    fn uri_resolution() {
        let dir = Path::new("/vectors/x");
        assert_eq!(resolve_uri(dir, "file://a/b").unwrap(), dir.join("a/b"));
        assert_eq!(resolve_uri(dir, "file://./a").unwrap(), dir.join("a"));
        assert!(resolve_uri(dir, "file://").is_err());
        assert!(resolve_uri(dir, "file://.").is_err());
        assert!(resolve_uri(dir, "file:///a").is_err());
        assert!(resolve_uri(dir, "file://a/../b").is_err());
        assert!(resolve_uri(dir, "a/b").is_err());
    }

    #[test]
    fn padding_names_round_trip() {
        for p in RsaPaddingSpec::ALL {
            let (alg, hash) = p.manifest_fields();
            assert_eq!(RsaPaddingSpec::from_manifest(alg, hash), Ok(p));
        }
    }
}
