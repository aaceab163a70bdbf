//! `import`: parameters from a dotenv, JSON or YAML file (among them what `coffer export`
//! writes), all written in one transaction ([`Params::put_all`]) or none.
//!
//! # From keys to names
//!
//! Each key names a parameter below the path imported into (`--path`, `/` by default):
//!
//! - a key of the form of an environment variable in capitals (`DB_PASSWORD`, `_9LIVES`:
//!   `A-Z`, `0-9` and `_` only) becomes lower case with `_` as `-` (`db-password`,
//!   `-9lives`), so that `exec --path` of that path sets the variable it came from again;
//! - any other key is the name's rest as written; `/` in it separates levels
//!   (`db/password`);
//! - in JSON and YAML, a nested object is a level: `{"db": {"password": "…"}}` is
//!   `db/password`.
//!
//! # Values and types
//!
//! Strings are values as they are; integers and booleans their text (`5432`, `true`; YAML
//! reads `0x1F` as 31: quote a value to keep its text as written); a number with a fraction
//! or an exponent, or too large for 64 bits, is refused (its text as written is lost by the
//! parser), so that it is quoted. A list
//! of strings, numbers or booleans is a `string-list` (its items joined by `,`; an item
//! holding a `,` is refused). Every other value is of the type given (`--type`), or
//! `secure-string`. `null` and lists of anything else are refused.
//!
//! Two keys that give one name are refused, as is anything [`Params::put_all`] refuses: then
//! nothing is written.

use std::collections::BTreeMap;
use std::path::Path;

use zeroize::Zeroizing;

use super::{
    Expect, ParamName, ParamPath, ParamResult, ParamType, Params, PutRequest, SecretValue,
    TypeRule, VersionMeta,
};
use crate::error::Error;

/// The formats of [`parse`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportFormat {
    /// `KEY=value` lines ([`super::dotenv`]).
    Dotenv,
    /// One JSON object.
    Json,
    /// One YAML mapping.
    Yaml,
}

impl ImportFormat {
    /// The format a file's extension says (`.json`, `.yaml`, `.yml`, `.env`), if any.
    pub fn of_path(path: &Path) -> Option<Self> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "json" => Some(Self::Json),
            "yaml" | "yml" => Some(Self::Yaml),
            "env" => Some(Self::Dotenv),
            _ => None,
        }
    }
}

/// A parameter to import.
#[derive(Debug)]
pub struct ImportEntry {
    /// Its name.
    pub name: ParamName,
    /// Its type.
    pub param_type: ParamType,
    /// Its value.
    pub value: SecretValue,
    /// Where it is in the file (`line 3`, `key db.password`), for messages.
    pub origin: String,
}

/// The parameters of `text` in `format`, named below `under` (see the module docs); values
/// not of a list are of type `param_type` (`None`: `secure-string`).
///
/// # Errors
/// [`Error::Invalid`] naming the line or key: text not in the format, a key that gives no
/// valid name, two keys that give one name, a value of no type or of another type than the
/// one given.
pub fn parse(
    text: &str,
    format: ImportFormat,
    under: &ParamPath,
    param_type: Option<ParamType>,
) -> Result<Vec<ImportEntry>, Error> {
    let scalar = param_type.unwrap_or(ParamType::SecureString);
    let mut raw: Vec<(String, Item, String)> = Vec::new();
    match format {
        ImportFormat::Dotenv => {
            for e in super::dotenv::parse(text)? {
                let origin = format!("line {}", e.line);
                raw.push((e.key, Item::Scalar(e.value.into_inner()), origin));
            }
        }
        ImportFormat::Json => {
            let tree: Node = serde_json::from_str(text).map_err(|e| {
                Error::invalid(format!(
                    "not JSON (line {}, column {}): {}",
                    e.line(),
                    e.column(),
                    json_why(&e)
                ))
            })?;
            let Node::Map(map) = tree else {
                return Err(Error::invalid(
                    "the JSON is not one object of names and values",
                ));
            };
            items(map, "", &mut raw)?;
        }
        ImportFormat::Yaml => {
            // The YAML parser takes time quadratic in the depth of flow collections before
            // its own limit (128 levels) refuses them: a file that opens more brackets than
            // that without closing them is refused at once (a value holding that many
            // unclosed brackets would have to be in a block scalar).
            let mut depth = 0usize;
            for b in text.bytes() {
                match b {
                    b'[' | b'{' => depth += 1,
                    b']' | b'}' => depth = depth.saturating_sub(1),
                    _ => {}
                }
                if depth > MAX_FLOW_DEPTH {
                    return Err(Error::invalid(format!(
                        "not YAML coffer reads: collections nested more than {MAX_FLOW_DEPTH} deep"
                    )));
                }
            }
            let tree: Node = serde_norway::from_str(text).map_err(|e| {
                let at = e
                    .location()
                    .map(|l| format!(" (line {}, column {})", l.line(), l.column()))
                    .unwrap_or_default();
                let msg = e.to_string();
                // Only [`Node`]'s own errors are said: the parser's may quote the text.
                // (serde_norway may put the key's path first.)
                let why = if let Some(rest) = msg.find(TWICE).map(|i| &msg[i + TWICE.len()..]) {
                    format!(": {TWICE}{}", rest.split(" at line ").next().unwrap_or(""))
                } else if msg.contains(NUMBER) {
                    format!(": {NUMBER}")
                } else {
                    String::new()
                };
                Error::invalid(format!("not YAML{at}{why}"))
            })?;
            let Node::Map(map) = tree else {
                return Err(Error::invalid(
                    "the YAML is not one mapping of names and values",
                ));
            };
            items(map, "", &mut raw)?;
        }
    }
    let mut seen: BTreeMap<ParamName, String> = BTreeMap::new();
    let mut out = Vec::with_capacity(raw.len());
    for (key, item, origin) in raw {
        let name = name_of(under, &key).map_err(|why| {
            Error::invalid(format!(
                "{origin}: key `{}` gives no name: {why}",
                key.escape_debug()
            ))
        })?;
        if let Some(first) = seen.insert(name.clone(), origin.clone()) {
            return Err(Error::invalid(format!(
                "{origin}: `{}` gives {name}, as {first} does",
                key.escape_debug()
            )));
        }
        let (param_type, value) = match item {
            Item::Scalar(v) => (scalar, v),
            Item::List(v) => match param_type {
                None | Some(ParamType::StringList) => (ParamType::StringList, v),
                Some(t) => {
                    return Err(Error::invalid(format!(
                        "{origin}: {name} is a list, which is a string-list, not a {t}"
                    )));
                }
            },
        };
        out.push(ImportEntry {
            name,
            param_type,
            value: SecretValue::new(value),
            origin,
        });
    }
    Ok(out)
}

/// A value of a file.
enum Item {
    Scalar(Zeroizing<String>),
    /// A list, its items joined by `,`.
    List(Zeroizing<String>),
}

/// What is wrong with JSON, without the text (which may hold a value).
fn json_why(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    match e.classify() {
        Category::Eof => "it ends too soon".into(),
        Category::Syntax => "a syntax error".into(),
        // Only [`Node`]'s own errors, which name a key at most.
        Category::Data => e
            .to_string()
            .split(" at line ")
            .next()
            .unwrap_or_default()
            .to_owned(),
        Category::Io => "it cannot be read".into(),
    }
}

/// The deepest `[`/`{` nesting of a YAML file read (its parser's own limit is 128).
const MAX_FLOW_DEPTH: usize = 256;

/// The error of a number whose text is lost.
const NUMBER: &str =
    "a number with a fraction or an exponent, or too large for 64 bits: quote it to keep its text";

/// The start of the error of a key given twice in one object.
const TWICE: &str = "a key given twice: ";

/// A JSON or YAML document as an import reads it: objects in their order, keys given twice
/// refused (serde_json would keep the last), strings moved into wiped buffers.
enum Node {
    Map(Vec<(String, Node)>),
    List(Vec<Node>),
    Text(Zeroizing<String>),
    Null,
}

impl<'de> serde::Deserialize<'de> for Node {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> serde::de::Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an object, a list, text, a number or a boolean")
    }

    fn visit_str<E>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Text(Zeroizing::new(v.to_owned())))
    }

    fn visit_string<E>(self, v: String) -> Result<Node, E> {
        Ok(Node::Text(Zeroizing::new(v)))
    }

    fn visit_bool<E>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Text(Zeroizing::new(v.to_string())))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Text(Zeroizing::new(v.to_string())))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Node, E> {
        Ok(Node::Text(Zeroizing::new(v.to_string())))
    }

    /// Refused: its text as written is gone (`1.10` would be `1.1`, `1E2` `100`, a large
    /// integer rounded), and a value is stored as written or not at all.
    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Node, E> {
        Err(E::custom(NUMBER))
    }

    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }

    fn visit_none<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }

    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        serde::Deserialize::deserialize(d)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut out = Vec::new();
        while let Some(n) = seq.next_element()? {
            out.push(n);
        }
        Ok(Node::List(out))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut out: Vec<(String, Node)> = Vec::new();
        let mut keys = std::collections::BTreeSet::new();
        while let Some(key) = map.next_key::<Node>()? {
            let Node::Text(key) = key else {
                return Err(serde::de::Error::custom("a key that is not text"));
            };
            let key = key.as_str().to_owned();
            if !keys.insert(key.clone()) {
                return Err(serde::de::Error::custom(format!(
                    "{TWICE}`{}`",
                    key.escape_debug()
                )));
            }
            let value = map.next_value()?;
            out.push((key, value));
        }
        Ok(Node::Map(out))
    }
}

/// The entries of object `map` whose keys are below `prefix`.
fn items(
    map: Vec<(String, Node)>,
    prefix: &str,
    out: &mut Vec<(String, Item, String)>,
) -> Result<(), Error> {
    for (k, v) in map {
        let key = join(prefix, &k);
        let origin = format!("key {}", key.escape_debug());
        let item = match v {
            Node::Map(inner) => {
                items(inner, &key, out)?;
                continue;
            }
            Node::Text(s) => Item::Scalar(s),
            Node::Null => {
                return Err(Error::invalid(format!(
                    "{origin}: no value (null); write \"\" for an empty one"
                )));
            }
            Node::List(list_items) => {
                let mut parts = Vec::with_capacity(list_items.len());
                for item in list_items {
                    match item {
                        Node::Text(s) => parts.push(s),
                        _ => return Err(list_error(&origin)),
                    }
                }
                Item::List(list(&origin, &parts)?)
            }
        };
        out.push((key, item, origin));
    }
    Ok(())
}

/// The name `key` gives below `under` (see the module docs).
fn name_of(under: &ParamPath, key: &str) -> Result<ParamName, String> {
    let env_form = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        && key.bytes().any(|b| b.is_ascii_uppercase());
    let rest = if env_form {
        key.to_ascii_lowercase().replace('_', "-")
    } else {
        key.to_owned()
    };
    if rest.starts_with('/') || rest.ends_with('/') || rest.contains("//") {
        return Err(
            "a key is the rest of a name below the path, without a leading, trailing \
                    or double `/`"
                .into(),
        );
    }
    ParamName::parse(&format!("{}{rest}", under.prefix())).map_err(|e| match e {
        super::NameError::Name { why, .. } => why,
        other => other.to_string(),
    })
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_owned()
    } else {
        format!("{prefix}/{key}")
    }
}

fn list_error(origin: &str) -> Error {
    Error::invalid(format!(
        "{origin}: a list holds only strings, numbers and booleans (a string-list)"
    ))
}

/// The items of a list joined by `,`.
fn list(origin: &str, parts: &[Zeroizing<String>]) -> Result<Zeroizing<String>, Error> {
    if parts.iter().any(|p| p.contains(',')) {
        return Err(Error::invalid(format!(
            "{origin}: an item of the list holds a `,`, which a string-list cannot keep apart"
        )));
    }
    let mut out = Zeroizing::new(String::with_capacity(
        parts.iter().map(|p| p.len() + 1).sum(),
    ));
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(p);
    }
    Ok(out)
}

/// What an import would write of one parameter ([`Params::plan_import`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    /// The parameter.
    pub name: ParamName,
    /// The type of the version.
    pub param_type: ParamType,
    /// The version it would write (1 for a new parameter).
    pub version: u32,
}

impl Params {
    /// What importing `entries` would write, checked as far as it can be without writing:
    /// each name new (unless `overwrite`), not deleted, of the same type if it exists, with
    /// a value within the limit, writable from this home.
    ///
    /// # Errors
    /// The first entry that the import would refuse.
    pub async fn plan_import(
        &self,
        entries: &[ImportEntry],
        overwrite: bool,
    ) -> ParamResult<Vec<Planned>> {
        let reqs = requests(entries, overwrite, "");
        let (store, policies) = self.checked_store().await?;
        let mut out = Vec::with_capacity(reqs.len());
        for (req, e) in reqs.iter().zip(entries) {
            let said = |err: Error| Error::invalid(format!("{}: {}", e.origin, err.full_message()));
            self.check_value(&req.value).map_err(said)?;
            self.check_root_in(&policies, &req.name).await?;
            let version = match store.state(&req.name).await? {
                None => 1,
                Some(s) if s.deleted_at.is_some() => {
                    return Err(Error::Deleted {
                        name: req.name.clone(),
                        at: s.deleted_at.unwrap_or_default(),
                    });
                }
                Some(s) if !overwrite => {
                    return Err(Error::Exists {
                        name: req.name.clone(),
                        latest: s.latest,
                    });
                }
                Some(s) => super::service::next_version(&req.name, s.latest)?,
            };
            let param_type = self.type_of_next(req, version, TypeRule::Same).await?;
            out.push(Planned {
                name: req.name.clone(),
                param_type,
                version,
            });
        }
        Ok(out)
    }

    /// Writes `entries` (new parameters, or with `overwrite` new versions of existing ones
    /// of the same type), all in one transaction or none ([`Params::put_all`]), as `author`.
    ///
    /// # Errors
    /// As [`Params::put_all`].
    pub async fn import(
        &self,
        entries: &[ImportEntry],
        overwrite: bool,
        author: &str,
    ) -> ParamResult<Vec<VersionMeta>> {
        self.put_all(&requests(entries, overwrite, author), TypeRule::Same)
            .await
    }
}

fn requests(entries: &[ImportEntry], overwrite: bool, author: &str) -> Vec<PutRequest> {
    entries
        .iter()
        .map(|e| PutRequest {
            name: e.name.clone(),
            param_type: e.param_type,
            value: e.value.clone(),
            expect: if overwrite { Expect::Any } else { Expect::New },
            labels: Vec::new(),
            description: None,
            tags: BTreeMap::new(),
            expires_at: None,
            author: author.to_owned(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    fn names(text: &str, format: ImportFormat) -> Vec<(String, ParamType, String)> {
        parse(text, format, &ParamPath::parse("/app/prod").unwrap(), None)
            .unwrap()
            .into_iter()
            .map(|e| {
                (
                    e.name.to_string(),
                    e.param_type,
                    e.value.expose().to_owned(),
                )
            })
            .collect()
    }

    fn err(text: &str, format: ImportFormat) -> String {
        parse(text, format, &ParamPath::parse("/app").unwrap(), None)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn keys_become_names_below_the_path() {
        let got = names(
            "DB_PASSWORD=a\n_9LIVES=b\nMixed_Case=d\n",
            ImportFormat::Dotenv,
        );
        let n: Vec<&str> = got.iter().map(|g| g.0.as_str()).collect();
        assert_eq!(
            n,
            [
                "/app/prod/db-password",
                "/app/prod/-9lives",
                "/app/prod/Mixed_Case"
            ]
        );
        // `exec --path /app/prod` gives the variables back.
        for (name, var) in [
            ("/app/prod/db-password", "DB_PASSWORD"),
            ("/app/prod/-9lives", "_9LIVES"),
        ] {
            let rest = name.strip_prefix("/app/prod/").unwrap();
            let back: String = rest
                .chars()
                .map(|c| {
                    if c == '-' {
                        '_'
                    } else {
                        c.to_ascii_uppercase()
                    }
                })
                .collect();
            assert_eq!(back, var);
        }
    }

    #[test]
    fn json_and_yaml_nest_and_type() {
        let j = names(
            r#"{"DB_URL": "postgres://x", "db": {"port": 5432, "tls": true}, "hosts": ["a", "b", 3], "x/y": "z"}"#,
            ImportFormat::Json,
        );
        assert_eq!(
            j,
            [
                (
                    "/app/prod/db-url".into(),
                    ParamType::SecureString,
                    "postgres://x".into()
                ),
                (
                    "/app/prod/db/port".into(),
                    ParamType::SecureString,
                    "5432".into()
                ),
                (
                    "/app/prod/db/tls".into(),
                    ParamType::SecureString,
                    "true".into()
                ),
                (
                    "/app/prod/hosts".into(),
                    ParamType::StringList,
                    "a,b,3".into()
                ),
                ("/app/prod/x/y".into(), ParamType::SecureString, "z".into()),
            ]
        );
        let y = names(
            "\"DB_URL\": \"postgres://x\"\ndb:\n  port: 5432\nhosts: [a, b]\n",
            ImportFormat::Yaml,
        );
        assert_eq!(y[0].0, "/app/prod/db-url");
        assert_eq!(
            y[1],
            (
                "/app/prod/db/port".into(),
                ParamType::SecureString,
                "5432".into()
            )
        );
        assert_eq!(y[2].1, ParamType::StringList);
    }

    #[test]
    fn bad_files_say_where_and_never_the_value() {
        let e = err(r#"{"A": "x", "a": "y", "B": "z"}"#, ImportFormat::Json);
        // `A` gives /app/a, and so does `a`.
        assert!(e.contains("gives /app/a, as key A does"), "{e}");
        let e = err("A=1\nB=2\nA=3\n", ImportFormat::Dotenv);
        assert!(
            e.starts_with("line 3: `A` gives /app/a, as line 1 does"),
            "{e}"
        );
        let e = err(r#"{"bad name": "secret-value"}"#, ImportFormat::Json);
        assert!(e.contains("key `bad name` gives no name"), "{e}");
        assert!(!e.contains("secret-value"), "{e}");
        let e = err(r#"{"a": "secret-value""#, ImportFormat::Json);
        assert!(e.starts_with("not JSON"), "{e}");
        assert!(!e.contains("secret"), "{e}");
        assert!(err(r#"["a"]"#, ImportFormat::Json).contains("not one object"));
        assert!(err(r#"{"a": null}"#, ImportFormat::Json).contains("null"));
        assert!(err(r#"{"a": ["x,y"]}"#, ImportFormat::Json).contains("holds a `,`"));
        assert!(err(r#"{"a": [{"b": 1}]}"#, ImportFormat::Json).contains("a list holds only"));
        assert!(err("a: [b\n", ImportFormat::Yaml).starts_with("not YAML"));
        assert!(err("a:\n", ImportFormat::Yaml).contains("no value (null)"));
        for (text, format) in [
            (r#"{"v": 1.10}"#, ImportFormat::Json),
            (r#"{"v": 1E2}"#, ImportFormat::Json),
            (
                r#"{"v": 123456789012345678901234567890}"#,
                ImportFormat::Json,
            ),
            ("v: 1.10\n", ImportFormat::Yaml),
        ] {
            let e = err(text, format);
            assert!(e.contains("quote it"), "{text}: {e}");
        }
        assert!(err(r#"{"/abs": "x"}"#, ImportFormat::Json).contains("without a leading"));
        let listed = parse(
            r#"{"a": ["x"]}"#,
            ImportFormat::Json,
            &ParamPath::root(),
            Some(ParamType::String),
        )
        .unwrap_err()
        .to_string();
        assert!(
            listed.contains("is a list, which is a string-list, not a string"),
            "{listed}"
        );
    }

    #[test]
    fn a_key_given_twice_in_one_object_is_refused() {
        // serde_json alone keeps the last of the two.
        let e = err(r#"{"a": "x", "b": {"c": 1, "c": 2}}"#, ImportFormat::Json);
        assert!(e.contains("a key given twice: `c`"), "{e}");
        let e = err("a: x\na: y\n", ImportFormat::Yaml);
        assert!(e.starts_with("not YAML"), "{e}");
        assert!(!e.contains(": x") && !e.contains(": y"), "{e}");
        let deep = format!("{}1{}", "{a: ".repeat(40_000), "}".repeat(40_000));
        assert!(err(&deep, ImportFormat::Yaml).contains("nested more than 256 deep"));
        let e = err("a: !secret x\n", ImportFormat::Yaml);
        assert!(e.starts_with("not YAML"), "{e}");
    }
}
