//! `cp` and `mv`: a parameter, or every parameter below a path, under new names.
//!
//! What is copied is the value `get` (or `exec`) reads, the version labelled `current`, with
//! its type, description, tags and expiry; the history stays with the source. Each value is
//! written as a new version of its new name, a secure one encrypted again for it (its
//! encryption context names the parameter, and the policies may give the new path another
//! key). Every copy of one command is written in one transaction, or none. A move then
//! deletes the sources (`rm`, recoverable with `restore`): a move stopped between the two
//! leaves both, never neither.

use super::{
    Expect, Param, ParamName, ParamPath, ParamResult, Params, PutRequest, Selector, TypeRule,
    VersionMeta, Which,
};
use crate::error::Error;

/// One parameter copied: where from, and the version written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copied {
    /// The source.
    pub from: ParamName,
    /// The version written under the new name.
    pub to: VersionMeta,
}

impl Params {
    /// Copies parameter `from` to `to` (a new parameter; with `overwrite`, a new version of
    /// an existing one of the same type); with `remove`, then deletes `from` (a move).
    ///
    /// # Errors
    /// As [`Params::get`] for `from`, and as [`Params::put_all`] for `to`; `from` and `to`
    /// the same.
    pub async fn copy(
        &self,
        from: &ParamName,
        to: &ParamName,
        overwrite: bool,
        remove: bool,
        author: &str,
    ) -> ParamResult<Copied> {
        if from == to {
            return Err(Error::invalid(format!(
                "{from} cannot be copied onto itself"
            )));
        }
        let value = self
            .get(&Selector {
                name: from.clone(),
                which: Which::Label(super::Label::parse(super::CURRENT)?),
            })
            .await?;
        let mut done = self
            .write_copies(vec![(value, to.clone())], overwrite, remove, author)
            .await?;
        done.pop()
            .ok_or_else(|| Error::backend("internal error: nothing was copied"))
    }

    /// Copies every parameter at any depth below `from` to the same name below `to`, as
    /// [`Params::copy`] copies one, all in one transaction; with `remove`, then deletes the
    /// sources. A parameter below `from` that cannot be read here (no current version, its
    /// value destroyed, under a key whose root this home lacks) stops it all, before
    /// anything is written.
    ///
    /// # Errors
    /// Nothing below `from`; a parameter that cannot be read; as [`Params::put_all`].
    pub async fn copy_path(
        &self,
        from: &ParamPath,
        to: &ParamPath,
        overwrite: bool,
        remove: bool,
        author: &str,
    ) -> ParamResult<Vec<Copied>> {
        if from == to {
            return Err(Error::invalid(format!(
                "{from} cannot be copied onto itself"
            )));
        }
        let found = self.read_path(from, true).await?;
        if let Some(e) = found.unreadable.into_iter().next() {
            return Err(Error::invalid(format!(
                "nothing was copied: {}",
                e.full_message()
            )));
        }
        if found.values.is_empty() {
            return Err(Error::missing(format!("no parameters below {from}")));
        }
        let base = from.prefix();
        let mut pairs = Vec::with_capacity(found.values.len());
        for value in found.values {
            let rest = value
                .meta
                .name
                .as_str()
                .strip_prefix(&base)
                .ok_or_else(|| {
                    Error::corrupt(format!(
                        "the store gave {} for the names below {from}",
                        value.meta.name
                    ))
                })?
                .to_owned();
            let name = ParamName::parse(&format!("{}{rest}", to.prefix()))?;
            pairs.push((value, name));
        }
        self.write_copies(pairs, overwrite, remove, author).await
    }

    async fn write_copies(
        &self,
        pairs: Vec<(Param, ParamName)>,
        overwrite: bool,
        remove: bool,
        author: &str,
    ) -> ParamResult<Vec<Copied>> {
        let now = crate::time::now_unix();
        if remove {
            // A name both moved and moved onto would be deleted after it was written.
            let sources: std::collections::BTreeSet<&ParamName> =
                pairs.iter().map(|(p, _)| &p.meta.name).collect();
            if let Some((_, to)) = pairs.iter().find(|(_, to)| sources.contains(to)) {
                return Err(Error::invalid(format!(
                    "{to} is both moved and moved onto: nothing was moved (move below another \
                     path, or copy with cp)"
                )));
            }
        }
        let mut from = Vec::with_capacity(pairs.len());
        let mut reqs = Vec::with_capacity(pairs.len());
        for (p, name) in pairs {
            if p.meta.is_expired(now) {
                return Err(Error::invalid(format!(
                    "{} has expired: nothing was copied",
                    p.meta.name
                )));
            }
            reqs.push(PutRequest {
                name,
                param_type: p.meta.param_type,
                value: p.value,
                expect: if overwrite { Expect::Any } else { Expect::New },
                labels: Vec::new(),
                description: p.meta.description,
                tags: p.meta.tags,
                expires_at: p.meta.expires_at,
                author: author.to_owned(),
            });
            from.push(p.meta.name);
        }
        let written = self.put_all(&reqs, TypeRule::Same).await?;
        if remove {
            for name in &from {
                self.delete(name, now).await?;
            }
        }
        Ok(from
            .into_iter()
            .zip(written)
            .map(|(from, to)| Copied { from, to })
            .collect())
    }
}
