//! Opening a store's audit log for a holder of its root key: unwrapping (or, on the first
//! open after an upgrade, making) the audit key, checking the head against its MAC and
//! against what the home has seen, and installing what signs this process's appends. See
//! [`super::audit`] for the format and [`super::seen`] for the home's record.

use std::sync::Arc;

use coffer_core::keyring::RootKey;

use super::audit::{
    AuditKey, AuditSecret, AuditTip, KEY_FORMAT_KEYS_SEALED, KEY_FORMAT_SEALED, Verified, key_aad,
};
use super::audit_signer::AuditSigner;
use super::seen::{Seen, SeenFile};
use super::table::KeyTable;
use crate::error::{Advice, Error};

/// The detail of the `audit-rekey` entry of a store upgraded with `count` unkeyed entries.
pub fn rekey_detail(count: i64) -> String {
    format!(
        "entries 1-{count} were hashed without a key (audit v1); from here every entry carries \
         the store's audit MAC"
    )
}

/// What to do with the home's record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trust {
    /// Refuse a store behind the record, key a store that has no key yet, record the head
    /// (every command that writes or reads a secure value).
    Record,
    /// As `Record`, but write nothing: no key is made and the head is recorded only after
    /// the whole log verified (`coffer audit verify`).
    Verify,
    /// Take the store as it is (`coffer audit accept`, after a full verification).
    Accept,
}

fn tampered(location: &str, what: &str) -> Error {
    Error::corrupt(format!(
        "the audit log of the store {location} was changed outside coffer: {what}"
    ))
    .advice(Advice::VerifyAudit)
}

fn turned_back(location: &str, what: String, seen: &Seen) -> Error {
    Error::corrupt(format!(
        "the store {location} {what}: this home last saw its audit log at {}",
        seen.describe()
    ))
    .advice(Advice::AcceptStore)
}

/// A store without an audit key, where the home saw a keyed one: refused; accepting it would
/// key whatever log is there now.
fn unkeyed_but_seen(location: &str, r: &Seen, seen: Option<&SeenFile>) -> Error {
    let e = Error::corrupt(format!(
        "the store {location} is not the store this home has used: it has no audit key (it was \
         replaced by an older release's store, or its key was removed), and this home last saw \
         its audit log at {}",
        r.describe()
    ));
    match seen {
        Some(s) => e.advice(Advice::ForgetStore(s.path().to_path_buf())),
        None => e,
    }
}

/// Unwraps or makes the audit key of `table` with `root`, checks the log's head (and, with
/// `seen`, against what the home saw, per `trust`), installs the signer and records the head.
///
/// # Errors
/// A head that fails its MAC; a store rolled back, forked or replaced since the home saw it;
/// an audit key that does not unwrap; store errors.
pub async fn attach(
    table: &dyn KeyTable,
    root: &dyn RootKey,
    seen: Option<SeenFile>,
    trust: Trust,
) -> Result<Arc<AuditKey>, Error> {
    let location = table.location();
    // The record first: the store only moves on after it (see `super::seen`).
    let recorded = match (&seen, trust) {
        (Some(s), Trust::Record | Trust::Verify) => s.load()?,
        _ => None,
    };
    let mut tip = table
        .audit_tip_recent(recorded.as_ref().map(|r| r.seq))
        .await?;
    if tip.wrapped_key.is_none() {
        if let Some(r) = &recorded {
            return Err(unkeyed_but_seen(&location, r, seen.as_ref()));
        }
        match trust {
            // Nothing to accept: keying it here would vouch for entries nobody can check.
            Trust::Accept => {
                return Err(Error::denied(format!(
                    "the store {location} has no audit key: its log is an older release's, or \
                     its key was removed; it was not accepted"
                )));
            }
            Trust::Verify => {
                return Err(Error::denied(format!(
                    "the store {location} has no audit key yet: its log is an older release's \
                     (the first write or secure read keys it), or its key was removed; nothing \
                     is keyed to verify"
                )));
            }
            Trust::Record => {}
        }
        create(table, root).await?;
        tip = table.audit_tip(None).await?;
    }
    let (secret, key) = unwrap(&location, root, &tip).await?;
    let key = Arc::new(key);
    check(&location, &key, &tip, recorded.as_ref())?;
    if let (Some(s), Trust::Record) = (&seen, trust) {
        // A home this user cannot write (a service reading a root-owned home) still works;
        // it only cannot move its record on.
        let (count, hash) = (tip.head.count, &tip.head.hash);
        if let Err(e) = s.record(key.store_id(), count, hash, false, count) {
            tracing::warn!("cannot record the store's audit head: {e}");
        }
    }
    let known = (tip.head.count, tip.head.hash.clone());
    table.set_audit_signer(Arc::new(AuditSigner::new(key.clone(), seen, known)));
    if trust == Trust::Record && tip.key_format != KEY_FORMAT_SEALED {
        seal_store(table, root, &key, &secret, &tip).await?;
    }
    Ok(key)
}

/// Seals the key rows of a store of the release before (see [`super::key_seal`]), after its
/// whole log verified: a log changed outside coffer is not vouched for.
async fn seal_store(
    table: &dyn KeyTable,
    root: &dyn RootKey,
    key: &AuditKey,
    secret: &[u8],
    tip: &AuditTip,
) -> Result<(), Error> {
    let location = table.location();
    let (Some(store_id), Some(wrapped)) = (&tip.store_id, &tip.wrapped_key) else {
        return Err(tampered(&location, "meta store_id is missing"));
    };
    let (entries, head) = table.whole_audit_log().await?;
    if let Verified::Bad { seq, why } = super::audit::verify(&entries, &head, key) {
        return Err(tampered(
            &location,
            &format!(
                "entry {seq} fails verification ({why}); its key rows were not sealed, and \
                 it is not used until the log is restored"
            ),
        ));
    }
    // A store whose key rows are sealed already holds their marker; the one of the
    // parameter rows comes after it.
    let keys_sealed = tip.key_format == KEY_FORMAT_KEYS_SEALED;
    if let Some(e) = entries.iter().find(|e| {
        e.verb == super::key_seal::STORE_SEAL_VERB
            && (!keys_sealed || e.name == super::param_seal::STORE_SEAL_NAME)
    }) {
        return Err(tampered(
            &location,
            &format!(
                "its audit key is wrapped as it was before entry {} sealed its rows: the old \
                 wrapping was put back, and the rows were not sealed again",
                e.seq
            ),
        ));
    }
    let rewrapped = root
        .wrap(secret, &key_aad(store_id, KEY_FORMAT_SEALED))
        .await?;
    let history = super::key_seal::History::from_entries(&entries);
    if table.seal_rows(wrapped, &rewrapped, &history).await? {
        tracing::info!(store = %location, "the store's rows are sealed from now on");
    }
    Ok(())
}

/// Makes the store's audit key (another process may make it first: then theirs is used).
async fn create(table: &dyn KeyTable, root: &dyn RootKey) -> Result<(), Error> {
    let mut id = [0u8; 16];
    coffer_core::fill_random(&mut id)?;
    let store_id = hex::encode(id);
    let secret = AuditSecret::generate()?;
    let wrapped = root
        .wrap(
            secret.expose_secret(),
            &key_aad(&store_id, KEY_FORMAT_SEALED),
        )
        .await?;
    let key = Arc::new(AuditKey::derive(secret.expose_secret(), &store_id)?);
    // The log is not keyed yet: what it says is only as good as its chain.
    let (entries, _) = table.whole_audit_log().await?;
    let history = super::key_seal::History::from_entries(&entries);
    if table
        .create_audit_key(&store_id, &wrapped, &key, &history)
        .await?
    {
        tracing::info!(store = %table.location(), "the store's audit log is keyed from now on");
    }
    Ok(())
}

async fn unwrap(
    location: &str,
    root: &dyn RootKey,
    tip: &AuditTip,
) -> Result<(zeroize::Zeroizing<Vec<u8>>, AuditKey), Error> {
    let (Some(store_id), Some(wrapped)) = (&tip.store_id, &tip.wrapped_key) else {
        return Err(tampered(location, "meta store_id is missing"));
    };
    let secret = root
        .unwrap(wrapped, &key_aad(store_id, tip.key_format))
        .await
        .map_err(|e| {
            tampered(
                location,
                "its audit key (meta audit_key, audit_key_format, store_id) does not unwrap \
                 under the root key",
            )
            .caused_by(e)
        })?;
    let key = AuditKey::derive(&secret, store_id)?;
    Ok((secret, key))
}

/// The checks of an open: the entry the home saw last is still there, unchanged; the head's
/// MAC; the last entry is the head.
fn check(
    location: &str,
    key: &AuditKey,
    tip: &AuditTip,
    recorded: Option<&Seen>,
) -> Result<(), Error> {
    // What the home saw first: a store turned back is the likelier story, and says more.
    if let Some(r) = recorded {
        check_seen(location, key.store_id(), tip, r)?;
    }
    let head = &tip.head;
    if !key.head_ok(head) {
        return Err(tampered(
            location,
            "its head (meta audit_count, audit_head) does not match its MAC: entries were \
             removed from its end, or the head was edited",
        ));
    }
    let last_ok = match &tip.last {
        None => head.count == 0,
        Some((seq, hash)) => *seq == head.count && coffer_core::ct_eq(hash, &head.hash),
    };
    if !last_ok {
        return Err(tampered(
            location,
            "its last entry is not the head its MAC names: entries were removed from its end \
             or added after it",
        ));
    }
    Ok(())
}

/// The checks against what the home saw: the same store, not shorter, the entry seen still
/// there unchanged.
fn check_seen(location: &str, store_id: &str, tip: &AuditTip, r: &Seen) -> Result<(), Error> {
    if r.store_id != store_id {
        return Err(turned_back(
            location,
            format!(
                "is not the store this home has used (store id {store_id}, not {}): it was \
                 replaced",
                r.store_id
            ),
            r,
        ));
    }
    if tip.head.count < r.seq {
        return Err(turned_back(
            location,
            format!(
                "was rolled back: its audit log ends at entry {}, before what this home has \
                 seen",
                tip.head.count
            ),
            r,
        ));
    }
    if r.seq > 0 && tip.at_seen.is_none() {
        return Err(turned_back(
            location,
            format!(
                "was cut short: its audit log no longer holds entry {}, which this home saw",
                r.seq
            ),
            r,
        ));
    }
    let same = r.seq == 0
        || tip
            .at_seen
            .as_deref()
            .is_some_and(|h| coffer_core::ct_eq(h, &r.head));
    if !same {
        return Err(turned_back(
            location,
            format!(
                "was forked: its audit log has another entry {} than the one this home saw",
                r.seq
            ),
            r,
        ));
    }
    Ok(())
}

/// The checks against the home's record that need no key, for commands that read without
/// opening the store's keys (`get` of a `string`, `ls`): a store replaced, rolled back or
/// forked in plain sight is refused. (A writer could make a store pass these; the keyed
/// checks of [`attach`], run by every write and every secure read, it cannot.)
///
/// # Errors
/// The store was replaced, rolled back or forked; store errors.
pub async fn precheck(table: &dyn KeyTable, seen: &SeenFile) -> Result<(), Error> {
    let Some(r) = seen.load()? else {
        return Ok(());
    };
    let tip = table.audit_tip(Some(r.seq)).await?;
    let location = table.location();
    let (Some(store_id), Some(_)) = (tip.store_id.as_deref(), &tip.wrapped_key) else {
        return Err(unkeyed_but_seen(&location, &r, Some(seen)));
    };
    check_seen(&location, store_id, &tip, &r)
}

/// The store's audit key as stored (wrapped by `old`) and wrapped by `new` instead (root
/// rotation).
///
/// # Errors
/// The store has no audit key, or it does not unwrap under `old`; `new` cannot wrap.
pub async fn rewrap(
    table: &dyn KeyTable,
    old: &dyn RootKey,
    new: &dyn RootKey,
) -> Result<(Vec<u8>, Vec<u8>), Error> {
    let location = table.location();
    let tip = table.audit_tip(None).await?;
    let (Some(store_id), Some(wrapped)) = (tip.store_id, tip.wrapped_key) else {
        return Err(tampered(&location, "meta audit_key is missing"));
    };
    let aad = key_aad(&store_id, tip.key_format);
    let secret = old.unwrap(&wrapped, &aad).await.map_err(|e| {
        tampered(
            &location,
            "its audit key (meta audit_key, store_id) does not unwrap under the root key",
        )
        .caused_by(e)
    })?;
    let rewrapped = new.wrap(&secret, &aad).await?;
    Ok((wrapped, rewrapped))
}

/// Opens the audit log of `table` under a fixed test root key, for tests of the store's rows
/// that do not go through a home.
///
/// # Panics
/// The log cannot be opened.
#[cfg(test)]
pub(crate) async fn attach_for_tests(table: &dyn KeyTable) {
    #[allow(clippy::unwrap_used, reason = "tests")]
    let root = coffer_core::keyring::LocalRootKey::new(&[0x42; 32]).unwrap();
    #[allow(clippy::unwrap_used, reason = "tests")]
    attach(table, &root, None, Trust::Record).await.unwrap();
}
