//! The crate's one error type.

/// Why a cache or caching manager could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CacheError {
    /// A limit or setting out of range.
    #[error("data-key cache: {0}")]
    Config(String),
}
