//! The databases a store lives in: the embedded SQLite store ([`sqlite`], always built) and
//! a shared PostgreSQL one (`postgres`, feature `postgres`). Each is split by what it
//! stores (parameters, keys, the audit log, its schema); the rules they apply to their rows
//! are the same ones, in [`crate::store`].

#[cfg(feature = "postgres")]
pub mod postgres;
pub mod sqlite;
