//! `coffer`: versioned secrets for services, on SQLite (embedded) or PostgreSQL (shared),
//! under a local key hierarchy, in the AWS Encryption SDK message format.
//!
//! The library behind the `coffer` command (crate `coffer-cli`), with no command line in it.
//! Nothing here prompts, prints, parses arguments or starts an async runtime: the caller
//! brings its executor (an SQLite store answers on any; PostgreSQL connections are driven by
//! tokio).
//!
//! # Quick start
//!
//! A service reads what `coffer put` wrote, through a client that caches for a while:
//!
//! ```no_run
//! use std::time::Duration;
//!
//! use coffer::client::{CachingClient, Secrets};
//! use coffer::error::Error;
//!
//! async fn settings() -> Result<(), Error> {
//!     // A COFFER_HOME directory or sqlite:///PATH/coffer.db; with the `postgres` feature,
//!     // Secrets::connect("postgres://…", home).await.
//!     let secrets = Secrets::open("/etc/coffer")?;
//!     let cache = CachingClient::new(secrets, Duration::from_secs(300));
//!     let password = cache.get("/app/db-password").await?;
//!     let _ = password.value.expose(); // wiped from memory when the last copy is dropped
//!     match cache.get("/app/feature-flags").await {
//!         Ok(flags) => println!("flags: version {}", flags.meta.version),
//!         Err(Error::NotFound(_)) => println!("no flags: the defaults"),
//!         Err(e) => return Err(e),
//!     }
//!     Ok(())
//! }
//! ```
//!
//! A store that several machines share is a PostgreSQL database (feature `postgres`): the
//! same reads, after `Secrets::connect("postgres://app@db.internal/coffer?sslmode=require",
//! "/etc/coffer").await?` on the service's tokio runtime (the root key is the one in that
//! `COFFER_HOME`; see the example on `backend::postgres::PgStore`).
//!
//! (`examples/service.rs` is a whole service, run against both stores by the test command.)
//!
//! # What is here
//!
//! | module | what |
//! |---|---|
//! | [`client`] | [`client::Secrets`] for services and its [`client::CachingClient`] |
//! | [`params`] | parameter names, labels, types and values; [`params::Params`], reads and writes over a store |
//! | [`store`] | what every store shares: row rules, key records, the audit chain, root keys ([`store::root`]), opening a store |
//! | [`backend`] | the stores themselves: SQLite (`sqlite`) and PostgreSQL (`postgres`), each split by what it stores |
//! | [`keys`] | the local key hierarchy: named keys, versions, rotation, the keyrings over them |
//! | [`rotate`] | secret rotation: staging, hooks under a supervisor ([`rotate::hook`]), leases, schedules |
//! | [`home`] | the `COFFER_HOME` directory and its files |
//! | [`keyref`] | key references (`name`, `kms:…`, `pkcs11:…`, `raw-aes:…`) and key files |
//! | [`files`] | files that appear whole or not at all |
//! | [`error`] | the one error type, [`error::Error`], and its [`error::Advice`] |
//!
//! # Features
//!
//! `sqlite` is on by default; at least one of `sqlite` and `postgres` is needed.
//!
//! | feature | adds |
//! |---|---|
//! | `sqlite` | SQLite stores (`COFFER_HOME/coffer.db`, `sqlite:///…`) and the local key store in them |
//! | `postgres` | PostgreSQL stores (`postgres://…`), TLS by rustls on AWS-LC |
//! | `kms` | AWS KMS keys and roots (`kms:…`) |
//! | `pkcs11` | PKCS#11 keys and roots (`pkcs11:…`, HSMs) |

#![forbid(unsafe_code)]
#![deny(missing_docs)]

#[cfg(not(any(feature = "sqlite", feature = "postgres")))]
compile_error!("coffer needs a store: enable its `sqlite` feature (the default) or `postgres`");

pub mod backend;
pub mod cleanup;
pub mod client;
pub mod dumps;
pub mod error;
pub mod files;
pub mod home;
#[cfg(feature = "pkcs11")]
pub mod hsm;
pub mod keyref;
pub mod keys;
#[cfg(feature = "kms")]
pub mod kms;
#[cfg(unix)]
pub mod memdir;
pub mod params;
pub mod rotate;
pub mod smallfile;
pub mod store;
pub mod time;
pub mod user;
