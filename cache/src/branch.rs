//! [`CachingBranchKeyStore`]: unwrapped branch keys for the hierarchical keyring, kept in a
//! [`LocalCache`] for a time to live, so that a key store whose root is remote (KMS, an HSM)
//! is asked once per branch key version and period, not once per message.
//!
//! The active version of a key is cached too: a rotation is seen by this process within the
//! TTL. Revocation (a disabled key, a retired version) is likewise seen within the TTL.

use std::sync::Arc;
use std::time::Duration;

use coffer_core::Result;
use coffer_core::keyring::{BoxFuture, BranchKey, BranchKeyStore};

use crate::error::CacheError;
use crate::ids;
use crate::local::{Cached, LocalCache, Usage};

/// A [`BranchKeyStore`] that caches another's answers (see the module docs).
#[derive(Debug)]
pub struct CachingBranchKeyStore {
    inner: Arc<dyn BranchKeyStore>,
    cache: Arc<LocalCache>,
    partition: Vec<u8>,
    store_name: String,
    ttl: Duration,
}

const NO_USE: Usage = Usage {
    messages: 0,
    bytes: 0,
};

impl CachingBranchKeyStore {
    /// Caches the keys of `inner` (named `store_name`, its logical name) in `cache` for
    /// `ttl`, in partition `partition`.
    ///
    /// # Errors
    /// A zero TTL.
    pub fn new(
        inner: Arc<dyn BranchKeyStore>,
        cache: Arc<LocalCache>,
        store_name: impl Into<String>,
        partition: impl Into<Vec<u8>>,
        ttl: Duration,
    ) -> std::result::Result<Self, CacheError> {
        if ttl.is_zero() {
            return Err(CacheError::Config(
                "the branch key TTL must be more than zero".into(),
            ));
        }
        Ok(Self {
            inner,
            cache,
            partition: partition.into(),
            store_name: store_name.into(),
            ttl,
        })
    }

    async fn lookup(&self, id: &str, version: Option<&[u8; 16]>) -> Result<BranchKey> {
        let key = ids::branch_key(&self.partition, &self.store_name, id, version);
        if let Some(k) = self.cache.get_branch_key(&key) {
            return Ok(k);
        }
        let found = match version {
            None => self.inner.active_branch_key(id).await?,
            Some(v) => self.inner.branch_key_version(id, v).await?,
        };
        self.cache
            .put(key, Cached::BranchKey(found.clone()), self.ttl, NO_USE);
        Ok(found)
    }
}

impl BranchKeyStore for CachingBranchKeyStore {
    fn active_branch_key<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<BranchKey>> {
        Box::pin(self.lookup(id, None))
    }

    fn branch_key_version<'a>(
        &'a self,
        id: &'a str,
        version: &'a [u8; 16],
    ) -> BoxFuture<'a, Result<BranchKey>> {
        Box::pin(self.lookup(id, Some(version)))
    }
}
