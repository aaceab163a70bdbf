//! The documents about parameters: versions, listings, labels and changes.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::SCHEMA;

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
    pub fn new(m: &coffer::params::VersionMeta, now: i64) -> Self {
        use coffer::time::format_rfc3339;
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
pub(super) fn table<const N: usize>(head: &[&str; N], rows: &[[String; N]]) -> String {
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
    pub fn new(p: &'a coffer::params::Param) -> Self {
        use coffer::time::format_rfc3339;
        let m = &p.meta;
        let value = p.value.expose();
        Self {
            kind: "param",
            schema: SCHEMA,
            name: m.name.to_string(),
            version: m.version,
            param_type: m.param_type.as_str(),
            value,
            values: (m.param_type == coffer::params::ParamType::StringList)
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
    /// RFC 3339 when it was deleted (`ls --deleted`), or `null`.
    pub deleted_at: Option<String>,
}

impl ParamSummaryWire {
    /// `ls -l`: a table with a header line (with when each was deleted, for `--deleted`).
    pub fn table(params: &[Self], deleted: bool) -> String {
        let head = [
            "NAME",
            "TYPE",
            "VERSION",
            "LABELS",
            "MODIFIED",
            if deleted { "DELETED" } else { "EXPIRES" },
        ];
        let rows: Vec<[String; 6]> = params
            .iter()
            .map(|p| {
                let last = if deleted {
                    p.deleted_at.clone().unwrap_or_default()
                } else {
                    match (&p.expires_at, p.expired) {
                        (Some(t), true) => format!("{t} (expired)"),
                        (Some(t), false) => t.clone(),
                        (None, _) => "-".to_owned(),
                    }
                };
                [
                    p.name.clone(),
                    p.param_type.to_owned(),
                    if p.destroyed {
                        format!("{} (destroyed)", p.version)
                    } else {
                        p.version.to_string()
                    },
                    if p.labels.is_empty() {
                        "-".to_owned()
                    } else {
                        p.labels.join(",").escape_debug().to_string()
                    },
                    p.updated_at.clone(),
                    last,
                ]
            })
            .collect();
        table(&head, &rows)
    }

    /// The record of `s`.
    pub fn new(s: &coffer::params::ParamSummary, now: i64) -> Self {
        use coffer::time::format_rfc3339;
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
            deleted_at: s.deleted_at.map(format_rfc3339),
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

/// `ls --output json`: a parameter left out because the key that protects it has a root of
/// its own that this home does not hold (its rows cannot be checked here).
#[derive(Debug, Serialize)]
pub struct ParamUnheldWire {
    /// Always `"param_unheld"`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// [`SCHEMA`].
    pub schema: u32,
    /// The parameter's name.
    pub name: String,
    /// The key that protects it (`prod`).
    pub key: String,
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
