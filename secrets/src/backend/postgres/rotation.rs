//! Rotation plans and leases in a PostgreSQL store (`param_rotations`).

use tokio_postgres::Row;

use super::PgStore;
use super::audit::append;
use super::tx::lock_writes;
use crate::error::Error;
use crate::params::{Claim, LeaseRequest, ParamName, ParamResult, RotationPlan};
use crate::store::rows::{PLAN_COLUMNS, PlanRow, claim_decision, lease_lost, schedule_detail};

impl PgStore {
    pub(super) fn plan_of(&self, r: &Row) -> ParamResult<RotationPlan> {
        let row = || -> Result<PlanRow, tokio_postgres::Error> {
            Ok(PlanRow {
                name: r.try_get(0)?,
                every_secs: r.try_get(1)?,
                generate: r.try_get(2)?,
                set_hook: r.try_get(3)?,
                test_hook: r.try_get(4)?,
                hook_timeout_secs: r.try_get(5)?,
                next_due: r.try_get(6)?,
                lease: (r.try_get(7)?, r.try_get(8)?),
                last_error: r.try_get(9)?,
                seal: r.try_get(10)?,
                workdir: r.try_get(11)?,
                pending_run: r.try_get(12)?,
                lease_hook: r.try_get(13)?,
            })
        };
        row().map_err(self.perr())?.into_plan(&self.location)
    }

    pub(super) async fn rotation_plans_tx(&self) -> ParamResult<Vec<RotationPlan>> {
        let client = self.client.lock().await;
        let rows = client
            .query(
                &format!("SELECT {PLAN_COLUMNS} FROM param_rotations ORDER BY name"),
                &[],
            )
            .await
            .map_err(self.perr())?;
        rows.iter().map(|r| self.plan_of(r)).collect()
    }

    pub(super) async fn set_rotation_plan_tx(&self, plan: &RotationPlan) -> ParamResult<()> {
        let err = self.perr();
        let every = plan
            .every_secs
            .map(i64::try_from)
            .transpose()
            .map_err(|_| Error::invalid("the rotation period is too long"))?;
        let timeout = i64::try_from(plan.hook_timeout_secs)
            .map_err(|_| Error::invalid("the hook time limit is too long"))?;
        let mut client = self.client.lock().await;
        let tx = client.transaction().await.map_err(&err)?;
        lock_writes(&tx).await.map_err(&err)?;
        self.live_state(&tx, &plan.name).await?;
        tx.execute(
            "INSERT INTO param_rotations (name, every_secs, generate, set_hook, test_hook,
                                          hook_timeout_secs, next_due, seal, workdir)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (name) DO UPDATE SET every_secs = excluded.every_secs,
                 generate = excluded.generate, set_hook = excluded.set_hook,
                 test_hook = excluded.test_hook, hook_timeout_secs = excluded.hook_timeout_secs,
                 next_due = excluded.next_due, seal = excluded.seal, workdir = excluded.workdir",
            &[
                &plan.name.as_str(),
                &every,
                &plan.generate,
                &plan.set_hook,
                &plan.test_hook,
                &timeout,
                &plan.next_due,
                &plan.seal,
                &plan.workdir,
            ],
        )
        .await
        .map_err(&err)?;
        let pending = append(
            &tx,
            self.signer()?,
            "rotate-schedule",
            plan.name.as_str(),
            &schedule_detail(plan),
            &err,
        )
        .await?;
        tx.commit().await.map_err(&err)?;
        pending.committed();
        Ok(())
    }

    pub(super) async fn claim_rotation_tx(&self, req: LeaseRequest<'_>) -> ParamResult<Claim> {
        let LeaseRequest {
            name,
            holder,
            now,
            until,
            due_only,
            steal_from,
            hook_timeout_secs,
        } = req;
        let err = self.perr();
        let mut client = self.client.lock().await;
        let tx = client.transaction().await.map_err(&err)?;
        lock_writes(&tx).await.map_err(&err)?;
        self.live_state(&tx, name).await?;
        // Several machines share the store: leases and due times follow the server's clock,
        // not each client's (the lease keeps the length the caller asked for).
        let server_now: i64 = tx
            .query_one("SELECT extract(epoch FROM now())::bigint", &[])
            .await
            .map_err(&err)?
            .try_get(0)
            .map_err(&err)?;
        let until = server_now.saturating_add(until.saturating_sub(now));
        let now = server_now;
        let plan = tx
            .query_opt(
                &format!("SELECT {PLAN_COLUMNS} FROM param_rotations WHERE name = $1"),
                &[&name.as_str()],
            )
            .await
            .map_err(&err)?
            .map(|r| self.plan_of(&r))
            .transpose()?;
        if let Some(decided) = claim_decision(plan.as_ref(), holder, now, due_only, steal_from) {
            return Ok(decided);
        }
        let timeout = i64::try_from(hook_timeout_secs).unwrap_or(i64::MAX);
        tx.execute(
            "INSERT INTO param_rotations (name, hook_timeout_secs, lease_holder, lease_until)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (name) DO UPDATE SET lease_holder = excluded.lease_holder,
                 lease_until = excluded.lease_until, lease_hook = NULL",
            &[&name.as_str(), &timeout, &holder, &until],
        )
        .await
        .map_err(&err)?;
        tx.commit().await.map_err(&err)?;
        Ok(Claim::Claimed(plan.map(Box::new)))
    }

    pub(super) async fn release_rotation_tx(
        &self,
        name: &ParamName,
        holder: &str,
        error: Option<&str>,
    ) -> ParamResult<()> {
        let client = self.client.lock().await;
        // The next due time on the server's clock, as the lease was (see `claim_rotation_tx`).
        client
            .execute(
                "UPDATE param_rotations SET lease_holder = NULL, lease_until = NULL,
                     lease_hook = NULL, last_error = $3::TEXT,
                     next_due = CASE WHEN $3::TEXT IS NULL AND every_secs IS NOT NULL
                                     THEN extract(epoch FROM now())::bigint + every_secs
                                     ELSE next_due END
                 WHERE name = $1 AND lease_holder = $2",
                &[&name.as_str(), &holder, &error],
            )
            .await
            .map_err(self.perr())?;
        Ok(())
    }

    /// `UPDATE param_rotations SET {column} = $3 WHERE name = $1 AND lease_holder = $2`.
    pub(super) async fn set_lease_column<T: tokio_postgres::types::ToSql + Sync>(
        &self,
        column: &str,
        name: &ParamName,
        holder: &str,
        value: T,
    ) -> ParamResult<()> {
        let client = self.client.lock().await;
        let n = client
            .execute(
                &format!(
                    "UPDATE param_rotations SET {column} = $3 WHERE name = $1 AND lease_holder = $2"
                ),
                &[&name.as_str(), &holder, &value],
            )
            .await
            .map_err(self.perr())?;
        lease_lost(name, n)
    }
}
