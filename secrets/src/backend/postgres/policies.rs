//! The path policies of the PostgreSQL store (`policies`, `policy_seal`), sealed as
//! [`crate::store::policy_seal`] says.

use tokio_postgres::{GenericClient, Transaction};

use super::PgStore;
use super::audit::{Pending, append};
use super::tx::{lock_writes, snapshot};
use crate::params::{ParamPath, ParamResult, Policies, Policy};
use crate::store::policy_seal::{
    self, POLICY_RM_VERB, POLICY_SET_VERB, POLICY_VERBS_SQL, RawPolicies, RawPolicy, set_mac,
};

impl PgStore {
    /// The policy rows, the seal and the last policy change, as read in `tx`'s snapshot,
    /// checked.
    async fn policies_in(&self, tx: &impl GenericClient) -> ParamResult<Policies> {
        let err = self.perr();
        let summary = tx
            .query_one(
                &format!(
                    "SELECT (SELECT seal_seq FROM policy_seal WHERE one = 1),
                            (SELECT mac FROM policy_seal WHERE one = 1),
                            (SELECT max(seq) FROM audit WHERE {POLICY_VERBS_SQL}),
                            (SELECT count(*) FROM policies)"
                ),
                &[],
            )
            .await
            .map_err(&err)?;
        let seq: Option<i64> = summary.try_get(0).map_err(&err)?;
        let mac: Option<Vec<u8>> = summary.try_get(1).map_err(&err)?;
        let last_change: Option<i64> = summary.try_get(2).map_err(&err)?;
        let n: i64 = summary.try_get(3).map_err(&err)?;
        let mut rows = Vec::new();
        if n > 0 {
            for r in tx
                .query(
                    "SELECT path, key_ref, created_at, author FROM policies ORDER BY path",
                    &[],
                )
                .await
                .map_err(&err)?
            {
                rows.push(RawPolicy {
                    path: r.try_get(0).map_err(&err)?,
                    key_ref: r.try_get(1).map_err(&err)?,
                    created_at: r.try_get(2).map_err(&err)?,
                    author: r.try_get(3).map_err(&err)?,
                });
            }
        }
        let raw = RawPolicies {
            rows,
            seal: seq.zip(mac),
            last_change,
        };
        policy_seal::check(self.signer()?.key().policies(), &self.location, raw)
    }

    pub(super) async fn policies_tx(&self) -> ParamResult<Policies> {
        let mut client = self.client.lock().await;
        let tx = snapshot(&mut client).await.map_err(self.perr())?;
        self.policies_in(&tx).await
    }

    /// Writes the row that changed (`changed`: a path and its policy, `None` to remove it),
    /// the audit entry `(verb, detail)` and the seal of `set`, in the write transaction `tx`.
    async fn write_policies(
        &self,
        tx: &Transaction<'_>,
        set: &Policies,
        changed: (&ParamPath, Option<&Policy>),
        verb: &str,
        detail: &str,
    ) -> ParamResult<Pending> {
        let err = self.perr();
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
        let pending = append(tx, signer.clone(), verb, changed.0.as_str(), detail, &err).await?;
        let mac = set_mac(signer.key().policies(), set, pending.seq());
        tx.execute(
            "INSERT INTO policy_seal (one, seal_seq, mac) VALUES (1, $1, $2)
             ON CONFLICT (one) DO UPDATE SET seal_seq = excluded.seal_seq, mac = excluded.mac",
            &[&pending.seq(), &&mac[..]],
        )
        .await
        .map_err(&err)?;
        Ok(pending)
    }

    pub(super) async fn set_policy_tx(&self, policy: &Policy) -> ParamResult<Option<Policy>> {
        let err = self.perr();
        let mut client = self.client.lock().await;
        let tx = client.transaction().await.map_err(&err)?;
        lock_writes(&tx).await.map_err(&err)?;
        let (set, old) = self.policies_in(&tx).await?.with(policy.clone());
        let detail = policy_seal::set_detail(policy, old.as_ref());
        let pending = self
            .write_policies(
                &tx,
                &set,
                (&policy.path, Some(policy)),
                POLICY_SET_VERB,
                &detail,
            )
            .await?;
        tx.commit().await.map_err(&err)?;
        pending.committed();
        Ok(old)
    }

    pub(super) async fn remove_policy_tx(&self, path: &ParamPath) -> ParamResult<Policy> {
        let err = self.perr();
        let mut client = self.client.lock().await;
        let tx = client.transaction().await.map_err(&err)?;
        lock_writes(&tx).await.map_err(&err)?;
        let (set, old) = self.policies_in(&tx).await?.without(path);
        let old = old.ok_or_else(|| policy_seal::no_policy(path))?;
        let detail = policy_seal::rm_detail(&old);
        let pending = self
            .write_policies(&tx, &set, (path, None), POLICY_RM_VERB, &detail)
            .await?;
        tx.commit().await.map_err(&err)?;
        pending.committed();
        Ok(old)
    }
}
