//! The library's error: one enum whose variants are the kinds a caller can match on.
//!
//! Parameter errors carry what they are about ([`Error::NotFound`] names the parameter,
//! [`Error::VersionMismatch`] the versions); everything else is one of the kinds from
//! [`Error::Invalid`] to [`Error::Backend`], each with a message, an optional [`Advice`] and
//! the error underneath. Messages say what happened in the library's own words; what a user
//! could do about it is an [`Advice`], which a front end (the `coffer` command) puts in its
//! own words, naming its own flags and verbs.

use std::fmt;

use crate::keyref::error::KeyRefError;
use crate::keyref::keyfile::KeyFileError;
use crate::params::name::{Label, NameError, ParamName};
use crate::params::param_type::{ParamType, UnknownType};
use crate::time::TimeError;

/// Any error underneath one of the library's.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Result of a library operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong in the library. Match on the variant; new ones may come
/// (`#[non_exhaustive]`).
///
/// ```no_run
/// # async fn run() -> Result<(), coffer::error::Error> {
/// use coffer::error::Error;
///
/// let secrets = coffer::client::Secrets::open("/etc/coffer")?;
/// match secrets.get("/app/feature-flags").await {
///     Ok(flags) => println!("flags: version {}", flags.meta.version),
///     Err(Error::NotFound(_)) => println!("not set: the defaults"),
///     Err(Error::Locked(d)) => println!("busy, try later: {d}"),
///     Err(e) => return Err(e),
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A bad name or path.
    #[error("bad parameter name `{}`: {why}", name.escape_debug())]
    BadName {
        /// As given.
        name: String,
        /// What is wrong.
        why: String,
    },
    /// A bad label.
    #[error("bad label `{}`: {why}", label.escape_debug())]
    BadLabel {
        /// As given.
        label: String,
        /// What is wrong.
        why: String,
    },
    /// A bad `NAME:VERSION|LABEL`.
    #[error("bad parameter `{}`: {why}", selector.escape_debug())]
    BadSelector {
        /// As given.
        selector: String,
        /// What is wrong.
        why: String,
    },
    /// A bad value (unreadable, not UTF-8).
    #[error("{0}")]
    BadValue(String),
    /// A value over the limit.
    #[error("the value is {}", len.describe(*max))]
    TooLarge {
        /// Its length, as far as it is known.
        len: ValueLen,
        /// The limit.
        max: usize,
    },
    /// No such parameter.
    #[error("no parameter named {0}")]
    NotFound(ParamName),
    /// No such version.
    #[error("parameter {name} has no version {version} (latest: {latest})")]
    NoVersion {
        /// The parameter.
        name: ParamName,
        /// Asked for.
        version: u32,
        /// The latest version.
        latest: u32,
    },
    /// No such label.
    #[error("parameter {name} has no label `{label}`")]
    NoLabel {
        /// The parameter.
        name: ParamName,
        /// Asked for.
        label: Label,
    },
    /// The name exists and the write did not say `--overwrite`.
    #[error("parameter {name} exists (latest version {latest})")]
    Exists {
        /// The parameter.
        name: ParamName,
        /// Its latest version.
        latest: u32,
    },
    /// A new version of another type than the latest one, not asked for
    /// ([`crate::params::TypeRule::Change`]).
    #[error(
        "{name} is a {latest_type} parameter (version {version}): a {new_type} version was not \
         written{}",
        if latest_type.is_secure() && !new_type.is_secure() {
            " (its value would have been stored in the clear)"
        } else {
            ""
        }
    )]
    TypeChange {
        /// The parameter.
        name: ParamName,
        /// The latest version.
        version: u32,
        /// Its type.
        latest_type: ParamType,
        /// The type asked for.
        new_type: ParamType,
    },
    /// A write without a type over a clear (`string`, `string-list`) version: a value is
    /// stored in the clear only when the writer says so.
    #[error(
        "{name} is a {latest_type} parameter (version {version}), and a value is stored in the \
         clear only when its type is asked for: nothing was written"
    )]
    ClearNotAsked {
        /// The parameter.
        name: ParamName,
        /// The latest version.
        version: u32,
        /// Its type.
        latest_type: ParamType,
    },
    /// `--if-version N` and the latest version is not N.
    #[error("parameter {name} is at version {}, not {expected}: nothing was written",
            actual.map_or_else(|| "none (it does not exist)".to_owned(), |v| v.to_string()))]
    VersionMismatch {
        /// The parameter.
        name: ParamName,
        /// `--if-version`.
        expected: u32,
        /// The latest version (`None`: no such parameter).
        actual: Option<u32>,
    },
    /// A `secure-string` version below a path policy that is not under the policy's key (a
    /// read), or a write that names another key than the policy's.
    #[error("parameter {name}{}: the policy of {path} names key {want}, but {} {found}: refused",
            version.map(|v| format!(" version {v}")).unwrap_or_default(),
            if *write { "the write names" } else { "it was written under" })]
    PolicyKey {
        /// The parameter.
        name: ParamName,
        /// The version read (`None`: a write).
        version: Option<u32>,
        /// The key it is under, or the write names (`none` if it records none).
        found: String,
        /// The policy's path.
        path: crate::params::name::ParamPath,
        /// The policy's key.
        want: String,
        /// A write (else a read).
        write: bool,
    },
    /// A stored rotation plan does not match its seal: it was edited outside coffer.
    #[error("the rotation plan of {name} was changed outside coffer ({why}): refused")]
    PlanTampered {
        /// The parameter.
        name: ParamName,
        /// What is wrong.
        why: String,
    },
    /// `rotate`: the labels moved under the rotation (another rotation, or `label`).
    #[error("the rotation of {name} was overtaken: {why}; nothing was promoted")]
    RotationOvertaken {
        /// The parameter.
        name: ParamName,
        /// What was found.
        why: String,
    },
    /// The parameter is deleted (`rm`).
    #[error("parameter {name} is deleted (since {})", crate::time::format_rfc3339(*at))]
    Deleted {
        /// The parameter.
        name: ParamName,
        /// Unix seconds.
        at: i64,
    },
    /// `restore` of a parameter that is not deleted.
    #[error("parameter {0} is not deleted")]
    NotDeleted(ParamName),
    /// The version's value was destroyed.
    #[error("{}version {version} of {name} was destroyed (at {})",
            if *current { "the current " } else { "" }, crate::time::format_rfc3339(*at))]
    Destroyed {
        /// The parameter.
        name: ParamName,
        /// The version.
        version: u32,
        /// Unix seconds.
        at: i64,
        /// Whether it is the version labelled `current` (what `get NAME` reads).
        current: bool,
    },
    /// No version is labelled `current`, so there is nothing `get NAME` or `exec` may read
    /// (never the latest instead: it may be an untested `pending` value).
    #[error("no version of {0} is labelled `current`")]
    NoCurrent(ParamName),
    /// A rotation that cannot resume the `pending` version as asked.
    #[error("cannot resume the rotation of {name} to version {version}: {why}")]
    Resume {
        /// The parameter.
        name: ParamName,
        /// The pending version.
        version: u32,
        /// What is wrong.
        why: String,
        /// A new value was given, and a resume keeps the pending one.
        new_value: bool,
    },
    /// The version's value has expired.
    #[error("version {version} of {name} expired at {}", crate::time::format_rfc3339(*at))]
    Expired {
        /// The parameter.
        name: ParamName,
        /// The version.
        version: u32,
        /// Unix seconds.
        at: i64,
    },
    /// A secure value could not be decrypted (wrong or missing key, tampering).
    #[error("cannot decrypt version {version} of {name}")]
    Decrypt {
        /// The parameter.
        name: ParamName,
        /// The version.
        version: u32,
        /// The key it was encrypted with, as recorded.
        key_ref: Option<String>,
        /// Why.
        #[source]
        source: BoxError,
    },
    /// A secure value decrypted, but its encryption context names another row: it was
    /// copied or moved there.
    #[error(
        "version {version} of {name} holds a value encrypted for {found}: refused (it was \
         copied or moved in the store)"
    )]
    WrongRow {
        /// The parameter.
        name: ParamName,
        /// The version.
        version: u32,
        /// The name and version in the message's context.
        found: String,
    },
    /// A value could not be encrypted.
    #[error("cannot encrypt the value of {name}")]
    Encrypt {
        /// The parameter.
        name: ParamName,
        /// Why.
        #[source]
        source: BoxError,
    },
    /// A key could not be loaded.
    #[error("cannot {what}")]
    Key {
        /// What failed ("load the key").
        what: String,
        /// Why.
        #[source]
        source: BoxError,
    },
    /// A request refused as given: a bad key name or spec, a store URL, a time, settings
    /// that do not go together.
    #[error(transparent)]
    Invalid(Detail),
    /// No store where one was looked for.
    #[error(transparent)]
    NoStore(Detail),
    /// Something other than a parameter (a key, a key version, a root key file) that does
    /// not exist.
    #[error(transparent)]
    Missing(Detail),
    /// The state is not what the request expects (a disabled key, another writer got there
    /// first, something that exists already).
    #[error(transparent)]
    Conflict(Detail),
    /// What was read back fails its checks: a damaged or edited row, a damaged key file.
    #[error(transparent)]
    Corrupt(Detail),
    /// Still locked by another writer after coffer's retries.
    #[error(transparent)]
    Locked(Detail),
    /// Refused by the system or a key: permissions, a wrong passphrase, access denied.
    #[error(transparent)]
    Denied(Detail),
    /// Written by a newer coffer, or asks for what this build or backend does not do.
    #[error(transparent)]
    Unsupported(Detail),
    /// The backend failed: I/O, SQL, the network, a key service.
    #[error(transparent)]
    Backend(Detail),
    /// A rotation hook failed; the new version stays pending.
    #[error(transparent)]
    Hook(Box<HookFailed>),
    /// The cryptography failed (a keyring, a key service, a token, a message).
    #[error("{0}")]
    Crypto(#[from] coffer_core::Error),
    /// A key reference that does not parse.
    #[error("{0}")]
    KeyRef(#[from] KeyRefError),
    /// A key file that cannot be used.
    #[error("{0}")]
    KeyFile(#[from] KeyFileError),
    /// Another run holds the parameter's rotation lease.
    #[error(transparent)]
    RotationBusy(Box<Busy>),
}

/// `e` and the errors underneath it, `: `-joined; a layer whose text already ends with its
/// cause's text is not repeated.
pub fn chain_text(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    for e in std::iter::successors(Some(e), |e| e.source()) {
        let text = e.to_string();
        if !parts.last().is_some_and(|prev| prev.ends_with(&text)) {
            parts.push(text);
        }
    }
    parts.join(": ")
}

/// The message, advice and cause of an error of one of the general kinds.
#[derive(Debug)]
pub struct Detail {
    message: String,
    advice: Option<Advice>,
    source: Option<BoxError>,
}

impl Detail {
    /// What happened.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// What the caller could do about it.
    pub fn advice(&self) -> Option<&Advice> {
        self.advice.as_ref()
    }
}

impl fmt::Display for Detail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Detail {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// What a caller could do about an error, for a front end to say in its own words.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Advice {
    /// Nothing was changed: the same request again is likely to succeed.
    TryAgain,
    /// Nothing was changed: the path policies changed while the request ran (another
    /// process changed them), and it kept finding them changed.
    PoliciesChanged,
    /// Nothing was changed: point the request at an existing store.
    PointAtStore,
    /// Create the store first (or point at an existing one).
    CreateStore,
    /// Create the store first: it makes the store file of the home directory.
    CreateStoreInHome,
    /// A store that was truncated or replaced must be restored from a backup.
    RestoreStore,
    /// Name the store's directory (there is no home directory to default to).
    NameHome,
    /// It was written by a newer coffer: use that version.
    NewerVersion,
    /// The root key file is damaged or gone: restore it from its backup.
    RestoreRootKey,
    /// The root key file the store was made with is the one to use, on every machine.
    UseInitRootKey,
    /// Every machine that shares a store needs the same root key.
    SameRootKey,
    /// A root key switch is under way; the next use of the keys finishes it.
    RootSwitchPending,
    /// A passphrase is needed and none could be asked for: name a file that holds it.
    PassphraseFile {
        /// The environment variable that names the file.
        var: &'static str,
    },
    /// A service needs a passphrase: name a file that holds it, or pass it when opening.
    PassphraseNeeded {
        /// The environment variable that names the file.
        var: &'static str,
    },
    /// The passphrase given was not the root key's.
    WrongPassphrase {
        /// The environment variable that names the passphrase file.
        var: &'static str,
    },
    /// Look at the key's record.
    ShowKey(String),
    /// The key is disabled: enable it first.
    EnableKey(String),
    /// A message under a retired key version: lower the key's minimum to read it.
    LowerMinimum {
        /// The key.
        key: String,
        /// The retired version.
        version: u32,
    },
    /// `current` stays: point it at another version instead.
    MoveCurrent(ParamName),
    /// Retiring every version would leave the key with none: rotate it first.
    RotateBeforeRetire(String),
    /// List the keys, or create one.
    ListKeys,
    /// List the path policies.
    ListPolicies,
    /// The key has a root of its own, which this home lacks: copy its root file from a
    /// machine that holds it, if this one should.
    OwnRoot(String),
    /// Put the values named again under the keys named (or destroy them), then change the
    /// policy of this path again.
    PolicyInTheWay(crate::params::name::ParamPath),
    /// Check the whole audit log (`audit verify`).
    VerifyAudit,
    /// Trust a store that was restored or replaced on purpose (`audit accept`).
    AcceptStore,
    /// Forget what the home saw of a store (this record file) to start afresh with it.
    ForgetStore(std::path::PathBuf),
    /// The rules of key names.
    KeyNameRules,
    /// Local keys are AES-256 keys.
    LocalKeysAreAes,
    /// The key specs there are.
    KeySpecs,
    /// Name the new root key (on a PKCS#11 token, or in AWS KMS).
    NameNewRoot {
        /// The new root is a KMS key.
        kms: bool,
    },
    /// The store key is made by the first secure value written.
    WriteSecureFirst,
    /// Name the KMS key to encrypt with.
    NameKmsKey,
    /// PostgreSQL TLS: name the CA that signed the server's certificate.
    PgSslRootCert,
    /// PostgreSQL TLS: the server's certificate did not check.
    PgCertificate,
    /// The PostgreSQL server could not be reached.
    PgReachable,
    /// The PostgreSQL login may not read or write that: one limited to some paths.
    PgLimitedLogin,
    /// The PostgreSQL server has no connection free, after coffer's retries.
    PgNoConnectionFree {
        /// How many times coffer tried.
        attempts: u32,
    },
    /// The PostgreSQL server is starting, recovering or shutting down.
    PgNotReady {
        /// How many times coffer tried.
        attempts: u32,
    },
    /// Other PostgreSQL sessions held locks that coffer needs, after its retries.
    PgLocksHeld {
        /// How many times coffer tried.
        attempts: u32,
    },
    /// The form of a PostgreSQL URL.
    PostgresUrlForm,
    /// The forms of store URLs.
    StoreUrlForms,
    /// PostgreSQL stores need a build with the `postgres` feature.
    BuildWithPostgres,
    /// A build with the SQLite store (the `sqlite` feature) is needed.
    BuildWithSqlite,
    /// The grammar of durations.
    DurationForm,
    /// The grammar of times.
    TimeForm,
    /// Write the parameter's first value.
    PutFirst(ParamName),
    /// Another rotation may be under way: look at the parameter's history.
    AnotherRotation,
    /// A scheduled rotation needs a generator in its plan.
    ScheduleWithGenerator(ParamName),
    /// A new value is needed: give one, or a generator.
    GiveValue,
}

macro_rules! kinds {
    ($($(#[$doc:meta])* $fn:ident => $variant:ident,)*) => {
        impl From<NameError> for Error {
    fn from(e: NameError) -> Self {
        match e {
            NameError::Name { name, why } => Self::BadName { name, why },
            NameError::Label { label, why } => Self::BadLabel { label, why },
            NameError::Selector { selector, why } => Self::BadSelector { selector, why },
        }
    }
}

impl From<UnknownType> for Error {
    fn from(e: UnknownType) -> Self {
        Self::invalid(e.to_string())
    }
}

/// A setting's duration or time is an invalid request; the forms are the advice.
impl From<TimeError> for Error {
    fn from(e: TimeError) -> Self {
        let advice = match &e {
            TimeError::Duration(_) => Some(Advice::DurationForm),
            TimeError::NotATime(_) => Some(Advice::TimeForm),
            _ => None,
        };
        let err = Self::invalid(e.to_string());
        match advice {
            Some(a) => err.advice(a),
            None => err,
        }
    }
}

impl Error {
            $($(#[$doc])*
            pub fn $fn(message: impl Into<String>) -> Self {
                Self::$variant(Detail { message: message.into(), advice: None, source: None })
            })*

            fn detail_mut(&mut self) -> Option<&mut Detail> {
                match self {
                    $(Self::$variant(d))|* => Some(d),
                    _ => None,
                }
            }

            /// The message, advice and cause of an error of the general kinds.
            pub fn detail(&self) -> Option<&Detail> {
                match self {
                    $(Self::$variant(d))|* => Some(d),
                    _ => None,
                }
            }
        }
    };
}

kinds! {
    /// An [`Error::Invalid`].
    invalid => Invalid,
    /// An [`Error::NoStore`].
    no_store => NoStore,
    /// An [`Error::Missing`].
    missing => Missing,
    /// An [`Error::Conflict`].
    conflict => Conflict,
    /// An [`Error::Corrupt`].
    corrupt => Corrupt,
    /// An [`Error::Locked`].
    locked => Locked,
    /// An [`Error::Denied`].
    denied => Denied,
    /// An [`Error::Unsupported`].
    unsupported => Unsupported,
    /// An [`Error::Backend`].
    backend => Backend,
}

impl Error {
    /// The message and those of the errors underneath, `: `-joined (a layer whose text
    /// already ends with its cause's is not repeated).
    pub fn full_message(&self) -> String {
        chain_text(self)
    }

    /// Adds advice (to an error of the general kinds; the others carry what advice needs).
    #[must_use]
    pub fn advice(mut self, advice: Advice) -> Self {
        if let Some(d) = self.detail_mut() {
            d.advice = Some(advice);
        }
        self
    }

    /// Puts this error (of the general kinds) in front of `cause`, which stays what it is:
    /// callers find it again through `source()` by its type.
    #[must_use]
    pub fn caused_by(mut self, cause: impl Into<BoxError>) -> Self {
        if let Some(d) = self.detail_mut() {
            d.source = Some(cause.into());
        }
        self
    }
}

/// How long a value over the limit is, as far as it was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueLen {
    /// This many bytes.
    Exact(usize),
    /// At least this many bytes (a file of known size, less its newline).
    AtLeast(usize),
    /// More than the limit (input that was read only up to the limit).
    MoreThan,
}

impl ValueLen {
    /// `70000 bytes, over the limit of 65536`, `at least 69998 bytes, …`, `over the limit
    /// of 65536 bytes`.
    #[must_use]
    pub fn describe(self, max: usize) -> String {
        match self {
            Self::Exact(n) => format!("{n} bytes, over the limit of {max}"),
            Self::AtLeast(n) => format!("at least {n} bytes, over the limit of {max}"),
            Self::MoreThan => format!("over the limit of {max} bytes"),
        }
    }
}

/// A hook failed: the new version stays pending.
#[derive(Debug, thiserror::Error)]
#[error("the {step} hook {how}: version {version} of {name} stays `pending`, and {current}")]
pub struct HookFailed {
    /// The parameter.
    pub name: ParamName,
    /// `set` or `test`.
    pub step: &'static str,
    /// "exited with status 3", "ran past its time limit of 5m and was killed".
    pub how: String,
    /// The pending version.
    pub version: u32,
    /// "`current` is still version 4".
    pub current: String,
    /// What the hook printed.
    pub output: String,
}

/// Another run is rotating the secret.
#[derive(Debug, thiserror::Error)]
#[error("{name} is being rotated by another run ({holder}, lease until {}){}",
        crate::time::format_rfc3339(*until),
        hook_running.map(|g| format!(": its hook (process group {g}) still runs")).unwrap_or_default())]
pub struct Busy {
    /// The parameter.
    pub name: ParamName,
    /// `host:pid`.
    pub holder: String,
    /// Unix seconds.
    pub until: i64,
    /// The process group of the hook the holder recorded, on this machine, still there.
    pub hook_running: Option<u32>,
}
