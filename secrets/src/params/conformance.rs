//! The store conformance suite, written once over `&dyn ParamStore` (and [`Params`] over
//! it): every backend runs [`run_all`] with a factory of fresh, empty stores. A factory
//! returns an `open` function; each call of `open` is another handle (connection) on the same
//! store, as another process would have.

#![allow(clippy::unwrap_used, clippy::panic, reason = "tests")]

use std::collections::BTreeMap;
use std::sync::Arc;

use coffer_core::keyring::{BoxFuture, Keyring, RawAesKeyring};
use futures::executor::block_on;
use zeroize::Zeroizing;

use super::*;

mod policies;

/// Opens another handle on one store.
pub(crate) type Open = Box<dyn Fn() -> Arc<dyn ParamStore> + Send + Sync>;

/// One case.
pub(crate) type Case = fn(&Open);

/// The cases, by name.
pub(crate) const CASES: &[(&str, Case)] = &[
    ("versions_and_selectors", versions_and_selectors),
    ("expectations", expectations),
    ("labels", labels),
    ("listing", listing),
    ("get_by_path", get_by_path),
    ("never_pending", never_pending),
    ("delete_restore_destroy", delete_restore_destroy),
    ("history_keeps_metadata", history_keeps_metadata),
    ("secure_values", secure_values),
    ("copied_blobs_fail", copied_blobs_fail),
    ("wrong_or_missing_key", wrong_or_missing_key),
    ("strings_need_no_key", strings_need_no_key),
    ("expiry", expiry),
    ("racing_writers", racing_writers),
    ("racing_check_and_set", racing_check_and_set),
    ("batches", batches),
    ("racing_batches", racing_batches),
    ("promote", promote),
    ("types_are_kept", types_are_kept),
    ("policies", policies::policies),
];

/// Runs every case on a fresh store from `fresh`.
pub(crate) fn run_all(fresh: &dyn Fn() -> Open) {
    for (name, case) in CASES {
        eprintln!("conformance: {name}");
        case(&fresh());
    }
}

fn n(s: &str) -> ParamName {
    ParamName::parse(s).unwrap()
}

fn p(s: &str) -> ParamPath {
    ParamPath::parse(s).unwrap()
}

fn l(s: &str) -> Label {
    Label::parse(s).unwrap()
}

fn secret(s: &str) -> SecretValue {
    SecretValue::new(Zeroizing::new(s.to_owned()))
}

fn aes_keys(seed: u8) -> Arc<dyn ValueKeys> {
    let ring: Arc<dyn Keyring> =
        Arc::new(RawAesKeyring::new("coffer-test", "k", &[seed; 32]).unwrap());
    Arc::new(FixedKeys::new(ring, format!("aes:test-{seed}")))
}

/// Keys that must not be used.
#[derive(Debug)]
struct NoKeys;

impl ValueKeys for NoKeys {
    fn encrypt_keyring(&self) -> BoxFuture<'_, ParamResult<(Arc<dyn Keyring>, String)>> {
        panic!("a key was asked for")
    }
    fn decrypt_keyring(&self) -> BoxFuture<'_, ParamResult<Arc<dyn Keyring>>> {
        panic!("a key was asked for")
    }
}

fn service(open: &Open) -> Params {
    Params::new(open(), aes_keys(7), DEFAULT_MAX_VALUE_BYTES)
}

fn req(name: &str, t: ParamType, value: &str, expect: Expect) -> PutRequest {
    PutRequest {
        name: n(name),
        param_type: t,
        value: secret(value),
        expect,
        labels: Vec::new(),
        description: None,
        tags: BTreeMap::new(),
        expires_at: None,
        author: "tester".into(),
    }
}

fn put(s: &Params, name: &str, value: &str, expect: Expect) -> ParamResult<VersionMeta> {
    block_on(s.put(req(name, ParamType::String, value, expect)))
}

fn get(s: &Params, sel: &str) -> ParamResult<String> {
    block_on(s.get(&Selector::parse(sel).unwrap())).map(|p| p.value.expose().to_owned())
}

fn versions_and_selectors(open: &Open) {
    let s = service(open);
    let m = put(&s, "/a/x", "one", Expect::New).unwrap();
    assert_eq!((m.version, m.author.as_str()), (1, "tester"));
    assert_eq!(put(&s, "/a/x", "two", Expect::Any).unwrap().version, 2);
    assert_eq!(
        put(&s, "/a/x", "three", Expect::Version(2))
            .unwrap()
            .version,
        3
    );
    assert_eq!(get(&s, "/a/x").unwrap(), "three");
    assert_eq!(get(&s, "/a/x:1").unwrap(), "one");
    assert_eq!(get(&s, "a/x:2").unwrap(), "two");
    assert!(matches!(
        get(&s, "/a/x:4"),
        Err(Error::NoVersion {
            version: 4,
            latest: 3,
            ..
        })
    ));
    assert!(matches!(get(&s, "/a/x:nope"), Err(Error::NoLabel { .. })));
    assert!(matches!(get(&s, "/a/y"), Err(Error::NotFound(_))));
    // A new parameter with --overwrite is fine.
    assert_eq!(put(&s, "/a/new", "v", Expect::Any).unwrap().version, 1);
    // The state.
    let st = block_on(s.opened_store().state(&n("/a/x")))
        .unwrap()
        .unwrap();
    assert_eq!((st.latest, st.deleted_at), (3, None));
    assert!(
        block_on(s.opened_store().state(&n("/a/zz")))
            .unwrap()
            .is_none()
    );
    // Unicode and an empty value round-trip.
    put(&s, "/a/u", "é ✓\nline", Expect::New).unwrap();
    assert_eq!(get(&s, "/a/u").unwrap(), "é ✓\nline");
    put(&s, "/a/e", "", Expect::New).unwrap();
    assert_eq!(get(&s, "/a/e").unwrap(), "");
}

fn expectations(open: &Open) {
    let s = service(open);
    put(&s, "/e", "1", Expect::New).unwrap();
    assert!(matches!(
        put(&s, "/e", "2", Expect::New),
        Err(Error::Exists { latest: 1, .. })
    ));
    assert!(matches!(
        put(&s, "/e", "2", Expect::Version(2)),
        Err(Error::VersionMismatch {
            expected: 2,
            actual: Some(1),
            ..
        })
    ));
    assert!(matches!(
        put(&s, "/none", "2", Expect::Version(1)),
        Err(Error::VersionMismatch { actual: None, .. })
    ));
    // A write for a stale version is answered Stale (only with Expect::Any), and nothing
    // changes.
    let stale = NewVersion {
        name: n("/e"),
        version: 1,
        expect: Expect::Any,
        param_type: ParamType::String,
        value: StoredValue::Clear(secret("x")),
        description: None,
        tags: BTreeMap::new(),
        labels: vec![],
        created_at: 0,
        expires_at: None,
        author: "t".into(),
        key_ref: None,
    };
    assert_eq!(
        block_on(s.opened_store().put(stale)).unwrap(),
        PutOutcome::Stale { latest: 1 }
    );
    assert_eq!(get(&s, "/e").unwrap(), "1");
    // A value over the limit.
    let small = Params::new(open(), aes_keys(7), 3);
    assert!(matches!(
        put(&small, "/big", "abcd", Expect::New),
        Err(Error::TooLarge {
            len: ValueLen::Exact(4),
            max: 3
        })
    ));
    assert!(
        block_on(s.opened_store().state(&n("/big")))
            .unwrap()
            .is_none()
    );
}

fn labels(open: &Open) {
    let s = service(open);
    let mut r = req("/l", ParamType::String, "v1", Expect::New);
    r.labels = vec![l("current"), l("first")];
    assert_eq!(block_on(s.put(r)).unwrap().labels, ["current", "first"]);
    let mut r = req("/l", ParamType::String, "v2", Expect::Any);
    r.labels = vec![l("current")];
    block_on(s.put(r)).unwrap();
    assert_eq!(get(&s, "/l:current").unwrap(), "v2");
    assert_eq!(get(&s, "/l:first").unwrap(), "v1");
    // label moves it back.
    let moves = block_on(
        s.opened_store()
            .label(&n("/l"), 1, &[l("current"), l("new")]),
    )
    .unwrap();
    assert_eq!(
        moves,
        [
            LabelMove {
                label: l("current"),
                from: Some(2),
                to: 1
            },
            LabelMove {
                label: l("new"),
                from: None,
                to: 1
            }
        ]
    );
    assert_eq!(get(&s, "/l:current").unwrap(), "v1");
    assert!(matches!(
        block_on(s.opened_store().label(&n("/l"), 9, &[l("x")])),
        Err(Error::NoVersion { .. })
    ));
    // unlabel: all or nothing.
    assert!(matches!(
        block_on(s.opened_store().unlabel(&n("/l"), &[l("new"), l("absent")])),
        Err(Error::NoLabel { .. })
    ));
    assert_eq!(get(&s, "/l:new").unwrap(), "v1");
    let removed = block_on(s.opened_store().unlabel(&n("/l"), &[l("new")])).unwrap();
    assert_eq!(removed, [(l("new"), 1)]);
    assert!(matches!(get(&s, "/l:new"), Err(Error::NoLabel { .. })));
    let (_, h) = block_on(s.opened_store().history(&n("/l"))).unwrap();
    assert_eq!(h[0].labels, ["current", "first"]);
    assert!(h[1].labels.is_empty());
    assert!(matches!(
        block_on(s.opened_store().label(&n("/nope"), 1, &[l("x")])),
        Err(Error::NotFound(_))
    ));
}

fn names_of(listing: &Listing) -> Vec<&str> {
    listing
        .params
        .iter()
        .map(|p| p.latest.name.as_str())
        .collect()
}

fn listing(open: &Open) {
    let s = service(open);
    for name in [
        "/top",
        "/a/b",
        "/a/b/c",
        "/a/b/c/d",
        "/a/b_c",
        "/a/bc",
        "/a/b-c/x",
        "/a/b/e/f/g",
    ] {
        put(&s, name, "v", Expect::New).unwrap();
    }
    let st = s.opened_store();
    let root = block_on(st.list(&p("/"), false)).unwrap();
    assert_eq!(names_of(&root), ["/top"]);
    assert_eq!(root.subpaths, [p("/a")]);
    let a = block_on(st.list(&p("/a"), false)).unwrap();
    assert_eq!(names_of(&a), ["/a/b", "/a/b_c", "/a/bc"]);
    assert_eq!(a.subpaths, [p("/a/b"), p("/a/b-c")]);
    let ab = block_on(st.list(&p("/a/b/"), false)).unwrap();
    assert_eq!(names_of(&ab), ["/a/b/c"]);
    assert_eq!(ab.subpaths, [p("/a/b/c"), p("/a/b/e")]);
    let abr = block_on(st.list(&p("/a/b"), true)).unwrap();
    assert_eq!(names_of(&abr), ["/a/b/c", "/a/b/c/d", "/a/b/e/f/g"]);
    assert!(abr.subpaths.is_empty());
    let all = block_on(st.list(&p("/"), true)).unwrap();
    assert_eq!(all.params.len(), 8);
    assert!(names_of(&block_on(st.list(&p("/zz"), true)).unwrap()).is_empty());
    // A deleted parameter is not listed.
    block_on(st.delete(&n("/a/bc"), 5)).unwrap();
    let a = block_on(st.list(&p("/a"), false)).unwrap();
    assert_eq!(names_of(&a), ["/a/b", "/a/b_c"]);
    let summary = &a.params[0];
    assert_eq!(summary.latest.version, 1);
}

fn get_by_path(open: &Open) {
    let s = service(open);
    put(&s, "/app/prod/db-password", "pw1", Expect::New).unwrap();
    put(&s, "/app/prod/db-password", "pw2", Expect::Any).unwrap();
    block_on(s.put(req(
        "/app/prod/api-key",
        ParamType::SecureString,
        "k",
        Expect::New,
    )))
    .unwrap();
    put(&s, "/app/prod/deep/x", "d", Expect::New).unwrap();
    put(&s, "/app/prod/gone", "g", Expect::New).unwrap();
    put(&s, "/app/prod/destroyed", "g", Expect::New).unwrap();
    put(&s, "/app/production", "no", Expect::New).unwrap();
    block_on(s.opened_store().delete(&n("/app/prod/gone"), 1)).unwrap();
    block_on(
        s.opened_store()
            .destroy(&n("/app/prod/destroyed"), Some(1), 1),
    )
    .unwrap();
    // A parameter whose current value was destroyed is not left out in silence.
    let read = block_on(s.read_path(&p("/app/prod"), false)).unwrap();
    assert!(matches!(
        read.unreadable.as_slice(),
        [Error::Destroyed { version: 1, current: true, name, .. }]
            if name.as_str() == "/app/prod/destroyed"
    ));
    assert!(matches!(
        block_on(s.get_by_path(&p("/app/prod"), false)),
        Err(Error::Destroyed { current: true, .. })
    ));
    block_on(s.opened_store().destroy(&n("/app/prod/destroyed"), None, 1)).unwrap();
    let got = block_on(s.get_by_path(&p("/app/prod"), false)).unwrap();
    let pairs: Vec<(&str, u32, &str)> = got
        .iter()
        .map(|p| (p.meta.name.as_str(), p.meta.version, p.value.expose()))
        .collect();
    assert_eq!(
        pairs,
        [
            ("/app/prod/api-key", 1, "k"),
            ("/app/prod/db-password", 2, "pw2")
        ]
    );
    let got = block_on(s.get_by_path(&p("/app/prod"), true)).unwrap();
    let names: Vec<&str> = got.iter().map(|p| p.meta.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "/app/prod/api-key",
            "/app/prod/db-password",
            "/app/prod/deep/x"
        ]
    );
    assert!(
        block_on(s.get_by_path(&p("/nothing"), true))
            .unwrap()
            .is_empty()
    );
}

fn delete_restore_destroy(open: &Open) {
    let s = service(open);
    let st = s.opened_store();
    put(&s, "/d", "1", Expect::New).unwrap();
    put(&s, "/d", "2", Expect::Any).unwrap();
    block_on(st.delete(&n("/d"), 100)).unwrap();
    assert!(matches!(get(&s, "/d"), Err(Error::Deleted { at: 100, .. })));
    assert!(matches!(
        put(&s, "/d", "3", Expect::Any),
        Err(Error::Deleted { .. })
    ));
    assert!(matches!(
        block_on(st.delete(&n("/d"), 101)),
        Err(Error::Deleted { .. })
    ));
    assert!(matches!(
        block_on(st.label(&n("/d"), 1, &[l("x")])),
        Err(Error::Deleted { .. })
    ));
    // The history is still there.
    let (state, h) = block_on(st.history(&n("/d"))).unwrap();
    assert_eq!((state.deleted_at, h.len()), (Some(100), 2));
    block_on(st.restore(&n("/d"))).unwrap();
    assert!(matches!(
        block_on(st.restore(&n("/d"))),
        Err(Error::NotDeleted(_))
    ));
    assert_eq!(get(&s, "/d").unwrap(), "2");
    // Destroy one version: its value goes, its history and numbering stay.
    block_on(st.label(&n("/d"), 1, &[l("old")])).unwrap();
    let d = block_on(st.destroy(&n("/d"), Some(1), 200)).unwrap();
    assert_eq!((d.versions.as_slice(), d.whole), (&[1][..], false));
    assert!(matches!(
        get(&s, "/d:1"),
        Err(Error::Destroyed {
            version: 1,
            at: 200,
            ..
        })
    ));
    assert!(matches!(get(&s, "/d:old"), Err(Error::NoLabel { .. })));
    assert!(matches!(
        block_on(st.destroy(&n("/d"), Some(1), 201)),
        Err(Error::Destroyed { .. })
    ));
    assert!(matches!(
        block_on(st.label(&n("/d"), 1, &[l("x")])),
        Err(Error::Destroyed { .. })
    ));
    let (_, h) = block_on(st.history(&n("/d"))).unwrap();
    assert_eq!(h[0].destroyed_at, Some(200));
    assert_eq!(get(&s, "/d").unwrap(), "2");
    assert_eq!(put(&s, "/d", "3", Expect::Any).unwrap().version, 3);
    // Destroying the current version: get and get_by_path say so (never another version).
    block_on(st.destroy(&n("/d"), Some(3), 202)).unwrap();
    let e = get(&s, "/d").unwrap_err();
    assert!(
        matches!(
            e,
            Error::Destroyed {
                version: 3,
                current: true,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(
        e.to_string()
            .starts_with("the current version 3 of /d was destroyed"),
        "{e}"
    );
    let read = block_on(s.read_path(&p("/"), false)).unwrap();
    assert!(read.values.is_empty());
    assert_eq!(read.unreadable.len(), 1);
    assert_eq!(put(&s, "/d", "4", Expect::Any).unwrap().version, 4);
    // Destroy the whole parameter, deleted or not: the name is free again.
    block_on(st.delete(&n("/d"), 300)).unwrap();
    let d = block_on(st.destroy(&n("/d"), None, 301)).unwrap();
    assert_eq!((d.versions.as_slice(), d.whole), (&[2, 4][..], true));
    assert!(matches!(get(&s, "/d"), Err(Error::NotFound(_))));
    assert!(matches!(
        block_on(st.history(&n("/d"))),
        Err(Error::NotFound(_))
    ));
    assert_eq!(put(&s, "/d", "again", Expect::New).unwrap().version, 1);
    assert!(matches!(
        block_on(st.destroy(&n("/zz"), None, 1)),
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        block_on(st.destroy(&n("/d"), Some(7), 1)),
        Err(Error::NoVersion { .. })
    ));
}

fn types_are_kept(open: &Open) {
    let s = service(open);
    block_on(s.put(req("/t", ParamType::String, "a", Expect::New))).unwrap();
    let secure = |e| req("/t", ParamType::SecureString, "b", e);
    // Refused whether the write names the version or not; nothing is written.
    for e in [Expect::Any, Expect::Version(1)] {
        assert!(matches!(
            block_on(s.put(secure(e))),
            Err(Error::TypeChange {
                version: 1,
                latest_type: ParamType::String,
                new_type: ParamType::SecureString,
                ..
            })
        ));
    }
    // Keep over a clear version: refused (a row's type never decides that a value is
    // stored in the clear); over a secure one, the latest version's type.
    assert!(matches!(
        block_on(s.put_with(secure(Expect::Any), TypeRule::Keep)),
        Err(Error::ClearNotAsked {
            version: 1,
            latest_type: ParamType::String,
            ..
        })
    ));
    let kept = block_on(s.put_with(
        req("/t", ParamType::String, "b", Expect::Any),
        TypeRule::Same,
    ))
    .unwrap();
    assert_eq!((kept.version, kept.param_type), (2, ParamType::String));
    let changed = block_on(s.put_with(secure(Expect::Version(2)), TypeRule::Change)).unwrap();
    assert_eq!(
        (changed.version, changed.param_type),
        (3, ParamType::SecureString)
    );
    let kept = block_on(s.put_with(
        req("/t", ParamType::String, "c", Expect::Any),
        TypeRule::Keep,
    ))
    .unwrap();
    assert_eq!(
        (kept.version, kept.param_type),
        (4, ParamType::SecureString)
    );
    // A first version takes the request's type under any rule.
    let first = block_on(s.put_with(
        req("/t2", ParamType::StringList, "x", Expect::Any),
        TypeRule::Keep,
    ))
    .unwrap();
    assert_eq!(first.param_type, ParamType::StringList);
    // No NUL byte is ever stored.
    assert!(matches!(
        block_on(s.put(req("/t3", ParamType::String, "a\0b", Expect::New))),
        Err(Error::BadValue(m)) if m.contains("NUL")
    ));
    assert!(matches!(
        block_on(s.opened_store().state(&n("/t3"))),
        Ok(None)
    ));
}

fn history_keeps_metadata(open: &Open) {
    let s = service(open);
    let mut r = req("/h", ParamType::StringList, "a,b", Expect::New);
    r.description = Some("first".into());
    r.tags = BTreeMap::from([("team".to_owned(), "x".to_owned())]);
    r.expires_at = Some(i64::MAX / 2);
    block_on(s.put(r)).unwrap();
    // A change of type is refused unless asked for.
    let secure = || req("/h", ParamType::SecureString, "s", Expect::Any);
    assert!(matches!(
        block_on(s.put(secure())),
        Err(Error::TypeChange {
            version: 1,
            latest_type: ParamType::StringList,
            ..
        })
    ));
    block_on(s.put_with(secure(), TypeRule::Change)).unwrap();
    let (state, h) = block_on(s.opened_store().history(&n("/h"))).unwrap();
    assert_eq!(state.latest, 2);
    assert_eq!(h.len(), 2);
    assert_eq!(h[0].param_type, ParamType::StringList);
    assert_eq!(h[0].description.as_deref(), Some("first"));
    assert_eq!(h[0].tags.get("team").map(String::as_str), Some("x"));
    assert_eq!(h[0].expires_at, Some(i64::MAX / 2));
    assert_eq!(h[0].key_ref, None);
    assert_eq!(h[1].param_type, ParamType::SecureString);
    assert_eq!(h[1].key_ref.as_deref(), Some("aes:test-7"));
    assert!(h[1].created_at >= h[0].created_at);
}

fn secure_values(open: &Open) {
    let s = service(open);
    block_on(s.put(req("/s", ParamType::SecureString, "hunter2", Expect::New))).unwrap();
    let stored = block_on(s.opened_store().get(&n("/s"), &Which::Latest)).unwrap();
    let StoredValue::Sealed(msg) = &stored.value else {
        panic!("not sealed: {stored:?}")
    };
    assert!(!msg.windows(7).any(|w| w == b"hunter2"));
    let header = coffer_core::inspect(&mut msg.as_slice()).unwrap();
    assert_eq!(header.suite.id(), 0x0478);
    assert_eq!(header.context.get(CONTEXT_NAME), Some("/s"));
    assert_eq!(header.context.get(CONTEXT_VERSION), Some("1"));
    assert_eq!(get(&s, "/s").unwrap(), "hunter2");
    assert!(!format!("{stored:?}").contains("hunter2"));
}

/// Writes the stored value `value` as the next version of `name`, as a tamperer with write
/// access to the store would.
fn write_raw(st: &dyn ParamStore, name: &str, value: StoredValue) -> u32 {
    let latest = block_on(st.state(&n(name)))
        .unwrap()
        .map_or(0, |s| s.latest);
    let new = NewVersion {
        name: n(name),
        version: latest + 1,
        expect: Expect::Any,
        param_type: ParamType::SecureString,
        value,
        description: None,
        tags: BTreeMap::new(),
        labels: vec![],
        created_at: 0,
        expires_at: None,
        author: "mallory".into(),
        key_ref: None,
    };
    match block_on(st.put(new)).unwrap() {
        PutOutcome::Written(m) => m.version,
        PutOutcome::Stale { .. } => panic!("stale"),
    }
}

fn copied_blobs_fail(open: &Open) {
    let s = service(open);
    block_on(s.put(req("/c/a", ParamType::SecureString, "A", Expect::New))).unwrap();
    block_on(s.put(req("/c/b", ParamType::SecureString, "B", Expect::New))).unwrap();
    let a1 = block_on(s.opened_store().get(&n("/c/a"), &Which::Latest))
        .unwrap()
        .value;
    // To another name, and to another version of the same name.
    let v = write_raw(s.opened_store(), "/c/b", a1.clone());
    assert_eq!(v, 2);
    let e = get(&s, "/c/b").unwrap_err();
    assert!(
        matches!(&e, Error::WrongRow { found, .. } if found == "/c/a:1"),
        "{e}"
    );
    let v = write_raw(s.opened_store(), "/c/a", a1);
    assert_eq!(v, 2);
    assert!(matches!(get(&s, "/c/a"), Err(Error::WrongRow { .. })));
    assert!(block_on(s.get_by_path(&p("/c"), false)).is_err());
    // The originals still read.
    assert_eq!(get(&s, "/c/a:1").unwrap(), "A");
    assert_eq!(get(&s, "/c/b:1").unwrap(), "B");
    // Garbage.
    write_raw(
        s.opened_store(),
        "/c/b",
        StoredValue::Sealed(b"garbage".to_vec()),
    );
    assert!(matches!(get(&s, "/c/b"), Err(Error::Decrypt { .. })));
}

fn wrong_or_missing_key(open: &Open) {
    let s = service(open);
    block_on(s.put(req("/w", ParamType::SecureString, "v", Expect::New))).unwrap();
    let other = Params::new(open(), aes_keys(8), DEFAULT_MAX_VALUE_BYTES);
    let e = get(&other, "/w").unwrap_err();
    assert!(
        matches!(&e, Error::Decrypt { key_ref: Some(k), .. } if k == "aes:test-7"),
        "{e}"
    );
}

fn strings_need_no_key(open: &Open) {
    let s = service(open);
    put(&s, "/plain/a", "visible", Expect::New).unwrap();
    block_on(s.put(req("/plain/b", ParamType::StringList, "x,y", Expect::New))).unwrap();
    let nokey = Params::new(open(), Arc::new(NoKeys), DEFAULT_MAX_VALUE_BYTES);
    assert_eq!(get(&nokey, "/plain/a").unwrap(), "visible");
    assert_eq!(
        block_on(nokey.get_by_path(&p("/plain"), false))
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        put(&nokey, "/plain/a", "v2", Expect::Any).unwrap().version,
        2
    );
}

fn expiry(open: &Open) {
    let s = service(open);
    let now = crate::time::now_unix();
    let mut r = req("/x/old", ParamType::String, "stale", Expect::New);
    r.expires_at = Some(now - 10);
    block_on(s.put(r)).unwrap();
    let mut r = req("/x/new", ParamType::String, "fresh", Expect::New);
    r.expires_at = Some(now + 3600);
    block_on(s.put(r)).unwrap();
    let e = get(&s, "/x/old").unwrap_err();
    assert!(matches!(e, Error::Expired { at, version: 1, .. } if at == now - 10));
    assert!(e.to_string().contains("expired at"), "{e}");
    assert_eq!(get(&s, "/x/new").unwrap(), "fresh");
    // get_by_path returns both; the caller decides.
    let all = block_on(s.get_by_path(&p("/x"), false)).unwrap();
    let expired: Vec<bool> = all.iter().map(|p| p.meta.is_expired(now)).collect();
    assert_eq!(expired, [false, true]);
}

fn racing_writers(open: &Open) {
    const EACH: u32 = 60;
    let keys = aes_keys(7);
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let s = Params::new(open(), keys.clone(), DEFAULT_MAX_VALUE_BYTES);
            std::thread::spawn(move || {
                for i in 0..EACH {
                    let value = format!("w{w}-{i}");
                    block_on(s.put(req("/race", ParamType::SecureString, &value, Expect::Any)))
                        .unwrap();
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    let s = service(open);
    let (state, h) = block_on(s.opened_store().history(&n("/race"))).unwrap();
    assert_eq!(state.latest, 2 * EACH);
    let numbers: Vec<u32> = h.iter().map(|v| v.version).collect();
    assert_eq!(numbers, (1..=2 * EACH).collect::<Vec<_>>());
    // Every value decrypts for its own row, and each writer's values are all there, in order.
    let mut seen: Vec<Vec<u32>> = vec![Vec::new(), Vec::new()];
    for v in 1..=2 * EACH {
        let value = get(&s, &format!("/race:{v}")).unwrap();
        let (w, i) = value[1..].split_once('-').unwrap();
        seen[w.parse::<usize>().unwrap()].push(i.parse().unwrap());
    }
    for s in seen {
        assert_eq!(s, (0..EACH).collect::<Vec<_>>());
    }
}

/// `put_all`: every version or none.
fn batches(open: &Open) {
    let s = service(open);
    let both = [
        req("/b/a", ParamType::SecureString, "A", Expect::New),
        req("/b/b", ParamType::String, "B", Expect::New),
    ];
    let metas = block_on(s.put_all(&both, TypeRule::Same)).unwrap();
    assert_eq!(metas.iter().map(|m| m.version).collect::<Vec<_>>(), [1, 1]);
    assert_eq!(get(&s, "/b/a").unwrap(), "A");
    assert_eq!(get(&s, "/b/b").unwrap(), "B");
    // A name that exists, after a new one: neither is written.
    let err = block_on(s.put_all(
        &[
            req("/b/c", ParamType::SecureString, "C", Expect::New),
            req("/b/a", ParamType::SecureString, "A2", Expect::New),
        ],
        TypeRule::Same,
    ))
    .unwrap_err();
    assert!(matches!(err, Error::Exists { .. }), "{err}");
    assert_eq!(block_on(s.opened_store().state(&n("/b/c"))).unwrap(), None);
    // Another type than the latest version's, after a good one: neither.
    let err = block_on(s.put_all(
        &[
            req("/b/a", ParamType::SecureString, "A2", Expect::Any),
            req("/b/b", ParamType::SecureString, "B2", Expect::Any),
        ],
        TypeRule::Same,
    ))
    .unwrap_err();
    assert!(matches!(err, Error::TypeChange { .. }), "{err}");
    assert_eq!(get(&s, "/b/a").unwrap(), "A");
    // A name twice.
    let err = block_on(s.put_all(
        &[
            req("/b/d", ParamType::String, "1", Expect::New),
            req("/b/d", ParamType::String, "2", Expect::New),
        ],
        TypeRule::Same,
    ))
    .unwrap_err();
    assert!(err.to_string().contains("given twice"), "{err}");
    assert_eq!(block_on(s.opened_store().state(&n("/b/d"))).unwrap(), None);
    // The store: a stale version after a good one is named, and nothing is written.
    let st = s.opened_store();
    let new = |name: &str, version: u32| NewVersion {
        name: n(name),
        version,
        expect: Expect::Any,
        param_type: ParamType::String,
        value: StoredValue::Clear(secret("x")),
        description: None,
        tags: BTreeMap::new(),
        labels: vec![],
        created_at: 0,
        expires_at: None,
        author: "tester".into(),
        key_ref: None,
    };
    let out = block_on(st.put_all(vec![new("/b/e", 1), new("/b/b", 1)])).unwrap();
    assert_eq!(
        out,
        BatchOutcome::Stale {
            index: 1,
            latest: 1
        }
    );
    assert_eq!(block_on(st.state(&n("/b/e"))).unwrap(), None);
    let out = block_on(st.put_all(vec![new("/b/e", 1), new("/b/b", 2)])).unwrap();
    let BatchOutcome::Written(metas) = out else {
        panic!("{out:?}")
    };
    assert_eq!(metas.len(), 2);
    assert_eq!(get(&s, "/b/b").unwrap(), "x");
}

/// Two writers of the same two names, each writing both in one `put_all`: every batch is
/// written whole, once, so version k of one name holds what version k of the other does.
fn racing_batches(open: &Open) {
    const EACH: u32 = 30;
    let keys = aes_keys(7);
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let s = Params::new(open(), keys.clone(), DEFAULT_MAX_VALUE_BYTES);
            std::thread::spawn(move || {
                for i in 0..EACH {
                    let value = format!("w{w}-{i}");
                    let both = [
                        req("/rb/x", ParamType::SecureString, &value, Expect::Any),
                        req("/rb/y", ParamType::SecureString, &value, Expect::Any),
                    ];
                    block_on(s.put_all(&both, TypeRule::Same)).unwrap();
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    let s = service(open);
    for name in ["/rb/x", "/rb/y"] {
        let (state, _) = block_on(s.opened_store().history(&n(name))).unwrap();
        assert_eq!(state.latest, 2 * EACH, "{name}");
    }
    for v in 1..=2 * EACH {
        assert_eq!(
            get(&s, &format!("/rb/x:{v}")).unwrap(),
            get(&s, &format!("/rb/y:{v}")).unwrap(),
            "version {v}"
        );
    }
}

fn racing_check_and_set(open: &Open) {
    let s = service(open);
    block_on(s.put(req("/cas", ParamType::SecureString, "0", Expect::New))).unwrap();
    for round in 1..=10u32 {
        let barrier = Arc::new(std::sync::Barrier::new(2));
        let writers: Vec<_> = (0..2)
            .map(|w| {
                let s = Params::new(open(), aes_keys(7), DEFAULT_MAX_VALUE_BYTES);
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    barrier.wait();
                    block_on(s.put(req(
                        "/cas",
                        ParamType::SecureString,
                        &format!("{round}-{w}"),
                        Expect::Version(round),
                    )))
                })
            })
            .collect();
        let results: Vec<_> = writers.into_iter().map(|w| w.join().unwrap()).collect();
        let wins = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(wins, 1, "round {round}: {results:?}");
        assert!(results.iter().any(|r| matches!(
            r,
            Err(Error::VersionMismatch { expected, actual: Some(a), .. })
                if *expected == round && *a == round + 1
        )));
    }
    let st = block_on(s.opened_store().state(&n("/cas")))
        .unwrap()
        .unwrap();
    assert_eq!(st.latest, 11);
}

/// `current` exists from the first version; a read never serves a `pending` version
/// unless asked for it, however the labels or values around it change.
fn never_pending(open: &Open) {
    let s = service(open);
    let st = s.opened_store();
    let first = put(&s, "/np/pw", "v1", Expect::New).unwrap();
    assert_eq!(first.labels, ["current"]);
    assert_eq!(get(&s, "/np/pw:current").unwrap(), "v1");
    let mut r = req("/np/pw", ParamType::String, "untested", Expect::Version(1));
    r.labels = vec![l("pending")];
    block_on(s.put(r)).unwrap();
    assert_eq!(get(&s, "/np/pw").unwrap(), "v1");
    // `current` cannot be taken away.
    assert!(matches!(
        block_on(st.unlabel(&n("/np/pw"), &[l("current")])),
        Err(Error::Invalid(_))
    ));
    // Its value destroyed: reads fail and say why; the pending value is not served.
    block_on(st.destroy(&n("/np/pw"), Some(1), 50)).unwrap();
    assert!(matches!(
        get(&s, "/np/pw"),
        Err(Error::Destroyed {
            version: 1,
            current: true,
            ..
        })
    ));
    assert!(matches!(
        get(&s, "/np/pw:current"),
        Err(Error::Destroyed {
            version: 1,
            current: true,
            ..
        })
    ));
    let read = block_on(s.read_path(&p("/np"), false)).unwrap();
    assert!(read.values.is_empty());
    assert!(matches!(
        read.unreadable.as_slice(),
        [Error::Destroyed { version: 1, .. }]
    ));
    // Asked for by its label or number, the pending value is there.
    assert_eq!(get(&s, "/np/pw:pending").unwrap(), "untested");
    assert_eq!(get(&s, "/np/pw:2").unwrap(), "untested");
    // The rotation that finishes moves `current`; `previous` is not a destroyed version.
    block_on(st.promote(&n("/np/pw"), 2, Some(1))).unwrap();
    assert_eq!(get(&s, "/np/pw").unwrap(), "untested");
    assert!(matches!(
        get(&s, "/np/pw:previous"),
        Err(Error::NoLabel { .. })
    ));
}

/// `promote`: `current` and `previous` move and `pending` goes, in one step, only if the
/// labels are as the rotation left them; bare `get` and `get_by_path` read `current`; a
/// plain put moves `current` along.
fn promote(open: &Open) {
    let s = service(open);
    put(&s, "/r/pw", "v1", Expect::New).unwrap();
    let mut r = req("/r/pw", ParamType::String, "v2", Expect::Version(1));
    r.labels = vec![l("pending")];
    block_on(s.put(r)).unwrap();
    assert!(matches!(
        block_on(s.opened_store().promote(&n("/r/pw"), 1, None)),
        Err(Error::RotationOvertaken { .. })
    ));
    assert_eq!(get(&s, "/r/pw").unwrap(), "v1", "bare get reads `current`");
    let by_path = block_on(s.get_by_path(&ParamPath::parse("/r").unwrap(), false)).unwrap();
    assert_eq!(by_path[0].value.expose(), "v1");
    // `current` moved meanwhile: refused, nothing changes.
    assert!(matches!(
        block_on(s.opened_store().promote(&n("/r/pw"), 2, Some(9))),
        Err(Error::RotationOvertaken { .. })
    ));
    block_on(s.opened_store().promote(&n("/r/pw"), 2, Some(1))).unwrap();
    assert_eq!(get(&s, "/r/pw").unwrap(), "v2");
    assert_eq!(get(&s, "/r/pw:previous").unwrap(), "v1");
    assert!(matches!(
        get(&s, "/r/pw:pending"),
        Err(Error::NoLabel { .. })
    ));
    // Done once: a second promote is refused.
    assert!(matches!(
        block_on(s.opened_store().promote(&n("/r/pw"), 2, Some(1))),
        Err(Error::RotationOvertaken { .. })
    ));
    put(&s, "/r/pw", "v3", Expect::Any).unwrap();
    assert_eq!(get(&s, "/r/pw").unwrap(), "v3");
    assert_eq!(get(&s, "/r/pw:previous").unwrap(), "v1");
}
