//! Parameter seals: the MACs that make the parameter rows tamper-evident, so that a database
//! writer without the root key cannot plant or edit a value (`string` ones included, which
//! stay readable), move a label back, edit an expiry, undo a destroy or a deletion, or put a
//! parameter back from an older copy of the store, unnoticed.
//!
//! # Layout
//!
//! ```sql
//! params (…, born INTEGER, seal_seq INTEGER, mac BLOB)   -- the audit entry of the put that
//!                                  -- made it, of its last change, the MAC
//! param_versions (…, mac BLOB)
//! ```
//!
//! With `K_params = HKDF-SHA256(salt = store_id, ikm = S, info = "coffer param rows v1")`,
//! `S` the store's audit secret ([`super::audit`]), every text prefixed by its length (u32
//! BE), every optional field by a flag byte (0 absent, 1 present), integers big-endian:
//!
//! - `param_versions.mac = HMAC-SHA256(K_params, "coffer param version v1\0" ‖ name ‖
//!   version (u32) ‖ type ‖ value? (bytes: the text, or the ESDK message) ‖ key_ref? ‖
//!   description? ‖ tags (the stored JSON text) ‖ created_at (i64) ‖ author ‖ expires_at?
//!   (i64) ‖ destroyed_at? (i64) ‖ born (i64))`, `born` the head's: the last field ties the
//!   version to this life of the name, so a version row kept from before a `destroy NAME`
//!   is refused when the name is written again;
//! - `params.mac = HMAC-SHA256(K_params, "coffer param head v1\0" ‖ name ‖ latest (u32) ‖
//!   created_at (i64) ‖ born (i64) ‖ deleted_at? (i64) ‖ label count (u32) ‖ (label ‖ version (u32))…
//!   in label order ‖ destroyed count (u32) ‖ destroyed version (u32)… in order ‖ seal_seq
//!   (i64))`: the head binds everything about the parameter that changes after its versions
//!   are written (its labels, which versions are destroyed, its deletion mark), so a version
//!   row put back as it was before its destroy is refused because the head says otherwise.
//!
//! `seal_seq` is the audit entry appended by the change that wrote the head, in its
//! transaction (or the entry that sealed the store, see below). A head is believed only if
//! its MAC holds and no change of the parameter (verbs [`CHANGE_VERBS_SQL`], by the `name`
//! column) is newer than `seal_seq`: a head put back from an older copy (a label moved
//! back, a destroyed parameter re-inserted) carries an older entry than the parameter's last
//! change, and is refused. Hiding the later entry breaks the chain, which `audit verify`
//! finds; a read does not walk the chain, so it believes such a head while the entry is
//! hidden.
//!
//! Every write of a parameter checks its head as a read does, applies its change to the
//! checked head in memory and writes the new head's MAC from that, never from what it reads
//! back; a new version's MAC is computed from the version as given. So a write never seals
//! an edit made outside coffer, before it or while it runs: such an edit then fails its MAC.
//!
//! # Keys per path
//!
//! `K_params` MACs the rows of the names that no key with a root of its own protects. A name
//! whose path policy ([`crate::params::policy`]) names a key `K` with a root of its own (and a
//! row of the paths it protects, [`super::key_paths`], of v2: a v1 row says its names' rows
//! are under `K_params` until a home holding the root moves them) has its rows MACed under `K_params(K) =
//! HKDF-SHA256(salt = store_id, ikm = S_K, info = "coffer param rows v1\0" ‖ K)`, `S_K` the
//! key's row secret, wrapped by its root: only holders of that root can make or check them,
//! so a holder of the store's root alone (every machine of the store) can neither plant nor
//! edit a row below `/app/prod` that the prod machine believes. A home without `K`'s root
//! reads none of those rows: `get` and `history` refuse them, `ls` and reads over a path
//! leave them out and say so. Which key MACs a name is decided by the policies the home
//! checked ([`crate::params::RowKeys`]); every write checks, in its transaction, that the
//! policies are still those. A policy change MACs anew, in its transaction, the rows of every
//! name whose key it changes, after checking them under the old key; a key of the release
//! before moves its names' rows from `K_params` to its `K_params(K)` when it gets its row of
//! paths, and a key with a v1 row when the first home holding its root finds it.
//!
//! # Upgrade
//!
//! A store of the release before (audit key format 3 or older) is sealed on its first open
//! by a holder of its root key, after its whole audit log verified, in one transaction: one
//! entry (verb [`STORE_SEAL_VERB`], name [`STORE_SEAL_NAME`]) is appended and every
//! parameter's head is sealed to it, with every version's MAC; the audit key is then wrapped
//! under the additional data of format 4. The rows are sealed as they are: before the
//! upgrade the store's database was trusted. A verified log that already holds that entry is
//! never sealed again (the old wrapping of the audit key put back is refused).

use std::collections::{BTreeMap, BTreeSet};

use coffer_core::{MacContext, MacKey};

use super::audit::HASH_LEN;
use crate::error::{Advice, Error};
use crate::params::ParamResult;

const HEAD_LABEL: &[u8] = b"coffer param head v1\0";
const VERSION_LABEL: &[u8] = b"coffer param version v1\0";

/// The verbs of the audit entries that change a parameter's rows.
#[cfg(test)]
const CHANGE_VERBS: [&str; 7] = [
    "put", "label", "unlabel", "rotate", "rm", "restore", "destroy",
];

/// `verb IN ('put', …)`: the SQL both stores find a parameter's last change with (and the
/// condition of their index of such entries).
pub const CHANGE_VERBS_SQL: &str =
    "verb IN ('put', 'label', 'unlabel', 'rotate', 'rm', 'restore', 'destroy')";

/// The verb of the entry the heads of an upgraded store are sealed to.
pub const STORE_SEAL_VERB: &str = super::key_seal::STORE_SEAL_VERB;

/// The name of the [`STORE_SEAL_VERB`] entry that seals the parameters.
pub const STORE_SEAL_NAME: &str = "params";

/// The detail of that entry.
pub const STORE_SEAL_DETAIL: &str = "the parameter rows are sealed from here on";

/// What a parameter's head says: everything about it that changes after its versions are
/// written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParamHead {
    pub(crate) name: String,
    pub(crate) latest: u32,
    pub(crate) created_at: i64,
    /// The audit entry of the put that made the parameter (of this life of its name).
    pub(crate) born: i64,
    pub(crate) deleted_at: Option<i64>,
    pub(crate) labels: BTreeMap<String, u32>,
    pub(crate) destroyed: BTreeSet<u32>,
}

impl ParamHead {
    /// The head of a parameter made at `created_at` by the put of audit entry `born`.
    pub(crate) fn new(name: &str, created_at: i64, born: i64) -> Self {
        Self {
            name: name.to_owned(),
            latest: 0,
            created_at,
            born,
            deleted_at: None,
            labels: BTreeMap::new(),
            destroyed: BTreeSet::new(),
        }
    }

    /// The labels of `version`, in order.
    pub(crate) fn labels_of(&self, version: u32) -> Vec<String> {
        self.labels
            .iter()
            .filter(|(_, v)| **v == version)
            .map(|(l, _)| l.clone())
            .collect()
    }

    /// Removes the labels of `version` but `keep`.
    pub(crate) fn unlabel_version(&mut self, version: u32, keep: &str) {
        self.labels.retain(|l, v| *v != version || l == keep);
    }
}

/// A head as a database returns it ([`HEAD_SQL`]), before checking.
#[derive(Debug)]
pub(crate) struct RawHead {
    pub(crate) name: String,
    /// The `parent` column: the path a non-recursive read finds the parameter under.
    pub(crate) parent: String,
    pub(crate) latest: i64,
    pub(crate) created_at: i64,
    pub(crate) born: Option<i64>,
    pub(crate) deleted_at: Option<i64>,
    pub(crate) seal_seq: Option<i64>,
    pub(crate) mac: Option<Vec<u8>>,
    /// `label=version,…`.
    pub(crate) labels: Option<String>,
    /// `version,…`.
    pub(crate) destroyed: Option<String>,
    /// The newest entry of a change of the parameter.
    pub(crate) last_change: Option<i64>,
}

fn count(n: usize) -> [u8; 4] {
    // Every field is far below 4 GiB (values are limited); saturate rather than wrap.
    u32::try_from(n).unwrap_or(u32::MAX).to_be_bytes()
}

/// What a MAC covers, written field by field into the MAC as it goes (no copies).
struct Fields(MacContext);

impl Fields {
    fn start(key: &MacKey, label: &[u8]) -> Self {
        let mut ctx = key.start();
        ctx.update(label);
        Self(ctx)
    }

    /// A length-prefixed byte string.
    fn text(&mut self, s: &[u8]) {
        self.0.update(&count(s.len()));
        self.0.update(s);
    }

    fn int(&mut self, v: i64) {
        self.0.update(&v.to_be_bytes());
    }

    fn u32(&mut self, v: u32) {
        self.0.update(&v.to_be_bytes());
    }

    /// `0` for none, else `1` and the value.
    fn optional_int(&mut self, v: Option<i64>) {
        match v {
            None => self.0.update(&[0]),
            Some(v) => {
                self.0.update(&[1]);
                self.int(v);
            }
        }
    }

    /// `0` for none, else `1` and the length-prefixed string.
    fn optional_text(&mut self, s: Option<&[u8]>) {
        match s {
            None => self.0.update(&[0]),
            Some(s) => {
                self.0.update(&[1]);
                self.text(s);
            }
        }
    }

    fn finish(self) -> [u8; HASH_LEN] {
        self.0.finish()
    }
}

/// The MAC of a head tied to audit entry `seq`.
pub(crate) fn head_mac(key: &MacKey, h: &ParamHead, seq: i64) -> [u8; HASH_LEN] {
    let mut f = Fields::start(key, HEAD_LABEL);
    f.text(h.name.as_bytes());
    f.u32(h.latest);
    f.int(h.created_at);
    f.int(h.born);
    f.optional_int(h.deleted_at);
    f.0.update(&count(h.labels.len()));
    for (label, version) in &h.labels {
        f.text(label.as_bytes());
        f.u32(*version);
    }
    f.0.update(&count(h.destroyed.len()));
    for v in &h.destroyed {
        f.u32(*v);
    }
    f.int(seq);
    f.finish()
}

/// The columns of a version that its MAC covers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct VersionFields<'a> {
    pub(crate) name: &'a str,
    pub(crate) version: u32,
    pub(crate) param_type: &'a str,
    pub(crate) value: Option<&'a [u8]>,
    pub(crate) key_ref: Option<&'a str>,
    pub(crate) description: Option<&'a str>,
    pub(crate) tags: &'a str,
    pub(crate) created_at: i64,
    pub(crate) author: &'a str,
    pub(crate) expires_at: Option<i64>,
    pub(crate) destroyed_at: Option<i64>,
    /// The `born` of the parameter's head: which life of the name the version is of (a name
    /// destroyed whole and written again starts at version 1 again).
    pub(crate) life: i64,
}

/// The MAC of a `param_versions` row.
pub(crate) fn version_mac(key: &MacKey, v: &VersionFields<'_>) -> [u8; HASH_LEN] {
    let mut f = Fields::start(key, VERSION_LABEL);
    f.text(v.name.as_bytes());
    f.u32(v.version);
    f.text(v.param_type.as_bytes());
    f.optional_text(v.value);
    f.optional_text(v.key_ref.map(str::as_bytes));
    f.optional_text(v.description.map(str::as_bytes));
    f.text(v.tags.as_bytes());
    f.int(v.created_at);
    f.text(v.author.as_bytes());
    f.optional_int(v.expires_at);
    f.optional_int(v.destroyed_at);
    f.int(v.life);
    f.finish()
}

/// A parameter row that fails its check: an error naming it.
pub(crate) fn tampered(location: &str, name: &str, what: &str) -> Error {
    Error::corrupt(format!(
        "parameter `{}` in the store {location}: {what}; it was not used",
        name.escape_debug()
    ))
    .advice(Advice::VerifyAudit)
}

/// The row read for `name` is another parameter's (a collation that folds case, say).
pub(crate) fn other_name(location: &str, name: &str, found: &str) -> Error {
    tampered(
        location,
        name,
        &format!(
            "the store returned the row of `{}` for it: its table was changed outside coffer",
            found.escape_debug()
        ),
    )
}

/// A store with sealed parameter rows but no audit key: the key was removed, and keying the
/// store afresh would seal whatever its rows now say.
pub(crate) fn keyed_before(location: &str) -> Error {
    Error::corrupt(format!(
        "the store {location} has parameter rows or path policies sealed under an audit key \
         it no longer holds: its audit key was removed outside coffer; it was not keyed afresh"
    ))
    .advice(Advice::VerifyAudit)
}

fn parse_labels(s: Option<&str>) -> Option<BTreeMap<String, u32>> {
    let mut labels = BTreeMap::new();
    for pair in s.unwrap_or("").split(',').filter(|p| !p.is_empty()) {
        let (label, version) = pair.rsplit_once('=')?;
        if labels
            .insert(label.to_owned(), version.parse().ok()?)
            .is_some()
        {
            return None;
        }
    }
    Some(labels)
}

fn parse_versions(s: Option<&str>) -> Option<BTreeSet<u32>> {
    s.unwrap_or("")
        .split(',')
        .filter(|p| !p.is_empty())
        .map(|v| v.parse().ok())
        .collect()
}

/// Checks a head as read against its MAC and the parameter's last change (see the module
/// docs), and returns what it says.
///
/// # Errors
/// A head without a MAC, with a wrong one, or older than the parameter's last change,
/// naming it.
pub(crate) fn check_head(key: &MacKey, location: &str, raw: RawHead) -> ParamResult<ParamHead> {
    let bad = |what: &str| tampered(location, &raw.name, what);
    let parent_ok =
        crate::params::ParamName::parse(&raw.name).is_ok_and(|n| n.parent().as_str() == raw.parent);
    if !parent_ok {
        return Err(bad(&format!(
            "its row (params) puts it under `{}`, not its own path: it was edited outside \
             coffer",
            raw.parent.escape_debug()
        )));
    }
    let (Some(seq), Some(mac), Some(born)) = (raw.seal_seq, raw.mac.as_deref(), raw.born) else {
        return Err(bad(
            "its row (params) has no MAC: it was written or edited outside coffer",
        ));
    };
    let edited = || {
        bad(
            "its row (params) or its labels (param_labels) do not match its MAC: its versions, \
             labels, destroyed versions or deletion were changed outside coffer",
        )
    };
    let head = ParamHead {
        name: raw.name.clone(),
        latest: u32::try_from(raw.latest).map_err(|_| edited())?,
        created_at: raw.created_at,
        born,
        deleted_at: raw.deleted_at,
        labels: parse_labels(raw.labels.as_deref()).ok_or_else(edited)?,
        destroyed: parse_versions(raw.destroyed.as_deref()).ok_or_else(edited)?,
    };
    if !coffer_core::ct_eq(&head_mac(key, &head, seq), mac) {
        return Err(edited());
    }
    if let Some(last) = raw.last_change.filter(|last| *last > seq) {
        return Err(bad(&format!(
            "its row (params) is older than its last change (audit entry {last}): it was put \
             back from an older copy"
        )));
    }
    Ok(head)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> MacKey {
        MacKey::derive(b"store", b"secret", &[b"coffer param rows v1"]).unwrap()
    }

    fn head() -> ParamHead {
        let mut h = ParamHead::new("/app/db", 100, 3);
        h.latest = 3;
        h.labels.insert("current".into(), 2);
        h.labels.insert("previous".into(), 1);
        h.destroyed.insert(1);
        h
    }

    fn raw(h: &ParamHead, seq: i64, mac: &[u8]) -> RawHead {
        RawHead {
            name: h.name.clone(),
            parent: "/app".into(),
            latest: i64::from(h.latest),
            created_at: h.created_at,
            born: Some(h.born),
            deleted_at: h.deleted_at,
            seal_seq: Some(seq),
            mac: Some(mac.to_vec()),
            labels: Some(
                h.labels
                    .iter()
                    .map(|(l, v)| format!("{l}={v}"))
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            destroyed: Some(
                h.destroyed
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            last_change: Some(seq),
        }
    }

    #[test]
    fn the_sql_of_a_last_change_names_every_change_verb() {
        let quoted: Vec<String> = CHANGE_VERBS.iter().map(|v| format!("'{v}'")).collect();
        assert_eq!(CHANGE_VERBS_SQL, format!("verb IN ({})", quoted.join(", ")));
    }

    #[test]
    fn a_head_checks_and_each_change_to_it_is_found() {
        let (k, h) = (key(), head());
        let mac = head_mac(&k, &h, 7);
        assert_eq!(check_head(&k, "s", raw(&h, 7, &mac)).unwrap(), h);
        let edits: [fn(&mut RawHead); 8] = [
            |r| r.born = Some(2),
            |r| r.latest = 4,
            |r| r.deleted_at = Some(5),
            |r| r.labels = Some("current=1,previous=1".into()),
            |r| r.labels = Some("previous=1".into()),
            |r| r.destroyed = None,
            |r| r.seal_seq = Some(8),
            |r| r.mac = None,
        ];
        for (i, edit) in edits.iter().enumerate() {
            let mut r = raw(&h, 7, &mac);
            edit(&mut r);
            assert!(check_head(&k, "s", r).is_err(), "edit {i} was believed");
        }
        let mut older = raw(&h, 7, &mac);
        older.last_change = Some(9);
        let e = check_head(&k, "s", older).unwrap_err().to_string();
        assert!(
            e.contains("older than its last change (audit entry 9)"),
            "{e}"
        );
    }

    #[test]
    fn labels_and_fields_cannot_slide_into_each_other() {
        let k = key();
        let mut a = head();
        let mut b = head();
        a.labels = BTreeMap::from([("ab".into(), 1)]);
        b.labels = BTreeMap::from([("a".into(), 1)]);
        b.name = "/app/dbb".into();
        assert_ne!(head_mac(&k, &a, 1), head_mac(&k, &b, 1));
        let v = VersionFields {
            name: "/a",
            version: 1,
            param_type: "string",
            value: Some(b"x"),
            key_ref: None,
            description: Some(""),
            tags: "{}",
            created_at: 1,
            author: "u",
            expires_at: None,
            destroyed_at: None,
            life: 1,
        };
        let mut w = VersionFields {
            description: None,
            ..v
        };
        assert_ne!(version_mac(&k, &v), version_mac(&k, &w));
        w.description = Some("");
        assert_eq!(version_mac(&k, &v), version_mac(&k, &w));
        w.life = 2;
        assert_ne!(version_mac(&k, &v), version_mac(&k, &w));
    }
}
