//! [`PgStore`]: the store in a PostgreSQL database (`--store postgres://…`), for several
//! machines that share parameters and keys.
//!
//! The tables are those of the SQLite store (see [`crate::store`]) in PostgreSQL's types:
//! `keys`, `key_versions` (branch key versions, wrapped under the root key that every
//! sharing machine holds in its `COFFER_HOME/root.key`), `params`, `param_versions`,
//! `param_labels`, `audit` and `meta`. Names use the `"C"` collation, so that they sort and
//! compare byte by byte as in SQLite (the range `/a/b/` < name < `/a/b0` depends on it).
//!
//! Row-level security confines a login made by [`PgStore::create_role`] to the parameters at
//! or below its paths (module `roles`); the chain checks read `audit_chain` (sequence numbers
//! and hashes only), which every login sees whole.
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

use tokio::sync::Mutex;
use tokio_postgres::config::SslMode;
use tokio_postgres::{Client, NoTls};
use zeroize::Zeroizing;

use self::audit::{append_many, create_key, entries, head, tip};
use self::tx::{SqlCode, pg_error, retrying, snapshot};
use crate::error::{Advice, Error};
use crate::store::audit::{AuditEntry, AuditKey, AuditTip, Head};
use crate::store::audit_signer::AuditSigner;
use crate::store::rows::damaged;

mod audit;
mod key_paths;
mod key_rows;
mod keys;
mod param_reads;
mod param_rows;
mod params;
mod policies;
pub mod roles;
mod rotation;
mod schema;
mod tx;

use self::schema::MIGRATIONS;

/// The schema this build writes.
pub const PG_SCHEMA_VERSION: u32 = 9;

/// Serializes migrations of one database across processes (`pg_advisory_xact_lock`).
const MIGRATION_LOCK: i64 = 0x636f_6666_6572; // "coffer"

/// How long a connection attempt may take when the URL does not say.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A PostgreSQL store (see the module docs), shared by every machine that holds its root
/// key.
///
/// ```no_run
/// # async fn run() -> Result<(), coffer::error::Error> {
/// use coffer::client::Secrets;
///
/// // On the caller's tokio runtime; the password from the URL or PGPASSWORD.
/// let secrets = Secrets::connect("postgres://app@db.internal/coffer?sslmode=require", "/etc/coffer")
///     .await?;
/// let token = secrets.get("/app/api-token").await?;
/// # let _ = token;
/// # Ok(()) }
/// ```
pub struct PgStore {
    client: Mutex<Client>,
    location: String,
    /// The key lookup, prepared once per connection: it runs once per value decrypted.
    version_row: tokio::sync::OnceCell<tokio_postgres::Statement>,
    /// What signs this handle's audit entries, once a holder of the root key opened it.
    signer: std::sync::OnceLock<Arc<AuditSigner>>,
    /// The last tip read (for the entry asked for), so that opening the keys right after the
    /// home's check reads it once: a round trip less on every command that does both.
    last_tip: std::sync::Mutex<Option<(Option<i64>, AuditTip)>>,
    /// `meta.root_id`, as the tip read it.
    root_id: std::sync::OnceLock<String>,
    /// The keys of the parameter rows' MACs, as [`crate::params::Params`] last gave them.
    row_keys: crate::params::row_keys::RowKeySlot,
    /// The `K_paths` of the keys with roots of their own that this handle's home unwrapped
    /// ([`crate::store::key_row_key`]).
    paths_keys: crate::store::key_row_key::GivenPathsKeys,
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
fn tls_connector(location: &str) -> Result<tokio_postgres_rustls::MakeRustlsConnect, Error> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject as _;
    let mut roots = rustls::RootCertStore::empty();
    match std::env::var_os("PGSSLROOTCERT").filter(|p| !p.is_empty()) {
        Some(path) => {
            let path = std::path::PathBuf::from(path);
            let bad = |e: &dyn fmt::Display| {
                Error::invalid(format!(
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
        return Err(Error::invalid(format!(
            "store {location}: sslmode=require, and there is no root certificate to check the \
             server's against"
        ))
        .advice(Advice::PgSslRootCert));
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::backend(format!("TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

/// A row value that does not fit its type here.
fn int<T: TryFrom<i64>>(location: &str, v: i64, what: &str) -> Result<T, Error> {
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
    pub async fn connect(url: &str) -> Result<Self, Error> {
        // libpq's verify modes: the driver knows only `require`, which is verified in full
        // here anyway.
        let url = Zeroizing::new(
            url.replace("sslmode=verify-full", "sslmode=require")
                .replace("sslmode=verify-ca", "sslmode=require"),
        );
        let mut config: tokio_postgres::Config =
            url.parse().map_err(|e: tokio_postgres::Error| {
                Error::invalid("store URL: a bad PostgreSQL URL")
                    .caused_by(e.to_string())
                    .advice(Advice::PostgresUrlForm)
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
            Error::backend(format!(
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
    ) -> Result<Self, Error> {
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
            signer: std::sync::OnceLock::new(),
            last_tip: std::sync::Mutex::new(None),
            root_id: std::sync::OnceLock::new(),
            row_keys: crate::params::row_keys::RowKeySlot::default(),
            paths_keys: crate::store::key_row_key::GivenPathsKeys::default(),
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

    fn err(&self) -> impl Fn(tokio_postgres::Error) -> Error + '_ {
        |e| pg_error(&self.location, &e)
    }

    fn perr(&self) -> impl Fn(tokio_postgres::Error) -> Error + '_ {
        |e| pg_error(&self.location, &e)
    }

    async fn migrate(&self) -> Result<(), Error> {
        let err = self.err();
        let mut client = self.client.lock().await;
        // The common case in one round trip: the schema is there and current. (A database
        // without the `meta` table fails this query, and the transaction below creates it.)
        if let Ok(Some(row)) = client
            .query_opt("SELECT value FROM meta WHERE key = 'schema'", &[])
            .await
        {
            if row.try_get::<_, String>(0).ok() == Some(PG_SCHEMA_VERSION.to_string()) {
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
                let v: String = row.try_get(0).map_err(&err)?;
                v.parse()
                    .map_err(|_| damaged(&self.location, format!("schema version `{v}`")))?
            }
            None => 0,
        };
        if version > PG_SCHEMA_VERSION {
            return Err(Error::backend(format!(
                "store {} has schema version {version}; this coffer knows up to \
                 {PG_SCHEMA_VERSION}",
                self.location
            ))
            .advice(Advice::NewerVersion));
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
    pub async fn meta(&self, key: &str) -> Result<Option<String>, Error> {
        self.retry("read", move || async move {
            let client = self.client.lock().await;
            let row = client
                .query_opt("SELECT value FROM meta WHERE key = $1", &[&key])
                .await
                .map_err(self.err())?;
            row.map(|r| r.try_get(0)).transpose().map_err(self.err())
        })
        .await
    }

    /// Every audit entry, oldest first.
    ///
    /// # Errors
    /// SQL errors.
    pub async fn audit_entries(&self) -> Result<Vec<AuditEntry>, Error> {
        self.retry("read the audit log", move || async move {
            let client = self.client.lock().await;
            entries(&*client, &self.location).await
        })
        .await
    }

    /// Every entry and the head (one snapshot).
    ///
    /// # Errors
    /// SQL errors.
    pub async fn audit_log(&self) -> Result<(Vec<AuditEntry>, Head), Error> {
        self.retry("read the audit log", move || async move {
            let err = self.err();
            let mut client = self.client.lock().await;
            let tx = snapshot(&mut client).await.map_err(&err)?;
            let list = entries(&tx, &self.location).await?;
            let head = head(&tx, false).await.map_err(&err)?;
            tx.commit().await.map_err(&err)?;
            Ok((list, head))
        })
        .await
    }

    /// The audit state for a home's checks (one snapshot).
    ///
    /// # Errors
    /// SQL errors.
    pub async fn audit_tip(&self, seen: Option<i64>) -> Result<AuditTip, Error> {
        let t = self
            .retry("read the audit log", move || async move {
                let client = self.client.lock().await;
                tip(&*client, seen).await.map_err(self.err())
            })
            .await?;
        let (t, root_id) = t;
        if let Some(id) = root_id {
            // Recorded once and never changed on this backend: a round trip less on opening.
            let _ = self.root_id.set(id);
        }
        *self
            .last_tip
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some((seen, t.clone()));
        Ok(t)
    }

    /// The tip [`PgStore::audit_tip`] read last, if it was for the entry `seen` (taken: a
    /// second call reads again); else a fresh one.
    ///
    /// # Errors
    /// SQL errors.
    pub async fn audit_tip_recent(&self, seen: Option<i64>) -> Result<AuditTip, Error> {
        let cached = self
            .last_tip
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        match cached {
            Some((s, t)) if s == seen => Ok(t),
            _ => self.audit_tip(seen).await,
        }
    }

    /// See [`crate::store::KeyTable::create_audit_key`].
    ///
    /// # Errors
    /// SQL errors.
    pub async fn create_audit_key(
        &self,
        store_id: &str,
        wrapped: &[u8],
        key: &Arc<AuditKey>,
        history: &crate::store::key_seal::History,
    ) -> Result<bool, Error> {
        self.retry("key the audit log", move || async move {
            let err = self.err();
            let mut client = self.client.lock().await;
            let tx = client.transaction().await.map_err(&err)?;
            let made = create_key(&tx, store_id, wrapped, key, &err).await?;
            if made {
                let signer = Arc::new(AuditSigner::new(key.clone(), None, (0, Vec::new())));
                let _ = self.seal_all(&tx, &signer, history).await?;
                let _ = self.seal_params(&tx, &signer, true).await?;
            }
            tx.commit().await.map_err(&err)?;
            Ok(made)
        })
        .await
    }

    /// What signs this handle's audit entries (see [`crate::store::Store::set_audit_signer`]).
    ///
    /// # Errors
    /// The keys were not opened: the write is refused.
    pub(crate) fn signer(&self) -> Result<Arc<AuditSigner>, Error> {
        self.signer
            .get()
            .cloned()
            .ok_or_else(|| crate::store::audit::no_audit_key(&self.location))
    }

    /// Signs this handle's audit entries with `signer` (the first one given stays).
    pub fn set_audit_signer(&self, signer: Arc<AuditSigner>) {
        let _ = self.signer.set(signer);
    }

    /// Appends one entry per `(verb, name, detail)` in one transaction (two statements and
    /// the commit under the write lock: see `audit.rs`).
    ///
    /// # Errors
    /// SQL errors.
    pub async fn audit_many(&self, list: &[(&str, &str, String)]) -> Result<(), Error> {
        if list.is_empty() {
            return Ok(());
        }
        let signer = self.signer()?;
        let signer = &signer;
        self.retry("append to the audit log", move || async move {
            let err = self.err();
            let mut client = self.client.lock().await;
            let tx = client.transaction().await.map_err(&err)?;
            let pending = append_many(&tx, signer.clone(), list, &err).await?;
            tx.commit().await.map_err(&err)?;
            pending.committed();
            Ok(())
        })
        .await
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

    /// Runs `sql` on the database at `url` as the login the URL names, with `password`: the
    /// first column of every row, as text (`NULL` as `None`).
    ///
    /// # Errors
    /// Connection and SQL errors.
    pub async fn query_as(
        url: &str,
        password: &str,
        sql: &str,
    ) -> Result<Vec<Option<String>>, tokio_postgres::Error> {
        let mut config: tokio_postgres::Config = url.parse()?;
        config.password(password.as_bytes());
        let (client, conn) = config.connect(tokio_postgres::NoTls).await?;
        let task = tokio::spawn(conn);
        let result = client.simple_query(sql).await;
        drop(client);
        let _ = task.await;
        Ok(result?
            .into_iter()
            .filter_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(r) => Some(r.get(0).map(str::to_owned)),
                _ => None,
            })
            .collect())
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
    use crate::params::{Claim, NewVersion, ParamName, ParamStore};

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
            let pg = runtime().block_on(PgStore::connect(&url)).unwrap();
            runtime().block_on(crate::store::audit_key::attach_for_tests(&pg));
            let store: Arc<dyn ParamStore> = Arc::new(pg);
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

    /// As on SQLite
    /// (`store::tests::audit_head::a_head_changed_after_the_open_is_refused_not_signed`): a
    /// head changed after the open is refused inside the append's transaction.
    #[test]
    fn a_head_changed_after_the_open_is_refused_not_signed() {
        let Some(admin) = testing::admin_url() else {
            return;
        };
        let url = runtime()
            .block_on(testing::fresh_database(&admin, "head"))
            .unwrap();
        let pg = runtime().block_on(PgStore::connect(&url)).unwrap();
        runtime().block_on(crate::store::audit_key::attach_for_tests(&pg));
        let one = [("test", "/x", String::new())];
        runtime().block_on(pg.audit_many(&one)).unwrap();
        let keys = crate::store::audit::HEAD_KEYS;
        let saved: Vec<String> = keys
            .iter()
            .map(|k| runtime().block_on(pg.meta(k)).unwrap().unwrap())
            .collect();
        let put_back = keys
            .iter()
            .zip(&saved)
            .map(|(k, v)| format!("UPDATE meta SET value = '{v}' WHERE key = '{k}';"))
            .collect::<String>();
        // An older head with a good MAC, put back: this process saw a later entry.
        runtime().block_on(pg.audit_many(&one)).unwrap();
        runtime()
            .block_on(testing::run_sql(
                &url,
                &format!("DELETE FROM audit WHERE seq = 2; {put_back}"),
            ))
            .unwrap();
        let e = runtime().block_on(pg.audit_many(&one)).unwrap_err();
        assert!(e.to_string().contains("it was rolled back"), "{e}");
        for tamper in [
            "UPDATE meta SET value = ((SELECT count(*) FROM audit) + 1)::text
             WHERE key = 'audit_keyed_from'",
            "UPDATE meta SET value = '9223372036854775807' WHERE key = 'audit_count'",
            "DELETE FROM audit WHERE seq = (SELECT max(seq) FROM audit)",
        ] {
            runtime().block_on(testing::run_sql(&url, tamper)).unwrap();
            let e = runtime().block_on(pg.audit_many(&one)).unwrap_err();
            assert!(
                e.to_string().contains("changed outside coffer"),
                "{tamper}: {e}"
            );
            let (entries, _) = runtime().block_on(pg.audit_log()).unwrap();
            assert!(entries.len() <= 1, "{tamper}: nothing was appended");
            // Each case on its own: the head as it was.
            runtime()
                .block_on(testing::run_sql(&url, &put_back))
                .unwrap();
        }
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
        // No policies: every row under the store's key.
        store.use_row_keys(Arc::new(crate::params::RowKeys::new(
            crate::params::Policies::default(),
            &[],
            &[],
        )));
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
                .block_on(store.claim_rotation(crate::params::LeaseRequest {
                    name: &name,
                    holder,
                    now,
                    until: now + 600,
                    due_only: false,
                    steal_from: None,
                    hook_timeout_secs: 60,
                }))
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
