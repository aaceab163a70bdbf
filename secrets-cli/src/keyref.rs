//! Key references (KEYREF): one syntax for every `--key`.
//!
//! | form | meaning |
//! |---|---|
//! | `aes:PATH[?namespace=NS&name=NAME]` | raw AES key file: exactly 16/24/32 bytes, or the base64 text of such a key |
//! | `rsa:PATH[?padding=P&namespace=NS&name=NAME]` | raw RSA: PEM public key (SPKI) to encrypt, PEM private key (PKCS#8) to decrypt |
//! | `NAME`, `local:NAME` | a key of the local keyring (`coffer key create NAME`) in `COFFER_HOME` |
//! | `kms:KEY`, `kms:discovery[?partition=P&account=ID,…]` | AWS KMS (feature `kms`) |
//! | `pkcs11:token=T;object=O[;id=%01]?module-path=…&pin-source=file:…` | a key on a PKCS#11 token (feature `pkcs11`) |
//!
//! The path ends at the first `?`. Query values may be percent-encoded (`%26` for `&`). The
//! namespace defaults to `coffer` and the name to the key file's name.
//!
//! This module only parses references and reads key files; [`crate::keys`] turns them into
//! keyrings. Key material is held in [`Zeroizing`] buffers and never printed.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use base64::Engine as _;
use zeroize::Zeroizing;

/// The key namespace used when the reference gives none.
pub const DEFAULT_NAMESPACE: &str = "coffer";

/// A parsed key reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyRef {
    /// `aes:PATH…`
    Aes(AesKeyRef),
    /// `rsa:PATH…`
    Rsa(RsaKeyRef),
    /// `NAME` or `local:NAME`
    Local(LocalKeyRef),
    /// `kms:KEY`: an AWS KMS key id, key ARN, alias name or alias ARN.
    Kms(String),
    /// `kms:discovery[?partition=P&account=ID,…]`: any KMS key (decrypt only).
    KmsDiscovery {
        /// The partition and accounts the keys must belong to, if given.
        filter: Option<(String, Vec<String>)>,
    },
    /// `pkcs11:token=T;object=O?module-path=…&pin-source=file:…`: a key on a PKCS#11 token.
    Pkcs11(Box<Pkcs11KeyRef>),
}

/// An RFC 7512 PKCS#11 URI naming a key (see [`KeyRef::Pkcs11`]).
#[derive(Clone, PartialEq, Eq)]
pub struct Pkcs11KeyRef {
    /// The token label.
    pub token: String,
    /// The object label (`object`).
    pub object: Option<String>,
    /// The object id (`id`, percent-encoded bytes).
    pub id: Option<Vec<u8>>,
    /// The module (`module-path`, else `COFFER_PKCS11_MODULE`).
    pub module: Option<PathBuf>,
    /// Where the PIN comes from.
    pub pin: PinSource,
    /// RSA-OAEP hash (`oaep=sha1|sha256|sha384|sha512`; default sha1).
    pub oaep: String,
}

/// Where a PKCS#11 PIN comes from. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub enum PinSource {
    /// `pin-source=file:PATH`: the file's content (one trailing newline dropped).
    File(PathBuf),
    /// `pin-value=…` (visible in argv: for tests).
    Value(Zeroizing<String>),
    /// Neither: `COFFER_PKCS11_PIN_FILE`, else no login.
    Env,
}

impl fmt::Debug for PinSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(p) => write!(f, "PinSource::File({})", p.display()),
            Self::Value(_) => f.write_str("PinSource::Value(<redacted>)"),
            Self::Env => f.write_str("PinSource::Env"),
        }
    }
}

impl fmt::Debug for Pkcs11KeyRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pkcs11KeyRef({})", self.path())
    }
}

/// `NAME` or `local:NAME`: a key of the local keyring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalKeyRef {
    /// The key's name (validated).
    pub name: String,
}

/// `aes:PATH[?namespace=NS&name=NAME]`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AesKeyRef {
    /// The key file.
    pub path: PathBuf,
    /// The ESDK key namespace (provider id).
    pub namespace: String,
    /// The ESDK key name.
    pub name: String,
}

/// `rsa:PATH[?padding=P&namespace=NS&name=NAME]`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RsaKeyRef {
    /// The PEM file.
    pub path: PathBuf,
    /// The padding scheme.
    pub padding: Padding,
    /// The ESDK key namespace (provider id).
    pub namespace: String,
    /// The ESDK key name.
    pub name: String,
}

/// RSA padding schemes of the ESDK raw RSA keyring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Padding {
    /// PKCS #1 v1.5.
    Pkcs1,
    /// OAEP with SHA-1 and MGF1-SHA-1.
    OaepSha1,
    /// OAEP with SHA-256 and MGF1-SHA-256 (the default).
    #[default]
    OaepSha256,
    /// OAEP with SHA-384 and MGF1-SHA-384.
    OaepSha384,
    /// OAEP with SHA-512 and MGF1-SHA-512.
    OaepSha512,
}

impl Padding {
    /// Every padding with its KEYREF spelling.
    pub const ALL: [(&'static str, Self); 5] = [
        ("oaep-sha1", Self::OaepSha1),
        ("oaep-sha256", Self::OaepSha256),
        ("oaep-sha384", Self::OaepSha384),
        ("oaep-sha512", Self::OaepSha512),
        ("pkcs1", Self::Pkcs1),
    ];

    /// The KEYREF spelling.
    pub fn as_str(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, p)| *p == self)
            .map_or("oaep-sha256", |(s, _)| s)
    }
}

impl FromStr for Padding {
    type Err = KeyRefError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(s))
            .map(|(_, p)| *p)
            .ok_or_else(|| KeyRefError::BadPadding(s.to_owned()))
    }
}

impl fmt::Display for Padding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A KEYREF that cannot be parsed (a usage error).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyRefError {
    /// `--key ''`.
    #[error("empty key reference")]
    Empty,
    /// A scheme this build does not know.
    #[error("unknown key reference scheme `{0}:`")]
    UnknownScheme(String),
    /// A scheme of the contract that this build does not implement yet.
    #[error("{what} key references (`{reference}`) are not supported yet in this build")]
    NotSupported {
        /// What kind of key ("AWS KMS", "PKCS#11", "local keyring").
        what: &'static str,
        /// The reference as given.
        reference: String,
    },
    /// A malformed `pkcs11:` URI (never echoed: it may hold a PIN).
    #[error("bad PKCS#11 key reference: {why}")]
    BadPkcs11 {
        /// What is wrong.
        why: String,
    },
    /// A malformed `kms:` reference.
    #[error("bad AWS KMS key reference `{reference}`: {why}")]
    BadKms {
        /// As given.
        reference: String,
        /// What is wrong.
        why: String,
    },
    /// `aes:` with nothing after it.
    #[error("`{0}` has no key file path")]
    MissingPath(String),
    /// A malformed query part.
    #[error("bad query `{query}` in key reference: {why}")]
    BadQuery {
        /// The query part (after `?`).
        query: String,
        /// What is wrong.
        why: String,
    },
    /// A query key the scheme does not take.
    #[error("unknown parameter `{key}` in `{scheme}:` key reference (allowed: {allowed})")]
    UnknownParameter {
        /// The scheme.
        scheme: &'static str,
        /// The key given.
        key: String,
        /// The keys the scheme takes.
        allowed: &'static str,
    },
    /// A query key given twice.
    #[error("parameter `{0}` given twice in key reference")]
    DuplicateParameter(String),
    /// A query key with an empty value.
    #[error("parameter `{0}` of the key reference is empty")]
    EmptyParameter(String),
    /// An unknown RSA padding.
    #[error(
        "unknown RSA padding `{0}` (expected oaep-sha1, oaep-sha256, oaep-sha384, oaep-sha512 or pkcs1)"
    )]
    BadPadding(String),
    /// A local key name that is not valid.
    #[error("`{reference}` is not a valid key name: {why}")]
    BadLocalName {
        /// The reference as given.
        reference: String,
        /// What is wrong.
        why: String,
    },
    /// The key name would come from a file name that is not UTF-8.
    #[error("cannot take a key name from the file name of {} (none, or not UTF-8); give it with `?name=NAME`", .0.display())]
    NoDefaultName(PathBuf),
}

impl KeyRefError {
    /// A hint for the user, if there is a useful one.
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            Self::UnknownScheme(_) | Self::Empty | Self::MissingPath(_) => {
                Some("key references look like aes:PATH or rsa:PATH[?padding=oaep-sha256]")
            }
            Self::NotSupported { .. } => Some(
                "this build supports local keys (NAME or local:NAME) and raw key files (aes:PATH, rsa:PATH)",
            ),
            Self::BadLocalName { .. } => Some(
                "key names are 1 to 64 characters of A-Z a-z 0-9 _ . -, starting with a letter or \
                 digit; key files are given as aes:PATH or rsa:PATH",
            ),
            _ => None,
        }
    }
}

impl FromStr for KeyRef {
    type Err = KeyRefError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() {
            return Err(KeyRefError::Empty);
        }
        let Some((scheme, rest)) = s.split_once(':') else {
            return local(s, s);
        };
        match scheme {
            "aes" => {
                let (path, params) = split_path_query(s, rest, "aes", &["namespace", "name"])?;
                let (namespace, name) = namespace_and_name(&path, &params)?;
                Ok(Self::Aes(AesKeyRef {
                    path,
                    namespace,
                    name,
                }))
            }
            "rsa" => {
                let (path, params) =
                    split_path_query(s, rest, "rsa", &["padding", "namespace", "name"])?;
                let padding = match lookup(&params, "padding") {
                    Some(p) => p.parse()?,
                    None => Padding::default(),
                };
                let (namespace, mut name) = namespace_and_name(&path, &params)?;
                if lookup(&params, "name").is_none() {
                    name = rsa_pair_name(&name);
                }
                Ok(Self::Rsa(RsaKeyRef {
                    path,
                    padding,
                    namespace,
                    name,
                }))
            }
            "kms" => kms(s, rest),
            "pkcs11" => pkcs11(rest),
            "local" => local(s, rest),
            other => Err(KeyRefError::UnknownScheme(other.to_owned())),
        }
    }
}

/// `kms:KEY` or `kms:discovery[?partition=P&account=ID,…]` (`partition` defaults to `aws`
/// when accounts are given).
fn kms(reference: &str, rest: &str) -> Result<KeyRef, KeyRefError> {
    let (head, query) = match rest.split_once('?') {
        Some((h, q)) => (h, Some(q)),
        None => (rest, None),
    };
    if head != "discovery" {
        if query.is_some() || rest.trim().is_empty() || rest.chars().any(char::is_whitespace) {
            return Err(KeyRefError::BadKms {
                reference: reference.to_owned(),
                why: "expected kms:KEY-ID, kms:arn:…, kms:alias/NAME or kms:discovery".into(),
            });
        }
        return Ok(KeyRef::Kms(rest.to_owned()));
    }
    let Some(query) = query else {
        return Ok(KeyRef::KmsDiscovery { filter: None });
    };
    let (_, params) = split_path_query(
        reference,
        &format!("discovery?{query}"),
        "kms",
        &["partition", "account"],
    )?;
    let accounts: Vec<String> = lookup(&params, "account")
        .map(|a| a.split(',').map(str::to_owned).collect())
        .unwrap_or_default();
    if accounts.is_empty()
        || accounts
            .iter()
            .any(|a| a.len() != 12 || !a.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(KeyRefError::BadKms {
            reference: reference.to_owned(),
            why: "a discovery filter needs account=ID[,ID…] (12-digit AWS account ids)".into(),
        });
    }
    let partition = lookup(&params, "partition").unwrap_or("aws").to_owned();
    Ok(KeyRef::KmsDiscovery {
        filter: Some((partition, accounts)),
    })
}

/// `pkcs11:PATH-ATTRIBUTES[?QUERY-ATTRIBUTES]` (RFC 7512): path `token` (required),
/// `object` and `id` (one or both; `;`-separated), query `module-path`,
/// `pin-source=file:PATH`, `pin-value`, `oaep` (`&`-separated); values percent-decoded.
fn pkcs11(rest: &str) -> Result<KeyRef, KeyRefError> {
    let k = Pkcs11KeyRef::parse_token(rest)?;
    if k.object.is_none() && k.id.is_none() {
        return Err(KeyRefError::BadPkcs11 {
            why: "name the key: token=LABEL and object=LABEL (or id=%XX…) are required".into(),
        });
    }
    Ok(KeyRef::Pkcs11(Box::new(k)))
}

impl Pkcs11KeyRef {
    /// Parses what follows `pkcs11:`, where `object` and `id` may both be absent (a token,
    /// as `key create --in` takes).
    ///
    /// # Errors
    /// A malformed URI (the error never echoes it: it may hold a PIN).
    pub fn parse_token(rest: &str) -> Result<Self, KeyRefError> {
        let bad = |why: String| KeyRefError::BadPkcs11 { why };
        let (path, query) = match rest.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (rest, None),
        };
        let mut token = None;
        let mut object = None;
        let mut id = None;
        for attr in path.split(';').filter(|a| !a.is_empty()) {
            let Some((k, v)) = attr.split_once('=') else {
                return Err(bad(format!("`{attr}` is not NAME=VALUE")));
            };
            if k == "id" {
                let bytes = percent_decode_bytes(v)
                    .filter(|b| !b.is_empty())
                    .ok_or_else(|| bad(format!("id={v}: percent-encoded bytes, like %01")))?;
                id = Some(bytes);
                continue;
            }
            let v =
                percent_decode(v).ok_or_else(|| bad(format!("bad percent-encoding in `{v}`")))?;
            match k {
                "token" => token = Some(v),
                "object" => object = Some(v),
                "type"
                | "manufacturer"
                | "model"
                | "serial"
                | "library-description"
                | "library-manufacturer"
                | "library-version"
                | "slot-description"
                | "slot-manufacturer"
                | "slot-id" => {
                    return Err(bad(format!(
                        "the path attribute `{k}` is not supported here: name the key by \
                         token, object and id"
                    )));
                }
                _ => return Err(bad(format!("unknown path attribute `{k}`"))),
            }
        }
        let Some(token) = token else {
            return Err(bad("token=LABEL is required".into()));
        };
        let mut module = None;
        let mut pin = PinSource::Env;
        let mut oaep = "sha1".to_owned();
        if let Some(q) = query {
            for attr in q.split('&').filter(|a| !a.is_empty()) {
                let Some((k, v)) = attr.split_once('=') else {
                    return Err(bad(format!("`{attr}` is not NAME=VALUE")));
                };
                let v = percent_decode(v)
                    .ok_or_else(|| bad(format!("bad percent-encoding in `{k}`")))?;
                match k {
                    "module-path" => module = Some(PathBuf::from(v)),
                    "pin-source" => {
                        let Some(file) = v.strip_prefix("file:") else {
                            return Err(bad("pin-source must be file:PATH".into()));
                        };
                        pin = PinSource::File(PathBuf::from(file));
                    }
                    "pin-value" => pin = PinSource::Value(Zeroizing::new(v)),
                    "oaep" if matches!(v.as_str(), "sha1" | "sha256" | "sha384" | "sha512") => {
                        oaep = v;
                    }
                    "oaep" => {
                        return Err(bad(format!("oaep={v}: use sha1, sha256, sha384 or sha512")));
                    }
                    _ => return Err(bad(format!("unknown query attribute `{k}`"))),
                }
            }
        }
        Ok(Self {
            token,
            object,
            id,
            module,
            pin,
            oaep,
        })
    }

    /// A root key file records the URI: refuses one that carries a PIN value.
    ///
    /// # Errors
    /// `pin-value` is given.
    pub fn check_recordable(&self) -> Result<(), KeyRefError> {
        if let PinSource::Value(_) = self.pin {
            return Err(KeyRefError::BadPkcs11 {
                why: "a PKCS#11 root key's URI is kept in root.key: give the PIN by \
                      pin-source=file:PATH or COFFER_PKCS11_PIN_FILE, not pin-value"
                    .into(),
            });
        }
        Ok(())
    }

    /// The path attributes: `token=T;object=O;id=%01` (percent-encoded).
    #[must_use]
    pub fn path(&self) -> String {
        let mut out = format!("token={}", percent_encode(self.token.as_bytes()));
        if let Some(o) = &self.object {
            out.push_str(";object=");
            out.push_str(&percent_encode(o.as_bytes()));
        }
        if let Some(id) = &self.id {
            out.push_str(";id=");
            for b in id {
                out.push_str(&format!("%{b:02X}"));
            }
        }
        out
    }

    /// The URI without a PIN value: `pkcs11:PATH[?module-path=…&pin-source=file:…&oaep=…]`,
    /// with `module` as the module path when given (what a root key file records).
    #[must_use]
    pub fn to_uri(&self, module: Option<&Path>) -> String {
        let mut query = Vec::new();
        if let Some(m) = module.or(self.module.as_deref()) {
            query.push(format!(
                "module-path={}",
                percent_encode(m.as_os_str().as_encoded_bytes())
            ));
        }
        if let PinSource::File(p) = &self.pin {
            query.push(format!(
                "pin-source=file:{}",
                percent_encode(p.as_os_str().as_encoded_bytes())
            ));
        }
        if self.oaep != "sha1" {
            query.push(format!("oaep={}", self.oaep));
        }
        let mut uri = format!("pkcs11:{}", self.path());
        if !query.is_empty() {
            uri.push('?');
            uri.push_str(&query.join("&"));
        }
        uri
    }
}

/// Percent-encodes all but RFC 3986 unreserved characters and `/` and `:`.
fn percent_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/' | b':') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn local(reference: &str, name: &str) -> Result<KeyRef, KeyRefError> {
    match crate::store::name_problem(name) {
        None => Ok(KeyRef::Local(LocalKeyRef {
            name: name.to_owned(),
        })),
        Some(why) => Err(KeyRefError::BadLocalName {
            reference: reference.to_owned(),
            why,
        }),
    }
}

impl fmt::Display for KeyRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Aes(k) => write!(
                f,
                "aes:{} (namespace {}, name {})",
                k.path.display(),
                k.namespace,
                k.name
            ),
            Self::Rsa(k) => write!(
                f,
                "rsa:{} (namespace {}, name {}, padding {})",
                k.path.display(),
                k.namespace,
                k.name,
                k.padding
            ),
            Self::Local(k) => write!(f, "local:{}", k.name),
            Self::Kms(k) => write!(f, "kms:{k}"),
            Self::KmsDiscovery { filter: None } => f.write_str("kms:discovery"),
            Self::KmsDiscovery {
                filter: Some((p, a)),
            } => write!(f, "kms:discovery (partition {p}, accounts {})", a.join(",")),
            Self::Pkcs11(k) => write!(f, "pkcs11:{}", k.path()),
        }
    }
}

impl KeyRef {
    /// The key file (`None` for local keys, which live in the store, and KMS keys).
    pub fn path(&self) -> Option<&Path> {
        match self {
            Self::Aes(k) => Some(&k.path),
            Self::Rsa(k) => Some(&k.path),
            Self::Local(_) | Self::Kms(_) | Self::KmsDiscovery { .. } | Self::Pkcs11(_) => None,
        }
    }
}

type Params = Vec<(String, String)>;

fn lookup<'a>(params: &'a Params, key: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// Splits `PATH[?QUERY]` and validates the query keys.
fn split_path_query(
    whole: &str,
    rest: &str,
    scheme: &'static str,
    allowed: &'static [&'static str],
) -> Result<(PathBuf, Params), KeyRefError> {
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (rest, None),
    };
    if path.is_empty() {
        return Err(KeyRefError::MissingPath(whole.to_owned()));
    }
    let mut params = Params::new();
    if let Some(query) = query {
        let bad = |why: &str| KeyRefError::BadQuery {
            query: query.to_owned(),
            why: why.to_owned(),
        };
        if query.is_empty() {
            return Err(bad("nothing after `?`"));
        }
        for pair in query.split('&') {
            let Some((k, v)) = pair.split_once('=') else {
                return Err(bad(&format!("`{pair}` is not KEY=VALUE")));
            };
            if !allowed.contains(&k) {
                return Err(KeyRefError::UnknownParameter {
                    scheme,
                    key: k.to_owned(),
                    allowed: match scheme {
                        "rsa" => "padding, namespace, name",
                        "kms" => "partition, account",
                        _ => "namespace, name",
                    },
                });
            }
            if lookup(&params, k).is_some() {
                return Err(KeyRefError::DuplicateParameter(k.to_owned()));
            }
            let v =
                percent_decode(v).ok_or_else(|| bad(&format!("bad percent-encoding in `{v}`")))?;
            if v.is_empty() {
                return Err(KeyRefError::EmptyParameter(k.to_owned()));
            }
            params.push((k.to_owned(), v));
        }
    }
    Ok((PathBuf::from(path), params))
}

fn namespace_and_name(path: &Path, params: &Params) -> Result<(String, String), KeyRefError> {
    let namespace = lookup(params, "namespace")
        .unwrap_or(DEFAULT_NAMESPACE)
        .to_owned();
    let name = match lookup(params, "name") {
        Some(n) => n.to_owned(),
        None => path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| KeyRefError::NoDefaultName(path.to_path_buf()))?
            .to_owned(),
    };
    Ok((namespace, name))
}

/// The default key name of an RSA key file: the file name without the suffixes that tell
/// the public half from the private half, so that `alice.pub.pem` (encrypt) and `alice.pem`
/// (decrypt), or `rsa-public.pem` and `rsa-private.pem`, name the same key.
fn rsa_pair_name(file_name: &str) -> String {
    const SUFFIXES: [&str; 12] = [
        ".pem", ".der", ".pub", ".key", "-public", "-private", "_public", "_private", ".public",
        ".private", "-pub", "_pub",
    ];
    let mut name = file_name;
    while let Some(stripped) = SUFFIXES.iter().find_map(|s| name.strip_suffix(s)) {
        if stripped.is_empty() {
            break;
        }
        name = stripped;
    }
    name.to_owned()
}

/// Decodes `%XX` escapes; `None` on a bad escape or a result that is not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    String::from_utf8(percent_decode_bytes(s)?).ok()
}

fn percent_decode_bytes(s: &str) -> Option<Vec<u8>> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    Some(out)
}

/// What a key is loaded for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Wrapping data keys.
    Encrypt,
    /// Unwrapping data keys.
    Decrypt,
}

/// A key file that cannot be used. Every variant names the file; none shows key material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyFileError {
    /// The file cannot be read.
    #[error("cannot read key file {}", .path.display())]
    Read {
        /// The key file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The file holds more than a key file of its kind can.
    #[error(transparent)]
    TooLarge(crate::smallfile::TooLarge),
    /// The AES key has the wrong length.
    #[error(
        "key file {} is not an AES key: {len} bytes, expected 16, 24 or 32 raw bytes or their base64 text",
        .path.display()
    )]
    AesLength {
        /// The key file.
        path: PathBuf,
        /// Its length in bytes.
        len: usize,
    },
    /// The file is not PEM.
    #[error("key file {} is not a PEM file", .path.display())]
    NotPem {
        /// The key file.
        path: PathBuf,
    },
    /// A PEM block of a kind we cannot use.
    #[error("key file {} holds a PEM `{label}`, which is not supported", .path.display())]
    UnsupportedPem {
        /// The key file.
        path: PathBuf,
        /// The PEM label.
        label: String,
    },
    /// A private key was given to encrypt.
    #[error("key file {}: encrypt needs the public key (SPKI PEM), not a private key", .path.display())]
    NeedPublic {
        /// The key file.
        path: PathBuf,
    },
    /// A public key was given to decrypt.
    #[error("key file {}: decrypt needs the private key (PKCS#8 PEM), not a public key", .path.display())]
    NeedPrivate {
        /// The key file.
        path: PathBuf,
    },
}

impl KeyFileError {
    /// A hint for the user, if there is a useful one.
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::AesLength { .. } => {
                Some("create one with: head -c 32 /dev/urandom > KEYFILE".to_owned())
            }
            Self::NotPem { .. } => Some(
                "rsa: keys are PEM files; convert DER with: openssl pkey -inform DER -in KEY -out KEY.pem"
                    .to_owned(),
            ),
            Self::UnsupportedPem { label, .. } => match label.as_str() {
                "RSA PRIVATE KEY" => Some(
                    "convert the PKCS#1 key to PKCS#8 with: openssl pkcs8 -topk8 -nocrypt -in KEY -out KEY.p8.pem"
                        .to_owned(),
                ),
                "RSA PUBLIC KEY" => Some(
                    "convert the PKCS#1 public key to SPKI with: openssl rsa -RSAPublicKey_in -in KEY -pubout -out KEY.pub.pem"
                        .to_owned(),
                ),
                "ENCRYPTED PRIVATE KEY" => Some(
                    "decrypt the key first with: openssl pkcs8 -in KEY -nocrypt -out KEY.p8.pem"
                        .to_owned(),
                ),
                _ => None,
            },
            Self::NeedPublic { .. } => Some(
                "extract the public key with: openssl pkey -in KEY -pubout -out KEY.pub.pem"
                    .to_owned(),
            ),
            _ => None,
        }
    }
}

/// The largest AES key file: 32 bytes in base64 are 44 characters; the rest is margin for
/// whitespace, and so that a file a little off is reported with its length
/// ([`KeyFileError::AesLength`]).
pub const MAX_AES_KEY_FILE: usize = 1024;

/// The largest RSA PEM file: a 16384-bit PKCS#8 private key is about 13 KB of PEM; the rest
/// is margin (text around the block).
pub const MAX_RSA_KEY_FILE: usize = 64 * 1024;

fn read_key_file(path: &Path, limit: usize) -> Result<Zeroizing<Vec<u8>>, KeyFileError> {
    crate::smallfile::read(path, "key file", limit).map_err(|e| match e {
        crate::smallfile::ReadError::Io(source) => KeyFileError::Read {
            path: path.to_path_buf(),
            source,
        },
        crate::smallfile::ReadError::TooLarge(t) => KeyFileError::TooLarge(t),
    })
}

fn is_aes_len(n: usize) -> bool {
    matches!(n, 16 | 24 | 32)
}

/// Decodes base64 key text (surrounding ASCII whitespace ignored, padding optional).
fn decode_base64_key(text: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    let text = text.trim_ascii();
    if text.is_empty() {
        return None;
    }
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    let mut out = Zeroizing::new(Vec::with_capacity(text.len()));
    engine.decode_vec(text, &mut out).ok()?;
    Some(out)
}

/// Interprets the bytes of an AES key file: exactly 16, 24 or 32 bytes are the raw key;
/// anything else must be base64 text of a 16-, 24- or 32-byte key.
///
/// Returns the key and whether it came from base64.
pub fn parse_aes_key(
    path: &Path,
    bytes: &[u8],
) -> Result<(Zeroizing<Vec<u8>>, bool), KeyFileError> {
    if is_aes_len(bytes.len()) {
        if decode_base64_key(bytes).is_some_and(|k| is_aes_len(k.len())) {
            tracing::warn!(
                file = %path.display(),
                "key file is {} bytes that are also valid base64 text; using them as a raw key \
                 (end the file with a newline to have it read as base64)",
                bytes.len()
            );
        }
        return Ok((Zeroizing::new(bytes.to_vec()), false));
    }
    match decode_base64_key(bytes) {
        Some(k) if is_aes_len(k.len()) => Ok((k, true)),
        _ => Err(KeyFileError::AesLength {
            path: path.to_path_buf(),
            len: bytes.len(),
        }),
    }
}

/// Reads an AES key file (see [`parse_aes_key`]).
pub fn read_aes_key(path: &Path) -> Result<Zeroizing<Vec<u8>>, KeyFileError> {
    let bytes = read_key_file(path, MAX_AES_KEY_FILE)?;
    let (key, from_base64) = parse_aes_key(path, &bytes)?;
    tracing::debug!(file = %path.display(), bits = key.len() * 8, from_base64, "AES key file read");
    Ok(key)
}

/// The kind of RSA PEM file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PemKind {
    /// `PUBLIC KEY` (SPKI).
    Public,
    /// `PRIVATE KEY` (PKCS#8).
    Private,
}

/// Finds the label of the first PEM block of `text`.
pub fn pem_label(text: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(text).ok()?;
    text.lines().find_map(|line| {
        line.trim()
            .strip_prefix("-----BEGIN ")?
            .strip_suffix("-----")
            .map(str::to_owned)
    })
}

/// Classifies an RSA PEM file's bytes.
pub fn classify_pem(path: &Path, bytes: &[u8]) -> Result<PemKind, KeyFileError> {
    match pem_label(bytes).as_deref() {
        Some("PUBLIC KEY") => Ok(PemKind::Public),
        Some("PRIVATE KEY") => Ok(PemKind::Private),
        Some(label) => Err(KeyFileError::UnsupportedPem {
            path: path.to_path_buf(),
            label: label.to_owned(),
        }),
        None => Err(KeyFileError::NotPem {
            path: path.to_path_buf(),
        }),
    }
}

/// Reads an RSA PEM file and checks it fits `purpose`: encrypt needs a public key unless
/// `private_ok_for_encrypt` (the library can derive the public key), decrypt a private key.
pub fn read_rsa_pem(
    path: &Path,
    purpose: Purpose,
    private_ok_for_encrypt: bool,
) -> Result<(Zeroizing<Vec<u8>>, PemKind), KeyFileError> {
    let bytes = read_key_file(path, MAX_RSA_KEY_FILE)?;
    let kind = classify_pem(path, &bytes)?;
    match (purpose, kind) {
        (Purpose::Encrypt, PemKind::Private) if !private_ok_for_encrypt => {
            Err(KeyFileError::NeedPublic {
                path: path.to_path_buf(),
            })
        }
        (Purpose::Decrypt, PemKind::Public) => Err(KeyFileError::NeedPrivate {
            path: path.to_path_buf(),
        }),
        _ => Ok((bytes, kind)),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use std::fs;

    use super::*;

    fn aes(s: &str) -> AesKeyRef {
        match s.parse::<KeyRef>().unwrap() {
            KeyRef::Aes(k) => k,
            _ => panic!("not aes"),
        }
    }

    fn rsa(s: &str) -> RsaKeyRef {
        match s.parse::<KeyRef>().unwrap() {
            KeyRef::Rsa(k) => k,
            _ => panic!("not rsa"),
        }
    }

    #[test]
    fn aes_defaults() {
        let k = aes("aes:/keys/master.key");
        assert_eq!(k.path, Path::new("/keys/master.key"));
        assert_eq!(k.namespace, "coffer");
        assert_eq!(k.name, "master.key");
        let k = aes("aes:rel/k");
        assert_eq!(k.name, "k");
    }

    #[test]
    fn aes_query() {
        let k = aes("aes:k.bin?namespace=acme&name=prod%2Fdb%26x");
        assert_eq!(k.namespace, "acme");
        assert_eq!(k.name, "prod/db&x");
        let k = aes("aes:k.bin?name=n");
        assert_eq!(k.namespace, "coffer");
        assert_eq!(k.name, "n");
    }

    #[test]
    fn rsa_default_name_pairs_public_and_private_files() {
        for (a, b) in [
            ("alice.pub.pem", "alice.pem"),
            ("rsa-4096-public.pem", "rsa-4096-private.pem"),
            ("k_public.pem", "k_private.pem"),
            ("id.pub", "id.key"),
        ] {
            assert_eq!(rsa(&format!("rsa:{a}")).name, rsa(&format!("rsa:{b}")).name);
        }
        assert_eq!(rsa("rsa:alice.pem").name, "alice");
        assert_eq!(rsa("rsa:.pem").name, ".pem");
        assert_eq!(rsa("rsa:x.pem?name=custom.pem").name, "custom.pem");
    }

    #[test]
    fn rsa_padding() {
        assert_eq!(rsa("rsa:k.pem").padding, Padding::OaepSha256);
        for (s, p) in Padding::ALL {
            assert_eq!(rsa(&format!("rsa:k.pem?padding={s}")).padding, p);
            assert_eq!(p.as_str(), s);
        }
        let k = rsa("rsa:/a/k.pem?padding=pkcs1&namespace=ns&name=nm");
        assert_eq!(
            (k.padding, k.namespace.as_str(), k.name.as_str()),
            (Padding::Pkcs1, "ns", "nm")
        );
        assert_eq!(
            "rsa:k.pem?padding=oaep-md5".parse::<KeyRef>(),
            Err(KeyRefError::BadPadding("oaep-md5".into()))
        );
    }

    #[test]
    fn bad_queries() {
        let e = "aes:k?padding=pkcs1".parse::<KeyRef>().unwrap_err();
        assert!(matches!(e, KeyRefError::UnknownParameter { .. }), "{e}");
        assert!(e.to_string().contains("padding"), "{e}");
        assert!(matches!(
            "aes:k?name=a&name=b".parse::<KeyRef>(),
            Err(KeyRefError::DuplicateParameter(_))
        ));
        assert!(matches!(
            "aes:k?name".parse::<KeyRef>(),
            Err(KeyRefError::BadQuery { .. })
        ));
        assert!(matches!(
            "aes:k?".parse::<KeyRef>(),
            Err(KeyRefError::BadQuery { .. })
        ));
        assert!(matches!(
            "aes:k?name=".parse::<KeyRef>(),
            Err(KeyRefError::EmptyParameter(_))
        ));
        assert!(matches!(
            "aes:k?name=%zz".parse::<KeyRef>(),
            Err(KeyRefError::BadQuery { .. })
        ));
        assert!(matches!(
            "aes:".parse::<KeyRef>(),
            Err(KeyRefError::MissingPath(_))
        ));
        assert!(matches!(
            "aes:?name=x".parse::<KeyRef>(),
            Err(KeyRefError::MissingPath(_))
        ));
        assert!(matches!(
            "aes:/".parse::<KeyRef>(),
            Err(KeyRefError::NoDefaultName(_))
        ));
        assert!(matches!(
            "aes:/?name=x".parse::<KeyRef>(),
            Ok(KeyRef::Aes(_))
        ));
        assert_eq!("".parse::<KeyRef>(), Err(KeyRefError::Empty));
    }

    #[test]
    fn kms_references() {
        let arn = "arn:aws:kms:us-east-1:111122223333:key/1234abcd";
        assert_eq!(
            format!("kms:{arn}").parse::<KeyRef>(),
            Ok(KeyRef::Kms(arn.into()))
        );
        assert_eq!(
            "kms:alias/prod".parse::<KeyRef>(),
            Ok(KeyRef::Kms("alias/prod".into()))
        );
        assert_eq!(
            "kms:discovery".parse::<KeyRef>(),
            Ok(KeyRef::KmsDiscovery { filter: None })
        );
        assert_eq!(
            "kms:discovery?account=111122223333,444455556666".parse::<KeyRef>(),
            Ok(KeyRef::KmsDiscovery {
                filter: Some((
                    "aws".into(),
                    vec!["111122223333".into(), "444455556666".into()]
                ))
            })
        );
        assert_eq!(
            "kms:discovery?partition=aws-cn&account=111122223333".parse::<KeyRef>(),
            Ok(KeyRef::KmsDiscovery {
                filter: Some(("aws-cn".into(), vec!["111122223333".into()]))
            })
        );
        for bad in [
            "kms:",
            "kms: alias/x",
            "kms:alias/x?y=1",
            "kms:discovery?",
            "kms:discovery?partition=aws",
            "kms:discovery?account=1234",
            "kms:discovery?account=111122223333,",
            "kms:discovery?region=us-east-1",
        ] {
            assert!(bad.parse::<KeyRef>().is_err(), "{bad}");
        }
    }

    #[test]
    fn pkcs11_uris() {
        let k = "pkcs11:token=prod;object=root%20key?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/run/pin"
            .parse::<KeyRef>()
            .unwrap();
        let KeyRef::Pkcs11(k) = k else {
            panic!("{k:?}")
        };
        assert_eq!(
            (k.token.as_str(), k.object.as_deref()),
            ("prod", Some("root key"))
        );
        assert_eq!(
            k.to_uri(None),
            "pkcs11:token=prod;object=root%20key?module-path=/usr/lib/softhsm/libsofthsm2.so\
             &pin-source=file:/run/pin"
        );
        let KeyRef::Pkcs11(by_id) = "pkcs11:token=t;id=%01%a2".parse::<KeyRef>().unwrap() else {
            panic!()
        };
        assert_eq!(by_id.id.as_deref(), Some(&[1u8, 0xa2][..]));
        assert_eq!(
            by_id.to_uri(Some(Path::new("/m.so"))),
            "pkcs11:token=t;id=%01%A2?module-path=/m.so"
        );
        assert_eq!(k.pin, PinSource::File("/run/pin".into()));
        let v = "pkcs11:token=t;object=o?pin-value=1234"
            .parse::<KeyRef>()
            .unwrap();
        assert!(!format!("{v:?} {v}").contains("1234"));
        let KeyRef::Pkcs11(v) = v else { panic!() };
        assert!(!v.to_uri(None).contains("1234"));
        for bad in [
            "pkcs11:",
            "pkcs11:token=t",
            "pkcs11:object=o",
            "pkcs11:token=t;object=o;serial=1",
            "pkcs11:token=t;id=",
            "pkcs11:token=t;id=%zz",
            "pkcs11:token=t;object=o?pin-source=/run/pin",
            "pkcs11:token=t;object=o?oaep=md5",
            "pkcs11:token=t;object=o?x=1",
            "pkcs11:token=t;object=o?pin-value=secret-1&x",
        ] {
            let e = bad.parse::<KeyRef>().unwrap_err();
            assert!(!e.to_string().contains("secret-1"), "{e}");
        }
    }

    #[test]
    fn unsupported_schemes() {
        assert_eq!(
            "foo:bar".parse::<KeyRef>(),
            Err(KeyRefError::UnknownScheme("foo".into()))
        );
    }

    #[test]
    fn local_keys() {
        for (s, name) in [("mykey", "mykey"), ("local:prod-db.v2", "prod-db.v2")] {
            assert_eq!(
                s.parse::<KeyRef>().unwrap(),
                KeyRef::Local(LocalKeyRef { name: name.into() })
            );
        }
        assert_eq!("local:k".parse::<KeyRef>().unwrap().to_string(), "local:k");
        for s in ["local:", "./k.bin", "a b", "local:-x", "k/v"] {
            let e = s.parse::<KeyRef>().unwrap_err();
            assert!(matches!(e, KeyRefError::BadLocalName { .. }), "{s}: {e}");
            assert!(e.hint().unwrap().contains("aes:PATH"));
        }
    }

    #[test]
    fn aes_key_file_forms() {
        let p = Path::new("k");
        for n in [16usize, 24, 32] {
            let raw: Vec<u8> = (0..n).map(|i| u8::try_from(i).unwrap() ^ 0xA5).collect();
            let (k, b64) = parse_aes_key(p, &raw).unwrap();
            assert_eq!((k.as_slice(), b64), (raw.as_slice(), false));
            let text = base64::engine::general_purpose::STANDARD.encode(&raw);
            let (k, b64) = parse_aes_key(p, format!("{text}\n").as_bytes()).unwrap();
            assert_eq!((k.as_slice(), b64), (raw.as_slice(), true));
            let (k, _) = parse_aes_key(p, format!("  {text}\r\n").as_bytes()).unwrap();
            assert_eq!(k.as_slice(), raw.as_slice());
        }
        // 32-byte base64 text (of a 24-byte key) without newline: exactly 32 bytes, so raw.
        let text = base64::engine::general_purpose::STANDARD.encode([7u8; 24]);
        let (k, b64) = parse_aes_key(p, text.as_bytes()).unwrap();
        assert_eq!((k.len(), b64), (32, false));
    }

    #[test]
    fn aes_key_file_bad_lengths() {
        let p = Path::new("/keys/short.key");
        for bytes in [
            &b""[..],
            &[1u8; 15][..],
            &[1u8; 33][..],
            b"not base64 !!!\n",
            b"AAAA\n",
        ] {
            let e = parse_aes_key(p, bytes).unwrap_err();
            assert!(e.to_string().contains("/keys/short.key"), "{e}");
            assert!(e.to_string().contains("16, 24 or 32"), "{e}");
        }
        // base64 of a 20-byte key
        let text = base64::engine::general_purpose::STANDARD.encode([1u8; 20]);
        assert!(parse_aes_key(p, text.as_bytes()).is_err());
    }

    #[test]
    fn key_file_errors_do_not_show_key_bytes() {
        let e = parse_aes_key(Path::new("k"), &[0xAB; 31]).unwrap_err();
        let s = format!("{e} {e:?}");
        assert!(
            !s.to_lowercase().contains("ab, ab") && !s.contains("171"),
            "{s}"
        );
    }

    #[test]
    fn pem_classification() {
        let p = Path::new("k.pem");
        let public = b"-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----\n";
        let private = b"junk\n-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n";
        let pkcs1 = b"-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----\n";
        assert_eq!(classify_pem(p, public).unwrap(), PemKind::Public);
        assert_eq!(classify_pem(p, private).unwrap(), PemKind::Private);
        let e = classify_pem(p, pkcs1).unwrap_err();
        assert!(e.hint().unwrap().contains("pkcs8"), "{e}");
        assert!(matches!(
            classify_pem(p, &[0x30, 0x82, 1, 2]),
            Err(KeyFileError::NotPem { .. })
        ));
    }

    #[test]
    fn rsa_purpose_checks() {
        let dir = tempfile::tempdir().unwrap();
        let public = dir.path().join("pub.pem");
        let private = dir.path().join("priv.pem");
        fs::write(
            &public,
            "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----\n",
        )
        .unwrap();
        fs::write(
            &private,
            "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n",
        )
        .unwrap();
        assert!(read_rsa_pem(&public, Purpose::Encrypt, false).is_ok());
        let e = read_rsa_pem(&private, Purpose::Encrypt, false).unwrap_err();
        assert!(
            e.to_string()
                .contains("encrypt needs the public key (SPKI PEM)"),
            "{e}"
        );
        assert!(read_rsa_pem(&private, Purpose::Encrypt, true).is_ok());
        assert!(read_rsa_pem(&private, Purpose::Decrypt, false).is_ok());
        let e = read_rsa_pem(&public, Purpose::Decrypt, false).unwrap_err();
        assert!(e.to_string().contains("private key (PKCS#8 PEM)"), "{e}");
        let e = read_rsa_pem(&dir.path().join("missing.pem"), Purpose::Decrypt, false).unwrap_err();
        assert!(e.to_string().contains("missing.pem"), "{e}");
    }

    #[test]
    fn key_files_are_read_with_a_limit() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big.pem");
        let mut pem = b"-----BEGIN PUBLIC KEY-----\n".to_vec();
        pem.resize(MAX_RSA_KEY_FILE + 1, b'A');
        fs::write(&big, &pem).unwrap();
        let e = read_rsa_pem(&big, Purpose::Encrypt, false).unwrap_err();
        assert!(
            matches!(&e, KeyFileError::TooLarge(t) if t.len == Some(65_537)),
            "{e:?}"
        );
        assert!(e.to_string().contains("big.pem is too large"), "{e}");
        pem.truncate(MAX_RSA_KEY_FILE);
        fs::write(&big, &pem).unwrap();
        assert!(matches!(
            read_rsa_pem(&big, Purpose::Encrypt, false),
            Ok((_, PemKind::Public))
        ));
        let aes = dir.path().join("aes.key");
        fs::write(&aes, vec![b'k'; MAX_AES_KEY_FILE + 1]).unwrap();
        assert!(matches!(read_aes_key(&aes), Err(KeyFileError::TooLarge(_))));
        fs::write(&aes, vec![b'k'; MAX_AES_KEY_FILE]).unwrap();
        assert!(matches!(
            read_aes_key(&aes),
            Err(KeyFileError::AesLength { len: 1024, .. })
        ));
    }
}
