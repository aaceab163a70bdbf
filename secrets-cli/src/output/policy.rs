//! The JSON lines of `coffer policy …`.

use std::fmt::Write as _;

use serde::Serialize;

use super::SCHEMA;

/// `policy ls --output json`: one per policy; `policy set|rm` print the one set or removed.
#[derive(Debug, Serialize)]
pub struct PolicyWire {
    /// Always `"policy"`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// [`SCHEMA`].
    pub schema: u32,
    /// The path.
    pub path: String,
    /// The key, as values record it (`local:NAME`, or the reference as given).
    pub key: String,
    /// When it was set, RFC 3339.
    pub created_at: String,
    /// Who set it.
    pub author: String,
}

impl PolicyWire {
    /// The wire form of `p`.
    pub fn new(p: &coffer::params::Policy) -> Self {
        Self {
            kind: "policy",
            schema: SCHEMA,
            path: p.path.to_string(),
            key: p.key.clone(),
            created_at: coffer::time::format_rfc3339(p.created_at),
            author: p.author.clone(),
        }
    }

    /// Aligned text lines: `PATH  KEY  SET  BY`, control characters escaped (the rows come
    /// from the store: one policy is one line).
    pub fn table(policies: &[Self]) -> String {
        let rows: Vec<[String; 3]> = policies
            .iter()
            .map(|p| {
                [
                    p.path.escape_debug().to_string(),
                    p.key.escape_debug().to_string(),
                    p.author.escape_debug().to_string(),
                ]
            })
            .collect();
        let w = |i, min| super::column_width(&rows, i, min);
        let (wp, wk) = (w(0, 4), w(1, 3));
        let mut s = format!("{:<wp$}  {:<wk$}  {:<20}  BY\n", "PATH", "KEY", "SET");
        for (p, [path, key, author]) in policies.iter().zip(&rows) {
            let _ = writeln!(
                s,
                "{path:<wp$}  {key:<wk$}  {:<20}  {author}",
                p.created_at.escape_debug()
            );
        }
        s
    }
}
