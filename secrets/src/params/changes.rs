//! The changes of a parameter other than a new version (labels, `rm`, `restore`,
//! `destroy`), through [`Params`]: each is refused, before the store is asked, below a path
//! policy whose key has a root of its own that this home cannot use
//! ([`Params::check_root`]), so that a machine without the prod root changes nothing below
//! `/app/prod`. Each is made again if another process changes the policies between that
//! check and its transaction.

use super::name::{Label, ParamName};
use super::row_keys::again_if_policies_moved;
use super::{Destroyed, LabelMove, ParamResult, Params};

impl Params {
    /// Points `labels` at `version` ([`super::ParamStore::label`]).
    ///
    /// # Errors
    /// As [`Params::check_root`]; as the store's.
    pub async fn label(
        &self,
        name: &ParamName,
        version: u32,
        labels: &[Label],
    ) -> ParamResult<Vec<LabelMove>> {
        again_if_policies_moved(|| async {
            self.check_root(name).await?;
            self.unlocked_store()
                .await?
                .label(name, version, labels)
                .await
        })
        .await
    }

    /// Removes `labels` ([`super::ParamStore::unlabel`]).
    ///
    /// # Errors
    /// As [`Params::check_root`]; as the store's.
    pub async fn unlabel(
        &self,
        name: &ParamName,
        labels: &[Label],
    ) -> ParamResult<Vec<(Label, u32)>> {
        again_if_policies_moved(|| async {
            self.check_root(name).await?;
            self.unlocked_store().await?.unlabel(name, labels).await
        })
        .await
    }

    /// `rm`: marks the parameter deleted at `now` ([`super::ParamStore::delete`]).
    ///
    /// # Errors
    /// As [`Params::check_root`]; as the store's.
    pub async fn delete(&self, name: &ParamName, now: i64) -> ParamResult<()> {
        again_if_policies_moved(|| async {
            self.check_root(name).await?;
            self.unlocked_store().await?.delete(name, now).await
        })
        .await
    }

    /// `restore`: undoes `rm` ([`super::ParamStore::restore`]).
    ///
    /// # Errors
    /// As [`Params::check_root`]; as the store's.
    pub async fn restore(&self, name: &ParamName) -> ParamResult<()> {
        again_if_policies_moved(|| async {
            self.check_root(name).await?;
            self.unlocked_store().await?.restore(name).await
        })
        .await
    }

    /// `destroy` ([`super::ParamStore::destroy`]).
    ///
    /// # Errors
    /// As [`Params::check_root`]; as the store's.
    pub async fn destroy(
        &self,
        name: &ParamName,
        version: Option<u32>,
        now: i64,
    ) -> ParamResult<Destroyed> {
        again_if_policies_moved(|| async {
            self.check_root(name).await?;
            self.unlocked_store()
                .await?
                .destroy(name, version, now)
                .await
        })
        .await
    }
}
