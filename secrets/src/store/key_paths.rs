//! What a key with a root of its own attests about the path policies: which paths it
//! protects, so that a policy changed by someone without its root (a holder of the store's
//! root key, which every machine of the store has) is refused where its root is held.
//!
//! The policy set as a whole is sealed under a key derived from the store's audit secret
//! ([`crate::store::policy_seal`]), which every machine holds; that alone would let a dev
//! machine point `/app/prod` at a key of its own, set a policy below it, or remove it. So each
//! key with a root of its own also seals, under a key only the holders of its root can
//! derive, the part of the set that decides what it protects, and every home that holds such
//! a root checks it against the set before using any policy.
//!
//! # Layout and derivation
//!
//! ```text
//! key_paths (name, secret, paths, holes, seal_seq, mac)   one row per key with a root of its own
//!   secret = RootKey::wrap(S_K, aad = "coffer key rows secret v1\0" || len(store_id) store_id
//!                                     || len(name) name)   S_K: 32 random bytes, under K's root
//!   K_paths     = HKDF-SHA256(salt = store_id, ikm = S_K, info = "coffer key paths v1\0" || name)
//!   K_params(K) = HKDF-SHA256(salt = store_id, ikm = S_K, info = "coffer param rows v1\0" || name)
//!   K_keys(K)   = HKDF-SHA256(salt = store_id, ikm = S_K, info = "coffer key state v1\0" || name)
//!   mac = HMAC-SHA256(K_paths, "coffer key paths v3\0" || len(name) name
//!         || n (4 bytes) || each own path: len(path) path
//!         || m (4 bytes) || each hole: len(path) path
//!         || seal_seq (8 bytes))
//!   strings are length-prefixed (4 bytes, big-endian); integers big-endian
//! ```
//!
//! The label says what is MACed under the key besides: with `v3`, the rows of the names `K`
//! protects under `K_params(K)` and `K`'s own rows in the key table (its state, versions,
//! minimum decryption and active version, rotation period; [`super::key_seal`]) under
//! `K_keys(K)`. A row whose MAC's input begins with `"coffer key paths v2\0"` was made before
//! `K`'s own rows were (they are under the store's `K_rows` still), one with
//! `"coffer key paths v1\0"` before its names' rows were too. The first home holding `K`'s
//! root that finds such a row moves what is not yet under the key, in one transaction, after
//! checking each row under the store's key, and seals the row as v3 to a new
//! [`KEY_PATHS_VERB`] entry. Only a holder of `K_paths` can make any of these MACs, and the
//! older row put back afterwards is sealed to an older entry than the key's last one (and
//! than the one this home saw), so it is refused as an older row rather than have rows of a
//! writer's own moved under the key.
//!
//! The *own paths* of key `K` are the paths of the policies that name it (`local:K`); its
//! *holes* are the paths of the other policies whose nearest policy above names it (a policy
//! set inside its paths, which takes the names below it away from `K`). Together they decide
//! exactly which names `K` protects; `paths` and `holes` hold them as last sealed (one per
//! line): for the error that says what changed, and for the check of the row alone, over
//! what it holds, that decides the key of `K`'s own rows ([`super::key_row_key`], which does
//! not read the policies; an edited column fails it). `seal_seq` is the audit entry (verb
//! [`KEY_PATHS_VERB`], name `K`) appended in the same transaction. `S_K` is the key's row
//! secret; `K_params(K)` is the MAC key of the parameter rows of the names `K` protects
//! ([`super::param_seal`]) and `K_keys(K)` that of `K`'s own key rows ([`super::key_seal`]),
//! so that only holders of its root can make them.
//!
//! # Checks
//!
//! A home that holds the root of `K` (`roots/K.key`), before it uses the policies: unwraps
//! `S_K` (failing closed: a secret its root does not unwrap, for whatever reason, is an
//! error, never a reason to skip the check), computes `K`'s own paths and holes from the set
//! it read (already checked against its seal, which also refuses two rows of one path), and
//! refuses the set unless they match the MAC and the row is sealed to the last
//! [`KEY_PATHS_VERB`] entry of `K`, and to no entry older than the one this home last saw it
//! sealed to ([`super::seen_paths`]). So a policy added, retargeted or removed at or inside
//! `K`'s paths without `K`'s root is refused; and so is an older row put back (a later entry
//! names `K`, or this home saw a later one), a row removed (an entry names `K`, this home saw
//! one, or the key is gone while an entry names it).
//!
//! Every policy change appends, for each key with a root of its own whose own paths or holes
//! it changes, one [`KEY_PATHS_VERB`] entry and seals the key's row to it, in the transaction
//! of the change, after checking the set as that transaction reads it against the row (so a
//! set changed since the home checked it is refused, never sealed). Such a change already
//! needs the roots of the keys it takes names from and gives names to
//! ([`crate::params::Params::check_root`]), which are exactly the keys whose paths change. A
//! key made with a root of its own gets its row when it is made; a key of the release before
//! gets it the first time a home holding its root, and that never saw it sealed, checks the
//! policies, in a transaction that first verifies the whole audit log and finds no entry
//! sealing the key in it (so that none is hidden by an edit of its verb or name); the
//! policies are then taken as they are, as a store's rows are when first sealed. A home that
//! holds the root of a key the store does not have uses none of the store's policies.
//!
//! Each of these transactions also MACs anew the parameter rows of the names whose key it
//! changes ([`crate::params::RowKeys`]): a policy change those of the names it moves between
//! keys, a key's first row (and the move of a v1 row, above) those of the names the key
//! protects, from `K_params` to `K_params(K)`; each row is checked under its old key first.
//!
//! A read does not walk the chain: a home that never saw the row's later seal believes an
//! older row put back while the entries after it are hidden (their verb or name edited), as
//! it does for the other rows ([`super::param_seal`]); `audit verify` finds the edit. And the
//! chain is keyed from the store's audit secret, so a holder of the store's root key can
//! rebuild it after a seal: what a home first sees of a key's seals it trusts, as it trusts
//! what it first sees of the log ([`super::seen`]).

use std::fmt;

use coffer_core::{MacContext, MacKey};

use super::audit::HASH_LEN;
use crate::error::{Advice, Error};

/// The verb of the audit entries that seal a key's row (their name is the key's).
pub const KEY_PATHS_VERB: &str = "attest-paths";

const SECRET_LABEL: &[u8] = b"coffer key rows secret v1\0";
const MAC_LABEL: &[u8] = b"coffer key paths v1\0";
const ROWS_LABEL: &[u8] = b"coffer param rows v1\0";
const KEYS_LABEL: &[u8] = b"coffer key state v1\0";
/// The first bytes of the MAC input of a row whose key's names have their rows under
/// `K_params(K)`, and whose key's own rows are under the store's `K_rows` still.
const ROWS_MOVED_LABEL: &[u8] = b"coffer key paths v2\0";
/// The first bytes of the MAC input of a row whose key's names have their rows under
/// `K_params(K)` and whose key's own rows are under `K_keys(K)`.
const KEYS_MOVED_LABEL: &[u8] = b"coffer key paths v3\0";

/// What a row of paths says is MACed under its key, besides its paths (module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Stage {
    /// v1: nothing; the names' rows and the key's rows are under the store's keys.
    Paths,
    /// v2: the names' rows; the key's own rows are under the store's `K_rows`.
    Params,
    /// v3: the names' rows and the key's own rows.
    Keys,
}

/// The length of a key's row secret.
pub(crate) const SECRET_LEN: usize = 32;

/// The MAC keys a key `K` with a root of its own derives from its row secret: of what it
/// attests (`K_paths`), of the parameter rows it protects (`K_params(K)`,
/// [`super::param_seal`]) and of its own key rows (`K_keys(K)`, [`super::key_seal`]).
/// `Debug` shows nothing of them.
pub struct PathsKey {
    name: String,
    mac: MacKey,
    rows: MacKey,
    keys: MacKey,
}

impl fmt::Debug for PathsKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PathsKey")
            .field("key", &self.name)
            .finish_non_exhaustive()
    }
}

impl PathsKey {
    /// `K_paths` and `K_params(K)` of key `name` of store `store_id`, from its row secret.
    ///
    /// # Errors
    /// The crypto backend fails.
    pub(crate) fn derive(store_id: &str, name: &str, secret: &[u8]) -> Result<Self, Error> {
        let salt = store_id.as_bytes();
        Ok(Self {
            name: name.to_owned(),
            mac: MacKey::derive(salt, secret, &[MAC_LABEL, name.as_bytes()])?,
            rows: MacKey::derive(salt, secret, &[ROWS_LABEL, name.as_bytes()])?,
            keys: MacKey::derive(salt, secret, &[KEYS_LABEL, name.as_bytes()])?,
        })
    }

    /// `K_keys(K)`: the MAC key of this key's own rows in the key table, once its row of
    /// paths is at [`Stage::Keys`].
    pub(crate) fn keys(&self) -> &MacKey {
        &self.keys
    }

    /// `K_params(K)`: the MAC key of the parameter rows below the paths this key protects.
    pub(crate) fn rows(&self) -> &MacKey {
        &self.rows
    }

    /// The key whose paths this seals.
    pub fn key_name(&self) -> &str {
        &self.name
    }

    /// The MAC of `claims` sealed to audit entry `seq` ([`Stage::Keys`], what every row is
    /// sealed as from now on).
    pub(crate) fn mac(&self, claims: &Claims, seq: i64) -> [u8; HASH_LEN] {
        self.mac_at(Stage::Keys, claims, seq)
    }

    /// The MAC of `claims` sealed to audit entry `seq` by a row at `stage`.
    pub(crate) fn mac_at(&self, stage: Stage, claims: &Claims, seq: i64) -> [u8; HASH_LEN] {
        let label = match stage {
            Stage::Paths => MAC_LABEL,
            Stage::Params => ROWS_MOVED_LABEL,
            Stage::Keys => KEYS_MOVED_LABEL,
        };
        self.mac_under(label, claims, seq)
    }

    /// The stage `mac` seals `claims` to entry `seq` at, if it seals them at all.
    pub(crate) fn stage_of(&self, claims: &Claims, seq: i64, mac: &[u8]) -> Option<Stage> {
        [Stage::Keys, Stage::Params, Stage::Paths]
            .into_iter()
            .find(|&s| coffer_core::ct_eq(&self.mac_at(s, claims, seq), mac))
    }

    /// The stage `raw` is sealed at, over the paths and holes it holds (not over what the
    /// policies say now: what the key's own rows need, [`super::key_row_key`]).
    pub(crate) fn stage_of_row(&self, raw: &RawKeyPaths) -> Option<Stage> {
        self.stage_of(
            &Claims::from_columns(&raw.paths, &raw.holes),
            raw.seal_seq,
            &raw.mac,
        )
    }

    fn mac_under(&self, label: &[u8], claims: &Claims, seq: i64) -> [u8; HASH_LEN] {
        let mut ctx = self.mac.start();
        ctx.update(label);
        text(&mut ctx, self.name.as_bytes());
        for list in [&claims.own, &claims.holes] {
            ctx.update(&u32::try_from(list.len()).unwrap_or(u32::MAX).to_be_bytes());
            for p in list {
                text(&mut ctx, p.as_bytes());
            }
        }
        ctx.update(&seq.to_be_bytes());
        ctx.finish()
    }
}

fn text(ctx: &mut MacContext, s: &[u8]) {
    // Every field is far below 4 GiB; saturate rather than wrap.
    ctx.update(&u32::try_from(s.len()).unwrap_or(u32::MAX).to_be_bytes());
    ctx.update(s);
}

/// The additional data a key's row secret is wrapped with.
pub(crate) fn secret_aad(store_id: &str, name: &str) -> Vec<u8> {
    let mut aad = SECRET_LABEL.to_vec();
    for part in [store_id, name] {
        aad.extend_from_slice(&u32::try_from(part.len()).unwrap_or(u32::MAX).to_be_bytes());
        aad.extend_from_slice(part.as_bytes());
    }
    aad
}

/// What decides which names a key protects: its own paths and its holes (module docs), each
/// in path order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Claims {
    pub(crate) own: Vec<String>,
    pub(crate) holes: Vec<String>,
}

impl Claims {
    /// The claims as stored: `(paths, holes)`, one per line.
    pub(crate) fn columns(&self) -> (String, String) {
        (self.own.join("\n"), self.holes.join("\n"))
    }

    /// The claims stored as `paths` and `holes`.
    pub(crate) fn from_columns(paths: &str, holes: &str) -> Self {
        let lines = |s: &str| {
            s.split('\n')
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect()
        };
        Self {
            own: lines(paths),
            holes: lines(holes),
        }
    }

    /// The detail of the audit entry that seals them.
    pub(crate) fn detail(&self) -> String {
        let list = |l: &[String]| {
            if l.is_empty() {
                "none".to_owned()
            } else {
                l.join(", ")
            }
        };
        format!("paths {}; holes {}", list(&self.own), list(&self.holes))
    }

    /// What `self` (the set now) says that `was` (as sealed) does not, in words.
    pub(crate) fn differences(&self, was: &Self) -> Vec<String> {
        let mut out = Vec::new();
        for p in &was.own {
            if !self.own.contains(p) {
                out.push(format!("{p} is no longer under it"));
            }
        }
        for p in &self.own {
            if !was.own.contains(p) {
                out.push(format!("{p} was put under it"));
            }
        }
        for p in &self.holes {
            if !was.holes.contains(p) {
                out.push(format!("a policy of {p} takes names from it"));
            }
        }
        for p in &was.holes {
            if !self.holes.contains(p) {
                out.push(format!(
                    "the policy of {p}, inside its paths, is gone or retargeted"
                ));
            }
        }
        out
    }
}

/// A `key_paths` row as read.
#[derive(Debug, Clone)]
pub struct RawKeyPaths {
    /// The row secret, wrapped by the key's root.
    pub secret: Vec<u8>,
    /// The own paths as last sealed, one per line.
    pub paths: String,
    /// The holes as last sealed, one per line.
    pub holes: String,
    /// The audit entry it is sealed to.
    pub seal_seq: i64,
    /// Its MAC.
    pub mac: Vec<u8>,
}

/// What a store holds about one key's attested paths.
#[derive(Debug, Clone)]
pub struct KeyPathsRow {
    /// The key.
    pub name: String,
    /// Its row, if it has one.
    pub row: Option<RawKeyPaths>,
    /// The last [`KEY_PATHS_VERB`] entry naming it.
    pub last_entry: Option<i64>,
}

pub(crate) fn tampered(location: &str, name: &str, what: &str) -> Error {
    Error::corrupt(format!(
        "the paths key `{name}` protects, in the store {location} (table key_paths): {what}; \
         no policy was used"
    ))
    .advice(Advice::VerifyAudit)
}

/// The error for a key without a row; `seen`, the entry this home last saw it sealed to.
pub(crate) fn missing_row(location: &str, row: &KeyPathsRow, seen: Option<i64>) -> Error {
    tampered(
        location,
        &row.name,
        &match (row.last_entry, seen) {
            (Some(seq), _) => format!(
                "its row is gone, though audit entry {seq} sealed it: it was removed outside \
                 coffer"
            ),
            (None, Some(seq)) => format!(
                "its row is gone, and so is every entry that sealed it, though this home saw \
                 it sealed to audit entry {seq}: they were removed or hidden outside coffer"
            ),
            (None, None) => "it has no row".to_owned(),
        },
    )
}

/// The error for a row sealed to entry `sealed`, older than entry `seen`, which this home saw
/// it sealed to.
pub(crate) fn older_row(location: &str, name: &str, sealed: i64, seen: i64) -> Error {
    tampered(
        location,
        name,
        &format!(
            "its row is sealed to audit entry {sealed}, but this home saw it sealed to entry \
             {seen}: it was put back from an older copy, with the later entries hidden"
        ),
    )
}

/// The error for a key whose root this home holds, gone from the store though audit entry
/// `seq` sealed its paths.
pub(crate) fn key_gone(location: &str, name: &str, seq: i64) -> Error {
    Error::corrupt(format!(
        "key `{name}`, whose root this home holds, is gone from the store {location}, though \
         audit entry {seq} sealed the paths it protects: it was removed outside coffer; no \
         policy was used"
    ))
    .advice(Advice::VerifyAudit)
}

/// The error for a key whose root this home holds and that the store does not have.
pub(crate) fn key_missing(location: &str, name: &str) -> Error {
    Error::corrupt(format!(
        "key `{name}`, whose root this home holds (roots/{name}.key), is not in the store \
         {location}: it was removed outside coffer, or the root belongs to another store (use \
         one home per store); no policy was used"
    ))
    .advice(Advice::VerifyAudit)
}

/// The error for a row whose wrapped secret the key's root does not unwrap.
pub(crate) fn bad_secret(location: &str, name: &str) -> Error {
    tampered(
        location,
        name,
        &format!(
            "its row secret does not unwrap under the root this home holds for it \
             (roots/{name}.key): the row was changed outside coffer"
        ),
    )
}

/// The error for a policy change that changes the paths of key `name` without its
/// `K_paths` at hand.
pub(crate) fn not_unlocked(name: &str) -> Error {
    Error::denied(format!(
        "this change moves names to or from key `{name}`, whose root this home cannot use \
         here; nothing was changed"
    ))
    .advice(Advice::OwnRoot(name.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The MAC of `tests/data/key_paths_kat.py`, made with Python's hmac from the layout in
    /// the module docs.
    #[test]
    fn the_mac_is_the_one_the_docs_describe() {
        let kat = include_str!("../../tests/data/key_paths_kat.txt");
        let mut lines = kat.lines();
        let f: Vec<&str> = lines.next().unwrap().split(' ').collect();
        let key = PathsKey::derive(f[2], f[0], &hex::decode(f[1]).unwrap()).unwrap();
        let list = |s: &str| s.split(',').map(str::to_owned).collect();
        let claims = Claims {
            own: list(f[3]),
            holes: list(f[4]),
        };
        assert_eq!(hex::encode(key.mac(&claims, f[5].parse().unwrap())), f[6]);
        // The rows of the releases before, as their KATs gave them: of 8cf4a13 (v1, the
        // key's names' rows under the store's key) and of 8956909 (v2, the key's own rows).
        assert_eq!(
            hex::encode(key.mac_at(Stage::Paths, &claims, 42)),
            "3a1c437f41f293d38999a3cd99ad1273c8829a5ce2bb38c8ed2f04086efc2895"
        );
        assert_eq!(
            hex::encode(key.mac_at(Stage::Params, &claims, 42)),
            "8c45bbcb4db0cd2a071e370e440389a3344ecd035e54cb906077e5608722b1d7"
        );
        // K_params(K) and K_keys(K), derived as the docs say.
        assert_eq!(
            hex::encode(key.rows().tag(&[b"coffer"])),
            lines.next().unwrap()
        );
        assert_eq!(
            hex::encode(key.keys().tag(&[b"coffer"])),
            lines.next().unwrap()
        );
    }

    #[test]
    fn the_secret_is_bound_to_its_store_and_key() {
        assert_ne!(secret_aad("s", "ab"), secret_aad("sa", "b"));
        assert_ne!(secret_aad("s", "a"), secret_aad("t", "a"));
        let key = PathsKey::derive("store", "prod", &[9; SECRET_LEN]).unwrap();
        assert!(format!("{key:?}").contains("prod"));
        assert!(!format!("{key:?}").contains("mac"));
    }
}
