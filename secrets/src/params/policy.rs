//! Path policies: which key protects the parameters below a path (`/app/prod` → key `prod`).
//!
//! A policy names a key by its reference as values record it ([`recorded_key`]: `local:NAME`
//! for a key of the store, else the reference as spelled, a key file by its absolute path).
//! The policy of a name is the one of the longest path it is at or below. [`super::Params`] applies them: a `secure-string` write
//! below a policy's path is encrypted under its key (another key given for the write is
//! refused), and a `secure-string` version read below it must have been written under it.
//! The set of policies is stored sealed ([`crate::store::policy_seal`]): a policy added,
//! edited, removed or put back from an older copy in the database is refused by the next
//! read, never used.

use std::fmt;
use std::sync::Arc;

use coffer_core::keyring::Keyring;

use super::name::{ParamName, ParamPath};
use super::{ParamResult, Params, VersionMeta};
use crate::error::{Advice, Error};
use crate::keyref::KeyRef;

/// How many of the parameters in the way of a new policy its error names.
const NAMED_IN_THE_WAY: usize = 5;

/// One path's policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// The path it covers (every name below it, at any depth).
    pub path: ParamPath,
    /// The key, as values record it ([`recorded_key`]).
    pub key: String,
    /// When it was set, Unix seconds.
    pub created_at: i64,
    /// Who set it.
    pub author: String,
}

/// The policies of a store, by path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policies(Vec<Policy>);

impl Policies {
    /// The set of `policies` (in any order; one per path).
    pub fn new(mut policies: Vec<Policy>) -> Self {
        policies.sort_by(|a, b| a.path.as_str().cmp(b.path.as_str()));
        Self(policies)
    }

    /// The policy of `name`: the one of the longest path it is at (a policy of one
    /// parameter) or below.
    pub fn for_name(&self, name: &ParamName) -> Option<&Policy> {
        self.0
            .iter()
            .filter(|p| p.path.as_str() == name.as_str() || p.path.contains(name))
            .max_by_key(|p| p.path.as_str().len())
    }

    /// The policy of the names whose longest policy path is `path`: the one of the longest
    /// path `path` is at or below.
    pub fn for_path(&self, path: &ParamPath) -> Option<&Policy> {
        self.0
            .iter()
            .filter(|p| &p.path == path || path.as_str().starts_with(&p.path.prefix()))
            .max_by_key(|p| p.path.as_str().len())
    }

    /// The policy of exactly `path`.
    pub fn at(&self, path: &ParamPath) -> Option<&Policy> {
        self.0.iter().find(|p| &p.path == path)
    }

    /// Every policy, by path.
    pub fn iter(&self) -> impl Iterator<Item = &Policy> {
        self.0.iter()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The set with `policy` in place of the one of its path (if any); the one it replaced.
    pub(crate) fn with(&self, policy: Policy) -> (Self, Option<Policy>) {
        let mut rest = self.0.clone();
        let old = rest
            .iter()
            .position(|p| p.path == policy.path)
            .map(|i| rest.remove(i));
        rest.push(policy);
        (Self::new(rest), old)
    }

    /// The set without the policy of `path`, and that policy (if there was one).
    pub(crate) fn without(&self, path: &ParamPath) -> (Self, Option<Policy>) {
        let mut rest = self.0.clone();
        let old = rest
            .iter()
            .position(|p| &p.path == path)
            .map(|i| rest.remove(i));
        (Self(rest), old)
    }
}

/// How values and policies record the key `key` (spelled `spelled` by the user):
/// `local:NAME` for a key of the store, else the reference as spelled.
pub fn recorded_key(key: &KeyRef, spelled: &str) -> String {
    match key {
        KeyRef::Local(k) => format!("local:{}", k.name),
        _ => spelled.to_owned(),
    }
}

/// Checks that the secure version `meta` is under the key of its path policy, if it has one.
///
/// # Errors
/// [`Error::PolicyKey`].
pub(crate) fn check_read(policies: &Policies, meta: &VersionMeta) -> ParamResult<()> {
    let Some(p) = policies.for_name(&meta.name) else {
        return Ok(());
    };
    if meta.key_ref.as_deref() == Some(p.key.as_str()) {
        return Ok(());
    }
    Err(Error::PolicyKey {
        name: meta.name.clone(),
        version: Some(meta.version),
        found: meta.key_ref.clone().unwrap_or_else(|| "none".to_owned()),
        path: p.path.clone(),
        want: p.key.clone(),
        write: false,
    })
}

/// Checks that the secure write of `name` under `key` (as values record it) follows its path
/// policy, if it has one.
///
/// # Errors
/// [`Error::PolicyKey`].
pub(crate) fn check_write(policies: &Policies, name: &ParamName, key: &str) -> ParamResult<()> {
    match policies.for_name(name) {
        Some(p) if p.key != key => Err(Error::PolicyKey {
            name: name.clone(),
            version: None,
            found: key.to_owned(),
            path: p.path.clone(),
            want: p.key.clone(),
            write: true,
        }),
        _ => Ok(()),
    }
}

/// The error if any of `values` (the name and key of the current secure version of each
/// parameter at or below the path of a policy change, as stored) would be under another key
/// than the one `set` (the policies after the change) gives it.
///
/// # Errors
/// [`Error::Conflict`], naming them.
pub(crate) fn in_the_way(
    set: &Policies,
    path: &ParamPath,
    values: &[(String, Option<String>)],
) -> ParamResult<()> {
    let in_the_way: Vec<String> = values
        .iter()
        .filter_map(|(name, key)| {
            let policy = set.for_name(&ParamName::parse(name).ok()?)?;
            (key.as_deref() != Some(policy.key.as_str())).then(|| {
                format!(
                    "{} ({}, not {})",
                    name.escape_debug(),
                    key.as_deref().unwrap_or("no key").escape_debug(),
                    policy.key
                )
            })
        })
        .collect();
    if in_the_way.is_empty() {
        return Ok(());
    }
    let n = in_the_way.len();
    let named = in_the_way
        .iter()
        .take(NAMED_IN_THE_WAY)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    let more = if n > NAMED_IN_THE_WAY {
        format!(" and {} more", n - NAMED_IN_THE_WAY)
    } else {
        String::new()
    };
    Err(Error::conflict(format!(
        "{} at or below {path} {} under another key than the policies would give {}: \
         {named}{more}; no policy was changed",
        if n == 1 { "a parameter" } else { "parameters" },
        if n == 1 { "is" } else { "are" },
        if n == 1 { "it" } else { "them" },
    ))
    .advice(Advice::PolicyInTheWay(path.clone())))
}

impl Params {
    /// The store's path policies, checked against their seal.
    ///
    /// # Errors
    /// The store's keys cannot be opened; the policies fail their check.
    pub async fn policies(&self) -> ParamResult<Policies> {
        Ok(self.checked_store().await?.1)
    }

    /// Makes `key` the key of every `secure-string` value at or below `path`, replacing the
    /// path's policy if it has one (returned; a policy set again with the same key changes
    /// nothing). `key` is a key reference (`prod`, `local:prod`, `kms:…`, `aes:/abs/path`),
    /// recorded as values record it ([`recorded_key`]); it must load, and every parameter
    /// at or below `path` must have its current value under the key the policies then give it.
    ///
    /// # Errors
    /// A bad key reference, a key file named by a relative path; the key does not exist or
    /// does not load; parameters under other keys ([`Error::Conflict`], naming them); the
    /// store failed.
    pub async fn set_policy(
        &self,
        path: &ParamPath,
        key: &str,
        author: &str,
    ) -> ParamResult<(Policy, Option<Policy>)> {
        let parsed: KeyRef = key.parse()?;
        let relative = match &parsed {
            KeyRef::Aes(k) => k.path.is_relative(),
            KeyRef::Rsa(k) => k.path.is_relative(),
            _ => false,
        };
        if relative {
            return Err(Error::invalid(format!(
                "key {key}: a policy names a key file by its absolute path (each writer would \
                 read a relative one from its own directory)"
            )));
        }
        if matches!(parsed, KeyRef::KmsDiscovery { .. }) {
            return Err(Error::invalid(format!(
                "key {key}: discovery only decrypts; a policy needs a key that encrypts"
            )));
        }
        let key = recorded_key(&parsed, key);
        let store = self.unlocked_store().await?;
        self.keys.keyring_of(&key).await?;
        let (current, keys) = self.attested_policies().await?;
        self.check_policy_change(&current, path, Some(&key)).await?;
        crate::store::test_pause::pause("policy: checked");
        let policy = Policy {
            path: path.clone(),
            key,
            created_at: crate::time::now_unix(),
            author: author.to_owned(),
        };
        let old = store.set_policy(&policy, &keys).await?;
        Ok((policy, old))
    }

    /// Removes the policy of `path`; the policy removed. Every parameter at or below `path`
    /// must have its current value under the key the remaining policies give it.
    ///
    /// # Errors
    /// No policy for `path` ([`Error::Missing`]); parameters under other keys
    /// ([`Error::Conflict`]); the store failed.
    pub async fn remove_policy(&self, path: &ParamPath) -> ParamResult<Policy> {
        let store = self.unlocked_store().await?;
        let (current, keys) = self.attested_policies().await?;
        self.check_policy_change(&current, path, None).await?;
        store.remove_policy(path, &keys).await
    }

    /// The keyring a `secure-string` write of `name` encrypts under, and its reference: the
    /// key of its path policy if it has one (a key given for the run must be that one), else
    /// the run's. The store checks the policy again in the write's transaction.
    ///
    /// # Errors
    /// A key given for the run that is not the policy's ([`Error::PolicyKey`]); the key does
    /// not load.
    pub(super) async fn keyring_for_write(
        &self,
        policies: &Policies,
        name: &ParamName,
    ) -> ParamResult<(Arc<dyn Keyring>, String)> {
        let Some(p) = policies.for_name(name) else {
            return self.keys.encrypt_keyring().await;
        };
        if let Some(chosen) = self.keys.chosen_key() {
            check_write(policies, name, &chosen)?;
        }
        Ok((self.keys.keyring_of(&p.key).await?, p.key.clone()))
    }
}

/// `e` with `prefix` said first, if it is a refusal (kind and advice kept, so that
/// [`crate::store::roots::is_missing_root`] still holds of it); else `e`.
fn said_of(prefix: &str, e: Error) -> Error {
    let Error::Denied(d) = &e else {
        return e;
    };
    let out = Error::denied(format!("{prefix}{}", d.message()));
    match d.advice() {
        Some(a) => out.advice(a.clone()),
        None => out,
    }
}

impl Params {
    /// The error if `name` is below a path policy whose key has a root of its own that this
    /// home cannot use (the error names the parameter, the path, the key, its root and the
    /// file this home lacks; [`crate::store::roots::is_missing_root`] holds of it if the
    /// file is missing): nothing below such a path is read or changed from this home.
    ///
    /// # Errors
    /// That error; the policies fail their check; the store failed.
    pub async fn check_root(&self, name: &ParamName) -> ParamResult<()> {
        let (_, policies) = self.checked_store().await?;
        self.check_root_in(&policies, name).await
    }

    /// [`Params::check_root`] with the policies already read.
    pub(crate) async fn check_root_in(
        &self,
        policies: &Policies,
        name: &ParamName,
    ) -> ParamResult<()> {
        let Some(p) = policies.for_name(name) else {
            return Ok(());
        };
        match self.keys.root_unusable(&p.key).await? {
            None => Ok(()),
            Some(e) => Err(said_of(
                &format!(
                    "{name} is below {}, whose path policy names key {}: ",
                    p.path, p.key
                ),
                e,
            )),
        }
    }

    /// The error if this home cannot use the root of a key that a change of the policy of
    /// `path` to `new` (`None`: its removal) takes away from, or gives, the names whose
    /// policy it is: such a change is made only where both keys can be used.
    async fn check_policy_change(
        &self,
        current: &Policies,
        path: &ParamPath,
        new: Option<&str>,
    ) -> ParamResult<()> {
        let old = current.for_path(path).map(|p| p.key.clone());
        let after = match new {
            Some(k) => Some(k.to_owned()),
            None => current
                .without(path)
                .0
                .for_path(path)
                .map(|p| p.key.clone()),
        };
        for key in [old, after].into_iter().flatten() {
            if let Some(e) = self.keys.root_unusable(&key).await? {
                let what = match new {
                    Some(k) => format!("the policy of {path} cannot be set to {k} here"),
                    None => format!("the policy of {path} cannot be removed here"),
                };
                return Err(said_of(
                    &format!("{what}: it changes which key protects the names below it, and "),
                    e,
                ));
            }
        }
        Ok(())
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} -> {}", self.path, self.key)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The set of `policies` (`(path, key)`), for tests.
    pub(crate) fn set(policies: &[(&str, &str)]) -> Policies {
        Policies::new(
            policies
                .iter()
                .map(|(path, key)| Policy {
                    path: ParamPath::parse(path).unwrap(),
                    key: (*key).to_owned(),
                    created_at: 1,
                    author: "t".to_owned(),
                })
                .collect(),
        )
    }

    fn policy(path: &str, key: &str) -> Policy {
        Policy {
            path: ParamPath::parse(path).unwrap(),
            key: key.to_owned(),
            created_at: 0,
            author: "t".to_owned(),
        }
    }

    fn name(s: &str) -> ParamName {
        ParamName::parse(s).unwrap()
    }

    #[test]
    fn the_longest_path_a_name_is_below_decides() {
        let set = Policies::new(vec![
            policy("/app/prod/db", "local:db"),
            policy("/app", "local:app"),
            policy("/app/prod", "local:prod"),
        ]);
        let key = |n: &str| set.for_name(&name(n)).map(|p| p.key.as_str());
        assert_eq!(key("/app/prod/db/password"), Some("local:db"));
        assert_eq!(key("/app/prod/token"), Some("local:prod"));
        assert_eq!(key("/app/dev/token"), Some("local:app"));
        // A path is a whole level: `/app/prod` does not cover `/app/production`.
        assert_eq!(key("/app/production/x"), Some("local:app"));
        assert_eq!(key("/other/x"), None);
        let path = |p: &str| {
            set.for_path(&ParamPath::parse(p).unwrap())
                .map(|p| p.key.as_str())
        };
        assert_eq!(path("/app/prod"), Some("local:prod"));
        assert_eq!(path("/app/prod/db/x"), Some("local:db"));
        assert_eq!(path("/app/production"), Some("local:app"));
        assert_eq!(path("/"), None);
        assert_eq!(key("/app"), Some("local:app"), "a policy of one parameter");
        let root = Policies::new(vec![policy("/", "local:all")]);
        assert_eq!(
            root.for_name(&name("/x")).map(|p| p.key.as_str()),
            Some("local:all")
        );
    }

    #[test]
    fn with_replaces_and_without_removes() {
        let set = Policies::new(vec![policy("/a", "local:x")]);
        let (set, old) = set.with(policy("/a", "local:y"));
        assert_eq!(old.map(|p| p.key), Some("local:x".to_owned()));
        let (set, old) = set.with(policy("/b", "local:z"));
        assert!(old.is_none());
        assert_eq!(
            set.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["/a -> local:y", "/b -> local:z"]
        );
        let (set, old) = set.without(&ParamPath::parse("/a").unwrap());
        assert_eq!(old.map(|p| p.key), Some("local:y".to_owned()));
        let (_, none) = set.without(&ParamPath::parse("/a").unwrap());
        assert!(none.is_none());
    }

    #[test]
    fn keys_are_recorded_as_values_record_them() {
        let local = "prod".parse::<KeyRef>().unwrap();
        assert_eq!(recorded_key(&local, "prod"), "local:prod");
        let local = "local:prod".parse::<KeyRef>().unwrap();
        assert_eq!(recorded_key(&local, "local:prod"), "local:prod");
        let kms = "kms:alias/prod".parse::<KeyRef>().unwrap();
        assert_eq!(recorded_key(&kms, "kms:alias/prod"), "kms:alias/prod");
    }
}
