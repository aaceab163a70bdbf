#![no_main]
//! Encryption context: whatever parses serializes canonically and parses back the same.

use coffer_core::EncryptionContext;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(ctx) = EncryptionContext::deserialize(data) else {
        return;
    };
    match ctx.serialize() {
        Ok(bytes) => {
            let again = EncryptionContext::deserialize(&bytes).expect("canonical form parses");
            assert_eq!(again, ctx);
            assert_eq!(
                again.serialize().expect("serializes"),
                bytes,
                "not canonical"
            );
        }
        // Only an input longer than the format's 65535-byte limit may fail to serialize.
        Err(_) => assert!(data.len() > usize::from(u16::MAX)),
    }
});
