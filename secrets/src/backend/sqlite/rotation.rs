//! Rotation plans and leases in the SQLite store (`param_rotations`), each change one
//! `BEGIN IMMEDIATE` transaction with its audit entry.

use rusqlite::{Connection, OptionalExtension as _, TransactionBehavior, params};

use super::SqliteParamStore;
use super::audit;
use crate::error::Error;
use crate::params::{Claim, LeaseRequest, ParamName, ParamResult, ParamStore as _, RotationPlan};
use crate::store::rows::{PLAN_COLUMNS, PlanRow, claim_decision, lease_lost, schedule_detail};

fn plan_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<PlanRow> {
    Ok(PlanRow {
        name: r.get(0)?,
        every_secs: r.get(1)?,
        generate: r.get(2)?,
        set_hook: r.get(3)?,
        test_hook: r.get(4)?,
        hook_timeout_secs: r.get(5)?,
        next_due: r.get(6)?,
        lease: (r.get(7)?, r.get(8)?),
        last_error: r.get(9)?,
        seal: r.get(10)?,
        workdir: r.get(11)?,
        pending_run: r.get(12)?,
        lease_hook: r.get(13)?,
    })
}

impl SqliteParamStore {
    pub(super) fn plan_in(
        &self,
        conn: &Connection,
        name: &ParamName,
    ) -> ParamResult<Option<RotationPlan>> {
        let location = self.location();
        conn.query_row(
            &format!("SELECT {PLAN_COLUMNS} FROM param_rotations WHERE name = ?1"),
            params![name.as_str()],
            plan_row,
        )
        .optional()
        .map_err(self.err())?
        .map(|r| r.into_plan(&location))
        .transpose()
    }

    pub(super) fn rotation_plans_sync(&self) -> ParamResult<Vec<RotationPlan>> {
        let location = self.location();
        let conn = self.store.lock();
        let mut stmt = conn
            .prepare(&format!(
                "SELECT {PLAN_COLUMNS} FROM param_rotations ORDER BY name"
            ))
            .map_err(self.err())?;
        let rows = stmt
            .query_map([], plan_row)
            .map_err(self.err())?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(self.err())?;
        rows.into_iter().map(|r| r.into_plan(&location)).collect()
    }

    pub(super) fn set_rotation_plan_sync(&self, plan: &RotationPlan) -> ParamResult<()> {
        let err = self.err();
        let mut conn = self.store.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&err)?;
        self.live_state(&tx, &plan.name)?;
        let every = plan
            .every_secs
            .map(i64::try_from)
            .transpose()
            .map_err(|_| Error::invalid("the rotation period is too long"))?;
        let timeout = i64::try_from(plan.hook_timeout_secs)
            .map_err(|_| Error::invalid("the hook time limit is too long"))?;
        tx.execute(
            "INSERT INTO param_rotations (name, every_secs, generate, set_hook, test_hook,
                                          hook_timeout_secs, next_due, seal, workdir)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
             ON CONFLICT (name) DO UPDATE SET every_secs = excluded.every_secs,
                 generate = excluded.generate, set_hook = excluded.set_hook,
                 test_hook = excluded.test_hook, hook_timeout_secs = excluded.hook_timeout_secs,
                 next_due = excluded.next_due, seal = excluded.seal, workdir = excluded.workdir",
            params![
                plan.name.as_str(),
                every,
                plan.generate,
                plan.set_hook,
                plan.test_hook,
                timeout,
                plan.next_due,
                plan.seal,
                plan.workdir
            ],
        )
        .map_err(&err)?;
        let pending = audit::append(
            &tx,
            self.store.signer()?,
            "rotate-schedule",
            plan.name.as_str(),
            &schedule_detail(plan),
            &err,
        )?;
        tx.commit().map_err(&err)?;
        pending.committed();
        Ok(())
    }

    pub(super) fn claim_rotation_sync(&self, req: LeaseRequest<'_>) -> ParamResult<Claim> {
        let LeaseRequest {
            name,
            holder,
            now,
            until,
            due_only,
            steal_from,
            hook_timeout_secs,
        } = req;
        let err = self.err();
        let mut conn = self.store.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&err)?;
        self.live_state(&tx, name)?;
        let plan = self.plan_in(&tx, name)?;
        if let Some(decided) = claim_decision(plan.as_ref(), holder, now, due_only, steal_from) {
            return Ok(decided);
        }
        let timeout = i64::try_from(hook_timeout_secs).unwrap_or(i64::MAX);
        tx.execute(
            "INSERT INTO param_rotations (name, hook_timeout_secs, lease_holder, lease_until)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (name) DO UPDATE SET lease_holder = excluded.lease_holder,
                 lease_until = excluded.lease_until, lease_hook = NULL",
            params![name.as_str(), timeout, holder, until],
        )
        .map_err(&err)?;
        tx.commit().map_err(&err)?;
        Ok(Claim::Claimed(plan.map(Box::new)))
    }

    pub(super) fn release_rotation_sync(
        &self,
        name: &ParamName,
        holder: &str,
        now: i64,
        error: Option<&str>,
    ) -> ParamResult<()> {
        let err = self.err();
        let conn = self.store.lock();
        conn.execute(
            "UPDATE param_rotations SET lease_holder = NULL, lease_until = NULL, lease_hook = NULL,
                 last_error = ?4,
                 next_due = CASE WHEN ?4 IS NULL AND every_secs IS NOT NULL
                                 THEN ?3 + every_secs ELSE next_due END
             WHERE name = ?1 AND lease_holder = ?2",
            params![name.as_str(), holder, now, error],
        )
        .map_err(&err)?;
        Ok(())
    }

    pub(super) fn set_pending_run_sync(
        &self,
        name: &ParamName,
        holder: &str,
        run: Option<&[u8]>,
    ) -> ParamResult<()> {
        let conn = self.store.lock();
        let n = conn
            .execute(
                "UPDATE param_rotations SET pending_run = ?3 WHERE name = ?1 AND lease_holder = ?2",
                params![name.as_str(), holder, run],
            )
            .map_err(self.err())?;
        lease_lost(name, u64::try_from(n).unwrap_or(u64::MAX))
    }

    pub(super) fn set_rotation_hook_sync(
        &self,
        name: &ParamName,
        holder: &str,
        hook: Option<u32>,
    ) -> ParamResult<()> {
        let conn = self.store.lock();
        let n = conn
            .execute(
                "UPDATE param_rotations SET lease_hook = ?3 WHERE name = ?1 AND lease_holder = ?2",
                params![name.as_str(), holder, hook],
            )
            .map_err(self.err())?;
        lease_lost(name, u64::try_from(n).unwrap_or(u64::MAX))
    }
}
