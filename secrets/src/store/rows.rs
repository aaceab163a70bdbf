//! The rules both parameter stores apply to their rows, whatever the database: a row read
//! back is checked before it is believed ([`stored_version`], [`bad_row`]), a write is checked
//! against the state it would change ([`check_put`], [`check_promote`], ...), the SQL text the
//! two dialects share, and the audit details each write records. The SQLite store
//! (`params.rs`) and the PostgreSQL store (`pg.rs`) read and write rows; this module decides.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use zeroize::Zeroizing;

use super::param_seal::{ParamHead, VersionFields, tampered, version_mac};
use crate::error::{Advice, Error};
use crate::params::{CURRENT, Which};
use crate::params::{
    Claim, Destroyed, Expect, Label, LabelMove, NewVersion, ParamName, ParamPath, ParamResult,
    ParamState, ParamType, PathEntry, PutOutcome, RotationPlan, SecretValue, StoredValue,
    StoredVersion, VersionMeta,
};

/// A store (at `location`) whose rows break the schema's rules.
pub(crate) fn damaged(location: &str, what: impl fmt::Display) -> Error {
    Error::corrupt(format!("store {location} is damaged: {what}"))
}

/// A version row as a database returns it (the columns of a version with its labels).
#[derive(Clone)]
pub(crate) struct RawVersion {
    pub(crate) name: String,
    pub(crate) version: i64,
    pub(crate) param_type: String,
    pub(crate) value: Option<Zeroizing<Vec<u8>>>,
    pub(crate) key_ref: Option<String>,
    pub(crate) description: Option<String>,
    pub(crate) tags: String,
    pub(crate) created_at: i64,
    pub(crate) author: String,
    pub(crate) expires_at: Option<i64>,
    pub(crate) destroyed_at: Option<i64>,
    /// Comma-separated; the stores read them from the checked head instead (`NULL`).
    pub(crate) labels: Option<String>,
    /// Its MAC ([`super::param_seal`]).
    pub(crate) mac: Option<Vec<u8>>,
}

/// A `param_rotations` row as either store reads it ([`PLAN_COLUMNS`]), before checking.
pub(crate) struct PlanRow {
    pub(crate) name: String,
    pub(crate) every_secs: Option<i64>,
    pub(crate) generate: Option<String>,
    pub(crate) set_hook: Option<String>,
    pub(crate) test_hook: Option<String>,
    pub(crate) hook_timeout_secs: i64,
    pub(crate) next_due: Option<i64>,
    pub(crate) lease: (Option<String>, Option<i64>),
    pub(crate) last_error: Option<String>,
    pub(crate) seal: Option<Vec<u8>>,
    pub(crate) workdir: Option<String>,
    pub(crate) pending_run: Option<Vec<u8>>,
    pub(crate) lease_hook: Option<i64>,
}

impl PlanRow {
    /// The plan, its numbers checked.
    pub(crate) fn into_plan(self, location: &str) -> ParamResult<RotationPlan> {
        let bad = |what: &str| bad_row(location, &self.name, what);
        Ok(RotationPlan {
            name: ParamName::parse(&self.name).map_err(|_| bad("bad name"))?,
            every_secs: self
                .every_secs
                .map(|v| u64::try_from(v).map_err(|_| bad("bad schedule")))
                .transpose()?,
            hook_timeout_secs: u64::try_from(self.hook_timeout_secs)
                .map_err(|_| bad("bad time limit"))?,
            generate: self.generate,
            set_hook: self.set_hook,
            test_hook: self.test_hook,
            next_due: self.next_due,
            last_error: self.last_error,
            lease_hook: self
                .lease_hook
                .map(|g| u32::try_from(g).map_err(|_| bad("bad hook process group")))
                .transpose()?,
            lease: match self.lease {
                (Some(h), Some(u)) => Some((h, u)),
                _ => None,
            },
            seal: self.seal,
            workdir: self.workdir,
            pending_run: self.pending_run,
        })
    }
}

/// A row of `get_by_path` (a version, or the name of a parameter with no current one) as
/// the store's types.
pub(crate) fn path_entry(
    row: Result<RawVersion, String>,
    location: &str,
) -> ParamResult<PathEntry> {
    match row {
        Ok(raw) => stored_version(raw, location).map(PathEntry::Current),
        Err(name) => ParamName::parse(&name)
            .map(PathEntry::NoCurrent)
            .map_err(|_| bad_row(location, &name, "bad name")),
    }
}

/// The query of `get_by_path` over `params p`, ending in a `WHERE` clause: each parameter's
/// version labelled `current` (SQL shared by both stores), `NULL` columns where it has none.
/// Deleted parameters are returned too: their heads are checked (a deletion mark set outside
/// coffer would otherwise hide a value), then skipped.
pub(crate) fn by_path_query(columns: &str) -> String {
    format!(
        "SELECT p.name, {columns} FROM params p
         LEFT JOIN param_labels c ON c.name = p.name AND c.label = 'current'
         LEFT JOIN param_versions v ON v.name = p.name AND v.version = c.version
         WHERE TRUE"
    )
}

/// What a checked head says of the parameter's state.
pub(crate) fn state_of(name: &ParamName, head: &ParamHead) -> ParamState {
    ParamState {
        name: name.clone(),
        latest: head.latest,
        created_at: head.created_at,
        deleted_at: head.deleted_at,
    }
}

/// The version `which` names, by the checked head's labels.
///
/// # Errors
/// No `current` version; no such label.
pub(crate) fn which_version(name: &ParamName, head: &ParamHead, which: &Which) -> ParamResult<u32> {
    let current = || {
        head.labels
            .get(CURRENT)
            .copied()
            .ok_or_else(|| Error::NoCurrent(name.clone()))
    };
    match which {
        Which::Version(v) => Ok(*v),
        Which::Latest => current(),
        Which::Label(label) if label.as_str() == CURRENT => current(),
        Which::Label(label) => {
            head.labels
                .get(label.as_str())
                .copied()
                .ok_or_else(|| Error::NoLabel {
                    name: name.clone(),
                    label: label.clone(),
                })
        }
    }
}

/// A version row its checked head says exists is gone.
pub(crate) fn missing_version(location: &str, name: &str, version: u32) -> Error {
    tampered(
        location,
        name,
        &format!(
            "its version {version} (param_versions) is missing: it was deleted outside coffer"
        ),
    )
}

/// The version the `current` label row points at is not the one the checked head says.
pub(crate) fn current_moved(location: &str, name: &str) -> Error {
    tampered(
        location,
        name,
        "its current label (param_labels) is not what its row (params) says: it was moved \
         outside coffer",
    )
}

/// Checks that the versions read are every version from 1 to the head's latest, in order.
///
/// # Errors
/// A version missing, naming it.
pub(crate) fn every_version(
    location: &str,
    head: &ParamHead,
    versions: &[VersionMeta],
) -> ParamResult<()> {
    // One pass over what was read: a store's `latest` is not a loop bound.
    for (i, v) in versions.iter().enumerate() {
        let want = u32::try_from(i).ok().and_then(|i| i.checked_add(1));
        if want != Some(v.version) {
            return Err(missing_version(
                location,
                &head.name,
                want.unwrap_or(u32::MAX),
            ));
        }
    }
    let read = u32::try_from(versions.len()).unwrap_or(u32::MAX);
    if read != head.latest {
        return Err(missing_version(
            location,
            &head.name,
            read.saturating_add(1),
        ));
    }
    Ok(())
}

/// The fields of a new version its MAC covers (`tags`: its tags as stored), in the life of
/// the parameter that began at audit entry `life`.
pub(crate) fn new_fields<'a>(new: &'a NewVersion, tags: &'a str, life: i64) -> VersionFields<'a> {
    VersionFields {
        name: new.name.as_str(),
        version: new.version,
        param_type: new.param_type.as_str(),
        value: Some(value_bytes(&new.value)),
        key_ref: new.key_ref.as_deref(),
        description: new.description.as_deref(),
        tags,
        created_at: new.created_at,
        author: &new.author,
        expires_at: new.expires_at,
        destroyed_at: None,
        life,
    }
}

/// `/a/b/` and `/a/b0`: every name below `/a/b` is strictly between them.
pub(crate) fn range(path: &ParamPath) -> (String, String) {
    let prefix = path.prefix();
    let mut end = prefix[..prefix.len() - 1].to_owned();
    end.push('0');
    (prefix, end)
}

/// A version row as the store's types; `location` names the store in errors.
pub(crate) fn stored_version(raw: RawVersion, location: &str) -> ParamResult<StoredVersion> {
    let bad = |what: &str| bad_row(location, &raw.name, what);
    let name = ParamName::parse(&raw.name).map_err(|_| bad("bad name"))?;
    let version = u32::try_from(raw.version).map_err(|_| bad("bad version number"))?;
    let param_type = ParamType::parse(&raw.param_type).map_err(|_| bad("bad type"))?;
    let tags: BTreeMap<String, String> =
        serde_json::from_str(&raw.tags).map_err(|_| bad("bad tags"))?;
    let mut labels: Vec<String> = raw
        .labels
        .as_deref()
        .map(|l| l.split(',').map(str::to_owned).collect())
        .unwrap_or_default();
    labels.sort();
    let value = match (raw.value, raw.destroyed_at, param_type.is_secure()) {
        (None, Some(_), _) => StoredValue::Destroyed,
        (Some(v), None, true) => StoredValue::Sealed(v.to_vec()),
        (Some(v), None, false) => StoredValue::Clear(
            SecretValue::from_bytes(v).map_err(|_| bad("a value that is not UTF-8"))?,
        ),
        _ => return Err(bad("value and destruction disagree")),
    };
    Ok(StoredVersion {
        meta: VersionMeta {
            name,
            version,
            param_type,
            created_at: raw.created_at,
            author: raw.author,
            description: raw.description,
            tags,
            labels,
            expires_at: raw.expires_at,
            destroyed_at: raw.destroyed_at,
            key_ref: raw.key_ref,
        },
        value,
    })
}

/// A parameter row that breaks the schema's rules.
pub(crate) fn bad_row(location: &str, name: &str, what: &str) -> Error {
    damaged(
        location,
        format!("parameter `{}`: {what}", name.escape_debug()),
    )
}

/// Checks a write against the parameter's state, read in the write's transaction: an
/// error, [`PutOutcome::Stale`], or `None` to go ahead.
///
/// # Errors
/// A value in the wrong form for its type; the parameter is deleted, exists (no
/// `--overwrite`) or is at another version (`--if-version`).
pub(crate) fn check_put(
    new: &NewVersion,
    state: Option<&ParamState>,
) -> ParamResult<Option<PutOutcome>> {
    let name = &new.name;
    match (&new.value, new.param_type.is_secure()) {
        (StoredValue::Sealed(_), true) | (StoredValue::Clear(_), false) => {}
        _ => {
            return Err(Error::backend(format!(
                "internal error: a {} value of {name} in the wrong form",
                new.param_type
            )));
        }
    }
    if let Some(ParamState {
        deleted_at: Some(at),
        ..
    }) = state
    {
        return Err(Error::Deleted {
            name: name.clone(),
            at: *at,
        });
    }
    let latest = state.map(|s| s.latest);
    match (new.expect, latest) {
        (Expect::New, Some(latest)) => {
            return Err(Error::Exists {
                name: name.clone(),
                latest,
            });
        }
        (Expect::Version(n), actual) if actual != Some(n) => {
            return Err(Error::VersionMismatch {
                name: name.clone(),
                expected: n,
                actual,
            });
        }
        _ => {}
    }
    let follows = latest.unwrap_or(0);
    if Some(new.version) != follows.checked_add(1) {
        if new.expect == Expect::Any {
            return Ok(Some(PutOutcome::Stale { latest: follows }));
        }
        return Err(Error::backend(format!(
            "internal error: version {} of {name} does not follow version {follows}",
            new.version
        )));
    }
    Ok(None)
}

/// A version that must exist and still hold its value (`label`, `destroy NAME:VERSION`):
/// `found` as looked up, `latest` for the message.
///
/// # Errors
/// No such version; a destroyed version.
pub(crate) fn held_version(
    name: &ParamName,
    version: u32,
    latest: u32,
    found: Option<StoredVersion>,
) -> ParamResult<StoredVersion> {
    let v = found.ok_or_else(|| Error::NoVersion {
        name: name.clone(),
        version,
        latest,
    })?;
    if let Some(at) = v.meta.destroyed_at {
        return Err(Error::Destroyed {
            name: name.clone(),
            version,
            at,
            current: false,
        });
    }
    Ok(v)
}

/// The state of a parameter that must exist and not be deleted.
///
/// # Errors
/// Not found; deleted.
pub(crate) fn live(name: &ParamName, state: Option<ParamState>) -> ParamResult<ParamState> {
    let state = state.ok_or_else(|| Error::NotFound(name.clone()))?;
    if let Some(at) = state.deleted_at {
        return Err(Error::Deleted {
            name: name.clone(),
            at,
        });
    }
    Ok(state)
}

/// The state of a parameter that `rm` (`deleted` set) or `restore` (`None`) may change.
///
/// # Errors
/// Not found; `rm` of a deleted parameter; `restore` of one that is not deleted.
pub(crate) fn check_delete(
    name: &ParamName,
    state: Option<ParamState>,
    deleted: Option<i64>,
) -> ParamResult<ParamState> {
    let state = state.ok_or_else(|| Error::NotFound(name.clone()))?;
    match (state.deleted_at, deleted) {
        (Some(at), Some(_)) => Err(Error::Deleted {
            name: name.clone(),
            at,
        }),
        (None, None) => Err(Error::NotDeleted(name.clone())),
        _ => Ok(state),
    }
}

/// The bytes a version's value is stored as.
pub(crate) fn value_bytes(value: &StoredValue) -> &[u8] {
    match value {
        StoredValue::Clear(v) => v.expose().as_bytes(),
        StoredValue::Sealed(m) => m,
        StoredValue::Destroyed => &[],
    }
}

/// The tags as stored (JSON).
pub(crate) fn tags_json(tags: &BTreeMap<String, String>) -> ParamResult<String> {
    serde_json::to_string(tags).map_err(|e| Error::backend(format!("tags: {e}")))
}

/// The audit detail of a put.
pub(crate) fn put_detail(new: &NewVersion) -> String {
    let mut detail = format!("version {}, {}", new.version, new.param_type);
    if !new.labels.is_empty() {
        detail.push_str(", labels ");
        let labels: Vec<&str> = new.labels.iter().map(Label::as_str).collect();
        detail.push_str(&labels.join(","));
    }
    detail
}

/// Every version of `news`, written ([`crate::params::ParamStore::put_all`]).
pub(crate) fn all_written(news: &[NewVersion]) -> crate::params::BatchOutcome {
    crate::params::BatchOutcome::Written(news.iter().map(written).collect())
}

/// The version at `index` of a batch was stale (`outcome`, as a put of it alone gave).
pub(crate) fn stale_at(index: usize, outcome: &PutOutcome) -> crate::params::BatchOutcome {
    let latest = match outcome {
        PutOutcome::Stale { latest } => *latest,
        PutOutcome::Written(meta) => meta.version,
    };
    crate::params::BatchOutcome::Stale { index, latest }
}

/// A batch of one as [`crate::params::ParamStore::put`] says how it ended.
pub(crate) fn single(outcome: crate::params::BatchOutcome) -> ParamResult<PutOutcome> {
    match outcome {
        crate::params::BatchOutcome::Stale { latest, .. } => Ok(PutOutcome::Stale { latest }),
        crate::params::BatchOutcome::Written(mut metas) => metas
            .pop()
            .map(PutOutcome::Written)
            .ok_or_else(|| Error::backend("internal error: a put wrote nothing")),
    }
}

/// What a committed put wrote (never its value).
fn written(new: &NewVersion) -> VersionMeta {
    let mut labels: Vec<String> = new.labels.iter().map(|l| l.as_str().to_owned()).collect();
    if moves_current(new) {
        labels.push(CURRENT.to_owned());
    }
    labels.sort();
    labels.dedup();
    VersionMeta {
        name: new.name.clone(),
        version: new.version,
        param_type: new.param_type,
        created_at: new.created_at,
        author: new.author.clone(),
        description: new.description.clone(),
        tags: new.tags.clone(),
        labels,
        expires_at: new.expires_at,
        destroyed_at: None,
        key_ref: new.key_ref.clone(),
    }
}

/// The audit detail of a label move.
pub(crate) fn label_detail(moves: &[LabelMove]) -> String {
    moves
        .iter()
        .map(|m| match m.from {
            Some(f) => format!("{} {f} -> {}", m.label.as_str(), m.to),
            None => format!("{} -> {}", m.label.as_str(), m.to),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The audit detail of an unlabel.
pub(crate) fn unlabel_detail(removed: &[(Label, u32)]) -> String {
    removed
        .iter()
        .map(|(l, v)| format!("{} (was {v})", l.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The audit detail of a destroy.
pub(crate) fn destroy_detail(destroyed: &Destroyed) -> String {
    let versions = destroyed
        .versions
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",");
    if destroyed.whole {
        format!("whole parameter; values of versions [{versions}]")
    } else {
        format!("version {versions}")
    }
}

/// The audit detail of a read of a secure value (`context`: `by path /app`, or empty).
pub(crate) fn read_detail(version: u32, context: &str) -> String {
    if context.is_empty() {
        format!("version {version}")
    } else {
        format!("version {version}, {context}")
    }
}

/// The paths one level below `lo` (`/a/`) among `parents`.
/// An update of a lease holder's row that found no row: the lease is no longer ours.
pub(crate) fn lease_lost(name: &ParamName, rows: u64) -> ParamResult<()> {
    if rows == 0 {
        return Err(Error::RotationOvertaken {
            name: name.clone(),
            why: "this run no longer holds its rotation lease".into(),
        });
    }
    Ok(())
}

/// `unlabel`'s check: `current` is not removed (reads would have nothing to read; a label is
/// moved, never taken away, as `AWSCURRENT` in Secrets Manager).
pub(crate) fn check_unlabel(name: &ParamName, labels: &[Label]) -> ParamResult<()> {
    if labels.iter().any(|l| l.as_str() == CURRENT) {
        return Err(Error::invalid(format!(
            "`current` cannot be removed from {name}: it is the version its reads get"
        ))
        .advice(Advice::MoveCurrent(name.clone())));
    }
    Ok(())
}

/// `promote`'s check: `pending` must point at `new`, `current` at `old` or nowhere.
pub(crate) fn check_promote(
    name: &ParamName,
    new: u32,
    old: Option<u32>,
    pending: Option<u32>,
    current: Option<u32>,
) -> ParamResult<()> {
    let overtaken = |why: String| Error::RotationOvertaken {
        name: name.clone(),
        why,
    };
    if pending != Some(new) {
        return Err(overtaken(match pending {
            Some(p) => format!("`pending` labels version {p}, not {new}"),
            None => format!("`pending` no longer labels version {new}"),
        }));
    }
    if current.is_some() && current != old {
        return Err(overtaken(format!(
            "`current` labels version {}, not {}",
            current.unwrap_or(0),
            old.map_or_else(|| "none".to_owned(), |v| v.to_string())
        )));
    }
    Ok(())
}

/// Whether a put points the label `current` at the new version (making it if need be): every
/// put but `rotate`'s own, which stages a `pending` version.
pub(crate) fn moves_current(new: &NewVersion) -> bool {
    !new.labels
        .iter()
        .any(|l| l.as_str() == "pending" || l.as_str() == "current")
}

/// The columns of a rotation plan, in [`plan_from`]'s order.
pub(crate) const PLAN_COLUMNS: &str = "name, every_secs, generate, set_hook, test_hook,
    hook_timeout_secs, next_due, lease_holder, lease_until, last_error, seal, workdir,
    pending_run, lease_hook";

/// `claim_rotation`'s decision on a plan as stored (`None`: no row).
pub(crate) fn claim_decision(
    plan: Option<&RotationPlan>,
    holder: &str,
    now: i64,
    due_only: bool,
    steal_from: Option<&str>,
) -> Option<Claim> {
    let Some(plan) = plan else {
        return due_only.then_some(Claim::NotDue);
    };
    if due_only && (plan.every_secs.is_none() || plan.next_due.is_none_or(|d| d > now)) {
        return Some(Claim::NotDue);
    }
    match &plan.lease {
        // A lease that ran out while its holder's hook was recorded as running is still
        // held: the caller takes it only once that hook is gone.
        Some((h, until))
            if (*until > now || plan.lease_hook.is_some())
                && h != holder
                && Some(h.as_str()) != steal_from =>
        {
            Some(Claim::Held {
                holder: h.clone(),
                until: *until,
                hook: plan.lease_hook,
                expired: *until <= now,
            })
        }
        _ => None,
    }
}

/// `set_rotation_plan`'s audit detail (the hooks are commands, not secrets, but long: only
/// whether they are set).
pub(crate) fn schedule_detail(plan: &RotationPlan) -> String {
    format!(
        "every: {}; generate: {}; set hook: {}; test hook: {}",
        plan.every_secs
            .map_or_else(|| "off".to_owned(), crate::time::format_duration),
        plan.generate.as_deref().unwrap_or("-"),
        if plan.set_hook.is_some() { "yes" } else { "no" },
        if plan.test_hook.is_some() {
            "yes"
        } else {
            "no"
        },
    )
}

/// `promote`'s audit detail.
pub(crate) fn promote_detail(new: u32, old: Option<u32>) -> String {
    match old {
        Some(old) => format!("current: version {new}; previous: version {old}"),
        None => format!("current: version {new}"),
    }
}

pub(crate) fn subpaths_of(
    location: &str,
    lo: &str,
    parents: impl IntoIterator<Item = String>,
) -> ParamResult<Vec<ParamPath>> {
    let mut subpaths = BTreeSet::new();
    for parent in parents {
        let rest = parent.get(lo.len()..).unwrap_or_default();
        let first = rest.split('/').next().unwrap_or_default();
        let sub = ParamPath::parse(&format!("{lo}{first}"))
            .map_err(|_| bad_row(location, &parent, "bad path"))?;
        subpaths.insert(sub);
    }
    Ok(subpaths.into_iter().collect())
}

/// Checks that `name`, which a read of the names below `path` (directly, or at any depth with
/// `recursive`) returned, is one of them: the database chose the rows, and its ordering of
/// names (a collation) is not coffer's to trust.
///
/// # Errors
/// It is not.
pub(crate) fn check_below(
    location: &str,
    path: &ParamPath,
    recursive: bool,
    name: &str,
) -> ParamResult<()> {
    let below = name
        .strip_prefix(path.prefix().as_str())
        .is_some_and(|rest| !rest.is_empty() && (recursive || !rest.contains('/')));
    if below {
        return Ok(());
    }
    Err(tampered(
        location,
        name,
        &format!(
            "a read of the names below {path} returned it, which is not one: the store's \
             ordering of names was changed outside coffer"
        ),
    ))
}

/// The name of a parameter left out of a read because this home cannot check its rows
/// ([`crate::params::RowKeys`]), parsed: a name that does not parse was written outside
/// coffer.
///
/// # Errors
/// The name is not a valid one.
pub(crate) fn unheld_name(location: &str, name: &str) -> ParamResult<ParamName> {
    ParamName::parse(name).map_err(|_| {
        tampered(
            location,
            name,
            "its name is not a valid one: it was written outside coffer",
        )
    })
}

/// The fields of a row as read that its MAC covers (its version number checked by the
/// caller), in the life of the parameter that began at audit entry `life` (its head's
/// `born`).
pub(crate) fn version_fields(raw: &RawVersion, version: u32, life: i64) -> VersionFields<'_> {
    VersionFields {
        name: &raw.name,
        version,
        param_type: &raw.param_type,
        value: raw.value.as_deref().map(Vec::as_slice),
        key_ref: raw.key_ref.as_deref(),
        description: raw.description.as_deref(),
        tags: &raw.tags,
        created_at: raw.created_at,
        author: &raw.author,
        expires_at: raw.expires_at,
        destroyed_at: raw.destroyed_at,
        life,
    }
}

/// Checks a version row of the parameter whose checked head is `head` against its MAC and
/// the head, and returns its version number.
///
/// # Errors
/// A row without a MAC, with a wrong one, or not the head's (a destroyed version put back,
/// a version the head does not know), naming it.
pub(crate) fn check_version(
    key: &coffer_core::MacKey,
    location: &str,
    head: &ParamHead,
    raw: &RawVersion,
) -> ParamResult<u32> {
    let version = u32::try_from(raw.version)
        .ok()
        .filter(|v| (1..=head.latest).contains(v) && raw.name == head.name);
    let Some(version) = version else {
        return Err(tampered(
            location,
            &raw.name,
            &format!(
                "it has a version {} (param_versions) its row (params) does not know: it was \
                 added outside coffer",
                raw.version
            ),
        ));
    };
    let bad = |what: &str| {
        tampered(
            location,
            &raw.name,
            &format!("its version {version} {what}"),
        )
    };
    let Some(mac) = raw.mac.as_deref() else {
        return Err(bad(
            "(param_versions) has no MAC: it was written or edited outside coffer",
        ));
    };
    if !coffer_core::ct_eq(
        &version_mac(key, &version_fields(raw, version, head.born)),
        mac,
    ) {
        return Err(bad(
            "(param_versions) does not match its MAC: its value, type, expiry or other fields \
             were changed outside coffer",
        ));
    }
    if raw.destroyed_at.is_some() != head.destroyed.contains(&version) {
        return Err(bad(
            "(param_versions) is not as its row (params) says: a destroyed version was put \
             back, or a version was marked destroyed, outside coffer",
        ));
    }
    Ok(version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_below_a_path_keeps_only_names_below_it() {
        let path = ParamPath::parse("/app/prod").unwrap();
        let ok = |name: &str, recursive: bool| check_below("db", &path, recursive, name).is_ok();
        assert!(ok("/app/prod/db", false));
        assert!(ok("/app/prod/a/b", true));
        assert!(!ok("/app/prod/a/b", false));
        // What a case-blind ordering of names would let a query return.
        assert!(!ok("/APP/PROD/db", true));
        assert!(!ok("/app/prod", true));
        assert!(!ok("/app/production/x", true));
        let e = check_below("db", &path, true, "/app/dev/x").unwrap_err();
        assert!(e.to_string().contains("ordering of names"), "{e}");
        let root = ParamPath::parse("/").unwrap();
        assert!(check_below("db", &root, false, "/x").is_ok());
        assert!(check_below("db", &root, false, "/x/y").is_err());
    }
}
