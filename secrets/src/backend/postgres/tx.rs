//! Transactions on a PostgreSQL store: the one order in which every transaction takes its
//! locks, and the retries of attempts that the server undid for lock or start-up reasons.
//!
//! # Lock order
//!
//! The store's write lock is the `audit_count` row of `meta`, locked `FOR UPDATE` by the first
//! statement of every transaction that writes ([`lock_writes`], or [`super::audit_log`]'s
//! append, which locks `audit_count` and then `audit_head` in one statement, in that order).
//! A writer waits for nothing while it holds another row lock, and holds the write lock for
//! every other row lock it takes, so coffer's transactions never wait on each other in a
//! cycle. They serialize there, as they do on SQLite's write lock: the checks a write makes
//! (the latest version, the active key version) hold until it commits, and audit entries are
//! numbered without gaps.
//!
//! | transaction | locks, in order |
//! |---|---|
//! | `put`, `label`, `unlabel`, `rm`, `restore`, `destroy`, `rotate`'s promotion, a rotation plan, a lease claim | write lock; the rows written in `params`, `param_versions`, `param_labels`, `param_rotations` (with the key-share locks of their foreign keys); `audit_head` (the append) |
//! | `key create`, `key rotate`, `enable`, `disable`, `retire`, a rotation period | write lock; the `keys` and `key_versions` rows; `audit_head` |
//! | recording reads of secure values (`get`, `exec`, `export`) | write lock and `audit_head` (one statement); the entries: one `INSERT … unnest` and the head's update, in one statement |
//! | recording the store's root key (first use) | write lock; the `root_id` row |
//! | a lease release; recording the running hook or the sealed settings of a rotation run | its `param_rotations` row only: one statement, which holds nothing else while it waits |
//! | creating or migrating the schema | `pg_advisory_xact_lock(MIGRATION_LOCK)`, then DDL and new `meta` rows (no writer takes the advisory lock; none runs before the schema is current) |
//! | reads | no row locks: one statement, or one `REPEATABLE READ READ ONLY` snapshot ([`snapshot`]) |
//!
//! (Before this order held, the append that records secure reads locked `audit_count` and
//! `audit_head` in one statement without the write lock first, in the order the heap returned
//! them; updates move rows between pages, so two appends could lock them in opposite orders
//! and deadlock: one `exec` in two failed so when a hundred ran at once.)
//!
//! # Retries
//!
//! Whatever the order, a session outside coffer (or a DBA's `lock_timeout`) can still make an
//! attempt fail in a way that the server undoes completely: a deadlock (SQLSTATE `40P01`), a
//! serialization failure (`40001`, under `default_transaction_isolation = serializable`), a
//! lock timeout (`55P03`). A login can be refused while the server starts or recovers
//! (`57P03`) or has no connection slot free (`53300`, `max_connections` or the role's
//! `CONNECTION LIMIT`). [`retrying`] runs such an attempt again from the start (from `BEGIN`,
//! or from the login), at most [`ATTEMPTS`] times in all, after a delay that doubles from
//! 10 ms up to 2 s, half of it random (jitter: processes that failed together do not retry
//! together): 4 to 9 s of waiting in all. Any other error, and the last one, is returned.
//! A connection refused outright (no server) is not retried: that is an error to report now.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use tokio_postgres::error::{DbError, SqlState};
use tokio_postgres::{Client, IsolationLevel, Transaction};

use crate::error::{Advice, Error};

/// How many times an attempt runs at most.
pub const ATTEMPTS: u32 = 12;

/// The first delay between attempts (before jitter); each next one doubles, up to [`MAX_DELAY`].
const FIRST_DELAY: Duration = Duration::from_millis(10);

/// The longest delay between attempts.
const MAX_DELAY: Duration = Duration::from_secs(2);

/// An error the server reported, with its SQLSTATE (the cause of the store's [`Error`]).
#[derive(Debug)]
pub struct ServerError {
    code: SqlState,
    text: String,
}

impl ServerError {
    /// The server's error as the store reports it: `SEVERITY: message`.
    pub fn new(db: &DbError) -> Self {
        Self {
            code: db.code().clone(),
            text: format!("{}: {}", db.severity(), db.message()),
        }
    }

    /// Its SQLSTATE.
    pub fn code(&self) -> &SqlState {
        &self.code
    }
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::error::Error for ServerError {}

/// Whether an attempt that failed with `code` may be run again as it was: the server undid
/// all of it, and the cause passes (see the module docs).
pub fn transient(code: &SqlState) -> bool {
    [
        SqlState::T_R_DEADLOCK_DETECTED,
        SqlState::T_R_SERIALIZATION_FAILURE,
        SqlState::LOCK_NOT_AVAILABLE,
        SqlState::CANNOT_CONNECT_NOW,
        SqlState::TOO_MANY_CONNECTIONS,
    ]
    .contains(code)
}

/// An error that may carry a server's SQLSTATE.
pub trait SqlCode {
    /// The SQLSTATE of the server error inside, if any.
    fn sql_code(&self) -> Option<&SqlState>;
}

impl SqlCode for Error {
    fn sql_code(&self) -> Option<&SqlState> {
        std::error::Error::source(self)?
            .downcast_ref::<ServerError>()
            .map(ServerError::code)
    }
}

/// The delays between attempts: exponential, capped, with jitter (see the module docs).
#[derive(Debug)]
pub struct Backoff {
    first: Duration,
    max: Duration,
    attempts: u32,
    done: u32,
}

impl Default for Backoff {
    /// The store's: [`ATTEMPTS`] attempts, 10 ms doubling up to 2 s.
    fn default() -> Self {
        Self::with(FIRST_DELAY, MAX_DELAY, ATTEMPTS)
    }
}

impl Backoff {
    /// `attempts` attempts in all, the delays doubling from `first` up to `max`.
    pub fn with(first: Duration, max: Duration, attempts: u32) -> Self {
        Self {
            first,
            max,
            attempts,
            done: 1,
        }
    }

    /// The delay before the next attempt; `None` when every attempt has been made.
    pub fn next_delay(&mut self) -> Option<Duration> {
        if self.done >= self.attempts {
            return None;
        }
        let ceiling = self
            .first
            .saturating_mul(1 << (self.done - 1).min(20))
            .min(self.max);
        self.done += 1;
        let half = ceiling / 2;
        Some(half + random_up_to(ceiling - half))
    }
}

/// A random duration from zero to `max` (jitter needs no secret randomness, but the system's
/// generator is at hand; if it fails, no jitter).
fn random_up_to(max: Duration) -> Duration {
    let mut bytes = [0u8; 8];
    let r = coffer_core::fill_random(&mut bytes).map_or(0, |()| u64::from_le_bytes(bytes));
    let nanos = u64::try_from(max.as_nanos()).unwrap_or(u64::MAX);
    Duration::from_nanos(r.checked_rem(nanos.saturating_add(1)).unwrap_or(0))
}

/// Runs `attempt` until it succeeds, fails with an error that is not [`transient`], or has
/// run [`ATTEMPTS`] times; sleeps per [`Backoff`] between attempts (on the caller's tokio
/// runtime, which needs its timer enabled). `attempt` must start from scratch each time (its
/// own transaction, or its own connection).
pub async fn retrying<T, E, F, Fut>(location: &str, what: &str, attempt: F) -> Result<T, E>
where
    E: SqlCode,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    retrying_with(Backoff::default(), location, what, attempt).await
}

/// [`retrying`] with the delays of `backoff`.
pub async fn retrying_with<T, E, F, Fut>(
    mut backoff: Backoff,
    location: &str,
    what: &str,
    mut attempt: F,
) -> Result<T, E>
where
    E: SqlCode,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    loop {
        let e = match attempt().await {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        let Some(code) = e.sql_code().filter(|c| transient(c)) else {
            return Err(e);
        };
        let Some(delay) = backoff.next_delay() else {
            return Err(e);
        };
        tracing::debug!(
            store = location,
            sqlstate = code.code(),
            ?delay,
            "{what}: the server undid the attempt; trying again"
        );
        tokio::time::sleep(delay).await;
    }
}

/// Advice for a server error that is still there after the retries.
pub fn advice(code: &SqlState) -> Option<Advice> {
    if *code == SqlState::TOO_MANY_CONNECTIONS {
        Some(Advice::PgNoConnectionFree { attempts: ATTEMPTS })
    } else if *code == SqlState::CANNOT_CONNECT_NOW {
        Some(Advice::PgNotReady { attempts: ATTEMPTS })
    } else if transient(code) {
        Some(Advice::PgLocksHeld { attempts: ATTEMPTS })
    } else {
        None
    }
}

/// Takes the store's write lock in `tx` (see the module docs): the first statement of every
/// transaction that writes.
pub async fn lock_writes(tx: &Transaction<'_>) -> Result<(), tokio_postgres::Error> {
    tx.query_opt(
        "SELECT value FROM meta WHERE key = 'audit_count' FOR UPDATE",
        &[],
    )
    .await
    .map(drop)
}

/// A read-only `REPEATABLE READ` transaction: one snapshot for several statements.
pub async fn snapshot(client: &mut Client) -> Result<Transaction<'_>, tokio_postgres::Error> {
    client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
}

/// The library's error for a PostgreSQL error at `location`: a lock still held after the
/// retries is `Locked`; certificates and unreachable servers get their advice.
pub(super) fn pg_error(location: &str, e: &tokio_postgres::Error) -> Error {
    let base = Error::backend(format!("store {location}"));
    let chain = std::iter::successors(Some(e as &dyn std::error::Error), |e| e.source())
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ");
    if chain.contains("certificate") || chain.contains("InvalidCertificate") {
        return base.caused_by(chain).advice(Advice::PgCertificate);
    }
    if e.as_db_error().is_none() && e.to_string().contains("error connecting") {
        return base.caused_by(e.to_string()).advice(Advice::PgReachable);
    }
    match e.as_db_error() {
        // A missing grant, or row security: a login limited to some paths (`coffer role
        // create`) asked for another.
        Some(db) if *db.code() == SqlState::INSUFFICIENT_PRIVILEGE => {
            let e = Error::denied(format!(
                "store {location}: the database refused this login: {}",
                db.message()
            ));
            if db.message().contains("row-level security") {
                e.advice(Advice::PgLimitedLogin)
            } else {
                e
            }
        }
        Some(db) => {
            let base = match advice(db.code()) {
                // Locks held by other sessions, still after the retries.
                Some(a @ Advice::PgLocksHeld { .. }) => {
                    Error::locked(format!("store {location}")).advice(a)
                }
                Some(a) => base.advice(a),
                None => base,
            };
            base.caused_by(ServerError::new(db))
        }
        None => base.caused_by(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use std::cell::Cell;

    use super::*;

    fn server_error(code: SqlState) -> Error {
        Error::backend("store test").caused_by(ServerError {
            code,
            text: "ERROR: test".into(),
        })
    }

    fn run<T>(f: impl Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    }

    fn quick(attempts: u32) -> Backoff {
        Backoff::with(Duration::from_millis(1), Duration::from_millis(4), attempts)
    }

    #[test]
    fn the_delays_double_up_to_the_cap_with_jitter_and_end() {
        let mut b = Backoff::default();
        let delays: Vec<Duration> = std::iter::from_fn(|| b.next_delay()).collect();
        assert_eq!(delays.len(), usize::try_from(ATTEMPTS - 1).unwrap());
        let mut ceiling = FIRST_DELAY;
        for d in &delays {
            assert!(*d >= ceiling / 2 && *d <= ceiling, "{d:?} for {ceiling:?}");
            ceiling = (ceiling * 2).min(MAX_DELAY);
        }
        let total: Duration = delays.iter().sum();
        assert!(total <= Duration::from_millis(8550), "{total:?}");
        // Jitter: two runs do not wait alike.
        let mut a = Backoff::default();
        let mut b = Backoff::default();
        let a: Vec<_> = std::iter::from_fn(|| a.next_delay()).collect();
        let b: Vec<_> = std::iter::from_fn(|| b.next_delay()).collect();
        assert_ne!(a, b);
    }

    #[test]
    fn transient_errors_are_retried_until_the_attempt_succeeds() {
        for code in [
            SqlState::T_R_DEADLOCK_DETECTED,
            SqlState::T_R_SERIALIZATION_FAILURE,
            SqlState::LOCK_NOT_AVAILABLE,
            SqlState::CANNOT_CONNECT_NOW,
            SqlState::TOO_MANY_CONNECTIONS,
        ] {
            let calls = Cell::new(0);
            let r = run(retrying_with(quick(12), "test", "op", || {
                calls.set(calls.get() + 1);
                let code = code.clone();
                let n = calls.get();
                async move {
                    if n < 4 {
                        Err(server_error(code))
                    } else {
                        Ok(n)
                    }
                }
            }));
            assert_eq!(r.unwrap(), 4);
        }
    }

    #[test]
    fn other_errors_are_returned_at_once_and_retries_end() {
        let calls = Cell::new(0);
        let r: Result<(), _> = run(retrying_with(quick(12), "test", "op", || {
            calls.set(calls.get() + 1);
            async { Err(server_error(SqlState::UNIQUE_VIOLATION)) }
        }));
        assert_eq!(r.unwrap_err().sql_code(), Some(&SqlState::UNIQUE_VIOLATION));
        assert_eq!(calls.get(), 1);
        let calls = Cell::new(0);
        let r: Result<(), _> = run(retrying_with(quick(5), "test", "op", || {
            calls.set(calls.get() + 1);
            async { Err(server_error(SqlState::T_R_DEADLOCK_DETECTED)) }
        }));
        assert!(r.is_err());
        assert_eq!(calls.get(), 5);
        // An error without a SQLSTATE (the connection refused) is not retried.
        let calls = Cell::new(0);
        let r: Result<(), _> = run(retrying_with(quick(5), "test", "op", || {
            calls.set(calls.get() + 1);
            async { Err(Error::backend("store test: connection refused")) }
        }));
        assert!(r.is_err());
        assert_eq!(calls.get(), 1);
    }
}
