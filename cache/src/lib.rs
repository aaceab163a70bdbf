//! `coffer-cache`: data-key caching for `coffer-core` (the caching materials manager and the
//! branch-key cache). The caching materials manager arrives with its own issue; this crate
//! holds the workspace slot so that the dependency graph is final from the start.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
