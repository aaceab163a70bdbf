//! The test hook (see "Test hook" in [`crate::store`]): with the `test-pause` feature and
//! `COFFER_TEST_PAUSE_MS=N`, store writes announce each step on stderr and sleep there, so
//! that coffer's kill tests can stop them at each step. Without the feature it is compiled out.

#[cfg(feature = "test-pause")]
use std::time::Duration;

/// The test hook's variable (see the module docs).
#[cfg(feature = "test-pause")]
pub const TEST_PAUSE_VAR: &str = "COFFER_TEST_PAUSE_MS";

/// The test hook (compiled out): does nothing.
#[cfg(not(feature = "test-pause"))]
#[inline(always)]
pub(crate) fn pause(_step: &str) {}

/// The test hook: announces `step` on stderr and sleeps, when `COFFER_TEST_PAUSE_MS` is set.
#[cfg(feature = "test-pause")]
pub(crate) fn pause(step: &str) {
    static PAUSE: std::sync::OnceLock<Option<Duration>> = std::sync::OnceLock::new();
    let pause = PAUSE.get_or_init(|| {
        std::env::var(TEST_PAUSE_VAR)
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|&ms| ms > 0)
            .map(Duration::from_millis)
    });
    if let Some(d) = pause {
        eprintln!("coffer test pause: {step}");
        std::thread::sleep(*d);
    }
}
