//! JSON wire types, kept apart from the library's types (ripgrep `jsont.rs`).
//!
//! Every object has `"type"` and `"schema": 1`. These types only serialize. They never carry
//! key material or plaintext: encrypted data keys are shown by provider id and info only.

mod audit;
mod keys;
mod message;
mod params;
mod policy;

pub use audit::*;
pub use keys::*;
pub use message::*;
pub use params::*;
pub use policy::*;

/// Wire schema version.
pub const SCHEMA: u32 = 1;

/// The width of column `i` of `rows` in characters, at least `min` (aligned text tables).
fn column_width<const N: usize>(rows: &[[String; N]], i: usize, min: usize) -> usize {
    rows.iter()
        .map(|r| r[i].chars().count())
        .max()
        .unwrap_or(0)
        .max(min)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use coffer_core::EncryptedDataKey;

    use super::*;

    #[test]
    fn summary_text() {
        let mut w = SummaryWire {
            kind: "summary",
            schema: SCHEMA,
            mode: "encrypt",
            files: 3,
            succeeded: 3,
            failed: 0,
            skipped: 0,
            bytes: 2048,
            seconds: 0.5,
        };
        assert_eq!(w.to_text(), "encrypted 3 files (2.00 KiB) in 0.50 s");
        w.mode = "decrypt";
        w.succeeded = 1;
        w.failed = 2;
        w.skipped = 1;
        assert_eq!(
            w.to_text(),
            "decrypted 1 of 3 files (2.00 KiB) in 0.50 s, 2 failed, 1 skipped"
        );
        let v = serde_json::to_value(&w).unwrap();
        assert_eq!(v["type"], "summary");
        assert_eq!(v["files"], 3);
    }

    #[test]
    fn raw_aes_provider_info_key_name() {
        let mut info = b"master.key".to_vec();
        info.extend_from_slice(&[0, 0, 0, 128, 0, 0, 0, 12]);
        info.extend_from_slice(&[0xff; 12]);
        assert_eq!(key_name(&info).as_deref(), Some("master.key"));
        assert_eq!(key_name(b"rsa-key").as_deref(), Some("rsa-key"));
        assert_eq!(key_name(&[0xff, 0xfe]), None);

        let edk = EncryptedDataKey {
            provider_id: "coffer".into(),
            provider_info: info,
            ciphertext: vec![1, 2, 3],
        };
        let w = DataKeyWire::from(&edk);
        assert_eq!(w.provider_info_encoding, "base64");
        assert_eq!(w.key_name.as_deref(), Some("master.key"));
        let json = serde_json::to_string(&w).unwrap();
        assert!(!json.contains("AQID"), "ciphertext must not appear: {json}");
    }
}
