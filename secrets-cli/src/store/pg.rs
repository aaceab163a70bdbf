//! [`PgStore`]: the store in a PostgreSQL database (`--store postgres://…`), for several
//! machines that share parameters and keys.
//!
//! The tables are those of the SQLite store (see [`crate::store`]) in PostgreSQL's types:
//! `keys`, `key_versions` (branch key versions, wrapped under the root key that every
//! sharing machine holds in its `COFFER_HOME/root.key`), `params`, `param_versions`,
//! `param_labels`, `audit` and `meta`. Names use the `"C"` collation, so that they sort and
//! compare byte by byte as in SQLite (the range `/a/b/` < name < `/a/b0` depends on it).
//!
//! # Transactions
//!
//! Every write is one transaction whose first statement takes the store's write lock (the
//! audit log's head row in `meta`, `SELECT … FOR UPDATE`): writers serialize there, as they
//! do on SQLite's write lock, so the checks a write makes (the latest version, the active key
//! version) hold until it commits, and audit entries are numbered without gaps. Reads of more
//! than one statement run in one `REPEATABLE READ` transaction: one snapshot. `pg/tx.rs` lists the
//! locks each transaction takes, in the one order they all follow, and the errors after which
//! an attempt (a transaction, or a login) runs again: deadlocks, serialization failures, lock
//! timeouts, a server starting up, no connection slot free.
//!
//! # Connections
//!
//! One connection per [`PgStore`], driven by a task on the caller's tokio runtime
//! ([`PgStore::connect`] must run inside one; it never starts a runtime of its own).
//! The password may come from the URL or, better (argv is visible to other users), from
//! `PGPASSWORD`.
//!
//! # TLS
//!
//! `sslmode=require` (or `verify-full`, `verify-ca`) in the URL: TLS (rustls on AWS-LC), and
//! the server's certificate must chain to a root in the PEM file `PGSSLROOTCERT` (else the
//! system's roots) and name the host of the URL, which is what libpq calls `verify-full`:
//! nothing weaker is offered. Without `sslmode`, or with `disable` or `prefer`, the
//! connection is plain: for a local socket, `127.0.0.1` or a trusted network.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use coffer_core::keyring::{BoxFuture, RootKey};
use tokio::sync::Mutex;
use tokio_postgres::config::SslMode;
use tokio_postgres::{Client, GenericClient, NoTls, Row, Transaction};
use zeroize::Zeroizing;

use self::audit_log::{append, append_many, entries, head};
use self::tx::{SqlCode, lock_writes, retrying, snapshot};
use super::audit::{self, AuditEntry, Verified};
use super::root::{self, PassphraseCache, Protection};
use super::rows::{
    PLAN_COLUMNS, PlanRow, RawVersion, bad_row, by_path_query, check_delete, check_promote,
    check_put, check_unlabel, claim_decision, destroy_detail, held_version, label_detail,
    lease_lost, live, moves_current, path_entry, promote_detail, put_detail, range, read_detail,
    schedule_detail, stored_version, subpaths_of, tags_json, unlabel_detail, value_bytes, written,
};
use super::table::no_such_key;
use super::{
    AddVersion, KeyRecord, KeyState, KeyTable, Lookup, VersionRecord, VersionRow, Which, damaged,
    test_pause,
};
use crate::home::Home;
use crate::params::{
    CURRENT, Claim, Destroyed, Label, LabelMove, Listing, NewVersion, PREVIOUS, ParamError,
    ParamName, ParamPath, ParamResult, ParamState, ParamStore, ParamSummary, PathEntry, PutOutcome,
    RotationPlan, StoredVersion, VersionMeta, Which as ParamWhich,
};
use crate::report::CliError;

mod audit_log;
mod tx;

/// The schema this build writes.
pub const PG_SCHEMA_VERSION: u32 = 3;

/// Serializes migrations of one database across processes (`pg_advisory_xact_lock`).
const MIGRATION_LOCK: i64 = 0x636f_6666_6572; // "coffer"

/// How long a connection attempt may take when the URL does not say.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Migration `i` takes the schema from version `i` to `i + 1`.
const MIGRATIONS: [&str; 3] = [
    r#"
CREATE TABLE keys (
    name                 TEXT COLLATE "C" PRIMARY KEY,
    spec                 TEXT NOT NULL,
    created_at           BIGINT NOT NULL,
    state                TEXT NOT NULL CHECK (state IN ('enabled', 'disabled')),
    rotation_period_secs BIGINT CHECK (rotation_period_secs > 0),
    min_decrypt_version  BIGINT NOT NULL DEFAULT 1 CHECK (min_decrypt_version >= 1),
    active_version       BIGINT NOT NULL CHECK (active_version >= 1)
);
CREATE TABLE key_versions (
    name       TEXT COLLATE "C" NOT NULL REFERENCES keys (name),
    version    BIGINT NOT NULL CHECK (version >= 1),
    uuid       BYTEA NOT NULL UNIQUE CHECK (length(uuid) = 16),
    created_at BIGINT NOT NULL,
    wrapped    BYTEA NOT NULL,
    root_id    TEXT NOT NULL,
    PRIMARY KEY (name, version)
);
CREATE TABLE params (
    name       TEXT COLLATE "C" PRIMARY KEY,
    parent     TEXT COLLATE "C" NOT NULL,
    latest     BIGINT NOT NULL CHECK (latest >= 1),
    created_at BIGINT NOT NULL,
    deleted_at BIGINT
);
CREATE INDEX params_by_parent ON params (parent, name);
CREATE TABLE param_versions (
    name         TEXT COLLATE "C" NOT NULL REFERENCES params (name) ON DELETE CASCADE,
    version      BIGINT NOT NULL CHECK (version >= 1),
    type         TEXT NOT NULL CHECK (type IN ('string', 'string-list', 'secure-string')),
    value        BYTEA,
    key_ref      TEXT,
    description  TEXT,
    tags         TEXT NOT NULL DEFAULT '{}',
    created_at   BIGINT NOT NULL,
    author       TEXT NOT NULL,
    expires_at   BIGINT,
    destroyed_at BIGINT,
    PRIMARY KEY (name, version),
    CHECK ((value IS NULL) = (destroyed_at IS NOT NULL))
);
CREATE TABLE param_labels (
    name    TEXT COLLATE "C" NOT NULL,
    label   TEXT COLLATE "C" NOT NULL,
    version BIGINT NOT NULL,
    PRIMARY KEY (name, label),
    FOREIGN KEY (name, version) REFERENCES param_versions (name, version) ON DELETE CASCADE
);
CREATE INDEX param_labels_by_version ON param_labels (name, version);
CREATE TABLE audit (
    seq       BIGINT PRIMARY KEY CHECK (seq >= 1),
    at        BIGINT NOT NULL,
    actor     TEXT NOT NULL,
    verb      TEXT NOT NULL,
    name      TEXT NOT NULL,
    detail    TEXT NOT NULL,
    prev_hash BYTEA NOT NULL,
    hash      BYTEA NOT NULL
);
INSERT INTO meta (key, value) VALUES
    ('audit_count', '0'),
    ('audit_head', '0000000000000000000000000000000000000000000000000000000000000000');
"#,
    r#"
CREATE TABLE param_rotations (
    name              TEXT COLLATE "C" PRIMARY KEY REFERENCES params (name) ON DELETE CASCADE,
    every_secs        BIGINT CHECK (every_secs > 0),
    generate          TEXT,
    set_hook          TEXT,
    test_hook         TEXT,
    hook_timeout_secs BIGINT NOT NULL CHECK (hook_timeout_secs > 0),
    next_due          BIGINT,
    lease_holder      TEXT,
    lease_until       BIGINT,
    last_error        TEXT,
    seal              BYTEA
);
"#,
    r#"
ALTER TABLE param_rotations ADD COLUMN workdir TEXT;
ALTER TABLE param_rotations ADD COLUMN pending_run BYTEA;
ALTER TABLE param_rotations ADD COLUMN lease_hook BIGINT;
INSERT INTO param_labels (name, label, version)
SELECT p.name, 'current', m.version FROM params p
JOIN (SELECT v.name, max(v.version) AS version FROM param_versions v
      WHERE NOT EXISTS (SELECT 1 FROM param_labels l
                        WHERE l.name = v.name AND l.version = v.version AND l.label = 'pending')
      GROUP BY v.name) m ON m.name = p.name
WHERE NOT EXISTS (SELECT 1 FROM param_labels l WHERE l.name = p.name AND l.label = 'current');
"#,
];

/// The columns of a version, as `v` (`param_versions`), with its labels.
const COLUMNS: &str = "v.name, v.version, v.type, v.value, v.key_ref, v.description, v.tags,
    v.created_at, v.author, v.expires_at, v.destroyed_at,
    (SELECT string_agg(l.label, ',') FROM param_labels l
      WHERE l.name = v.name AND l.version = v.version)";

/// A PostgreSQL store (see the module docs).
pub struct PgStore {
    client: Mutex<Client>,
    location: String,
    /// The key lookup, prepared once per connection: it runs once per value decrypted.
    version_row: tokio::sync::OnceCell<tokio_postgres::Statement>,
}

impl fmt::Debug for PgStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgStore")
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

/// `postgres://user@host:port/db` without the password (for messages).
pub fn redacted(config: &tokio_postgres::Config) -> String {
    use tokio_postgres::config::Host;
    let user = config.get_user().unwrap_or("");
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(h)) => h.clone(),
        Some(Host::Unix(p)) => p.display().to_string(),
        None => "localhost".to_owned(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let db = config.get_dbname().unwrap_or(user);
    let at = if user.is_empty() { "" } else { "@" };
    format!("postgres://{user}{at}{host}:{port}/{db}")
}

/// The largest `PGSSLROOTCERT` file: a bundle of every public root CA is some 200 KB.
const MAX_ROOT_CERT_FILE: usize = 4 * 1024 * 1024;

/// The TLS connector for `sslmode=require`: roots from `PGSSLROOTCERT`, else the system's.
fn tls_connector(location: &str) -> Result<tokio_postgres_rustls::MakeRustlsConnect, CliError> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject as _;
    let mut roots = rustls::RootCertStore::empty();
    match std::env::var_os("PGSSLROOTCERT").filter(|p| !p.is_empty()) {
        Some(path) => {
            let path = std::path::PathBuf::from(path);
            let bad = |e: &dyn fmt::Display| {
                CliError::usage(format!(
                    "store {location}: cannot read the root certificates in PGSSLROOTCERT={}: {e}",
                    path.display()
                ))
            };
            let pem = crate::smallfile::read(&path, "root certificate file", MAX_ROOT_CERT_FILE)
                .map_err(|e| bad(&e))?;
            for cert in CertificateDer::pem_slice_iter(&pem) {
                roots.add(cert.map_err(|e| bad(&e))?).map_err(|e| bad(&e))?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            for cert in found.certs {
                // A system root that rustls cannot use is skipped, as every client does.
                let _ = roots.add(cert);
            }
        }
    }
    if roots.is_empty() {
        return Err(CliError::usage(format!(
            "store {location}: sslmode=require, and there is no root certificate to check the \
             server's against"
        ))
        .hint("set PGSSLROOTCERT to the PEM file of the CA that signed the server's certificate"));
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| CliError::failure(format!("TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

fn pg_error(location: &str, e: &tokio_postgres::Error) -> CliError {
    let base = CliError::failure(format!("store {location}"));
    let chain = std::iter::successors(Some(e as &dyn std::error::Error), |e| e.source())
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ");
    if chain.contains("certificate") || chain.contains("InvalidCertificate") {
        return base.caused_by(anyhow::anyhow!("{chain}")).hint(
            "the server's certificate must chain to a root in PGSSLROOTCERT (else the system's \
             roots) and name the host of the URL",
        );
    }
    if e.as_db_error().is_none() && e.to_string().contains("error connecting") {
        return base.caused_by(anyhow::anyhow!("{e}")).hint(
            "is the PostgreSQL server running and reachable? the URL is \
             postgres://USER@HOST:PORT/DATABASE (the password from PGPASSWORD)",
        );
    }
    match e.as_db_error() {
        Some(db) => {
            let base = match tx::hint(db.code()) {
                Some(h) => base.hint(h),
                None => base,
            };
            base.caused_by_error(tx::ServerError::new(db))
        }
        None => base.caused_by(anyhow::anyhow!("{e}")),
    }
}

/// A row value that does not fit its type here.
fn int<T: TryFrom<i64>>(location: &str, v: i64, what: &str) -> Result<T, CliError> {
    T::try_from(v).map_err(|_| damaged(location, format!("{what}: {v} is out of range")))
}

impl PgStore {
    /// Connects to the database at `url` and brings its schema up to date (creating it in
    /// an empty database). Must run on a tokio runtime, which drives the connection.
    ///
    /// A login the server refuses for now (starting up, no connection slot free) is tried
    /// again, as is a migration that deadlocked (see `pg/tx.rs`).
    ///
    /// # Errors
    /// A bad URL (usage); no runtime; the server is unreachable or refuses the login; a
    /// schema newer than this build; SQL errors.
    pub async fn connect(url: &str) -> Result<Self, CliError> {
        // libpq's verify modes: the driver knows only `require`, which is verified in full
        // here anyway.
        let url = Zeroizing::new(
            url.replace("sslmode=verify-full", "sslmode=require")
                .replace("sslmode=verify-ca", "sslmode=require"),
        );
        let mut config: tokio_postgres::Config = url.parse().map_err(|e| {
            CliError::usage("--store: a bad PostgreSQL URL")
                .caused_by(anyhow::anyhow!("{e}"))
                .hint("the form is postgres://USER@HOST:PORT/DATABASE")
        })?;
        let location = redacted(&config);
        let tls = match config.get_ssl_mode() {
            SslMode::Require => Some(tls_connector(&location)?),
            _ => None,
        };
        if config.get_password().is_none() {
            if let Some(p) = std::env::var_os("PGPASSWORD").filter(|p| !p.is_empty()) {
                config.password(p.to_string_lossy().as_bytes());
            }
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("coffer");
        }
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            CliError::failure(format!(
                "store {location}: a PostgreSQL store needs a tokio runtime to run on"
            ))
        })?;
        let (config, tls, runtime, loc) = (&config, tls.as_ref(), &runtime, &location);
        retrying(loc, "connect", move || {
            Self::open(config, tls, runtime, loc)
        })
        .await
    }

    /// One attempt of [`PgStore::connect`]: log in, and bring the schema up to date.
    async fn open(
        config: &tokio_postgres::Config,
        tls: Option<&tokio_postgres_rustls::MakeRustlsConnect>,
        runtime: &tokio::runtime::Handle,
        location: &str,
    ) -> Result<Self, CliError> {
        let loc = location.to_owned();
        let closed = move |r: Result<(), tokio_postgres::Error>| {
            if let Err(e) = r {
                tracing::debug!(store = %loc, "connection closed: {e}");
            }
        };
        let client = match tls {
            None => {
                let (client, connection) = config
                    .connect(NoTls)
                    .await
                    .map_err(|e| pg_error(location, &e))?;
                runtime.spawn(async move { closed(connection.await) });
                client
            }
            Some(tls) => {
                let (client, connection) = config
                    .connect(tls.clone())
                    .await
                    .map_err(|e| pg_error(location, &e))?;
                runtime.spawn(async move { closed(connection.await) });
                client
            }
        };
        let store = Self {
            client: Mutex::new(client),
            location: location.to_owned(),
            version_row: tokio::sync::OnceCell::new(),
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Runs `attempt` (a transaction of its own, or one statement) again while it fails for
    /// a reason that passes (see `pg/tx.rs`).
    async fn retry<T, E, F, Fut>(&self, what: &str, attempt: F) -> Result<T, E>
    where
        E: SqlCode,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        retrying(&self.location, what, attempt).await
    }

    /// Where the store is (without a password).
    pub fn location(&self) -> &str {
        &self.location
    }

    fn err(&self) -> impl Fn(tokio_postgres::Error) -> CliError + '_ {
        |e| pg_error(&self.location, &e)
    }

    fn perr(&self) -> impl Fn(tokio_postgres::Error) -> ParamError + '_ {
        |e| ParamError::Store(pg_error(&self.location, &e))
    }

    async fn migrate(&self) -> Result<(), CliError> {
        let err = self.err();
        let mut client = self.client.lock().await;
        // The common case in one round trip: the schema is there and current. (A database
        // without the `meta` table fails this query, and the transaction below creates it.)
        if let Ok(Some(row)) = client
            .query_opt("SELECT value FROM meta WHERE key = 'schema'", &[])
            .await
        {
            if row.get::<_, String>(0) == PG_SCHEMA_VERSION.to_string() {
                return Ok(());
            }
        }
        let tx = client.transaction().await.map_err(&err)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await
            .map_err(&err)?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS meta (key TEXT COLLATE \"C\" PRIMARY KEY, value TEXT NOT NULL)",
        )
        .await
        .map_err(&err)?;
        let version: u32 = match tx
            .query_opt("SELECT value FROM meta WHERE key = 'schema'", &[])
            .await
            .map_err(&err)?
        {
            Some(row) => {
                let v: String = row.get(0);
                v.parse()
                    .map_err(|_| damaged(&self.location, format!("schema version `{v}`")))?
            }
            None => 0,
        };
        if version > PG_SCHEMA_VERSION {
            return Err(CliError::failure(format!(
                "store {} has schema version {version}; this coffer knows up to \
                 {PG_SCHEMA_VERSION}",
                self.location
            ))
            .hint("it was written by a newer coffer: use that version"));
        }
        if version == PG_SCHEMA_VERSION {
            return tx.commit().await.map_err(&err);
        }
        let from = usize::try_from(version).unwrap_or(usize::MAX);
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(from) {
            tx.batch_execute(sql).await.map_err(&err)?;
            tx.execute(
                "INSERT INTO meta (key, value) VALUES ('schema', $1)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                &[&(i + 1).to_string()],
            )
            .await
            .map_err(&err)?;
        }
        if version == 0 {
            tx.execute(
                "INSERT INTO meta (key, value) VALUES ('created_at', $1)",
                &[&crate::time::now_unix().to_string()],
            )
            .await
            .map_err(&err)?;
        }
        tx.commit().await.map_err(&err)?;
        tracing::debug!(store = %self.location, "store schema created or migrated");
        Ok(())
    }

    /// A `meta` value.
    ///
    /// # Errors
    /// SQL errors.
    pub async fn meta(&self, key: &str) -> Result<Option<String>, CliError> {
        self.retry("read", move || async move {
            let client = self.client.lock().await;
            let row = client
                .query_opt("SELECT value FROM meta WHERE key = $1", &[&key])
                .await
                .map_err(self.err())?;
            Ok(row.map(|r| r.get(0)))
        })
        .await
    }

    /// Every audit entry, oldest first.
    ///
    /// # Errors
    /// SQL errors.
    pub async fn audit_entries(&self) -> Result<Vec<AuditEntry>, CliError> {
        self.retry("read the audit log", move || async move {
            let client = self.client.lock().await;
            entries(&*client, &self.location).await
        })
        .await
    }

    /// Recomputes the audit chain and checks it against `meta` (one snapshot).
    ///
    /// # Errors
    /// SQL errors.
    pub async fn verify_audit(&self) -> Result<Verified, CliError> {
        self.retry("read the audit log", move || async move {
            let err = self.err();
            let mut client = self.client.lock().await;
            let tx = snapshot(&mut client).await.map_err(&err)?;
            let list = entries(&tx, &self.location).await?;
            let (count, head) = head(&tx, false).await.map_err(&err)?;
            tx.commit().await.map_err(&err)?;
            Ok(audit::verify(&list, count, &head))
        })
        .await
    }

    /// Appends one entry per `(verb, name, detail)` in one transaction (two statements and
    /// the commit under the write lock: see `pg/audit_log.rs`).
    ///
    /// # Errors
    /// SQL errors.
    pub async fn audit_many(&self, list: &[(&str, &str, String)]) -> Result<(), CliError> {
        if list.is_empty() {
            return Ok(());
        }
        self.retry("append to the audit log", move || async move {
            let err = self.err();
            let mut client = self.client.lock().await;
            let tx = client.transaction().await.map_err(&err)?;
            append_many(&tx, list).await.map_err(&err)?;
            tx.commit().await.map_err(&err)
        })
        .await
    }

    async fn state_in(
        &self,
        tx: &impl GenericClient,
        name: &ParamName,
    ) -> ParamResult<Option<ParamState>> {
        let row = tx
            .query_opt(
                "SELECT latest, created_at, deleted_at FROM params WHERE name = $1",
                &[&name.as_str()],
            )
            .await
            .map_err(self.perr())?;
        row.map(|r| {
            Ok(ParamState {
                name: name.clone(),
                latest: u32::try_from(r.get::<_, i64>(0))
                    .map_err(|_| bad_row(&self.location, name.as_str(), "bad latest version"))?,
                created_at: r.get(1),
                deleted_at: r.get(2),
            })
        })
        .transpose()
    }

    async fn live_state(
        &self,
        tx: &impl GenericClient,
        name: &ParamName,
    ) -> ParamResult<ParamState> {
        live(name, self.state_in(tx, name).await?)
    }

    async fn version_in(
        &self,
        tx: &impl GenericClient,
        name: &ParamName,
        version: u32,
    ) -> ParamResult<Option<StoredVersion>> {
        let row = tx
            .query_opt(
                &format!(
                    "SELECT {COLUMNS} FROM param_versions v WHERE v.name = $1 AND v.version = $2"
                ),
                &[&name.as_str(), &i64::from(version)],
            )
            .await
            .map_err(self.perr())?;
        row.map(|r| stored_version(raw_version(&r), &self.location))
            .transpose()
    }

    async fn label_version(
        &self,
        tx: &impl GenericClient,
        name: &ParamName,
        label: &Label,
    ) -> ParamResult<Option<u32>> {
        let row = tx
            .query_opt(
                "SELECT version FROM param_labels WHERE name = $1 AND label = $2",
                &[&name.as_str(), &label.as_str()],
            )
            .await
            .map_err(self.perr())?;
        row.map(|r| {
            u32::try_from(r.get::<_, i64>(0))
                .map_err(|_| bad_row(&self.location, name.as_str(), "bad label version"))
        })
        .transpose()
    }

    /// Rows of `base` (a query ending in a `WHERE` clause over `params p`) for the
    /// parameters below `path`, by name.
    async fn query_under(
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
            tx.query(
                &format!("{base} AND p.parent = $1 ORDER BY p.name"),
                &[&path.as_str()],
            )
            .await
        };
        rows.map_err(self.perr())
    }

    async fn put_tx(&self, new: &NewVersion) -> ParamResult<PutOutcome> {
        let err = self.perr();
        let mut client = self.client.lock().await;
        let tx = client.transaction().await.map_err(&err)?;
        lock_writes(&tx).await.map_err(&err)?;
        let name = &new.name;
        let state = self.state_in(&tx, name).await?;
        if let Some(stale) = check_put(new, state.as_ref())? {
            return Ok(stale);
        }
        let version = i64::from(new.version);
        if state.is_none() {
            tx.execute(
                "INSERT INTO params (name, parent, latest, created_at) VALUES ($1, $2, $3, $4)",
                &[
                    &name.as_str(),
                    &name.parent().as_str(),
                    &version,
                    &new.created_at,
                ],
            )
            .await
            .map_err(&err)?;
        } else {
            tx.execute(
                "UPDATE params SET latest = $2 WHERE name = $1",
                &[&name.as_str(), &version],
            )
            .await
            .map_err(&err)?;
        }
        tx.execute(
            "INSERT INTO param_versions (name, version, type, value, key_ref, description, tags,
                                         created_at, author, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            &[
                &name.as_str(),
                &version,
                &new.param_type.as_str(),
                &value_bytes(&new.value),
                &new.key_ref,
                &new.description,
                &tags_json(&new.tags)?,
                &new.created_at,
                &new.author,
                &new.expires_at,
            ],
        )
        .await
        .map_err(&err)?;
        for label in &new.labels {
            tx.execute(
                "INSERT INTO param_labels (name, label, version) VALUES ($1, $2, $3)
                 ON CONFLICT (name, label) DO UPDATE SET version = excluded.version",
                &[&name.as_str(), &label.as_str(), &version],
            )
            .await
            .map_err(&err)?;
        }
        if moves_current(new) {
            tx.execute(
                "INSERT INTO param_labels (name, label, version) VALUES ($1, 'current', $2)
                 ON CONFLICT (name, label) DO UPDATE SET version = excluded.version",
                &[&name.as_str(), &version],
            )
            .await
            .map_err(&err)?;
        }
        append(&tx, "put", name.as_str(), &put_detail(new))
            .await
            .map_err(&err)?;
        test_pause("put: in transaction");
        tx.commit().await.map_err(&err)?;
        Ok(written(new.clone()))
    }

    async fn get_tx(&self, name: &ParamName, which: &ParamWhich) -> ParamResult<StoredVersion> {
        let mut client = self.client.lock().await;
        let tx = snapshot(&mut client).await.map_err(self.perr())?;
        let state = self.live_state(&tx, name).await?;
        let version = match which {
            ParamWhich::Latest => {
                let current = Label::parse(CURRENT)?;
                self.label_version(&tx, name, &current)
                    .await?
                    .ok_or_else(|| ParamError::NoCurrent(name.clone()))?
            }
            ParamWhich::Label(label) if label.as_str() == CURRENT => self
                .label_version(&tx, name, label)
                .await?
                .ok_or_else(|| ParamError::NoCurrent(name.clone()))?,
            ParamWhich::Version(v) => *v,
            ParamWhich::Label(label) => {
                self.label_version(&tx, name, label)
                    .await?
                    .ok_or_else(|| ParamError::NoLabel {
                        name: name.clone(),
                        label: label.clone(),
                    })?
            }
        };
        let found = self.version_in(&tx, name, version).await?;
        tx.commit().await.map_err(self.perr())?;
        found.ok_or_else(|| ParamError::NoVersion {
            name: name.clone(),
            version,
            latest: state.latest,
        })
    }

    async fn list_tx(&self, path: &ParamPath, recursive: bool) -> ParamResult<Listing> {
        let err = self.perr();
        let mut client = self.client.lock().await;
        let tx = snapshot(&mut client).await.map_err(&err)?;
        let base = format!(
            "SELECT {COLUMNS}, p.created_at FROM params p
             JOIN param_versions v ON v.name = p.name AND v.version = p.latest
             WHERE p.deleted_at IS NULL"
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
            subpaths = subpaths_of(
                &self.location,
                &lo,
                parents.iter().map(|r| r.get::<_, String>(0)),
            )?;
        }
        tx.commit().await.map_err(&err)?;
        drop(client);
        let params = rows
            .iter()
            .map(|r| {
                Ok(ParamSummary {
                    latest: stored_version(raw_version(r), &self.location)?.meta,
                    created_at: r.get(12),
                })
            })
            .collect::<ParamResult<Vec<_>>>()?;
        Ok(Listing { params, subpaths })
    }

    async fn history_tx(&self, name: &ParamName) -> ParamResult<(ParamState, Vec<VersionMeta>)> {
        let mut client = self.client.lock().await;
        let tx = snapshot(&mut client).await.map_err(self.perr())?;
        let state = self
            .state_in(&tx, name)
            .await?
            .ok_or_else(|| ParamError::NotFound(name.clone()))?;
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
            .map(|r| stored_version(raw_version(r), &self.location).map(|v| v.meta))
            .collect::<ParamResult<Vec<_>>>()?;
        Ok((state, versions))
    }

    async fn label_tx(
        &self,
        name: &ParamName,
        version: u32,
        labels: &[Label],
    ) -> ParamResult<Vec<LabelMove>> {
        let err = self.perr();
        let mut client = self.client.lock().await;
        let tx = client.transaction().await.map_err(&err)?;
        lock_writes(&tx).await.map_err(&err)?;
        let state = self.live_state(&tx, name).await?;
        let found = self.version_in(&tx, name, version).await?;
        held_version(name, version, state.latest, found)?;
        let mut moves = Vec::with_capacity(labels.len());
        for label in labels {
            let from = self.label_version(&tx, name, label).await?;
            tx.execute(
                "INSERT INTO param_labels (name, label, version) VALUES ($1, $2, $3)
                 ON CONFLICT (name, label) DO UPDATE SET version = excluded.version",
                &[&name.as_str(), &label.as_str(), &i64::from(version)],
            )
            .await
            .map_err(&err)?;
            moves.push(LabelMove {
                label: label.clone(),
                from,
                to: version,
            });
        }
        append(&tx, "label", name.as_str(), &label_detail(&moves))
            .await
            .map_err(&err)?;
        tx.commit().await.map_err(&err)?;
        Ok(moves)
    }

    async fn unlabel_tx(
        &self,
        name: &ParamName,
        labels: &[Label],
    ) -> ParamResult<Vec<(Label, u32)>> {
        check_unlabel(name, labels)?;
        let err = self.perr();
        let mut client = self.client.lock().await;
        let tx = client.transaction().await.map_err(&err)?;
        lock_writes(&tx).await.map_err(&err)?;
        self.live_state(&tx, name).await?;
        let mut removed = Vec::with_capacity(labels.len());
        for label in labels {
            let row = tx
                .query_opt(
                    "DELETE FROM param_labels WHERE name = $1 AND label = $2 RETURNING version",
                    &[&name.as_str(), &label.as_str()],
                )
                .await
                .map_err(&err)?;
            let Some(row) = row else {
                return Err(ParamError::NoLabel {
                    name: name.clone(),
                    label: label.clone(),
                });
            };
            let v = u32::try_from(row.get::<_, i64>(0))
                .map_err(|_| bad_row(&self.location, name.as_str(), "bad label version"))?;
            removed.push((label.clone(), v));
        }
        append(&tx, "unlabel", name.as_str(), &unlabel_detail(&removed))
            .await
            .map_err(&err)?;
        tx.commit().await.map_err(&err)?;
        Ok(removed)
    }

    async fn promote_tx(&self, name: &ParamName, new: u32, old: Option<u32>) -> ParamResult<()> {
        let err = self.perr();
        let mut client = self.client.lock().await;
        let tx = client.transaction().await.map_err(&err)?;
        lock_writes(&tx).await.map_err(&err)?;
        self.live_state(&tx, name).await?;
        let mut labels = [None, None];
        for (i, label) in ["pending", "current"].into_iter().enumerate() {
            let row = tx
                .query_opt(
                    "SELECT version FROM param_labels WHERE name = $1 AND label = $2",
                    &[&name.as_str(), &label],
                )
                .await
                .map_err(&err)?;
            labels[i] = row
                .map(|r| {
                    u32::try_from(r.get::<_, i64>(0))
                        .map_err(|_| bad_row(&self.location, name.as_str(), "bad label version"))
                })
                .transpose()?;
        }
        check_promote(name, new, old, labels[0], labels[1])?;
        let set = "INSERT INTO param_labels (name, label, version) VALUES ($1, $2, $3)
                   ON CONFLICT (name, label) DO UPDATE SET version = excluded.version";
        tx.execute(set, &[&name.as_str(), &CURRENT, &i64::from(new)])
            .await
            .map_err(&err)?;
        if let Some(old) = old {
            let old_live = self
                .version_in(&tx, name, old)
                .await?
                .is_some_and(|v| v.meta.destroyed_at.is_none());
            if old_live {
                tx.execute(set, &[&name.as_str(), &PREVIOUS, &i64::from(old)])
                    .await
                    .map_err(&err)?;
            } else {
                // `previous` names the version before `current`: a destroyed one is no
                // rollback.
                tx.execute(
                    "DELETE FROM param_labels WHERE name = $1 AND label = 'previous'",
                    &[&name.as_str()],
                )
                .await
                .map_err(&err)?;
            }
        }
        for sql in [
            "DELETE FROM param_labels WHERE name = $1 AND label = 'pending'",
            "UPDATE param_rotations SET pending_run = NULL WHERE name = $1",
        ] {
            tx.execute(sql, &[&name.as_str()]).await.map_err(&err)?;
        }
        append(&tx, "rotate", name.as_str(), &promote_detail(new, old))
            .await
            .map_err(&err)?;
        test_pause("promote: in transaction");
        tx.commit().await.map_err(&err)?;
        Ok(())
    }

    fn plan_of(&self, r: &Row) -> ParamResult<RotationPlan> {
        PlanRow {
            name: r.get(0),
            every_secs: r.get(1),
            generate: r.get(2),
            set_hook: r.get(3),
            test_hook: r.get(4),
            hook_timeout_secs: r.get(5),
            next_due: r.get(6),
            lease: (r.get(7), r.get(8)),
            last_error: r.get(9),
            seal: r.get(10),
            workdir: r.get(11),
            pending_run: r.get(12),
            lease_hook: r.get(13),
        }
        .into_plan(&self.location)
    }

    async fn rotation_plans_tx(&self) -> ParamResult<Vec<RotationPlan>> {
        let client = self.client.lock().await;
        let rows = client
            .query(
                &format!("SELECT {PLAN_COLUMNS} FROM param_rotations ORDER BY name"),
                &[],
            )
            .await
            .map_err(self.perr())?;
        rows.iter().map(|r| self.plan_of(r)).collect()
    }

    async fn set_rotation_plan_tx(&self, plan: &RotationPlan) -> ParamResult<()> {
        let err = self.perr();
        let every = plan
            .every_secs
            .map(i64::try_from)
            .transpose()
            .map_err(|_| ParamError::Usage("the rotation period is too long".into()))?;
        let timeout = i64::try_from(plan.hook_timeout_secs)
            .map_err(|_| ParamError::Usage("the hook time limit is too long".into()))?;
        let mut client = self.client.lock().await;
        let tx = client.transaction().await.map_err(&err)?;
        lock_writes(&tx).await.map_err(&err)?;
        self.live_state(&tx, &plan.name).await?;
        tx.execute(
            "INSERT INTO param_rotations (name, every_secs, generate, set_hook, test_hook,
                                          hook_timeout_secs, next_due, seal, workdir)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (name) DO UPDATE SET every_secs = excluded.every_secs,
                 generate = excluded.generate, set_hook = excluded.set_hook,
                 test_hook = excluded.test_hook, hook_timeout_secs = excluded.hook_timeout_secs,
                 next_due = excluded.next_due, seal = excluded.seal, workdir = excluded.workdir",
            &[
                &plan.name.as_str(),
                &every,
                &plan.generate,
                &plan.set_hook,
                &plan.test_hook,
                &timeout,
                &plan.next_due,
                &plan.seal,
                &plan.workdir,
            ],
        )
        .await
        .map_err(&err)?;
        append(
            &tx,
            "rotate-schedule",
            plan.name.as_str(),
            &schedule_detail(plan),
        )
        .await
        .map_err(&err)?;
        tx.commit().await.map_err(&err)
    }

    #[allow(clippy::too_many_arguments, reason = "one transaction's inputs")]
    async fn claim_rotation_tx(
        &self,
        name: &ParamName,
        holder: &str,
        now: i64,
        until: i64,
        due_only: bool,
        steal_from: Option<&str>,
        hook_timeout_secs: u64,
    ) -> ParamResult<Claim> {
        let err = self.perr();
        let mut client = self.client.lock().await;
        let tx = client.transaction().await.map_err(&err)?;
        lock_writes(&tx).await.map_err(&err)?;
        self.live_state(&tx, name).await?;
        // Several machines share the store: leases and due times follow the server's clock,
        // not each client's (the lease keeps the length the caller asked for).
        let server_now: i64 = tx
            .query_one("SELECT extract(epoch FROM now())::bigint", &[])
            .await
            .map_err(&err)?
            .get(0);
        let until = server_now.saturating_add(until.saturating_sub(now));
        let now = server_now;
        let plan = tx
            .query_opt(
                &format!("SELECT {PLAN_COLUMNS} FROM param_rotations WHERE name = $1"),
                &[&name.as_str()],
            )
            .await
            .map_err(&err)?
            .map(|r| self.plan_of(&r))
            .transpose()?;
        if let Some(decided) = claim_decision(plan.as_ref(), holder, now, due_only, steal_from) {
            return Ok(decided);
        }
        let timeout = i64::try_from(hook_timeout_secs).unwrap_or(i64::MAX);
        tx.execute(
            "INSERT INTO param_rotations (name, hook_timeout_secs, lease_holder, lease_until)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (name) DO UPDATE SET lease_holder = excluded.lease_holder,
                 lease_until = excluded.lease_until, lease_hook = NULL",
            &[&name.as_str(), &timeout, &holder, &until],
        )
        .await
        .map_err(&err)?;
        tx.commit().await.map_err(&err)?;
        Ok(Claim::Claimed(plan.map(Box::new)))
    }

    async fn release_rotation_tx(
        &self,
        name: &ParamName,
        holder: &str,
        error: Option<&str>,
    ) -> ParamResult<()> {
        let client = self.client.lock().await;
        // The next due time on the server's clock, as the lease was (see `claim_rotation_tx`).
        client
            .execute(
                "UPDATE param_rotations SET lease_holder = NULL, lease_until = NULL,
                     lease_hook = NULL, last_error = $3::TEXT,
                     next_due = CASE WHEN $3::TEXT IS NULL AND every_secs IS NOT NULL
                                     THEN extract(epoch FROM now())::bigint + every_secs
                                     ELSE next_due END
                 WHERE name = $1 AND lease_holder = $2",
                &[&name.as_str(), &holder, &error],
            )
            .await
            .map_err(self.perr())?;
        Ok(())
    }

    /// `UPDATE param_rotations SET {column} = $3 WHERE name = $1 AND lease_holder = $2`.
    async fn set_lease_column<T: tokio_postgres::types::ToSql + Sync>(
        &self,
        column: &str,
        name: &ParamName,
        holder: &str,
        value: T,
    ) -> ParamResult<()> {
        let client = self.client.lock().await;
        let n = client
            .execute(
                &format!(
                    "UPDATE param_rotations SET {column} = $3 WHERE name = $1 AND lease_holder = $2"
                ),
                &[&name.as_str(), &holder, &value],
            )
            .await
            .map_err(self.perr())?;
        lease_lost(name, n)
    }

    async fn set_deleted(&self, name: &ParamName, deleted: Option<i64>) -> ParamResult<()> {
        let err = self.perr();
        let mut client = self.client.lock().await;
        let tx = client.transaction().await.map_err(&err)?;
        lock_writes(&tx).await.map_err(&err)?;
        let state = check_delete(name, self.state_in(&tx, name).await?, deleted)?;
        tx.execute(
            "UPDATE params SET deleted_at = $2 WHERE name = $1",
            &[&name.as_str(), &deleted],
        )
        .await
        .map_err(&err)?;
        let verb = if deleted.is_some() { "rm" } else { "restore" };
        let detail = format!("latest version {}", state.latest);
        append(&tx, verb, name.as_str(), &detail)
            .await
            .map_err(&err)?;
        tx.commit().await.map_err(&err)
    }

    async fn destroy_tx(
        &self,
        name: &ParamName,
        version: Option<u32>,
        now: i64,
    ) -> ParamResult<Destroyed> {
        let err = self.perr();
        let mut client = self.client.lock().await;
        let tx = client.transaction().await.map_err(&err)?;
        lock_writes(&tx).await.map_err(&err)?;
        let state = self
            .state_in(&tx, name)
            .await?
            .ok_or_else(|| ParamError::NotFound(name.clone()))?;
        let destroyed = match version {
            None => {
                let rows = tx
                    .query(
                        "SELECT version FROM param_versions
                         WHERE name = $1 AND destroyed_at IS NULL ORDER BY version",
                        &[&name.as_str()],
                    )
                    .await
                    .map_err(&err)?;
                let versions = rows
                    .iter()
                    .map(|r| {
                        u32::try_from(r.get::<_, i64>(0))
                            .map_err(|_| bad_row(&self.location, name.as_str(), "bad version"))
                    })
                    .collect::<ParamResult<Vec<_>>>()?;
                for sql in [
                    "DELETE FROM param_labels WHERE name = $1",
                    "DELETE FROM param_versions WHERE name = $1",
                    "DELETE FROM params WHERE name = $1",
                ] {
                    tx.execute(sql, &[&name.as_str()]).await.map_err(&err)?;
                }
                Destroyed {
                    name: name.clone(),
                    versions,
                    whole: true,
                    lingers: None,
                }
            }
            Some(v) => {
                let found = self.version_in(&tx, name, v).await?;
                held_version(name, v, state.latest, found)?;
                let v64 = i64::from(v);
                tx.execute(
                    "UPDATE param_versions SET value = NULL, destroyed_at = $3
                     WHERE name = $1 AND version = $2",
                    &[&name.as_str(), &v64, &now],
                )
                .await
                .map_err(&err)?;
                // `current` stays: `get NAME` then says that the current version was
                // destroyed, rather than reading another one.
                tx.execute(
                    "DELETE FROM param_labels WHERE name = $1 AND version = $2
                         AND label <> 'current'",
                    &[&name.as_str(), &v64],
                )
                .await
                .map_err(&err)?;
                Destroyed {
                    name: name.clone(),
                    versions: vec![v],
                    whole: false,
                    lingers: None,
                }
            }
        };
        append(&tx, "destroy", name.as_str(), &destroy_detail(&destroyed))
            .await
            .map_err(&err)?;
        tx.commit().await.map_err(&err)?;
        // Reclaim the dead row versions that still hold the value (best effort: it needs
        // the table's owner).
        let mut destroyed = destroyed;
        if let Err(e) = client.batch_execute("VACUUM param_versions").await {
            tracing::debug!("vacuum after destroy: {e}");
            destroyed.lingers = Some(format!(
                "dead row versions of the table param_versions, until it is vacuumed (VACUUM \
                 failed: {})",
                e.as_db_error()
                    .map_or_else(|| e.to_string(), |d| d.message().to_owned())
            ));
        }
        Ok(destroyed)
    }

    async fn read_key(
        &self,
        tx: &impl GenericClient,
        name: &str,
    ) -> Result<Option<KeyRecord>, CliError> {
        let err = self.err();
        let loc = &self.location;
        let Some(row) = tx
            .query_opt(
                "SELECT spec, created_at, state, rotation_period_secs, min_decrypt_version,
                        active_version
                 FROM keys WHERE name = $1",
                &[&name],
            )
            .await
            .map_err(&err)?
        else {
            return Ok(None);
        };
        let rows = tx
            .query(
                "SELECT version, uuid, created_at, root_id FROM key_versions
                 WHERE name = $1 ORDER BY version",
                &[&name],
            )
            .await
            .map_err(&err)?;
        let what = |w: &str| format!("key `{name}`: {w}");
        let versions = rows
            .iter()
            .map(|r| {
                Ok(VersionRecord {
                    version: int(loc, r.get(0), &what("version"))?,
                    uuid: uuid_of(loc, name, r.get(1))?,
                    created_at: r.get(2),
                    root_id: r.get(3),
                })
            })
            .collect::<Result<Vec<_>, CliError>>()?;
        let state: String = row.get(2);
        Ok(Some(KeyRecord {
            name: name.to_owned(),
            spec: row.get(0),
            created_at: row.get(1),
            state: KeyState::parse(&state).map_err(|e| damaged(loc, what(&e)))?,
            rotation_period_secs: row
                .get::<_, Option<i64>>(3)
                .map(|p| int(loc, p, &what("rotation period")))
                .transpose()?,
            min_decrypt_version: int(loc, row.get(4), &what("minimum version"))?,
            active_version: int(loc, row.get(5), &what("active version"))?,
            versions,
        }))
    }
}

fn uuid_of(location: &str, name: &str, bytes: Vec<u8>) -> Result<[u8; 16], CliError> {
    bytes
        .try_into()
        .map_err(|_| damaged(location, format!("key `{name}`: bad version id")))
}

fn raw_version(r: &Row) -> RawVersion {
    raw_version_at(r, 0)
}

/// The `COLUMNS` of a row, starting at column `at`.
fn raw_version_at(r: &Row, at: usize) -> RawVersion {
    RawVersion {
        name: r.get(at),
        version: r.get(at + 1),
        param_type: r.get(at + 2),
        value: r.get::<_, Option<Vec<u8>>>(at + 3).map(Zeroizing::new),
        key_ref: r.get(at + 4),
        description: r.get(at + 5),
        tags: r.get(at + 6),
        created_at: r.get(at + 7),
        author: r.get(at + 8),
        expires_at: r.get(at + 9),
        destroyed_at: r.get(at + 10),
        labels: r.get(at + 11),
    }
}

/// A row of `by_path_query`: the parameter's name, then its current version's `COLUMNS`
/// (all `NULL`: it has none).
fn path_row(r: &Row) -> Result<RawVersion, String> {
    match r.get::<_, Option<String>>(1) {
        None => Err(r.get(0)),
        Some(_) => Ok(raw_version_at(r, 1)),
    }
}

/// Inserts version `v` of key `name` (wrapped) in `tx`.
async fn insert_version(
    tx: &Transaction<'_>,
    name: &str,
    v: &VersionRecord,
    wrapped: &[u8],
) -> Result<u64, tokio_postgres::Error> {
    tx.execute(
        "INSERT INTO key_versions (name, version, uuid, created_at, wrapped, root_id)
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            &name,
            &i64::from(v.version),
            &&v.uuid[..],
            &v.created_at,
            &wrapped,
            &v.root_id,
        ],
    )
    .await
}

impl ParamStore for PgStore {
    fn location(&self) -> String {
        self.location.clone()
    }

    fn state<'a>(&'a self, name: &'a ParamName) -> BoxFuture<'a, ParamResult<Option<ParamState>>> {
        Box::pin(self.retry("read", move || async move {
            let client = self.client.lock().await;
            self.state_in(&*client, name).await
        }))
    }

    fn put(&self, new: NewVersion) -> BoxFuture<'_, ParamResult<PutOutcome>> {
        Box::pin(async move {
            let new = &new;
            self.retry("put", move || self.put_tx(new)).await
        })
    }

    fn get<'a>(
        &'a self,
        name: &'a ParamName,
        which: &'a ParamWhich,
    ) -> BoxFuture<'a, ParamResult<StoredVersion>> {
        Box::pin(self.retry("read", move || self.get_tx(name, which)))
    }

    fn get_by_path<'a>(
        &'a self,
        path: &'a ParamPath,
        recursive: bool,
    ) -> BoxFuture<'a, ParamResult<Vec<PathEntry>>> {
        Box::pin(self.retry("read", move || async move {
            let client = self.client.lock().await;
            let base = by_path_query(COLUMNS);
            let rows = self.query_under(&*client, &base, path, recursive).await?;
            rows.iter()
                .map(|r| path_entry(path_row(r), &self.location))
                .collect()
        }))
    }

    fn list<'a>(
        &'a self,
        path: &'a ParamPath,
        recursive: bool,
    ) -> BoxFuture<'a, ParamResult<Listing>> {
        Box::pin(self.retry("read", move || self.list_tx(path, recursive)))
    }

    fn history<'a>(
        &'a self,
        name: &'a ParamName,
    ) -> BoxFuture<'a, ParamResult<(ParamState, Vec<VersionMeta>)>> {
        Box::pin(self.retry("read", move || self.history_tx(name)))
    }

    fn label<'a>(
        &'a self,
        name: &'a ParamName,
        version: u32,
        labels: &'a [Label],
    ) -> BoxFuture<'a, ParamResult<Vec<LabelMove>>> {
        Box::pin(self.retry("label", move || self.label_tx(name, version, labels)))
    }

    fn set_pending_run<'a>(
        &'a self,
        name: &'a ParamName,
        holder: &'a str,
        run: Option<&'a [u8]>,
    ) -> BoxFuture<'a, ParamResult<()>> {
        Box::pin(self.retry("record a rotation run", move || {
            self.set_lease_column("pending_run", name, holder, run)
        }))
    }

    fn set_rotation_hook<'a>(
        &'a self,
        name: &'a ParamName,
        holder: &'a str,
        hook: Option<u32>,
    ) -> BoxFuture<'a, ParamResult<()>> {
        Box::pin(self.retry("record a rotation hook", move || {
            self.set_lease_column("lease_hook", name, holder, hook.map(i64::from))
        }))
    }

    fn unlabel<'a>(
        &'a self,
        name: &'a ParamName,
        labels: &'a [Label],
    ) -> BoxFuture<'a, ParamResult<Vec<(Label, u32)>>> {
        Box::pin(self.retry("unlabel", move || self.unlabel_tx(name, labels)))
    }

    fn promote<'a>(
        &'a self,
        name: &'a ParamName,
        new: u32,
        old: Option<u32>,
    ) -> BoxFuture<'a, ParamResult<()>> {
        Box::pin(self.retry("promote", move || self.promote_tx(name, new, old)))
    }

    fn rotation_plans(&self) -> BoxFuture<'_, ParamResult<Vec<RotationPlan>>> {
        Box::pin(self.retry("read", move || self.rotation_plans_tx()))
    }

    fn set_rotation_plan<'a>(&'a self, plan: &'a RotationPlan) -> BoxFuture<'a, ParamResult<()>> {
        Box::pin(self.retry("schedule a rotation", move || {
            self.set_rotation_plan_tx(plan)
        }))
    }

    fn claim_rotation<'a>(
        &'a self,
        name: &'a ParamName,
        holder: &'a str,
        now: i64,
        until: i64,
        due_only: bool,
        steal_from: Option<&'a str>,
        hook_timeout_secs: u64,
    ) -> BoxFuture<'a, ParamResult<Claim>> {
        Box::pin(self.retry("claim a rotation lease", move || {
            self.claim_rotation_tx(
                name,
                holder,
                now,
                until,
                due_only,
                steal_from,
                hook_timeout_secs,
            )
        }))
    }

    fn release_rotation<'a>(
        &'a self,
        name: &'a ParamName,
        holder: &'a str,
        now: i64,
        error: Option<&'a str>,
    ) -> BoxFuture<'a, ParamResult<()>> {
        let _ = now; // the server's clock is used instead
        Box::pin(self.retry("release a rotation lease", move || {
            self.release_rotation_tx(name, holder, error)
        }))
    }

    fn delete<'a>(&'a self, name: &'a ParamName, now: i64) -> BoxFuture<'a, ParamResult<()>> {
        Box::pin(self.retry("rm", move || self.set_deleted(name, Some(now))))
    }

    fn restore<'a>(&'a self, name: &'a ParamName) -> BoxFuture<'a, ParamResult<()>> {
        Box::pin(self.retry("restore", move || self.set_deleted(name, None)))
    }

    fn destroy<'a>(
        &'a self,
        name: &'a ParamName,
        version: Option<u32>,
        now: i64,
    ) -> BoxFuture<'a, ParamResult<Destroyed>> {
        Box::pin(self.retry("destroy", move || self.destroy_tx(name, version, now)))
    }

    fn record_secure_reads<'a>(
        &'a self,
        reads: &'a [(ParamName, u32)],
        context: &'a str,
    ) -> BoxFuture<'a, ParamResult<()>> {
        Box::pin(async move {
            let list: Vec<(&str, &str, String)> = reads
                .iter()
                .map(|(name, version)| {
                    ("get-secure", name.as_str(), read_detail(*version, context))
                })
                .collect();
            Ok(self.audit_many(&list).await?)
        })
    }
}

impl KeyTable for PgStore {
    fn location(&self) -> String {
        self.location.clone()
    }

    fn load_root(
        &self,
        home: &Home,
        passphrase: &mut PassphraseCache,
    ) -> Result<(Arc<dyn RootKey>, Protection), CliError> {
        let path = home.root_key_path();
        let (material, protection) = root::load_with_protection(&path, || passphrase.get(&path))?;
        Ok((material.into_root_key()?, protection))
    }

    fn adopt_root_id<'a>(&'a self, root_id: &'a str) -> BoxFuture<'a, Result<String, CliError>> {
        Box::pin(self.retry("record the root key", move || async move {
            const ROOT_ID: &str = "SELECT value FROM meta WHERE key = 'root_id'";
            let err = self.err();
            let mut client = self.client.lock().await;
            // Recorded already (every open but the first): no lock needed.
            if let Some(row) = client.query_opt(ROOT_ID, &[]).await.map_err(&err)? {
                return Ok(row.get(0));
            }
            let tx = client.transaction().await.map_err(&err)?;
            lock_writes(&tx).await.map_err(&err)?;
            if let Some(row) = tx.query_opt(ROOT_ID, &[]).await.map_err(&err)? {
                return Ok(row.get(0));
            }
            tx.execute(
                "INSERT INTO meta (key, value) VALUES ('root_id', $1)",
                &[&root_id],
            )
            .await
            .map_err(&err)?;
            tx.commit().await.map_err(&err)?;
            Ok(root_id.to_owned())
        }))
    }

    fn get_key<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<Option<KeyRecord>, CliError>> {
        Box::pin(self.retry("read", move || async move {
            let mut client = self.client.lock().await;
            let tx = snapshot(&mut client).await.map_err(self.err())?;
            let key = self.read_key(&tx, name).await?;
            tx.commit().await.map_err(self.err())?;
            Ok(key)
        }))
    }

    fn list_keys(&self) -> BoxFuture<'_, Result<Vec<KeyRecord>, CliError>> {
        Box::pin(self.retry("read", move || async move {
            let mut client = self.client.lock().await;
            let tx = snapshot(&mut client).await.map_err(self.err())?;
            let names = tx
                .query("SELECT name FROM keys ORDER BY name", &[])
                .await
                .map_err(self.err())?;
            let mut keys = Vec::with_capacity(names.len());
            for row in names {
                let name: String = row.get(0);
                keys.extend(self.read_key(&tx, &name).await?);
            }
            tx.commit().await.map_err(self.err())?;
            Ok(keys)
        }))
    }

    fn insert_key<'a>(
        &'a self,
        record: &'a KeyRecord,
        first: &'a VersionRecord,
        wrapped: &'a [u8],
    ) -> BoxFuture<'a, Result<(), CliError>> {
        Box::pin(self.retry("key create", move || async move {
            let err = self.err();
            let mut client = self.client.lock().await;
            let tx = client.transaction().await.map_err(&err)?;
            lock_writes(&tx).await.map_err(&err)?;
            if self.read_key(&tx, &record.name).await?.is_some() {
                return Err(
                    CliError::failure(format!("key `{}` already exists", record.name))
                        .hint(format!("see it with: coffer key show {}", record.name)),
                );
            }
            self.check_root(&tx, &first.root_id).await?;
            let period = record
                .rotation_period_secs
                .map(i64::try_from)
                .transpose()
                .map_err(|_| CliError::usage("rotation period too long"))?;
            tx.execute(
                "INSERT INTO keys (name, spec, created_at, state, rotation_period_secs,
                                   min_decrypt_version, active_version)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[
                    &record.name,
                    &record.spec,
                    &record.created_at,
                    &record.state.as_str(),
                    &period,
                    &i64::from(record.min_decrypt_version),
                    &i64::from(record.active_version),
                ],
            )
            .await
            .map_err(&err)?;
            insert_version(&tx, &record.name, first, wrapped)
                .await
                .map_err(&err)?;
            let detail = format!("version 1, {}", record.spec);
            append(&tx, "key-create", &record.name, &detail)
                .await
                .map_err(&err)?;
            tx.commit().await.map_err(&err)
        }))
    }

    fn add_version<'a>(
        &'a self,
        name: &'a str,
        expected_active: u32,
        new: &'a VersionRecord,
        wrapped: &'a [u8],
        due_at: Option<i64>,
    ) -> BoxFuture<'a, Result<AddVersion, CliError>> {
        Box::pin(self.retry("key rotate", move || async move {
            let err = self.err();
            let loc = &self.location;
            let mut client = self.client.lock().await;
            let tx = client.transaction().await.map_err(&err)?;
            lock_writes(&tx).await.map_err(&err)?;
            self.check_root(&tx, &new.root_id).await?;
            let Some(key) = self.read_key(&tx, name).await? else {
                return Ok(AddVersion::NoKey);
            };
            if key.state == KeyState::Disabled {
                return Ok(AddVersion::Disabled);
            }
            if key.active_version != expected_active {
                return Ok(AddVersion::Changed);
            }
            key.versions
                .iter()
                .find(|v| v.version == key.active_version)
                .ok_or_else(|| {
                    damaged(
                        loc,
                        format!("key `{name}`: active version {expected_active} is missing"),
                    )
                })?;
            if key.versions.last().map(|v| v.version) != Some(key.active_version) {
                return Err(damaged(
                    loc,
                    format!("key `{name}`: a version is newer than the active version"),
                ));
            }
            if Some(new.version) != expected_active.checked_add(1) {
                return Err(CliError::failure(format!(
                    "internal error: version {} does not follow version {expected_active} of \
                     key `{name}`",
                    new.version
                )));
            }
            if let Some(now) = due_at {
                if key.next_rotation().is_none_or(|t| t > now) {
                    return Ok(AddVersion::NotDue);
                }
            }
            insert_version(&tx, name, new, wrapped)
                .await
                .map_err(&err)?;
            tx.execute(
                "UPDATE keys SET active_version = $2 WHERE name = $1",
                &[&name, &i64::from(new.version)],
            )
            .await
            .map_err(&err)?;
            let detail = format!(
                "version {} (was {expected_active}){}",
                new.version,
                if due_at.is_some() { ", due" } else { "" }
            );
            append(&tx, "key-rotate", name, &detail)
                .await
                .map_err(&err)?;
            test_pause("rotate: in transaction");
            tx.commit().await.map_err(&err)?;
            Ok(AddVersion::Added)
        }))
    }

    fn set_state<'a>(
        &'a self,
        name: &'a str,
        state: KeyState,
    ) -> BoxFuture<'a, Result<bool, CliError>> {
        Box::pin(async move {
            let changed = self
                .update_key(
                    name,
                    "UPDATE keys SET state = $2 WHERE name = $1",
                    &state.as_str(),
                    super::state_verb(state),
                    |k| Ok((k.state != state).then(String::new)),
                )
                .await?;
            Ok(changed.is_some())
        })
    }

    fn set_rotation_period<'a>(
        &'a self,
        name: &'a str,
        period_secs: Option<u64>,
    ) -> BoxFuture<'a, Result<KeyRecord, CliError>> {
        Box::pin(async move {
            let period = period_secs
                .map(i64::try_from)
                .transpose()
                .map_err(|_| CliError::usage("rotation period too long"))?;
            let (_, after) = self
                .update_key(
                    name,
                    "UPDATE keys SET rotation_period_secs = $2 WHERE name = $1",
                    &period,
                    "key-set-rotation",
                    |_| Ok(Some(super::period_detail(period_secs))),
                )
                .await?
                .ok_or_else(|| self.no_such_key(name))?;
            Ok(after)
        })
    }

    fn set_min_decrypt_version<'a>(
        &'a self,
        name: &'a str,
        min: u32,
    ) -> BoxFuture<'a, Result<(u32, KeyRecord), CliError>> {
        Box::pin(async move {
            let (before, after) = self
                .update_key(
                    name,
                    "UPDATE keys SET min_decrypt_version = $2 WHERE name = $1",
                    &i64::from(min),
                    "key-retire",
                    |k| {
                        super::check_retire(k, min)?;
                        Ok(Some(format!(
                            "min decrypt version {min} (was {})",
                            k.min_decrypt_version
                        )))
                    },
                )
                .await?
                .ok_or_else(|| self.no_such_key(name))?;
            Ok((before.min_decrypt_version, after))
        })
    }

    fn version_row<'a>(
        &'a self,
        name: &'a str,
        which: Which<'a>,
    ) -> BoxFuture<'a, Result<Lookup, CliError>> {
        Box::pin(self.retry("read", move || async move {
            let err = self.err();
            let loc = &self.location;
            let client = self.client.lock().await;
            let uuid: Option<&[u8]> = match which {
                Which::Active => None,
                Which::Uuid(u) => Some(&u[..]),
            };
            // One statement (one snapshot, one round trip): the key and the version.
            let stmt = self
                .version_row
                .get_or_try_init(|| {
                    client.prepare(
                        "SELECT k.state, k.min_decrypt_version, k.active_version,
                                v.version, v.uuid, v.wrapped, v.root_id
                         FROM keys k LEFT JOIN key_versions v ON v.name = k.name
                              AND CASE WHEN $2::bytea IS NULL
                                       THEN v.version = k.active_version
                                       ELSE v.uuid = $2 END
                         WHERE k.name = $1",
                    )
                })
                .await
                .map_err(&err)?;
            let Some(row) = client
                .query_opt(stmt, &[&name, &uuid])
                .await
                .map_err(&err)?
            else {
                return Ok(Lookup::NoKey);
            };
            let what = |w: &str| format!("key `{name}`: {w}");
            let state: String = row.get(0);
            let state = KeyState::parse(&state).map_err(|e| damaged(loc, what(&e)))?;
            let active: i64 = row.get(2);
            let Some(version) = row.get::<_, Option<i64>>(3) else {
                if uuid.is_none() {
                    return Err(damaged(
                        loc,
                        what(&format!("active version {active} is missing")),
                    ));
                }
                return Ok(Lookup::NoVersion);
            };
            Ok(Lookup::Found(VersionRow {
                state,
                min_decrypt_version: int(loc, row.get(1), &what("minimum version"))?,
                version: int(loc, version, &what("version"))?,
                uuid: uuid_of(loc, name, row.get(4))?,
                wrapped: row.get(5),
                root_id: row.get(6),
            }))
        }))
    }
}

impl PgStore {
    /// Runs `update` (`UPDATE keys SET … WHERE name = $1`, with `value` as `$2`) in a write
    /// transaction if `check`, given the key as it is, returns the audit detail (`None`:
    /// nothing to do); appends `(verb, detail)` to the audit log. Returns the key before and
    /// after.
    async fn update_key(
        &self,
        name: &str,
        update: &str,
        value: &(dyn tokio_postgres::types::ToSql + Sync),
        verb: &str,
        check: impl Fn(&KeyRecord) -> Result<Option<String>, CliError>,
    ) -> Result<Option<(KeyRecord, KeyRecord)>, CliError> {
        let check = &check;
        self.retry(verb, move || {
            self.update_key_tx(name, update, value, verb, check)
        })
        .await
    }

    /// One attempt of [`PgStore::update_key`].
    async fn update_key_tx(
        &self,
        name: &str,
        update: &str,
        value: &(dyn tokio_postgres::types::ToSql + Sync),
        verb: &str,
        check: &impl Fn(&KeyRecord) -> Result<Option<String>, CliError>,
    ) -> Result<Option<(KeyRecord, KeyRecord)>, CliError> {
        let err = self.err();
        let mut client = self.client.lock().await;
        let tx = client.transaction().await.map_err(&err)?;
        lock_writes(&tx).await.map_err(&err)?;
        let before = self
            .read_key(&tx, name)
            .await?
            .ok_or_else(|| self.no_such_key(name))?;
        let Some(detail) = check(&before)? else {
            return Ok(None);
        };
        tx.execute(update, &[&name, value]).await.map_err(&err)?;
        append(&tx, verb, name, &detail).await.map_err(&err)?;
        let after = self
            .read_key(&tx, name)
            .await?
            .ok_or_else(|| self.no_such_key(name))?;
        tx.commit().await.map_err(&err)?;
        Ok(Some((before, after)))
    }

    /// In a write transaction: the store's root is `root_id`, or none is recorded.
    async fn check_root(&self, tx: &Transaction<'_>, root_id: &str) -> Result<(), CliError> {
        let current = tx
            .query_opt("SELECT value FROM meta WHERE key = 'root_id'", &[])
            .await
            .map_err(self.err())?;
        match current.map(|r| r.get::<_, String>(0)) {
            Some(c) if c != root_id => Err(CliError::failure(format!(
                "the root key of the store {} is {c}, not this one ({root_id}); nothing was \
                 changed",
                self.location
            ))
            .hint("every machine that shares the store needs the same root.key")),
            _ => Ok(()),
        }
    }

    /// The error for a key that is not in this store.
    pub fn no_such_key(&self, name: &str) -> CliError {
        no_such_key(&self.location, name)
    }
}

/// Support for tests against a PostgreSQL server (`COFFER_TEST_PG`, `PGPASSWORD`): the
/// project's test script starts one. Not part of the API.
#[doc(hidden)]
pub mod testing {
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// The test server's admin URL; `None` (skip) when there is none, except under
    /// `CI=true`, where that is a failure.
    ///
    /// # Panics
    /// No server under `CI=true`.
    pub fn admin_url() -> Option<String> {
        match std::env::var("COFFER_TEST_PG") {
            Ok(url) if !url.is_empty() => Some(url),
            _ => {
                assert!(
                    std::env::var("CI").as_deref() != Ok("true"),
                    "COFFER_TEST_PG is not set: CI runs the PostgreSQL tests (scripts/test.sh \
                     starts a server)"
                );
                eprintln!("skipped: no COFFER_TEST_PG (scripts/test.sh starts a server)");
                None
            }
        }
    }

    /// Runs `sql` on the database at `url` (password from `PGPASSWORD`), on the caller's
    /// tokio runtime.
    ///
    /// # Errors
    /// Connection and SQL errors.
    pub async fn run_sql(url: &str, sql: &str) -> Result<(), tokio_postgres::Error> {
        let mut config: tokio_postgres::Config = url.parse()?;
        if let Some(p) = std::env::var_os("PGPASSWORD") {
            config.password(p.to_string_lossy().as_bytes());
        }
        let (client, conn) = config.connect(tokio_postgres::NoTls).await?;
        let task = tokio::spawn(conn);
        let result = client.batch_execute(sql).await;
        drop(client);
        let _ = task.await;
        result
    }

    /// Creates a new, empty database next to the one `admin` names; returns its URL.
    ///
    /// # Errors
    /// Connection and SQL errors.
    pub async fn fresh_database(
        admin: &str,
        prefix: &str,
    ) -> Result<String, tokio_postgres::Error> {
        static N: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "{prefix}_{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        run_sql(admin, &format!("CREATE DATABASE {name}")).await?;
        let base = admin.rsplit_once('/').map_or(admin, |(b, _)| b);
        Ok(format!("{base}/{name}"))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use std::sync::OnceLock;

    use super::*;
    use crate::params::conformance::{self, Open};

    /// One runtime for every connection of these tests: it drives them on its threads
    /// while the cases run on theirs.
    fn runtime() -> &'static tokio::runtime::Runtime {
        static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
        RT.get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap()
        })
    }

    fn fresh(admin: &str) -> Open {
        let url = runtime()
            .block_on(testing::fresh_database(admin, "conf"))
            .unwrap();
        Box::new(move || {
            let store: Arc<dyn ParamStore> =
                Arc::new(runtime().block_on(PgStore::connect(&url)).unwrap());
            store
        })
    }

    #[test]
    fn conformance_suite_on_postgres() {
        let Some(admin) = testing::admin_url() else {
            return;
        };
        conformance::run_all(&|| fresh(&admin));
    }

    #[test]
    fn concurrent_first_connections_create_the_schema_once() {
        let Some(admin) = testing::admin_url() else {
            return;
        };
        let url = runtime()
            .block_on(testing::fresh_database(&admin, "mig"))
            .unwrap();
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let url = url.clone();
                std::thread::spawn(move || runtime().block_on(PgStore::connect(&url)).unwrap())
            })
            .collect();
        let stores: Vec<PgStore> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let schema = runtime().block_on(stores[0].meta("schema")).unwrap();
        assert_eq!(schema, Some(PG_SCHEMA_VERSION.to_string()));
    }

    /// A client whose clock runs a day ahead cannot take a lease that is still running by
    /// the server's clock.
    #[test]
    fn leases_follow_the_server_clock() {
        let Some(admin) = testing::admin_url() else {
            return;
        };
        let open = fresh(&admin);
        let store = open();
        let name = ParamName::parse("/clock/pw").unwrap();
        let new = NewVersion {
            name: name.clone(),
            version: 1,
            expect: crate::params::Expect::New,
            param_type: crate::params::ParamType::String,
            value: crate::params::StoredValue::Clear(crate::params::SecretValue::new(
                Zeroizing::new("v".to_owned()),
            )),
            description: None,
            tags: std::collections::BTreeMap::new(),
            labels: Vec::new(),
            created_at: 0,
            expires_at: None,
            author: "t".into(),
            key_ref: None,
        };
        runtime().block_on(store.put(new)).unwrap();
        let now = crate::time::now_unix();
        let claim = |holder: &str, now: i64| {
            runtime()
                .block_on(store.claim_rotation(&name, holder, now, now + 600, false, None, 60))
                .unwrap()
        };
        assert!(matches!(claim("a:1:x", now), Claim::Claimed(None)));
        let ahead = now + 86_400;
        assert!(
            matches!(claim("b:2:y", ahead), Claim::Held { ref holder, .. } if holder == "a:1:x"),
            "a client a day ahead took a running lease"
        );
    }

    #[test]
    fn connecting_outside_a_runtime_is_an_error_not_a_panic() {
        let e = futures::executor::block_on(PgStore::connect("postgres://nobody@127.0.0.1:1/none"))
            .unwrap_err();
        assert!(e.to_string().contains("tokio runtime"), "{e}");
    }

    #[test]
    fn locations_never_hold_the_password() {
        let c: tokio_postgres::Config = "postgres://u:pw-secret@db.example:6543/app"
            .parse()
            .unwrap();
        assert_eq!(redacted(&c), "postgres://u@db.example:6543/app");
    }
}
