//! `pkcs11:` key references: RFC 7512 PKCS#11 URIs naming a key on a token, and where its
//! PIN comes from.

use std::fmt;
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use super::error::KeyRefError;
use super::percent::{percent_decode, percent_decode_bytes};

/// An RFC 7512 PKCS#11 URI naming a key (see [`super::KeyRef::Pkcs11`]).
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

/// `pkcs11:PATH-ATTRIBUTES[?QUERY-ATTRIBUTES]` (RFC 7512): path `token` (required),
/// `object` and `id` (one or both; `;`-separated), query `module-path`,
/// `pin-source=file:PATH`, `pin-value`, `oaep` (`&`-separated); values percent-decoded.
pub(super) fn pkcs11(rest: &str) -> Result<Pkcs11KeyRef, KeyRefError> {
    let k = Pkcs11KeyRef::parse_token(rest)?;
    if k.object.is_none() && k.id.is_none() {
        return Err(KeyRefError::BadPkcs11 {
            why: "name the key: token=LABEL and object=LABEL (or id=%XX…) are required".into(),
        });
    }
    Ok(k)
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
