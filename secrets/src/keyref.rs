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
//! keyrings. Key material is held in [`zeroize::Zeroizing`] buffers and never printed.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

pub(crate) mod error;
pub(crate) mod keyfile;
mod percent;
mod pkcs11;

pub use error::KeyRefError;
pub use keyfile::{
    KeyFileError, MAX_AES_KEY_FILE, MAX_RSA_KEY_FILE, PemKind, Purpose, classify_pem,
    parse_aes_key, pem_label, read_aes_key, read_rsa_pem,
};
use percent::percent_decode;
use pkcs11::pkcs11;
pub use pkcs11::{PinSource, Pkcs11KeyRef};

/// The key namespace used when the reference gives none.
pub const DEFAULT_NAMESPACE: &str = "coffer";

/// A parsed key reference.
///
/// ```
/// use coffer::keyref::{KeyRef, KeyRefError};
///
/// assert!(matches!("app".parse::<KeyRef>()?, KeyRef::Local(_)));
/// assert!(matches!("aes:/etc/keys/k.bin".parse::<KeyRef>()?, KeyRef::Aes(_)));
/// assert!(matches!("nope:x".parse::<KeyRef>(), Err(KeyRefError::UnknownScheme(_))));
/// # Ok::<(), KeyRefError>(())
/// ```
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
            "pkcs11" => pkcs11(rest).map(|k| Self::Pkcs11(Box::new(k))),
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

fn local(reference: &str, name: &str) -> Result<KeyRef, KeyRefError> {
    match crate::store::key_rows::name_problem(name) {
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use std::fs;

    use base64::Engine as _;

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
        assert!(matches!(
            classify_pem(p, pkcs1),
            Err(KeyFileError::UnsupportedPem { .. })
        ));
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
