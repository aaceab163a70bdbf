//! The embedded store: `COFFER_HOME/coffer.db`, an SQLite database (WAL mode), and the local
//! key hierarchy kept in it.
//!
//! # Schema (version 10, `PRAGMA user_version`)
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
//! Version 3, the audit log ([`crate::store::audit`]): `audit (seq, at, user, verb, name, detail,
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
//! Version 6: the audit log is keyed ([`crate::store::audit`]): `meta` gains `store_id`,
//! `audit_key` (wrapped by the root key), `audit_keyed_from` and `audit_head_mac`, written by
//! the first holder of the root key to open the store (the migration itself cannot: it has
//! no key). Older builds refuse the store from then on instead of appending unkeyed entries.
//!
//! Version 7: the key table is sealed ([`crate::store::key_seal`]): `keys` gains `seal_seq`
//! and `mac`, `key_versions` gains `mac`, and `audit` an index on `(name, seq)` (a key's
//! last change). The first holder of the root key to open an older store seals its rows and
//! sets `meta.audit_key_format` to 3.
//!
//! Version 8: the parameter rows are sealed ([`crate::store::param_seal`]): `params` gains
//! `seal_seq` and `mac`, `param_versions` gains `mac`, and `audit` a partial index on
//! `(name, seq)` of the entries that change a parameter (its last change, among its reads).
//! The first holder of the root key to open an older store seals its rows and sets
//! `meta.audit_key_format` to 4.
//!
//! Version 9: path policies ([`crate::store::policy_seal`]): `policies (path TEXT PRIMARY
//! KEY, key_ref, created_at, author)` and `policy_seal (one = 1, seal_seq, mac)`, the MAC of
//! the whole set tied to the last policy change (which `meta.audit_policies`, part of the
//! audit head, names); `param_versions` gains a partial index of its destroyed versions.
//!
//! Version 10: what each key with a root of its own seals of the path policies
//! ([`crate::store::key_paths`]): `key_paths (name PRIMARY KEY REFERENCES keys, secret,
//! paths, holes, seal_seq, mac)`.
//!
//! Times are Unix seconds. Each version's 32 bytes of branch key material are stored only
//! wrapped by the root key ([`coffer_core::keyring::RootKey`]), with [`crate::store::branch_key_aad`]
//! binding the wrapped bytes to their row: a row moved to another name or version, or edited,
//! fails to unwrap.
//!
//! Every write is a transaction; read-modify-write transactions start with `BEGIN
//! IMMEDIATE`, so concurrent `coffer` processes serialize on the write lock (waiting up to
//! [`BUSY_TIMEOUT`]) instead of failing half-way. Migrations run in such a transaction too.
//! Nothing slow or remote runs while a transaction is open: new versions are wrapped first,
//! and the transaction checks that what they were computed from is unchanged (else it rolls
//! back and the caller looks again).

mod audit;
mod key_paths;
mod key_rows;
mod keys;
mod param_reads;
mod param_rows;
mod params;
mod policies;
mod rotation;
pub(crate) mod schema;
pub(crate) mod switch;

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension as _, TransactionBehavior, params};

pub use schema::SCHEMA_VERSION;

use crate::error::{Advice, Error};
use crate::home::Home;
use crate::store::audit_signer::AuditSigner;
use crate::store::rows::damaged;
use schema::MIGRATIONS;

/// How long a command waits for another process's write transaction.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The SQLite store.
///
/// ```no_run
/// use coffer::home::Home;
/// use coffer::store::Store;
///
/// let home = Home::new("/etc/coffer");
/// let store = Store::open(&home)?; // refuses a file that is not a coffer store
/// let (entries, head) = store.audit_log()?; // as stored: checking it needs the root key
/// println!("{} audit entries, {} appended", entries.len(), head.count);
/// # Ok::<(), coffer::error::Error>(())
/// ```
pub struct Store {
    conn: Mutex<Connection>,
    path: PathBuf,
    /// What signs this handle's audit entries, once a holder of the root key opened it.
    signer: OnceLock<Arc<AuditSigner>>,
    /// The `K_paths` of the keys with roots of their own that this handle's home unwrapped
    /// ([`crate::store::key_row_key`]).
    paths_keys: crate::store::key_row_key::GivenPathsKeys,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// The parameters of an SQLite store.
#[derive(Debug, Clone)]
pub struct SqliteParamStore {
    pub(super) store: Arc<Store>,
    pub(super) row_keys: crate::params::row_keys::RowKeySlot,
}

impl SqliteParamStore {
    /// The parameters of `store`.
    pub fn new(store: Arc<Store>) -> Self {
        Self {
            store,
            row_keys: crate::params::row_keys::RowKeySlot::default(),
        }
    }

    /// Opens the store of `home` (which must exist).
    ///
    /// # Errors
    /// As [`Store::open`].
    pub fn open(home: &Home) -> Result<Self, Error> {
        Ok(Self::new(Arc::new(Store::open(home)?)))
    }

    /// The underlying store (for its keys).
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    pub(super) fn err(&self) -> impl Fn(rusqlite::Error) -> Error + '_ {
        |e| db_error(&self.store.path, e)
    }
}

fn db_error(path: &Path, e: rusqlite::Error) -> Error {
    if e.sqlite_error_code() == Some(rusqlite::ErrorCode::NotADatabase) {
        return Error::corrupt(format!(
            "store {} is not an SQLite database (or its header is damaged)",
            path.display()
        ))
        .advice(Advice::PointAtStore);
    }
    if matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    ) {
        // Still locked after the busy timeout.
        return Error::locked(format!("store {}", path.display())).caused_by(e);
    }
    Error::backend(format!("store {}", path.display())).caused_by(e)
}

fn corrupt(path: &Path, what: impl fmt::Display) -> Error {
    damaged(&path.display().to_string(), what)
}

impl Store {
    /// Opens the store of `home`, which must exist.
    ///
    /// # Errors
    /// No store (a usage error with a hint to run `coffer init`); SQLite errors; a schema
    /// newer than this build.
    pub fn open(home: &Home) -> Result<Self, Error> {
        let path = home.store_path();
        if !path.is_file() {
            return Err(
                Error::no_store(format!("no coffer store in {home}")).advice(Advice::CreateStore)
            );
        }
        Self::open_file(path)
    }

    /// Opens the store in the file `path`, which must exist (`--store sqlite://PATH`).
    ///
    /// # Errors
    /// No such file (a usage error); not a database; SQLite errors; a schema newer than
    /// this build.
    pub fn open_file(path: PathBuf) -> Result<Self, Error> {
        if !path.is_file() {
            return Err(
                Error::no_store(format!("no coffer store at {}", path.display()))
                    .advice(Advice::CreateStoreInHome),
            );
        }
        let mut conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| db_error(&path, e))?;
        // The version and `meta` read in one snapshot: a migration by another process
        // between the two would otherwise look like another program's database.
        let snapshot = conn.transaction().map_err(|e| db_error(&path, e))?;
        // Only `init` makes a store: an empty file (truncated, or replaced by mistake) or
        // another program's database is refused as it is, never set up afresh.
        let schema: u32 = snapshot
            .query_row("SELECT user_version FROM pragma_user_version", [], |r| {
                r.get(0)
            })
            .map_err(|e| db_error(&path, e))?;
        // A coffer store records its schema version in `meta` too, at every migration:
        // another program's database with a `user_version` of its own is not migrated.
        // (A newer schema than this build knows is refused as such by the migration.)
        let recorded: Option<String> = if schema == 0 || schema > SCHEMA_VERSION {
            None
        } else {
            snapshot
                .query_row("SELECT value FROM meta WHERE key = 'schema'", [], |r| {
                    r.get(0)
                })
                .ok()
        };
        if schema != 0
            && schema <= SCHEMA_VERSION
            && recorded.as_deref() != Some(schema.to_string().as_str())
        {
            return Err(Error::corrupt(format!(
                "store {} is not a coffer store (an SQLite database without coffer's schema)",
                path.display()
            ))
            .advice(Advice::PointAtStore));
        }
        if schema == 0 {
            let tables: i64 = snapshot
                .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
                .map_err(|e| db_error(&path, e))?;
            let size = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            let what = if tables == 0 {
                format!("is empty ({size} bytes, no coffer schema)")
            } else {
                "is not a coffer store (an SQLite database without coffer's schema)".to_owned()
            };
            return Err(Error::corrupt(format!("store {} {what}", path.display()))
                .advice(Advice::RestoreStore));
        }
        drop(snapshot);
        Self::setup(conn, path)
    }

    /// Creates (or opens) the store of `home`; the file is created with mode `0600`.
    ///
    /// # Errors
    /// The file cannot be created; SQLite errors.
    pub fn create(home: &Home) -> Result<Self, Error> {
        let path = home.store_path();
        let mut opts = fs::OpenOptions::new();
        opts.write(true).create(true).truncate(false);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            opts.mode(0o600);
        }
        opts.open(&path).map_err(|e| {
            Error::backend(format!("cannot create the store {}", path.display())).caused_by(e)
        })?;
        let conn = Connection::open(&path).map_err(|e| db_error(&path, e))?;
        Self::setup(conn, path)
    }

    fn setup(conn: Connection, path: PathBuf) -> Result<Self, Error> {
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
            signer: OnceLock::new(),
            paths_keys: crate::store::key_row_key::GivenPathsKeys::default(),
        };
        store.migrate()?;
        Ok(store)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What signs this handle's audit entries: set by [`crate::store::KeyTable::set_audit_signer`]
    /// when the store's keys are opened.
    ///
    /// # Errors
    /// The keys were not opened: the write is refused.
    pub(crate) fn signer(&self) -> Result<Arc<AuditSigner>, Error> {
        self.signer
            .get()
            .cloned()
            .ok_or_else(|| crate::store::audit::no_audit_key(&self.path.display().to_string()))
    }

    /// Signs this handle's audit entries with `signer` (the first one given stays).
    pub fn set_audit_signer(&self, signer: Arc<AuditSigner>) {
        let _ = self.signer.set(signer);
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves SQLite consistent (transactions roll back).
        self.conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn migrate(&self) -> Result<(), Error> {
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
            return Err(Error::backend(format!(
                "store {} has schema version {version}; this coffer knows up to {SCHEMA_VERSION}",
                path.display()
            ))
            .advice(Advice::NewerVersion));
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
    pub fn meta(&self, key: &str) -> Result<Option<String>, Error> {
        self.lock()
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(|e| db_error(&self.path, e))
    }

    /// Records the root key id, unless one is recorded already: returns the id in force.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn adopt_root_id(&self, root_id: &str) -> Result<String, Error> {
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
    /// no key versions and no audit key (`coffer init` over an empty store).
    ///
    /// # Errors
    /// The store holds key versions; SQLite errors.
    pub fn reset_root_id_if_empty(&self, root_id: &str) -> Result<(), Error> {
        let err = |e| db_error(&self.path, e);
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let n: i64 = tx
            .query_row("SELECT count(*) FROM key_versions", [], |r| r.get(0))
            .map_err(err)?;
        let keyed: i64 = tx
            .query_row(
                "SELECT count(*) FROM meta WHERE key = 'audit_key'",
                [],
                |r| r.get(0),
            )
            .map_err(err)?;
        if n > 0 || keyed > 0 {
            return Err(Error::conflict(format!(
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
    pub fn version_count(&self) -> Result<u64, Error> {
        let n: i64 = self
            .lock()
            .query_row("SELECT count(*) FROM key_versions", [], |r| r.get(0))
            .map_err(|e| db_error(&self.path, e))?;
        u64::try_from(n).map_err(|_| corrupt(&self.path, "negative count"))
    }
}

/// The root key id recorded in the store, if any.
pub(crate) fn stored_root_id(conn: &Connection) -> rusqlite::Result<Option<String>> {
    conn.query_row("SELECT value FROM meta WHERE key = 'root_id'", [], |r| {
        r.get(0)
    })
    .optional()
}
