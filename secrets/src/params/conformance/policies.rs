//! The conformance case of path policies ([`crate::params::policy`]).

use super::*;

/// Keys recorded as a key file of an absolute path, as a policy names them.
fn file_keys(seed: u8) -> Arc<dyn ValueKeys> {
    let ring: Arc<dyn Keyring> =
        Arc::new(RawAesKeyring::new("coffer-test", "k", &[seed; 32]).unwrap());
    Arc::new(FixedKeys::new(ring, format!("aes:/keys/test-{seed}")))
}

fn secure(s: &Params, name: &str, value: &str, expect: Expect) -> ParamResult<VersionMeta> {
    block_on(s.put(req(name, ParamType::SecureString, value, expect)))
}

/// Policies are set, replaced, listed and removed; a write at or below one takes its key and
/// refuses another (in the store's write transaction too); a read refuses a secure version
/// under another key; a change that would leave a value under another key than the policies
/// give it is refused.
pub(super) fn policies(open: &Open) {
    let one = Params::new(open(), file_keys(1), DEFAULT_MAX_VALUE_BYTES);
    let two = Params::new(open(), file_keys(2), DEFAULT_MAX_VALUE_BYTES);
    let k1 = "aes:/keys/test-1";
    let k2 = "aes:/keys/test-2";
    assert!(block_on(one.policies()).unwrap().is_empty());
    secure(&two, "/prod/old", "under two", Expect::New).unwrap();

    // The key must load, name a file by its absolute path, and nothing at or below the path
    // may be under another key.
    assert!(block_on(one.set_policy(&p("/prod"), "aes:/keys/test-9", "t")).is_err());
    let e = block_on(one.set_policy(&p("/prod"), "aes:test-1", "t")).unwrap_err();
    assert!(e.to_string().contains("absolute path"), "{e}");
    let e = block_on(one.set_policy(&p("/prod"), k1, "t")).unwrap_err();
    assert!(matches!(e, Error::Conflict(_)), "{e}");
    assert!(
        e.to_string()
            .contains("/prod/old (aes:/keys/test-2, not aes:/keys/test-1)"),
        "{e}"
    );
    block_on(two.opened_store().delete(&n("/prod/old"), 1)).unwrap();
    // Deleted parameters are in the way too (a restore would bring them back).
    assert!(block_on(one.set_policy(&p("/prod"), k1, "t")).is_err());
    block_on(two.opened_store().destroy(&n("/prod/old"), None, 1)).unwrap();

    let (set, old) = block_on(one.set_policy(&p("/prod"), k1, "ann")).unwrap();
    assert!(old.is_none());
    assert_eq!(set.key, k1);
    // Another handle sees it; the same policy again changes nothing.
    let listed = block_on(two.policies()).unwrap();
    assert_eq!(listed.iter().collect::<Vec<_>>(), [&set]);
    let again = Params::new(open(), file_keys(1), DEFAULT_MAX_VALUE_BYTES);
    let (_, same) = block_on(again.set_policy(&p("/prod"), k1, "bob")).unwrap();
    assert_eq!(same.as_ref(), Some(&set));
    assert_eq!(
        block_on(one.policies()).unwrap().at(&p("/prod")),
        Some(&set)
    );

    let written = secure(&one, "/prod/a", "a", Expect::New).unwrap();
    assert_eq!(written.key_ref.as_deref(), Some(k1));
    let e = secure(&two, "/prod/b", "b", Expect::New).unwrap_err();
    assert!(
        matches!(&e, Error::PolicyKey { write: true, want, found, .. }
            if want == k1 && found == k2),
        "{e}"
    );
    assert!(matches!(get(&one, "/prod/b"), Err(Error::NotFound(_))));
    // The store checks again in its transaction: a message made under another key, given
    // to it directly, is refused.
    let raw = NewVersion {
        name: n("/prod/c"),
        version: 1,
        expect: Expect::New,
        param_type: ParamType::SecureString,
        value: StoredValue::Sealed(vec![1, 2, 3]),
        description: None,
        tags: BTreeMap::new(),
        labels: vec![],
        created_at: 0,
        expires_at: None,
        author: "mallory".into(),
        key_ref: Some(k2.to_owned()),
    };
    let e = block_on(one.opened_store().put(raw)).unwrap_err();
    assert!(matches!(&e, Error::PolicyKey { write: true, .. }), "{e}");
    secure(&two, "/dev/b", "b", Expect::New).unwrap();
    put(&two, "/prod/flag", "on", Expect::New).unwrap();
    assert_eq!(get(&two, "/prod/flag").unwrap(), "on");

    // A value under key two planted below the path (written while no policy stood) is not
    // read, by anyone.
    let removed = block_on(one.remove_policy(&p("/prod"))).unwrap();
    assert_eq!(removed, set);
    secure(&two, "/prod/planted", "planted", Expect::New).unwrap();
    let e = block_on(one.set_policy(&p("/prod"), k1, "ann")).unwrap_err();
    assert!(e.to_string().contains("/prod/planted"), "{e}");
    block_on(one.opened_store().set_policy(
        &Policy {
            path: p("/prod"),
            key: k1.to_owned(),
            created_at: 1,
            author: "ann".to_owned(),
        },
        &[],
    ))
    .expect_err("the store refuses it too, in its transaction");
    // Only a policy of one parameter can be added over it: the rest of /prod is under one.
    block_on(two.set_policy(&p("/prod/planted"), k2, "bob")).unwrap();
    block_on(one.set_policy(&p("/prod"), k1, "ann")).unwrap();
    assert_eq!(get(&two, "/prod/planted").unwrap(), "planted");
    // Removing the policy of one parameter would leave it under the wrong key for /prod.
    let e = block_on(one.remove_policy(&p("/prod/planted"))).unwrap_err();
    assert!(matches!(e, Error::Conflict(_)), "{e}");
    // A version written before under another key is refused by every reader.
    secure(&one, "/prod/a", "a2", Expect::Version(1)).unwrap();
    assert_eq!(get(&one, "/prod/a").unwrap(), "a2");
    assert!(get(&one, "/prod/a:1").is_ok());
    block_on(one.remove_policy(&p("/prod"))).unwrap();
    block_on(two.remove_policy(&p("/prod/planted"))).unwrap();
    secure(&two, "/prod/a", "a3 under two", Expect::Version(2)).unwrap();
    block_on(two.set_policy(&p("/prod/a"), k2, "bob")).unwrap();
    let e = block_on(one.set_policy(&p("/prod"), k1, "ann")).unwrap_err();
    assert!(e.to_string().contains("/prod/planted"), "{e}");
    // The policy is checked before any key is tried: every reader refuses it alike.
    for s in [&one, &two] {
        let e = get(s, "/prod/a:1").unwrap_err();
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
    }
    assert_eq!(get(&two, "/prod/a").unwrap(), "a3 under two");
    let e = block_on(one.remove_policy(&p("/nothing"))).unwrap_err();
    assert!(matches!(e, Error::Missing(_)), "{e}");
    let paths: Vec<String> = block_on(one.policies())
        .unwrap()
        .iter()
        .map(|p| p.path.to_string())
        .collect();
    assert_eq!(paths, ["/prod/a"]);
}
