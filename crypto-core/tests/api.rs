//! Integration tests of the public API, grouped by theme.
// Tests may unwrap (a failure is the test failing) and build small fixtures with casts.
#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]

mod common {
    use coffer_core::cmm::DefaultCmm;
    use coffer_core::keyring::{Keyring, RawAesKeyring};
    use std::sync::Arc;

    pub fn aes_keyring(name: &str, len: usize) -> Arc<dyn Keyring> {
        Arc::new(RawAesKeyring::new("test-ns", name, &vec![0x42; len]).unwrap())
    }

    pub fn cmm(k: Arc<dyn Keyring>) -> Arc<DefaultCmm> {
        Arc::new(DefaultCmm::new(k))
    }

    pub fn block<F: Future>(f: F) -> F::Output {
        futures::executor::block_on(f)
    }
}

#[path = "api/bad_input.rs"]
mod bad_input;
#[path = "api/hierarchy.rs"]
mod hierarchy;
#[path = "api/limits.rs"]
mod limits;
#[path = "api/props.rs"]
mod props;
#[path = "api/rewrap.rs"]
mod rewrap;
#[path = "api/round_trip.rs"]
mod round_trip;
