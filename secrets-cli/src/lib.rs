//! `coffer`: envelope encryption in the AWS Encryption SDK message format, and a secrets CLI.
//!
//! The binary (`main.rs`) parses the command line ([`cli`]), resolves it into
//! [`config::Settings`], runs the command ([`commands`]) on an executor and turns errors into
//! exit codes and `error:`/`hint:` lines ([`report`]). Tested helpers live here, not in
//! `main.rs`.

#![forbid(unsafe_code)]

pub mod cleanup;
pub mod cli;
pub mod client;
pub mod commands;
pub mod config;
pub mod dumps;
pub mod envmap;
pub mod error;
pub mod files;
pub mod hints;
pub mod home;
#[cfg(feature = "pkcs11")]
pub mod hsm;
pub mod interrupt;
pub mod io;
pub mod keyref;
pub mod keys;
#[cfg(feature = "kms")]
pub mod kms;
pub mod logging;
pub mod output;
pub mod params;
mod progress;
pub mod report;
pub mod rotate;
pub mod size;
pub mod smallfile;
pub mod store;
pub mod terminal;
pub mod time;
pub mod tree;
