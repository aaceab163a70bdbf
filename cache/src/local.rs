//! [`LocalCache`]: the local cryptographic materials cache, a bounded, thread-safe LRU map from
//! cache identifiers to materials (or unwrapped branch keys), each with an expiry and, for
//! encryption materials, what it has been used for.

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::clock::{Clock, SystemClock};
use crate::ttl::{Lookup, TtlCache};
use coffer_core::keyring::BranchKey;
use coffer_core::materials::{DecryptionMaterials, EncryptionMaterials};

/// A cache identifier: a SHA-384 hash (see [`crate::ids`]).
pub type CacheId = [u8; 48];

/// Entries a cache holds when no capacity is given (as the ESDK's local cache).
pub const DEFAULT_CAPACITY: NonZeroUsize = match NonZeroUsize::new(1000) {
    Some(n) => n,
    None => panic!("1000 is not zero"),
};

/// What a cache entry holds.
#[derive(Debug, Clone)]
pub enum Cached {
    /// Materials to encrypt with (a data key shared by several messages).
    Encrypt(EncryptionMaterials),
    /// Materials to decrypt with.
    Decrypt(DecryptionMaterials),
    /// An unwrapped branch key version (hierarchical keyring).
    BranchKey(BranchKey),
}

/// How much a data key may be used, or has been.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// Messages.
    pub messages: u64,
    /// Plaintext bytes.
    pub bytes: u64,
}

struct Entry {
    value: Cached,
    used: Usage,
}

/// Counters of a cache, since it was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Lookups that found nothing usable (absent, expired, or used up).
    pub misses: u64,
    /// Entries dropped because they expired or reached a usage limit.
    pub expired: u64,
    /// Entries dropped to make room (least recently used first).
    pub evicted: u64,
}

/// A bounded, thread-safe LRU cache of materials (see the module docs), on a [`TtlCache`].
/// Every operation takes one lock, so checking an entry's limits and charging its use is one
/// step: two threads never both take the last message an entry allows.
pub struct LocalCache {
    entries: TtlCache<CacheId, Entry>,
    hits: AtomicU64,
    misses: AtomicU64,
    expired: AtomicU64,
    evicted: AtomicU64,
}

impl std::fmt::Debug for LocalCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalCache")
            .field("len", &self.len())
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl Default for LocalCache {
    fn default() -> Self {
        Self::new(DEFAULT_CAPACITY)
    }
}

impl LocalCache {
    /// A cache of at most `capacity` entries, on the system clock.
    #[must_use]
    pub fn new(capacity: NonZeroUsize) -> Self {
        Self::with_clock(capacity, Arc::new(SystemClock::default()))
    }

    /// A cache of at most `capacity` entries, on `clock`.
    #[must_use]
    pub fn with_clock(capacity: NonZeroUsize, clock: Arc<dyn Clock>) -> Self {
        Self {
            entries: TtlCache::with_clock(capacity, clock),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            expired: AtomicU64::new(0),
            evicted: AtomicU64::new(0),
        }
    }

    /// The cache's clock.
    #[must_use]
    pub fn clock(&self) -> &Arc<dyn Clock> {
        self.entries.clock()
    }

    /// Stores `value` under `id` for `ttl`, already used for `used` (replacing any entry of
    /// that id; the least recently used entry makes room if the cache is full).
    pub fn put(&self, id: CacheId, value: Cached, ttl: Duration, used: Usage) {
        if self.entries.insert(id, Entry { value, used }, ttl) {
            self.evicted.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Encryption materials under `id` for one more message of `bytes` plaintext bytes, if
    /// the entry is live and that message keeps it within `limits` (its use is charged
    /// then). An expired entry, or one the message would take past a limit, is dropped.
    #[must_use]
    pub fn take_encryption(
        &self,
        id: &CacheId,
        bytes: u64,
        limits: Usage,
    ) -> Option<EncryptionMaterials> {
        self.count(self.entries.lookup(id, |e| {
            let Entry {
                value: Cached::Encrypt(m),
                used,
            } = e
            else {
                return None;
            };
            let messages = used.messages.checked_add(1)?;
            let total = used.bytes.checked_add(bytes)?;
            if messages > limits.messages || total > limits.bytes {
                return None;
            }
            *used = Usage {
                messages,
                bytes: total,
            };
            Some(m.clone())
        }))
    }

    /// Decryption materials under `id`, if live.
    #[must_use]
    pub fn get_decryption(&self, id: &CacheId) -> Option<DecryptionMaterials> {
        self.get(id, |v| match v {
            Cached::Decrypt(m) => Some(m.clone()),
            _ => None,
        })
    }

    /// A branch key under `id`, if live.
    #[must_use]
    pub fn get_branch_key(&self, id: &CacheId) -> Option<BranchKey> {
        self.get(id, |v| match v {
            Cached::BranchKey(k) => Some(k.clone()),
            _ => None,
        })
    }

    /// What `pick` takes from the live entry under `id`; an entry of another kind (which the
    /// identifiers of [`crate::ids`] never give) is dropped as an expired one is.
    fn get<T>(&self, id: &CacheId, pick: impl FnOnce(&Cached) -> Option<T>) -> Option<T> {
        self.count(self.entries.lookup(id, |e| pick(&e.value)))
    }

    /// Counts a lookup as a hit, or a miss (and a drop).
    fn count<T>(&self, found: Lookup<T>) -> Option<T> {
        let counter = match &found {
            Lookup::Hit(_) => &self.hits,
            Lookup::Dropped => {
                self.expired.fetch_add(1, Ordering::Relaxed);
                &self.misses
            }
            Lookup::Absent => &self.misses,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found.hit()
    }

    /// Drops the entry under `id`, if any.
    pub fn remove(&self, id: &CacheId) {
        self.entries.remove(id);
    }

    /// Drops every entry.
    pub fn clear(&self) {
        self.entries.clear();
    }

    /// Entries held (live or not yet found expired).
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the cache holds no entry.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The counters.
    #[must_use]
    pub fn stats(&self) -> Stats {
        Stats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            expired: self.expired.load(Ordering::Relaxed),
            evicted: self.evicted.load(Ordering::Relaxed),
        }
    }
}
