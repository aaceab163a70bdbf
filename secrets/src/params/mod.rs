//! The parameter store: versioned, hierarchically named parameters (`/app/prod/db-password`).
//!
//! Two layers:
//!
//! - [`ParamStore`], the storage trait: rows, versions, labels, deletion. It never sees a
//!   plaintext `secure-string` value, only the ESDK message it is stored as. The SQLite
//!   implementation (`SqliteParamStore`) lives in `coffer.db` next to the key hierarchy; a
//!   PostgreSQL one can implement the same trait (its methods return [`BoxFuture`]s so that
//!   it may await a driver on the application's runtime) and run the same conformance suite.
//! - [`Params`], the service over any store: it encrypts `secure-string` values (an ESDK
//!   message whose encryption context names the parameter and the version) and decrypts and
//!   checks them on the way out, refuses expired values, and retries a write that raced
//!   another writer.
//!
//! # Versions and races
//!
//! A write names the version it makes (latest + 1), because a `secure-string` value is
//! encrypted for that version before the store's write transaction starts (nothing slow runs
//! while it is open). The store checks, in its write transaction, that the latest version is
//! still the one the new one follows; if not, it answers [`PutOutcome::Stale`] and
//! [`Params::put`] encrypts again for the new latest + 1 (`--overwrite`), or fails
//! (`--if-version N`: check-and-set; no `--overwrite`: the name must be new).
//!
//! # Secure values
//!
//! Encrypted with algorithm suite 0x0478 (AES-256-GCM, HKDF-SHA512, key commitment, no
//! signature). A signature (0x0578) proves that a message was made by a holder of a
//! *private* signing key, which matters when readers can decrypt but must not be able to
//! write; here every key that decrypts a value (a local hierarchical key, a raw AES key)
//! also encrypts, so the signature adds no protection, and ECDSA P-384 costs about a
//! millisecond per `put` and per value read (`exec` of 100 values). Key commitment stays:
//! a message decrypts to one plaintext only.
//!
//! The encryption context holds `coffer:param` (the name) and `coffer:version` (the
//! version); after decrypting, the context must match the row the message came from, so a
//! message copied to another name or version fails to decrypt.
//!
//! By default values are encrypted under the store key: a local key named
//! [`STORE_KEY_NAME`] (`params`), created on the first `secure-string` put.

mod batch;
mod changes;
mod copy;
pub mod dotenv;
pub mod edit;
pub mod find;
pub mod import;
pub(crate) mod key_paths;
pub(crate) mod name;
pub(crate) mod param_type;
pub mod policy;
mod rollback;
pub(crate) mod row_keys;
mod service;
mod store_keys;
mod value;

#[cfg(test)]
pub(crate) mod conformance;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use coffer_core::keyring::BoxFuture;

pub use copy::Copied;
pub use name::{
    Label, MAX_LABEL_LEN, MAX_LEVELS, MAX_NAME_LEN, NameError, ParamName, ParamPath, Selector,
    Which,
};
pub use param_type::{ParamType, UnknownType};
pub use policy::{Policies, Policy};
pub use row_keys::RowKeys;
pub use service::{FixedKeys, Param, Params, PathValues, PutRequest, TypeRule, ValueKeys};
pub use store_keys::StoreKeys;
pub use value::{
    DEFAULT_MAX_VALUE_BYTES, MAX_VALUE_BYTES_VAR, SecretValue, ValueSource, finish as value_of,
    max_value_bytes_from_env, read_value,
};

pub use crate::error::ValueLen;

pub use crate::user::os_user;

use crate::error::Error;
use crate::store::key_paths::{KeyPathsRow, PathsKey};

/// The local key `secure-string` values are encrypted under when `put` has no `--key`.
pub const STORE_KEY_NAME: &str = "params";

/// The label `get NAME` and `exec` read: every plain `put` points it at the version it
/// writes, `rotate` only once the hooks passed.
pub const CURRENT: &str = "current";
/// The label of a version being rotated in (never read unless asked for).
pub const PENDING: &str = "pending";
/// The label of the version before `current`.
pub const PREVIOUS: &str = "previous";

/// Encryption context key: the parameter's name.
pub const CONTEXT_NAME: &str = "coffer:param";
/// Encryption context key: the version (decimal).
pub const CONTEXT_VERSION: &str = "coffer:version";

/// Result of a parameter operation.
pub type ParamResult<T> = Result<T, Error>;

impl fmt::Display for ParamType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a version is, without its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionMeta {
    /// The parameter.
    pub name: ParamName,
    /// 1, 2, …
    pub version: u32,
    /// The type.
    pub param_type: ParamType,
    /// Unix seconds.
    pub created_at: i64,
    /// The OS user that wrote it.
    pub author: String,
    /// `--description`.
    pub description: Option<String>,
    /// `--tag K=V`.
    pub tags: BTreeMap<String, String>,
    /// The labels that point at this version, sorted.
    pub labels: Vec<String>,
    /// When the value expires (Unix seconds).
    pub expires_at: Option<i64>,
    /// When the value was destroyed (`destroy NAME:VERSION`); it is gone.
    pub destroyed_at: Option<i64>,
    /// `secure-string`: the key reference it was encrypted with (`local:params`, …).
    pub key_ref: Option<String>,
}

impl VersionMeta {
    /// Whether the value has expired at `now` (Unix seconds).
    pub fn is_expired(&self, now: i64) -> bool {
        self.expires_at.is_some_and(|t| t <= now)
    }
}

/// A value as the store holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoredValue {
    /// `string`, `string-list`: the text.
    Clear(SecretValue),
    /// `secure-string`: the ESDK message.
    Sealed(Vec<u8>),
    /// Destroyed: no value any more.
    Destroyed,
}

/// One version with its stored value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredVersion {
    /// What it is.
    pub meta: VersionMeta,
    /// The value as stored.
    pub value: StoredValue,
}

/// One parameter of [`ParamStore::get_by_path`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathEntry {
    /// The version labelled `current`.
    Current(StoredVersion),
    /// No version is labelled `current` (the label was removed outside coffer).
    NoCurrent(ParamName),
    /// Protected by this key, which has a root of its own that this home does not hold:
    /// its rows cannot be checked here ([`RowKeys`]).
    Unheld(ParamName, String),
}

/// What the name must be for a write to go ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// No such parameter (no `--overwrite`).
    New,
    /// Anything: a new parameter or a new version (`--overwrite`).
    Any,
    /// The latest version is this one (`--if-version N`).
    Version(u32),
}

/// A version to write, as the store receives it.
#[derive(Debug, Clone)]
pub struct NewVersion {
    /// The parameter.
    pub name: ParamName,
    /// The version this write makes: the latest + 1 (1 for a new parameter).
    pub version: u32,
    /// The condition on the name.
    pub expect: Expect,
    /// The type.
    pub param_type: ParamType,
    /// [`StoredValue::Clear`] or [`StoredValue::Sealed`].
    pub value: StoredValue,
    /// `--description`.
    pub description: Option<String>,
    /// `--tag`.
    pub tags: BTreeMap<String, String>,
    /// `--label`: moved to the new version.
    pub labels: Vec<Label>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub expires_at: Option<i64>,
    /// The OS user.
    pub author: String,
    /// The key reference (secure values).
    pub key_ref: Option<String>,
}

/// How a write ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutOutcome {
    /// Written.
    Written(VersionMeta),
    /// The latest version is no longer `version - 1` (another writer came first); nothing
    /// was written. Only with [`Expect::Any`].
    Stale {
        /// The latest version now.
        latest: u32,
    },
}

/// How a write of many versions ended ([`ParamStore::put_all`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchOutcome {
    /// Every version written, in the order given.
    Written(Vec<VersionMeta>),
    /// The version at `index` follows a latest version that is no longer `latest`: another
    /// writer came first, and nothing was written.
    Stale {
        /// Its place in the list.
        index: usize,
        /// The latest version of its parameter now.
        latest: u32,
    },
}

/// What the store knows of a parameter, without its versions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamState {
    /// The parameter.
    pub name: ParamName,
    /// The highest version number written.
    pub latest: u32,
    /// Unix seconds.
    pub created_at: i64,
    /// `rm`: when it was deleted.
    pub deleted_at: Option<i64>,
}

/// One entry of `ls`: a parameter and its latest version (never its value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamSummary {
    /// The latest version.
    pub latest: VersionMeta,
    /// Unix seconds (the first version).
    pub created_at: i64,
    /// `rm`: when it was deleted (only in [`Listing::deleted`]).
    pub deleted_at: Option<i64>,
}

/// `ls PATH`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Listing {
    /// The parameters (not deleted), by name.
    pub params: Vec<ParamSummary>,
    /// Without `-r`: the paths one level below that hold parameters (`/app/prod`), sorted.
    pub subpaths: Vec<ParamPath>,
    /// The parameters left out because the key that protects them has a root of its own
    /// that this home does not hold (their rows cannot be checked here), with that key.
    pub unheld: Vec<(ParamName, String)>,
    /// The parameters deleted (`rm`, not yet destroyed), by name: `restore` brings them back.
    pub deleted: Vec<ParamSummary>,
}

/// A label set by `label`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelMove {
    /// The label.
    pub label: Label,
    /// The version it pointed at before, if any.
    pub from: Option<u32>,
    /// The version it points at now.
    pub to: u32,
}

/// What `destroy` removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destroyed {
    /// The parameter.
    pub name: ParamName,
    /// The versions whose values were destroyed.
    pub versions: Vec<u32>,
    /// Whether the parameter itself is gone (`destroy NAME`).
    pub whole: bool,
    /// Where the old bytes may still be, when the store could not wipe them at once (another
    /// process holds the SQLite store open, so its write-ahead log cannot be emptied yet).
    pub lingers: Option<String>,
}

/// A parameter's rotation settings (`rotate NAME --every`), and the lease of the run rotating
/// it (`coffer rotate` holds one while it works, so two runs never rotate one secret at once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationPlan {
    /// The parameter.
    pub name: ParamName,
    /// The schedule, in seconds (`None`: rotated by hand only).
    pub every_secs: Option<u64>,
    /// The generator SPEC.
    pub generate: Option<String>,
    /// The set hook.
    pub set_hook: Option<String>,
    /// The test hook.
    pub test_hook: Option<String>,
    /// Each hook's time limit.
    pub hook_timeout_secs: u64,
    /// The directory the hooks run in (absolute; where `rotate --every` was typed), so that
    /// `--set-hook ./set.sh` means the same from cron. `None`: a plan stored before coffer
    /// recorded it (its hooks run where `rotate --due` runs).
    pub workdir: Option<String>,
    /// When the next scheduled rotation is due (Unix seconds).
    pub next_due: Option<i64>,
    /// Why the last rotation failed (cleared by one that succeeds).
    pub last_error: Option<String>,
    /// Who holds the lease (`host:pid`) and until when.
    pub lease: Option<(String, i64)>,
    /// The process group of the hook the lease holder runs now, if any: a lease whose holder
    /// died is taken over only once that group is gone.
    pub lease_hook: Option<u32>,
    /// The settings of the run that staged the `pending` version, sealed
    /// ([`Params::seal_run`]): a resumed rotation runs the same hooks.
    pub pending_run: Option<Vec<u8>>,
    /// The settings sealed under the store key ([`Params::seal_plan`]): the hooks are
    /// commands a scheduled run executes, so a plan edited in the database is refused.
    pub seal: Option<Vec<u8>>,
}

/// What [`ParamStore::claim_rotation`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The lease is ours; the plan as stored (`None`: there was none; a row was made).
    Claimed(Option<Box<RotationPlan>>),
    /// Another run holds it.
    Held {
        /// `host:pid`.
        holder: String,
        /// Unix seconds.
        until: i64,
        /// The process group of the hook it runs, if any.
        hook: Option<u32>,
        /// The lease ran out, but a hook of its holder was recorded as running: held until
        /// that hook is known to be gone.
        expired: bool,
    },
    /// Only due rotations were asked for, and this one is not (any more).
    NotDue,
}

/// The storage of parameters (see the module docs). Object-safe: `&dyn ParamStore`.
///
/// A request for a parameter's rotation lease ([`ParamStore::claim_rotation`]): the lease of
/// `name` for `holder` until `until`, refused while another holder's lease runs (unless that
/// holder is `steal_from`, known dead); with `due_only`, only if a schedule says it is due at
/// `now`. Without a plan, a row with `hook_timeout_secs` is made.
#[derive(Debug, Clone, Copy)]
pub struct LeaseRequest<'a> {
    /// The parameter.
    pub name: &'a ParamName,
    /// Who asks (`host:pid:…`).
    pub holder: &'a str,
    /// Unix seconds.
    pub now: i64,
    /// Unix seconds: when the lease runs out.
    pub until: i64,
    /// Only if a schedule says it is due.
    pub due_only: bool,
    /// A holder known dead, whose lease may be taken.
    pub steal_from: Option<&'a str>,
    /// The hooks' time limit, for a row made without a plan.
    pub hook_timeout_secs: u64,
}

/// Every write is one transaction. Names are valid ([`ParamName`]) by construction.
pub trait ParamStore: Send + Sync + fmt::Debug {
    /// Where the store is (`sqlite:///…/coffer.db`), for messages.
    fn location(&self) -> String;

    /// The parameter's state, if it exists (deleted or not).
    fn state<'a>(&'a self, name: &'a ParamName) -> BoxFuture<'a, ParamResult<Option<ParamState>>>;

    /// Writes a new version (see [`NewVersion`] and [`Expect`]). Errors:
    /// [`Error::Exists`] ([`Expect::New`]), [`Error::VersionMismatch`]
    /// ([`Expect::Version`]), [`Error::Deleted`].
    fn put(&self, new: NewVersion) -> BoxFuture<'_, ParamResult<PutOutcome>>;

    /// Writes every version of `news` (of distinct parameters) in one transaction, in
    /// order, each as [`ParamStore::put`] writes one: all of them or none. The first found
    /// stale ends it, with nothing written ([`BatchOutcome::Stale`]); the first error, too.
    /// A store that cannot says so (the default).
    fn put_all(&self, news: Vec<NewVersion>) -> BoxFuture<'_, ParamResult<BatchOutcome>> {
        let _ = news;
        Box::pin(std::future::ready(Err(Error::unsupported(
            "this store cannot write many parameters in one transaction",
        ))))
    }

    /// One version with its stored value. Errors: not found (no parameter, version or
    /// label), [`Error::Deleted`]. A destroyed version comes back with
    /// [`StoredValue::Destroyed`]; expiry is the caller's business.
    fn get<'a>(
        &'a self,
        name: &'a ParamName,
        which: &'a Which,
    ) -> BoxFuture<'a, ParamResult<StoredVersion>>;

    /// The version labelled `current` of every parameter under `path` (directly below it,
    /// or at any depth with `recursive`), not deleted, by name, in one query. A destroyed
    /// current version comes back with [`StoredValue::Destroyed`], a parameter with no
    /// `current` label as [`PathEntry::NoCurrent`]: the caller says why it is left out.
    fn get_by_path<'a>(
        &'a self,
        path: &'a ParamPath,
        recursive: bool,
    ) -> BoxFuture<'a, ParamResult<Vec<PathEntry>>>;

    /// The parameters under `path` (not deleted), without values.
    fn list<'a>(
        &'a self,
        path: &'a ParamPath,
        recursive: bool,
    ) -> BoxFuture<'a, ParamResult<Listing>>;

    /// Every version of a parameter (deleted or not), oldest first, without values.
    fn history<'a>(
        &'a self,
        name: &'a ParamName,
    ) -> BoxFuture<'a, ParamResult<(ParamState, Vec<VersionMeta>)>>;

    /// Points `labels` at `version` (moving them from other versions).
    fn label<'a>(
        &'a self,
        name: &'a ParamName,
        version: u32,
        labels: &'a [Label],
    ) -> BoxFuture<'a, ParamResult<Vec<LabelMove>>>;

    /// Removes `labels`; returns the version each pointed at. A label that is not set is
    /// [`Error::NoLabel`] (and nothing is removed).
    fn unlabel<'a>(
        &'a self,
        name: &'a ParamName,
        labels: &'a [Label],
    ) -> BoxFuture<'a, ParamResult<Vec<(Label, u32)>>>;

    /// `rotate`'s last step, in one transaction: checks that the label `pending` points at
    /// `new` and `current` at `old` (or nowhere), then points `current` at `new`, `previous`
    /// at `old` (if there is one) and removes `pending`. Anything else is
    /// [`Error::RotationOvertaken`] and changes nothing.
    fn promote<'a>(
        &'a self,
        name: &'a ParamName,
        new: u32,
        old: Option<u32>,
    ) -> BoxFuture<'a, ParamResult<()>>;

    /// Every rotation plan, by name.
    fn rotation_plans(&self) -> BoxFuture<'_, ParamResult<Vec<RotationPlan>>>;

    /// Stores `plan`'s settings and schedule (`every_secs`, `generate`, hooks, time limit,
    /// `next_due`), leaving its lease and last error alone.
    fn set_rotation_plan<'a>(&'a self, plan: &'a RotationPlan) -> BoxFuture<'a, ParamResult<()>>;

    /// Takes the rotation lease that `req` asks for, in one transaction (see
    /// [`LeaseRequest`]).
    fn claim_rotation<'a>(&'a self, req: LeaseRequest<'a>) -> BoxFuture<'a, ParamResult<Claim>>;

    /// Gives the lease back (if `holder` still has it) and records the outcome: `error`
    /// `None` clears the last error and, on a schedule, sets the next due time to `now` plus
    /// the period; an error is kept and the due time left as it was (the next `--due` run
    /// tries again).
    fn release_rotation<'a>(
        &'a self,
        name: &'a ParamName,
        holder: &'a str,
        now: i64,
        error: Option<&'a str>,
    ) -> BoxFuture<'a, ParamResult<()>>;

    /// Records the sealed settings of the run staging a `pending` version ([`Params::seal_run`];
    /// `None` clears them), if `holder` holds the lease.
    fn set_pending_run<'a>(
        &'a self,
        name: &'a ParamName,
        holder: &'a str,
        run: Option<&'a [u8]>,
    ) -> BoxFuture<'a, ParamResult<()>>;

    /// Records the process group of the hook `holder` runs now (`None`: none runs), if
    /// `holder` holds the lease.
    fn set_rotation_hook<'a>(
        &'a self,
        name: &'a ParamName,
        holder: &'a str,
        hook: Option<u32>,
    ) -> BoxFuture<'a, ParamResult<()>>;

    /// `rm`: marks the parameter deleted at `now` (recoverable).
    fn delete<'a>(&'a self, name: &'a ParamName, now: i64) -> BoxFuture<'a, ParamResult<()>>;

    /// `restore`: undoes `rm`.
    fn restore<'a>(&'a self, name: &'a ParamName) -> BoxFuture<'a, ParamResult<()>>;

    /// `destroy NAME` (`version` `None`): removes the parameter, every version and label
    /// (the name is free again). `destroy NAME:VERSION`: wipes that version's value and its
    /// labels; its metadata stays in the history.
    fn destroy<'a>(
        &'a self,
        name: &'a ParamName,
        version: Option<u32>,
        now: i64,
    ) -> BoxFuture<'a, ParamResult<Destroyed>>;

    /// The path policies ([`policy`]), checked against their seal.
    fn policies(&self) -> BoxFuture<'_, ParamResult<Policies>>;

    /// Keeps `keys`, the keys of the parameter rows' MACs ([`RowKeys`]), for every use from
    /// now on: [`Params`] gives them, made from the policies it checked, before it uses the
    /// store. A store that reads a row before it was given them fails. A store without
    /// MACs ignores them (the default).
    fn use_row_keys(&self, keys: Arc<RowKeys>) {
        let _ = keys;
    }

    /// Sets `policy` (replacing the one of its path, which it returns), in one transaction
    /// with its audit entry, the new seal of the set and, for each key with a root of its
    /// own whose paths it changes, that key's new row sealed under its key in `keys`
    /// ([`crate::store::key_paths`]; a change of the paths of a key with a row and no key in
    /// `keys` is refused).
    fn set_policy<'a>(
        &'a self,
        policy: &'a Policy,
        keys: &'a [Arc<PathsKey>],
    ) -> BoxFuture<'a, ParamResult<Option<Policy>>>;

    /// Removes the policy of `path` and returns it (an error of kind [`Error::Missing`] if
    /// there is none); `keys` as for [`ParamStore::set_policy`].
    fn remove_policy<'a>(
        &'a self,
        path: &'a ParamPath,
        keys: &'a [Arc<PathsKey>],
    ) -> BoxFuture<'a, ParamResult<Policy>>;

    /// What the store holds of the attested paths of the keys `names`
    /// ([`crate::store::key_paths`]), in one snapshot. A store without keys of its own
    /// holds none (the default).
    fn key_paths<'a>(
        &'a self,
        names: &'a [String],
    ) -> BoxFuture<'a, ParamResult<Vec<KeyPathsRow>>> {
        Box::pin(std::future::ready(Ok(names
            .iter()
            .map(|n| KeyPathsRow {
                name: n.clone(),
                row: None,
                last_entry: None,
            })
            .collect())))
    }

    /// Gives key `key.key_name()` its first row (its row secret `secret`, as wrapped by its
    /// root), sealed under `key` to a new [`crate::store::key_paths::KEY_PATHS_VERB`] entry,
    /// with the paths the policies give it now; in one transaction, which first verifies the
    /// whole audit log and makes no row if the key has one or an entry of the log sealed one
    /// (so that no such entry is hidden by an edit of its verb or name). The rows of the names
    /// it protects move to its `K_params(K)` and its own to its `K_keys(K)`, in the same
    /// transaction.
    fn first_key_paths<'a>(
        &'a self,
        key: &'a Arc<PathsKey>,
        secret: &'a [u8],
    ) -> BoxFuture<'a, ParamResult<()>> {
        let _ = secret;
        Box::pin(std::future::ready(Err(Error::backend(format!(
            "this store cannot hold the paths of key `{}`",
            key.key_name()
        )))))
    }

    /// Moves the rows of the names key `key.key_name()` protects from the store's key to its
    /// `K_params(K)`, and its own rows in the key table from the store's `K_rows` to its
    /// `K_keys(K)`, what of them is not yet under it as its row of paths says (a row made
    /// before, [`crate::store::key_paths`]): in one transaction that checks the row against
    /// the policies it reads and each row moved under the store's key, then seals the row of
    /// paths anew to a new [`crate::store::key_paths::KEY_PATHS_VERB`] entry. Anything else
    /// found leaves it all as it is, for the check that follows.
    fn move_key_rows<'a>(&'a self, key: &'a Arc<PathsKey>) -> BoxFuture<'a, ParamResult<()>> {
        Box::pin(std::future::ready(Err(Error::backend(format!(
            "this store cannot hold the rows of key `{}`",
            key.key_name()
        )))))
    }

    /// Records reads of secure values in the store's audit log, one entry (`get-secure`) per
    /// `(name, version)`, all in one transaction; `context` (`by path /app`, or empty) goes
    /// into each entry's detail. A store without an audit log does nothing (the default).
    fn record_secure_reads<'a>(
        &'a self,
        reads: &'a [(ParamName, u32)],
        context: &'a str,
    ) -> BoxFuture<'a, ParamResult<()>> {
        let _ = (reads, context);
        Box::pin(std::future::ready(Ok(())))
    }
}
