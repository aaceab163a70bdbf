//! How a store's path policies ([`crate::params::policy`]) are kept from being changed in the
//! database: the whole set is sealed by one MAC tied to the audit entry of its last change.
//!
//! # Layout and derivation
//!
//! `K_policies = HKDF-SHA256(salt = store id, ikm = the store's audit secret, info "coffer
//! path policies v1")`, the audit secret being the one the root key wraps
//! ([`crate::store::audit_key`]).
//!
//! ```text
//! policies     (path, key_ref, created_at, author)   one row per path
//! policy_seal  (one = 1, seal_seq, mac)              the set's MAC:
//!   mac = HMAC-SHA256(K_policies, "coffer policies v1\0" || n (4 bytes, big-endian)
//!         || for each policy, by path: len(path) path len(key_ref) key_ref created_at author
//!         || seal_seq)
//!   strings are length-prefixed (4 bytes, big-endian); integers are 8 bytes, big-endian
//! ```
//!
//! Every change (`policy-set`, `policy-rm`: [`POLICY_SET_VERB`], [`POLICY_RM_VERB`]) appends
//! its audit entry, records it in the log's authenticated head as the last policy change
//! (`audit_policies`, covered by the head's MAC: [`crate::store::audit`]) and writes the new
//! set's MAC tied to it, in one transaction. A reader checks the head's MAC, the set's MAC over
//! the rows it read, and that the set is sealed to the head's last policy change: a row
//! added, edited or deleted is refused (the set's MAC), and so is the set of an older copy put
//! back, rows and seal together, or both removed (the head names a later change, or a change
//! at all). Taking the head back to before that change means cutting the log short, which each
//! home's record of the log finds ([`crate::store::seen`]).

use coffer_core::{MacContext, MacKey};

use super::audit::{AuditKey, HASH_LEN, Head};
use crate::error::{Advice, Error};
use crate::params::ParamResult;
use crate::params::policy::{Policies, Policy};

const SET_LABEL: &[u8] = b"coffer policies v1\0";

/// The verb of the audit entry of a policy set (its name is the path).
pub const POLICY_SET_VERB: &str = "policy-set";

/// The verb of the audit entry of a policy removed.
pub const POLICY_RM_VERB: &str = "policy-rm";

/// A `policies` row as read.
#[derive(Debug, Clone)]
pub(crate) struct RawPolicy {
    pub(crate) path: String,
    pub(crate) key_ref: String,
    pub(crate) created_at: i64,
    pub(crate) author: String,
}

/// What a store holds of its policies, read in one snapshot.
#[derive(Debug, Clone)]
pub(crate) struct RawPolicies {
    pub(crate) rows: Vec<RawPolicy>,
    /// `policy_seal`: `(seal_seq, mac)`.
    pub(crate) seal: Option<(i64, Vec<u8>)>,
    /// The audit log's head, which names the last policy change.
    pub(crate) head: Head,
}

fn update_text(ctx: &mut MacContext, s: &[u8]) {
    // Every field is far below 4 GiB; saturate rather than wrap.
    ctx.update(&u32::try_from(s.len()).unwrap_or(u32::MAX).to_be_bytes());
    ctx.update(s);
}

/// The MAC of the set `policies` tied to audit entry `seq`.
pub(crate) fn set_mac(key: &MacKey, policies: &Policies, seq: i64) -> [u8; HASH_LEN] {
    let mut ctx = key.start();
    ctx.update(SET_LABEL);
    let n = policies.iter().count();
    ctx.update(&u32::try_from(n).unwrap_or(u32::MAX).to_be_bytes());
    for p in policies.iter() {
        update_text(&mut ctx, p.path.as_str().as_bytes());
        update_text(&mut ctx, p.key.as_bytes());
        ctx.update(&p.created_at.to_be_bytes());
        update_text(&mut ctx, p.author.as_bytes());
    }
    ctx.update(&seq.to_be_bytes());
    ctx.finish()
}

/// The detail of the audit entry of `policy` set, replacing `old`.
pub(crate) fn set_detail(policy: &Policy, old: Option<&Policy>) -> String {
    match old {
        Some(old) => format!("key {} (was {})", policy.key, old.key),
        None => format!("key {}", policy.key),
    }
}

/// The detail of the audit entry of `old` removed.
pub(crate) fn rm_detail(old: &Policy) -> String {
    format!("key {}", old.key)
}

/// The error for a path without a policy.
pub(crate) fn no_policy(path: &crate::params::ParamPath) -> Error {
    Error::missing(format!("no policy for the path {path}")).advice(Advice::ListPolicies)
}

/// A policy set that fails its check: an error naming the tables.
pub(crate) fn tampered(location: &str, what: &str) -> Error {
    Error::corrupt(format!(
        "the path policies in the store {location} (tables policies, policy_seal): {what}; \
         no policy was used"
    ))
    .advice(Advice::VerifyAudit)
}

/// Checks the policies as read against their MAC and the head's last policy change (see the
/// module docs), and returns them.
///
/// # Errors
/// A head that fails its MAC; a set without a seal, with a wrong MAC, sealed to another change
/// than the head's last one, or a row that is not a policy.
pub(crate) fn check(audit: &AuditKey, location: &str, raw: RawPolicies) -> ParamResult<Policies> {
    let bad = |what: &str| tampered(location, what);
    if !audit.head_ok(&raw.head) {
        return Err(bad(
            "the audit log's head, which names their last change, does not match its MAC",
        ));
    }
    let mut policies = Vec::with_capacity(raw.rows.len());
    let mut paths = std::collections::BTreeSet::new();
    for r in raw.rows {
        if !paths.insert(r.path.clone()) {
            return Err(bad(&format!(
                "two rows name the path `{}`: they were written outside coffer",
                r.path.escape_debug()
            )));
        }
        let path = crate::params::ParamPath::parse(&r.path)
            .ok()
            .filter(|p| p.as_str() == r.path)
            .ok_or_else(|| {
                bad(&format!(
                    "a row names `{}`, which is not a path: it was written outside coffer",
                    r.path.escape_debug()
                ))
            })?;
        policies.push(Policy {
            path,
            key: r.key_ref,
            created_at: r.created_at,
            author: r.author,
        });
    }
    let policies = Policies::new(policies);
    match (raw.head.policies, raw.seal) {
        (None, None) if policies.is_empty() => Ok(policies),
        (None, None) => Err(bad("they have no MAC: they were written outside coffer")),
        (None, Some((seq, _))) => Err(bad(&format!(
            "they are sealed to audit entry {seq}, but the log's head names no policy change: \
             they were written outside coffer"
        ))),
        (Some(c), None) => Err(bad(&format!(
            "their MAC is gone, though audit entry {c} changed them: they were removed or \
             replaced outside coffer"
        ))),
        (Some(c), Some((seq, mac))) => {
            if !coffer_core::ct_eq(&set_mac(audit.policies(), &policies, seq), &mac) {
                Err(bad(
                    "they do not match their MAC: a policy was added, changed or removed \
                     outside coffer",
                ))
            } else if seq != c {
                Err(bad(&format!(
                    "they are sealed to audit entry {seq}, not to their last change (audit \
                     entry {c}): they were put back from an older copy"
                )))
            } else {
                Ok(policies)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn audit() -> AuditKey {
        AuditKey::derive(&[7; 32], "store").unwrap()
    }

    fn row(path: &str, key_ref: &str) -> RawPolicy {
        RawPolicy {
            path: path.to_owned(),
            key_ref: key_ref.to_owned(),
            created_at: 10,
            author: "ann".to_owned(),
        }
    }

    /// A head of `count` entries whose last policy change is `policies`, with its MAC.
    fn head(count: i64, policies: Option<i64>) -> Head {
        let hash = vec![u8::try_from(count).unwrap(); HASH_LEN];
        Head {
            count,
            mac: Some(audit().head_mac(count, 1, &hash, policies).to_vec()),
            hash,
            keyed_from: 1,
            policies,
        }
    }

    /// `rows` sealed to entry `seq`, the head of a log of 9 entries naming it.
    fn sealed(rows: Vec<RawPolicy>, seq: i64) -> RawPolicies {
        let set = Policies::new(
            rows.iter()
                .map(|r| Policy {
                    path: crate::params::ParamPath::parse(&r.path).unwrap(),
                    key: r.key_ref.clone(),
                    created_at: r.created_at,
                    author: r.author.clone(),
                })
                .collect(),
        );
        RawPolicies {
            rows,
            seal: Some((seq, set_mac(audit().policies(), &set, seq).to_vec())),
            head: head(9, Some(seq)),
        }
    }

    fn error(raw: RawPolicies) -> String {
        check(&audit(), "db", raw).unwrap_err().to_string()
    }

    #[test]
    fn a_sealed_set_checks_and_each_change_to_it_is_found() {
        let good = sealed(vec![row("/b", "local:b"), row("/a", "local:a")], 5);
        let set = check(&audit(), "db", good.clone()).unwrap();
        assert_eq!(set.iter().count(), 2);
        let none = RawPolicies {
            rows: Vec::new(),
            seal: None,
            head: head(3, None),
        };
        assert!(check(&audit(), "db", none.clone()).unwrap().is_empty());

        let mut edited = good.clone();
        edited.rows[0].key_ref = "local:evil".to_owned();
        assert!(error(edited).contains("do not match their MAC"));
        let mut dropped = good.clone();
        dropped.rows.pop();
        assert!(error(dropped).contains("do not match their MAC"));
        let mut planted = good.clone();
        planted.rows.push(row("/c", "local:c"));
        assert!(error(planted).contains("do not match their MAC"));
        let mut author = good.clone();
        author.rows[1].author = "mallory".to_owned();
        assert!(error(author).contains("do not match their MAC"));

        // An older set put back: the head names a later change.
        let mut older = good.clone();
        older.head = head(9, Some(7));
        assert!(error(older).contains("put back from an older copy"));
        // The head's record of the last change edited or removed: its MAC fails.
        let mut moved = good.clone();
        moved.head.policies = Some(7);
        assert!(error(moved).contains("does not match its MAC"));
        let mut stripped = good.clone();
        stripped.head.policies = None;
        assert!(error(stripped).contains("does not match its MAC"));

        // Both tables emptied, or the set sealed while the head names no change.
        let mut gone = good.clone();
        gone.rows.clear();
        gone.seal = None;
        assert!(error(gone).contains("MAC is gone, though audit entry 5"));
        let mut unnamed = good.clone();
        unnamed.head = head(9, None);
        assert!(error(unnamed).contains("names no policy change"));
        let mut unsealed = none.clone();
        unsealed.rows.push(row("/a", "local:a"));
        assert!(error(unsealed).contains("no MAC"));
        // Two policies of one path (the table's key dropped), however sealed.
        let twice = sealed(vec![row("/a", "local:a"), row("/a", "local:b")], 5);
        assert!(error(twice).contains("two rows name the path `/a`"));
        let mut bad_path = sealed(vec![row("/a/", "local:a")], 5);
        bad_path.rows[0].path = "/a/".to_owned();
        assert!(error(bad_path).contains("not a path"));
    }

    #[test]
    fn fields_cannot_slide_into_each_other() {
        let a = sealed(vec![row("/ab", "local:c")], 1);
        let mut b = a.clone();
        b.rows[0].path = "/a".to_owned();
        b.rows[0].key_ref = "blocal:c".to_owned();
        assert!(error(b).contains("do not match their MAC"));
    }
}
