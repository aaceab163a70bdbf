//! The path policies as [`Params`] uses them: checked against their seal, and against what
//! each key whose root this home holds attests ([`crate::store::key_paths`]), so that a
//! policy changed by a machine without that root is refused here.

use std::sync::Arc;

use super::{ParamResult, Params, Policies, RowKeys};
use crate::error::{Advice, Error};
use crate::store::key_paths::{self, Claims, KeyPathsRow, PathsKey, Stage};

/// How many times the check is made: again after giving a key its first row, or after a set
/// that differs from a key's seal (a policy change of another machine between the two
/// reads). Every other failure is an error at once.
const ATTEMPTS: usize = 3;

impl Params {
    /// The store's path policies, checked against their seal and against what every key
    /// whose root this home holds attests.
    ///
    /// # Errors
    /// The policies fail a check; the store's keys cannot be opened; the store failed.
    pub(crate) async fn checked_policies(&self) -> ParamResult<Policies> {
        Ok(self.attested_policies().await?.0)
    }

    /// [`Params::checked_policies`], with the `K_paths` of every key whose root this home
    /// holds: what a policy change reseals those keys' paths with. A key with a root of its
    /// own that has no row yet, and that this home never saw sealed (one made by the release
    /// before), gets one here, after the whole log verified.
    pub(crate) async fn attested_policies(&self) -> ParamResult<(Policies, Vec<Arc<PathsKey>>)> {
        let (policies, keys) = self.attest_held().await?;
        let unheld = self.unheld_with_rows(&policies, &keys).await?;
        self.store
            .use_row_keys(Arc::new(RowKeys::new(policies.clone(), &keys, &unheld)));
        Ok((policies, keys))
    }

    /// The keys named by `policies` (`local:NAME`) whose root this home does not hold
    /// (not in `held`) and that have a row of their paths, or had one: the rows of the names
    /// they protect are MACed under their `K_params(K)` ([`super::row_keys`]).
    async fn unheld_with_rows(
        &self,
        policies: &Policies,
        held: &[Arc<PathsKey>],
    ) -> ParamResult<Vec<String>> {
        let mut names: Vec<String> = policies
            .iter()
            .filter_map(|p| p.key.strip_prefix("local:"))
            .filter(|n| !held.iter().any(|k| k.key_name() == *n))
            .map(str::to_owned)
            .collect();
        if names.is_empty() {
            return Ok(names);
        }
        names.sort_unstable();
        names.dedup();
        let rows = self.store.key_paths(&names).await?;
        Ok(rows
            .into_iter()
            .filter(|r| r.row.is_some() || r.last_entry.is_some())
            .map(|r| r.name)
            .collect())
    }

    /// The policies checked against the seals of the keys whose root this home holds, and
    /// their `K_paths` ([`Params::attested_policies`]).
    async fn attest_held(&self) -> ParamResult<(Policies, Vec<Arc<PathsKey>>)> {
        let held = self.keys.held_roots().await?;
        let mut failed = None;
        for _ in 0..ATTEMPTS {
            let policies = self.store.policies().await?;
            if held.is_empty() {
                return Ok((policies, Vec::new()));
            }
            match self.attest(&held, &policies).await? {
                Pass::Keys(keys) => return Ok((policies, keys)),
                Pass::Again => {}
                Pass::Differs(e) => {
                    failed.get_or_insert(e);
                }
            }
        }
        Err(failed.unwrap_or_else(|| {
            Error::backend(
                "the rows of the paths that keys protect kept changing while they were read; \
                 nothing was used",
            )
            .advice(Advice::TryAgain)
        }))
    }

    /// One pass of [`Params::attested_policies`] over `policies` (see [`Pass`]).
    async fn attest(&self, held: &[(String, bool)], policies: &Policies) -> ParamResult<Pass> {
        let names: Vec<String> = held.iter().map(|h| h.0.clone()).collect();
        let rows = self.store.key_paths(&names).await?;
        let location = self.store.location();
        let mut keys = Vec::with_capacity(rows.len());
        let mut made = false;
        for (name, exists) in held {
            let row = rows
                .iter()
                .find(|r| &r.name == name)
                .cloned()
                .unwrap_or_else(|| KeyPathsRow {
                    name: name.clone(),
                    row: None,
                    last_entry: None,
                });
            let seen = self.keys.paths_seen(name).await?;
            match (&row.row, row.last_entry.or(seen)) {
                (_, Some(seq)) if !*exists => {
                    return Err(key_paths::key_gone(&location, name, seq));
                }
                // Removed with every trace of its seals, or another store's root: either way
                // the policies cannot be checked here.
                _ if !*exists => return Err(key_paths::key_missing(&location, name)),
                (None, None) => {
                    let (wrapped, key) = self.keys.new_paths_key(name).await?;
                    self.store.first_key_paths(&key, &wrapped).await?;
                    made = true;
                }
                (None, _) => {
                    return Err(key_paths::missing_row(&location, &row, seen));
                }
                (Some(raw), _) => {
                    if let Some(seen) = seen.filter(|&s| s > raw.seal_seq) {
                        return Err(key_paths::older_row(&location, name, raw.seal_seq, seen));
                    }
                    let key = self.keys.paths_key(name, &raw.secret).await?;
                    if rows_unmoved(&key, policies, &row).is_some() {
                        // Made before the rows of its names, or its own, were MACed under its
                        // key.
                        self.store.move_key_rows(&key).await?;
                        made = true;
                        continue;
                    }
                    if let Err(mismatch) = check(&key, &location, policies, &row)? {
                        return Ok(Pass::Differs(mismatch));
                    }
                    if seen != Some(raw.seal_seq) {
                        self.keys.saw_paths(name, raw.seal_seq).await?;
                    }
                    keys.push(key);
                }
            }
        }
        Ok(if made { Pass::Again } else { Pass::Keys(keys) })
    }
}

/// What one pass of the check found.
enum Pass {
    /// Every key's seal holds: their `K_paths`.
    Keys(Vec<Arc<PathsKey>>),
    /// A key got its first row: read again.
    Again,
    /// The set differs from what a key sealed (perhaps changed by another machine between
    /// the reads): read again, and if it still differs, this is the error.
    Differs(Error),
}

/// In the transaction that gives key `name` its first row, with the whole log and head as
/// that transaction reads them: whether it may (no entry of the log sealed the key's paths
/// before, so none is hidden by an edit of its verb or name, which the chain's hashes find).
///
/// # Errors
/// The log fails verification.
pub(crate) fn first_row_allowed(
    entries: &[crate::store::audit::AuditEntry],
    head: &crate::store::audit::Head,
    audit: &crate::store::audit::AuditKey,
    location: &str,
    name: &str,
) -> ParamResult<bool> {
    whole_log_verifies(
        entries,
        head,
        audit,
        &format!(
            "key `{name}` has no row of the paths it protects, and the audit log of \
             {location}, which says whether it had one,"
        ),
        "no row was made",
    )?;
    Ok(!entries
        .iter()
        .any(|e| e.verb == key_paths::KEY_PATHS_VERB && e.name == name))
}

/// In the transaction that moves the rows of the names key `name` protects under it (its
/// row sealed to entry `sealed` says they are not yet), with the whole log and head as that
/// transaction reads them: whether it may (no later entry of the log sealed the key's paths,
/// so none is hidden by an edit of its verb or name, which the chain's hashes find).
///
/// # Errors
/// The log fails verification.
pub(crate) fn move_allowed(
    entries: &[crate::store::audit::AuditEntry],
    head: &crate::store::audit::Head,
    audit: &crate::store::audit::AuditKey,
    location: &str,
    name: &str,
    sealed: i64,
) -> ParamResult<bool> {
    whole_log_verifies(
        entries,
        head,
        audit,
        &format!(
            "the rows of the names key `{name}` protects are not yet sealed under it, and the \
             audit log of {location}, which says whether they were,"
        ),
        "nothing was moved",
    )?;
    Ok(!entries
        .iter()
        .any(|e| e.verb == key_paths::KEY_PATHS_VERB && e.name == name && e.seq > sealed))
}

/// The error if the whole log fails verification: `what` says which log and why it was
/// read, `done` what was not done.
fn whole_log_verifies(
    entries: &[crate::store::audit::AuditEntry],
    head: &crate::store::audit::Head,
    audit: &crate::store::audit::AuditKey,
    what: &str,
    done: &str,
) -> ParamResult<()> {
    if let crate::store::audit::Verified::Bad { seq, why } =
        crate::store::audit::verify(entries, head, audit)
    {
        return Err(Error::corrupt(format!(
            "{what} fails verification at seq {seq}: {why}; {done} and no policy was used"
        ))
        .advice(Advice::VerifyAudit));
    }
    Ok(())
}

/// The claims of key `name` (a key of the store, `local:NAME` in policies) in `set`: its
/// own paths and its holes ([`crate::store::key_paths`]).
pub(crate) fn claims_of(set: &Policies, name: &str) -> Claims {
    let key = format!("local:{name}");
    let mut claims = Claims::default();
    for p in set.iter() {
        if p.key == key {
            claims.own.push(p.path.as_str().to_owned());
        } else if set
            .without(&p.path)
            .0
            .for_path(&p.path)
            .is_some_and(|above| above.key == key)
        {
            claims.holes.push(p.path.as_str().to_owned());
        }
    }
    claims
}

/// The stage `row` is sealed at, to the claims of key `row.name` in `policies` and to its
/// last entry, if it is one before [`Stage::Keys`] ([`crate::store::key_paths`]): what is not
/// yet MACed under the key, which [`super::ParamStore::move_key_rows`] moves.
pub(crate) fn rows_unmoved(
    key: &PathsKey,
    policies: &Policies,
    row: &KeyPathsRow,
) -> Option<Stage> {
    let raw = row.row.as_ref()?;
    if row.last_entry != Some(raw.seal_seq) {
        return None;
    }
    key.stage_of(&claims_of(policies, &row.name), raw.seal_seq, &raw.mac)
        .filter(|&s| s < Stage::Keys)
}

/// Checks the set `policies` against what key `row.name` attests (module docs), with
/// `key` its `K_paths`.
///
/// # Errors
/// The row is missing, fails its MAC, or is not sealed to the key's last entry; inside,
/// the set differs from what the key sealed.
pub(crate) fn check(
    key: &PathsKey,
    location: &str,
    policies: &Policies,
    row: &KeyPathsRow,
) -> ParamResult<Result<(), Error>> {
    let name = &row.name;
    let bad = |what: &str| key_paths::tampered(location, name, what);
    let Some(raw) = &row.row else {
        return Err(key_paths::missing_row(location, row, None));
    };
    let now = claims_of(policies, name);
    let stage = |c: &Claims| key.stage_of(c, raw.seal_seq, &raw.mac);
    let sealed = |c: &Claims| stage(c) == Some(Stage::Keys);
    let sealed_before = |c: &Claims| stage(c).is_some_and(|s| s < Stage::Keys);
    let unmoved = !sealed(&now) && sealed_before(&now);
    if !sealed(&now) && !unmoved {
        let was = Claims::from_columns(&raw.paths, &raw.holes);
        if !sealed(&was) && !sealed_before(&was) {
            return Err(bad(
                "its row does not match its MAC: it was written outside coffer",
            ));
        }
        return Ok(Err(Error::corrupt(format!(
            "the path policies in the store {location} are not what key `{name}` sealed: {}; \
             they were changed by someone without its root, and no policy was used",
            now.differences(&was).join("; ")
        ))
        .advice(Advice::VerifyAudit)));
    }
    match row.last_entry {
        // A row whose names' rows are not yet moved under the key (the check before each
        // use moves them first): not one to seal a change over.
        Some(seq) if seq == raw.seal_seq && unmoved => Err(Error::backend(format!(
            "the rows of the names key `{name}` protects are not yet sealed under it; \
             nothing was changed"
        ))
        .advice(Advice::TryAgain)),
        Some(seq) if seq == raw.seal_seq => Ok(Ok(())),
        Some(seq) => Err(bad(&format!(
            "its row is sealed to audit entry {}, not to its last change (audit entry {seq}): \
             it was put back from an older copy",
            raw.seal_seq
        ))),
        None => Err(bad(&format!(
            "its row is sealed to audit entry {}, which does not seal it: it was written \
             outside coffer",
            raw.seal_seq
        ))),
    }
}

/// The keys of the store (`local:NAME`) whose claims differ between `old` and `new`, with
/// their claims in `new`.
pub(crate) fn changed(old: &Policies, new: &Policies) -> Vec<(String, Claims)> {
    let mut names: Vec<&str> = old
        .iter()
        .chain(new.iter())
        .filter_map(|p| p.key.strip_prefix("local:"))
        .collect();
    names.sort_unstable();
    names.dedup();
    names
        .into_iter()
        .filter_map(|n| {
            let after = claims_of(new, n);
            (claims_of(old, n) != after).then(|| (n.to_owned(), after))
        })
        .collect()
}

/// In the transaction of a policy change from `old`, before the row of `row.name` is sealed
/// anew: the key to seal it with, after checking `old` (the set as the transaction read it)
/// against the row, so that a change made to the set since this home checked it is never
/// sealed; `None` for a key without a row or entry (a key under the store's root).
///
/// # Errors
/// The key is not in `keys` ([`not_unlocked`]); the check fails ([`check`]).
pub(crate) fn before_reseal<'k>(
    keys: &'k [Arc<PathsKey>],
    location: &str,
    old: &Policies,
    row: &KeyPathsRow,
) -> ParamResult<Option<&'k PathsKey>> {
    if row.row.is_none() && row.last_entry.is_none() {
        return Ok(None);
    }
    let key = keys
        .iter()
        .find(|k| k.key_name() == row.name)
        .ok_or_else(|| key_paths::not_unlocked(&row.name))?;
    check(key, location, old, row)??;
    Ok(Some(key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::key_paths::{RawKeyPaths, SECRET_LEN};

    use crate::params::policy::tests::set;

    fn key() -> PathsKey {
        PathsKey::derive("store", "prod", &[9; SECRET_LEN]).unwrap()
    }

    fn row(claims: &Claims, seq: i64, last: Option<i64>) -> KeyPathsRow {
        let (paths, holes) = claims.columns();
        KeyPathsRow {
            name: "prod".to_owned(),
            row: Some(RawKeyPaths {
                secret: vec![1],
                paths,
                holes,
                seal_seq: seq,
                mac: key().mac(claims, seq).to_vec(),
            }),
            last_entry: last,
        }
    }

    fn error(policies: &Policies, row: &KeyPathsRow) -> String {
        match check(&key(), "db", policies, row) {
            Err(e) | Ok(Err(e)) => e.to_string(),
            Ok(Ok(())) => panic!("the check passed"),
        }
    }

    #[test]
    fn own_paths_and_holes_decide_what_a_key_protects() {
        let s = set(&[
            ("/app", "local:app"),
            ("/app/prod", "local:prod"),
            ("/app/prod/db", "local:db"),
            ("/app/prod/db/x", "local:prod"),
            ("/app/prod/db/y", "local:other"),
            ("/other", "local:prod"),
        ]);
        let c = claims_of(&s, "prod");
        assert_eq!(c.own, ["/app/prod", "/app/prod/db/x", "/other"]);
        // `/app/prod/db/y` is a hole of `db`'s, not of `prod`'s.
        assert_eq!(c.holes, ["/app/prod/db"]);
        assert_eq!(
            claims_of(&s, "db").holes,
            ["/app/prod/db/x", "/app/prod/db/y"]
        );
        assert_eq!(claims_of(&s, "app").holes, ["/app/prod"]);
        let (paths, holes) = c.columns();
        assert_eq!(Claims::from_columns(&paths, &holes), c);
        assert_eq!(
            c.detail(),
            "paths /app/prod, /app/prod/db/x, /other; holes /app/prod/db"
        );
        assert_eq!(Claims::default().detail(), "paths none; holes none");
    }

    #[test]
    fn every_change_of_what_a_key_protects_is_found() {
        let good = set(&[("/app", "local:app"), ("/app/prod", "local:prod")]);
        let r = row(&claims_of(&good, "prod"), 7, Some(7));
        check(&key(), "db", &good, &r).unwrap().unwrap();
        // A policy above it changes nothing it protects.
        let above = set(&[("/app", "local:other"), ("/app/prod", "local:prod")]);
        check(&key(), "db", &above, &r).unwrap().unwrap();

        let retargeted = set(&[("/app", "local:app"), ("/app/prod", "local:params")]);
        let e = error(&retargeted, &r);
        assert!(e.contains("not what key `prod` sealed"), "{e}");
        assert!(e.contains("/app/prod is no longer under it"), "{e}");
        let removed = set(&[("/app", "local:app")]);
        assert!(error(&removed, &r).contains("/app/prod is no longer under it"));
        let inside = set(&[
            ("/app/prod", "local:prod"),
            ("/app/prod/db", "local:params"),
        ]);
        let e = error(&inside, &r);
        assert!(
            e.contains("a policy of /app/prod/db takes names from it"),
            "{e}"
        );
        let added = set(&[("/app/prod", "local:prod"), ("/app/dev", "local:prod")]);
        assert!(error(&added, &r).contains("/app/dev was put under it"));

        let with_hole = set(&[("/app/prod", "local:prod"), ("/app/prod/db", "local:db")]);
        let r2 = row(&claims_of(&with_hole, "prod"), 8, Some(8));
        let e = error(&set(&[("/app/prod", "local:prod")]), &r2);
        assert!(
            e.contains("the policy of /app/prod/db, inside its paths, is gone"),
            "{e}"
        );

        // The row itself: edited, older, unsealed, gone.
        let mut edited = r.clone();
        edited.row.as_mut().unwrap().paths = "/elsewhere".to_owned();
        edited.row.as_mut().unwrap().mac[0] ^= 1;
        assert!(error(&retargeted, &edited).contains("does not match its MAC"));
        let older = row(&claims_of(&good, "prod"), 5, Some(7));
        assert!(error(&good, &older).contains("put back from an older copy"));
        let unsealed = row(&claims_of(&good, "prod"), 7, None);
        assert!(error(&good, &unsealed).contains("written outside coffer"));
        let gone = KeyPathsRow {
            name: "prod".to_owned(),
            row: None,
            last_entry: Some(7),
        };
        assert!(error(&good, &gone).contains("removed outside coffer"));
        // Another key's MAC key, or another store's, does not check it.
        let other = PathsKey::derive("store2", "prod", &[9; SECRET_LEN]).unwrap();
        assert!(!matches!(check(&other, "db", &good, &r), Ok(Ok(()))));
        let other = PathsKey::derive("store", "dev", &[9; SECRET_LEN]).unwrap();
        assert!(!matches!(check(&other, "db", &good, &r), Ok(Ok(()))));
    }

    #[test]
    fn a_row_made_before_its_names_rows_moved_is_found_and_only_then() {
        let good = set(&[("/app/prod", "local:prod")]);
        let claims = claims_of(&good, "prod");
        let at = |stage: Stage, seq: i64, last: Option<i64>| {
            let mut r = row(&claims, seq, last);
            r.row.as_mut().unwrap().mac = key().mac_at(stage, &claims, seq).to_vec();
            r
        };
        for stage in [Stage::Paths, Stage::Params] {
            let v = |seq, last| at(stage, seq, last);
            assert_eq!(rows_unmoved(&key(), &good, &v(7, Some(7))), Some(stage));
            // Of other claims or not sealed to the key's last entry: no.
            let other = set(&[("/app/prod", "local:prod"), ("/app/dev", "local:prod")]);
            assert_eq!(rows_unmoved(&key(), &other, &v(7, Some(7))), None);
            assert_eq!(rows_unmoved(&key(), &good, &v(5, Some(7))), None);
            // The check never takes one for a row to seal a change over.
            assert!(error(&good, &v(7, Some(7))).contains("not yet sealed under it"));
            assert!(error(&good, &v(5, Some(7))).contains("put back from an older copy"));
            assert!(error(&other, &v(7, Some(7))).contains("/app/dev was put under it"));
        }
        // A v3 row: nothing to move.
        assert_eq!(rows_unmoved(&key(), &good, &row(&claims, 7, Some(7))), None);
        assert_eq!(
            key().stage_of_row(row(&claims, 7, Some(7)).row.as_ref().unwrap()),
            Some(Stage::Keys)
        );
    }

    #[test]
    fn a_change_reseals_exactly_the_keys_whose_names_move() {
        let old = set(&[("/app", "local:app"), ("/app/prod", "local:prod")]);
        let new = set(&[
            ("/app", "local:app"),
            ("/app/prod", "local:prod"),
            ("/app/prod/db", "local:db"),
        ]);
        let names: Vec<String> = changed(&old, &new).into_iter().map(|c| c.0).collect();
        assert_eq!(names, ["db", "prod"]);
        let retarget = set(&[("/app", "local:app"), ("/app/prod", "local:dev")]);
        let names: Vec<String> = changed(&old, &retarget).into_iter().map(|c| c.0).collect();
        assert_eq!(names, ["dev", "prod"]);
        assert!(changed(&old, &old).is_empty());
        let kms = set(&[("/k", "kms:alias/x")]);
        assert!(changed(&Policies::default(), &kms).is_empty());
    }
}
