//! The embedded store: `COFFER_HOME/coffer.db`, an SQLite database (WAL mode), and the local
//! key hierarchy kept in it.
//!
//! # Schema (version 5, `PRAGMA user_version`)
//!
//! Migrations are versioned in code (`MIGRATIONS`): migration `i` takes the schema from
//! version `i` to `i + 1`, in one `BEGIN IMMEDIATE` transaction with the new
//! `user_version`. A store of a newer schema than this build knows is refused, unchanged.
//!
//! Version 1, the key hierarchy:
//!
//! ```sql
//! meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)      -- 'schema', 'root_id', 'created_at'
//! keys (name TEXT PRIMARY KEY, spec TEXT, created_at INTEGER, state TEXT enabled|disabled,
//!       rotation_period_secs INTEGER NULL, min_decrypt_version INTEGER DEFAULT 1,
//!       active_version INTEGER)
//! key_versions (name TEXT REFERENCES keys, version INTEGER, uuid BLOB(16) UNIQUE,
//!       created_at INTEGER, wrapped BLOB, root_id TEXT, PRIMARY KEY (name, version))
//! ```
//!
//! Version 2, the parameters ([`crate::params`], [`SqliteParamStore`]):
//!
//! ```sql
//! params (name TEXT PRIMARY KEY, parent TEXT, latest INTEGER, created_at INTEGER,
//!       deleted_at INTEGER NULL)                       -- `rm` sets deleted_at
//! param_versions (name TEXT REFERENCES params, version INTEGER,
//!       type TEXT string|string-list|secure-string,
//!       value BLOB NULL,                               -- UTF-8 text, or an ESDK message
//!       key_ref TEXT NULL, description TEXT NULL, tags TEXT (JSON object),
//!       created_at INTEGER, author TEXT, expires_at INTEGER NULL,
//!       destroyed_at INTEGER NULL,                     -- value NULL once destroyed
//!       PRIMARY KEY (name, version))
//! param_labels (name TEXT, label TEXT, version INTEGER, PRIMARY KEY (name, label),
//!       FOREIGN KEY (name, version) REFERENCES param_versions)
//! ```
//!
//! Version 3, the audit log ([`audit`]): `audit (seq, at, user, verb, name, detail,
//! prev_hash, hash)`, hash-chained, appended in the transaction of every write.
//!
//! Version 4, secret rotation ([`crate::rotate`]): `param_rotations (name REFERENCES params,
//! every_secs NULL, generate NULL, set_hook NULL, test_hook NULL, hook_timeout_secs,
//! next_due NULL, lease_holder NULL, lease_until NULL, last_error NULL, seal NULL)`: a
//! parameter's rotation schedule (`every_secs` NULL: none), sealed under the store key
//! (`seal`, so a plan edited in the database is refused), and the lease of the run rotating
//! it.
//!
//! Version 5: every parameter has a `current` label (labelled now: its newest version that
//! is not `pending`), which is what `get NAME` and `exec` read, never the latest version;
//! `param_rotations` gains `workdir` (the directory a plan's hooks run in), `pending_run`
//! (the sealed settings of the run that staged the `pending` version, so that a resume runs
//! the same hooks) and `lease_hook` (the process group of the lease holder's running hook).
//!
//! Times are Unix seconds. Each version's 32 bytes of branch key material are stored only
//! wrapped by the root key ([`coffer_core::keyring::RootKey`]), with [`branch_key_aad`]
//! binding the wrapped bytes to their row: a row moved to another name or version, or edited,
//! fails to unwrap.
//!
//! Every write is a transaction; read-modify-write transactions start with `BEGIN
//! IMMEDIATE`, so concurrent `coffer` processes serialize on the write lock (waiting up to
//! [`BUSY_TIMEOUT`]) instead of failing half-way. Migrations run in such a transaction too.
//! Nothing slow or remote runs while a transaction is open: new versions are wrapped first,
//! and the transaction checks that what they were computed from is unchanged (else it rolls
//! back and the caller looks again).
//!
//! # Rotation
//!
//! `coffer key rotate NAME` adds version `active + 1` (fresh material, fresh UUID, wrapped
//! under the root key with [`branch_key_aad`]) and makes it active, in one transaction that
//! first checks the active version is still the one the new version follows. `--due` also
//! re-checks, inside that transaction, that the key is enabled and that its rotation period
//! has passed since its active version was made: two runs started together rotate a due key
//! once (the second finds a fresh active version and leaves the key alone).
//!
//! # Root rotation
//!
//! `coffer key rotate --root` re-wraps every key version under a new root key; the branch key
//! material does not change, so no message needs to. The store and `root.key` are two files,
//! so the switch is ordered so that a crash at any point leaves a store that opens:
//!
//! 1. Outside any transaction: load the current root key (the passphrase, if any, is read
//!    once), make the new one and encode it with the same protection (same passphrase, same
//!    Argon2id cost), unwrap every version with the old root and wrap it with the new one.
//! 2. `BEGIN IMMEDIATE`; check that `meta.root_id` is still the old root and that every
//!    version row is as read in step 1 (else roll back and start step 1 again); update every
//!    row (`wrapped`, `root_id`) and `meta.root_id`; write the new key to the side file
//!    `root.key.next` (mode `0600`: temporary file, fsync, rename, directory fsync);
//!    `COMMIT`. The store now uses the new root; `root.key` still holds the old one.
//! 3. Under the write lock again, if `meta.root_id` is the new root: rename `root.key.next`
//!    over `root.key`, fsync the directory.
//!
//! Whoever loads the root key ([`open_keys`]) checks it against `meta.root_id`. If they
//! differ and `root.key.next` holds the store's root, a crash hit between 2 and 3: it
//! finishes the switch (the rename of step 3, under the write lock). If `root.key` is the
//! store's root and a side file (or its temporary file) exists, a crash hit before the commit
//! of step 2: the side file wraps nothing and is removed, under the write lock.
//!
//! Every write and every rename of `root.key.next` happens under the store's write lock,
//! after checking `meta.root_id`, so two root rotations (or a rotation and a recovery) cannot
//! replace each other's side file: the side file is written only while the store's root is
//! the key in `root.key`, and renamed only while the store's root is the key in it.
//!
//! # Test hook
//!
//! Built with the `test-pause` feature (coffer's own kill tests; never a build for users) and
//! run with `COFFER_TEST_PAUSE_MS=N`, writes print `coffer test pause: STEP` on stderr at each
//! step and sleep `N` ms there, so that the tests can SIGKILL them at each step. Without the
//! feature the hook is compiled out.

pub mod audit;
mod branch;
mod params;
#[cfg(feature = "postgres")]
pub mod pg;
pub mod root;
mod rows;
mod switch;
mod table;

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension as _, TransactionBehavior, params};

pub use branch::{BRANCH_KEY_TTL, LocalKeyStore, Rotation};
pub use params::SqliteParamStore;
#[cfg(feature = "postgres")]
pub use pg::PgStore;
pub use switch::{RootRotation, rotate_root};
pub use table::{KeyTable, no_such_key};

use crate::home::Home;
use crate::report::CliError;

/// How long a command waits for another process's write transaction.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The schema version this build writes.
pub const SCHEMA_VERSION: u32 = 5;

/// Migration `i` takes the schema from version `i` to `i + 1`.
const MIGRATIONS: [&str; 5] = [
    r"
CREATE TABLE meta (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
) STRICT;
CREATE TABLE keys (
    name                 TEXT PRIMARY KEY NOT NULL,
    spec                 TEXT NOT NULL,
    created_at           INTEGER NOT NULL,
    state                TEXT NOT NULL CHECK (state IN ('enabled', 'disabled')),
    rotation_period_secs INTEGER CHECK (rotation_period_secs > 0),
    min_decrypt_version  INTEGER NOT NULL DEFAULT 1 CHECK (min_decrypt_version >= 1),
    active_version       INTEGER NOT NULL CHECK (active_version >= 1)
) STRICT;
CREATE TABLE key_versions (
    name       TEXT NOT NULL REFERENCES keys (name),
    version    INTEGER NOT NULL CHECK (version >= 1),
    uuid       BLOB NOT NULL UNIQUE CHECK (length(uuid) = 16),
    created_at INTEGER NOT NULL,
    wrapped    BLOB NOT NULL,
    root_id    TEXT NOT NULL,
    PRIMARY KEY (name, version)
) STRICT;
",
    r"
CREATE TABLE params (
    name       TEXT PRIMARY KEY NOT NULL,
    parent     TEXT NOT NULL,
    latest     INTEGER NOT NULL CHECK (latest >= 1),
    created_at INTEGER NOT NULL,
    deleted_at INTEGER
) STRICT;
CREATE INDEX params_by_parent ON params (parent, name);
CREATE TABLE param_versions (
    name         TEXT NOT NULL REFERENCES params (name) ON DELETE CASCADE,
    version      INTEGER NOT NULL CHECK (version >= 1),
    type         TEXT NOT NULL CHECK (type IN ('string', 'string-list', 'secure-string')),
    value        BLOB,
    key_ref      TEXT,
    description  TEXT,
    tags         TEXT NOT NULL DEFAULT '{}',
    created_at   INTEGER NOT NULL,
    author       TEXT NOT NULL,
    expires_at   INTEGER,
    destroyed_at INTEGER,
    PRIMARY KEY (name, version),
    CHECK ((value IS NULL) = (destroyed_at IS NOT NULL))
) STRICT;
CREATE TABLE param_labels (
    name    TEXT NOT NULL,
    label   TEXT NOT NULL,
    version INTEGER NOT NULL,
    PRIMARY KEY (name, label),
    FOREIGN KEY (name, version) REFERENCES param_versions (name, version) ON DELETE CASCADE
) STRICT;
CREATE INDEX param_labels_by_version ON param_labels (name, version);
",
    r"
CREATE TABLE audit (
    seq       INTEGER PRIMARY KEY NOT NULL CHECK (seq >= 1),
    at        INTEGER NOT NULL,
    user      TEXT NOT NULL,
    verb      TEXT NOT NULL,
    name      TEXT NOT NULL,
    detail    TEXT NOT NULL,
    prev_hash BLOB NOT NULL,
    hash      BLOB NOT NULL
) STRICT;
INSERT INTO meta (key, value) VALUES
    ('audit_count', '0'),
    ('audit_head', '0000000000000000000000000000000000000000000000000000000000000000');
",
    r"
CREATE TABLE param_rotations (
    name              TEXT PRIMARY KEY NOT NULL REFERENCES params (name) ON DELETE CASCADE,
    every_secs        INTEGER CHECK (every_secs > 0),
    generate          TEXT,
    set_hook          TEXT,
    test_hook         TEXT,
    hook_timeout_secs INTEGER NOT NULL CHECK (hook_timeout_secs > 0),
    next_due          INTEGER,
    lease_holder      TEXT,
    lease_until       INTEGER,
    last_error        TEXT,
    seal              BLOB
) STRICT;
",
    r"
ALTER TABLE param_rotations ADD COLUMN workdir TEXT;
ALTER TABLE param_rotations ADD COLUMN pending_run BLOB;
ALTER TABLE param_rotations ADD COLUMN lease_hook INTEGER;
INSERT INTO param_labels (name, label, version)
SELECT p.name, 'current', m.version FROM params p
JOIN (SELECT v.name, max(v.version) AS version FROM param_versions v
      WHERE NOT EXISTS (SELECT 1 FROM param_labels l
                        WHERE l.name = v.name AND l.version = v.version AND l.label = 'pending')
      GROUP BY v.name) m ON m.name = p.name
WHERE NOT EXISTS (SELECT 1 FROM param_labels l WHERE l.name = p.name AND l.label = 'current');
",
];

/// Longest key name.
pub const MAX_NAME_LEN: usize = 64;

/// The test hook's variable (see the module docs).
#[cfg(feature = "test-pause")]
pub const TEST_PAUSE_VAR: &str = "COFFER_TEST_PAUSE_MS";

/// The test hook (compiled out): does nothing.
#[cfg(not(feature = "test-pause"))]
#[inline(always)]
pub(crate) fn test_pause(_step: &str) {}

/// The test hook: announces `step` on stderr and sleeps, when `COFFER_TEST_PAUSE_MS` is set.
#[cfg(feature = "test-pause")]
pub(crate) fn test_pause(step: &str) {
    static PAUSE: std::sync::OnceLock<Option<Duration>> = std::sync::OnceLock::new();
    let pause = PAUSE.get_or_init(|| {
        std::env::var(TEST_PAUSE_VAR)
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|&ms| ms > 0)
            .map(Duration::from_millis)
    });
    if let Some(d) = pause {
        eprintln!("coffer test pause: {step}");
        std::thread::sleep(*d);
    }
}

/// Checks a key name: 1 to 64 characters of `A-Z a-z 0-9 _ . -`, starting with a letter or
/// digit.
///
/// # Errors
/// A usage error saying what is wrong.
pub fn validate_name(name: &str) -> Result<(), CliError> {
    match name_problem(name) {
        None => Ok(()),
        Some(why) => Err(
            CliError::usage(format!("bad key name `{}`: {why}", name.escape_debug())).hint(
                "key names are 1 to 64 characters of A-Z a-z 0-9 _ . -, starting with a letter \
                 or digit",
            ),
        ),
    }
}

/// What is wrong with a key name, if anything (see [`validate_name`]).
pub fn name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("empty".into());
    }
    if name.len() > MAX_NAME_LEN {
        return Some(format!("longer than {MAX_NAME_LEN} characters"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
    {
        return Some(format!("`{}` is not allowed", c.escape_debug()));
    }
    if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Some("must start with a letter or digit".into());
    }
    None
}

/// Key specs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySpec {
    /// A 256-bit symmetric branch key (hierarchical keyring).
    Aes256,
}

impl KeySpec {
    /// The spelling in the CLI and the store.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Aes256 => "aes-256",
        }
    }

    /// Parses a `--spec`.
    ///
    /// # Errors
    /// Unknown specs, and the RSA specs this build cannot make yet.
    pub fn parse(s: &str) -> Result<Self, CliError> {
        match s {
            "aes-256" => Ok(Self::Aes256),
            "rsa-3072" | "rsa-4096" => Err(CliError::usage(format!(
                "--spec {s}: RSA keys are not supported yet in this build"
            ))
            .hint("use --spec aes-256 (the default)")),
            _ => Err(CliError::usage(format!("unknown key spec `{s}`"))
                .hint("the key specs are aes-256, rsa-3072 and rsa-4096")),
        }
    }
}

/// Whether a key may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    /// Encrypts and decrypts.
    Enabled,
    /// Neither encrypts nor decrypts until enabled again.
    Disabled,
}

impl KeyState {
    /// The spelling in the store and in output.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enabled => "enabled",
            Self::Disabled => "disabled",
        }
    }

    pub(crate) fn parse(s: &str) -> Result<Self, String> {
        match s {
            "enabled" => Ok(Self::Enabled),
            "disabled" => Ok(Self::Disabled),
            _ => Err(format!("unknown key state `{s}`")),
        }
    }
}

/// A key as the store holds it (no key material).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    /// The name (the branch key id).
    pub name: String,
    /// The spec, as stored.
    pub spec: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Enabled or disabled.
    pub state: KeyState,
    /// Rotation period in seconds, if the key rotates on a schedule.
    pub rotation_period_secs: Option<u64>,
    /// Versions below this one may not decrypt.
    pub min_decrypt_version: u32,
    /// The version new messages are encrypted under.
    pub active_version: u32,
    /// The versions, oldest first.
    pub versions: Vec<VersionRecord>,
}

impl KeyRecord {
    /// When the next rotation is due (Unix seconds): the active version's creation plus the
    /// rotation period.
    pub fn next_rotation(&self) -> Option<i64> {
        let period = i64::try_from(self.rotation_period_secs?).ok()?;
        let active = self
            .versions
            .iter()
            .find(|v| v.version == self.active_version)?;
        active.created_at.checked_add(period)
    }
}

/// One version of a key (no key material).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionRecord {
    /// 1, 2, …
    pub version: u32,
    /// The 16 bytes that name this version in messages.
    pub uuid: [u8; 16],
    /// Unix seconds.
    pub created_at: i64,
    /// The root key that wraps it.
    pub root_id: String,
}

/// Formats a version UUID (`8-4-4-4-12` lower-case hex).
pub fn format_uuid(u: &[u8; 16]) -> String {
    coffer_core::keyring::hierarchy::format_version(u)
}

/// Authenticated data binding a wrapped branch key version to its row:
/// `"coffer branch key v1\0" ‖ name ‖ 0x00 ‖ version (u32, big-endian) ‖ uuid`.
/// Names cannot hold NUL, so the encoding is unambiguous.
pub fn branch_key_aad(name: &str, version: u32, uuid: &[u8; 16]) -> Vec<u8> {
    const LABEL: &[u8] = b"coffer branch key v1\0";
    let mut aad = Vec::with_capacity(LABEL.len() + name.len() + 1 + 4 + 16);
    aad.extend_from_slice(LABEL);
    aad.extend_from_slice(name.as_bytes());
    aad.push(0);
    aad.extend_from_slice(&version.to_be_bytes());
    aad.extend_from_slice(uuid);
    aad
}

/// What the branch key store needs to unwrap one version.
#[derive(Debug, Clone)]
pub struct VersionRow {
    /// The key's state.
    pub state: KeyState,
    /// The key's minimum decryption version.
    pub min_decrypt_version: u32,
    /// The version.
    pub version: u32,
    /// Its id in messages.
    pub uuid: [u8; 16],
    /// The material, wrapped under the root key.
    pub wrapped: Vec<u8>,
    /// The root key that wrapped it.
    pub root_id: String,
}

/// The result of looking a version up.
#[derive(Debug)]
pub enum Lookup {
    /// No key of that name.
    NoKey,
    /// The key exists, without such a version.
    NoVersion,
    /// Found.
    Found(VersionRow),
}

/// Which version of a key to look up.
#[derive(Debug, Clone, Copy)]
pub enum Which<'a> {
    /// The active version.
    Active,
    /// The version with this UUID.
    Uuid(&'a [u8; 16]),
}

/// One version row with its wrapped material, as a root rotation reads and rewrites it.
#[derive(Debug, Clone)]
pub(crate) struct WrappedVersion {
    pub(crate) name: String,
    pub(crate) version: u32,
    pub(crate) uuid: [u8; 16],
    pub(crate) wrapped: Vec<u8>,
    pub(crate) root_id: String,
}

/// A `key_versions` row as SQLite returns it: name, version, uuid, wrapped, root id.
type RawVersionRow = (String, i64, Vec<u8>, Vec<u8>, String);

/// How [`Store::add_version`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddVersion {
    /// The version was added and is active.
    Added,
    /// The active version is no longer the one the new version was made to follow.
    Changed,
    /// `--due`: the key's rotation is not due (any more).
    NotDue,
    /// The key is disabled.
    Disabled,
    /// There is no such key.
    NoKey,
}

/// How [`Store::switch_root`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SwitchRoot {
    /// Committed: the store uses the new root.
    Done,
    /// The store's root is no longer the old root.
    RootChanged,
    /// Version rows were added or changed since they were read.
    RowsChanged,
}

/// The SQLite store.
pub struct Store {
    conn: Mutex<Connection>,
    path: PathBuf,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

fn db_error(path: &Path, e: rusqlite::Error) -> CliError {
    if e.sqlite_error_code() == Some(rusqlite::ErrorCode::NotADatabase) {
        return CliError::failure(format!(
            "store {} is not an SQLite database (or its header is damaged)",
            path.display()
        ))
        .hint("nothing was changed; point --home, COFFER_HOME or --store at a coffer store");
    }
    CliError::failure(format!("store {}", path.display())).caused_by(e.into())
}

fn corrupt(path: &Path, what: impl fmt::Display) -> CliError {
    damaged(&path.display().to_string(), what)
}

/// A store (at `location`) whose rows break the schema's rules.
fn damaged(location: &str, what: impl fmt::Display) -> CliError {
    CliError::failure(format!("store {location} is damaged: {what}"))
}

impl Store {
    /// Opens the store of `home`, which must exist.
    ///
    /// # Errors
    /// No store (a usage error with a hint to run `coffer init`); SQLite errors; a schema
    /// newer than this build.
    pub fn open(home: &Home) -> Result<Self, CliError> {
        let path = home.store_path();
        if !path.is_file() {
            return Err(CliError::usage(format!("no coffer store in {home}")).hint(
                "create one with: coffer init (or point --home / COFFER_HOME at an existing one)",
            ));
        }
        Self::open_file(path)
    }

    /// Opens the store in the file `path`, which must exist (`--store sqlite://PATH`).
    ///
    /// # Errors
    /// No such file (a usage error); not a database; SQLite errors; a schema newer than
    /// this build.
    pub fn open_file(path: PathBuf) -> Result<Self, CliError> {
        if !path.is_file() {
            return Err(
                CliError::usage(format!("no coffer store at {}", path.display()))
                    .hint("create one with: coffer init (it makes COFFER_HOME/coffer.db)"),
            );
        }
        let conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| db_error(&path, e))?;
        // Only `init` makes a store: an empty file (truncated, or replaced by mistake) or
        // another program's database is refused as it is, never set up afresh.
        let schema: u32 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| db_error(&path, e))?;
        // A coffer store records its schema version in `meta` too, at every migration:
        // another program's database with a `user_version` of its own is not migrated.
        // (A newer schema than this build knows is refused as such by the migration.)
        let recorded: Option<String> = if schema == 0 || schema > SCHEMA_VERSION {
            None
        } else {
            conn.query_row("SELECT value FROM meta WHERE key = 'schema'", [], |r| {
                r.get(0)
            })
            .ok()
        };
        if schema != 0
            && schema <= SCHEMA_VERSION
            && recorded.as_deref() != Some(schema.to_string().as_str())
        {
            return Err(CliError::failure(format!(
                "store {} is not a coffer store (an SQLite database without coffer's schema)",
                path.display()
            ))
            .hint("nothing was changed; point --home, COFFER_HOME or --store at a coffer store"));
        }
        if schema == 0 {
            let tables: i64 = conn
                .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
                .map_err(|e| db_error(&path, e))?;
            let size = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            let what = if tables == 0 {
                format!("is empty ({size} bytes, no coffer schema)")
            } else {
                "is not a coffer store (an SQLite database without coffer's schema)".to_owned()
            };
            return Err(
                CliError::failure(format!("store {} {what}", path.display())).hint(
                    "nothing was changed; a store that was truncated or replaced must be \
                     restored from a backup (only `coffer init` makes a new one)",
                ),
            );
        }
        Self::setup(conn, path)
    }

    /// Creates (or opens) the store of `home`; the file is created with mode `0600`.
    ///
    /// # Errors
    /// The file cannot be created; SQLite errors.
    pub fn create(home: &Home) -> Result<Self, CliError> {
        let path = home.store_path();
        let mut opts = fs::OpenOptions::new();
        opts.write(true).create(true).truncate(false);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            opts.mode(0o600);
        }
        opts.open(&path).map_err(|e| {
            CliError::failure(format!("cannot create the store {}", path.display()))
                .caused_by(e.into())
        })?;
        let conn = Connection::open(&path).map_err(|e| db_error(&path, e))?;
        Self::setup(conn, path)
    }

    fn setup(conn: Connection, path: PathBuf) -> Result<Self, CliError> {
        let err = |e| db_error(&path, e);
        conn.busy_timeout(BUSY_TIMEOUT).map_err(err)?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(err)?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(store = %path.display(), mode, "cannot switch the store to WAL mode");
        }
        // secure_delete: the pages of deleted rows (destroyed values) are zeroed.
        conn.execute_batch(
            "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA secure_delete = ON;",
        )
        .map_err(err)?;
        let store = Self {
            conn: Mutex::new(conn),
            path,
        };
        store.migrate()?;
        Ok(store)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves SQLite consistent (transactions roll back).
        self.conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn migrate(&self) -> Result<(), CliError> {
        let path = &self.path;
        let err = |e| db_error(path, e);
        let mut conn = self.lock();
        let version: u32 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(err)?;
        if version == SCHEMA_VERSION {
            return Ok(());
        }
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        // Read again under the write lock: another process may have migrated meanwhile.
        let version: u32 = tx
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(err)?;
        if version > SCHEMA_VERSION {
            return Err(CliError::failure(format!(
                "store {} has schema version {version}; this coffer knows up to {SCHEMA_VERSION}",
                path.display()
            ))
            .hint("it was written by a newer coffer: use that version"));
        }
        let from = usize::try_from(version).unwrap_or(usize::MAX);
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(from) {
            tx.execute_batch(sql).map_err(err)?;
            let to = i + 1;
            tx.execute_batch(&format!("PRAGMA user_version = {to}"))
                .map_err(err)?;
            tx.execute(
                "INSERT INTO meta (key, value) VALUES ('schema', ?1)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![to.to_string()],
            )
            .map_err(err)?;
            tracing::debug!(store = %path.display(), to, "store schema migrated");
        }
        if version == 0 {
            tx.execute(
                "INSERT INTO meta (key, value) VALUES ('created_at', ?1)",
                params![crate::time::now_unix().to_string()],
            )
            .map_err(err)?;
        }
        tx.commit().map_err(err)
    }

    /// A `meta` value.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn meta(&self, key: &str) -> Result<Option<String>, CliError> {
        self.lock()
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(|e| db_error(&self.path, e))
    }

    /// Records the root key id, unless one is recorded already: returns the id in force.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn adopt_root_id(&self, root_id: &str) -> Result<String, CliError> {
        let err = |e| db_error(&self.path, e);
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let current: Option<String> = stored_root_id(&tx).map_err(err)?;
        if let Some(current) = current {
            return Ok(current);
        }
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('root_id', ?1)",
            [root_id],
        )
        .map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(root_id.to_owned())
    }

    /// Replaces the recorded root key id, in a transaction that first checks the store holds
    /// no key versions (`coffer init` over an empty store).
    ///
    /// # Errors
    /// The store holds key versions; SQLite errors.
    pub fn reset_root_id_if_empty(&self, root_id: &str) -> Result<(), CliError> {
        let err = |e| db_error(&self.path, e);
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let n: i64 = tx
            .query_row("SELECT count(*) FROM key_versions", [], |r| r.get(0))
            .map_err(err)?;
        if n > 0 {
            return Err(CliError::failure(format!(
                "store {} holds keys already",
                self.path.display()
            )));
        }
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('root_id', ?1)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [root_id],
        )
        .map_err(err)?;
        tx.commit().map_err(err)
    }

    /// How many key versions the store holds.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn version_count(&self) -> Result<u64, CliError> {
        let n: i64 = self
            .lock()
            .query_row("SELECT count(*) FROM key_versions", [], |r| r.get(0))
            .map_err(|e| db_error(&self.path, e))?;
        u64::try_from(n).map_err(|_| corrupt(&self.path, "negative count"))
    }

    /// Inserts a new key with its first version (already wrapped).
    ///
    /// # Errors
    /// The key exists (exit 1); SQLite errors.
    pub(crate) fn insert_key(
        &self,
        record: &KeyRecord,
        first: &VersionRecord,
        wrapped: &[u8],
    ) -> Result<(), CliError> {
        let err = |e| db_error(&self.path, e);
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let exists: bool = tx
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM keys WHERE name = ?1)",
                [&record.name],
                |r| r.get(0),
            )
            .map_err(err)?;
        if exists {
            return Err(
                CliError::failure(format!("key `{}` already exists", record.name))
                    .hint(format!("see it with: coffer key show {}", record.name)),
            );
        }
        check_root_tx(&tx, &self.path, &first.root_id)?;
        let period = record
            .rotation_period_secs
            .map(i64::try_from)
            .transpose()
            .map_err(|_| CliError::usage("rotation period too long"))?;
        tx.execute(
            "INSERT INTO keys (name, spec, created_at, state, rotation_period_secs,
                               min_decrypt_version, active_version)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                record.name,
                record.spec,
                record.created_at,
                record.state.as_str(),
                period,
                record.min_decrypt_version,
                record.active_version
            ],
        )
        .map_err(err)?;
        tx.execute(
            "INSERT INTO key_versions (name, version, uuid, created_at, wrapped, root_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                record.name,
                first.version,
                &first.uuid[..],
                first.created_at,
                wrapped,
                first.root_id
            ],
        )
        .map_err(err)?;
        audit::append(
            &tx,
            "key-create",
            &record.name,
            &format!("version 1, {}", record.spec),
        )
        .map_err(err)?;
        tx.commit().map_err(err)
    }

    /// Every key, by name.
    ///
    /// # Errors
    /// SQLite errors; damaged rows.
    pub fn list_keys(&self) -> Result<Vec<KeyRecord>, CliError> {
        let conn = self.lock();
        let names: Vec<String> = {
            let mut stmt = conn
                .prepare("SELECT name FROM keys ORDER BY name")
                .map_err(|e| db_error(&self.path, e))?;
            stmt.query_map([], |r| r.get(0))
                .and_then(Iterator::collect)
                .map_err(|e| db_error(&self.path, e))?
        };
        names
            .iter()
            .filter_map(|n| self.read_key(&conn, n).transpose())
            .collect()
    }

    /// One key, if it exists.
    ///
    /// # Errors
    /// SQLite errors; damaged rows.
    pub fn get_key(&self, name: &str) -> Result<Option<KeyRecord>, CliError> {
        let conn = self.lock();
        self.read_key(&conn, name)
    }

    fn read_key(&self, conn: &Connection, name: &str) -> Result<Option<KeyRecord>, CliError> {
        let err = |e| db_error(&self.path, e);
        let row = conn
            .query_row(
                "SELECT spec, created_at, state, rotation_period_secs, min_decrypt_version,
                        active_version
                 FROM keys WHERE name = ?1",
                [name],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, Option<i64>>(3)?,
                        r.get::<_, i64>(4)?,
                        r.get::<_, i64>(5)?,
                    ))
                },
            )
            .optional()
            .map_err(err)?;
        let Some((spec, created_at, state, period, min, active)) = row else {
            return Ok(None);
        };
        let mut stmt = conn
            .prepare(
                "SELECT version, uuid, created_at, root_id FROM key_versions
                 WHERE name = ?1 ORDER BY version",
            )
            .map_err(err)?;
        let rows: Vec<(i64, Vec<u8>, i64, String)> = stmt
            .query_map([name], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .and_then(Iterator::collect)
            .map_err(err)?;
        let bad = |what: &str| corrupt(&self.path, format!("key `{name}`: {what}"));
        let versions = rows
            .into_iter()
            .map(|(version, uuid, created_at, root_id)| {
                Ok(VersionRecord {
                    version: u32::try_from(version).map_err(|_| bad("bad version number"))?,
                    uuid: uuid.try_into().map_err(|_| bad("bad version id"))?,
                    created_at,
                    root_id,
                })
            })
            .collect::<Result<Vec<_>, CliError>>()?;
        Ok(Some(KeyRecord {
            name: name.to_owned(),
            spec,
            created_at,
            state: KeyState::parse(&state).map_err(|e| bad(&e))?,
            rotation_period_secs: period
                .map(u64::try_from)
                .transpose()
                .map_err(|_| bad("bad rotation period"))?,
            min_decrypt_version: u32::try_from(min).map_err(|_| bad("bad minimum version"))?,
            active_version: u32::try_from(active).map_err(|_| bad("bad active version"))?,
            versions,
        }))
    }

    /// Enables or disables a key. Returns whether the state changed.
    ///
    /// # Errors
    /// No such key (exit 1); SQLite errors.
    pub fn set_state(&self, name: &str, state: KeyState) -> Result<bool, CliError> {
        let err = |e| db_error(&self.path, e);
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let current: Option<String> = tx
            .query_row("SELECT state FROM keys WHERE name = ?1", [name], |r| {
                r.get(0)
            })
            .optional()
            .map_err(err)?;
        let Some(current) = current else {
            return Err(self.no_such_key(name));
        };
        if current == state.as_str() {
            return Ok(false);
        }
        tx.execute(
            "UPDATE keys SET state = ?2 WHERE name = ?1",
            params![name, state.as_str()],
        )
        .map_err(err)?;
        audit::append(&tx, state_verb(state), name, "").map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(true)
    }

    /// Adds version `new` of key `name` and makes it active, if the active version is still
    /// `expected_active` and the store's root is still `new.root_id`; with `due_at`, only if
    /// the key is enabled and its rotation period has passed at `due_at` (Unix seconds).
    ///
    /// # Errors
    /// The store's root key changed meanwhile; damaged rows; SQLite errors.
    pub(crate) fn add_version(
        &self,
        name: &str,
        expected_active: u32,
        new: &VersionRecord,
        wrapped: &[u8],
        due_at: Option<i64>,
    ) -> Result<AddVersion, CliError> {
        let err = |e| db_error(&self.path, e);
        let bad = |what: &str| corrupt(&self.path, format!("key `{name}`: {what}"));
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        check_root_tx(&tx, &self.path, &new.root_id)?;
        let key: Option<(String, i64, Option<i64>)> = tx
            .query_row(
                "SELECT state, active_version, rotation_period_secs FROM keys WHERE name = ?1",
                [name],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
            .map_err(err)?;
        let Some((state, active, period)) = key else {
            return Ok(AddVersion::NoKey);
        };
        if KeyState::parse(&state).map_err(|e| bad(&e))? == KeyState::Disabled {
            return Ok(AddVersion::Disabled);
        }
        if active != i64::from(expected_active) {
            return Ok(AddVersion::Changed);
        }
        let (max, active_created): (i64, Option<i64>) = tx
            .query_row(
                "SELECT max(version),
                        (SELECT created_at FROM key_versions WHERE name = ?1 AND version = ?2)
                 FROM key_versions WHERE name = ?1",
                params![name, active],
                |r| Ok((r.get::<_, Option<i64>>(0)?.unwrap_or(0), r.get(1)?)),
            )
            .map_err(err)?;
        let Some(active_created) = active_created else {
            return Err(bad(&format!("active version {active} is missing")));
        };
        if max != active {
            return Err(bad(&format!(
                "version {max} is newer than the active version {active}"
            )));
        }
        if i64::from(new.version) != active + 1 {
            return Err(CliError::failure(format!(
                "internal error: version {} does not follow version {active} of key `{name}`",
                new.version
            )));
        }
        if let Some(now) = due_at {
            let due = period.is_some_and(|p| active_created.saturating_add(p) <= now);
            if !due {
                return Ok(AddVersion::NotDue);
            }
        }
        tx.execute(
            "INSERT INTO key_versions (name, version, uuid, created_at, wrapped, root_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                name,
                new.version,
                &new.uuid[..],
                new.created_at,
                wrapped,
                new.root_id
            ],
        )
        .map_err(err)?;
        tx.execute(
            "UPDATE keys SET active_version = ?2 WHERE name = ?1",
            params![name, new.version],
        )
        .map_err(err)?;
        let detail = format!(
            "version {} (was {active}){}",
            new.version,
            if due_at.is_some() { ", due" } else { "" }
        );
        audit::append(&tx, "key-rotate", name, &detail).map_err(err)?;
        test_pause("rotate: in transaction");
        tx.commit().map_err(err)?;
        Ok(AddVersion::Added)
    }

    /// Sets (or with `None` clears) the rotation period of key `name`. Returns the key.
    ///
    /// # Errors
    /// No such key (exit 1); SQLite errors.
    pub fn set_rotation_period(
        &self,
        name: &str,
        period_secs: Option<u64>,
    ) -> Result<KeyRecord, CliError> {
        let err = |e| db_error(&self.path, e);
        let period = period_secs
            .map(i64::try_from)
            .transpose()
            .map_err(|_| CliError::usage("rotation period too long"))?;
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let n = tx
            .execute(
                "UPDATE keys SET rotation_period_secs = ?2 WHERE name = ?1",
                params![name, period],
            )
            .map_err(err)?;
        if n == 0 {
            return Err(self.no_such_key(name));
        }
        audit::append(&tx, "key-set-rotation", name, &period_detail(period_secs)).map_err(err)?;
        let record = self
            .read_key(&tx, name)?
            .ok_or_else(|| self.no_such_key(name))?;
        tx.commit().map_err(err)?;
        Ok(record)
    }

    /// Sets the minimum decryption version of key `name` to `min` (raising or lowering it);
    /// `min` may not exceed the active version. Returns the previous minimum and the key.
    ///
    /// # Errors
    /// No such key, or `min` above the active version (exit 1); SQLite errors.
    pub fn set_min_decrypt_version(
        &self,
        name: &str,
        min: u32,
    ) -> Result<(u32, KeyRecord), CliError> {
        let err = |e| db_error(&self.path, e);
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let Some(before) = self.read_key(&tx, name)? else {
            return Err(self.no_such_key(name));
        };
        check_retire(&before, min)?;
        tx.execute(
            "UPDATE keys SET min_decrypt_version = ?2 WHERE name = ?1",
            params![name, min],
        )
        .map_err(err)?;
        let detail = format!(
            "min decrypt version {min} (was {})",
            before.min_decrypt_version
        );
        audit::append(&tx, "key-retire", name, &detail).map_err(err)?;
        let record = self
            .read_key(&tx, name)?
            .ok_or_else(|| self.no_such_key(name))?;
        tx.commit().map_err(err)?;
        Ok((before.min_decrypt_version, record))
    }

    /// The store's root id and every version row with its wrapped material, read together.
    ///
    /// # Errors
    /// Damaged rows; SQLite errors.
    pub(crate) fn wrapped_versions(
        &self,
    ) -> Result<(Option<String>, Vec<WrappedVersion>), CliError> {
        let err = |e| db_error(&self.path, e);
        let mut conn = self.lock();
        let tx = conn.transaction().map_err(err)?;
        let root_id: Option<String> = stored_root_id(&tx).map_err(err)?;
        let rows: Vec<RawVersionRow> = {
            let mut stmt = tx
                .prepare(
                    "SELECT name, version, uuid, wrapped, root_id FROM key_versions
                     ORDER BY name, version",
                )
                .map_err(err)?;
            stmt.query_map([], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .and_then(Iterator::collect)
            .map_err(err)?
        };
        drop(tx);
        let versions = rows
            .into_iter()
            .map(|(name, version, uuid, wrapped, root_id)| {
                let bad = |what: &str| corrupt(&self.path, format!("key `{name}`: {what}"));
                Ok(WrappedVersion {
                    version: u32::try_from(version).map_err(|_| bad("bad version number"))?,
                    uuid: uuid.try_into().map_err(|_| bad("bad version id"))?,
                    name,
                    wrapped,
                    root_id,
                })
            })
            .collect::<Result<Vec<_>, CliError>>()?;
        Ok((root_id, versions))
    }

    /// Switches the store from root `old_id` to `new_id` in one transaction: each row of
    /// `rewrapped` (as read by [`Store::wrapped_versions`]) gets its new wrapped material, if
    /// it is unchanged and no row was added; then `side_file` runs (it writes the new root's
    /// side file) and the transaction commits. See "Root rotation" in the module docs.
    ///
    /// # Errors
    /// `side_file` failed (nothing committed); SQLite errors.
    pub(crate) fn switch_root(
        &self,
        old_id: &str,
        new_id: &str,
        rewrapped: &[(WrappedVersion, Vec<u8>)],
        side_file: impl FnOnce() -> Result<(), CliError>,
    ) -> Result<SwitchRoot, CliError> {
        let err = |e| db_error(&self.path, e);
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let current: Option<String> = stored_root_id(&tx).map_err(err)?;
        if current.as_deref() != Some(old_id) {
            return Ok(SwitchRoot::RootChanged);
        }
        let count: i64 = tx
            .query_row("SELECT count(*) FROM key_versions", [], |r| r.get(0))
            .map_err(err)?;
        if usize::try_from(count).ok() != Some(rewrapped.len()) {
            return Ok(SwitchRoot::RowsChanged);
        }
        {
            let mut update = tx
                .prepare(
                    "UPDATE key_versions SET wrapped = ?6, root_id = ?7
                     WHERE name = ?1 AND version = ?2 AND uuid = ?3 AND wrapped = ?4
                       AND root_id = ?5",
                )
                .map_err(err)?;
            for (row, wrapped) in rewrapped {
                let n = update
                    .execute(params![
                        row.name,
                        row.version,
                        &row.uuid[..],
                        row.wrapped,
                        row.root_id,
                        wrapped,
                        new_id
                    ])
                    .map_err(err)?;
                if n != 1 {
                    return Ok(SwitchRoot::RowsChanged);
                }
            }
        }
        tx.execute("UPDATE meta SET value = ?1 WHERE key = 'root_id'", [new_id])
            .map_err(err)?;
        let detail = format!(
            "root {old_id} -> {new_id}, {} versions re-wrapped",
            rewrapped.len()
        );
        audit::append(&tx, "key-rotate-root", "root", &detail).map_err(err)?;
        side_file()?;
        test_pause("root: in transaction (side file written)");
        tx.commit().map_err(err)?;
        Ok(SwitchRoot::Done)
    }

    /// Runs `f` under the store's write lock if the store's root is `root_id` (else returns
    /// `None` without running it). `f` may not write to the store; it is for the files that
    /// must change in step with it (see "Root rotation" in the module docs).
    ///
    /// # Errors
    /// SQLite errors.
    pub(crate) fn locked_if_root<T>(
        &self,
        root_id: &str,
        f: impl FnOnce() -> T,
    ) -> Result<Option<T>, CliError> {
        let err = |e| db_error(&self.path, e);
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let current: Option<String> = stored_root_id(&tx).map_err(err)?;
        let out = (current.as_deref() == Some(root_id)).then(f);
        tx.rollback().map_err(err)?;
        Ok(out)
    }

    /// The error for a root key that is not the store's.
    pub(crate) fn root_mismatch(&self, root_id: &str, recorded: &str) -> CliError {
        table::root_mismatch(&self.path.display().to_string(), root_id, recorded)
    }

    /// The error for a key that does not exist.
    pub(crate) fn no_such_key(&self, name: &str) -> CliError {
        no_such_key(&self.path.display().to_string(), name)
    }

    /// The row of one version of key `name`, with the key's state.
    pub(crate) fn version_row(&self, name: &str, which: Which<'_>) -> Result<Lookup, CliError> {
        let err = |e| db_error(&self.path, e);
        let conn = self.lock();
        let key: Option<(String, i64, i64)> = conn
            .query_row(
                "SELECT state, min_decrypt_version, active_version FROM keys WHERE name = ?1",
                [name],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
            .map_err(err)?;
        let Some((state, min, active)) = key else {
            return Ok(Lookup::NoKey);
        };
        let bad = |what: &str| corrupt(&self.path, format!("key `{name}`: {what}"));
        let state = KeyState::parse(&state).map_err(|e| bad(&e))?;
        let row: Option<(i64, Vec<u8>, Vec<u8>, String)> = match which {
            Which::Active => conn.query_row(
                "SELECT version, uuid, wrapped, root_id FROM key_versions
                 WHERE name = ?1 AND version = ?2",
                params![name, active],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            ),
            Which::Uuid(uuid) => conn.query_row(
                "SELECT version, uuid, wrapped, root_id FROM key_versions
                 WHERE name = ?1 AND uuid = ?2",
                params![name, &uuid[..]],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            ),
        }
        .optional()
        .map_err(err)?;
        let Some((version, uuid, wrapped, root_id)) = row else {
            if matches!(which, Which::Active) {
                return Err(bad(&format!("active version {active} is missing")));
            }
            return Ok(Lookup::NoVersion);
        };
        Ok(Lookup::Found(VersionRow {
            state,
            min_decrypt_version: u32::try_from(min).map_err(|_| bad("bad minimum version"))?,
            version: u32::try_from(version).map_err(|_| bad("bad version number"))?,
            uuid: uuid.try_into().map_err(|_| bad("bad version id"))?,
            wrapped,
            root_id,
        }))
    }
}

/// Checks that `key` may be retired below version `min` (`min` is at least 1 and at most
/// the active version, which must stay usable).
fn check_retire(key: &KeyRecord, min: u32) -> Result<(), CliError> {
    let name = &key.name;
    if min == 0 {
        return Err(CliError::usage("--below-version must be 1 or more"));
    }
    if min > key.active_version {
        return Err(CliError::failure(format!(
            "cannot retire the versions below {min} of key `{name}`: its active version is \
             {}, and the active version must stay usable",
            key.active_version
        ))
        .hint(format!(
            "rotate first (coffer key rotate {name}), then retire the versions below the new \
             one; nothing was changed"
        )));
    }
    Ok(())
}

/// The audit detail of a key's state change, and its verb.
fn state_verb(state: KeyState) -> &'static str {
    match state {
        KeyState::Enabled => "key-enable",
        KeyState::Disabled => "key-disable",
    }
}

/// The audit detail of a rotation period change.
fn period_detail(period_secs: Option<u64>) -> String {
    period_secs.map_or_else(|| "none".to_owned(), |p| format!("{p}s"))
}

/// The root key id recorded in the store, if any.
fn stored_root_id(conn: &Connection) -> rusqlite::Result<Option<String>> {
    conn.query_row("SELECT value FROM meta WHERE key = 'root_id'", [], |r| {
        r.get(0)
    })
    .optional()
}

/// In a transaction: checks that the store's root is `root_id` (or that none is recorded).
fn check_root_tx(tx: &Connection, path: &Path, root_id: &str) -> Result<(), CliError> {
    let current: Option<String> = stored_root_id(tx).map_err(|e| db_error(path, e))?;
    match current {
        Some(c) if c != root_id => Err(CliError::failure(format!(
            "the root key of the store {} changed while this command ran (now {c}); nothing \
             was changed",
            path.display()
        ))
        .hint("run the command again")),
        _ => Ok(()),
    }
}

/// Opens the store of `home` with its local root key (asking for the passphrase if the key
/// file has one), finishing or cleaning up after an interrupted root rotation (see the
/// module docs).
///
/// # Errors
/// No store; a missing, damaged or locked root key; SQLite errors.
pub fn open_keys(home: &Home) -> Result<LocalKeyStore, CliError> {
    open_keys_with(home, std::sync::Arc::new(Store::open(home)?))
}

/// As [`open_keys`], over `store` (the store of `home`, open already).
///
/// # Errors
/// A missing, damaged or locked root key; SQLite errors.
pub fn open_keys_with(
    home: &Home,
    store: std::sync::Arc<Store>,
) -> Result<LocalKeyStore, CliError> {
    let mut passphrase = root::PassphraseCache::new(root::PassphraseSource::from_env());
    let (root, _) = switch::load_root(home, &store, &mut passphrase)?;
    LocalKeyStore::new(store, root)
}

/// As [`open_keys_with`], over the key rows of any store (the SQLite store of `home`, or a
/// shared PostgreSQL store whose root key file is `home`'s).
///
/// # Errors
/// A missing, damaged or locked root key; store errors.
pub async fn open_keys_in(
    home: &Home,
    table: std::sync::Arc<dyn KeyTable>,
) -> Result<LocalKeyStore, CliError> {
    let mut passphrase = root::PassphraseCache::new(root::PassphraseSource::from_env());
    let (root, _) = table.load_root(home, &mut passphrase)?;
    LocalKeyStore::open(table, root).await
}

/// A fresh random version id (a version 4 UUID).
///
/// # Errors
/// The random source failed.
pub fn new_uuid() -> Result<[u8; 16], CliError> {
    let mut u = [0u8; 16];
    aws_lc_rs::rand::fill(&mut u)
        .map_err(|_| CliError::failure("the system's random number generator failed"))?;
    u[6] = (u[6] & 0x0f) | 0x40;
    u[8] = (u[8] & 0x3f) | 0x80;
    Ok(u)
}

#[cfg(test)]
mod tests;
