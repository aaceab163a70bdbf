//! `rollback NAME --to VERSION`: a new version of a parameter holding an older version's
//! value, as `vault kv rollback` does. The versions between stay as they are (their history is
//! the record of what was served); the new version is what `get NAME` serves, as after any
//! put, and the other labels stay where they are.

use super::name::Which;
use super::{Expect, ParamName, ParamResult, Params, PutRequest, Selector, TypeRule, VersionMeta};

impl Params {
    /// Writes a new version of `name` holding the value of version `to`, with its type,
    /// description and tags (not its labels or expiry). Version `to` is read as
    /// `get NAME:VERSION` reads it (checked against its MACs and its key, decrypted), and
    /// its value is encrypted again for the new version under the key the policies give the
    /// name now. The write follows the latest version as read: if another writer comes
    /// first, it is a conflict and nothing is written. Its type must be the latest
    /// version's.
    ///
    /// # Errors
    /// No such parameter or version; version `to` destroyed, expired or not readable here
    /// (as `get`); a deleted parameter; a change of type ([`super::Error::TypeChange`]);
    /// another writer came first ([`super::Error::VersionMismatch`]); as [`Params::put_with`].
    pub async fn rollback(
        &self,
        name: &ParamName,
        to: u32,
        author: &str,
        now: i64,
    ) -> ParamResult<VersionMeta> {
        // `get` checks the policies first; the history is read with the row keys it gave.
        let from = self
            .get(&Selector {
                name: name.clone(),
                which: Which::Version(to),
            })
            .await?;
        let (state, _) = self.unlocked_store().await?.history(name).await?;
        if from.meta.is_expired(now) {
            return Err(super::Error::BadValue(format!(
                "version {to} of {name} has expired; a rollback to it would serve an expired \
                 value"
            )));
        }
        let req = PutRequest {
            name: name.clone(),
            param_type: from.meta.param_type,
            value: from.value,
            expect: Expect::Version(state.latest),
            labels: Vec::new(),
            description: from.meta.description.clone(),
            tags: from.meta.tags.clone(),
            expires_at: None,
            author: author.to_owned(),
        };
        self.put_with(req, TypeRule::Same).await
    }
}
