//! The PostgreSQL store's `key_paths` rows: what each key with a root of its own attests
//! about the path policies ([`crate::store::key_paths`]).

use std::sync::Arc;

use tokio_postgres::{GenericClient, Transaction};

use super::PgStore;
use super::audit::{Pending, append};
use super::tx::lock_writes;
use crate::params::key_paths::{
    before_reseal, changed, claims_of, first_row_allowed, move_allowed, rows_unmoved,
};
use crate::params::{ParamResult, Policies, RowKeys};
use crate::store::key_paths::{KEY_PATHS_VERB, KeyPathsRow, PathsKey, RawKeyPaths, Stage};

/// The rows and last entries of the keys `$1` (a text array), in one statement. The verb is
/// spelled out so that the partial index of such entries is used.
const KEY_PATHS_SQL: &str = "SELECT n.name, kp.secret, kp.paths, kp.holes, kp.seal_seq, kp.mac,
            (SELECT max(a.seq) FROM audit a
             WHERE a.name = n.name AND a.verb = 'attest-paths')
     FROM unnest($1::text[]) WITH ORDINALITY AS n (name, i)
     LEFT JOIN key_paths kp ON kp.name = n.name
     ORDER BY n.i";

impl PgStore {
    pub(super) async fn key_paths_in(
        &self,
        c: &impl GenericClient,
        names: &[String],
    ) -> ParamResult<Vec<KeyPathsRow>> {
        let err = self.perr();
        let rows = c.query(KEY_PATHS_SQL, &[&names]).await.map_err(&err)?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let secret: Option<Vec<u8>> = r.try_get(1).map_err(&err)?;
            let row = match secret {
                Some(secret) => Some(RawKeyPaths {
                    secret,
                    paths: r.try_get(2).map_err(&err)?,
                    holes: r.try_get(3).map_err(&err)?,
                    seal_seq: r.try_get(4).map_err(&err)?,
                    mac: r.try_get(5).map_err(&err)?,
                }),
                None => None,
            };
            out.push(KeyPathsRow {
                name: r.try_get(0).map_err(&err)?,
                row,
                last_entry: r.try_get(6).map_err(&err)?,
            });
        }
        Ok(out)
    }

    pub(super) async fn key_paths_tx(&self, names: &[String]) -> ParamResult<Vec<KeyPathsRow>> {
        let client = self.client.lock().await;
        self.key_paths_in(&*client, names).await
    }

    pub(super) async fn first_key_paths_tx(
        &self,
        key: &Arc<PathsKey>,
        secret: &[u8],
    ) -> ParamResult<()> {
        let err = self.perr();
        let name = key.key_name();
        let mut client = self.client.lock().await;
        let tx = client.transaction().await.map_err(&err)?;
        lock_writes(&tx).await.map_err(&err)?;
        let before = self.key_paths_in(&tx, &[name.to_owned()]).await?;
        if before
            .iter()
            .any(|b| b.row.is_some() || b.last_entry.is_some())
        {
            // Another process gave it its row meanwhile (or it was removed): the check that
            // follows decides.
            return Ok(());
        }
        if super::roles::is_limited(&tx).await.map_err(&err)? {
            return Err(super::roles::limited_login(
                &self.location,
                &format!("giving key `{name}` its row of the paths it protects"),
            ));
        }
        let entries = super::audit::entries(&tx, &self.location).await?;
        let head = super::audit::head(&tx, false).await.map_err(&err)?;
        if !first_row_allowed(&entries, &head, self.signer()?.key(), &self.location, name)? {
            return Ok(()); // an entry sealed it: the check that follows refuses the state
        }
        let policies = self.policies_in(&tx).await?;
        let claims = claims_of(&policies, name);
        let pending = append(
            &tx,
            self.signer()?,
            KEY_PATHS_VERB,
            name,
            &claims.detail(),
            &err,
        )
        .await?;
        let (paths, holes) = claims.columns();
        tx.execute(
            "INSERT INTO key_paths (name, secret, paths, holes, seal_seq, mac)
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &name,
                &secret,
                &paths,
                &holes,
                &pending.seq(),
                &&key.mac(&claims, pending.seq())[..],
            ],
        )
        .await
        .map_err(&err)?;
        // The rows of the names it protects, MACed under the store's key until now, are
        // MACed under its `K_params(K)` from here on, and its own under its `K_keys(K)`.
        let (before, after) = RowKeys::moving_to(policies, key);
        self.remac_moved(&tx, &before, &after, &claims.own).await?;
        self.move_own_rows(&tx, key, self.signer()?.key()).await?;
        tx.commit().await.map_err(&err)?;
        pending.committed();
        Ok(())
    }

    pub(super) async fn move_key_rows_tx(&self, key: &Arc<PathsKey>) -> ParamResult<()> {
        let err = self.perr();
        let name = key.key_name();
        let mut client = self.client.lock().await;
        let tx = client.transaction().await.map_err(&err)?;
        lock_writes(&tx).await.map_err(&err)?;
        let row = self
            .key_paths_in(&tx, &[name.to_owned()])
            .await?
            .into_iter()
            .next();
        let policies = self.policies_in(&tx).await?;
        let Some((stage, sealed)) = row.and_then(|r| {
            let stage = rows_unmoved(key, &policies, &r)?;
            r.row.map(|raw| (stage, raw.seal_seq))
        }) else {
            return Ok(()); // moved meanwhile, or not as it was: the check that follows decides
        };
        if super::roles::is_limited(&tx).await.map_err(&err)? {
            return Err(super::roles::limited_login(
                &self.location,
                &format!("sealing the rows of the names key `{name}` protects under it"),
            ));
        }
        let entries = super::audit::entries(&tx, &self.location).await?;
        let head = super::audit::head(&tx, false).await.map_err(&err)?;
        if !move_allowed(
            &entries,
            &head,
            self.signer()?.key(),
            &self.location,
            name,
            sealed,
        )? {
            return Ok(()); // a later entry sealed it: the check that follows refuses the row
        }
        let claims = claims_of(&policies, name);
        if stage == Stage::Paths {
            let (before, after) = RowKeys::moving_to(policies, key);
            self.remac_moved(&tx, &before, &after, &claims.own).await?;
        }
        self.move_own_rows(&tx, key, self.signer()?.key()).await?;
        // Sealed to a new entry: the old row put back is then older than the key's last
        // seal (and than what this home saw), never taken for one whose rows are unmoved.
        let pending = append(
            &tx,
            self.signer()?,
            KEY_PATHS_VERB,
            name,
            &claims.detail(),
            &err,
        )
        .await?;
        let (paths, holes) = claims.columns();
        tx.execute(
            "UPDATE key_paths SET paths = $2, holes = $3, seal_seq = $4, mac = $5
             WHERE name = $1",
            &[
                &name,
                &paths,
                &holes,
                &pending.seq(),
                &&key.mac(&claims, pending.seq())[..],
            ],
        )
        .await
        .map_err(&err)?;
        tx.commit().await.map_err(&err)?;
        pending.committed();
        Ok(())
    }

    /// In the write transaction `tx` of a policy change from `old` to `new`: for each key
    /// with a row whose paths change, appends its entry and seals its row (with its key in
    /// `keys`; a change without it is refused).
    pub(super) async fn reseal_key_paths(
        &self,
        tx: &Transaction<'_>,
        old: &Policies,
        new: &Policies,
        keys: &[Arc<PathsKey>],
    ) -> ParamResult<Vec<Pending>> {
        let err = self.perr();
        let mut out = Vec::new();
        for (name, claims) in changed(old, new) {
            let rows = self.key_paths_in(tx, std::slice::from_ref(&name)).await?;
            let Some(row) = rows.first() else {
                continue;
            };
            let Some(key) = before_reseal(keys, &self.location, old, row)? else {
                continue; // a key under the store's root
            };
            let pending = append(
                tx,
                self.signer()?,
                KEY_PATHS_VERB,
                &name,
                &claims.detail(),
                &err,
            )
            .await?;
            let (paths, holes) = claims.columns();
            tx.execute(
                "UPDATE key_paths SET paths = $2, holes = $3, seal_seq = $4, mac = $5
                 WHERE name = $1",
                &[
                    &name,
                    &paths,
                    &holes,
                    &pending.seq(),
                    &&key.mac(&claims, pending.seq())[..],
                ],
            )
            .await
            .map_err(&err)?;
            out.push(pending);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_lookup_names_the_verb_as_the_index_does() {
        assert!(super::KEY_PATHS_SQL.contains(&format!(
            "a.verb = '{}'",
            crate::store::key_paths::KEY_PATHS_VERB
        )));
        assert!(super::super::schema::MIGRATIONS[8].contains(&format!(
            "WHERE verb = '{}'",
            crate::store::key_paths::KEY_PATHS_VERB
        )));
    }
}
