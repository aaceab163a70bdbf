//! Which key checks and makes the MACs of a parameter's rows ([`crate::store::param_seal`]):
//! `K_params(K)` of the key with a root of its own that protects the name, if one does, else
//! `K_params`, the store's.
//!
//! A name is protected by the key of its path policy (the policy of the longest path it is
//! at or below, [`Policies::for_name`]). If that key has a root of its own and a row of the
//! paths it protects ([`crate::store::key_paths`]), the name's rows are MACed under its
//! `K_params(K)`, which only holders of its root can derive; a home without that root cannot
//! check them and reads none of them (nor does it write them). Every other name's rows are
//! MACed under `K_params`. [`super::Params`] gives its store the keys, built from the
//! policies it checked, before each use of it ([`super::ParamStore::use_row_keys`]).

use std::collections::BTreeMap;
use std::sync::{Arc, PoisonError, RwLock};

use coffer_core::MacKey;

use super::{ParamResult, Policies};
use crate::error::{Advice, Error};
use crate::store::audit::HASH_LEN;
use crate::store::key_paths::PathsKey;
use crate::store::param_seal::{self, RawHead};
use crate::store::rows::{self, RawVersion};

/// The keys of the rows of every name, as a set of checked policies decides them. Only
/// [`super::Params`] makes them, from the policies it checked: a store given any others
/// would check rows under keys of someone's choosing.
#[derive(Debug)]
pub struct RowKeys {
    policies: Policies,
    /// The keys with a root of their own and a row of their paths, by name: their keys
    /// where this home holds their root.
    own: BTreeMap<String, Option<Arc<PathsKey>>>,
}

/// Who MACs a name's rows.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Governor<'a> {
    /// The store (`K_params`).
    Store,
    /// A key with a root of its own that this home holds.
    Held(&'a PathsKey),
    /// A key with a root of its own that this home does not hold (its name).
    Unheld(&'a str),
}

impl Governor<'_> {
    /// The name of the key, `None` for the store.
    pub(crate) fn key_name(&self) -> Option<&str> {
        match self {
            Self::Store => None,
            Self::Held(k) => Some(k.key_name()),
            Self::Unheld(n) => Some(n),
        }
    }
}

impl RowKeys {
    /// The keys under `policies`: `held`, the keys whose root this home holds (each with a
    /// row of its paths); `unheld`, the other keys with a row of their paths.
    pub(crate) fn new(policies: Policies, held: &[Arc<PathsKey>], unheld: &[String]) -> Self {
        let mut own: BTreeMap<String, Option<Arc<PathsKey>>> =
            unheld.iter().map(|n| (n.clone(), None)).collect();
        for k in held {
            own.insert(k.key_name().to_owned(), Some(k.clone()));
        }
        Self { policies, own }
    }

    /// The keys before and after the names `key` protects under `policies` have their rows
    /// moved from the store's key to its `K_params(K)` (its first row of paths, or a row of
    /// paths made before such rows were MACed under it): every other name is the store's in
    /// both, so only its names differ.
    pub(crate) fn moving_to(policies: Policies, key: &Arc<PathsKey>) -> (Self, Self) {
        (
            Self::new(policies.clone(), &[], &[]),
            Self::new(policies, std::slice::from_ref(key), &[]),
        )
    }

    /// The same keys under another set of policies (what a policy change makes of them).
    pub(crate) fn with_policies(&self, policies: Policies) -> Self {
        Self {
            policies,
            own: self.own.clone(),
        }
    }

    /// The policies these keys follow.
    pub(crate) fn policies(&self) -> &Policies {
        &self.policies
    }

    /// Who MACs the rows of `name`.
    pub(crate) fn governor(&self, name: &str) -> Governor<'_> {
        let Some(policy) = self
            .policies
            .iter()
            .filter(|p| is_at_or_below(name, p.path.as_str()))
            .max_by_key(|p| p.path.as_str().len())
        else {
            return Governor::Store;
        };
        let Some(key) = policy.key.strip_prefix("local:") else {
            return Governor::Store;
        };
        match self.own.get_key_value(key) {
            Some((_, Some(k))) => Governor::Held(k),
            Some((n, None)) => Governor::Unheld(n),
            None => Governor::Store,
        }
    }

    /// The MAC key of the rows of `name`: its key's `K_params(K)`, or `store` (`K_params`).
    ///
    /// # Errors
    /// Its key has a root of its own that this home does not hold ([`unheld`]).
    pub(crate) fn mac_key<'a>(
        &'a self,
        name: &str,
        store: &'a MacKey,
        location: &str,
    ) -> ParamResult<&'a MacKey> {
        match self.governor(name) {
            Governor::Store => Ok(store),
            Governor::Held(k) => Ok(k.rows()),
            Governor::Unheld(key) => Err(unheld(location, name, key)),
        }
    }

    /// The key with a root of its own, not held here, that protects `name`, if one does:
    /// a read over a path leaves such a name out.
    pub(crate) fn unheld_key(&self, name: &str) -> Option<&str> {
        match self.governor(name) {
            Governor::Unheld(k) => Some(k),
            _ => None,
        }
    }
}

/// Where a store keeps the row keys it was last given: none until then, and a read of a row
/// without them is an error ([`not_given`]), never a fallback to the store's key. A write
/// pins the keys it checked against the policies its transaction reads
/// ([`RowKeySlot::pin`]), so that keys given meanwhile by another task (made from policies
/// read earlier) are not the ones it MACs its rows under.
#[derive(Debug, Default)]
pub(crate) struct RowKeySlot {
    given: RwLock<Option<Arc<RowKeys>>>,
    pinned: RwLock<Option<Arc<RowKeys>>>,
}

impl Clone for RowKeySlot {
    fn clone(&self) -> Self {
        Self {
            given: RwLock::new(
                self.given
                    .read()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone(),
            ),
            pinned: RwLock::default(),
        }
    }
}

impl RowKeySlot {
    /// Keeps `keys` for every use of the store from now on.
    pub(crate) fn set(&self, keys: Arc<RowKeys>) {
        *self.given.write().unwrap_or_else(PoisonError::into_inner) = Some(keys);
    }

    /// The keys pinned by the write under way, else the keys last given.
    ///
    /// # Errors
    /// None were given ([`not_given`]).
    pub(crate) fn get(&self, location: &str) -> ParamResult<Arc<RowKeys>> {
        if let Some(k) = self
            .pinned
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
        {
            return Ok(k);
        }
        self.given
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .ok_or_else(|| not_given(location))
    }

    /// Pins `keys` until the guard is dropped: a write does this, holding the store's
    /// connection (so no other use of the store runs its transaction meanwhile), once it
    /// checked them against the policies its transaction reads.
    pub(crate) fn pin(&self, keys: Arc<RowKeys>) -> Pinned<'_> {
        *self.pinned.write().unwrap_or_else(PoisonError::into_inner) = Some(keys.clone());
        Pinned { slot: self, keys }
    }
}

/// Keys pinned for one write ([`RowKeySlot::pin`]).
pub(crate) struct Pinned<'a> {
    slot: &'a RowKeySlot,
    keys: Arc<RowKeys>,
}

impl std::ops::Deref for Pinned<'_> {
    type Target = RowKeys;

    fn deref(&self) -> &RowKeys {
        &self.keys
    }
}

impl Drop for Pinned<'_> {
    fn drop(&mut self) {
        *self
            .slot
            .pinned
            .write()
            .unwrap_or_else(PoisonError::into_inner) = None;
    }
}

/// The rows of one parameter MACed anew: its head's MAC and each version's, by number.
pub(crate) struct Remac {
    pub(crate) head_mac: [u8; HASH_LEN],
    pub(crate) versions: Vec<(u32, [u8; HASH_LEN])>,
}

/// The MACs under `new` of a parameter's rows (`raw`, its head, and `versions`, all its
/// version rows), after checking every one of them under `old`: a row edited outside coffer
/// is refused, never sealed under the new key.
///
/// # Errors
/// A row fails its check under `old`.
pub(crate) fn remac(
    old: &MacKey,
    new: &MacKey,
    location: &str,
    raw: RawHead,
    versions: &[RawVersion],
) -> ParamResult<Remac> {
    let seal_seq = raw.seal_seq;
    let head = param_seal::check_head(old, location, raw)?;
    let seal_seq = seal_seq.ok_or_else(|| {
        param_seal::tampered(location, &head.name, "its row (params) has no audit entry")
    })?;
    let mut macs = Vec::with_capacity(versions.len());
    for v in versions {
        let version = rows::check_version(old, location, &head, v)?;
        let fields = rows::version_fields(v, version, head.born);
        macs.push((version, param_seal::version_mac(new, &fields)));
    }
    Ok(Remac {
        head_mac: param_seal::head_mac(new, &head, seal_seq),
        versions: macs,
    })
}

/// Whether `name` is `path` or below it.
fn is_at_or_below(name: &str, path: &str) -> bool {
    path == "/"
        || name
            .strip_prefix(path)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// The error for a row of `name`, protected by key `key`, whose root this home lacks.
pub(crate) fn unheld(location: &str, name: &str, key: &str) -> Error {
    Error::denied(format!(
        "{} is protected by key `{key}`, which has a root of its own that this home does \
         not hold: its rows in the store {location} are checked only where that root is \
         held, so they are neither read nor written here",
        name.escape_debug()
    ))
    .advice(Advice::OwnRoot(key.to_owned()))
}

/// The error of a write that finds the path policies changed since they were checked.
pub(crate) fn policies_moved(location: &str) -> Error {
    Error::conflict(format!(
        "the path policies of the store {location} changed while this ran (another process \
         changed them); nothing was written"
    ))
    .advice(Advice::PoliciesChanged)
}

/// Whether `e` is [`policies_moved`]: [`super::Params`] checks the policies and writes again.
pub(crate) fn is_policies_moved(e: &Error) -> bool {
    matches!(e, Error::Conflict(_))
        && matches!(
            e.detail().and_then(crate::error::Detail::advice),
            Some(Advice::PoliciesChanged)
        )
}

/// How many times a write is made in all while the policies keep changing under it.
pub(crate) const WRITE_ATTEMPTS: usize = 3;

/// `op` again while it fails because the path policies changed between the check that made
/// its row keys and its transaction ([`policies_moved`]), [`WRITE_ATTEMPTS`] times in all.
///
/// # Errors
/// `op`'s last error.
pub(crate) async fn again_if_policies_moved<T, F, Fut>(mut op: F) -> ParamResult<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ParamResult<T>>,
{
    for _ in 1..WRITE_ATTEMPTS {
        match op().await {
            Err(e) if is_policies_moved(&e) => {
                tracing::debug!("the path policies changed under a write: checked again");
            }
            other => return other,
        }
    }
    op().await
}

/// The error of a store that was not given its row keys (a use of the store that did not go
/// through [`super::Params`]).
pub(crate) fn not_given(location: &str) -> Error {
    Error::backend(format!(
        "the parameter rows of the store {location} were read before the path policies \
         that decide their keys were checked; nothing was read"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::key_paths::SECRET_LEN;

    use crate::params::policy::tests::set;

    #[test]
    fn the_nearest_policy_decides_and_only_keys_with_rows_have_keys_of_their_own() {
        let prod = Arc::new(PathsKey::derive("s", "prod", &[1; SECRET_LEN]).unwrap());
        let keys = RowKeys::new(
            set(&[
                ("/app", "local:app"),
                ("/app/prod", "local:prod"),
                ("/app/prod/shared", "local:params"),
                ("/app/dev", "local:dev"),
                ("/kms", "kms:alias/x"),
            ]),
            &[prod],
            &["dev".to_owned()],
        );
        let who = |n: &str| keys.governor(n).key_name().map(str::to_owned);
        assert_eq!(who("/app/prod/db").as_deref(), Some("prod"));
        assert_eq!(who("/app/prod").as_deref(), Some("prod"));
        assert!(matches!(keys.governor("/app/prod/x"), Governor::Held(_)));
        // A whole level: `/app/prod` does not cover `/app/production`.
        assert_eq!(who("/app/production/x"), None);
        assert_eq!(who("/app/prod/shared/x"), None);
        assert_eq!(keys.unheld_key("/app/dev/x"), Some("dev"));
        assert_eq!(who("/kms/x"), None);
        assert_eq!(who("/other"), None);
        let store = MacKey::derive(b"s", &[2; 32], &[b"x"]).unwrap();
        let e = keys.mac_key("/app/dev/x", &store, "db").unwrap_err();
        assert!(crate::store::roots::is_missing_root(&e), "{e}");
        assert!(e.to_string().contains("key `dev`"), "{e}");
        let none = RowKeys::new(Policies::default(), &[], &[]);
        assert!(none.unheld_key("/app/dev/x").is_none());
        let everything = keys.with_policies(set(&[("/", "local:prod")]));
        assert_eq!(everything.governor("/a").key_name(), Some("prod"));
    }

    /// The key that MACs a name's rows is the key of its policy, as reads and writes find it.
    #[test]
    fn the_governor_is_the_key_of_the_policy_of_the_name() {
        let set = set(&[
            ("/", "local:root"),
            ("/app", "local:app"),
            ("/app/prod", "local:prod"),
            ("/app/prod/db", "local:db"),
            ("/app/prod/db/x", "local:prod"),
            ("/app/prod-2", "kms:alias/x"),
            ("/one/param", "local:one"),
        ]);
        let own: Vec<String> = ["root", "app", "prod", "db", "one"]
            .iter()
            .map(|k| (*k).to_owned())
            .collect();
        let keys = RowKeys::new(set.clone(), &[], &own);
        for name in [
            "/x",
            "/app",
            "/app/x",
            "/app/prod",
            "/app/prod/y",
            "/app/prod/db",
            "/app/prod/db/x",
            "/app/prod/db/x/y",
            "/app/prod/db/z",
            "/app/prod-2/a",
            "/app/production",
            "/one/param",
            "/one/param/below",
            "/one/params",
        ] {
            let want = set
                .for_name(&crate::params::ParamName::parse(name).unwrap())
                .and_then(|p| p.key.strip_prefix("local:"));
            assert_eq!(keys.governor(name).key_name(), want, "{name}");
        }
    }

    #[test]
    fn a_write_is_made_again_while_the_policies_change_under_it() {
        use std::cell::Cell;
        let calls = Cell::new(0);
        let flaky = || {
            calls.set(calls.get() + 1);
            let n = calls.get();
            async move {
                if n < WRITE_ATTEMPTS {
                    Err(policies_moved("db"))
                } else {
                    Ok(n)
                }
            }
        };
        let done = futures::executor::block_on(again_if_policies_moved(flaky));
        assert_eq!(done.unwrap(), WRITE_ATTEMPTS);
        calls.set(0);
        let e = futures::executor::block_on(again_if_policies_moved(|| async {
            Err::<(), _>(policies_moved("db"))
        }))
        .unwrap_err();
        assert!(is_policies_moved(&e), "{e}");
        assert!(e.to_string().contains("changed while this ran"), "{e}");
        // Any other error is not made again.
        let other = futures::executor::block_on(again_if_policies_moved(|| {
            calls.set(calls.get() + 1);
            async { Err::<(), _>(Error::conflict("another")) }
        }));
        assert!(other.is_err());
        assert_eq!(calls.get(), 1);
    }
}
