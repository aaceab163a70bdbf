//! The hierarchical keyring: data keys wrapped under versioned branch keys, which are
//! themselves wrapped under a root key (ESDK `aws-kms-hierarchy` layout).
//!
//! # Wire layout
//!
//! An encrypted data key written here is byte-for-byte what the AWS Material Providers
//! Library's hierarchical keyring writes, so either can unwrap the other's given the same
//! branch key:
//!
//! - provider id `aws-kms-hierarchy`, provider info = branch key id (UTF-8);
//! - ciphertext = salt (16) ‖ IV (12) ‖ branch key version (16 raw UUID bytes) ‖
//!   encrypted data key (suite key length) ‖ GCM tag (16);
//! - wrapping key = SP 800-108r1 counter-mode KDF, PRF HMAC-SHA256, 32 bytes:
//!   `HMAC(branch key, [1]_32 ‖ "aws-kms-hierarchy" ‖ 0x00 ‖ salt ‖ [256]_32)`;
//! - wrap = AES-256-GCM(wrapping key, IV, AAD = `"aws-kms-hierarchy"` ‖ branch key id
//!   (UTF-8) ‖ version (16) ‖ serialized encryption context of the materials).
//!
//! Sources that agree on this layout: the spec
//! (`aws-encryption-sdk-specification` `framework/aws-kms/aws-kms-hierarchical-keyring.md`,
//! sections Ciphertext, Branch Key Wrapping, Branch Key Wrapping and Unwrapping AAD; it
//! names the KDF, label and salt but not the fixed-input encoding); the MPL's
//! `AwsCryptographyPrimitives/src/KDF/KdfCtr.dfy` (`explicitInfo := label ‖ [0x00] ‖ info ‖
//! lengthBits`, counter from 1 prepended per block) and its generated
//! `AwsKmsHierarchicalKeyring` (purpose = `PROVIDER_ID_HIERARCHY`, nonce = salt;
//! `WrappingAad` = provider id ‖ id ‖ version ‖ EC); the JavaScript ESDK
//! (`modules/kdf-ctr-mode-node/src/kdfctr.ts`,
//! `modules/kms-keyring-node/src/kms_hkeyring_node_helpers.ts`). `tests/data/hierarchy_kat.txt` pins it: the MPL's own KDF vectors and EDKs
//! computed with Python `cryptography` (KBKDFHMAC + AESGCM) and with the MPL 1.11.3
//! Python package (see `tests/data/hierarchy_kat.py`).
//!
//! Not implemented from the spec: the branch key cache (a [`BranchKeyStore`] may cache)
//! and branch key id suppliers.

use super::{BoxFuture, Keyring, ensure_data_key};
use crate::error::{Error, Result, UnwrapReport};
use crate::format::EncryptedDataKey;
use crate::materials::{DecryptionMaterials, EncryptionMaterials};
use crate::primitives::{self, GcmKey, IV_LEN, TAG_LEN};
use crate::secret::DataKey;
use std::fmt;
use std::sync::Arc;
use zeroize::Zeroizing;

/// Provider id of the encrypted data keys this keyring writes.
pub const PROVIDER_ID: &str = "aws-kms-hierarchy";

/// Length of a branch key.
pub const BRANCH_KEY_LEN: usize = 32;

/// Length of the KDF salt at the start of an EDK ciphertext.
pub const SALT_LEN: usize = 16;

/// Length of a branch key version (the raw bytes of a UUID).
pub const VERSION_LEN: usize = 16;

/// The KDF label, also the first part of the wrapping AAD.
const LABEL: &[u8] = PROVIDER_ID.as_bytes();

/// Length of the derived wrapping key (AES-256).
const DERIVED_KEY_LEN: usize = 32;

/// Everything in an EDK ciphertext except the encrypted data key itself.
const EDK_OVERHEAD: usize = SALT_LEN + IV_LEN + VERSION_LEN + TAG_LEN;

/// One version of a branch key, unwrapped. The material is wiped on drop and never printed.
#[derive(Clone)]
pub struct BranchKey {
    id: String,
    version: [u8; 16],
    material: Zeroizing<[u8; BRANCH_KEY_LEN]>,
}

impl fmt::Debug for BranchKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BranchKey")
            .field("id", &self.id)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

impl BranchKey {
    /// A branch key version: its id (UTF-8, the EDK's provider info), its version (the 16
    /// bytes of a UUID) and its 32 bytes of material.
    ///
    /// # Errors
    /// [`crate::Error::Key`] for an empty id or material that is not 32 bytes.
    pub fn new(id: &str, version: [u8; 16], material: &[u8]) -> Result<Self> {
        if id.is_empty() {
            return Err(Error::Key("a branch key needs an id".into()));
        }
        let material: [u8; BRANCH_KEY_LEN] = material.try_into().map_err(|_| {
            Error::Key(format!(
                "branch key material must be {BRANCH_KEY_LEN} bytes, not {}",
                material.len()
            ))
        })?;
        Ok(Self {
            id: id.to_owned(),
            version,
            material: Zeroizing::new(material),
        })
    }

    /// The branch key id.
    #[must_use]
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The version (16 raw bytes of a UUID).
    #[must_use]
    pub fn version(&self) -> &[u8; 16] {
        &self.version
    }

    /// The material, for the keyring and for the key store that wraps it.
    #[must_use]
    pub fn expose_secret(&self) -> &[u8; BRANCH_KEY_LEN] {
        &self.material
    }
}

/// Where branch keys come from: a key store that unwraps them with its root key.
pub trait BranchKeyStore: Send + Sync + fmt::Debug {
    /// The active (newest enabled) version of branch key `id`, for encrypting.
    fn active_branch_key<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<BranchKey>>;

    /// Version `version` of branch key `id`, for decrypting. Refuses versions that may not
    /// decrypt (retired, key disabled) with an error naming the version.
    fn branch_key_version<'a>(
        &'a self,
        id: &'a str,
        version: &'a [u8; 16],
    ) -> BoxFuture<'a, Result<BranchKey>>;
}

/// A key that wraps other keys: the root of a key hierarchy (a local key file, a KMS key,
/// an HSM key). It wraps branch key material with authenticated data binding the wrapped
/// key to its place (key name and version), so that a moved or edited row fails to unwrap.
pub trait RootKey: Send + Sync + fmt::Debug {
    /// A stable, non-secret identifier of this root key (stored next to what it wraps).
    fn id(&self) -> String;

    /// Wraps `key` with `aad` bound to it.
    fn wrap<'a>(&'a self, key: &'a [u8], aad: &'a [u8]) -> BoxFuture<'a, Result<Vec<u8>>>;

    /// Unwraps what [`RootKey::wrap`] returned, checking `aad`.
    fn unwrap<'a>(
        &'a self,
        wrapped: &'a [u8],
        aad: &'a [u8],
    ) -> BoxFuture<'a, Result<Zeroizing<Vec<u8>>>>;
}

/// The hierarchical keyring over a [`BranchKeyStore`].
pub struct HierarchicalKeyring {
    store: Arc<dyn BranchKeyStore>,
    /// The branch key encrypted under; `None`: decrypt only, any branch key of the store.
    branch_key_id: Option<String>,
}

impl fmt::Debug for HierarchicalKeyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HierarchicalKeyring")
            .field("branch_key_id", &self.branch_key_id)
            .finish_non_exhaustive()
    }
}

impl HierarchicalKeyring {
    /// Encrypts under the active version of `branch_key_id`; decrypts data keys of that
    /// branch key (any version the store still allows).
    #[must_use]
    pub fn new(store: Arc<dyn BranchKeyStore>, branch_key_id: &str) -> Self {
        Self {
            store,
            branch_key_id: Some(branch_key_id.to_owned()),
        }
    }

    /// Decrypts data keys of any branch key the store holds; cannot encrypt.
    #[must_use]
    pub fn any_branch_key(store: Arc<dyn BranchKeyStore>) -> Self {
        Self {
            store,
            branch_key_id: None,
        }
    }
}

impl HierarchicalKeyring {
    fn label(&self) -> String {
        match &self.branch_key_id {
            Some(id) => format!("hierarchy {id}"),
            None => "hierarchy (any branch key)".to_owned(),
        }
    }

    async fn wrap(&self, m: EncryptionMaterials) -> Result<EncryptionMaterials> {
        let Some(id) = self.branch_key_id.as_deref() else {
            return Err(Error::ApiMisuse(
                "this hierarchical keyring was made with any_branch_key and can only decrypt; \
                 name a branch key to encrypt"
                    .into(),
            ));
        };
        let branch_key = self.store.active_branch_key(id).await?;
        if branch_key.id() != id {
            return Err(Error::Key(format!(
                "key store returned branch key {:?} when asked for {id:?}",
                branch_key.id()
            )));
        }
        let m = ensure_data_key(m)?;
        let context = m.context().serialize()?;
        let mut salt = [0u8; SALT_LEN];
        let mut iv = [0u8; IV_LEN];
        primitives::fill_random(&mut salt)?;
        primitives::fill_random(&mut iv)?;
        let data_key = m
            .data_key()
            .ok_or_else(|| Error::ApiMisuse("no data key".into()))?;
        let ciphertext =
            wrap_data_key_with(&branch_key, data_key.expose_secret(), &context, &salt, &iv)?;
        crate::log::debug(format_args!(
            "hierarchy: data key wrapped under branch key {id} version {}",
            format_version(branch_key.version())
        ));
        m.with_edk(EncryptedDataKey {
            provider_id: PROVIDER_ID.to_owned(),
            provider_info: id.as_bytes().to_vec(),
            ciphertext,
        })
    }

    async fn unwrap_key(
        &self,
        m: DecryptionMaterials,
        edks: &[EncryptedDataKey],
    ) -> Result<DecryptionMaterials> {
        if m.data_key().is_some() {
            return Ok(m);
        }
        let label = self.label();
        let mut report = UnwrapReport::default();
        let context = m.context().serialize()?;
        let key_len = m.suite().data_key_len();
        for (i, edk) in edks.iter().enumerate() {
            let n = i.saturating_add(1);
            if edk.provider_id != PROVIDER_ID {
                report.push(
                    &label,
                    format!("data key #{n}: not wrapped by a branch key"),
                );
                continue;
            }
            let Ok(id) = std::str::from_utf8(&edk.provider_info) else {
                report.push(&label, format!("data key #{n}: branch key id is not UTF-8"));
                continue;
            };
            if id.is_empty() {
                report.push(&label, format!("data key #{n}: empty branch key id"));
                continue;
            }
            if let Some(mine) = &self.branch_key_id {
                if id != mine {
                    report.push(
                        &label,
                        format!("data key #{n}: wrapped by branch key {id:?}, not this one"),
                    );
                    continue;
                }
            }
            let Some(parsed) = ParsedCiphertext::parse(&edk.ciphertext, key_len) else {
                report.push(
                    &label,
                    format!(
                        "data key #{n} (branch key {id:?}): malformed, {} bytes where this \
                         suite needs {}",
                        edk.ciphertext.len(),
                        EDK_OVERHEAD.saturating_add(key_len)
                    ),
                );
                continue;
            };
            // The store lookup may reach a KMS or an HSM (the root key): it is the attempt.
            if !m.take_unwrap_attempt(&mut report) {
                continue;
            }
            let version = format_version(&parsed.version);
            let branch_key = match self.store.branch_key_version(id, &parsed.version).await {
                Ok(k) => k,
                Err(e) => {
                    // The store's message (retired, disabled, missing: and what to do)
                    // goes to the user as it is.
                    report.push_cause(
                        &label,
                        format!("data key #{n} (branch key {id:?} version {version}): {e}"),
                        e,
                    );
                    continue;
                }
            };
            if branch_key.id() != id || branch_key.version() != &parsed.version {
                report.push(
                    &label,
                    format!(
                        "data key #{n} (branch key {id:?} version {version}): key store \
                         returned a different branch key version"
                    ),
                );
                continue;
            }
            match unwrap_data_key_with(&branch_key, &parsed, &context) {
                Ok(key) => {
                    crate::log::debug(format_args!(
                        "hierarchy: data key unwrapped with branch key {id} version {version}"
                    ));
                    return m.with_data_key(key);
                }
                Err(_) => report.push(
                    &label,
                    format!(
                        "data key #{n} (branch key {id:?} version {version}): authentication \
                         failed (wrong branch key material or encryption context)"
                    ),
                ),
            }
        }
        if edks.is_empty() {
            report.push(&label, "message has no encrypted data keys");
        }
        Err(Error::Unwrap(report))
    }
}

impl Keyring for HierarchicalKeyring {
    fn on_encrypt<'a>(
        &'a self,
        materials: EncryptionMaterials,
    ) -> BoxFuture<'a, Result<EncryptionMaterials>> {
        Box::pin(self.wrap(materials))
    }

    fn on_decrypt<'a>(
        &'a self,
        materials: DecryptionMaterials,
        edks: &'a [EncryptedDataKey],
    ) -> BoxFuture<'a, Result<DecryptionMaterials>> {
        Box::pin(self.unwrap_key(materials, edks))
    }
}

/// The fields of a hierarchy EDK ciphertext.
struct ParsedCiphertext<'a> {
    salt: [u8; SALT_LEN],
    iv: [u8; IV_LEN],
    version: [u8; VERSION_LEN],
    /// Encrypted data key ‖ tag.
    sealed: &'a [u8],
}

impl<'a> ParsedCiphertext<'a> {
    /// Splits `ciphertext`, which must hold a data key of exactly `key_len` bytes.
    fn parse(ciphertext: &'a [u8], key_len: usize) -> Option<Self> {
        if ciphertext.len() != EDK_OVERHEAD.checked_add(key_len)? {
            return None;
        }
        let (salt, rest) = ciphertext.split_first_chunk::<SALT_LEN>()?;
        let (iv, rest) = rest.split_first_chunk::<IV_LEN>()?;
        let (version, sealed) = rest.split_first_chunk::<VERSION_LEN>()?;
        Some(Self {
            salt: *salt,
            iv: *iv,
            version: *version,
            sealed,
        })
    }
}

/// The wrapping key for one EDK: the KDF output over the branch key and the EDK's salt.
fn derive_wrapping_key_bytes(
    branch_key: &BranchKey,
    salt: &[u8; SALT_LEN],
) -> Result<Zeroizing<[u8; DERIVED_KEY_LEN]>> {
    let mut out = Zeroizing::new([0u8; DERIVED_KEY_LEN]);
    primitives::kdf_ctr_hmac_sha256(branch_key.expose_secret(), LABEL, salt, &mut *out)?;
    Ok(out)
}

fn derive_wrapping_key(branch_key: &BranchKey, salt: &[u8; SALT_LEN]) -> Result<GcmKey> {
    GcmKey::new(&*derive_wrapping_key_bytes(branch_key, salt)?)
}

/// `"aws-kms-hierarchy"` ‖ branch key id ‖ version ‖ serialized encryption context.
fn wrapping_aad(id: &str, version: &[u8; VERSION_LEN], context: &[u8]) -> Vec<u8> {
    let mut aad = Vec::with_capacity(LABEL.len() + id.len() + VERSION_LEN + context.len());
    aad.extend_from_slice(LABEL);
    aad.extend_from_slice(id.as_bytes());
    aad.extend_from_slice(version);
    aad.extend_from_slice(context);
    aad
}

/// Wraps `data_key` with a given salt and IV: the deterministic core of
/// [`HierarchicalKeyring`]'s `on_encrypt`, which draws both at random. Known-answer tests
/// only; never call it with a fixed salt or IV for real data.
pub(crate) fn wrap_data_key_with(
    branch_key: &BranchKey,
    data_key: &[u8],
    context: &[u8],
    salt: &[u8; SALT_LEN],
    iv: &[u8; IV_LEN],
) -> Result<Vec<u8>> {
    let key = derive_wrapping_key(branch_key, salt)?;
    let aad = wrapping_aad(branch_key.id(), branch_key.version(), context);
    let len = EDK_OVERHEAD
        .checked_add(data_key.len())
        .ok_or_else(|| Error::ApiMisuse("data key too long".into()))?;
    // Zeroizing: the data key sits in this buffer in clear until it is sealed in place.
    let mut out = Zeroizing::new(Vec::with_capacity(len));
    out.extend_from_slice(salt);
    out.extend_from_slice(iv);
    out.extend_from_slice(branch_key.version());
    let start = out.len();
    out.extend_from_slice(data_key);
    let tag = key.seal_in_place(iv, &aad, &mut out[start..])?;
    out.extend_from_slice(&tag);
    Ok(std::mem::take(&mut *out))
}

fn unwrap_data_key_with(
    branch_key: &BranchKey,
    parsed: &ParsedCiphertext<'_>,
    context: &[u8],
) -> Result<DataKey> {
    let key = derive_wrapping_key(branch_key, &parsed.salt)?;
    let aad = wrapping_aad(branch_key.id(), &parsed.version, context);
    let mut buf = Zeroizing::new(parsed.sealed.to_vec());
    let plaintext = key.open_in_place(&parsed.iv, &aad, &mut buf)?;
    Ok(DataKey::from_slice(plaintext))
}

/// The branch key id and version of a hierarchical keyring's encrypted data key, for
/// inspection (nothing is authenticated). `None` for other providers' keys and for
/// malformed ones (an id that is empty or not UTF-8, a ciphertext whose length fits no
/// data key length).
#[must_use]
pub fn describe_edk(edk: &EncryptedDataKey) -> Option<(String, [u8; VERSION_LEN])> {
    if edk.provider_id != PROVIDER_ID {
        return None;
    }
    let id = std::str::from_utf8(&edk.provider_info).ok()?;
    if id.is_empty() {
        return None;
    }
    let key_len = edk.ciphertext.len().checked_sub(EDK_OVERHEAD)?;
    if !matches!(key_len, 16 | 24 | 32) {
        return None;
    }
    let parsed = ParsedCiphertext::parse(&edk.ciphertext, key_len)?;
    Some((id.to_owned(), parsed.version))
}

/// A branch key version in the usual UUID text form
/// (`xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`, lower-case hex).
#[must_use]
pub fn format_version(version: &[u8; VERSION_LEN]) -> String {
    let mut s = String::with_capacity(36);
    for (i, b) in version.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        push_hex(&mut s, *b);
    }
    s
}

fn push_hex(s: &mut String, b: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    s.push(char::from(HEX[usize::from(b >> 4)]));
    s.push(char::from(HEX[usize::from(b & 0x0f)]));
}

/// Label hashed in front of a local root key to make its id (domain separation).
const LOCAL_ROOT_ID_LABEL: &[u8] = b"coffer local root key id v1\0";

/// A root key held locally: 32 bytes of AES-256-GCM key, typically read from a key file.
///
/// [`RootKey::wrap`] returns a random 12-byte IV ‖ ciphertext ‖ 16-byte tag, with the
/// caller's AAD bound. The key is wiped on drop and never printed.
pub struct LocalRootKey {
    key: Zeroizing<[u8; Self::LEN]>,
    gcm: GcmKey,
    id: String,
}

impl fmt::Debug for LocalRootKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalRootKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl LocalRootKey {
    /// Length of a local root key.
    pub const LEN: usize = 32;

    /// A root key from exactly 32 bytes.
    ///
    /// # Errors
    /// [`Error::Key`] for any other length.
    pub fn new(key: &[u8]) -> Result<Self> {
        if key.len() != Self::LEN {
            return Err(Error::Key(format!(
                "a local root key must be {} bytes, not {}",
                Self::LEN,
                key.len()
            )));
        }
        let mut bytes = Zeroizing::new([0u8; Self::LEN]);
        bytes.copy_from_slice(key);
        Self::from_bytes(bytes)
    }

    /// A fresh random root key.
    ///
    /// # Errors
    /// [`Error::Other`] if the random number generator fails.
    pub fn generate() -> Result<Self> {
        let mut bytes = Zeroizing::new([0u8; Self::LEN]);
        primitives::fill_random(&mut *bytes)?;
        Self::from_bytes(bytes)
    }

    fn from_bytes(key: Zeroizing<[u8; Self::LEN]>) -> Result<Self> {
        let gcm = GcmKey::new(&*key)?;
        let digest = primitives::sha256(&[LOCAL_ROOT_ID_LABEL, &*key]);
        let mut id = String::from("local:");
        for b in &digest[..8] {
            push_hex(&mut id, *b);
        }
        Ok(Self { key, gcm, id })
    }

    /// The key bytes, for writing the key file. Keep the borrow short.
    #[must_use]
    pub fn expose_secret(&self) -> &[u8; Self::LEN] {
        &self.key
    }

    fn wrap_sync(&self, key: &[u8], aad: &[u8]) -> Result<Vec<u8>> {
        let len = key
            .len()
            .checked_add(IV_LEN + TAG_LEN)
            .ok_or_else(|| Error::ApiMisuse("key to wrap is too long".into()))?;
        let mut iv = [0u8; IV_LEN];
        primitives::fill_random(&mut iv)?;
        let mut out = Zeroizing::new(Vec::with_capacity(len));
        out.extend_from_slice(&iv);
        out.extend_from_slice(key);
        let tag = self.gcm.seal_in_place(&iv, aad, &mut out[IV_LEN..])?;
        out.extend_from_slice(&tag);
        Ok(std::mem::take(&mut *out))
    }

    fn unwrap_sync(&self, wrapped: &[u8], aad: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let Some((iv, sealed)) = wrapped.split_first_chunk::<IV_LEN>() else {
            return Err(Error::Malformed("wrapped key is too short".into()));
        };
        if sealed.len() < TAG_LEN {
            return Err(Error::Malformed("wrapped key is too short".into()));
        }
        let mut buf = Zeroizing::new(sealed.to_vec());
        let plaintext = self.gcm.open_in_place(iv, aad, &mut buf)?;
        Ok(Zeroizing::new(plaintext.to_vec()))
    }
}

impl RootKey for LocalRootKey {
    fn id(&self) -> String {
        self.id.clone()
    }

    fn wrap<'a>(&'a self, key: &'a [u8], aad: &'a [u8]) -> BoxFuture<'a, Result<Vec<u8>>> {
        Box::pin(std::future::ready(self.wrap_sync(key, aad)))
    }

    fn unwrap<'a>(
        &'a self,
        wrapped: &'a [u8],
        aad: &'a [u8],
    ) -> BoxFuture<'a, Result<Zeroizing<Vec<u8>>>> {
        Box::pin(std::future::ready(self.unwrap_sync(wrapped, aad)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::EncryptionContext;
    use crate::suite::AlgorithmSuite;
    use crate::testing::MemoryBranchKeyStore as MemStore;
    use std::collections::BTreeMap;

    /// Holds `key`, and makes it the active version if `active`.
    fn add(store: &MemStore, key: BranchKey, active: bool) {
        if active {
            store.activate(key.id(), *key.version());
        }
        store.insert(key);
    }

    fn block<F: Future>(f: F) -> F::Output {
        futures::executor::block_on(f)
    }

    /// One block of `tests/data/hierarchy_kat.txt`.
    struct Vector(BTreeMap<String, String>);

    impl Vector {
        fn text(&self, k: &str) -> &str {
            self.0.get(k).unwrap_or_else(|| panic!("missing {k}"))
        }
        fn bytes(&self, k: &str) -> Vec<u8> {
            hex::decode(self.text(k)).unwrap()
        }
        fn array<const N: usize>(&self, k: &str) -> [u8; N] {
            self.bytes(k).try_into().unwrap()
        }
        fn utf8(&self, k: &str) -> String {
            String::from_utf8(self.bytes(k)).unwrap()
        }
        fn suite(&self) -> AlgorithmSuite {
            AlgorithmSuite::from_id(u16::from_str_radix(self.text("suite"), 16).unwrap()).unwrap()
        }
        fn branch_key(&self) -> BranchKey {
            BranchKey::new(
                &self.utf8("branch_key_id"),
                self.array("version"),
                &self.bytes("branch_key"),
            )
            .unwrap()
        }
        fn context(&self) -> EncryptionContext {
            let bytes = self.bytes("context");
            let ctx = EncryptionContext::deserialize(&bytes).unwrap();
            assert_eq!(ctx.serialize().unwrap(), bytes, "canonical context");
            ctx
        }
    }

    /// The checked-in vectors, or a freshly generated file named by `COFFER_HIERARCHY_KAT`
    /// (`scripts/test.sh` makes one with the AWS Material Providers Library, whose EDK
    /// changes on every run).
    fn vectors() -> Vec<Vector> {
        let fresh = std::env::var_os("COFFER_HIERARCHY_KAT").map(|p| {
            std::fs::read_to_string(&p)
                .unwrap_or_else(|e| panic!("COFFER_HIERARCHY_KAT={}: {e}", p.display()))
        });
        let text = fresh
            .as_deref()
            .unwrap_or(include_str!("../../tests/data/hierarchy_kat.txt"));
        let mut out = Vec::new();
        let mut cur = BTreeMap::new();
        for line in text.lines().chain(std::iter::once("")) {
            let line = line.trim();
            if line.starts_with('#') {
                continue;
            }
            if line.is_empty() {
                if !cur.is_empty() {
                    out.push(Vector(std::mem::take(&mut cur)));
                }
                continue;
            }
            let (k, v) = line.split_once('=').unwrap();
            cur.insert(k.trim().to_owned(), v.trim().to_owned());
        }
        out
    }

    fn of_type(t: &str) -> Vec<Vector> {
        let v: Vec<Vector> = vectors()
            .into_iter()
            .filter(|v| v.text("type") == t)
            .collect();
        assert!(!v.is_empty(), "no {t} vectors");
        v
    }

    fn unwrap_with_keyring(v: &Vector) -> Result<DecryptionMaterials> {
        let store = Arc::new(MemStore::default());
        add(&store, v.branch_key(), true);
        let kr = HierarchicalKeyring::new(store, &v.utf8("branch_key_id"));
        let edk = EncryptedDataKey {
            provider_id: PROVIDER_ID.into(),
            provider_info: v.bytes("branch_key_id"),
            ciphertext: v.bytes("edk_ciphertext"),
        };
        block(kr.on_decrypt(DecryptionMaterials::new(v.suite(), v.context()), &[edk]))
    }

    #[test]
    fn kdf_matches_the_mpl_vectors() {
        for v in of_type("kdf") {
            let mut out = [0u8; 32];
            primitives::kdf_ctr_hmac_sha256(
                &v.bytes("ikm"),
                &v.bytes("label"),
                &v.bytes("context"),
                &mut out,
            )
            .unwrap();
            assert_eq!(out.to_vec(), v.bytes("okm"), "{}", v.text("name_text"));
        }
        for v in of_type("kdf-raw") {
            let mut out = [0u8; 32];
            primitives::kdf_ctr_hmac_sha256_raw(&v.bytes("ikm"), &v.bytes("fixed"), &mut out)
                .unwrap();
            assert_eq!(out.to_vec(), v.bytes("okm"), "{}", v.text("name_text"));
        }
    }

    #[test]
    fn kdf_longer_outputs_and_limits() {
        // Two blocks: the second uses counter 2, and L changes the first block too.
        let mut one = [0u8; 32];
        let mut two = [0u8; 64];
        primitives::kdf_ctr_hmac_sha256(b"k", LABEL, b"salt", &mut one).unwrap();
        primitives::kdf_ctr_hmac_sha256(b"k", LABEL, b"salt", &mut two).unwrap();
        assert_ne!(one[..], two[..32]);
        let mut raw = [0u8; 64];
        let mut fixed = LABEL.to_vec();
        fixed.push(0);
        fixed.extend_from_slice(b"salt");
        fixed.extend_from_slice(&512u32.to_be_bytes());
        primitives::kdf_ctr_hmac_sha256_raw(b"k", &fixed, &mut raw).unwrap();
        assert_eq!(raw, two);
        assert!(primitives::kdf_ctr_hmac_sha256(b"k", LABEL, b"s", &mut []).is_err());
    }

    #[test]
    fn wrap_matches_the_independent_vectors_byte_for_byte() {
        for v in of_type("hierarchy") {
            let name = v.text("name_text");
            let bk = v.branch_key();
            let salt = v.array("salt");
            let iv = v.array("iv");
            let context = v.context().serialize().unwrap();
            assert_eq!(
                derive_wrapping_key_bytes(&bk, &salt).unwrap().to_vec(),
                v.bytes("derived_key"),
                "{name}: derived key"
            );
            assert_eq!(
                wrapping_aad(bk.id(), bk.version(), &context),
                v.bytes("aad"),
                "{name}: AAD"
            );
            let edk = wrap_data_key_with(&bk, &v.bytes("data_key"), &context, &salt, &iv).unwrap();
            assert_eq!(edk, v.bytes("edk_ciphertext"), "{name}: EDK ciphertext");
        }
    }

    #[test]
    fn keyring_unwraps_python_and_mpl_edks() {
        let mut mpl = 0;
        for v in vectors()
            .into_iter()
            .filter(|v| v.text("type").starts_with("hierarchy"))
        {
            if v.text("type") == "hierarchy-unwrap" {
                mpl += 1;
            }
            let m = unwrap_with_keyring(&v).unwrap();
            assert_eq!(
                m.data_key().unwrap().expose_secret(),
                &v.bytes("data_key")[..],
                "{} ({})",
                v.text("name_text"),
                v.text("producer_text")
            );
            let edk = EncryptedDataKey {
                provider_id: PROVIDER_ID.into(),
                provider_info: v.bytes("branch_key_id"),
                ciphertext: v.bytes("edk_ciphertext"),
            };
            assert_eq!(
                describe_edk(&edk),
                Some((v.utf8("branch_key_id"), v.array("version")))
            );
        }
        assert!(mpl > 0, "the data file has no MPL-wrapped EDK");
    }

    #[test]
    fn vectors_fail_with_another_context() {
        for v in of_type("hierarchy") {
            let mut v = v;
            let mut ctx = v.context();
            ctx.insert("extra", "pair");
            v.0.insert("context".into(), hex::encode(ctx.serialize().unwrap()));
            assert!(matches!(unwrap_with_keyring(&v), Err(Error::Unwrap(_))));
        }
    }

    /// Encrypts under branch key `b` of the store `make` builds around it, then decrypts
    /// through that store: the error.
    fn decrypt_through<S: BranchKeyStore + 'static>(make: impl FnOnce(BranchKey) -> S) -> Error {
        let bk = BranchKey::new("b", [1; 16], &[5; 32]).unwrap();
        let kr = HierarchicalKeyring::new(Arc::new(make(bk)), "b");
        let suite = AlgorithmSuite::from_id(0x0478).unwrap();
        let m = block(kr.on_encrypt(EncryptionMaterials::new(suite, EncryptionContext::new())))
            .unwrap();
        block(kr.on_decrypt(
            DecryptionMaterials::new(suite, EncryptionContext::new()),
            m.edks(),
        ))
        .unwrap_err()
    }

    #[test]
    fn store_returning_the_wrong_version_is_refused() {
        #[derive(Debug)]
        struct Liar(BranchKey);
        impl BranchKeyStore for Liar {
            fn active_branch_key<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<BranchKey>> {
                Box::pin(std::future::ready(Ok(self.0.clone())))
            }
            fn branch_key_version<'a>(
                &'a self,
                _: &'a str,
                _: &'a [u8; 16],
            ) -> BoxFuture<'a, Result<BranchKey>> {
                let k = BranchKey::new(self.0.id(), [9; 16], self.0.expose_secret()).unwrap();
                Box::pin(std::future::ready(Ok(k)))
            }
        }
        let err = decrypt_through(Liar);
        assert!(
            err.to_string().contains("different branch key version"),
            "{err}"
        );
    }

    /// A store's error stays in the report, for front ends to find its kind.
    #[test]
    fn the_store_error_is_kept_as_the_cause() {
        #[derive(Debug)]
        struct Refuses(BranchKey);
        #[derive(Debug)]
        struct Disabled;
        impl fmt::Display for Disabled {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("key is disabled")
            }
        }
        impl std::error::Error for Disabled {}
        impl BranchKeyStore for Refuses {
            fn active_branch_key<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<BranchKey>> {
                Box::pin(std::future::ready(Ok(self.0.clone())))
            }
            fn branch_key_version<'a>(
                &'a self,
                _: &'a str,
                _: &'a [u8; 16],
            ) -> BoxFuture<'a, Result<BranchKey>> {
                Box::pin(std::future::ready(Err(Error::Other(Arc::new(Disabled)))))
            }
        }
        let Error::Unwrap(report) = decrypt_through(Refuses) else {
            panic!("expected an unwrap report");
        };
        let cause = report.attempts[0].cause.as_ref().unwrap();
        let inner = std::error::Error::source(cause).unwrap();
        assert!(inner.downcast_ref::<Disabled>().is_some());
        assert!(report.attempts[0].reason.contains("key is disabled"));
    }

    #[test]
    fn describe_edk_rejects_foreign_and_malformed() {
        let good = EncryptedDataKey {
            provider_id: PROVIDER_ID.into(),
            provider_info: b"id".to_vec(),
            ciphertext: vec![0; EDK_OVERHEAD + 32],
        };
        assert_eq!(describe_edk(&good), Some(("id".into(), [0; 16])));
        for len in [0, 1, EDK_OVERHEAD, EDK_OVERHEAD + 15, EDK_OVERHEAD + 33] {
            let e = EncryptedDataKey {
                ciphertext: vec![0; len],
                ..good.clone()
            };
            assert_eq!(describe_edk(&e), None, "length {len}");
        }
        for info in [&b""[..], &[0xff, 0xfe][..]] {
            let e = EncryptedDataKey {
                provider_info: info.to_vec(),
                ..good.clone()
            };
            assert_eq!(describe_edk(&e), None);
        }
        let e = EncryptedDataKey {
            provider_id: "aws-kms".into(),
            ..good
        };
        assert_eq!(describe_edk(&e), None);
    }

    #[test]
    fn version_text() {
        let v = [
            0x5f, 0x3a, 0x2b, 0x1c, 0x9d, 0x8e, 0x4f, 0x70, 0xa1, 0xb2, 0xc3, 0xd4, 0xe5, 0xf6,
            0x07, 0x18,
        ];
        assert_eq!(format_version(&v), "5f3a2b1c-9d8e-4f70-a1b2-c3d4e5f60718");
    }

    #[test]
    fn local_root_key_round_trip_and_failures() {
        let rk = LocalRootKey::generate().unwrap();
        let wrapped = block(rk.wrap(b"branch key material", b"aad")).unwrap();
        assert_eq!(wrapped.len(), IV_LEN + 19 + TAG_LEN);
        let again = block(rk.wrap(b"branch key material", b"aad")).unwrap();
        assert_ne!(wrapped, again, "fresh IV each time");
        assert_eq!(
            &block(rk.unwrap(&wrapped, b"aad")).unwrap()[..],
            b"branch key material"
        );
        assert!(matches!(
            block(rk.unwrap(&wrapped, b"other")),
            Err(Error::Authentication)
        ));
        for i in 0..wrapped.len() {
            let mut bad = wrapped.clone();
            bad[i] ^= 0x01;
            assert!(matches!(
                block(rk.unwrap(&bad, b"aad")),
                Err(Error::Authentication)
            ));
        }
        for len in 0..IV_LEN + TAG_LEN {
            assert!(block(rk.unwrap(&wrapped[..len], b"aad")).is_err());
        }
        let other = LocalRootKey::new(&[7; 32]).unwrap();
        assert!(matches!(
            block(other.unwrap(&wrapped, b"aad")),
            Err(Error::Authentication)
        ));
        let from_bytes = LocalRootKey::new(rk.expose_secret()).unwrap();
        assert_eq!(
            &block(from_bytes.unwrap(&wrapped, b"aad")).unwrap()[..],
            b"branch key material"
        );
        assert!(LocalRootKey::new(&[7; 31]).is_err());
        assert!(LocalRootKey::new(&[7; 33]).is_err());
    }

    #[test]
    fn local_root_key_id_is_a_stable_fingerprint() {
        let a = LocalRootKey::new(&[7; 32]).unwrap();
        let id = a.id();
        assert_eq!(id, LocalRootKey::new(&[7; 32]).unwrap().id());
        assert_ne!(id, LocalRootKey::new(&[8; 32]).unwrap().id());
        let hex_part = id.strip_prefix("local:").unwrap();
        assert_eq!(hex_part.len(), 16);
        assert!(hex_part.bytes().all(|b| b.is_ascii_hexdigit()));
        // Pinned: SHA-256("coffer local root key id v1\0" ‖ key)[..8].
        let want = hex::encode(&primitives::sha256(&[LOCAL_ROOT_ID_LABEL, &[7; 32]])[..8]);
        assert_eq!(hex_part, want);
    }

    #[test]
    fn debug_output_is_redacted() {
        let secret = [0xAB; 32];
        let rk = LocalRootKey::new(&secret).unwrap();
        let bk = BranchKey::new("bk", [1; 16], &secret).unwrap();
        let store = Arc::new(MemStore::default());
        let kr = HierarchicalKeyring::new(store, "bk");
        for s in [format!("{rk:?}"), format!("{bk:?}"), format!("{kr:?}")] {
            let lower = s.to_lowercase();
            // Neither hex nor a decimal array of the key bytes.
            assert!(!lower.contains("abab") && !s.contains("171, 171"), "{s}");
        }
        assert!(format!("{rk:?}").contains(&rk.id()));
    }
}
