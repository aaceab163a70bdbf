//! Logging through `tracing` when the feature is on; type-checked no-ops otherwise.

#[cfg(feature = "tracing")]
pub(crate) fn error(msg: &str) {
    tracing::error!("{msg}");
}

#[cfg(not(feature = "tracing"))]
pub(crate) fn error(msg: &str) {
    let _ = msg;
}

#[cfg(feature = "tracing")]
pub(crate) fn debug(msg: std::fmt::Arguments<'_>) {
    tracing::debug!("{msg}");
}

#[cfg(not(feature = "tracing"))]
pub(crate) fn debug(msg: std::fmt::Arguments<'_>) {
    let _ = msg;
}
