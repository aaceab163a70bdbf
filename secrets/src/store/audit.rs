//! The audit log (schema version 3): an append-only, hash-chained table of every write, key
//! operation and read of a secure value. Values are never recorded.
//!
//! ```sql
//! audit (seq INTEGER PRIMARY KEY,   -- 1, 2, …
//!        at INTEGER,                -- Unix seconds
//!        user TEXT, verb TEXT, name TEXT, detail TEXT,
//!        prev_hash BLOB(32), hash BLOB(32))
//! meta: 'audit_count' (decimal), 'audit_head' (hex of the last hash)
//! ```
//!
//! `hash = SHA-256("coffer audit v1\0" ‖ seq (i64 BE) ‖ at (i64 BE) ‖ user ‖ verb ‖ name ‖
//! detail ‖ prev_hash)`, where each text and `prev_hash` is prefixed by its length (u32 BE).
//! The first entry's `prev_hash` is 32 zero bytes. Each entry is appended in the transaction
//! of the write it records (a `BEGIN IMMEDIATE` one, so appends serialize); the append reads
//! the count and the last hash from `meta` there and updates both, so removing the last
//! entries (truncation) is detected too.
//!
//! The chain detects editing, reordering, deleting and truncating by anyone who does not
//! also recompute every later hash and `meta`: it is tamper-evidence for the log as stored,
//! not a signature (nothing secret keys it).

use std::sync::OnceLock;

/// Length of a hash.
pub const HASH_LEN: usize = 32;

const LABEL: &[u8] = b"coffer audit v1\0";

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

/// The hash of an entry (see the module docs).
pub fn entry_hash(
    seq: i64,
    at: i64,
    user: &str,
    verb: &str,
    name: &str,
    detail: &str,
    prev_hash: &[u8],
) -> [u8; HASH_LEN] {
    let fields = [
        user.as_bytes(),
        verb.as_bytes(),
        name.as_bytes(),
        detail.as_bytes(),
        prev_hash,
    ];
    // Fields are far below 4 GiB; saturate rather than wrap if one is not.
    let lens = fields.map(|f| u32::try_from(f.len()).unwrap_or(u32::MAX).to_be_bytes());
    let (seq, at) = (seq.to_be_bytes(), at.to_be_bytes());
    coffer_core::sha256(&[
        LABEL, &seq, &at, &lens[0], fields[0], &lens[1], fields[1], &lens[2], fields[2], &lens[3],
        fields[3], &lens[4], fields[4],
    ])
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

/// Checks `entries` (by seq) as a chain ending at `count` entries and `head_hash`.
pub fn verify(entries: &[AuditEntry], count: i64, head_hash: &[u8]) -> Verified {
    let mut prev = vec![0u8; HASH_LEN];
    let mut expected: i64 = 1;
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
        let hash = entry_hash(
            e.seq,
            e.at,
            &e.user,
            &e.verb,
            &e.name,
            &e.detail,
            &e.prev_hash,
        );
        if hash[..] != e.hash[..] {
            return Verified::Bad {
                seq: e.seq,
                why: format!("entry {} does not match its hash: it was edited", e.seq),
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
        prev = e.hash.clone();
        expected += 1;
    }
    let found = expected - 1;
    if found != count || prev != head_hash {
        let seq = found.min(count) + 1;
        return Verified::Bad {
            seq,
            why: format!(
                "the log holds {found} entries, but {count} were appended (meta \
                 audit_count/audit_head): it was truncated or its head was replaced"
            ),
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

    fn chain(n: i64) -> Vec<AuditEntry> {
        let mut prev = vec![0u8; HASH_LEN];
        (1..=n)
            .map(|seq| {
                let hash = entry_hash(seq, 100 + seq, "u", "put", "/a", "version 1", &prev);
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
            .collect()
    }

    #[test]
    fn a_chain_verifies_and_tampering_is_found() {
        let c = chain(5);
        let head = c[4].hash.clone();
        assert_eq!(verify(&c, 5, &head), Verified::Ok(5));
        assert_eq!(verify(&[], 0, &[0; HASH_LEN]), Verified::Ok(0));
        let mut edited = c.clone();
        edited[2].name = "/b".into();
        assert!(matches!(
            verify(&edited, 5, &head),
            Verified::Bad { seq: 3, .. }
        ));
        let mut gap = c.clone();
        gap.remove(1);
        assert!(matches!(
            verify(&gap, 5, &head),
            Verified::Bad { seq: 2, .. }
        ));
        let truncated = &c[..4];
        assert!(matches!(
            verify(truncated, 5, &head),
            Verified::Bad { seq: 5, .. }
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
