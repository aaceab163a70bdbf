//! The audit log of a PostgreSQL store: the chain of [`crate::store::audit`], in the `audit`
//! table, with its head (`audit_count`, `audit_head`) in `meta`.
//!
//! An append is two statements whatever the number of entries: the first locks the head in
//! the store's lock order ([`super::tx`]: `audit_count`, which is the write lock, then
//! `audit_head`) and reads it; the second inserts the entries and moves the head. Between the
//! two only the hashes are computed, so the lock is held for two round trips and the commit.

use tokio_postgres::{GenericClient, Transaction};

use super::tx::pg_error;
use crate::error::Error;
use crate::store::audit::{self as chain, AuditEntry, HASH_LEN};

/// Reads the head: `SELECT … ORDER BY key`, locking with `FOR UPDATE` when `lock` (the sort
/// comes before the locking, so the rows are locked in key order: `audit_count` first).
pub async fn head(
    c: &impl GenericClient,
    lock: bool,
) -> Result<(i64, Vec<u8>), tokio_postgres::Error> {
    let sql = if lock {
        "SELECT key, value FROM meta WHERE key IN ('audit_count', 'audit_head') ORDER BY key
         FOR UPDATE"
    } else {
        "SELECT key, value FROM meta WHERE key IN ('audit_count', 'audit_head')"
    };
    let mut count = 0;
    let mut hash = vec![0; HASH_LEN];
    for row in c.query(sql, &[]).await? {
        let (key, value): (String, String) = (row.get(0), row.get(1));
        match key.as_str() {
            "audit_count" => count = value.parse().unwrap_or(0),
            _ => hash = hex::decode(value).unwrap_or_else(|_| vec![0; HASH_LEN]),
        }
    }
    Ok((count, hash))
}

/// Appends an entry inside `tx`.
pub async fn append(
    tx: &Transaction<'_>,
    verb: &str,
    name: &str,
    detail: &str,
) -> Result<(), tokio_postgres::Error> {
    append_many(tx, &[(verb, name, detail.to_owned())]).await
}

/// Appends entries `(verb, name, detail)` inside `tx`, in two statements (see the module
/// docs); takes the write lock if the transaction has not yet.
pub async fn append_many(
    tx: &Transaction<'_>,
    list: &[(&str, &str, String)],
) -> Result<(), tokio_postgres::Error> {
    let n = list.len();
    let user = chain::user();
    let (mut verbs, mut names, mut details) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for (verb, name, detail) in list {
        verbs.push(*verb);
        names.push(*name);
        details.push(detail.as_str());
    }
    let (mut count, mut prev) = head(tx, true).await?;
    // The time after the lock: entries are in time order as well as in sequence.
    let at = crate::time::now_unix();
    let mut seqs = Vec::with_capacity(n);
    let (mut prevs, mut hashes): (Vec<Vec<u8>>, Vec<Vec<u8>>) =
        (Vec::with_capacity(n), Vec::with_capacity(n));
    for (verb, name, detail) in list {
        count += 1;
        let hash = chain::entry_hash(count, at, user, verb, name, detail, &prev);
        seqs.push(count);
        prevs.push(std::mem::replace(&mut prev, hash.to_vec()));
        hashes.push(hash.to_vec());
    }
    tx.execute(
        "WITH added AS (
             INSERT INTO audit (seq, at, actor, verb, name, detail, prev_hash, hash)
             SELECT seq, $2, $3, verb, name, detail, prev_hash, hash
             FROM unnest($1::bigint[], $4::text[], $5::text[], $6::text[], $7::bytea[],
                         $8::bytea[])
                  AS t (seq, verb, name, detail, prev_hash, hash))
         UPDATE meta SET value = CASE key WHEN 'audit_count' THEN $9 ELSE $10 END
         WHERE key IN ('audit_count', 'audit_head')",
        &[
            &seqs,
            &at,
            &user,
            &verbs,
            &names,
            &details,
            &prevs,
            &hashes,
            &count.to_string(),
            &hex::encode(&prev),
        ],
    )
    .await?;
    Ok(())
}

/// Every entry, oldest first.
pub async fn entries(c: &impl GenericClient, location: &str) -> Result<Vec<AuditEntry>, Error> {
    let rows = c
        .query(
            "SELECT seq, at, actor, verb, name, detail, prev_hash, hash FROM audit ORDER BY seq",
            &[],
        )
        .await
        .map_err(|e| pg_error(location, &e))?;
    Ok(rows
        .iter()
        .map(|r| AuditEntry {
            seq: r.get(0),
            at: r.get(1),
            user: r.get(2),
            verb: r.get(3),
            name: r.get(4),
            detail: r.get(5),
            prev_hash: r.get(6),
            hash: r.get(7),
        })
        .collect())
}
