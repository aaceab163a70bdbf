//! Who is running: the OS user recorded as the author of versions and audit entries.

/// The OS user, as the kernel knows it: the name of the real uid (from the system's user
/// database, NSS included) and the uid, `alice (uid 1000)`; `uid 1000` when the uid has no
/// name. Never `$USER` or `$LOGNAME`, which whoever starts coffer may set to anything.
pub fn os_user() -> String {
    let uid = nix::unistd::getuid();
    match nix::unistd::User::from_uid(uid) {
        Ok(Some(u)) if !u.name.is_empty() => format!("{} (uid {uid})", u.name),
        _ => format!("uid {uid}"),
    }
}
