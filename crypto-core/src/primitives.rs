//! The one module that touches the cryptographic backend (aws-lc-rs).
//!
//! Nothing outside this module names backend types. Everything here is synchronous and
//! does no I/O.

use crate::error::{Error, Result};
use crate::secret::DataKey;
use crate::suite::SignatureAlgorithm;
use aws_lc_rs::encoding::{AsBigEndian, EcPublicKeyCompressedBin};
use aws_lc_rs::signature::KeyPair;
use aws_lc_rs::{aead, digest, hkdf, hmac, rand, rsa, signature};
use std::fmt;
use std::sync::Arc;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// AES-GCM IV length.
pub const IV_LEN: usize = 12;
/// AES-GCM tag length.
pub const TAG_LEN: usize = 16;

/// Fills `buf` with random bytes from the system CSPRNG.
///
/// # Errors
/// [`Error::Other`] if the backend's RNG fails.
pub fn fill_random(buf: &mut [u8]) -> Result<()> {
    rand::fill(buf).map_err(|_| backend("random number generator failed"))
}

/// Constant-time equality of two byte strings (length is not secret).
#[must_use]
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

fn backend(what: &'static str) -> Error {
    Error::Other(Arc::new(BackendError(what)))
}

#[derive(Debug)]
struct BackendError(&'static str);
impl fmt::Display for BackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "crypto backend: {}", self.0)
    }
}
impl std::error::Error for BackendError {}

/// An AES-GCM key (128, 192 or 256 bits) with its expanded schedule.
pub struct GcmKey(aead::LessSafeKey);

impl fmt::Debug for GcmKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("GcmKey { .. }")
    }
}

impl GcmKey {
    /// Builds a key from 16, 24 or 32 bytes.
    ///
    /// # Errors
    /// [`Error::Key`] for any other length.
    pub fn new(key: &[u8]) -> Result<Self> {
        let alg = match key.len() {
            16 => &aead::AES_128_GCM,
            24 => &aead::AES_192_GCM,
            32 => &aead::AES_256_GCM,
            n => {
                return Err(Error::Key(format!(
                    "AES key must be 16, 24 or 32 bytes, not {n}"
                )));
            }
        };
        let unbound = aead::UnboundKey::new(alg, key).map_err(|_| backend("AES key setup"))?;
        Ok(Self(aead::LessSafeKey::new(unbound)))
    }

    /// Encrypts `buf` in place and returns the tag.
    ///
    /// # Errors
    /// [`Error::Other`] if the backend refuses (e.g. the input is too long for GCM).
    pub fn seal_in_place(
        &self,
        iv: &[u8; IV_LEN],
        aad: &[u8],
        buf: &mut [u8],
    ) -> Result<[u8; TAG_LEN]> {
        let nonce = aead::Nonce::assume_unique_for_key(*iv);
        let tag = self
            .0
            .seal_in_place_separate_tag(nonce, aead::Aad::from(aad), buf)
            .map_err(|_| backend("AES-GCM seal"))?;
        let mut out = [0u8; TAG_LEN];
        out.copy_from_slice(tag.as_ref());
        Ok(out)
    }

    /// Encrypts `plaintext` into `ciphertext` (same length) and writes the tag to `tag`,
    /// leaving `plaintext` untouched: one pass instead of a copy and an in-place seal.
    ///
    /// # Errors
    /// [`Error::Other`] if the lengths differ or the backend refuses.
    pub fn seal_into(
        &self,
        iv: &[u8; IV_LEN],
        aad: &[u8],
        plaintext: &[u8],
        ciphertext: &mut [u8],
        tag: &mut [u8; TAG_LEN],
    ) -> Result<()> {
        let nonce = aead::Nonce::assume_unique_for_key(*iv);
        self.0
            .seal_out_of_place_scatter(nonce, aead::Aad::from(aad), plaintext, ciphertext, &[], tag)
            .map_err(|_| backend("AES-GCM seal"))
    }

    /// Authenticates and decrypts `ciphertext` with its `tag` into `plaintext` (same
    /// length), leaving `ciphertext` untouched. On failure `plaintext` is zeroed, so no
    /// unauthenticated bytes are left in it.
    ///
    /// # Errors
    /// [`Error::Authentication`] if the tag does not verify (or the lengths differ).
    pub fn open_into(
        &self,
        iv: &[u8; IV_LEN],
        aad: &[u8],
        ciphertext: &[u8],
        tag: &[u8],
        plaintext: &mut [u8],
    ) -> Result<()> {
        let nonce = aead::Nonce::assume_unique_for_key(*iv);
        if tag.len() != TAG_LEN || ciphertext.len() != plaintext.len() {
            plaintext.fill(0);
            return Err(Error::Authentication);
        }
        self.0
            .open_separate_gather(nonce, aead::Aad::from(aad), ciphertext, tag, plaintext)
            .map_err(|_| {
                plaintext.fill(0);
                Error::Authentication
            })
    }

    /// Decrypts `ciphertext_and_tag` in place; returns the plaintext prefix.
    ///
    /// # Errors
    /// [`Error::Authentication`] if the tag does not verify.
    pub fn open_in_place<'b>(
        &self,
        iv: &[u8; IV_LEN],
        aad: &[u8],
        ciphertext_and_tag: &'b mut [u8],
    ) -> Result<&'b mut [u8]> {
        let nonce = aead::Nonce::assume_unique_for_key(*iv);
        self.0
            .open_in_place(nonce, aead::Aad::from(aad), ciphertext_and_tag)
            .map_err(|_| Error::Authentication)
    }
}

/// Hash functions used for HKDF and signatures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hash {
    /// SHA-256
    Sha256,
    /// SHA-384
    Sha384,
    /// SHA-512
    Sha512,
}

struct OkmLen(usize);
impl hkdf::KeyType for OkmLen {
    fn len(&self) -> usize {
        self.0
    }
}

/// HKDF-Extract-then-Expand. An empty `salt` means "no salt" (HashLen zero bytes).
///
/// # Errors
/// [`Error::Other`] if `len` is too large for the hash.
pub fn hkdf(hash: Hash, salt: &[u8], ikm: &[u8], info: &[&[u8]], len: usize) -> Result<DataKey> {
    let alg = match hash {
        Hash::Sha256 => hkdf::HKDF_SHA256,
        Hash::Sha384 => hkdf::HKDF_SHA384,
        Hash::Sha512 => hkdf::HKDF_SHA512,
    };
    let prk = hkdf::Salt::new(alg, salt).extract(ikm);
    let mut out = Zeroizing::new(vec![0u8; len]);
    prk.expand(info, OkmLen(len))
        .and_then(|okm| okm.fill(&mut out))
        .map_err(|_| backend("HKDF expand"))?;
    Ok(DataKey::new(out))
}

/// SHA-256 over the concatenation of `parts`. Not for secrets that must stay secret from
/// a guesser: use it for fingerprints of full-entropy keys and for ids.
#[must_use]
pub fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut ctx = digest::Context::new(&digest::SHA256);
    for p in parts {
        ctx.update(p);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// An HMAC-SHA256 key derived for one purpose: `HKDF-SHA256(salt, ikm, info)`, 32 bytes.
/// Tags are computed over the concatenation of the parts given and checked in constant time.
/// The key material stays inside the backend; `Debug` shows nothing of it.
pub struct MacKey(hmac::Key);

impl fmt::Debug for MacKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MacKey(..)")
    }
}

impl MacKey {
    /// The key `HKDF-SHA256(salt, ikm, info)` (32 bytes; an empty `salt` is no salt).
    ///
    /// # Errors
    /// The backend fails (it does not for these lengths).
    pub fn derive(salt: &[u8], ikm: &[u8], info: &[&[u8]]) -> Result<Self> {
        let okm = hkdf(Hash::Sha256, salt, ikm, info, HMAC_SHA256_LEN)?;
        Ok(Self(hmac::Key::new(hmac::HMAC_SHA256, okm.expose_secret())))
    }

    /// The tag over the concatenation of `parts`.
    #[must_use]
    pub fn tag(&self, parts: &[&[u8]]) -> [u8; HMAC_SHA256_LEN] {
        let mut ctx = hmac::Context::with_key(&self.0);
        for p in parts {
            ctx.update(p);
        }
        let mut out = [0u8; HMAC_SHA256_LEN];
        out.copy_from_slice(ctx.sign().as_ref());
        out
    }

    /// Whether `tag` is the tag over `parts` (constant time in the tag's bytes).
    #[must_use]
    pub fn verify(&self, parts: &[&[u8]], tag: &[u8]) -> bool {
        ct_eq(&self.tag(parts), tag)
    }

    /// A tag computed piece by piece: [`MacContext::update`] with each part in turn, then
    /// [`MacContext::finish`] gives what [`MacKey::tag`] over the same parts gives.
    #[must_use]
    pub fn start(&self) -> MacContext {
        MacContext(hmac::Context::with_key(&self.0))
    }
}

/// A tag under a [`MacKey`] being computed ([`MacKey::start`]).
pub struct MacContext(hmac::Context);

impl fmt::Debug for MacContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MacContext(..)")
    }
}

impl MacContext {
    /// Appends `part` to what the tag covers.
    pub fn update(&mut self, part: &[u8]) {
        self.0.update(part);
    }

    /// The tag over every part given.
    #[must_use]
    pub fn finish(self) -> [u8; HMAC_SHA256_LEN] {
        let mut out = [0u8; HMAC_SHA256_LEN];
        out.copy_from_slice(self.0.sign().as_ref());
        out
    }
}

/// SHA-384 over the concatenation of `parts` (cache identifiers).
#[must_use]
pub fn sha384(parts: &[&[u8]]) -> [u8; 48] {
    let mut ctx = digest::Context::new(&digest::SHA384);
    for p in parts {
        ctx.update(p);
    }
    let mut out = [0u8; 48];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// Output length of HMAC-SHA256.
pub const HMAC_SHA256_LEN: usize = 32;

/// NIST SP 800-108r1 KDF in counter mode with HMAC-SHA256 as the PRF, filling `out`.
///
/// Each block is `HMAC(key, [i]_32 ‖ fixed_input)` for `i = 1, 2, …` (a 4-byte big-endian
/// counter before the fixed input), concatenated and truncated to `out.len()`.
///
/// # Errors
/// [`Error::ApiMisuse`] if `out` is empty or so long that the counter would overflow.
pub(crate) fn kdf_ctr_hmac_sha256_raw(
    key: &[u8],
    fixed_input: &[u8],
    out: &mut [u8],
) -> Result<()> {
    if out.is_empty() {
        return Err(Error::ApiMisuse(
            "KDF output length must be positive".into(),
        ));
    }
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    let mut counter: u32 = 1;
    for block in out.chunks_mut(HMAC_SHA256_LEN) {
        let mut ctx = hmac::Context::with_key(&key);
        ctx.update(&counter.to_be_bytes());
        ctx.update(fixed_input);
        // The backend's `Tag` is a plain stack value without `Zeroize`; the copy we keep is
        // in `out`, which the caller wipes.
        let mac = ctx.sign();
        block.copy_from_slice(&mac.as_ref()[..block.len()]);
        counter = counter
            .checked_add(1)
            .ok_or_else(|| Error::ApiMisuse("KDF output too long".into()))?;
    }
    Ok(())
}

/// NIST SP 800-108r1 KDF in counter mode, PRF = HMAC-SHA256, with the fixed input of the
/// ESDK/MPL `KdfCtr` (and SP 800-108 §5.1's suggested layout):
///
/// `HMAC(key, [i]_32 ‖ label ‖ 0x00 ‖ context ‖ [L]_32)`, `i` from 1, `L = 8 · out.len()`
/// bits, all integers big-endian. Fills `out` (the caller owns, and wipes, the buffer).
///
/// # Errors
/// [`Error::ApiMisuse`] if `out` is empty or its length in bits does not fit in 32 bits.
pub fn kdf_ctr_hmac_sha256(key: &[u8], label: &[u8], context: &[u8], out: &mut [u8]) -> Result<()> {
    let bits = out
        .len()
        .checked_mul(8)
        .and_then(|b| u32::try_from(b).ok())
        .ok_or_else(|| Error::ApiMisuse("KDF output too long".into()))?;
    let fixed_len = label
        .len()
        .checked_add(context.len())
        .and_then(|n| n.checked_add(1 + 4))
        .ok_or_else(|| Error::ApiMisuse("KDF input too long".into()))?;
    let mut fixed = Vec::with_capacity(fixed_len);
    fixed.extend_from_slice(label);
    fixed.push(0x00);
    fixed.extend_from_slice(context);
    fixed.extend_from_slice(&bits.to_be_bytes());
    kdf_ctr_hmac_sha256_raw(key, &fixed, out)
}

fn sig_hash(alg: SignatureAlgorithm) -> &'static digest::Algorithm {
    match alg {
        SignatureAlgorithm::EcdsaP256Sha256 => &digest::SHA256,
        SignatureAlgorithm::EcdsaP384Sha384 => &digest::SHA384,
    }
}

/// A running hash over a whole message, for its ECDSA footer.
pub struct MessageHasher(digest::Context);

impl fmt::Debug for MessageHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MessageHasher { .. }")
    }
}

impl MessageHasher {
    /// Starts a hash for `alg`.
    #[must_use]
    pub fn new(alg: SignatureAlgorithm) -> Self {
        Self(digest::Context::new(sig_hash(alg)))
    }

    /// Adds bytes.
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    #[cfg(test)]
    pub(crate) fn finish_for_tests(self) -> Vec<u8> {
        self.0.finish().as_ref().to_vec()
    }

    #[cfg(test)]
    pub(crate) fn clone_for_tests(&self) -> Self {
        Self(self.0.clone())
    }
}

/// An ephemeral ECDSA signing key for one message (or, cached, for the messages that share
/// its data key). Cloning shares the key pair.
#[derive(Clone)]
pub struct SigningKey {
    alg: SignatureAlgorithm,
    key: Arc<signature::EcdsaKeyPair>,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey {{ alg: {:?}, .. }}", self.alg)
    }
}

impl SigningKey {
    /// Generates a fresh key pair.
    ///
    /// # Errors
    /// [`Error::Other`] if the backend fails.
    pub fn generate(alg: SignatureAlgorithm) -> Result<Self> {
        let signing = match alg {
            SignatureAlgorithm::EcdsaP256Sha256 => &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
            SignatureAlgorithm::EcdsaP384Sha384 => &signature::ECDSA_P384_SHA384_ASN1_SIGNING,
        };
        let key = signature::EcdsaKeyPair::generate(signing)
            .map_err(|_| backend("ECDSA key generation"))?;
        Ok(Self {
            alg,
            key: Arc::new(key),
        })
    }

    /// The algorithm.
    #[must_use]
    pub fn algorithm(&self) -> SignatureAlgorithm {
        self.alg
    }

    /// The SEC1 compressed public point.
    ///
    /// # Errors
    /// [`Error::Other`] if the backend fails.
    pub fn public_key_compressed(&self) -> Result<Vec<u8>> {
        let c: EcPublicKeyCompressedBin<'_> = self
            .key
            .public_key()
            .as_be_bytes()
            .map_err(|_| backend("ECDSA public key encoding"))?;
        Ok(c.as_ref().to_vec())
    }

    /// Signs the hash, returning a DER `ECDSA-Sig-Value`.
    ///
    /// # Errors
    /// [`Error::Other`] if the backend fails.
    pub fn sign(&self, hasher: MessageHasher) -> Result<Vec<u8>> {
        let d = hasher.0.finish();
        let sig = self
            .key
            .sign_digest(&d)
            .map_err(|_| backend("ECDSA sign"))?;
        Ok(sig.as_ref().to_vec())
    }
}

/// An ECDSA verification key from a message's encryption context. Cloning shares it.
#[derive(Clone)]
pub struct VerificationKey {
    alg: SignatureAlgorithm,
    key: Arc<signature::ParsedPublicKey>,
}

impl fmt::Debug for VerificationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VerificationKey {{ alg: {:?} }}", self.alg)
    }
}

impl VerificationKey {
    /// Parses a SEC1 point (compressed, as ESDK messages carry it).
    ///
    /// # Errors
    /// [`Error::Malformed`] if the point is not on the curve or has the wrong size.
    pub fn from_sec1(alg: SignatureAlgorithm, point: &[u8]) -> Result<Self> {
        let (verify, len): (&'static signature::EcdsaVerificationAlgorithm, usize) = match alg {
            SignatureAlgorithm::EcdsaP256Sha256 => (&signature::ECDSA_P256_SHA256_ASN1, 33),
            SignatureAlgorithm::EcdsaP384Sha384 => (&signature::ECDSA_P384_SHA384_ASN1, 49),
        };
        if point.len() != len || !matches!(point.first(), Some(2 | 3)) {
            return Err(Error::Malformed(
                "signature public key is not a compressed point of the suite's curve".into(),
            ));
        }
        let key = signature::ParsedPublicKey::new(verify, point)
            .map_err(|_| Error::Malformed("signature public key is not a valid point".into()))?;
        Ok(Self {
            alg,
            key: Arc::new(key),
        })
    }

    /// The algorithm.
    #[must_use]
    pub fn algorithm(&self) -> SignatureAlgorithm {
        self.alg
    }

    /// Verifies a DER signature over the hashed message.
    ///
    /// # Errors
    /// [`Error::Authentication`] if the signature does not verify.
    pub fn verify(&self, hasher: MessageHasher, sig: &[u8]) -> Result<()> {
        let d = hasher.0.finish();
        self.key
            .verify_digest_sig(&d, sig)
            .map_err(|_| Error::Authentication)
    }
}

/// RSA padding schemes of the raw RSA keyring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RsaPadding {
    /// PKCS#1 v1.5
    Pkcs1,
    /// OAEP with SHA-1 and MGF1-SHA-1
    OaepSha1,
    /// OAEP with SHA-256 and MGF1-SHA-256
    OaepSha256,
    /// OAEP with SHA-384 and MGF1-SHA-384
    OaepSha384,
    /// OAEP with SHA-512 and MGF1-SHA-512
    OaepSha512,
}

impl RsaPadding {
    fn oaep(self) -> Option<&'static rsa::OaepAlgorithm> {
        match self {
            Self::Pkcs1 => None,
            Self::OaepSha1 => Some(&rsa::OAEP_SHA1_MGF1SHA1),
            Self::OaepSha256 => Some(&rsa::OAEP_SHA256_MGF1SHA256),
            Self::OaepSha384 => Some(&rsa::OAEP_SHA384_MGF1SHA384),
            Self::OaepSha512 => Some(&rsa::OAEP_SHA512_MGF1SHA512),
        }
    }
}

/// An RSA public key for wrapping.
pub struct RsaPublicKey(rsa::PublicEncryptingKey);

impl fmt::Debug for RsaPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RsaPublicKey {{ bits: {} }}", self.0.key_size_bits())
    }
}

impl RsaPublicKey {
    /// Parses a DER SubjectPublicKeyInfo.
    ///
    /// # Errors
    /// [`Error::Key`] if the key is not an RSA SPKI.
    pub fn from_spki_der(der: &[u8]) -> Result<Self> {
        rsa::PublicEncryptingKey::from_der(der)
            .map(Self)
            .map_err(|e| Error::Key(format!("not an RSA public key (SPKI): {e}")))
    }

    /// Encrypts `plaintext` (a data key).
    ///
    /// # Errors
    /// [`Error::Key`] if the key is too small for the padding and plaintext.
    pub fn encrypt(&self, padding: RsaPadding, plaintext: &[u8]) -> Result<Vec<u8>> {
        let too_small = |_| Error::Key("RSA key too small for this padding and data key".into());
        match padding.oaep() {
            Some(alg) => {
                let k = rsa::OaepPublicEncryptingKey::new(self.0.clone()).map_err(too_small)?;
                let mut out = vec![0u8; k.ciphertext_size()];
                let n = k
                    .encrypt(alg, plaintext, &mut out, None)
                    .map_err(too_small)?
                    .len();
                out.truncate(n);
                Ok(out)
            }
            None => {
                let k = rsa::Pkcs1PublicEncryptingKey::new(self.0.clone()).map_err(too_small)?;
                let mut out = vec![0u8; k.ciphertext_size()];
                let n = k.encrypt(plaintext, &mut out).map_err(too_small)?.len();
                out.truncate(n);
                Ok(out)
            }
        }
    }
}

/// An RSA private key for unwrapping. Decryption runs in constant time in AWS-LC.
pub struct RsaPrivateKey(rsa::PrivateDecryptingKey);

impl fmt::Debug for RsaPrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "RsaPrivateKey {{ bits: {}, .. }}",
            self.0.key_size_bits()
        )
    }
}

impl RsaPrivateKey {
    /// Parses a DER PKCS#8 private key.
    ///
    /// # Errors
    /// [`Error::Key`] if the key is not an RSA PKCS#8 key.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self> {
        rsa::PrivateDecryptingKey::from_pkcs8(der)
            .map(Self)
            .map_err(|e| Error::Key(format!("not an RSA private key (PKCS#8): {e}")))
    }

    /// Decrypts a wrapped data key. Every failure is the same opaque error.
    ///
    /// # Errors
    /// [`Error::Authentication`] if decryption fails for any reason.
    pub fn decrypt(&self, padding: RsaPadding, ciphertext: &[u8]) -> Result<DataKey> {
        let mut out = Zeroizing::new(vec![0u8; self.0.key_size_bytes()]);
        let n = match padding.oaep() {
            Some(alg) => {
                let k = rsa::OaepPrivateDecryptingKey::new(self.0.clone())
                    .map_err(|_| Error::Authentication)?;
                k.decrypt(alg, ciphertext, &mut out, None)
                    .map_err(|_| Error::Authentication)?
                    .len()
            }
            None => {
                let k = rsa::Pkcs1PrivateDecryptingKey::new(self.0.clone())
                    .map_err(|_| Error::Authentication)?;
                k.decrypt(ciphertext, &mut out)
                    .map_err(|_| Error::Authentication)?
                    .len()
            }
        };
        out.truncate(n);
        Ok(DataKey::new(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// HKDF-SHA256 then HMAC-SHA256, as Python's `hmac`/`hashlib` compute them.
    #[test]
    fn mac_key_matches_an_independent_computation_and_checks_tags() {
        let k = MacKey::derive(b"salt", &[0x0b; 32], &[b"coffer ", b"test"]).unwrap();
        let tag = k.tag(&[b"ab", b"c"]);
        assert_eq!(
            hex::encode(tag),
            "0dfd9ced19e621b1794bf11de59149f92100594610cb6f96c91b6cb06ca264a4"
        );
        assert!(k.verify(&[b"abc"], &tag));
        assert!(!k.verify(&[b"abd"], &tag));
        let mut bad = tag;
        bad[31] ^= 1;
        assert!(!k.verify(&[b"abc"], &bad));
        assert!(!k.verify(&[b"abc"], &tag[..31]));
        assert_eq!(format!("{k:?}"), "MacKey(..)");
        let mut ctx = k.start();
        ctx.update(b"a");
        ctx.update(b"");
        ctx.update(b"bc");
        assert_eq!(format!("{ctx:?}"), "MacContext(..)");
        assert_eq!(ctx.finish(), tag);
    }

    #[test]
    fn gcm_round_trip_and_tamper() {
        for len in [16, 24, 32] {
            let k = GcmKey::new(&vec![7u8; len]).unwrap();
            let iv = [1u8; IV_LEN];
            let mut buf = b"hello world".to_vec();
            let tag = k.seal_in_place(&iv, b"aad", &mut buf).unwrap();
            let mut ct = buf.clone();
            ct.extend_from_slice(&tag);
            let mut bad = ct.clone();
            assert_eq!(
                k.open_in_place(&iv, b"aad", &mut ct).unwrap(),
                b"hello world"
            );
            bad[0] ^= 1;
            assert!(k.open_in_place(&iv, b"aad", &mut bad).is_err());
        }
        assert!(GcmKey::new(&[0u8; 20]).is_err());
    }

    #[test]
    fn gcm_out_of_place_matches_in_place() {
        let k = GcmKey::new(&[9u8; 32]).unwrap();
        let iv = [3u8; IV_LEN];
        let pt: Vec<u8> = (0..1000u32)
            .map(|i| u8::try_from(i % 251).unwrap())
            .collect();
        let mut inplace = pt.clone();
        let tag1 = k.seal_in_place(&iv, b"aad", &mut inplace).unwrap();
        let mut ct = vec![0u8; pt.len()];
        let mut tag2 = [0u8; TAG_LEN];
        k.seal_into(&iv, b"aad", &pt, &mut ct, &mut tag2).unwrap();
        assert_eq!(ct, inplace);
        assert_eq!(tag1, tag2);
        assert!(
            k.seal_into(&iv, b"aad", &pt, &mut ct[1..], &mut tag2)
                .is_err()
        );

        let mut out = vec![0u8; pt.len()];
        k.open_into(&iv, b"aad", &ct, &tag2, &mut out).unwrap();
        assert_eq!(out, pt);
        let mut bad = ct.clone();
        bad[500] ^= 1;
        let mut out = vec![0xAAu8; pt.len()];
        assert!(matches!(
            k.open_into(&iv, b"aad", &bad, &tag2, &mut out),
            Err(Error::Authentication)
        ));
        assert!(
            out.iter().all(|&b| b == 0),
            "nothing unauthenticated is left"
        );
        assert!(k.open_into(&iv, b"aad", &ct, &tag2[..8], &mut out).is_err());
        assert!(k.open_into(&iv, b"aad", &ct, &tag2, &mut out[1..]).is_err());
    }

    #[test]
    fn ecdsa_compressed_round_trip() {
        for alg in [
            SignatureAlgorithm::EcdsaP256Sha256,
            SignatureAlgorithm::EcdsaP384Sha384,
        ] {
            let sk = SigningKey::generate(alg).unwrap();
            let pk = sk.public_key_compressed().unwrap();
            let mut h = MessageHasher::new(alg);
            h.update(b"message");
            let sig = sk.sign(h).unwrap();
            let vk = VerificationKey::from_sec1(alg, &pk).unwrap();
            let mut h = MessageHasher::new(alg);
            h.update(b"message");
            vk.verify(h, &sig).unwrap();
            let mut h = MessageHasher::new(alg);
            h.update(b"messagf");
            assert!(vk.verify(h, &sig).is_err());
        }
    }
}
