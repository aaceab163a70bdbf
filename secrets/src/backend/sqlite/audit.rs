//! The audit log in the SQLite store: the chain of [`crate::store::audit`] in the `audit`
//! table, its head (`audit_count`, `audit_head`) in `meta`.

use rusqlite::{Connection, OptionalExtension as _, params};

use super::{Store, db_error};
use crate::error::Error;
use crate::store::audit::{AuditEntry, HASH_LEN, Verified, entry_hash, user, verify};

/// The count and last hash recorded in `meta`.
fn head(conn: &Connection) -> rusqlite::Result<(i64, Vec<u8>)> {
    let get = |key: &str| -> rusqlite::Result<Option<String>> {
        conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
    };
    let count = get("audit_count")?
        .and_then(|c| c.parse::<i64>().ok())
        .unwrap_or(0);
    let hash = get("audit_head")?
        .and_then(|h| hex::decode(h).ok())
        .unwrap_or_else(|| vec![0; HASH_LEN]);
    Ok((count, hash))
}

/// Appends an entry, inside the caller's (`BEGIN IMMEDIATE`) transaction `tx`.
///
/// # Errors
/// SQLite errors.
pub(crate) fn append(
    tx: &Connection,
    verb: &str,
    name: &str,
    detail: &str,
) -> rusqlite::Result<()> {
    let (count, prev) = head(tx)?;
    let seq = count + 1;
    let at = crate::time::now_unix();
    let user = user();
    let hash = entry_hash(seq, at, user, verb, name, detail, &prev);
    tx.execute(
        "INSERT INTO audit (seq, at, user, verb, name, detail, prev_hash, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![seq, at, user, verb, name, detail, prev, &hash[..]],
    )?;
    for (key, value) in [
        ("audit_count", seq.to_string()),
        ("audit_head", hex::encode(hash)),
    ] {
        tx.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )?;
    }
    Ok(())
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
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(err)?;
        for (verb, name, detail) in entries {
            append(&tx, verb, name, detail).map_err(err)?;
        }
        tx.commit().map_err(err)
    }

    /// Every entry, oldest first.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn audit_entries(&self) -> Result<Vec<AuditEntry>, Error> {
        let conn = self.lock();
        Self::entries_in(&conn).map_err(|e| db_error(&self.path, e))
    }

    fn entries_in(conn: &Connection) -> rusqlite::Result<Vec<AuditEntry>> {
        let mut stmt = conn.prepare(
            "SELECT seq, at, user, verb, name, detail, prev_hash, hash FROM audit ORDER BY seq",
        )?;
        stmt.query_map([], |r| {
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
        })?
        .collect()
    }

    /// Recomputes the chain and checks it against `meta` (one snapshot).
    ///
    /// # Errors
    /// SQLite errors.
    pub fn verify_audit(&self) -> Result<Verified, Error> {
        let err = |e| db_error(&self.path, e);
        let mut conn = self.lock();
        let tx = conn.transaction().map_err(err)?;
        let entries = Self::entries_in(&tx).map_err(err)?;
        let (count, head_hash) = head(&tx).map_err(err)?;
        drop(tx);
        Ok(verify(&entries, count, &head_hash))
    }
}
