//! The audit log of a PostgreSQL store: the chain of [`crate::store::audit`], in the `audit`
//! table, with its head (`audit_count`, `audit_head`) in `meta`.
//!
//! An append is two statements whatever the number of entries: the first locks the head in
//! the store's lock order ([`super::tx`]: `audit_count`, which is the write lock, then
//! `audit_head`) and reads it, and its MAC is checked; the second checks the rows (the last
//! entry is the head, the entry this process saw last is still there: see
//! `AuditSigner::check_head`), and only if they hold inserts the entries and moves the head.
//! Between the two only the hashes are computed, so the lock is held for two round trips and
//! the commit.

use std::sync::Arc;

use tokio_postgres::{GenericClient, Transaction};

use super::tx::pg_error;
use crate::error::Error;
use crate::store::audit::{self as chain, AuditEntry, AuditKey, AuditTip, HASH_LEN, Head};
use crate::store::audit_signer::AuditSigner;

/// Reads the head: `SELECT … ORDER BY key`, locking with `FOR UPDATE` when `lock` (the sort
/// comes before the locking, so the rows are locked in key order: `audit_count` first).
pub async fn head(c: &impl GenericClient, lock: bool) -> Result<Head, tokio_postgres::Error> {
    let sql = if lock {
        "SELECT key, value FROM meta WHERE key IN ('audit_count', 'audit_head', \
         'audit_head_mac', 'audit_keyed_from', 'audit_policies') ORDER BY key FOR UPDATE"
    } else {
        "SELECT key, value FROM meta WHERE key IN ('audit_count', 'audit_head', \
         'audit_head_mac', 'audit_keyed_from', 'audit_policies')"
    };
    // `try_get`: a column made nullable or retyped by someone else is an error, not a panic.
    let rows: Vec<(String, String)> = c
        .query(sql, &[])
        .await?
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect::<Result<_, tokio_postgres::Error>>()?;
    Ok(Head::from_meta(
        rows.iter().map(|(k, v)| (k.as_str(), v.as_str())),
    ))
}

/// Entries appended in a transaction: recorded in the home once the transaction commits.
#[must_use = "call `committed` after the commit"]
pub(crate) struct Pending {
    signer: Arc<AuditSigner>,
    seq: i64,
    hash: Vec<u8>,
}

impl Pending {
    /// The (last) entry's sequence number.
    pub(crate) fn seq(&self) -> i64 {
        self.seq
    }

    /// The transaction committed.
    pub(crate) fn committed(self) {
        self.signer.committed(self.seq, &self.hash);
    }
}

/// Appends an entry signed by `signer` inside `tx`.
///
/// # Errors
/// As [`append_many`].
pub async fn append(
    tx: &Transaction<'_>,
    signer: Arc<AuditSigner>,
    verb: &str,
    name: &str,
    detail: &str,
    err: &(dyn Fn(tokio_postgres::Error) -> Error + Sync),
) -> Result<Pending, Error> {
    append_list(tx, signer, &[(verb, name, detail.to_owned())], false, err).await
}

/// As [`append`], for a change of the path policies: the head records the entry as the last
/// policy change ([`crate::store::policy_seal`]).
///
/// # Errors
/// As [`append_many`].
pub async fn append_policy_change(
    tx: &Transaction<'_>,
    signer: Arc<AuditSigner>,
    verb: &str,
    name: &str,
    detail: &str,
    err: &(dyn Fn(tokio_postgres::Error) -> Error + Sync),
) -> Result<Pending, Error> {
    let pending = append_list(tx, signer, &[(verb, name, detail.to_owned())], true, err).await?;
    tx.execute(
        "INSERT INTO meta (key, value) VALUES ($1, $2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        &[&chain::POLICIES_KEY, &pending.seq.to_string()],
    )
    .await
    .map_err(err)?;
    Ok(pending)
}

/// Appends entries `(verb, name, detail)` signed by `signer` inside `tx`, in two statements
/// (see the module docs); takes the write lock if the transaction has not yet. The head they
/// extend is checked first (`AuditSigner::check_head`): a head changed in the database
/// since the store was opened is refused, never signed.
///
/// # Errors
/// A head that fails its check; SQL errors (through `err`).
pub async fn append_many(
    tx: &Transaction<'_>,
    signer: Arc<AuditSigner>,
    list: &[(&str, &str, String)],
    err: &(dyn Fn(tokio_postgres::Error) -> Error + Sync),
) -> Result<Pending, Error> {
    append_list(tx, signer, list, false, err).await
}

/// As [`append_many`]; with `policy_change`, the head it makes names its last entry as the
/// last policy change (the caller records it in `meta`).
async fn append_list(
    tx: &Transaction<'_>,
    signer: Arc<AuditSigner>,
    list: &[(&str, &str, String)],
    policy_change: bool,
    err: &(dyn Fn(tokio_postgres::Error) -> Error + Sync),
) -> Result<Pending, Error> {
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
    let head = head(tx, true).await.map_err(err)?;
    // The rows (the last entry is the head; the entry this process saw is still there) are
    // checked by the statement that appends, after the lock: a round trip less.
    let (_, (known, known_hash)) = signer.check_head_mac(&head)?;
    let last_hash: Option<Vec<u8>> = (head.count > 0).then(|| head.hash.clone());
    let (mut count, mut prev) = (head.count, head.hash);
    // The time after the lock: entries are in time order as well as in sequence.
    let at = crate::time::now_unix();
    let mut seqs = Vec::with_capacity(n);
    let (mut prevs, mut hashes): (Vec<Vec<u8>>, Vec<Vec<u8>>) =
        (Vec::with_capacity(n), Vec::with_capacity(n));
    let mut head_mac = [0u8; HASH_LEN];
    let policies = if policy_change {
        i64::try_from(n)
            .ok()
            .and_then(|n| count.checked_add(n))
            .map(Some)
            .ok_or_else(|| crate::store::audit::bad_count(""))?
    } else {
        head.policies
    };
    for (verb, name, detail) in list {
        count = count
            .checked_add(1)
            .ok_or_else(|| crate::store::audit::bad_count(""))?;
        // Only the last entry's head is recorded.
        let signed = signer.sign(
            count,
            at,
            head.keyed_from,
            user,
            verb,
            name,
            detail,
            &prev,
            policies,
        );
        head_mac = signed.head_mac;
        seqs.push(count);
        prevs.push(std::mem::replace(&mut prev, signed.hash.to_vec()));
        hashes.push(signed.hash.to_vec());
    }
    let updated = tx
        .execute(
            "WITH ok AS (
             SELECT coalesce((SELECT max(seq) FROM audit_chain), 0) = $12::bigint
                AND (SELECT hash FROM audit_chain WHERE seq = $12::bigint)
                    IS NOT DISTINCT FROM $13::bytea
                AND ($14::bigint = 0
                     OR (SELECT hash FROM audit_chain WHERE seq = $14::bigint) = $15::bytea)
                AS ok),
         added AS (
             INSERT INTO audit (seq, at, actor, verb, name, detail, prev_hash, hash)
             SELECT seq, $2, $3, verb, name, detail, prev_hash, hash
             FROM unnest($1::bigint[], $4::text[], $5::text[], $6::text[], $7::bytea[],
                         $8::bytea[])
                  AS t (seq, verb, name, detail, prev_hash, hash)
             WHERE (SELECT ok FROM ok))
         UPDATE meta SET value = CASE key WHEN 'audit_count' THEN $9
                                          WHEN 'audit_head' THEN $10 ELSE $11 END
         WHERE key IN ('audit_count', 'audit_head', 'audit_head_mac') AND (SELECT ok FROM ok)",
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
                &hex::encode(head_mac),
                &head.count,
                &last_hash,
                &known,
                &known_hash,
            ],
        )
        .await
        .map_err(err)?;
    if updated != 3 {
        return Err(signer.rows_changed());
    }
    Ok(Pending {
        signer,
        seq: count,
        hash: prev,
    })
}

/// The audit state for a home's checks, in one statement (so one snapshot and one round
/// trip): the meta rows, the entry `seen` and the last entry; and the root key's id, if
/// recorded (which the keys' opening asks for next).
pub async fn tip(
    c: &impl GenericClient,
    seen: Option<i64>,
) -> Result<(AuditTip, Option<String>), tokio_postgres::Error> {
    let rows = c
        .query(
            "SELECT key, value, NULL::bigint, NULL::bytea, false FROM meta
             WHERE key IN ('store_id', 'audit_key', 'audit_key_format', 'audit_count',
                           'audit_head', 'audit_head_mac', 'audit_keyed_from',
                           'audit_policies', 'root_id')
             UNION ALL
             SELECT NULL, NULL, seq, hash, seq = (SELECT max(seq) FROM audit_chain)
             FROM audit_chain
             WHERE seq = $1 OR seq = (SELECT max(seq) FROM audit_chain)",
            &[&seen.unwrap_or(0)],
        )
        .await?;
    let (mut store_id, mut wrapped_key, mut format, mut root_id) = (None, None, None, None);
    let mut meta: Vec<(String, String)> = Vec::new();
    let (mut at_seen, mut last) = (None, None);
    for row in &rows {
        let key: Option<String> = row.try_get(0)?;
        if let Some(key) = key {
            let value: String = row.try_get(1)?;
            match key.as_str() {
                "store_id" => store_id = Some(value),
                "audit_key" => wrapped_key = Some(hex::decode(value).unwrap_or_default()),
                "audit_key_format" => format = Some(value),
                "root_id" => root_id = Some(value),
                _ => meta.push((key, value)),
            }
            continue;
        }
        let (seq, hash, is_last): (i64, Vec<u8>, bool) =
            (row.try_get(2)?, row.try_get(3)?, row.try_get(4)?);
        if Some(seq) == seen {
            at_seen = Some(hash.clone());
        }
        if is_last {
            last = Some((seq, hash));
        }
    }
    let head = Head::from_meta(meta.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let tip = AuditTip {
        store_id,
        wrapped_key,
        key_format: chain::key_format(format.as_deref()),
        head,
        at_seen,
        last,
    };
    Ok((tip, root_id))
}

/// See [`crate::store::KeyTable::create_audit_key`], inside `tx`: `false` if there is one.
pub async fn create_key(
    tx: &Transaction<'_>,
    store_id: &str,
    wrapped: &[u8],
    key: &Arc<AuditKey>,
    err: &(dyn Fn(tokio_postgres::Error) -> Error + Sync),
) -> Result<bool, Error> {
    let head = head(tx, true).await.map_err(err)?;
    let exists = tx
        .query_opt("SELECT 1 FROM meta WHERE key = 'audit_key'", &[])
        .await
        .map_err(err)?
        .is_some();
    if exists {
        return Ok(false);
    }
    let keyed_from = head
        .count
        .checked_add(1)
        .filter(|_| head.count >= 0)
        .ok_or_else(|| chain::bad_count(""))?;
    tx.execute(
        "INSERT INTO meta (key, value)
         SELECT * FROM unnest($1::text[], $2::text[])
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        &[
            &vec![
                "store_id",
                "audit_key",
                "audit_key_format",
                "audit_keyed_from",
                "audit_head_mac",
            ],
            &vec![
                store_id.to_owned(),
                hex::encode(wrapped),
                chain::KEY_FORMAT_SEALED.to_string(),
                keyed_from.to_string(),
                hex::encode(key.head_mac(head.count, keyed_from, &head.hash, head.policies)),
            ],
        ],
    )
    .await
    .map_err(err)?;
    if head.count > 0 {
        let signer = Arc::new(AuditSigner::new(
            key.clone(),
            None,
            (head.count, head.hash.clone()),
        ));
        let _ = append(
            tx,
            signer,
            chain::REKEY_VERB,
            "audit",
            &crate::store::audit_key::rekey_detail(head.count),
            err,
        )
        .await?;
    }
    Ok(true)
}

/// The entry in the columns `at..at + 8` of `r` (`seq, at, actor, verb, name, detail,
/// prev_hash, hash`), if `seq` is not `NULL`.
pub fn entry_at(
    r: &tokio_postgres::Row,
    at: usize,
) -> Result<Option<AuditEntry>, tokio_postgres::Error> {
    let Some(seq) = r.try_get::<_, Option<i64>>(at)? else {
        return Ok(None);
    };
    Ok(Some(AuditEntry {
        seq,
        at: r.try_get(at + 1)?,
        user: r.try_get(at + 2)?,
        verb: r.try_get(at + 3)?,
        name: r.try_get(at + 4)?,
        detail: r.try_get(at + 5)?,
        prev_hash: r.try_get(at + 6)?,
        hash: r.try_get(at + 7)?,
    }))
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
    rows.iter()
        .map(|r| {
            Ok(AuditEntry {
                seq: r.try_get(0)?,
                at: r.try_get(1)?,
                user: r.try_get(2)?,
                verb: r.try_get(3)?,
                name: r.try_get(4)?,
                detail: r.try_get(5)?,
                prev_hash: r.try_get(6)?,
                hash: r.try_get(7)?,
            })
        })
        .collect::<Result<_, tokio_postgres::Error>>()
        .map_err(|e| pg_error(location, &e))
}
