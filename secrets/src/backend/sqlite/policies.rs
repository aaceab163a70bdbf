//! The path policies of the SQLite store (`policies`, `policy_seal`), sealed as
//! [`crate::store::policy_seal`] says.

use rusqlite::{Connection, TransactionBehavior, params};

use super::{SqliteParamStore, audit};
use crate::params::{ParamPath, ParamResult, Policies, Policy};
use crate::store::policy_seal::{
    self, POLICY_RM_VERB, POLICY_SET_VERB, POLICY_VERBS_SQL, RawPolicies, RawPolicy, set_mac,
};

/// The seal, the last policy change and the number of rows, in one row.
fn summary_sql() -> String {
    format!(
        "SELECT (SELECT seal_seq FROM policy_seal WHERE one = 1),
                (SELECT mac FROM policy_seal WHERE one = 1),
                (SELECT max(seq) FROM audit WHERE {POLICY_VERBS_SQL}),
                (SELECT count(*) FROM policies)"
    )
}

/// The policy rows, the seal and the last policy change, as read in `conn`'s snapshot.
fn raw_policies(conn: &Connection) -> rusqlite::Result<RawPolicies> {
    let (seq, mac, last_change, n): (Option<i64>, Option<Vec<u8>>, Option<i64>, i64) = conn
        .prepare_cached(&summary_sql())?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
    let rows = if n == 0 {
        Vec::new()
    } else {
        conn.prepare_cached("SELECT path, key_ref, created_at, author FROM policies ORDER BY path")?
            .query_map([], |r| {
                Ok(RawPolicy {
                    path: r.get(0)?,
                    key_ref: r.get(1)?,
                    created_at: r.get(2)?,
                    author: r.get(3)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?
    };
    Ok(RawPolicies {
        rows,
        seal: seq.zip(mac),
        last_change,
    })
}

impl SqliteParamStore {
    /// The policies as `conn` sees them (in one snapshot: inside a transaction), checked.
    fn policies_in(&self, conn: &Connection) -> ParamResult<Policies> {
        let raw = raw_policies(conn).map_err(self.err())?;
        let signer = self.row_key()?;
        policy_seal::check(signer.key().policies(), &self.location_text(), raw)
    }

    pub(super) fn policies_sync(&self) -> ParamResult<Policies> {
        let mut conn = self.store.lock();
        let tx = conn.transaction().map_err(self.err())?;
        self.policies_in(&tx)
    }

    /// Writes the rows of `set` that changed (`changed`: a path and its policy, `None` to
    /// remove it), the audit entry `(verb, detail)` and the seal of `set`, in `conn`'s
    /// write transaction.
    fn write_policies(
        &self,
        tx: &Connection,
        set: &Policies,
        changed: (&ParamPath, Option<&Policy>),
        verb: &str,
        detail: &str,
    ) -> ParamResult<audit::Pending> {
        let err = self.err();
        match changed {
            (_, Some(p)) => tx
                .execute(
                    "INSERT INTO policies (path, key_ref, created_at, author)
                     VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (path) DO UPDATE SET key_ref = excluded.key_ref,
                       created_at = excluded.created_at, author = excluded.author",
                    params![p.path.as_str(), p.key, p.created_at, p.author],
                )
                .map_err(&err)?,
            (path, None) => tx
                .execute("DELETE FROM policies WHERE path = ?1", [path.as_str()])
                .map_err(&err)?,
        };
        let signer = self.row_key()?;
        let pending = audit::append(tx, signer.clone(), verb, changed.0.as_str(), detail, &err)?;
        let mac = set_mac(signer.key().policies(), set, pending.seq());
        tx.execute(
            "INSERT INTO policy_seal (one, seal_seq, mac) VALUES (1, ?1, ?2)
             ON CONFLICT (one) DO UPDATE SET seal_seq = excluded.seal_seq, mac = excluded.mac",
            params![pending.seq(), &mac[..]],
        )
        .map_err(&err)?;
        Ok(pending)
    }

    pub(super) fn set_policy_sync(&self, policy: &Policy) -> ParamResult<Option<Policy>> {
        let err = self.err();
        let mut conn = self.store.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&err)?;
        let (set, old) = self.policies_in(&tx)?.with(policy.clone());
        let detail = policy_seal::set_detail(policy, old.as_ref());
        let pending = self.write_policies(
            &tx,
            &set,
            (&policy.path, Some(policy)),
            POLICY_SET_VERB,
            &detail,
        )?;
        tx.commit().map_err(&err)?;
        pending.committed();
        Ok(old)
    }

    pub(super) fn remove_policy_sync(&self, path: &ParamPath) -> ParamResult<Policy> {
        let err = self.err();
        let mut conn = self.store.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&err)?;
        let (set, old) = self.policies_in(&tx)?.without(path);
        let old = old.ok_or_else(|| policy_seal::no_policy(path))?;
        let detail = policy_seal::rm_detail(&old);
        let pending = self.write_policies(&tx, &set, (path, None), POLICY_RM_VERB, &detail)?;
        tx.commit().map_err(&err)?;
        pending.committed();
        Ok(old)
    }
}
