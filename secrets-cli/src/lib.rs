//! `coffer-cli`: the `coffer` command on top of the `coffer` library.
//!
//! The binary (`main.rs`) parses the command line ([`cli`]), resolves it into
//! [`config::Settings`], runs the command ([`commands`]) on an executor and turns errors into
//! exit codes and `error:`/`hint:` lines ([`report`], [`hints`]). Tested helpers live here,
//! not in `main.rs`.

#![forbid(unsafe_code)]

pub mod cli;
pub mod commands;
pub mod complete;
pub mod config;
pub mod envmap;
pub mod hints;
pub mod interrupt;
pub mod io;
pub mod logging;
pub mod output;
mod progress;
pub mod report;
pub mod size;
pub mod terminal;
pub mod tree;
