//! Test doubles for code built on coffer-core: compiled for its own tests and with the
//! `test-util` feature, never in a build for users.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::keyring::hierarchy::format_version;
use crate::keyring::{BoxFuture, BranchKey, BranchKeyStore};
use crate::{Error, Result};

/// A branch key store in memory: every version of every branch key, one active version
/// each, and versions it refuses with a message (as a store refuses a retired or disabled
/// version). It notes the versions asked for.
#[derive(Debug, Default)]
pub struct MemoryBranchKeyStore {
    keys: Mutex<BTreeMap<(String, [u8; 16]), BranchKey>>,
    active: Mutex<BTreeMap<String, [u8; 16]>>,
    refused: Mutex<BTreeMap<[u8; 16], String>>,
    asked: Mutex<Vec<[u8; 16]>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl MemoryBranchKeyStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Holds `key` (a version of its branch key); not active until [`Self::activate`].
    pub fn insert(&self, key: BranchKey) {
        lock(&self.keys).insert((key.id().to_owned(), *key.version()), key);
    }

    /// Makes `version` the active version of branch key `id`.
    pub fn activate(&self, id: &str, version: [u8; 16]) {
        lock(&self.active).insert(id.to_owned(), version);
    }

    /// Refuses `version` (of any branch key) with `why` from now on.
    pub fn refuse(&self, version: [u8; 16], why: &str) {
        lock(&self.refused).insert(version, why.to_owned());
    }

    /// The versions asked for so far, in order.
    #[must_use]
    pub fn asked(&self) -> Vec<[u8; 16]> {
        lock(&self.asked).clone()
    }

    /// Forgets the versions asked for so far.
    pub fn forget_asked(&self) {
        lock(&self.asked).clear();
    }

    fn get(&self, id: &str, version: &[u8; 16]) -> Result<BranchKey> {
        lock(&self.asked).push(*version);
        if let Some(why) = lock(&self.refused).get(version) {
            return Err(Error::Key(why.clone()));
        }
        lock(&self.keys)
            .get(&(id.to_owned(), *version))
            .cloned()
            .ok_or_else(|| {
                Error::Key(format!(
                    "no version {} of branch key {id}",
                    format_version(version)
                ))
            })
    }
}

impl BranchKeyStore for MemoryBranchKeyStore {
    fn active_branch_key<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<BranchKey>> {
        let active = lock(&self.active).get(id).copied();
        let r = match active {
            Some(v) => self.get(id, &v),
            None => Err(Error::Key(format!("no branch key {id}"))),
        };
        Box::pin(std::future::ready(r))
    }

    fn branch_key_version<'a>(
        &'a self,
        id: &'a str,
        version: &'a [u8; 16],
    ) -> BoxFuture<'a, Result<BranchKey>> {
        Box::pin(std::future::ready(self.get(id, version)))
    }
}
