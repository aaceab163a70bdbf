//! Test-vector tooling for coffer: runs ESDK decrypt manifests against
//! coffer-core and writes coffer's own encrypt matrix as an ESDK decrypt
//! manifest that any ESDK can run.

pub mod builtin;
pub mod error;
pub mod generate;
pub mod keys;
pub mod manifest;
pub mod run;

pub use error::{Error, Result};
