//! The path policies of the PostgreSQL store (`policies`, `policy_seal`), sealed as
//! [`crate::store::policy_seal`] says.

use std::sync::Arc;

use tokio_postgres::{GenericClient, Transaction};

use super::PgStore;
use super::audit::{Pending, append_policy_change};
use super::tx::lock_writes;
use crate::params::policy::in_the_way;
use crate::params::{ParamPath, ParamResult, Policies, Policy};
use crate::store::audit::Head;
use crate::store::key_paths::PathsKey;
use crate::store::policy_seal::{
    self, POLICY_RM_VERB, POLICY_SET_VERB, RawPolicies, RawPolicy, set_mac,
};
use crate::store::rows::range;

impl PgStore {
    /// The policy rows, the seal and the audit head, read in one statement (so one snapshot
    /// and one round trip, on every read of a value), checked.
    pub(super) async fn policies_in(&self, c: &impl GenericClient) -> ParamResult<Policies> {
        let err = self.perr();
        let rows = c
            .query(
                "SELECT 0, NULL::text, NULL::text, NULL::text, seal_seq, mac FROM policy_seal
                 WHERE one = 1
                 UNION ALL
                 SELECT 1, path, key_ref, author, created_at, NULL FROM policies
                 UNION ALL
                 SELECT 2, key, value, NULL, NULL, NULL FROM meta
                 WHERE key IN ('audit_count', 'audit_head', 'audit_head_mac', 'audit_keyed_from',
                               'audit_policies')",
                &[],
            )
            .await
            .map_err(&err)?;
        let (mut seal, mut policies, mut meta) = (None, Vec::new(), Vec::new());
        for r in &rows {
            let kind: i32 = r.try_get(0).map_err(&err)?;
            match kind {
                0 => {
                    let seq: Option<i64> = r.try_get(4).map_err(&err)?;
                    let mac: Option<Vec<u8>> = r.try_get(5).map_err(&err)?;
                    seal = seq.zip(mac);
                }
                1 => policies.push(RawPolicy {
                    path: r.try_get(1).map_err(&err)?,
                    key_ref: r.try_get(2).map_err(&err)?,
                    author: r.try_get(3).map_err(&err)?,
                    created_at: r.try_get::<_, Option<i64>>(4).map_err(&err)?.unwrap_or(0),
                }),
                _ => meta.push((
                    r.try_get::<_, String>(1).map_err(&err)?,
                    r.try_get::<_, String>(2).map_err(&err)?,
                )),
            }
        }
        let raw = RawPolicies {
            rows: policies,
            seal,
            head: Head::from_meta(meta.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
        };
        policy_seal::check(self.signer()?.key(), &self.location, raw)
    }

    pub(super) async fn policies_tx(&self) -> ParamResult<Policies> {
        let client = self.client.lock().await;
        self.policies_in(&*client).await
    }

    /// The name and key of the current secure version of every parameter at or below `path`
    /// (deleted ones too), as stored: what a policy change must not leave under another key
    /// than the policies give it. Unchecked: they only ever refuse a change.
    async fn values_at_or_below(
        &self,
        tx: &Transaction<'_>,
        path: &ParamPath,
    ) -> ParamResult<Vec<(String, Option<String>)>> {
        let err = self.perr();
        let (lo, hi) = range(path);
        let rows = tx
            .query(
                "SELECT p.name, v.key_ref FROM params p
                 JOIN param_labels c ON c.name = p.name AND c.label = 'current'
                 JOIN param_versions v ON v.name = p.name AND v.version = c.version
                 WHERE (p.name = $1 OR (p.name > $2 AND p.name < $3))
                   AND v.type = 'secure-string' AND v.destroyed_at IS NULL",
                &[&path.as_str(), &lo, &hi],
            )
            .await
            .map_err(&err)?;
        rows.iter()
            .map(|r| Ok((r.try_get(0).map_err(&err)?, r.try_get(1).map_err(&err)?)))
            .collect()
    }

    /// Writes the row that changed (`changed`: a path and its policy, `None` to remove it),
    /// the audit entry `(verb, detail)`, the seal of `set` and the rows of the keys whose
    /// paths change from `old` to `set` ([`Self::reseal_key_paths`]), in the write
    /// transaction `tx`.
    #[allow(
        clippy::too_many_arguments,
        reason = "the change, as its callers have it"
    )]
    async fn write_policies(
        &self,
        tx: &Transaction<'_>,
        old: &Policies,
        set: &Policies,
        changed: (&ParamPath, Option<&Policy>),
        verb: &str,
        detail: &str,
        keys: &[Arc<PathsKey>],
    ) -> ParamResult<Vec<Pending>> {
        let err = self.perr();
        in_the_way(
            set,
            changed.0,
            &self.values_at_or_below(tx, changed.0).await?,
        )?;
        let row_keys = self.row_keys()?;
        self.remac_moved(
            tx,
            &row_keys.with_policies(old.clone()),
            &row_keys.with_policies(set.clone()),
            &[changed.0.as_str().to_owned()],
        )
        .await?;
        match changed {
            (_, Some(p)) => tx
                .execute(
                    "INSERT INTO policies (path, key_ref, created_at, author)
                     VALUES ($1, $2, $3, $4)
                     ON CONFLICT (path) DO UPDATE SET key_ref = excluded.key_ref,
                       created_at = excluded.created_at, author = excluded.author",
                    &[&p.path.as_str(), &p.key, &p.created_at, &p.author],
                )
                .await
                .map_err(&err)?,
            (path, None) => tx
                .execute("DELETE FROM policies WHERE path = $1", &[&path.as_str()])
                .await
                .map_err(&err)?,
        };
        let signer = self.signer()?;
        let pending =
            append_policy_change(tx, signer.clone(), verb, changed.0.as_str(), detail, &err)
                .await?;
        let mac = set_mac(signer.key().policies(), set, pending.seq());
        tx.execute(
            "INSERT INTO policy_seal (one, seal_seq, mac) VALUES (1, $1, $2)
             ON CONFLICT (one) DO UPDATE SET seal_seq = excluded.seal_seq, mac = excluded.mac",
            &[&pending.seq(), &&mac[..]],
        )
        .await
        .map_err(&err)?;
        let mut pending = vec![pending];
        pending.extend(self.reseal_key_paths(tx, old, set, keys).await?);
        Ok(pending)
    }

    pub(super) async fn set_policy_tx(
        &self,
        policy: &Policy,
        keys: &[Arc<PathsKey>],
    ) -> ParamResult<Option<Policy>> {
        let err = self.perr();
        let mut client = self.client.lock().await;
        let tx = client.transaction().await.map_err(&err)?;
        lock_writes(&tx).await.map_err(&err)?;
        let current = self.policies_in(&tx).await?;
        if let Some(same) = current.at(&policy.path).filter(|p| p.key == policy.key) {
            return Ok(Some(same.clone()));
        }
        let (set, old) = current.with(policy.clone());
        let detail = policy_seal::set_detail(policy, old.as_ref());
        let pending = self
            .write_policies(
                &tx,
                &current,
                &set,
                (&policy.path, Some(policy)),
                POLICY_SET_VERB,
                &detail,
                keys,
            )
            .await?;
        tx.commit().await.map_err(&err)?;
        pending.into_iter().for_each(Pending::committed);
        Ok(old)
    }

    pub(super) async fn remove_policy_tx(
        &self,
        path: &ParamPath,
        keys: &[Arc<PathsKey>],
    ) -> ParamResult<Policy> {
        let err = self.perr();
        let mut client = self.client.lock().await;
        let tx = client.transaction().await.map_err(&err)?;
        lock_writes(&tx).await.map_err(&err)?;
        let current = self.policies_in(&tx).await?;
        let (set, old) = current.without(path);
        let old = old.ok_or_else(|| policy_seal::no_policy(path))?;
        let detail = policy_seal::rm_detail(&old);
        let pending = self
            .write_policies(
                &tx,
                &current,
                &set,
                (path, None),
                POLICY_RM_VERB,
                &detail,
                keys,
            )
            .await?;
        tx.commit().await.map_err(&err)?;
        pending.into_iter().for_each(Pending::committed);
        Ok(old)
    }
}
