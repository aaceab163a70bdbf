//! The documents of the audit log: its entries and what verifying it found.

use std::fmt::Write as _;

use serde::Serialize;

use super::SCHEMA;

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
    pub fn new(e: &coffer::store::audit::AuditEntry) -> Self {
        Self {
            kind: "audit_entry",
            schema: SCHEMA,
            seq: e.seq,
            at: coffer::time::format_rfc3339(e.at),
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
        let w = |i, min| super::column_width(&rows, i, min);
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
    /// How many of them, from the first, are from before the log was keyed (hashed, not
    /// authenticated).
    pub unkeyed: u64,
}
