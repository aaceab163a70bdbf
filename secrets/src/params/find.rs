//! `find --tag K=V`: the parameters whose latest version carries every tag asked for.

use super::{ParamPath, ParamResult, ParamSummary, Params};

/// One tag a parameter must carry: its key, and the value it must have (`None`: any).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagQuery {
    /// The tag's key.
    pub key: String,
    /// The value it must have; `None`: any.
    pub value: Option<String>,
}

impl TagQuery {
    /// `K=V` (that value) or `K` (any value).
    pub fn parse(s: &str) -> Self {
        match s.split_once('=') {
            Some((k, v)) => Self {
                key: k.to_owned(),
                value: Some(v.to_owned()),
            },
            None => Self {
                key: s.to_owned(),
                value: None,
            },
        }
    }

    /// Whether `s`'s latest version carries this tag.
    pub fn matches(&self, s: &ParamSummary) -> bool {
        s.latest
            .tags
            .get(&self.key)
            .is_some_and(|v| self.value.as_ref().is_none_or(|want| want == v))
    }
}

impl Params {
    /// The parameters at any depth below `path` (not deleted) whose latest version carries
    /// every tag of `tags`, by name, and those left out unread (see
    /// [`super::Listing::unheld`]): their tags cannot be checked here.
    ///
    /// # Errors
    /// As [`super::ParamStore::list`].
    pub async fn find(&self, path: &ParamPath, tags: &[TagQuery]) -> ParamResult<super::Listing> {
        let mut listing = self.store().await?.list(path, true).await?;
        listing.params.retain(|p| tags.iter().all(|t| t.matches(p)));
        listing.deleted.clear();
        Ok(listing)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use std::collections::BTreeMap;

    use super::*;
    use crate::params::{ParamName, ParamType, VersionMeta};

    #[test]
    fn tags_match_by_key_and_value() {
        let s = ParamSummary {
            latest: VersionMeta {
                name: ParamName::parse("/a").unwrap(),
                version: 1,
                param_type: ParamType::String,
                created_at: 0,
                author: String::new(),
                description: None,
                tags: BTreeMap::from([("team".into(), "db".into()), ("x".into(), "a=b".into())]),
                labels: Vec::new(),
                expires_at: None,
                destroyed_at: None,
                key_ref: None,
            },
            created_at: 0,
            deleted_at: None,
        };
        assert!(TagQuery::parse("team=db").matches(&s));
        assert!(TagQuery::parse("team").matches(&s));
        assert!(!TagQuery::parse("team=web").matches(&s));
        assert!(!TagQuery::parse("owner").matches(&s));
        assert!(TagQuery::parse("x=a=b").matches(&s));
        assert!(!TagQuery::parse("team=").matches(&s));
    }
}
