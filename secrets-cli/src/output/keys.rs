//! The documents about keys: the store's set-up, key listings, rotations and retirements.

use std::fmt::Write as _;

use serde::Serialize;

use super::SCHEMA;

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

/// What `rotate --due` did.
#[derive(Debug, Serialize)]
pub struct DueWire<'a> {
    /// Always `"rotate_due"`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// [`SCHEMA`].
    pub schema: u32,
    /// Rotated, failed, skipped.
    #[serde(flatten)]
    pub report: &'a coffer::rotate::DueReport,
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
    /// The id of the key's own root (`key create --root`), or `null`: the store's.
    pub root: Option<String>,
    /// Oldest first.
    pub versions: Vec<KeyVersionWire>,
}

impl KeyWire {
    /// Builds the record (`now` decides `rotation_due`).
    pub fn new(k: &coffer::store::KeyRecord, now: i64) -> Self {
        use coffer::time::{format_duration, format_rfc3339};
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
            root: k.root.clone(),
            versions: k
                .versions
                .iter()
                .map(|v| KeyVersionWire {
                    version: v.version,
                    id: coffer::store::format_uuid(&v.uuid),
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
        let _ = writeln!(
            s,
            "root:                {}",
            self.root
                .as_deref()
                .map_or_else(|| "the store's".to_owned(), |r| format!("its own, {r}"))
        );
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
    pub fn new(r: &coffer::store::Rotation, reason: &'static str) -> Self {
        Self {
            kind: "key_rotated",
            schema: SCHEMA,
            name: r.name.clone(),
            version: r.version.version,
            id: coffer::store::format_uuid(&r.version.uuid),
            created_at: coffer::time::format_rfc3339(r.version.created_at),
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
    pub fn new(r: &coffer::store::RootRotation, root_key: String) -> Self {
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
pub(super) fn span(from: u32, to: u32) -> String {
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
