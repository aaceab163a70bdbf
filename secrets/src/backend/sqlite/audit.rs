//! The audit log in the SQLite store: the chain of [`crate::store::audit`] in the `audit`
//! table, its head (`audit_count`, `audit_head`) in `meta`.

use std::sync::Arc;

use rusqlite::{Connection, OptionalExtension as _, params};

use super::{Store, db_error};
use crate::error::Error;
use crate::store::audit::{
    AuditEntry, AuditKey, AuditTip, HASH_LEN, Head, KEY_FORMAT_KEYS_SEALED, KEY_FORMAT_SEALED,
    POLICIES_KEY, key_format, user,
};
use crate::store::audit_signer::AuditSigner;
use crate::store::key_seal::{self, History};

/// The head recorded in `meta`.
pub(super) fn head(conn: &Connection) -> rusqlite::Result<Head> {
    let mut stmt = conn.prepare_cached(
        "SELECT key, value FROM meta WHERE key IN ('audit_count', 'audit_head', \
         'audit_head_mac', 'audit_keyed_from', 'audit_policies')",
    )?;
    let rows: Vec<(String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(Head::from_meta(
        rows.iter().map(|(k, v)| (k.as_str(), v.as_str())),
    ))
}

/// An entry, from the columns `seq, at, user, verb, name, detail, prev_hash, hash`.
pub(super) fn entry_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AuditEntry> {
    Ok(AuditEntry {
        seq: r.get(0)?,
        at: r.get(1)?,
        user: r.get(2)?,
        verb: r.get(3)?,
        name: r.get(4)?,
        detail: r.get(5)?,
        prev_hash: r.get(6)?,
        hash: r.get(7)?,
    })
}

/// An entry appended in a transaction: recorded in the home once the transaction commits.
#[must_use = "call `committed` after the commit"]
pub(crate) struct Pending {
    signer: Arc<AuditSigner>,
    seq: i64,
    hash: [u8; HASH_LEN],
}

impl Pending {
    /// The entry's sequence number.
    pub(crate) fn seq(&self) -> i64 {
        self.seq
    }

    /// The transaction committed.
    pub(crate) fn committed(self) {
        self.signer.committed(self.seq, &self.hash);
    }
}

/// Appends an entry signed by `signer`, inside the caller's (`BEGIN IMMEDIATE`) transaction
/// `tx`, after checking the head it extends (see `AuditSigner::check_head`): a head
/// changed in the database since the store was opened is refused, never signed.
///
/// # Errors
/// A head that fails its check; SQLite errors (through `err`).
pub(crate) fn append(
    tx: &Connection,
    signer: Arc<AuditSigner>,
    verb: &str,
    name: &str,
    detail: &str,
    err: &dyn Fn(rusqlite::Error) -> Error,
) -> Result<Pending, Error> {
    append_all(tx, signer, &[(verb, name, detail)], false, err)
}

/// As [`append`], for a change of the path policies: the head records the entry as the
/// last policy change ([`crate::store::policy_seal`]).
///
/// # Errors
/// As [`append`].
pub(crate) fn append_policy_change(
    tx: &Connection,
    signer: Arc<AuditSigner>,
    verb: &str,
    name: &str,
    detail: &str,
    err: &dyn Fn(rusqlite::Error) -> Error,
) -> Result<Pending, Error> {
    append_all(tx, signer, &[(verb, name, detail)], true, err)
}

/// As [`append`], one entry per `(verb, name, detail)` in order: the head is checked once,
/// each entry extends the one before, and the head recorded is the last one's (with it as
/// the last policy change if `policy_change`).
///
/// # Errors
/// As [`append`]; no entries (nothing to record).
fn append_all(
    tx: &Connection,
    signer: Arc<AuditSigner>,
    entries: &[(&str, &str, &str)],
    policy_change: bool,
    err: &dyn Fn(rusqlite::Error) -> Error,
) -> Result<Pending, Error> {
    let head = head(tx).map_err(err)?;
    let last: Option<(i64, Vec<u8>)> = tx
        .prepare_cached("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")
        .map_err(err)?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()
        .map_err(err)?;
    let known = signer.known_seq();
    let at_known: Option<Vec<u8>> = if known > 0 {
        tx.prepare_cached("SELECT hash FROM audit WHERE seq = ?1")
            .map_err(err)?
            .query_row([known], |r| r.get(0))
            .optional()
            .map_err(err)?
    } else {
        None
    };
    let mut seq = signer.check_head(&head, last.as_ref(), at_known.as_deref())?;
    let at = crate::time::now_unix();
    let user = user();
    let mut insert = tx
        .prepare_cached(
            "INSERT INTO audit (seq, at, user, verb, name, detail, prev_hash, hash)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )
        .map_err(err)?;
    let mut prev = head.hash;
    let mut signed = None;
    let last = i64::try_from(entries.len())
        .ok()
        .and_then(|n| seq.checked_add(n - 1))
        .ok_or_else(|| Error::corrupt("the audit log has no sequence numbers left"))?;
    let policies = if policy_change {
        Some(last)
    } else {
        head.policies
    };
    for (i, (verb, name, detail)) in entries.iter().enumerate() {
        if i > 0 {
            seq = seq
                .checked_add(1)
                .ok_or_else(|| Error::corrupt("the audit log has no sequence numbers left"))?;
        }
        // Only the last entry's head is recorded.
        let s = signer.sign(
            seq,
            at,
            head.keyed_from,
            user,
            verb,
            name,
            detail,
            &prev,
            policies,
        );
        insert
            .execute(params![
                seq,
                at,
                user,
                verb,
                name,
                detail,
                prev,
                &s.hash[..]
            ])
            .map_err(err)?;
        prev = s.hash.to_vec();
        signed = Some(s);
    }
    let signed =
        signed.ok_or_else(|| Error::backend("internal error: no audit entry to append"))?;
    let mut set = tx
        .prepare_cached(
            "INSERT INTO meta (key, value) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .map_err(err)?;
    for (key, value) in [
        ("audit_count", seq.to_string()),
        ("audit_head", hex::encode(signed.hash)),
        ("audit_head_mac", hex::encode(signed.head_mac)),
    ] {
        set.execute(params![key, value]).map_err(err)?;
    }
    if policy_change {
        set.execute(params![POLICIES_KEY, seq.to_string()])
            .map_err(err)?;
    }
    Ok(Pending {
        signer,
        seq,
        hash: signed.hash,
    })
}

impl Store {
    /// Appends one entry per `(verb, name, detail)` in one `BEGIN IMMEDIATE` transaction
    /// (reads of secure values, which change nothing else).
    ///
    /// # Errors
    /// SQLite errors.
    pub fn audit_many(&self, entries: &[(&str, &str, String)]) -> Result<(), Error> {
        if entries.is_empty() {
            return Ok(());
        }
        let err = |e| db_error(&self.path, e);
        let signer = self.signer()?;
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(err)?;
        let entries: Vec<(&str, &str, &str)> = entries
            .iter()
            .map(|(verb, name, detail)| (*verb, *name, detail.as_str()))
            .collect();
        let last = append_all(&tx, signer, &entries, false, &err)?;
        tx.commit().map_err(err)?;
        last.committed();
        Ok(())
    }

    /// Every entry, oldest first.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn audit_entries(&self) -> Result<Vec<AuditEntry>, Error> {
        let conn = self.lock();
        Self::entries_in(&conn).map_err(|e| db_error(&self.path, e))
    }

    pub(super) fn entries_in(conn: &Connection) -> rusqlite::Result<Vec<AuditEntry>> {
        let mut stmt = conn.prepare(
            "SELECT seq, at, user, verb, name, detail, prev_hash, hash FROM audit ORDER BY seq",
        )?;
        stmt.query_map([], entry_row)?.collect()
    }

    /// Every entry and the head (one snapshot).
    ///
    /// # Errors
    /// SQLite errors.
    pub fn audit_log(&self) -> Result<(Vec<AuditEntry>, Head), Error> {
        let err = |e| db_error(&self.path, e);
        let mut conn = self.lock();
        let tx = conn.transaction().map_err(err)?;
        let entries = Self::entries_in(&tx).map_err(err)?;
        let head = head(&tx).map_err(err)?;
        drop(tx);
        Ok((entries, head))
    }

    /// The audit state for a home's checks (one snapshot).
    ///
    /// # Errors
    /// SQLite errors.
    pub fn audit_tip(&self, seen: Option<i64>) -> Result<AuditTip, Error> {
        let err = |e| db_error(&self.path, e);
        let mut conn = self.lock();
        let tx = conn.transaction().map_err(err)?;
        let get = |key: &str| -> rusqlite::Result<Option<String>> {
            tx.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
                .optional()
        };
        let store_id = get("store_id").map_err(err)?;
        let wrapped_key = get("audit_key")
            .map_err(err)?
            .map(|k| hex::decode(k).unwrap_or_default());
        let key_format = key_format(get("audit_key_format").map_err(err)?.as_deref());
        let head = head(&tx).map_err(err)?;
        let hash_at = |seq: i64| -> rusqlite::Result<Option<Vec<u8>>> {
            tx.query_row("SELECT hash FROM audit WHERE seq = ?1", [seq], |r| r.get(0))
                .optional()
        };
        let at_seen = match seen {
            Some(seq) => hash_at(seq).map_err(err)?,
            None => None,
        };
        let last = tx
            .query_row(
                "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(err)?;
        drop(tx);
        Ok(AuditTip {
            store_id,
            wrapped_key,
            key_format,
            head,
            at_seen,
            last,
        })
    }

    /// See [`crate::store::KeyTable::create_audit_key`].
    ///
    /// # Errors
    /// SQLite errors.
    pub fn create_audit_key(
        &self,
        store_id: &str,
        wrapped: &[u8],
        key: &Arc<AuditKey>,
        history: &History,
    ) -> Result<bool, Error> {
        let err = |e| db_error(&self.path, e);
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(err)?;
        let exists: Option<String> = tx
            .query_row("SELECT value FROM meta WHERE key = 'audit_key'", [], |r| {
                r.get(0)
            })
            .optional()
            .map_err(err)?;
        if exists.is_some() {
            return Ok(false);
        }
        let head = head(&tx).map_err(err)?;
        let keyed_from = head
            .count
            .checked_add(1)
            .filter(|_| head.count >= 0)
            .ok_or_else(|| crate::store::audit::bad_count(&self.path.display().to_string()))?;
        let mut set = tx
            .prepare(
                "INSERT INTO meta (key, value) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            )
            .map_err(err)?;
        for (k, v) in [
            ("store_id", store_id.to_owned()),
            ("audit_key", hex::encode(wrapped)),
            ("audit_key_format", KEY_FORMAT_SEALED.to_string()),
            ("audit_keyed_from", keyed_from.to_string()),
            (
                "audit_head_mac",
                hex::encode(key.head_mac(head.count, keyed_from, &head.hash, head.policies)),
            ),
        ] {
            set.execute(params![k, v]).map_err(err)?;
        }
        drop(set);
        let signer = Arc::new(AuditSigner::new(
            key.clone(),
            None,
            (head.count, head.hash.clone()),
        ));
        if head.count > 0 {
            let _ = append(
                &tx,
                signer.clone(),
                crate::store::audit::REKEY_VERB,
                "audit",
                &crate::store::audit_key::rekey_detail(head.count),
                &err,
            )?;
        }
        let _ = self.seal_all(&tx, &signer, Some(history), None)?;
        let _ = self.seal_params(&tx, &signer, true)?;
        tx.commit().map_err(err)?;
        Ok(true)
    }

    /// See [`crate::store::KeyTable::seal_rows`].
    ///
    /// # Errors
    /// A head changed since the store was opened; damaged rows; SQLite errors.
    pub fn seal_rows(
        &self,
        wrapped_old: &[u8],
        wrapped_new: &[u8],
        history: &History,
    ) -> Result<bool, Error> {
        let err = |e| db_error(&self.path, e);
        let signer = self.signer()?;
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(err)?;
        let stored: Option<(String, Option<String>)> = tx
            .query_row(
                "SELECT value, (SELECT value FROM meta WHERE key = 'audit_key_format')
                 FROM meta WHERE key = 'audit_key'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(err)?;
        let Some((stored_key, format)) = stored else {
            return Ok(false);
        };
        let format = key_format(format.as_deref());
        if stored_key != hex::encode(wrapped_old) || format == KEY_FORMAT_SEALED {
            return Ok(false);
        }
        if format != KEY_FORMAT_KEYS_SEALED {
            let _ = append(
                &tx,
                signer.clone(),
                key_seal::STORE_SEAL_VERB,
                key_seal::STORE_SEAL_NAME,
                key_seal::STORE_SEAL_DETAIL,
                &err,
            )?;
            let _ = self.seal_all(&tx, &signer, Some(history), None)?;
        }
        let last = self.seal_params(&tx, &signer, false)?;
        tx.execute(
            "UPDATE meta SET value = ?1 WHERE key = 'audit_key'",
            [hex::encode(wrapped_new)],
        )
        .map_err(err)?;
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('audit_key_format', ?1)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [KEY_FORMAT_SEALED.to_string()],
        )
        .map_err(err)?;
        tx.commit().map_err(err)?;
        if let Some(last) = last {
            last.committed();
        }
        Ok(true)
    }
}
