//! `coffer-cache`: data-key caching for `coffer-core`.
//!
//! - [`LocalCache`]: a bounded, thread-safe LRU cache of encryption and decryption materials
//!   and unwrapped branch keys, each entry with an expiry (on an injectable [`Clock`]) and,
//!   for a data key, its use so far, checked and charged under one lock.
//! - [`CachingCmm`]: the caching materials manager, reusing a data key within [`Limits`]
//!   (max age, max messages, max bytes), per partition, under the ESDK specification's cache
//!   identifiers ([`ids`]).
//! - [`CachingBranchKeyStore`]: unwrapped branch keys for the hierarchical keyring, for a
//!   time to live.
//!
//! - [`TtlCache`]: the bounded, expiring map under [`LocalCache`], for any key and value (the
//!   secrets client caches values in one).
//!
//! Nothing here blocks on I/O or starts a runtime: a miss awaits the wrapped manager or
//! store on the caller's executor.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod branch;
mod clock;
mod cmm;
mod error;
pub mod ids;
mod local;
mod ttl;

pub use branch::CachingBranchKeyStore;
pub use clock::{Clock, ManualClock, SystemClock};
pub use cmm::{CachingCmm, Limits};
pub use error::CacheError;
pub use local::{CacheId, Cached, DEFAULT_CAPACITY, LocalCache, Stats, Usage};
pub use ttl::{Lookup, TtlCache};
