//! coffer's own fixed test keys (data files in `test-vectors/vectors/keys/`).
//!
//! They are public test keys: never use them for anything else.

/// RSA-4096 private key, PKCS#8 PEM.
pub const RSA_PRIVATE_PEM: &str = include_str!("../vectors/keys/rsa-4096-private.pem");
/// RSA-4096 public key (of [`RSA_PRIVATE_PEM`]), SubjectPublicKeyInfo PEM.
pub const RSA_PUBLIC_PEM: &str = include_str!("../vectors/keys/rsa-4096-public.pem");
/// AES-128 key, base64.
pub const AES_128_B64: &str = include_str!("../vectors/keys/aes-128.b64");
/// AES-192 key, base64.
pub const AES_192_B64: &str = include_str!("../vectors/keys/aes-192.b64");
/// AES-256 key, base64.
pub const AES_256_B64: &str = include_str!("../vectors/keys/aes-256.b64");
