//! The encryption context: a map of UTF-8 strings bound to a message as additional data.

use crate::error::{Error, Result};
use crate::format::SliceReader;
use std::collections::BTreeMap;

/// Prefix reserved for the SDK's own context entries.
pub const RESERVED_PREFIX: &str = "aws-crypto-";
/// Context key carrying the base64 compressed ECDSA verification key of signed messages.
pub const PUBLIC_KEY_FIELD: &str = "aws-crypto-public-key";

/// An encryption context. Sorted by the UTF-8 bytes of its keys, so it serializes canonically.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EncryptionContext(BTreeMap<String, String>);

impl EncryptionContext {
    /// An empty context.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Inserts a pair, returning the previous value of the key.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<String>) -> Option<String> {
        self.0.insert(key.into(), value.into())
    }

    /// The value of `key`.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// Removes `key`.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        self.0.remove(key)
    }

    /// Whether `key` is present.
    #[must_use]
    pub fn contains_key(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }

    /// The pairs, in canonical order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The keys, in canonical order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// Number of pairs.
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the context is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The underlying map.
    #[must_use]
    pub fn as_map(&self) -> &BTreeMap<String, String> {
        &self.0
    }

    /// Rejects caller-supplied keys that use the reserved `aws-crypto-` prefix.
    ///
    /// # Errors
    /// [`Error::Context`] naming the offending key.
    pub fn check_no_reserved_keys(&self) -> Result<()> {
        match self.keys().find(|k| k.starts_with(RESERVED_PREFIX)) {
            Some(k) => Err(Error::Context(format!(
                "key {k:?} uses the reserved prefix {RESERVED_PREFIX:?}"
            ))),
            None => Ok(()),
        }
    }

    /// The sub-context of the given keys (keys that are absent are skipped).
    #[must_use]
    pub fn restricted_to<'a>(&self, keys: impl IntoIterator<Item = &'a str>) -> Self {
        let mut out = Self::new();
        for k in keys {
            if let Some(v) = self.get(k) {
                out.insert(k, v);
            }
        }
        out
    }

    /// Canonical serialization: empty for an empty context, else count ‖ sorted pairs.
    ///
    /// # Errors
    /// [`Error::Context`] if the context has more than 65535 pairs, a key or value longer
    /// than 65535 bytes, or serializes to more than 65535 bytes.
    pub fn serialize(&self) -> Result<Vec<u8>> {
        if self.0.is_empty() {
            return Ok(Vec::new());
        }
        let count = u16::try_from(self.0.len())
            .map_err(|_| Error::Context("more than 65535 entries".into()))?;
        let mut out = Vec::with_capacity(2 + self.0.len() * 8);
        out.extend_from_slice(&count.to_be_bytes());
        for (k, v) in &self.0 {
            for part in [k, v] {
                let len = u16::try_from(part.len()).map_err(|_| {
                    Error::Context("a key or value is longer than 65535 bytes".into())
                })?;
                out.extend_from_slice(&len.to_be_bytes());
                out.extend_from_slice(part.as_bytes());
            }
        }
        if out.len() > usize::from(u16::MAX) {
            return Err(Error::Context(
                "serialized context is longer than 65535 bytes".into(),
            ));
        }
        Ok(out)
    }

    /// Parses a serialized context (the header's AAD field, without its length prefix).
    ///
    /// # Errors
    /// [`Error::Malformed`] on truncation, trailing bytes, invalid UTF-8 or duplicate keys.
    pub fn deserialize(bytes: &[u8]) -> Result<Self> {
        let mut ctx = Self::new();
        if bytes.is_empty() {
            return Ok(ctx);
        }
        let mut r = SliceReader::new(bytes);
        let count = r.u16()?;
        for _ in 0..count {
            let klen = r.u16()?;
            let k = r.take(usize::from(klen))?;
            let vlen = r.u16()?;
            let v = r.take(usize::from(vlen))?;
            let k = std::str::from_utf8(k)
                .map_err(|_| Error::Malformed("encryption context key is not UTF-8".into()))?;
            let v = std::str::from_utf8(v)
                .map_err(|_| Error::Malformed("encryption context value is not UTF-8".into()))?;
            if ctx.insert(k, v).is_some() {
                return Err(Error::Malformed(format!(
                    "encryption context has duplicate key {k:?}"
                )));
            }
        }
        if !r.is_empty() {
            return Err(Error::Malformed(
                "encryption context has trailing bytes".into(),
            ));
        }
        Ok(ctx)
    }
}

impl FromIterator<(String, String)> for EncryptionContext {
    fn from_iter<T: IntoIterator<Item = (String, String)>>(iter: T) -> Self {
        Self(iter.into_iter().collect())
    }
}

impl<'a> FromIterator<(&'a str, &'a str)> for EncryptionContext {
    fn from_iter<T: IntoIterator<Item = (&'a str, &'a str)>>(iter: T) -> Self {
        Self(
            iter.into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        )
    }
}

impl From<BTreeMap<String, String>> for EncryptionContext {
    fn from(m: BTreeMap<String, String>) -> Self {
        Self(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_serializes_to_nothing() {
        assert!(EncryptionContext::new().serialize().unwrap().is_empty());
        assert!(EncryptionContext::deserialize(&[]).unwrap().is_empty());
    }

    #[test]
    fn canonical_order_and_round_trip() {
        let ctx: EncryptionContext = [("b", "2"), ("a", "1"), ("日本", "東京")]
            .into_iter()
            .collect();
        let bytes = ctx.serialize().unwrap();
        assert_eq!(&bytes[..2], &[0, 3]);
        assert_eq!(&bytes[2..7], &[0, 1, b'a', 0, 1]);
        assert_eq!(EncryptionContext::deserialize(&bytes).unwrap(), ctx);
    }

    #[test]
    fn rejects_bad_input() {
        // duplicate keys
        let dup = [0, 2, 0, 1, b'a', 0, 0, 0, 1, b'a', 0, 0];
        assert!(EncryptionContext::deserialize(&dup).is_err());
        // truncated
        let ok: EncryptionContext = [("key", "value")].into_iter().collect();
        let bytes = ok.serialize().unwrap();
        for n in 1..bytes.len() {
            assert!(EncryptionContext::deserialize(&bytes[..n]).is_err());
        }
        // trailing
        let mut t = bytes.clone();
        t.push(0);
        assert!(EncryptionContext::deserialize(&t).is_err());
        // invalid utf-8
        assert!(EncryptionContext::deserialize(&[0, 1, 0, 1, 0xff, 0, 0]).is_err());
    }

    #[test]
    fn reserved_prefix() {
        let ctx: EncryptionContext = [("aws-crypto-x", "1")].into_iter().collect();
        assert!(ctx.check_no_reserved_keys().is_err());
    }
}
