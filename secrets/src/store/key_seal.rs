//! Key seals: the MACs that make the key table tamper-evident, so that a database writer
//! without the root key cannot un-retire a version, enable a disabled key, move the active
//! version or change a rotation period unnoticed.
//!
//! # Layout
//!
//! ```sql
//! keys (…, seal_seq INTEGER, mac BLOB)   -- the audit entry of the last change, the MAC
//! key_versions (…, mac BLOB)
//! ```
//!
//! With `K_rows = HKDF-SHA256(salt = store_id, ikm = S, info = "coffer key rows v1")`, `S`
//! the store's audit secret ([`super::audit`]), and every text prefixed by its length (u32
//! BE), integers big-endian:
//!
//! - `keys.mac = HMAC-SHA256(K_rows, "coffer key row v1\0" ‖ name ‖ spec ‖ created_at (i64)
//!   ‖ state ‖ period flag (u8: 0 none, 1 some) ‖ period (u64, 0 for none) ‖
//!   min_decrypt_version (u32) ‖ active_version (u32) ‖ seal_seq (i64))`;
//! - `key_versions.mac = HMAC-SHA256(K_rows, "coffer key version v1\0" ‖ name ‖ version
//!   (u32) ‖ uuid (16 bytes) ‖ created_at (i64))`. The wrapped material is bound to the
//!   same row by the root key's own additional data ([`super::branch_key_aad`]).
//!
//! A key with a root of its own has both MACs under its `K_keys(K)` instead, derived from
//! its row secret, which only its root unwraps ([`super::key_paths`]), once its row of paths
//! says so (stage v3); before, under `K_rows`. [`super::key_row_key`] decides which, from
//! that row as checked, never from the key's row alone, so a holder of the store's root key
//! (every machine of the store) cannot re-enable such a key, un-retire a version or move
//! its active version back where its root is held. A home without the root cannot check its
//! rows, and uses nothing under it.
//!
//! `seal_seq` is the audit entry appended by the change that wrote the row, in its
//! transaction. A row is believed only if its MAC holds, and the newest entry of a change to
//! the key (verbs `key-*` but `key-rotate-root`, by the `name` column) is that entry and is
//! itself authentic under the audit key: a row put back from an older copy carries an older
//! entry than the key's last change, and is refused. Hiding the later entry (deleting it or
//! changing its verb or name) breaks the chain, which `audit verify` finds; a read does not
//! walk the chain, so it believes such a row while the entry is hidden.
//!
//! Every write of a key checks the row it changes first and walks the log from the row's
//! entry to its end ([`Since`]: each entry authentic and chained, none a later change of the
//! key), then writes every column the MACs cover from the record it checked, with the change
//! applied, and never seals what it reads back. So a write never seals an edit made outside
//! coffer: not one made before it (an older row put back, with the entry after it hidden),
//! and not one made while it runs (a trigger, a concurrent transaction), which it overwrites
//! or leaves failing its MAC.
//!
//! # Upgrade
//!
//! A store of the release before (audit key format 2) is sealed on its first open by a
//! holder of its root key, after its whole audit log verified, in one transaction: every key
//! gets a `key-seal` entry and its MACs, after one `audit-seal` entry (name `keys`) for
//! the store, and the audit key is wrapped again under the additional data of format 3.
//! Each key's row must first agree with what the log says of its state, active and minimum
//! version and rotation period ([`History`]). The format is authenticated by that wrapping,
//! so a store cannot be passed off as not sealed yet (to have an edited row sealed) without
//! the root key; the format-2 wrapping of the same secret, kept from before and put back, is
//! refused too, because the verified log then holds the `audit-seal` entry. In a sealed
//! store, a row without a MAC is an error.

use coffer_core::MacKey;

use super::audit::{AuditEntry, AuditKey, HASH_LEN};
use super::key_rows::{KeyRecord, Seal, VersionRecord};
use crate::error::{Advice, Error};

const ROW_LABEL: &[u8] = b"coffer key row v1\0";
const VERSION_LABEL: &[u8] = b"coffer key version v1\0";

/// The verb of the entry that ties a key's rows to the log when a store is sealed.
pub const SEAL_VERB: &str = "key-seal";

/// The detail of a [`SEAL_VERB`] entry.
pub const SEAL_DETAIL: &str = "rows sealed: the store was upgraded to authenticated key rows";

/// The verb of the entry, written once before the [`SEAL_VERB`] entries, that says the
/// store's key rows are sealed from there on: a verified log that holds it is never sealed
/// again (an audit key put back as it was wrapped before the upgrade does not make the next
/// open seal edits made meanwhile).
pub const STORE_SEAL_VERB: &str = "audit-seal";

/// The name of the [`STORE_SEAL_VERB`] entry.
pub const STORE_SEAL_NAME: &str = "keys";

/// The detail of the [`STORE_SEAL_VERB`] entry.
pub const STORE_SEAL_DETAIL: &str = "the key rows are sealed from here on";

fn text(s: &str) -> [u8; 4] {
    // Names and specs are far below 4 GiB; saturate rather than wrap if one is not.
    u32::try_from(s.len()).unwrap_or(u32::MAX).to_be_bytes()
}

/// The MAC of a `keys` row tied to audit entry `seq`.
pub(crate) fn record_mac(key: &MacKey, r: &KeyRecord, seq: i64) -> [u8; HASH_LEN] {
    let (flag, period) = match r.rotation_period_secs {
        Some(p) => (1u8, p),
        None => (0, 0),
    };
    let state = r.state.as_str();
    // A key of the store's root has no root of its own: its MAC is as before there were
    // such roots. One with a root has `1 ‖ len ‖ root` before the entry.
    let root_len = r.root.as_deref().map(text);
    let root: [&[u8]; 3] = match (&r.root, &root_len) {
        (Some(root), Some(len)) => [&[1u8][..], &len[..], root.as_bytes()],
        _ => [&[], &[], &[]],
    };
    key.tag(&[
        ROW_LABEL,
        &text(&r.name),
        r.name.as_bytes(),
        &text(&r.spec),
        r.spec.as_bytes(),
        &r.created_at.to_be_bytes(),
        &text(state),
        state.as_bytes(),
        &[flag],
        &period.to_be_bytes(),
        &r.min_decrypt_version.to_be_bytes(),
        &r.active_version.to_be_bytes(),
        root[0],
        root[1],
        root[2],
        &seq.to_be_bytes(),
    ])
}

/// The MAC of a `key_versions` row of key `name`.
pub(crate) fn version_mac(key: &MacKey, name: &str, v: &VersionRecord) -> [u8; HASH_LEN] {
    key.tag(&[
        VERSION_LABEL,
        &text(name),
        name.as_bytes(),
        &v.version.to_be_bytes(),
        &v.uuid,
        &v.created_at.to_be_bytes(),
    ])
}

/// The MACs of `record` under `rows` (its key's, [`super::key_row_key`]) after a change whose
/// audit entry is `seq`: the row's seal, and each version's MAC.
pub(crate) fn seal(
    rows: &MacKey,
    record: &KeyRecord,
    seq: i64,
) -> (Seal, Vec<(u32, [u8; HASH_LEN])>) {
    let seal = Seal {
        seq,
        mac: record_mac(rows, record, seq).to_vec(),
    };
    let versions = record
        .versions
        .iter()
        .map(|v| (v.version, version_mac(rows, &record.name, v)))
        .collect();
    (seal, versions)
}

fn tampered(location: &str, name: &str, what: &str) -> Error {
    Error::corrupt(format!(
        "key `{name}` in the store {location}: {what}; it was not used"
    ))
    .advice(Advice::VerifyAudit)
}

/// Checks `record` (as read, with its versions and its last change) against its MACs under
/// `rows` (its key's, [`super::key_row_key`]) and the audit log `key` keys (see the module
/// docs).
///
/// # Errors
/// A row without a MAC, with a wrong one, or older than the key's last change, naming it.
pub fn check(
    key: &AuditKey,
    rows: &MacKey,
    location: &str,
    record: &KeyRecord,
) -> Result<(), Error> {
    let name = &record.name;
    let bad = |what: &str| tampered(location, name, what);
    let Some(seal) = &record.seal else {
        return Err(bad(
            "its row (keys) has no MAC: it was written or edited outside coffer",
        ));
    };
    if !coffer_core::ct_eq(&record_mac(rows, record, seal.seq), &seal.mac) {
        return Err(bad(
            "its row (keys) does not match its MAC: its state, versions, minimum decryption \
             version or rotation period were changed outside coffer",
        ));
    }
    match &record.last_change {
        Some(e) if e.seq == seal.seq => {
            if e.name != *name || !key.keyed_entry_ok(e) {
                return Err(bad(&format!(
                    "the audit entry its row is tied to (entry {}) was changed outside coffer",
                    e.seq
                )));
            }
        }
        Some(e) if e.seq > seal.seq => {
            return Err(bad(&format!(
                "its row (keys) is older than its last change (audit entry {}, {}): it was put \
                 back from an older copy",
                e.seq, e.verb
            )));
        }
        _ => {
            return Err(bad(&format!(
                "the audit entry its row is tied to (entry {}) is missing",
                seal.seq
            )));
        }
    }
    for v in &record.versions {
        let ok = v
            .mac
            .as_deref()
            .is_some_and(|m| coffer_core::ct_eq(&version_mac(rows, name, v), m));
        if !ok {
            return Err(bad(&format!(
                "its version {} (key_versions) has no MAC or does not match it: it was added \
                 or edited outside coffer",
                v.version
            )));
        }
    }
    Ok(())
}

/// The error for creating key `name` when the store still holds versions of that name, or
/// its log a change of it (`last`): the key existed and its row was deleted outside coffer
/// (there is no verb that deletes a key), so its old versions, retired ones included, would
/// join the new key.
pub fn deleted_outside(location: &str, name: &str, last: Option<&AuditEntry>) -> Error {
    let why = last.map_or_else(
        || "versions of it are still stored".to_owned(),
        |e| {
            format!(
                "its audit log names a change of it (entry {}, {})",
                e.seq, e.verb
            )
        },
    );
    Error::corrupt(format!(
        "key `{name}` in the store {location} cannot be created: {why}, but its row (keys) is \
         gone: it was deleted outside coffer; nothing was written"
    ))
    .advice(Advice::VerifyAudit)
}

/// Whether an entry of `verb` changes a key's rows (the entries a seal is tied to; a root
/// rotation rewraps versions but changes nothing the MACs cover).
pub fn is_key_change(verb: &str) -> bool {
    verb.starts_with("key-") && verb != "key-rotate-root"
}

/// The walk of the audit log from the entry a key's row is sealed to, to the log's end,
/// done by every write of the key before it seals anything: each entry must carry its keyed
/// hash and follow the one before, and none may be a later change of the key. So an older
/// row put back while the entry of the change after it is hidden (deleted, or edited so the
/// lookup of the last change misses it) is refused rather than sealed by that write. (The
/// write's append then checks that the last entry is the authenticated head.)
#[derive(Debug)]
pub struct Since<'a> {
    key: &'a AuditKey,
    location: &'a str,
    name: &'a str,
    next: i64,
    prev: Option<Vec<u8>>,
}

impl<'a> Since<'a> {
    /// The walk for `record` (checked with [`check`], so sealed), from its seal's entry.
    ///
    /// # Errors
    /// The record has no seal.
    pub fn new(key: &'a AuditKey, location: &'a str, record: &'a KeyRecord) -> Result<Self, Error> {
        let Some(seal) = &record.seal else {
            return Err(tampered(
                location,
                &record.name,
                "its row (keys) has no MAC",
            ));
        };
        Ok(Self {
            key,
            location,
            name: &record.name,
            next: seal.seq,
            prev: None,
        })
    }

    /// The first entry to read.
    pub fn from(&self) -> i64 {
        self.next
    }

    /// The next entry of the log.
    ///
    /// # Errors
    /// A missing, edited or out-of-chain entry, or a later change of the key.
    pub fn push(&mut self, e: &AuditEntry) -> Result<(), Error> {
        let bad = |what: String| tampered(self.location, self.name, &what);
        if e.seq != self.next {
            return Err(bad(format!(
                "audit entry {} after its last change is missing (the next is {}): entries \
                 were deleted",
                self.next, e.seq
            )));
        }
        if !self.key.keyed_entry_ok(e) {
            return Err(bad(format!(
                "audit entry {} after its last change does not match its MAC: it was changed \
                 outside coffer",
                e.seq
            )));
        }
        if self.prev.as_ref().is_some_and(|p| *p != e.prev_hash) {
            return Err(bad(format!(
                "audit entry {} after its last change does not follow the entry before it: \
                 entries were deleted or replaced",
                e.seq
            )));
        }
        if self.prev.is_some() && e.name == self.name && is_key_change(&e.verb) {
            return Err(bad(format!(
                "its row (keys) is older than its last change (audit entry {}, {}): it was put \
                 back from an older copy",
                e.seq, e.verb
            )));
        }
        self.next = e
            .seq
            .checked_add(1)
            .ok_or_else(|| bad("the audit log's numbering overflows".to_owned()))?;
        self.prev = Some(e.hash.clone());
        Ok(())
    }

    /// The log ended at `head`, the head as read in the same transaction, whose MAC the
    /// caller checked: the walk must have reached it, so a suffix hidden for the length of
    /// the walk is found rather than skipped.
    ///
    /// # Errors
    /// The entry the row is sealed to was not there, or the walk did not end at the head.
    pub fn finish(self, head: &super::audit::Head) -> Result<(), Error> {
        let Some(last) = &self.prev else {
            return Err(tampered(
                self.location,
                self.name,
                &format!(
                    "the audit entry its row is tied to (entry {}) is missing",
                    self.next
                ),
            ));
        };
        let end = self.next.checked_sub(1);
        if end != Some(head.count) || !coffer_core::ct_eq(last, &head.hash) {
            return Err(tampered(
                self.location,
                self.name,
                &format!(
                    "the audit log after its last change ends at entry {}, not at its head \
                     (entry {}): entries were hidden or added",
                    end.unwrap_or(0),
                    head.count
                ),
            ));
        }
        Ok(())
    }
}

/// What the audit log says of each key's state, active version, minimum decryption version,
/// spec, rotation period (once set after creation) and when each version was made (within
/// a few minutes of its entry): the upgrade that seals a store's key rows checks them
/// against it first, so an edit made in the database before the upgrade is refused rather
/// than sealed.
#[derive(Debug, Default, Clone)]
pub struct History {
    keys: std::collections::BTreeMap<String, Expected>,
}

/// A key as its log entries leave it (`None`: an entry the upgrade cannot read).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Expected {
    state: Option<super::key_rows::KeyState>,
    active: Option<u32>,
    min: Option<u32>,
    /// `Some` once a `key-set-rotation` entry set it (`key-create` does not record it).
    period: Option<Option<u64>>,
    spec: Option<String>,
    /// When each version was made, by the time of the entry that made it.
    made: std::collections::BTreeMap<u32, i64>,
}

/// How far a version's creation time may be from the time of the entry that made it (the
/// root key wraps the material in between: a KMS or HSM call, a passphrase prompt).
const MADE_SLACK_SECS: i64 = 600;

/// The number after `prefix` at the start of `detail`.
fn leading_number(detail: &str, prefix: &str) -> Option<u32> {
    let rest = detail.strip_prefix(prefix)?;
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// The period a `key-set-rotation` detail records (`none`, or seconds followed by `s`);
/// `None` if it cannot be read.
fn parse_period(detail: &str) -> Option<Option<u64>> {
    if detail == "none" {
        return Some(None);
    }
    detail.strip_suffix('s')?.parse().ok().map(Some)
}

impl History {
    /// The history in `entries` (the whole log, verified).
    pub fn from_entries(entries: &[AuditEntry]) -> Self {
        use super::key_rows::KeyState;
        let mut keys = std::collections::BTreeMap::new();
        for e in entries {
            let detail = e.detail.as_str();
            match e.verb.as_str() {
                "key-create" => {
                    keys.insert(
                        e.name.clone(),
                        Expected {
                            state: Some(KeyState::Enabled),
                            active: Some(1),
                            min: Some(1),
                            period: None,
                            spec: detail.strip_prefix("version 1, ").map(str::to_owned),
                            made: std::iter::once((1, e.at)).collect(),
                        },
                    );
                }
                "key-rotate" => {
                    if let Some(k) = keys.get_mut(&e.name) {
                        k.active = leading_number(detail, "version ");
                        if let Some(v) = k.active {
                            k.made.insert(v, e.at);
                        }
                    }
                }
                "key-retire" => {
                    if let Some(k) = keys.get_mut(&e.name) {
                        k.min = leading_number(detail, "min decrypt version ");
                    }
                }
                "key-set-rotation" => {
                    if let Some(k) = keys.get_mut(&e.name) {
                        k.period = parse_period(detail);
                    }
                }
                "key-enable" | "key-disable" => {
                    if let Some(k) = keys.get_mut(&e.name) {
                        k.state = Some(if e.verb == "key-enable" {
                            KeyState::Enabled
                        } else {
                            KeyState::Disabled
                        });
                    }
                }
                _ => {}
            }
        }
        Self { keys }
    }

    /// Checks `record` against the log (a key the log does not know, or a field it cannot
    /// tell, is taken as it is).
    ///
    /// # Errors
    /// The row says otherwise than the log: it was edited outside coffer.
    pub fn check(&self, location: &str, record: &KeyRecord) -> Result<(), Error> {
        if let Some(root) = &record.root {
            // A store of a release before roots of their own has no key with one.
            return Err(tampered(
                location,
                &record.name,
                &format!(
                    "its row (keys) names a root of its own ({}) in a store whose key rows were \
                     not sealed yet: it was edited outside coffer",
                    root.escape_debug()
                ),
            ));
        }
        let Some(want) = self.keys.get(&record.name) else {
            return Ok(());
        };
        let differs = |what: &str, row: String, log: String| {
            Err(tampered(
                location,
                &record.name,
                &format!(
                    "its row (keys) says {what} {row}, its audit log {log}: the row was edited \
                     outside coffer, and the store's key rows were not sealed"
                ),
            ))
        };
        if let Some(s) = want.state.filter(|s| *s != record.state) {
            return differs("state", record.state.as_str().into(), s.as_str().into());
        }
        if let Some(a) = want.active.filter(|a| *a != record.active_version) {
            return differs(
                "active version",
                record.active_version.to_string(),
                a.to_string(),
            );
        }
        if let Some(m) = want.min.filter(|m| *m != record.min_decrypt_version) {
            return differs(
                "minimum decryption version",
                record.min_decrypt_version.to_string(),
                m.to_string(),
            );
        }
        if let Some(spec) = want.spec.as_ref().filter(|s| **s != record.spec) {
            return differs("spec", record.spec.clone(), spec.clone());
        }
        for v in &record.versions {
            if let Some(at) = want.made.get(&v.version) {
                if v.created_at.abs_diff(*at) > MADE_SLACK_SECS.unsigned_abs() {
                    return differs(
                        &format!("version {} was made at", v.version),
                        v.created_at.to_string(),
                        at.to_string(),
                    );
                }
            }
        }
        if let Some(p) = want.period.filter(|p| *p != record.rotation_period_secs) {
            let show = |p: Option<u64>| super::key_rows::period_detail(p);
            return differs(
                "rotation period",
                show(record.rotation_period_secs),
                show(p),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::audit::AuditEntry;
    use crate::store::key_rows::KeyState;

    fn kat_key() -> AuditKey {
        let secret: Vec<u8> = (0..32).collect();
        AuditKey::derive(&secret, "00112233445566778899aabbccddeeff").unwrap()
    }

    /// The key of `tests/data/key_seal_kat.py`, its versions, and the MACs Python's hmac
    /// computes for them.
    fn kat() -> (KeyRecord, String, Vec<String>) {
        let kat = include_str!("../../tests/data/key_seal_kat.txt");
        let mut lines = kat.lines();
        let k: Vec<&str> = lines.next().unwrap().split(' ').collect();
        let mut record = KeyRecord {
            name: k[1].into(),
            spec: k[2].into(),
            created_at: k[3].parse().unwrap(),
            state: KeyState::parse(k[4]).unwrap(),
            rotation_period_secs: Some(k[5].parse().unwrap()),
            min_decrypt_version: k[6].parse().unwrap(),
            active_version: k[7].parse().unwrap(),
            root: None,
            versions: Vec::new(),
            seal: None,
            last_change: None,
        };
        let seq: i64 = k[8].parse().unwrap();
        let mut version_macs = Vec::new();
        for line in lines {
            let v: Vec<&str> = line.split(' ').collect();
            record.versions.push(VersionRecord {
                version: v[1].parse().unwrap(),
                uuid: hex::decode(v[2]).unwrap().try_into().unwrap(),
                created_at: v[3].parse().unwrap(),
                root_id: "local:test".into(),
                mac: None,
            });
            version_macs.push(v[4].to_owned());
        }
        record.seal = Some(Seal {
            seq,
            mac: Vec::new(),
        });
        (record, k[9].to_owned(), version_macs)
    }

    #[test]
    fn macs_match_the_documented_layout() {
        let key = kat_key();
        let (record, want, versions) = kat();
        let (seal, macs) = seal(key.rows(), &record, 9);
        assert_eq!(hex::encode(&seal.mac), want);
        let got: Vec<String> = macs.iter().map(|(_, m)| hex::encode(m)).collect();
        assert_eq!(got, versions);
        // A root of its own is covered (and a key without one has the MAC above).
        let mut own = record.clone();
        own.root = Some("local:0011".into());
        let with_root = super::seal(key.rows(), &own, 9).0.mac;
        assert_ne!(hex::encode(&with_root), want);
        own.root = Some("local:0012".into());
        assert_ne!(super::seal(key.rows(), &own, 9).0.mac, with_root);
    }

    /// A sealed record, tied to a keyed entry at `seq`.
    fn sealed(key: &AuditKey, seq: i64) -> KeyRecord {
        let (mut record, _, _) = kat();
        let (seal, macs) = seal(key.rows(), &record, seq);
        for (v, (_, m)) in record.versions.iter_mut().zip(macs) {
            v.mac = Some(m.to_vec());
        }
        record.seal = Some(seal);
        let mut e = AuditEntry {
            seq,
            at: 1,
            user: "u".into(),
            verb: "key-retire".into(),
            name: record.name.clone(),
            detail: "min decrypt version 2 (was 1)".into(),
            prev_hash: vec![7; 32],
            hash: Vec::new(),
        };
        e.hash = key
            .entry_hash(
                e.seq,
                e.at,
                &e.user,
                &e.verb,
                &e.name,
                &e.detail,
                &e.prev_hash,
            )
            .to_vec();
        record.last_change = Some(e);
        record
    }

    #[test]
    fn every_field_and_the_tie_to_the_log_are_checked() {
        let key = kat_key();
        let good = sealed(&key, 9);
        check(&key, key.rows(), "db", &good).unwrap();
        let refused = |what: &str, r: &KeyRecord, needle: &str| {
            let e = check(&key, key.rows(), "db", r).unwrap_err().to_string();
            assert!(e.contains(needle) && e.contains("key `app`"), "{what}: {e}");
        };
        type Edit = fn(&mut KeyRecord);
        let edits: [(&str, Edit); 7] = [
            ("state", |r| r.state = KeyState::Disabled),
            ("minimum", |r| r.min_decrypt_version = 1),
            ("active", |r| r.active_version = 2),
            ("period", |r| r.rotation_period_secs = None),
            ("spec", |r| r.spec = "aes-128".into()),
            ("created", |r| r.created_at += 1),
            ("seq", |r| r.seal.as_mut().unwrap().seq = 8),
        ];
        for (what, edit) in edits {
            let mut r = good.clone();
            edit(&mut r);
            refused(what, &r, "(keys)");
        }
        let mut r = good.clone();
        r.seal = None;
        refused("no seal", &r, "has no MAC");
        let mut r = good.clone();
        r.versions[1].created_at -= 86_400;
        refused("version aged", &r, "its version 2 (key_versions)");
        let mut r = good.clone();
        r.versions[2].mac = None;
        refused("version without MAC", &r, "its version 3 (key_versions)");
        let mut r = good.clone();
        r.versions[0].uuid = [9; 16];
        refused("version id", &r, "its version 1 (key_versions)");
        // The tie to the log.
        let mut r = good.clone();
        r.last_change.as_mut().unwrap().seq = 10;
        refused(
            "a later change",
            &r,
            "older than its last change (audit entry 10",
        );
        let mut r = good.clone();
        r.last_change = None;
        refused("no entry", &r, "(entry 9) is missing");
        let mut r = good.clone();
        r.last_change.as_mut().unwrap().seq = 3;
        refused("an earlier entry", &r, "(entry 9) is missing");
        let mut r = good.clone();
        r.last_change.as_mut().unwrap().detail = "min decrypt version 1".into();
        refused("entry edited", &r, "(entry 9) was changed outside coffer");
        let mut r = good;
        r.last_change.as_mut().unwrap().name = "other".into();
        refused(
            "entry of another key",
            &r,
            "(entry 9) was changed outside coffer",
        );
    }

    #[test]
    fn the_log_history_catches_an_edit_before_the_seal() {
        let (mut r, _, _) = kat();
        // Each version made a few seconds before the entry that made it.
        let made = |v: usize| r.versions[v].created_at + 3;
        let e = |seq: i64, at: i64, verb: &str, name: &str, detail: &str| AuditEntry {
            seq,
            at,
            user: "u".into(),
            verb: verb.into(),
            name: name.into(),
            detail: detail.into(),
            prev_hash: Vec::new(),
            hash: Vec::new(),
        };
        let h = History::from_entries(&[
            e(1, made(0), "key-create", "app", "version 1, aes-256"),
            e(2, 1, "put", "/app/x", "version 1"),
            e(3, made(1), "key-rotate", "app", "version 2 (was 1)"),
            e(4, made(2), "key-rotate", "app", "version 3 (was 2), due"),
            e(5, 1, "key-retire", "app", "min decrypt version 2 (was 1)"),
            e(6, 1, "key-disable", "app", ""),
            e(7, 1, "key-rotate-root", "root", "…"),
            e(8, 1, "key-set-rotation", "app", "7776000s"),
        ]);
        r.state = KeyState::Disabled;
        r.rotation_period_secs = Some(7_776_000);
        h.check("db", &r).unwrap();
        let says = |f: fn(&mut KeyRecord), needle: &str| {
            let mut x = r.clone();
            f(&mut x);
            let e = h.check("db", &x).unwrap_err().to_string();
            assert!(e.contains(needle) && e.contains("were not sealed"), "{e}");
        };
        says(
            |x| x.state = KeyState::Enabled,
            "says state enabled, its audit log disabled",
        );
        says(
            |x| x.min_decrypt_version = 1,
            "minimum decryption version 1, its audit log 2",
        );
        says(
            |x| x.active_version = 2,
            "active version 2, its audit log 3",
        );
        says(
            |x| x.rotation_period_secs = None,
            "rotation period none, its audit log 7776000s",
        );
        says(
            |x| x.spec = "aes-128".into(),
            "says spec aes-128, its audit log aes-256",
        );
        says(
            |x| x.versions[2].created_at -= 86_400,
            "says version 3 was made at",
        );
        // A key the log does not know is taken as it is.
        let mut other = r.clone();
        other.name = "unknown".into();
        other.min_decrypt_version = 1;
        h.check("db", &other).unwrap();
    }

    #[test]
    fn details_of_every_key_change_are_read() {
        assert_eq!(
            leading_number("version 3 (was 2), due", "version "),
            Some(3)
        );
        assert_eq!(
            leading_number("min decrypt version 2 (was 1)", "min decrypt version "),
            Some(2)
        );
        assert_eq!(leading_number("version x", "version "), None);
        assert_eq!(leading_number("", "version "), None);
        assert_eq!(leading_number("version 99999999999", "version "), None);
        assert_eq!(parse_period("none"), Some(None));
        assert_eq!(parse_period("60s"), Some(Some(60)));
        assert_eq!(parse_period("60"), None);
        assert_eq!(parse_period("-1s"), None);
        assert_eq!(parse_period("99999999999999999999s"), None);
    }
}
