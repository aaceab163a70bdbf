//! The reads of the SQLite parameter store ([`SqliteParamStore`]): one value, the values
//! below a path, listings and histories, each in one snapshot, every row checked against its
//! MAC ([`crate::store::param_seal`]) before it is used.

use rusqlite::{Connection, params};

use super::SqliteParamStore;
use super::param_rows::{
    COLUMNS, HEAD_WIDTH, head_columns, raw_head_at, raw_version, raw_version_at,
};
use crate::error::Error;
use crate::params::CURRENT;
use crate::params::{
    Listing, ParamName, ParamPath, ParamResult, ParamState, ParamSummary, PathEntry, StoredVersion,
    VersionMeta, Which,
};
use crate::store::param_seal::RawHead;
use crate::store::rows::{
    RawVersion, by_path_query, check_below, current_moved, every_version, missing_version,
    path_entry, range, state_of, subpaths_of, unheld_name, which_version,
};

/// A head, then the [`COLUMNS`] of a version (all `NULL` if there is none), from column
/// `at`.
fn head_and_version(
    r: &rusqlite::Row<'_>,
    at: usize,
) -> rusqlite::Result<(RawHead, Option<RawVersion>)> {
    let head = raw_head_at(r, at)?;
    let version = match r.get::<_, Option<String>>(at + HEAD_WIDTH)? {
        None => None,
        Some(_) => Some(raw_version_at(r, at + HEAD_WIDTH)?),
    };
    Ok((head, version))
}

/// Runs `base` (a query ending in a `WHERE` clause over `params p`) for the parameters
/// directly below `path`, or at any depth with `recursive`, in name order.
fn query_under<T>(
    conn: &Connection,
    base: &str,
    path: &ParamPath,
    recursive: bool,
    f: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<Vec<T>> {
    if recursive {
        let (lo, hi) = range(path);
        let mut stmt = conn.prepare_cached(&format!(
            "{base} AND p.name > ?1 AND p.name < ?2 ORDER BY p.name"
        ))?;
        stmt.query_map(params![lo, hi], f)?.collect()
    } else {
        // The names directly below: found from the name itself, not the `parent` column (a
        // column the MACs do not need to cover, so an edit of it cannot hide a value).
        let (lo, hi) = range(path);
        let after = i64::try_from(lo.len())
            .unwrap_or(i64::MAX)
            .saturating_add(1);
        let mut stmt = conn.prepare_cached(&format!(
            "{base} AND p.name > ?1 AND p.name < ?2 AND instr(substr(p.name, ?3), '/') = 0
             ORDER BY p.name"
        ))?;
        stmt.query_map(params![lo, hi, after], f)?.collect()
    }
}

impl SqliteParamStore {
    pub(super) fn get_sync(&self, name: &ParamName, which: &Which) -> ParamResult<StoredVersion> {
        let err = self.err();
        let mut conn = self.store.lock();
        let tx = conn.transaction().map_err(&err)?;
        let head = self.live_head(&tx, name)?;
        let version = which_version(name, &head, which)?;
        self.version_in(&tx, &head, version)?
            .ok_or_else(|| Error::NoVersion {
                name: name.clone(),
                version,
                latest: head.latest,
            })
    }

    pub(super) fn get_by_path_sync(
        &self,
        path: &ParamPath,
        recursive: bool,
    ) -> ParamResult<Vec<PathEntry>> {
        let err = self.err();
        let mut conn = self.store.lock();
        let tx = conn.transaction().map_err(&err)?;
        let base = by_path_query(&format!("{}, {COLUMNS}", head_columns()));
        let rows =
            query_under(&tx, &base, path, recursive, |r| head_and_version(r, 1)).map_err(&err)?;
        drop(tx);
        drop(conn);
        let location = self.location_text();
        let keys = self.row_keys()?;
        let mut entries = Vec::with_capacity(rows.len());
        for (raw_head, raw) in rows {
            check_below(&self.location_text(), path, recursive, &raw_head.name)?;
            if let Some(key) = keys.unheld_key(&raw_head.name) {
                if raw_head.deleted_at.is_none() {
                    entries.push(PathEntry::Unheld(
                        unheld_name(&location, &raw_head.name)?,
                        key.to_owned(),
                    ));
                }
                continue;
            }
            let head = self.checked_head(raw_head)?;
            if head.deleted_at.is_some() {
                continue;
            }
            let row = match raw {
                Some(raw) => {
                    let version = self.checked_version(&head, &raw)?;
                    if head.labels.get(CURRENT) != Some(&version) {
                        return Err(current_moved(&location, &head.name));
                    }
                    Ok(raw)
                }
                None if head.labels.contains_key(CURRENT) => {
                    return Err(current_moved(&location, &head.name));
                }
                None => Err(head.name.clone()),
            };
            entries.push(path_entry(row, &location).map(|e| match e {
                PathEntry::Current(mut v) => {
                    v.meta.labels = head.labels_of(v.meta.version);
                    PathEntry::Current(v)
                }
                other => other,
            })?);
        }
        Ok(entries)
    }

    pub(super) fn list_sync(&self, path: &ParamPath, recursive: bool) -> ParamResult<Listing> {
        let err = self.err();
        let mut conn = self.store.lock();
        let tx = conn.transaction().map_err(&err)?;
        let base = format!(
            "SELECT {}, {COLUMNS} FROM params p
             LEFT JOIN param_versions v ON v.name = p.name AND v.version = p.latest
             WHERE TRUE",
            head_columns()
        );
        let (lo, hi) = range(path);
        let rows =
            query_under(&tx, &base, path, recursive, |r| head_and_version(r, 0)).map_err(&err)?;
        let mut subpaths = Vec::new();
        if !recursive {
            let mut stmt = tx
                .prepare(
                    "SELECT DISTINCT parent FROM params
                     WHERE deleted_at IS NULL AND parent > ?1 AND parent < ?2",
                )
                .map_err(&err)?;
            let parents: Vec<String> = stmt
                .query_map(params![lo, hi], |r| r.get(0))
                .and_then(Iterator::collect)
                .map_err(&err)?;
            subpaths = subpaths_of(&self.location_text(), &lo, parents)?;
        }
        drop(tx);
        drop(conn);
        let keys = self.row_keys()?;
        let mut params = Vec::with_capacity(rows.len());
        let mut unheld = Vec::new();
        let mut deleted = Vec::new();
        for (raw_head, raw) in rows {
            check_below(&self.location_text(), path, recursive, &raw_head.name)?;
            if let Some(key) = keys.unheld_key(&raw_head.name) {
                if raw_head.deleted_at.is_none() {
                    unheld.push((
                        unheld_name(&self.location_text(), &raw_head.name)?,
                        key.to_owned(),
                    ));
                }
                continue;
            }
            let head = self.checked_head(raw_head)?;
            let Some(raw) = raw else {
                return Err(missing_version(
                    &self.location_text(),
                    &head.name,
                    head.latest,
                ));
            };
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

    pub(super) fn history_sync(
        &self,
        name: &ParamName,
    ) -> ParamResult<(ParamState, Vec<VersionMeta>)> {
        let err = self.err();
        let mut conn = self.store.lock();
        let tx = conn.transaction().map_err(&err)?;
        let head = self
            .head_in(&tx, name.as_str())?
            .ok_or_else(|| Error::NotFound(name.clone()))?;
        let rows: Vec<RawVersion> = {
            let mut stmt = tx
                .prepare(&format!(
                    "SELECT {COLUMNS} FROM param_versions v WHERE v.name = ?1 ORDER BY v.version"
                ))
                .map_err(&err)?;
            stmt.query_map([name.as_str()], raw_version)
                .and_then(Iterator::collect)
                .map_err(&err)?
        };
        drop(tx);
        drop(conn);
        let versions = rows
            .into_iter()
            .map(|r| self.sealed(&head, r).map(|v| v.meta))
            .collect::<ParamResult<Vec<_>>>()?;
        every_version(&self.location_text(), &head, &versions)?;
        Ok((state_of(name, &head), versions))
    }
}
