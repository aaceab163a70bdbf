use super::common::*;
use coffer_core::{DecryptConfig, Decryptor, EncryptConfig, EncryptionContext, Encryptor, Release};
use proptest::prelude::*;
use std::io::{Read, Write};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Output is the same plaintext however the writes and reads are split.
    #[test]
    fn stream_round_trip(
        pt in proptest::collection::vec(any::<u8>(), 0..3000),
        frame in 1u32..600,
        writes in proptest::collection::vec(1usize..700, 1..20),
        read_size in 1usize..900,
        after_signature in any::<bool>(),
    ) {
        let cmm = cmm(aes_keyring("k", 32));
        let cfg = EncryptConfig::default().with_frame_length(frame).unwrap();
        let prepared = block(Encryptor::new(cmm.clone(), cfg).prepare(&EncryptionContext::new(), None)).unwrap();
        let mut w = prepared.wrap_output(Vec::new()).unwrap();
        let mut rest = &pt[..];
        for n in writes.iter().cycle() {
            if rest.is_empty() { break; }
            let n = (*n).min(rest.len());
            w.write_all(&rest[..n]).unwrap();
            rest = &rest[n..];
        }
        let msg = w.finish().unwrap();
        let mut input = &msg[..];
        let parsed = Decryptor::new(DecryptConfig::default()).read_header(&mut input).unwrap();
        let ready = block(parsed.obtain_materials(cmm.as_ref(), None)).unwrap();
        let release = if after_signature { Release::AfterSignature } else { Release::PerFrame };
        let mut r = ready.into_reader(input, release);
        let mut out = Vec::new();
        let mut buf = vec![0u8; read_size];
        loop {
            let n = r.read(&mut buf).unwrap();
            if n == 0 { break; }
            out.extend_from_slice(&buf[..n]);
        }
        prop_assert_eq!(out, pt);
    }

    /// The header's context and data keys read back as written.
    #[test]
    fn header_round_trip(pairs in proptest::collection::btree_map("[a-z\u{e9}\u{65e5}]{1,8}", ".{0,12}", 0..6)) {
        let ctx: EncryptionContext = pairs.clone().into();
        let cmm = cmm(aes_keyring("k", 16));
        let msg = block(coffer_core::encrypt(cmm, &EncryptConfig::default(), &ctx, b"x")).unwrap();
        let h = coffer_core::inspect(&mut &msg[..]).unwrap();
        for (k, v) in &pairs {
            prop_assert_eq!(h.context.get(k), Some(v.as_str()));
        }
        prop_assert_eq!(h.context.len(), pairs.len() + 1); // + the signature key
        prop_assert_eq!(h.edks.len(), 1);
        prop_assert_eq!(&h.edks[0].provider_id, "test-ns");
    }

    /// Arbitrary bytes never panic the parser.
    #[test]
    fn arbitrary_headers_do_not_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = coffer_core::inspect(&mut &bytes[..]);
        let _ = EncryptionContext::deserialize(&bytes);
    }
}
