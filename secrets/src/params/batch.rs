//! Many writes as one: [`Params::put_all`] writes a new version of each of many parameters in
//! one transaction of the store, so that an `import` either writes every parameter of its
//! file or none of them.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use coffer_core::keyring::Keyring;

use super::service::{PUT_ATTEMPTS, next_version};
use super::{BatchOutcome, ParamResult, Params, PutRequest, TypeRule, VersionMeta};
use crate::error::{Advice, Error};

/// A keyring a write encrypts under, and its reference.
type WriteKey = (Arc<dyn Keyring>, String);

impl Params {
    /// Writes a new version of each parameter of `reqs` (no name twice), each as
    /// [`Params::put_with`] writes one under `rule`, in one transaction of the store: every
    /// one of them or none. Every value is checked, and every secure value encrypted for
    /// its version, before the transaction starts; a version that another writer made stale
    /// is encrypted again for the next and the whole transaction tried again.
    ///
    /// # Errors
    /// A name given twice; as [`Params::put_with`] for any one of them (then nothing is
    /// written); a store that cannot write many in one transaction.
    pub async fn put_all(
        &self,
        reqs: &[PutRequest],
        rule: TypeRule,
    ) -> ParamResult<Vec<VersionMeta>> {
        let mut seen = BTreeSet::new();
        for req in reqs {
            if !seen.insert(&req.name) {
                return Err(Error::invalid(format!(
                    "{} is given twice: nothing was written",
                    req.name
                )));
            }
            self.check_value(&req.value)
                .map_err(|e| Error::invalid(format!("{}: {}", req.name, e.full_message())))?;
        }
        if reqs.is_empty() {
            return Ok(Vec::new());
        }
        super::row_keys::again_if_policies_moved(|| self.put_all_once(reqs, rule)).await
    }

    /// One attempt of [`Params::put_all`].
    async fn put_all_once(
        &self,
        reqs: &[PutRequest],
        rule: TypeRule,
    ) -> ParamResult<Vec<VersionMeta>> {
        self.keys.unlock().await?;
        let policies = self.checked_policies().await?;
        for req in reqs {
            self.check_root_in(&policies, &req.name).await?;
        }
        // One keyring per key the policies give (`None`: the run's key).
        let mut keyrings: BTreeMap<Option<String>, Option<WriteKey>> = BTreeMap::new();
        let mut news = Vec::with_capacity(reqs.len());
        for req in reqs {
            let version = self.first_version(req).await?;
            let slot = keyrings
                .entry(policies.for_name(&req.name).map(|p| p.key.clone()))
                .or_default();
            news.push(
                self.new_version(req, version, rule, &policies, slot)
                    .await?,
            );
        }
        for _ in 0..PUT_ATTEMPTS {
            match self.store.put_all(news.clone()).await? {
                BatchOutcome::Written(metas) => return Ok(metas),
                BatchOutcome::Stale { index, latest } => {
                    let (Some(req), Some(stale)) = (reqs.get(index), news.get_mut(index)) else {
                        return Err(Error::backend(format!(
                            "internal error: the store named write {index} of {} as stale",
                            reqs.len()
                        )));
                    };
                    tracing::debug!(name = %req.name, latest, "another writer came first");
                    let version = next_version(&req.name, latest)?;
                    let slot = keyrings
                        .entry(policies.for_name(&req.name).map(|p| p.key.clone()))
                        .or_default();
                    *stale = self
                        .new_version(req, version, rule, &policies, slot)
                        .await?;
                }
            }
        }
        Err(
            Error::conflict("cannot write the parameters: other writers kept coming first")
                .advice(Advice::TryAgain),
        )
    }
}
