//! The reads of the PostgreSQL parameter store: one value, the values below a path,
//! listings and histories, each in one snapshot, every row checked against its MAC
//! ([`crate::store::param_seal`]) before it is used.

use tokio_postgres::{GenericClient, Row};

use super::PgStore;
use super::param_rows::{
    COLUMNS, HEAD_WIDTH, head_columns, raw_head_at, raw_version, raw_version_at,
};
use super::tx::snapshot;
use crate::error::Error;
use crate::params::CURRENT;
use crate::params::{
    Listing, ParamName, ParamPath, ParamResult, ParamState, ParamSummary, PathEntry, StoredVersion,
    VersionMeta, Which as ParamWhich,
};
use crate::store::rows::{
    by_path_query, check_below, current_moved, every_version, missing_version, path_entry, range,
    state_of, subpaths_of, unheld_name, which_version,
};

impl PgStore {
    /// Rows of `base` (a query ending in a `WHERE` clause over `params p`) for the
    /// parameters below `path`, by name.
    pub(super) async fn query_under(
        &self,
        tx: &impl GenericClient,
        base: &str,
        path: &ParamPath,
        recursive: bool,
    ) -> ParamResult<Vec<Row>> {
        let rows = if recursive {
            let (lo, hi) = range(path);
            tx.query(
                &format!("{base} AND p.name > $1 AND p.name < $2 ORDER BY p.name"),
                &[&lo, &hi],
            )
            .await
        } else {
            // The names directly below: found from the name itself, not the `parent` column.
            let (lo, hi) = range(path);
            let after = i32::try_from(lo.len())
                .unwrap_or(i32::MAX)
                .saturating_add(1);
            tx.query(
                &format!(
                    "{base} AND p.name > $1 AND p.name < $2
                     AND strpos(substr(p.name, $3), '/') = 0 ORDER BY p.name"
                ),
                &[&lo, &hi, &after],
            )
            .await
        };
        rows.map_err(self.perr())
    }

    pub(super) async fn get_tx(
        &self,
        name: &ParamName,
        which: &ParamWhich,
    ) -> ParamResult<StoredVersion> {
        let mut client = self.client.lock().await;
        let tx = snapshot(&mut client).await.map_err(self.perr())?;
        let head = self.live_head(&tx, name).await?;
        let version = which_version(name, &head, which)?;
        let found = self.version_in(&tx, &head, version).await?;
        tx.commit().await.map_err(self.perr())?;
        found.ok_or_else(|| Error::NoVersion {
            name: name.clone(),
            version,
            latest: head.latest,
        })
    }

    pub(super) async fn get_by_path_tx(
        &self,
        path: &ParamPath,
        recursive: bool,
    ) -> ParamResult<Vec<PathEntry>> {
        let client = self.client.lock().await;
        let base = by_path_query(&format!("{}, {COLUMNS}", head_columns()));
        let rows = self.query_under(&*client, &base, path, recursive).await?;
        drop(client);
        let keys = self.row_keys()?;
        let mut entries = Vec::with_capacity(rows.len());
        for r in &rows {
            let raw_head = raw_head_at(r, 1).map_err(self.perr())?;
            check_below(&self.location, path, recursive, &raw_head.name)?;
            if let Some(key) = keys.unheld_key(&raw_head.name) {
                if raw_head.deleted_at.is_none() {
                    entries.push(PathEntry::Unheld(
                        unheld_name(&self.location, &raw_head.name)?,
                        key.to_owned(),
                    ));
                }
                continue;
            }
            let head = self.checked_head(raw_head)?;
            if head.deleted_at.is_some() {
                continue;
            }
            let has_version = r
                .try_get::<_, Option<String>>(1 + HEAD_WIDTH)
                .map_err(self.perr())?
                .is_some();
            let row = if has_version {
                let raw = raw_version_at(r, 1 + HEAD_WIDTH).map_err(self.perr())?;
                let version = self.checked_version(&head, &raw)?;
                if head.labels.get(CURRENT) != Some(&version) {
                    return Err(current_moved(&self.location, &head.name));
                }
                Ok(raw)
            } else if head.labels.contains_key(CURRENT) {
                return Err(current_moved(&self.location, &head.name));
            } else {
                Err(head.name.clone())
            };
            entries.push(match path_entry(row, &self.location)? {
                PathEntry::Current(mut v) => {
                    v.meta.labels = head.labels_of(v.meta.version);
                    PathEntry::Current(v)
                }
                other => other,
            });
        }
        Ok(entries)
    }

    pub(super) async fn list_tx(&self, path: &ParamPath, recursive: bool) -> ParamResult<Listing> {
        let err = self.perr();
        let mut client = self.client.lock().await;
        let tx = snapshot(&mut client).await.map_err(&err)?;
        let base = format!(
            "SELECT {}, {COLUMNS} FROM params p
             LEFT JOIN param_versions v ON v.name = p.name AND v.version = p.latest
             WHERE TRUE",
            head_columns()
        );
        let rows = self.query_under(&tx, &base, path, recursive).await?;
        let mut subpaths = Vec::new();
        if !recursive {
            let (lo, hi) = range(path);
            let parents = tx
                .query(
                    "SELECT DISTINCT parent FROM params
                     WHERE deleted_at IS NULL AND parent > $1 AND parent < $2",
                    &[&lo, &hi],
                )
                .await
                .map_err(&err)?;
            let parents = parents
                .iter()
                .map(|r| r.try_get::<_, String>(0))
                .collect::<Result<Vec<_>, _>>()
                .map_err(&err)?;
            subpaths = subpaths_of(&self.location, &lo, parents)?;
        }
        tx.commit().await.map_err(&err)?;
        drop(client);
        let keys = self.row_keys()?;
        let mut params = Vec::with_capacity(rows.len());
        let mut unheld = Vec::new();
        let mut deleted = Vec::new();
        for r in &rows {
            let raw_head = raw_head_at(r, 0).map_err(&err)?;
            check_below(&self.location, path, recursive, &raw_head.name)?;
            if let Some(key) = keys.unheld_key(&raw_head.name) {
                if raw_head.deleted_at.is_none() {
                    unheld.push((unheld_name(&self.location, &raw_head.name)?, key.to_owned()));
                }
                continue;
            }
            let head = self.checked_head(raw_head)?;
            let has_version = r
                .try_get::<_, Option<String>>(HEAD_WIDTH)
                .map_err(&err)?
                .is_some();
            if !has_version {
                return Err(missing_version(&self.location, &head.name, head.latest));
            }
            let raw = raw_version_at(r, HEAD_WIDTH).map_err(&err)?;
            let latest = self.sealed(&head, raw)?.meta;
            let summary = ParamSummary {
                latest,
                created_at: head.created_at,
                deleted_at: head.deleted_at,
            };
            if head.deleted_at.is_none() {
                params.push(summary);
            } else {
                deleted.push(summary);
            }
        }
        Ok(Listing {
            params,
            subpaths,
            unheld,
            deleted,
        })
    }

    pub(super) async fn history_tx(
        &self,
        name: &ParamName,
    ) -> ParamResult<(ParamState, Vec<VersionMeta>)> {
        let mut client = self.client.lock().await;
        let tx = snapshot(&mut client).await.map_err(self.perr())?;
        let head = self
            .head_in(&tx, name.as_str())
            .await?
            .ok_or_else(|| Error::NotFound(name.clone()))?;
        let rows = tx
            .query(
                &format!(
                    "SELECT {COLUMNS} FROM param_versions v WHERE v.name = $1 ORDER BY v.version"
                ),
                &[&name.as_str()],
            )
            .await
            .map_err(self.perr())?;
        tx.commit().await.map_err(self.perr())?;
        let versions = rows
            .iter()
            .map(|r| {
                self.sealed(&head, raw_version(r).map_err(self.perr())?)
                    .map(|v| v.meta)
            })
            .collect::<ParamResult<Vec<_>>>()?;
        every_version(&self.location, &head, &versions)?;
        Ok((state_of(name, &head), versions))
    }
}
