#![no_main]
//! Header parsing: `inspect` (permissive) and `Decryptor::read_header` (default config).

use coffer_core::{DecryptConfig, Decryptor};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    let inspected = coffer_core::inspect(&mut rest);
    if let Ok(h) = &inspected {
        // Exactly the header was consumed: its body as recorded, then its authentication.
        let (body, auth) = data[..data.len() - rest.len()].split_at(h.body_bytes.len());
        assert_eq!(body, &h.body_bytes[..]);
        assert_eq!(auth, &h.auth_bytes()[..]);
    }
    // The default (stricter) policy accepts nothing that inspect refuses, and agrees on it.
    if let Ok(p) = Decryptor::new(DecryptConfig::default()).read_header(&mut &data[..]) {
        assert_eq!(Some(p.header()), inspected.as_ref().ok());
    }
});
