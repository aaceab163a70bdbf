//! The path policies of the SQLite store (`policies`, `policy_seal`), sealed as
//! [`crate::store::policy_seal`] says.

use std::sync::Arc;

use rusqlite::{Connection, TransactionBehavior, params};

use super::{SqliteParamStore, audit};
use crate::params::policy::in_the_way;
use crate::params::{ParamPath, ParamResult, Policies, Policy};
use crate::store::key_paths::PathsKey;
use crate::store::policy_seal::{
    self, POLICY_RM_VERB, POLICY_SET_VERB, RawPolicies, RawPolicy, set_mac,
};
use crate::store::rows::range;

/// The policy rows, the seal and the audit head, as read in `conn`'s snapshot.
fn raw_policies(conn: &Connection) -> rusqlite::Result<RawPolicies> {
    let (seq, mac, n): (Option<i64>, Option<Vec<u8>>, i64) = conn
        .prepare_cached(
            "SELECT (SELECT seal_seq FROM policy_seal WHERE one = 1),
                    (SELECT mac FROM policy_seal WHERE one = 1),
                    (SELECT count(*) FROM policies)",
        )?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    let rows = if n == 0 {
        Vec::new()
    } else {
        conn.prepare_cached("SELECT path, key_ref, created_at, author FROM policies")?
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
        head: audit::head(conn)?,
    })
}

impl SqliteParamStore {
    /// The policies as `conn` sees them (in one snapshot: inside a transaction), checked.
    pub(super) fn policies_in(&self, conn: &Connection) -> ParamResult<Policies> {
        let raw = raw_policies(conn).map_err(self.err())?;
        let signer = self.row_key()?;
        policy_seal::check(signer.key(), &self.location_text(), raw)
    }

    pub(super) fn policies_sync(&self) -> ParamResult<Policies> {
        let mut conn = self.store.lock();
        let tx = conn.transaction().map_err(self.err())?;
        self.policies_in(&tx)
    }

    /// The name and key of the current secure version of every parameter at or below `path`
    /// (deleted ones too), as stored: what a policy change must not leave under another key
    /// than the policies give it. Unchecked: they only ever refuse a change.
    fn values_at_or_below(
        &self,
        conn: &Connection,
        path: &ParamPath,
    ) -> ParamResult<Vec<(String, Option<String>)>> {
        let (lo, hi) = range(path);
        conn.prepare_cached(
            "SELECT p.name, v.key_ref FROM params p
             JOIN param_labels c ON c.name = p.name AND c.label = 'current'
             JOIN param_versions v ON v.name = p.name AND v.version = c.version
             WHERE (p.name = ?1 OR (p.name > ?2 AND p.name < ?3))
               AND v.type = 'secure-string' AND v.destroyed_at IS NULL",
        )
        .and_then(|mut st| {
            st.query_map(params![path.as_str(), lo, hi], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?
            .collect()
        })
        .map_err(self.err())
    }

    /// Writes the row that changed (`changed`: a path and its policy, `None` to remove it),
    /// the audit entry `(verb, detail)`, the seal of `set` and the rows of the keys whose
    /// paths change from `old` to `set` ([`Self::reseal_key_paths`]), in the write
    /// transaction `tx`.
    #[allow(
        clippy::too_many_arguments,
        reason = "the change, as its callers have it"
    )]
    fn write_policies(
        &self,
        tx: &Connection,
        old: &Policies,
        set: &Policies,
        changed: (&ParamPath, Option<&Policy>),
        verb: &str,
        detail: &str,
        keys: &[Arc<PathsKey>],
    ) -> ParamResult<Vec<audit::Pending>> {
        let err = self.err();
        in_the_way(set, changed.0, &self.values_at_or_below(tx, changed.0)?)?;
        let row_keys = self.row_keys()?;
        self.remac_moved(
            tx,
            &row_keys.with_policies(old.clone()),
            &row_keys.with_policies(set.clone()),
            &[changed.0.as_str().to_owned()],
        )?;
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
        let pending = audit::append_policy_change(
            tx,
            signer.clone(),
            verb,
            changed.0.as_str(),
            detail,
            &err,
        )?;
        let mac = set_mac(signer.key().policies(), set, pending.seq());
        tx.execute(
            "INSERT INTO policy_seal (one, seal_seq, mac) VALUES (1, ?1, ?2)
             ON CONFLICT (one) DO UPDATE SET seal_seq = excluded.seal_seq, mac = excluded.mac",
            params![pending.seq(), &mac[..]],
        )
        .map_err(&err)?;
        let mut pending = vec![pending];
        pending.extend(self.reseal_key_paths(tx, old, set, keys)?);
        Ok(pending)
    }

    pub(super) fn set_policy_sync(
        &self,
        policy: &Policy,
        keys: &[Arc<PathsKey>],
    ) -> ParamResult<Option<Policy>> {
        let err = self.err();
        let mut conn = self.store.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&err)?;
        let current = self.policies_in(&tx)?;
        if let Some(same) = current.at(&policy.path).filter(|p| p.key == policy.key) {
            return Ok(Some(same.clone()));
        }
        let (set, old) = current.with(policy.clone());
        let detail = policy_seal::set_detail(policy, old.as_ref());
        let pending = self.write_policies(
            &tx,
            &current,
            &set,
            (&policy.path, Some(policy)),
            POLICY_SET_VERB,
            &detail,
            keys,
        )?;
        tx.commit().map_err(&err)?;
        pending.into_iter().for_each(audit::Pending::committed);
        Ok(old)
    }

    pub(super) fn remove_policy_sync(
        &self,
        path: &ParamPath,
        keys: &[Arc<PathsKey>],
    ) -> ParamResult<Policy> {
        let err = self.err();
        let mut conn = self.store.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&err)?;
        let current = self.policies_in(&tx)?;
        let (set, old) = current.without(path);
        let old = old.ok_or_else(|| policy_seal::no_policy(path))?;
        let detail = policy_seal::rm_detail(&old);
        let pending = self.write_policies(
            &tx,
            &current,
            &set,
            (path, None),
            POLICY_RM_VERB,
            &detail,
            keys,
        )?;
        tx.commit().map_err(&err)?;
        pending.into_iter().for_each(audit::Pending::committed);
        Ok(old)
    }
}

/// Seals the policies as their rows are now, to the head's last policy change (coffer's own
/// tests: what a holder of the store's root key could write).
#[cfg(any(test, feature = "test-pause"))]
pub(super) fn reseal_for_tests(
    tx: &Connection,
    signer: &crate::store::audit_signer::AuditSigner,
    err: &dyn Fn(rusqlite::Error) -> crate::error::Error,
) -> Result<(), crate::error::Error> {
    let raw = raw_policies(tx).map_err(err)?;
    let Some(seq) = raw.head.policies else {
        return Ok(());
    };
    let set = Policies::new(
        raw.rows
            .into_iter()
            .filter_map(|r| {
                Some(Policy {
                    path: ParamPath::parse(&r.path).ok()?,
                    key: r.key_ref,
                    created_at: r.created_at,
                    author: r.author,
                })
            })
            .collect(),
    );
    let mac = set_mac(signer.key().policies(), &set, seq);
    tx.execute(
        "UPDATE policy_seal SET seal_seq = ?1, mac = ?2 WHERE one = 1",
        params![seq, &mac[..]],
    )
    .map_err(err)?;
    Ok(())
}
