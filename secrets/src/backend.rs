//! The databases a store lives in: the embedded SQLite store (`sqlite`, feature `sqlite`, on
//! by default) and a shared PostgreSQL one (`postgres`, feature `postgres`). Each is split by what it
//! stores (parameters, keys, the audit log, its schema); the rules they apply to their rows
//! are the same ones, in [`crate::store`].

#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "sqlite")]
pub mod sqlite;
