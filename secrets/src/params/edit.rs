//! `edit NAME`: a parameter's value as text to change by hand, written back as a new version
//! only if it changed, and only over the version it was read from.

use super::{
    Expect, Param, ParamName, ParamResult, Params, PutRequest, SecretValue, Selector, TypeRule,
    VersionMeta,
};

/// A value read to be edited ([`Params::edit_read`]).
#[derive(Debug)]
pub struct Editing {
    /// What `get NAME` read.
    pub param: Param,
    /// The latest version when it was read: the write follows it, or is refused.
    pub latest: u32,
}

impl Params {
    /// Reads `name` as `get NAME` does, for [`Params::edit_write`].
    ///
    /// # Errors
    /// As [`Params::get`]; a version after the current one (an edit of the current value
    /// would supersede it).
    pub async fn edit_read(&self, name: &ParamName) -> ParamResult<Editing> {
        // The latest version first: a write after it, before or after the value is read,
        // makes the edit's write a conflict rather than a write over a value not seen.
        let (state, _) = self.checked_store().await?.0.history(name).await?;
        let param = self.get(&Selector::parse(name.as_str())?).await?;
        if param.meta.version != state.latest {
            return Err(crate::error::Error::conflict(format!(
                "{name} has version {} after its current version {}, which an edit would \
                 supersede (a rotation's pending version?): finish or discard it first",
                state.latest, param.meta.version
            )));
        }
        Ok(Editing {
            param,
            latest: state.latest,
        })
    }

    /// Writes `text` as a new version of the parameter of `read` (its type, description and
    /// tags kept), if it differs from the value read: `None` if it does not. The write
    /// follows the latest version as it was read; if another writer came in between, it is
    /// a conflict and nothing is written.
    ///
    /// # Errors
    /// Another writer came first ([`crate::error::Error::VersionMismatch`]); as
    /// [`Params::put_with`].
    pub async fn edit_write(
        &self,
        read: &Editing,
        text: SecretValue,
        author: &str,
    ) -> ParamResult<Option<VersionMeta>> {
        if coffer_core::ct_eq(
            text.expose().as_bytes(),
            read.param.value.expose().as_bytes(),
        ) {
            return Ok(None);
        }
        let meta = &read.param.meta;
        let req = PutRequest {
            name: meta.name.clone(),
            param_type: meta.param_type,
            value: text,
            expect: Expect::Version(read.latest),
            labels: Vec::new(),
            description: meta.description.clone(),
            tags: meta.tags.clone(),
            expires_at: None,
            author: author.to_owned(),
        };
        self.put_with(req, TypeRule::Same).await.map(Some)
    }
}
