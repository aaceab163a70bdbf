//! The audit log: an append-only, hash-chained table of every write, key operation and read
//! of a secure value. Values are never recorded.
//!
//! ```sql
//! audit (seq INTEGER PRIMARY KEY,   -- 1, 2, …
//!        at INTEGER,                -- Unix seconds
//!        user TEXT, verb TEXT, name TEXT, detail TEXT,
//!        prev_hash BLOB(32), hash BLOB(32))
//! meta: 'audit_count' (decimal), 'audit_head' (hex of the last hash),
//!       'audit_keyed_from' (decimal), 'audit_head_mac' (hex), 'audit_key' (hex), 'store_id',
//!       'audit_key_format' (decimal), 'audit_policies' (decimal, once a path policy was
//!       set: the entry of the last policy change)
//! ```
//!
//! # The chain
//!
//! Every entry's fields are encoded as `seq (i64 BE) ‖ at (i64 BE) ‖ user ‖ verb ‖ name ‖
//! detail ‖ prev_hash`, each text and `prev_hash` prefixed by its length (u32 BE); the first
//! entry's `prev_hash` is 32 zero bytes. Since schema 6 (SQLite; 4 on PostgreSQL) the chain is
//! keyed:
//!
//! - entries from `audit_keyed_from` on: `hash = HMAC-SHA256(K_entry, "coffer audit v2\0" ‖
//!   fields)`;
//! - the entries of a store upgraded from an older release, below `audit_keyed_from`, keep
//!   their unkeyed hash, `SHA-256("coffer audit v1\0" ‖ fields)`; the upgrade appends one
//!   keyed entry (`audit-rekey`) whose `prev_hash` is the old head, so none of them can be
//!   changed without breaking the keyed entry after them;
//! - the head is authenticated: `audit_head_mac = HMAC-SHA256(K_head, "coffer audit head
//!   v2\0" ‖ count (i64 BE) ‖ keyed_from (i64 BE) ‖ head [‖ policies (i64 BE)])`, so removing
//!   the last entries and setting `audit_count` and `audit_head` to an earlier entry is found.
//!   `policies`, there once a path policy was set, is the entry of the last policy change
//!   ([`crate::store::policy_seal`]), so the head also says which set of policies is the
//!   latest.
//!
//! # The audit key
//!
//! `audit_key` holds a 32-byte random secret `S`, wrapped by the store's root key
//! ([`coffer_core::keyring::RootKey::wrap`]) with the additional data `"coffer audit key
//! v4\0" ‖ store_id` (`meta.audit_key_format` 4: the store's key rows and parameter rows are
//! sealed under keys derived from `S` too, see [`crate::store::key_seal`] and
//! [`crate::store::param_seal`]; a store of format 3, `"coffer audit key v3\0"`, has its key
//! rows sealed but not its parameter rows; an older one has no `audit_key_format` and
//! `"coffer audit key v2\0"`; either is sealed on its first open by a holder of the root
//! key); `store_id` is 32 random hex digits made with the key. The two MAC keys
//! are `K_entry = HKDF-SHA256(salt = store_id, ikm = S, info = "coffer audit entry v2")` and
//! `K_head = HKDF-SHA256(salt = store_id, ikm = S, info = "coffer audit head v2")`. Whoever
//! holds the root key can append and verify; a database writer without it can change nothing
//! unnoticed. A store without an audit key gets one the first time a holder of its root key
//! opens it (`audit_keyed_from` is then `audit_count + 1`).
//!
//! Each entry is appended in the transaction of the write it records; the append reads the
//! head from `meta` there and updates it, MAC included.
//!
//! # What a home has seen
//!
//! Each home keeps, per store, the highest entry and head it has seen verified
//! ([`crate::store::seen`]); opening the store's keys refuses a store whose log is shorter
//! (rolled back or truncated), whose entry at that position differs (forked), or that is
//! another store (replaced), until `coffer audit accept`.

use std::fmt;
use std::sync::OnceLock;

use coffer_core::MacKey;
use zeroize::Zeroizing;

use crate::error::Error;

/// Length of a hash.
pub const HASH_LEN: usize = 32;

const LABEL: &[u8] = b"coffer audit v1\0";
const LABEL_V2: &[u8] = b"coffer audit v2\0";
const HEAD_LABEL: &[u8] = b"coffer audit head v2\0";
/// The additional data the audit key is wrapped with, before the store id: the key of a
/// store whose key rows and parameter rows are sealed ([`KEY_FORMAT_SEALED`]).
pub const KEY_AAD: &[u8] = b"coffer audit key v4\0";
/// As [`KEY_AAD`], for a store whose key rows are sealed and parameter rows not yet.
pub const KEY_AAD_V3: &[u8] = b"coffer audit key v3\0";
/// As [`KEY_AAD`], for a store whose key rows are not sealed yet.
pub const KEY_AAD_V2: &[u8] = b"coffer audit key v2\0";
/// `meta.audit_key_format` of a store whose key rows and parameter rows are sealed (absent:
/// 2, neither sealed).
pub const KEY_FORMAT_SEALED: u32 = 4;
/// `meta.audit_key_format` of a store whose key rows are sealed, its parameter rows not yet.
pub const KEY_FORMAT_KEYS_SEALED: u32 = 3;
/// The verb of the entry that starts the keyed chain of an upgraded store.
pub const REKEY_VERB: &str = "audit-rekey";

/// One entry of the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// 1, 2, …
    pub seq: i64,
    /// Unix seconds.
    pub at: i64,
    /// The OS user.
    pub user: String,
    /// `put`, `get-secure`, `key-rotate`, …
    pub verb: String,
    /// The parameter or key.
    pub name: String,
    /// Short, never secret (version numbers, labels).
    pub detail: String,
    /// The previous entry's hash (zeros for the first).
    pub prev_hash: Vec<u8>,
    /// This entry's hash.
    pub hash: Vec<u8>,
}

/// The unkeyed hash of an entry (entries below `audit_keyed_from`; see the module docs).
pub fn entry_hash(
    seq: i64,
    at: i64,
    user: &str,
    verb: &str,
    name: &str,
    detail: &str,
    prev_hash: &[u8],
) -> [u8; HASH_LEN] {
    with_encoding(seq, at, [user, verb, name, detail], prev_hash, |parts| {
        let mut all = Vec::with_capacity(parts.len() + 1);
        all.push(LABEL);
        all.extend_from_slice(parts);
        coffer_core::sha256(&all)
    })
}

/// Calls `f` with the encoded fields of an entry (see the module docs).
fn with_encoding<T>(
    seq: i64,
    at: i64,
    texts: [&str; 4],
    prev_hash: &[u8],
    f: impl FnOnce(&[&[u8]]) -> T,
) -> T {
    let fields = [
        texts[0].as_bytes(),
        texts[1].as_bytes(),
        texts[2].as_bytes(),
        texts[3].as_bytes(),
        prev_hash,
    ];
    // Fields are far below 4 GiB; saturate rather than wrap if one is not.
    let lens = fields.map(|f| u32::try_from(f.len()).unwrap_or(u32::MAX).to_be_bytes());
    let (seq, at) = (seq.to_be_bytes(), at.to_be_bytes());
    f(&[
        &seq, &at, &lens[0], fields[0], &lens[1], fields[1], &lens[2], fields[2], &lens[3],
        fields[3], &lens[4], fields[4],
    ])
}

/// The keys of a store's audit log (see the module docs). `Debug` shows the store id only.
pub struct AuditKey {
    entry: MacKey,
    head: MacKey,
    rows: MacKey,
    params: MacKey,
    policies: MacKey,
    store_id: String,
}

impl fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditKey")
            .field("store_id", &self.store_id)
            .finish_non_exhaustive()
    }
}

impl AuditKey {
    /// The keys derived from the secret `secret` of the store `store_id`.
    ///
    /// # Errors
    /// The crypto backend fails.
    pub fn derive(secret: &[u8], store_id: &str) -> Result<Self, Error> {
        let salt = store_id.as_bytes();
        Ok(Self {
            entry: MacKey::derive(salt, secret, &[b"coffer audit entry v2"])?,
            head: MacKey::derive(salt, secret, &[b"coffer audit head v2"])?,
            rows: MacKey::derive(salt, secret, &[b"coffer key rows v1"])?,
            params: MacKey::derive(salt, secret, &[b"coffer param rows v1"])?,
            policies: MacKey::derive(salt, secret, &[b"coffer path policies v1"])?,
            store_id: store_id.to_owned(),
        })
    }

    /// The store these keys are for.
    pub fn store_id(&self) -> &str {
        &self.store_id
    }

    /// The key of the key table's MACs ([`crate::store::key_seal`]).
    pub(crate) fn rows(&self) -> &MacKey {
        &self.rows
    }

    /// The key of the parameter rows' MACs ([`crate::store::param_seal`]).
    pub(crate) fn params(&self) -> &MacKey {
        &self.params
    }

    /// The key of the path policies' MAC ([`crate::store::policy_seal`]).
    pub(crate) fn policies(&self) -> &MacKey {
        &self.policies
    }

    /// Whether `e` is a keyed entry this key made (at its place in the chain: its
    /// `prev_hash` is part of what the hash covers).
    pub fn keyed_entry_ok(&self, e: &AuditEntry) -> bool {
        let want = self.entry_hash(
            e.seq,
            e.at,
            &e.user,
            &e.verb,
            &e.name,
            &e.detail,
            &e.prev_hash,
        );
        coffer_core::ct_eq(&want, &e.hash)
    }

    /// The keyed hash of an entry.
    #[allow(
        clippy::too_many_arguments,
        reason = "the entry's fields, in their order"
    )]
    pub fn entry_hash(
        &self,
        seq: i64,
        at: i64,
        user: &str,
        verb: &str,
        name: &str,
        detail: &str,
        prev_hash: &[u8],
    ) -> [u8; HASH_LEN] {
        with_encoding(seq, at, [user, verb, name, detail], prev_hash, |parts| {
            let mut all = Vec::with_capacity(parts.len() + 1);
            all.push(LABEL_V2);
            all.extend_from_slice(parts);
            self.entry.tag(&all)
        })
    }

    /// The MAC of a head: `count` entries, keyed from `keyed_from`, the last hash `hash`, the
    /// last policy change `policies`.
    pub fn head_mac(
        &self,
        count: i64,
        keyed_from: i64,
        hash: &[u8],
        policies: Option<i64>,
    ) -> [u8; HASH_LEN] {
        let policies = policies.map(i64::to_be_bytes);
        self.head.tag(&[
            HEAD_LABEL,
            &count.to_be_bytes(),
            &keyed_from.to_be_bytes(),
            hash,
            policies.as_ref().map_or(&[][..], |p| &p[..]),
        ])
    }

    fn entry_ok(&self, e: &AuditEntry, keyed_from: i64) -> bool {
        if e.seq >= keyed_from {
            return self.keyed_entry_ok(e);
        }
        let want = entry_hash(
            e.seq,
            e.at,
            &e.user,
            &e.verb,
            &e.name,
            &e.detail,
            &e.prev_hash,
        );
        coffer_core::ct_eq(&want, &e.hash)
    }

    /// Whether `head`'s MAC is right.
    pub fn head_ok(&self, head: &Head) -> bool {
        head.mac.as_deref().is_some_and(|mac| {
            coffer_core::ct_eq(
                &self.head_mac(head.count, head.keyed_from, &head.hash, head.policies),
                mac,
            )
        })
    }
}

/// The secret behind a store's [`AuditKey`]: 32 random bytes, kept wrapped by the root key.
pub struct AuditSecret(Zeroizing<[u8; 32]>);

impl fmt::Debug for AuditSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuditSecret(..)")
    }
}

impl AuditSecret {
    /// A new random secret.
    ///
    /// # Errors
    /// The system's random source fails.
    pub fn generate() -> Result<Self, Error> {
        let mut s = Zeroizing::new([0u8; 32]);
        coffer_core::fill_random(&mut s[..])?;
        Ok(Self(s))
    }

    /// The bytes.
    pub fn expose_secret(&self) -> &[u8] {
        &self.0[..]
    }
}

/// `meta.audit_key_format` as stored: 2 when absent, 0 (no format) when unreadable.
pub fn key_format(stored: Option<&str>) -> u32 {
    stored.map_or(2, |f| f.parse().unwrap_or(0))
}

/// The additional data the audit key of `store_id` is wrapped with, in a store whose
/// `meta.audit_key_format` is `format`.
pub fn key_aad(store_id: &str, format: u32) -> Vec<u8> {
    let label: &[u8] = match format {
        KEY_FORMAT_SEALED => KEY_AAD,
        KEY_FORMAT_KEYS_SEALED => KEY_AAD_V3,
        2 => KEY_AAD_V2,
        _ => b"coffer audit key (unknown format)\0",
    };
    [label, store_id.as_bytes()].concat()
}

/// The head of a log, as `meta` records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// Entries appended.
    pub count: i64,
    /// The last entry's hash (zeros for none).
    pub hash: Vec<u8>,
    /// The first keyed entry (`i64::MAX` for a log that is not keyed yet).
    pub keyed_from: i64,
    /// The head's MAC, if the log is keyed.
    pub mac: Option<Vec<u8>>,
    /// The entry of the last change of the path policies, once there was one.
    pub policies: Option<i64>,
}

impl Head {
    /// The head as read from the `meta` rows given as `(key, value)`.
    pub fn from_meta<'a>(rows: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut head = Self {
            count: 0,
            hash: vec![0; HASH_LEN],
            keyed_from: i64::MAX,
            mac: None,
            policies: None,
        };
        for (key, value) in rows {
            match key {
                "audit_count" => head.count = value.parse().unwrap_or(-1),
                "audit_head" => head.hash = hex::decode(value).unwrap_or_default(),
                "audit_keyed_from" => head.keyed_from = value.parse().unwrap_or(0),
                "audit_head_mac" => head.mac = hex::decode(value).ok(),
                // Unreadable: a value no MAC covers.
                POLICIES_KEY => head.policies = Some(value.parse().unwrap_or(-1)),
                _ => {}
            }
        }
        head
    }
}

/// What a store holds of its audit state, read in one snapshot for a home's checks.
#[derive(Debug, Clone)]
pub struct AuditTip {
    /// `meta.store_id`.
    pub store_id: Option<String>,
    /// `meta.audit_key`, still wrapped.
    pub wrapped_key: Option<Vec<u8>>,
    /// `meta.audit_key_format` (2 when absent; an unreadable value is 0, which no key
    /// unwraps under).
    pub key_format: u32,
    /// The head.
    pub head: Head,
    /// The hash of the entry asked for (the one the home saw last), if there is one.
    pub at_seen: Option<Vec<u8>>,
    /// The entry with the highest sequence number: `(seq, hash)`.
    pub last: Option<(i64, Vec<u8>)>,
}

/// The meta key of the entry of the last policy change, part of the head.
pub const POLICIES_KEY: &str = "audit_policies";

/// The meta keys of the audit head, in the store's lock order (and [`POLICIES_KEY`], once
/// there was a policy change).
pub const HEAD_KEYS: [&str; 4] = [
    "audit_count",
    "audit_head",
    "audit_head_mac",
    "audit_keyed_from",
];

/// The error for an entry count in `meta` that no log has.
pub fn bad_count(location: &str) -> Error {
    let at = if location.is_empty() {
        String::new()
    } else {
        format!(" {location}")
    };
    Error::corrupt(format!(
        "the audit log of the store{at} was changed outside coffer: meta audit_count is out of \
         range"
    ))
    .advice(crate::error::Advice::VerifyAudit)
}

/// The error for a write to a store whose audit key is not loaded.
pub fn no_audit_key(location: &str) -> Error {
    Error::denied(format!(
        "the audit log of the store {location} is keyed: writing needs its root key (open the \
         store's keys first)"
    ))
}

/// The OS user, as recorded in entries.
pub(crate) fn user() -> &'static str {
    static USER: OnceLock<String> = OnceLock::new();
    USER.get_or_init(crate::user::os_user)
}

/// How `Store::verify_audit` ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verified {
    /// The chain holds: this many entries.
    Ok(u64),
    /// The first problem.
    Bad {
        /// The sequence number where it was found.
        seq: i64,
        /// What is wrong.
        why: String,
    },
}

/// Checks `entries` (by seq) as a chain ending at `head`, with `key` (the entries from
/// `head.keyed_from` on, and the head's MAC).
pub fn verify(entries: &[AuditEntry], head: &Head, key: &AuditKey) -> Verified {
    let mut prev = vec![0u8; HASH_LEN];
    let mut expected: i64 = 1;
    if head.keyed_from < 1 || head.keyed_from == i64::MAX {
        return Verified::Bad {
            seq: 1,
            why: "meta audit_keyed_from is missing or out of range: the log's head was edited"
                .to_owned(),
        };
    }
    for e in entries {
        if e.seq != expected {
            return Verified::Bad {
                seq: expected,
                why: format!(
                    "entry {expected} is missing (the next entry is {}): entries were deleted \
                     or reordered",
                    e.seq
                ),
            };
        }
        if !key.entry_ok(e, head.keyed_from) {
            return Verified::Bad {
                seq: e.seq,
                why: format!(
                    "entry {} does not match its {}: it was edited",
                    e.seq,
                    if e.seq >= head.keyed_from {
                        "MAC"
                    } else {
                        "hash"
                    }
                ),
            };
        }
        if e.prev_hash != prev {
            return Verified::Bad {
                seq: e.seq,
                why: format!(
                    "entry {} does not follow entry {} (prev_hash mismatch): entries were \
                     deleted, reordered or replaced",
                    e.seq,
                    e.seq - 1
                ),
            };
        }
        prev.clone_from(&e.hash);
        expected += 1;
    }
    let found = expected - 1;
    if found != head.count || prev != head.hash {
        let seq = found.min(head.count).max(0) + 1;
        return Verified::Bad {
            seq,
            why: format!(
                "the log holds {found} entries, but {} were appended (meta \
                 audit_count/audit_head): it was truncated or its head was replaced",
                head.count
            ),
        };
    }
    if !key.head_ok(head) {
        return Verified::Bad {
            seq: found + 1,
            why: "the log's head does not match its MAC (meta audit_head_mac): its last \
                  entries were removed and its head set back, or the head was edited"
                .to_owned(),
        };
    }
    Verified::Ok(u64::try_from(found).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    /// The chain as another implementation of the documented hash computes it (Python's
    /// hashlib: `tests/data/audit_kat.py`).
    #[test]
    fn hashes_match_the_documented_chain() {
        let mut prev = vec![0u8; HASH_LEN];
        let kat = include_str!("../../tests/data/audit_kat.txt");
        for line in kat.lines() {
            let t: Vec<&str> = line.split_whitespace().collect();
            let (seq, at) = (t[0].parse().unwrap(), t[1].parse().unwrap());
            let detail = t[4..t.len() - 1].join(" ");
            let detail = if detail == "-" { String::new() } else { detail };
            let hash = entry_hash(seq, at, "alice (uid 1000)", t[2], t[3], &detail, &prev);
            assert_eq!(hex::encode(hash), t[t.len() - 1], "entry {seq}");
            prev = hash.to_vec();
        }
        assert_eq!(kat.lines().count(), 3);
    }

    fn kat_key() -> AuditKey {
        let secret: Vec<u8> = (0..32).collect();
        AuditKey::derive(&secret, "00112233445566778899aabbccddeeff").unwrap()
    }

    /// The keyed chain of an upgraded store and its head MAC, as Python's hmac computes them
    /// (`tests/data/audit_kat_v2.py`), and `verify` accepts exactly that.
    #[test]
    fn keyed_hashes_match_the_documented_chain() {
        let key = kat_key();
        let kat = include_str!("../../tests/data/audit_kat_v2.txt");
        let mut prev = vec![0u8; HASH_LEN];
        let mut entries = Vec::new();
        let mut lines = kat.lines();
        for line in lines.by_ref().take(4) {
            let (fields, want) = line.split_once(" | ").unwrap();
            let t: Vec<&str> = fields.split(' ').collect();
            let (seq, at) = (t[1].parse().unwrap(), t[2].parse().unwrap());
            let (verb, name, detail) = (t[3], t[4], t[5..].join(" "));
            let user = "alice (uid 1000)";
            let hash = if t[0] == "v2" {
                key.entry_hash(seq, at, user, verb, name, &detail, &prev)
            } else {
                entry_hash(seq, at, user, verb, name, &detail, &prev)
            };
            assert_eq!(hex::encode(hash), want, "entry {seq}");
            entries.push(AuditEntry {
                seq,
                at,
                user: user.into(),
                verb: verb.into(),
                name: name.into(),
                detail,
                prev_hash: prev.clone(),
                hash: hash.to_vec(),
            });
            prev = hash.to_vec();
        }
        let t: Vec<&str> = lines.next().unwrap().split(' ').collect();
        let (count, keyed_from) = (t[1].parse().unwrap(), t[2].parse().unwrap());
        assert_eq!(
            hex::encode(key.head_mac(count, keyed_from, &prev, None)),
            t[3]
        );
        // The last policy change is part of the head once there was one.
        assert_ne!(
            key.head_mac(count, keyed_from, &prev, Some(count)),
            key.head_mac(count, keyed_from, &prev, None)
        );
        assert_ne!(
            key.head_mac(count, keyed_from, &prev, Some(count)),
            key.head_mac(count, keyed_from, &prev, Some(count - 1))
        );
        let head = Head {
            count,
            hash: prev,
            keyed_from,
            mac: Some(hex::decode(t[3]).unwrap()),
            policies: None,
        };
        assert_eq!(verify(&entries, &head, &key), Verified::Ok(4));
        // An unkeyed rewrite of a keyed entry: its SHA-256 is right, and it is refused.
        let mut rewritten = entries.clone();
        rewritten[3].detail = "current -> 2".into();
        rewritten[3].hash = entry_hash(
            4,
            rewritten[3].at,
            &rewritten[3].user,
            "label",
            "/app/db",
            "current -> 2",
            &rewritten[3].prev_hash,
        )
        .to_vec();
        let head2 = Head {
            hash: rewritten[3].hash.clone(),
            ..head.clone()
        };
        assert!(matches!(
            verify(&rewritten, &head2, &key),
            Verified::Bad { seq: 4, .. }
        ));
        // Claiming the whole log is unkeyed (`audit_keyed_from` moved past it) breaks the
        // head MAC.
        let moved = Head {
            keyed_from: 99,
            ..head.clone()
        };
        assert!(matches!(
            verify(&entries, &moved, &key),
            Verified::Bad { .. }
        ));
        // Another store's key verifies nothing.
        let other = AuditKey::derive(&[7; 32], "ffeeddccbbaa99887766554433221100").unwrap();
        assert!(matches!(
            verify(&entries, &head, &other),
            Verified::Bad { seq: 3, .. }
        ));
        assert!(!format!("{key:?}").contains("entry:"));
    }

    fn chain(n: i64, key: &AuditKey) -> (Vec<AuditEntry>, Head) {
        let mut prev = vec![0u8; HASH_LEN];
        let entries: Vec<AuditEntry> = (1..=n)
            .map(|seq| {
                let hash = key.entry_hash(seq, 100 + seq, "u", "put", "/a", "version 1", &prev);
                let e = AuditEntry {
                    seq,
                    at: 100 + seq,
                    user: "u".into(),
                    verb: "put".into(),
                    name: "/a".into(),
                    detail: "version 1".into(),
                    prev_hash: prev.clone(),
                    hash: hash.to_vec(),
                };
                prev = hash.to_vec();
                e
            })
            .collect();
        let head = Head {
            count: n,
            mac: Some(key.head_mac(n, 1, &prev, None).to_vec()),
            policies: None,
            hash: prev,
            keyed_from: 1,
        };
        (entries, head)
    }

    #[test]
    fn a_chain_verifies_and_tampering_is_found() {
        let key = kat_key();
        let (c, head) = chain(5, &key);
        assert_eq!(verify(&c, &head, &key), Verified::Ok(5));
        let (_, empty) = chain(0, &key);
        assert_eq!(verify(&[], &empty, &key), Verified::Ok(0));
        let mut edited = c.clone();
        edited[2].name = "/b".into();
        assert!(matches!(
            verify(&edited, &head, &key),
            Verified::Bad { seq: 3, .. }
        ));
        let mut gap = c.clone();
        gap.remove(1);
        assert!(matches!(
            verify(&gap, &head, &key),
            Verified::Bad { seq: 2, .. }
        ));
        let truncated = &c[..4];
        assert!(matches!(
            verify(truncated, &head, &key),
            Verified::Bad { seq: 5, .. }
        ));
        // Truncated, with the head set to the new last entry: the head MAC is wrong.
        let set_back = Head {
            count: 4,
            hash: c[3].hash.clone(),
            ..head.clone()
        };
        assert!(matches!(
            verify(truncated, &set_back, &key),
            Verified::Bad { seq: 5, .. }
        ));
        let no_mac = Head {
            mac: None,
            ..head.clone()
        };
        assert!(matches!(
            verify(&c, &no_mac, &key),
            Verified::Bad { seq: 6, .. }
        ));
    }

    #[test]
    fn the_encoding_is_length_prefixed() {
        let z = [0u8; HASH_LEN];
        assert_ne!(
            entry_hash(1, 1, "ab", "c", "n", "d", &z),
            entry_hash(1, 1, "a", "bc", "n", "d", &z)
        );
    }
}
