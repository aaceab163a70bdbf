//! The conformance case of path policies ([`crate::params::policy`]).

use super::*;

fn secure(s: &Params, name: &str, value: &str, expect: Expect) -> ParamResult<VersionMeta> {
    block_on(s.put(req(name, ParamType::SecureString, value, expect)))
}

/// Policies are set, replaced, listed and removed; a write below one takes its key and
/// refuses another; a read refuses a secure version under another key.
pub(super) fn policies(open: &Open) {
    let one = Params::new(open(), aes_keys(1), DEFAULT_MAX_VALUE_BYTES);
    let two = Params::new(open(), aes_keys(2), DEFAULT_MAX_VALUE_BYTES);
    assert!(block_on(one.policies()).unwrap().is_empty());
    secure(&two, "/prod/old", "under two", Expect::New).unwrap();

    // The key must load, and nothing below the path may be under another key.
    assert!(block_on(one.set_policy(&p("/prod"), "aes:test-9", "t")).is_err());
    let e = block_on(one.set_policy(&p("/prod"), "aes:test-1", "t")).unwrap_err();
    assert!(matches!(e, Error::Conflict(_)), "{e}");
    assert!(e.to_string().contains("/prod/old (aes:test-2)"), "{e}");
    block_on(two.opened_store().delete(&n("/prod/old"), 1)).unwrap();

    let (set, old) = block_on(one.set_policy(&p("/prod"), "aes:test-1", "ann")).unwrap();
    assert!(old.is_none());
    assert_eq!(set.key, "aes:test-1");
    // Another handle sees it.
    let listed = block_on(two.policies()).unwrap();
    assert_eq!(listed.iter().collect::<Vec<_>>(), [&set]);

    let written = secure(&one, "/prod/a", "a", Expect::New).unwrap();
    assert_eq!(written.key_ref.as_deref(), Some("aes:test-1"));
    let e = secure(&two, "/prod/b", "b", Expect::New).unwrap_err();
    assert!(
        matches!(&e, Error::PolicyKey { write: true, want, found, .. }
            if want == "aes:test-1" && found == "aes:test-2"),
        "{e}"
    );
    assert!(matches!(get(&one, "/prod/b"), Err(Error::NotFound(_))));
    secure(&two, "/dev/b", "b", Expect::New).unwrap();
    put(&two, "/prod/flag", "on", Expect::New).unwrap();
    assert_eq!(get(&two, "/prod/flag").unwrap(), "on");

    // The version under key two, restored below the path, is not read (by anyone).
    block_on(one.opened_store().restore(&n("/prod/old"))).unwrap();
    for s in [&one, &two] {
        let e = get(s, "/prod/old").unwrap_err();
        assert!(
            matches!(
                &e,
                Error::PolicyKey {
                    write: false,
                    version: Some(1),
                    ..
                }
            ),
            "{e}"
        );
        assert!(block_on(s.read_path(&p("/prod"), true)).is_err());
    }

    // Replaced, then removed.
    let (_, old) = block_on(two.set_policy(&p("/dev"), "aes:test-2", "bob")).unwrap();
    assert!(old.is_none());
    let paths: Vec<String> = block_on(one.policies())
        .unwrap()
        .iter()
        .map(|p| p.path.to_string())
        .collect();
    assert_eq!(paths, ["/dev", "/prod"]);
    let removed = block_on(one.remove_policy(&p("/prod"))).unwrap();
    assert_eq!(removed.key, "aes:test-1");
    let e = block_on(one.remove_policy(&p("/prod"))).unwrap_err();
    assert!(matches!(e, Error::Missing(_)), "{e}");
    assert_eq!(get(&two, "/prod/old").unwrap(), "under two");
    assert_eq!(block_on(one.policies()).unwrap().iter().count(), 1);
}
