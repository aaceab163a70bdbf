//! [`TtlCache`]: a bounded, thread-safe map whose entries expire. The least recently used
//! entry makes room for a new one; an entry past its time to live is dropped when it is found.
//! The materials cache ([`crate::LocalCache`]) and the secrets client's cache are built on it.

use std::borrow::Borrow;
use std::fmt;
use std::hash::Hash;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use lru::LruCache;

use crate::clock::{Clock, SystemClock};

/// What [`TtlCache::lookup`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup<T> {
    /// A live entry, and what was taken from it.
    Hit(T),
    /// An entry that had expired, or could not serve the lookup: it was dropped.
    Dropped,
    /// No entry.
    Absent,
}

impl<T> Lookup<T> {
    /// What was taken from a live entry, if any.
    #[must_use]
    pub fn hit(self) -> Option<T> {
        match self {
            Self::Hit(t) => Some(t),
            Self::Dropped | Self::Absent => None,
        }
    }
}

struct Slot<V> {
    value: V,
    /// On the cache's clock.
    expires: Duration,
}

/// A bounded, thread-safe map whose entries expire (see the module docs). Every operation
/// takes one lock, so a lookup that checks an entry and changes it is one step.
///
/// ```
/// use std::num::NonZeroUsize;
/// use std::sync::Arc;
/// use std::time::Duration;
/// use coffer_cache::{ManualClock, TtlCache};
///
/// let clock = Arc::new(ManualClock::new());
/// let cache = TtlCache::with_clock(NonZeroUsize::MIN, clock.clone());
/// cache.insert("a", 1, Duration::from_secs(60));
/// assert_eq!(cache.get("a"), Some(1));
/// cache.insert("b", 2, Duration::from_secs(60)); // room for one: "a" goes
/// assert_eq!(cache.get("a"), None);
/// clock.advance(Duration::from_secs(60));
/// assert_eq!(cache.get("b"), None); // expired
/// ```
pub struct TtlCache<K: Hash + Eq, V> {
    entries: Mutex<LruCache<K, Slot<V>>>,
    clock: Arc<dyn Clock>,
}

impl<K: Hash + Eq, V> fmt::Debug for TtlCache<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TtlCache")
            .field("len", &self.len())
            .field("capacity", &self.capacity())
            .finish_non_exhaustive()
    }
}

impl<K: Hash + Eq, V> TtlCache<K, V> {
    /// A cache of at most `capacity` entries, on the system clock.
    #[must_use]
    pub fn new(capacity: NonZeroUsize) -> Self {
        Self::with_clock(capacity, Arc::new(SystemClock::default()))
    }

    /// A cache of at most `capacity` entries, on `clock`.
    #[must_use]
    pub fn with_clock(capacity: NonZeroUsize, clock: Arc<dyn Clock>) -> Self {
        Self {
            entries: Mutex::new(LruCache::new(capacity)),
            clock,
        }
    }

    fn lock(&self) -> MutexGuard<'_, LruCache<K, Slot<V>>> {
        // Entries are whole values: a panic elsewhere cannot leave one half-written.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The cache's clock.
    #[must_use]
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// How many entries it holds at most.
    #[must_use]
    pub fn capacity(&self) -> NonZeroUsize {
        self.lock().cap()
    }

    /// Stores `value` under `key` for `ttl`, replacing any entry of that key. Returns whether
    /// another entry (the least recently used) was dropped to make room.
    pub fn insert(&self, key: K, value: V, ttl: Duration) -> bool {
        let expires = self.clock.now().saturating_add(ttl);
        let mut entries = self.lock();
        let replaces = entries.contains(&key);
        let out = entries.push(key, Slot { value, expires });
        drop(entries);
        // Dropped outside the lock: a value may do work when dropped (wiping a secret).
        let evicted = out.is_some() && !replaces;
        drop(out);
        evicted
    }

    /// Looks `key` up: a live entry is marked used and `take` gets it; an expired entry, or
    /// one for which `take` returns `None`, is dropped.
    pub fn lookup<Q, T>(&self, key: &Q, take: impl FnOnce(&mut V) -> Option<T>) -> Lookup<T>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let now = self.clock.now();
        let mut entries = self.lock();
        let taken = match entries.get_mut(key) {
            None => return Lookup::Absent,
            Some(slot) if slot.expires > now => take(&mut slot.value),
            Some(_) => None,
        };
        match taken {
            Some(t) => Lookup::Hit(t),
            None => {
                let out = entries.pop(key);
                drop(entries);
                drop(out);
                Lookup::Dropped
            }
        }
    }

    /// A copy of the live value under `key` (an expired one is dropped).
    pub fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
        V: Clone,
    {
        self.lookup(key, |v| Some(v.clone())).hit()
    }

    /// Drops the entry under `key`, returning its value.
    pub fn remove<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let out = self.lock().pop(key);
        out.map(|s| s.value)
    }

    /// Drops every entry.
    pub fn clear(&self) {
        let mut entries = self.lock();
        let capacity = entries.cap();
        let old = std::mem::replace(&mut *entries, LruCache::new(capacity));
        drop(entries);
        drop(old);
    }

    /// Entries held (live, or expired and not yet found so).
    #[must_use]
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether it holds no entry.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;
    use crate::ManualClock;

    fn cache(cap: usize) -> (Arc<ManualClock>, TtlCache<String, u32>) {
        let clock = Arc::new(ManualClock::new());
        let cache = TtlCache::with_clock(NonZeroUsize::new(cap).unwrap(), clock.clone());
        (clock, cache)
    }

    #[test]
    fn entries_live_for_their_time_to_live() {
        let (clock, c) = cache(4);
        assert!(!c.insert("a".into(), 1, Duration::from_secs(10)));
        c.insert("z".into(), 0, Duration::ZERO);
        assert_eq!(c.get("z"), None, "a zero time to live is never served");
        clock.advance(Duration::from_secs(9));
        assert_eq!(c.get("a"), Some(1));
        clock.advance(Duration::from_secs(1));
        assert_eq!(c.lookup("a", |v| Some(*v)), Lookup::Dropped);
        assert_eq!(c.lookup("a", |v| Some(*v)), Lookup::Absent);
        assert!(c.is_empty());
    }

    #[test]
    fn the_least_recently_used_makes_room() {
        let (_, c) = cache(2);
        let ttl = Duration::from_secs(10);
        c.insert("a".into(), 1, ttl);
        c.insert("b".into(), 2, ttl);
        assert_eq!(c.get("a"), Some(1));
        assert!(!c.insert("a".into(), 3, ttl), "replacing is not evicting");
        assert!(c.insert("c".into(), 4, ttl));
        assert_eq!(c.get("b"), None);
        assert_eq!((c.get("a"), c.get("c")), (Some(3), Some(4)));
        assert_eq!(c.len(), 2);
    }

    #[test]
    fn a_lookup_changes_or_drops_an_entry_in_one_step() {
        let (_, c) = cache(2);
        c.insert("n".into(), 2, Duration::from_secs(10));
        let take = |v: &mut u32| {
            *v = v.checked_sub(1)?;
            Some(*v)
        };
        assert_eq!(c.lookup("n", take), Lookup::Hit(1));
        assert_eq!(c.lookup("n", take), Lookup::Hit(0));
        assert_eq!(c.lookup("n", take), Lookup::Dropped);
        assert_eq!(c.len(), 0);
        c.insert("m".into(), 1, Duration::from_secs(10));
        assert_eq!(c.remove("m"), Some(1));
        c.insert("m".into(), 1, Duration::from_secs(10));
        c.clear();
        assert!(c.is_empty());
        assert_eq!(c.capacity().get(), 2);
    }
}
