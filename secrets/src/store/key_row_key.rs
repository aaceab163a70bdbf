//! Which key MACs a key's own rows in the key table ([`super::key_seal`]): the store's
//! `K_rows`, derived from its audit secret, or, for a key with a root of its own whose row of
//! paths says so (stage v3, [`super::key_paths`]), the key's `K_keys(K)`, which only holders
//! of its root can derive.
//!
//! The choice is made from the key's row of paths as checked, never from the key's row alone:
//! that row is MACed under `K_paths`, which only the root's holders have, and is sealed to the
//! key's last [`super::key_paths::KEY_PATHS_VERB`] entry (and to none older than this home
//! saw). So a holder of the store's root key cannot have a key's rows checked under `K_rows`
//! again by putting back an older row of paths, or by removing it while an entry names it.
//! A key with no row of paths and no entry is one of a release before that no home holding
//! its root has used since (its rows are under `K_rows` until one does).

use coffer_core::MacKey;

use super::audit::{AuditEntry, AuditKey};
use super::key_paths::{self, KeyPathsRow, PathsKey, Stage};
use super::key_rows::KeyRecord;
use crate::error::{Advice, Error};

/// The `K_paths` whose `K_keys(K)` MACs a key's rows, as a handle holds it; `None`, the
/// store's `K_rows`.
pub(crate) type RowsKey = Option<std::sync::Arc<PathsKey>>;

/// The `K_paths` a backend's handle was given, by key, each with whether the rows of its key
/// were found under it ([`crate::store::table::KeyTable::use_paths_key`]).
#[derive(Default)]
pub(crate) struct GivenPathsKeys(
    std::sync::Mutex<std::collections::BTreeMap<String, (std::sync::Arc<PathsKey>, bool)>>,
);

impl GivenPathsKeys {
    /// Keeps `key` (with `rows_under_it`, its key's rows found under it; that stays).
    pub(crate) fn keep(&self, key: std::sync::Arc<PathsKey>, rows_under_it: bool) {
        let mut map = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let under = rows_under_it || map.get(key.key_name()).is_some_and(|(_, u)| *u);
        map.insert(key.key_name().to_owned(), (key, under));
    }

    /// In a write transaction that read `row`, key `record`'s row of paths: the key of its
    /// rows ([`key_row_key`], with the `K_paths` given for it). One that this handle found
    /// under the key's own `K_keys(K)` and whose row of paths no longer says so is refused.
    ///
    /// # Errors
    /// As [`key_row_key`]; the row of paths changed so.
    pub(crate) fn rows_key_in(
        &self,
        record: &KeyRecord,
        row: Option<&KeyPathsRow>,
        location: &str,
    ) -> Result<RowsKey, Error> {
        if record.root.is_none() {
            return Ok(None);
        }
        let given = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&record.name)
            .cloned();
        let (paths, found_under_it) = given.map_or((None, false), |(k, u)| (Some(k), u));
        let own = key_row_key(record, paths.as_deref(), row, None, location)?;
        if own.is_none() && found_under_it {
            return Err(key_paths::tampered(
                location,
                &record.name,
                "this process found the key's own rows under its key, and its row of paths no \
                 longer says so: it was changed outside coffer",
            ));
        }
        Ok(if own.is_some() { paths } else { None })
    }
}

/// Whether `row`, key `name`'s row of paths, and `entry`, the entry it is sealed to, show
/// that the key's own rows may be under its `K_keys(K)`, for a home that cannot check them
/// (it does not hold the key's root): the row is sealed to the key's last
/// [`key_paths::KEY_PATHS_VERB`] entry, and that entry names the key and is authentic under
/// the store's audit key. A writer without the store's root key cannot make such an entry,
/// so it cannot have a key of the store's root taken for one with a root of its own (left
/// unchecked, or left behind by a root rotation) by editing its row and planting a row of
/// paths.
pub(crate) fn attested_elsewhere(
    audit: &AuditKey,
    name: &str,
    row: &KeyPathsRow,
    entry: Option<&AuditEntry>,
) -> bool {
    let (Some(raw), Some(e)) = (&row.row, entry) else {
        return false;
    };
    row.name == name
        && row.last_entry == Some(raw.seal_seq)
        && e.seq == raw.seal_seq
        && e.verb == key_paths::KEY_PATHS_VERB
        && e.name == name
        && audit.keyed_entry_ok(e)
}

/// The key whose MACs `record`'s rows carry: `Some(paths)` its own `K_keys(K)` (from
/// `paths`, its `K_paths`), `None` the store's `K_rows`. `row` is the key's row of paths as
/// read (for a key with a root of its own), `seen` the entry this home last saw it sealed to.
///
/// # Errors
/// The row of paths is gone while an entry names it, older than the key's last entry or
/// than what this home saw, or fails its MAC; it exists and `paths` is not given (it was made
/// since the caller looked).
pub(crate) fn key_row_key<'a>(
    record: &KeyRecord,
    paths: Option<&'a PathsKey>,
    row: Option<&KeyPathsRow>,
    seen: Option<i64>,
    location: &str,
) -> Result<Option<&'a PathsKey>, Error> {
    if record.root.is_none() {
        return Ok(None);
    }
    let name = &record.name;
    let Some(row) = row.filter(|r| r.name == *name) else {
        return Err(Error::backend(format!(
            "internal error: key `{name}`'s row of paths was not read"
        )));
    };
    let Some(raw) = &row.row else {
        if row.last_entry.or(seen).is_some() {
            return Err(key_paths::missing_row(location, row, seen));
        }
        return Ok(None);
    };
    if let Some(seen) = seen.filter(|&s| s > raw.seal_seq) {
        return Err(key_paths::older_row(location, name, raw.seal_seq, seen));
    }
    match row.last_entry {
        Some(seq) if seq == raw.seal_seq => {}
        Some(seq) => {
            return Err(key_paths::tampered(
                location,
                name,
                &format!(
                    "its row is sealed to audit entry {}, not to its last change (audit entry \
                     {seq}): it was put back from an older copy",
                    raw.seal_seq
                ),
            ));
        }
        None => {
            return Err(key_paths::tampered(
                location,
                name,
                &format!(
                    "its row is sealed to audit entry {}, which does not seal it: it was \
                     written outside coffer",
                    raw.seal_seq
                ),
            ));
        }
    }
    let Some(paths) = paths.filter(|p| p.key_name() == name) else {
        return Err(Error::conflict(format!(
            "key `{name}`'s row of paths was made while its rows were read; nothing was used"
        ))
        .advice(Advice::TryAgain));
    };
    match paths.stage_of_row(raw) {
        Some(Stage::Keys) => Ok(Some(paths)),
        Some(Stage::Paths | Stage::Params) => Ok(None),
        None => Err(key_paths::tampered(
            location,
            name,
            "its row does not match its MAC: it was written outside coffer",
        )),
    }
}

/// The error for a store being sealed as one of an older release whose key `name` has a row
/// of the paths it protects, which no such store has.
pub(crate) fn paths_before_seal(location: &str, name: &str) -> Error {
    Error::corrupt(format!(
        "the store {location} is being sealed as one of an older release, but key `{name}` \
         has a row of the paths it protects, which such a store cannot have: the store was \
         changed outside coffer; nothing was sealed"
    ))
    .advice(Advice::VerifyAudit)
}

/// The MAC key of a key's rows, as [`key_row_key`] chose it.
pub(crate) fn mac_key<'a>(audit: &'a AuditKey, own: Option<&'a PathsKey>) -> &'a MacKey {
    own.map_or_else(|| audit.rows(), PathsKey::keys)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::key_paths::{Claims, RawKeyPaths, SECRET_LEN};
    use crate::store::key_rows::KeyState;

    fn record(root: Option<&str>) -> KeyRecord {
        KeyRecord {
            name: "prod".into(),
            spec: "aes-256".into(),
            created_at: 1,
            state: KeyState::Enabled,
            rotation_period_secs: None,
            min_decrypt_version: 1,
            active_version: 1,
            root: root.map(str::to_owned),
            versions: Vec::new(),
            seal: None,
            last_change: None,
        }
    }

    fn paths() -> PathsKey {
        PathsKey::derive("store", "prod", &[9; SECRET_LEN]).unwrap()
    }

    fn row(stage: Stage, seq: i64, last: Option<i64>) -> KeyPathsRow {
        let claims = Claims {
            own: vec!["/app/prod".into()],
            holes: Vec::new(),
        };
        let (p, h) = claims.columns();
        KeyPathsRow {
            name: "prod".into(),
            row: Some(RawKeyPaths {
                secret: Vec::new(),
                paths: p,
                holes: h,
                seal_seq: seq,
                mac: paths().mac_at(stage, &claims, seq).to_vec(),
            }),
            last_entry: last,
        }
    }

    fn chosen(r: &KeyRecord, row: &KeyPathsRow, seen: Option<i64>) -> Result<bool, String> {
        let p = paths();
        key_row_key(r, Some(&p), Some(row), seen, "db")
            .map(|k| k.is_some())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn only_a_row_of_paths_at_v3_puts_a_keys_rows_under_its_own_key() {
        let own = record(Some("local:1"));
        assert_eq!(chosen(&own, &row(Stage::Keys, 7, Some(7)), None), Ok(true));
        assert_eq!(
            chosen(&own, &row(Stage::Keys, 7, Some(7)), Some(7)),
            Ok(true)
        );
        for stage in [Stage::Paths, Stage::Params] {
            assert_eq!(chosen(&own, &row(stage, 7, Some(7)), None), Ok(false));
        }
        // A key under the store's root: the store's key, whatever the rows of paths say.
        assert_eq!(
            chosen(&record(None), &row(Stage::Keys, 7, Some(7)), None),
            Ok(false)
        );
        // No row and no entry: a key of a release before, under the store's key.
        let none = KeyPathsRow {
            name: "prod".into(),
            row: None,
            last_entry: None,
        };
        assert_eq!(chosen(&own, &none, None), Ok(false));
    }

    #[test]
    fn a_row_of_paths_put_back_removed_or_forged_is_refused() {
        let own = record(Some("local:1"));
        let refused = |row: &KeyPathsRow, seen: Option<i64>, needle: &str| {
            let e = chosen(&own, row, seen).unwrap_err();
            assert!(e.contains(needle) && e.contains("prod"), "{needle}: {e}");
        };
        // An older row (of stage v2, whose key's rows were under K_rows) put back.
        refused(&row(Stage::Params, 5, Some(7)), None, "older copy");
        refused(&row(Stage::Params, 5, Some(5)), Some(7), "older copy");
        refused(&row(Stage::Params, 5, None), None, "does not seal it");
        // Removed while an entry names it, or after this home saw it.
        let gone = |last| KeyPathsRow {
            name: "prod".into(),
            row: None,
            last_entry: last,
        };
        refused(&gone(Some(7)), None, "removed outside coffer");
        refused(&gone(None), Some(7), "removed or hidden");
        // Its MAC made by another key (or its paths edited).
        let mut forged = row(Stage::Keys, 7, Some(7));
        forged.row.as_mut().unwrap().paths = "/app/prod\n/app/other".into();
        refused(&forged, None, "does not match its MAC");
        // A row of paths but no K_paths at hand: never the store's key.
        let e = key_row_key(&own, None, Some(&row(Stage::Keys, 7, Some(7))), None, "db")
            .unwrap_err()
            .to_string();
        assert!(e.contains("was made while"), "{e}");
    }
}
