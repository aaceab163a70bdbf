//! [`AuditSigner`]: what appends to a store's audit log in this process: the store's
//! [`AuditKey`], the check of the head each append extends, and the home's record of what it
//! has seen, moved on after each commit.

use std::sync::{Arc, Mutex, PoisonError};

use super::audit::{AuditKey, HASH_LEN, Head};
use super::seen::SeenFile;
use crate::error::{Advice, Error};

/// The append of one entry: the entry's hash and the new head's MAC.
pub(crate) struct Appended {
    pub hash: [u8; HASH_LEN],
    pub head_mac: [u8; HASH_LEN],
}

/// What appends to a store's log: its [`AuditKey`] and, when a home opened the store, the
/// record of what that home has seen, moved on after each commit.
#[derive(Debug)]
pub struct AuditSigner {
    key: Arc<AuditKey>,
    seen: Option<SeenFile>,
    /// The last entry this process knows the log holds (`seq`, hash): where it was opened,
    /// then each entry it committed. Every append checks that the log still holds it.
    known: Mutex<(i64, Vec<u8>)>,
}

impl AuditSigner {
    /// Appends with `key` to a log known to hold entry `known` (`seq`, hash; `(0, zeros)`
    /// for none), recording each commit in `seen`.
    pub fn new(key: Arc<AuditKey>, seen: Option<SeenFile>, known: (i64, Vec<u8>)) -> Self {
        Self {
            key,
            seen,
            known: Mutex::new(known),
        }
    }

    fn known(&self) -> std::sync::MutexGuard<'_, (i64, Vec<u8>)> {
        self.known.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The sequence number of the entry this process knows the log holds (0: none): the
    /// append reads that entry's hash for `AuditSigner::check_head`.
    #[cfg(feature = "sqlite")]
    pub(crate) fn known_seq(&self) -> i64 {
        self.known().0
    }

    /// The key.
    pub fn key(&self) -> &Arc<AuditKey> {
        &self.key
    }

    /// Checks the head an append extends, read inside the append's transaction: its MAC,
    /// and that `last` (the entry with the highest sequence number) is the entry it names,
    /// and that the log still holds `at_known`, the entry this process saw last. The store
    /// was checked when it was opened; this finds a head changed since (a long-running
    /// process, a hook that runs for minutes). Returns the sequence number of the entry to
    /// append.
    ///
    /// # Errors
    /// The head fails a check (the append is refused).
    #[cfg(feature = "sqlite")]
    pub(crate) fn check_head(
        &self,
        head: &Head,
        last: Option<&(i64, Vec<u8>)>,
        at_known: Option<&[u8]>,
    ) -> Result<i64, Error> {
        let (next, (kseq, khash)) = self.check_head_mac(head)?;
        let last_ok = match last {
            None => head.count == 0,
            Some((seq, hash)) => *seq == head.count && coffer_core::ct_eq(hash, &head.hash),
        };
        if !last_ok {
            return Err(self.bad("its last entry is not the head its MAC names"));
        }
        if kseq > 0 && !at_known.is_some_and(|h| coffer_core::ct_eq(h, &khash)) {
            return Err(self.bad(&format!(
                "it no longer holds the entry {kseq} this process saw: it was rolled back or \
                 forked"
            )));
        }
        Ok(next)
    }

    /// The checks of `AuditSigner::check_head` on the head alone (its MAC; not behind the
    /// entry this process saw; room for one more), for a backend that checks the rows in the
    /// statement that appends: returns the sequence number of the entry to append and the
    /// entry the log must still hold.
    ///
    /// # Errors
    /// The head fails a check.
    pub(crate) fn check_head_mac(&self, head: &Head) -> Result<(i64, (i64, Vec<u8>)), Error> {
        if !self.key.head_ok(head) {
            return Err(self.bad("its head does not match its MAC"));
        }
        // A head with a good MAC may still be an older one (a backup restored under a running
        // process): the log must still hold what this process saw.
        let known = self.known().clone();
        if head.count < known.0 {
            return Err(self.bad(&format!(
                "it ends at entry {}, before entry {}, which this process saw: it was rolled \
                 back",
                head.count, known.0
            )));
        }
        let next = head
            .count
            .checked_add(1)
            .ok_or_else(|| self.bad("its entry count is out of range"))?;
        Ok((next, known))
    }

    /// The error for a head whose rows fail the checks of `AuditSigner::check_head`, found
    /// by the statement that appends.
    #[cfg(feature = "postgres")]
    pub(crate) fn rows_changed(&self) -> Error {
        self.bad(
            "its last entry is not the head its MAC names, or it no longer holds the entry this \
             process saw: it was cut short, rolled back or forked",
        )
    }

    fn bad(&self, what: &str) -> Error {
        let location = self.seen.as_ref().map_or("", |s| s.location());
        Error::corrupt(format!(
            "the audit log of the store{}{location} was changed outside coffer: {what}; nothing \
             was written",
            if location.is_empty() { "" } else { " " }
        ))
        .advice(Advice::VerifyAudit)
    }

    /// The hash of entry `seq` and the MAC of the head it makes (whose last policy change is
    /// `policies`).
    #[allow(
        clippy::too_many_arguments,
        reason = "the entry's fields, in their order"
    )]
    pub(crate) fn sign(
        &self,
        seq: i64,
        at: i64,
        keyed_from: i64,
        user: &str,
        verb: &str,
        name: &str,
        detail: &str,
        prev_hash: &[u8],
        policies: Option<i64>,
    ) -> Appended {
        let hash = self
            .key
            .entry_hash(seq, at, user, verb, name, detail, prev_hash);
        let head_mac = self.key.head_mac(seq, keyed_from, &hash, policies);
        Appended { hash, head_mac }
    }

    /// After a commit that made the head `count`, `hash`: moves the home's record on. A
    /// record that cannot be written is logged, not an error (the write has happened).
    pub(crate) fn committed(&self, count: i64, hash: &[u8]) {
        let mut known = self.known();
        if let Some(seen) = &self.seen {
            // The record moves on only from an entry this process's log is known to hold.
            if let Err(e) = seen.record(self.key.store_id(), count, hash, false, known.0) {
                tracing::warn!("cannot record the store's audit head: {e}");
            }
        }
        if count > known.0 {
            *known = (count, hash.to_vec());
        }
    }
}
