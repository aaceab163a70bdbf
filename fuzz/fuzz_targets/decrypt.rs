#![no_main]
//! Full decryption under the fixed raw AES key: one-shot and streaming must agree.

use coffer_fuzz::{decrypt_one_shot, decrypt_streaming};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let one_shot = decrypt_one_shot(data);
    let streamed = decrypt_streaming(data, 1 + data.len() % 16);
    match (&one_shot, &streamed) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "one-shot and streaming plaintexts differ"),
        (Err(_), Err(_)) => {}
        _ => panic!("one-shot {one_shot:?} but streaming {streamed:?}"),
    }
});
