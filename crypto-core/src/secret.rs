//! Secret byte containers: zeroized on drop, redacted in `Debug`, compared in constant time.

use std::fmt;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// A plaintext data key (or any short secret key). Never printed, zeroized on drop (every
/// clone too).
#[derive(Clone)]
pub struct DataKey(Zeroizing<Vec<u8>>);

impl DataKey {
    /// Wraps key bytes, taking ownership (the caller's buffer is moved, not copied).
    #[must_use]
    pub fn new(bytes: Zeroizing<Vec<u8>>) -> Self {
        Self(bytes)
    }

    /// Copies key bytes from a slice.
    #[must_use]
    pub fn from_slice(bytes: &[u8]) -> Self {
        let mut v = Zeroizing::new(Vec::with_capacity(bytes.len()));
        v.extend_from_slice(bytes);
        Self(v)
    }

    /// The key bytes. Keep the borrow short.
    #[must_use]
    pub fn expose_secret(&self) -> &[u8] {
        &self.0
    }

    /// Length in bytes.
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the key is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// An explicit copy (secrets are not `Clone` by accident).
    #[must_use]
    pub fn duplicate(&self) -> Self {
        Self::from_slice(&self.0)
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DataKey {{ len: {}, .. }}", self.0.len())
    }
}

impl PartialEq for DataKey {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}
impl Eq for DataKey {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let k = DataKey::from_slice(&[0xAB; 32]);
        let s = format!("{k:?}");
        assert_eq!(s, "DataKey { len: 32, .. }");
        assert!(!s.contains("171") && !s.to_lowercase().contains("ab"));
    }

    #[test]
    fn equality() {
        assert_eq!(DataKey::from_slice(b"abc"), DataKey::from_slice(b"abc"));
        assert_ne!(DataKey::from_slice(b"abc"), DataKey::from_slice(b"abd"));
        assert_ne!(DataKey::from_slice(b"abc"), DataKey::from_slice(b"ab"));
    }
}
