//! The local root key file (`COFFER_HOME/root.key`, mode `0600`): 32 random bytes that wrap
//! the store's branch key versions, optionally protected by a passphrase.
//!
//! # File format, version 1
//!
//! All integers are big-endian. Both kinds start with the same magic line and end with a
//! SHA-256 checksum of every byte before it, so a truncated or damaged file is reported as
//! such (and not as a wrong passphrase). The checksum guards against accidents, not attacks:
//! the passphrase form is authenticated by AES-GCM, and the plain form is only as safe as the
//! file's permissions.
//!
//! ```text
//! plain (84 bytes):
//!   "coffer-root-key v1\n"  19  magic and format version
//!   0x01                     1  kind: plain
//!   key                     32  the root key
//!   checksum                32  SHA-256 of the 52 bytes above
//!
//! passphrase (140 bytes):
//!   "coffer-root-key v1\n"  19  magic and format version
//!   0x02                     1  kind: passphrase (Argon2id, AES-256-GCM)
//!   m                        4  Argon2id memory, KiB
//!   t                        4  Argon2id passes
//!   p                        4  Argon2id lanes
//!   salt                    16  Argon2id salt (random)
//!   nonce                   12  AES-GCM nonce (random)
//!   ciphertext              32  the root key, encrypted with AES-256-GCM under
//!                               KEK = Argon2id(v19, m, t, p, passphrase, salt, 32 bytes),
//!                               with the 48 bytes from the magic to the salt as AAD
//!   tag                     16  AES-GCM tag
//!   checksum                32  SHA-256 of the 108 bytes above
//! ```
//!
//! An AWS KMS root (`coffer init --root kms:KEY`) keeps no key material here: the file names
//! the KMS key, which wraps the branch keys inside KMS.
//!
//! A PKCS#11 root (`coffer init --root pkcs11:…`) likewise names an AES key on a token, by
//! its URI (module path resolved; a PIN file's path, never a PIN):
//!
//! ```text
//! kms or pkcs11 (19 + 1 + 2 + n + 32 bytes):
//!   "coffer-root-key v1\n"  19  magic and format version
//!   0x03 or 0x04             1  kind: AWS KMS or PKCS#11
//!   n                        2  length of the key ARN or URI
//!   key ARN or URI           n  UTF-8
//!   checksum                32  SHA-256 of the bytes above
//! ```
//!
//! A file whose magic line names another version (`coffer-root-key v2`) was written by a newer
//! coffer and is refused as such. `coffer init` writes the file once, atomically (temporary
//! file with mode `0600`, fsync, rename that never replaces an existing file, directory
//! fsync). Only `coffer key rotate --root` replaces it, by renaming the side file
//! `root.key.next` over it once the store has switched to the new key: see "Root rotation" in
//! [`crate::store`].
//!
//! The passphrase is read from the file named by `COFFER_PASSPHRASE_FILE` (one trailing
//! newline dropped), else asked on the terminal; never taken from the command line.

use std::fmt;
use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use coffer_core::GcmKey;
use coffer_core::keyring::{LocalRootKey, RootKey};
use zeroize::Zeroizing;

use super::passphrase::{PASSPHRASE_FILE_VAR, Passphrase};
use crate::error::{Advice, Error};
use crate::files::{AtomicFile, FileError};

/// The magic line: name and format version.
pub const MAGIC: &[u8; 19] = b"coffer-root-key v1\n";
const MAGIC_STEM: &[u8] = b"coffer-root-key v";
const KIND_PLAIN: u8 = 1;
const KIND_PASSPHRASE: u8 = 2;
const KIND_KMS: u8 = 3;
const KIND_PKCS11: u8 = 4;
/// Root key length in bytes.
pub const ROOT_KEY_LEN: usize = 32;
const CHECKSUM_LEN: usize = 32;
const SALT_LEN: usize = 16;
const TAG_LEN: usize = 16;
const NONCE_LEN: usize = 12;
const PLAIN_LEN: usize = MAGIC.len() + 1 + ROOT_KEY_LEN + CHECKSUM_LEN;
const PARAMS_LEN: usize = 12;
const AAD_LEN: usize = MAGIC.len() + 1 + PARAMS_LEN + SALT_LEN;
const PASSPHRASE_LEN: usize = AAD_LEN + NONCE_LEN + ROOT_KEY_LEN + TAG_LEN + CHECKSUM_LEN;

/// The 32 bytes of a root key. Wiped on drop, never printed.
pub struct RootKeyMaterial(Zeroizing<[u8; ROOT_KEY_LEN]>);

impl fmt::Debug for RootKeyMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RootKeyMaterial { len: 32, .. }")
    }
}

impl RootKeyMaterial {
    /// 32 fresh random bytes.
    ///
    /// # Errors
    /// The system's random source failed.
    pub fn generate() -> Result<Self, Error> {
        let mut key = Zeroizing::new([0u8; ROOT_KEY_LEN]);
        random(&mut key[..])?;
        Ok(Self(key))
    }

    /// The key bytes.
    pub fn expose_secret(&self) -> &[u8; ROOT_KEY_LEN] {
        &self.0
    }

    /// The root key (the [`RootKey`] the store wraps branch keys with).
    ///
    /// # Errors
    /// The crypto backend refused the key (it does not for 32 bytes).
    pub fn into_root_key(self) -> Result<Arc<dyn RootKey>, Error> {
        let key = LocalRootKey::new(&self.0[..])
            .map_err(|e| Error::backend("cannot use the root key").caused_by(e))?;
        Ok(Arc::new(key))
    }
}

/// Argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory in KiB.
    pub m_kib: u32,
    /// Passes.
    pub t: u32,
    /// Lanes.
    pub p: u32,
}

impl KdfParams {
    /// What new files use: 64 MiB, 3 passes, 1 lane (RFC 9106's second recommendation, one
    /// lane because the computation runs on one thread).
    pub const DEFAULT: Self = Self {
        m_kib: 64 * 1024,
        t: 3,
        p: 1,
    };

    /// Limits on what a file may ask for, so that a crafted file cannot make coffer allocate
    /// without bound: at most 4 GiB, 64 passes, 16 lanes.
    fn check(self) -> Result<argon2::Params, String> {
        if self.m_kib > 4 * 1024 * 1024 || self.t > 64 || self.p > 16 {
            return Err(format!(
                "Argon2id parameters m={} KiB, t={}, p={} exceed coffer's limits",
                self.m_kib, self.t, self.p
            ));
        }
        argon2::Params::new(self.m_kib, self.t, self.p, Some(ROOT_KEY_LEN))
            .map_err(|e| format!("bad Argon2id parameters: {e}"))
    }
}

/// How a root key file is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protection {
    /// The key is stored as it is (the file's permissions protect it).
    Plain,
    /// The key is encrypted under a passphrase.
    Passphrase(KdfParams),
    /// There is no key material: the file names an AWS KMS key ([`kms_key_id`]).
    Kms,
    /// There is no key material: the file names a key on a PKCS#11 token ([`pkcs11_uri`]).
    Pkcs11,
}

fn random(buf: &mut [u8]) -> Result<(), Error> {
    coffer_core::fill_random(buf)
        .map_err(|_| Error::backend("the system's random number generator failed"))
}

fn checksum(bytes: &[u8]) -> [u8; CHECKSUM_LEN] {
    coffer_core::sha256(&[bytes])
}

fn derive_kek(
    passphrase: &Passphrase,
    salt: &[u8],
    params: KdfParams,
) -> Result<Zeroizing<[u8; 32]>, String> {
    let argon = argon2::Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        params.check()?,
    );
    let mut kek = Zeroizing::new([0u8; 32]);
    argon
        .hash_password_into(passphrase.expose_secret(), salt, &mut kek[..])
        .map_err(|e| format!("Argon2id failed: {e}"))?;
    Ok(kek)
}

fn gcm_key(kek: &[u8; 32]) -> Result<GcmKey, Error> {
    GcmKey::new(kek).map_err(|e| Error::backend("cannot set up AES-256-GCM").caused_by(e))
}

/// Encodes a root key file.
///
/// # Errors
/// A passphrase is needed and missing, or the KDF or the random source failed.
pub fn encode(
    key: &RootKeyMaterial,
    protection: Protection,
    passphrase: Option<&Passphrase>,
) -> Result<Zeroizing<Vec<u8>>, Error> {
    match protection {
        Protection::Plain => {
            let mut out = Zeroizing::new(Vec::with_capacity(PLAIN_LEN));
            out.extend_from_slice(MAGIC);
            out.push(KIND_PLAIN);
            out.extend_from_slice(key.expose_secret());
            let sum = checksum(&out);
            out.extend_from_slice(&sum);
            Ok(out)
        }
        Protection::Passphrase(params) => {
            let passphrase = passphrase
                .ok_or_else(|| Error::backend("a passphrase-protected key needs a passphrase"))?;
            let mut salt = [0u8; SALT_LEN];
            random(&mut salt)?;
            let mut nonce = [0u8; NONCE_LEN];
            random(&mut nonce)?;
            let mut out = Zeroizing::new(Vec::with_capacity(PASSPHRASE_LEN));
            out.extend_from_slice(MAGIC);
            out.push(KIND_PASSPHRASE);
            for n in [params.m_kib, params.t, params.p] {
                out.extend_from_slice(&n.to_be_bytes());
            }
            out.extend_from_slice(&salt);
            let kek = derive_kek(passphrase, &salt, params).map_err(Error::backend)?;
            let mut sealed = Zeroizing::new(key.expose_secret().to_vec());
            let tag = gcm_key(&kek)?
                .seal_in_place(&nonce, &out[..], &mut sealed[..])
                .map_err(|e| Error::backend("cannot encrypt the root key").caused_by(e))?;
            out.extend_from_slice(&nonce);
            out.extend_from_slice(&sealed);
            out.extend_from_slice(&tag);
            let sum = checksum(&out);
            out.extend_from_slice(&sum);
            Ok(out)
        }
        Protection::Kms | Protection::Pkcs11 => Err(Error::backend(
            "internal error: a KMS or PKCS#11 root key file holds no key material",
        )),
    }
}

/// Encodes the root key file of an AWS KMS root: the key ARN.
///
/// # Errors
/// An ARN longer than 65535 bytes.
pub fn encode_kms(arn: &str) -> Result<Zeroizing<Vec<u8>>, Error> {
    encode_reference(KIND_KMS, arn)
}

/// Encodes the root key file of a PKCS#11 root: the key's URI (no PIN value).
///
/// # Errors
/// A URI longer than 65535 bytes.
pub fn encode_pkcs11(uri: &str) -> Result<Zeroizing<Vec<u8>>, Error> {
    encode_reference(KIND_PKCS11, uri)
}

fn encode_reference(kind: u8, reference: &str) -> Result<Zeroizing<Vec<u8>>, Error> {
    let len = u16::try_from(reference.len())
        .map_err(|_| Error::invalid("the root key's name is too long"))?;
    let mut out = Zeroizing::new(Vec::with_capacity(
        MAGIC.len() + 3 + reference.len() + CHECKSUM_LEN,
    ));
    out.extend_from_slice(MAGIC);
    out.push(kind);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(reference.as_bytes());
    let sum = checksum(&out);
    out.extend_from_slice(&sum);
    Ok(out)
}

/// The KMS key ARN a root key file names (`None`: the file holds key material or names a
/// PKCS#11 key).
///
/// # Errors
/// As [`protection`].
pub fn kms_key_id(path: &Path, bytes: &[u8]) -> Result<Option<String>, Error> {
    reference(path, bytes, KIND_KMS, "the key ARN")
}

/// The PKCS#11 URI a root key file names (`None`: another kind).
///
/// # Errors
/// As [`protection`].
pub fn pkcs11_uri(path: &Path, bytes: &[u8]) -> Result<Option<String>, Error> {
    reference(path, bytes, KIND_PKCS11, "the PKCS#11 URI")
}

fn reference(path: &Path, bytes: &[u8], kind: u8, what: &str) -> Result<Option<String>, Error> {
    check_header(path, bytes)?;
    if bytes.get(MAGIC.len()) != Some(&kind) {
        return Ok(None);
    }
    let at = MAGIC.len() + 1;
    let len = bytes
        .get(at..at + 2)
        .and_then(|b| <[u8; 2]>::try_from(b).ok())
        .map(u16::from_be_bytes)
        .ok_or_else(|| truncated(path, bytes.len()))?;
    let end = at + 2 + usize::from(len);
    check_length(path, bytes, end + CHECKSUM_LEN)?;
    let text = std::str::from_utf8(&bytes[at + 2..end])
        .map_err(|_| corrupted(path, format!("{what} is not UTF-8")))?;
    Ok(Some(text.to_owned()))
}

/// Loads the root key that the file at `path` holds or names: local key material (asking
/// `passphrase` if it is protected) or an AWS KMS key.
///
/// # Errors
/// As [`load_with_protection`]; a KMS root in a build without AWS KMS support.
pub fn load_root_key(
    path: &Path,
    passphrase: impl FnOnce() -> Result<Passphrase, Error>,
) -> Result<(Arc<dyn RootKey>, Protection), Error> {
    let bytes = read_key_file(path)?;
    if let Some(arn) = kms_key_id(path, &bytes)? {
        return Ok((kms_root(arn)?, Protection::Kms));
    }
    if let Some(uri) = pkcs11_uri(path, &bytes)? {
        return Ok((pkcs11_root(path, &uri)?, Protection::Pkcs11));
    }
    warn_if_readable(path);
    let protection = protection(path, &bytes)?;
    let material = decode(path, &bytes, passphrase)?;
    Ok((material.into_root_key()?, protection))
}

#[cfg(feature = "kms")]
fn kms_root(arn: String) -> Result<Arc<dyn RootKey>, Error> {
    Ok(Arc::new(crate::kms::KmsRootKey::new(arn)))
}

#[cfg(not(feature = "kms"))]
fn kms_root(arn: String) -> Result<Arc<dyn RootKey>, Error> {
    Err(Error::backend(format!(
        "the root key is the AWS KMS key {arn}, and this build has no AWS KMS support"
    )))
}

#[cfg(feature = "pkcs11")]
fn pkcs11_root(path: &Path, uri: &str) -> Result<Arc<dyn RootKey>, Error> {
    let k = uri
        .strip_prefix("pkcs11:")
        .ok_or_else(|| corrupted(path, "the PKCS#11 URI does not start with pkcs11:".into()))
        .and_then(|rest| {
            crate::keyref::Pkcs11KeyRef::parse_token(rest)
                .map_err(|e| corrupted(path, e.to_string()))
        })?;
    crate::hsm::root_key(&k).map_err(|e| {
        Error::backend(format!(
            "cannot use the root key {uri} that {} names",
            path.display()
        ))
        .caused_by(e)
    })
}

#[cfg(not(feature = "pkcs11"))]
fn pkcs11_root(_path: &Path, uri: &str) -> Result<Arc<dyn RootKey>, Error> {
    Err(Error::backend(format!(
        "the root key is the PKCS#11 key {uri}, and this build has no PKCS#11 support"
    )))
}

/// Reads the kind of a root key file without decoding it (to know whether a passphrase is
/// needed).
///
/// # Errors
/// As [`decode`], for everything but the passphrase.
pub fn protection(path: &Path, bytes: &[u8]) -> Result<Protection, Error> {
    let bad = |what: String| corrupted(path, what);
    check_header(path, bytes)?;
    match bytes.get(MAGIC.len()) {
        Some(&KIND_PLAIN) => {
            check_length(path, bytes, PLAIN_LEN)?;
            Ok(Protection::Plain)
        }
        Some(&KIND_PASSPHRASE) => {
            check_length(path, bytes, PASSPHRASE_LEN)?;
            let n = |i: usize| {
                let at = MAGIC.len() + 1 + 4 * i;
                bytes
                    .get(at..at + 4)
                    .and_then(|b| <[u8; 4]>::try_from(b).ok())
                    .map(u32::from_be_bytes)
                    .ok_or_else(|| bad("truncated".into()))
            };
            Ok(Protection::Passphrase(KdfParams {
                m_kib: n(0)?,
                t: n(1)?,
                p: n(2)?,
            }))
        }
        Some(&KIND_KMS) => kms_key_id(path, bytes).map(|_| Protection::Kms),
        Some(&KIND_PKCS11) => pkcs11_uri(path, bytes).map(|_| Protection::Pkcs11),
        Some(other) => Err(bad(format!("unknown key kind {other}"))),
        None => Err(truncated(path, bytes.len())),
    }
}

fn corrupted(path: &Path, what: String) -> Error {
    Error::corrupt(format!(
        "root key file {} is corrupted: {what}",
        path.display()
    ))
    .advice(Advice::RestoreRootKey)
}

fn truncated(path: &Path, len: usize) -> Error {
    Error::corrupt(format!(
        "root key file {} is truncated ({len} bytes)",
        path.display()
    ))
    .advice(Advice::RestoreRootKey)
}

fn check_header(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    if bytes.starts_with(MAGIC) {
        return Ok(());
    }
    if MAGIC.starts_with(bytes) {
        return Err(truncated(path, bytes.len()));
    }
    if let Some(rest) = bytes.strip_prefix(MAGIC_STEM) {
        let version: String = rest
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric() || **b == b'.')
            .take(16)
            .map(|&b| char::from(b))
            .collect();
        return Err(Error::backend(format!(
            "root key file {} has format version {version}, which this coffer cannot read",
            path.display()
        ))
        .advice(Advice::NewerVersion));
    }
    Err(
        Error::corrupt(format!("{} is not a coffer root key file", path.display()))
            .advice(Advice::RestoreRootKey),
    )
}

fn check_length(path: &Path, bytes: &[u8], want: usize) -> Result<(), Error> {
    match bytes.len().cmp(&want) {
        std::cmp::Ordering::Less => Err(truncated(path, bytes.len())),
        std::cmp::Ordering::Greater => Err(corrupted(
            path,
            format!("{} bytes after the end of the key", bytes.len() - want),
        )),
        std::cmp::Ordering::Equal => {
            let (body, sum) = bytes.split_at(want - CHECKSUM_LEN);
            if coffer_core::ct_eq(&checksum(body), sum) {
                Ok(())
            } else {
                Err(corrupted(path, "checksum mismatch".into()))
            }
        }
    }
}

/// Decodes a root key file. `passphrase` is called only for a passphrase-protected file.
///
/// # Errors
/// Truncated, corrupted or unknown files; a wrong passphrase; the passphrase could not be
/// read.
pub fn decode(
    path: &Path,
    bytes: &[u8],
    passphrase: impl FnOnce() -> Result<Passphrase, Error>,
) -> Result<RootKeyMaterial, Error> {
    let params = match protection(path, bytes)? {
        Protection::Plain => {
            let mut key = Zeroizing::new([0u8; ROOT_KEY_LEN]);
            let at = MAGIC.len() + 1;
            key.copy_from_slice(
                bytes
                    .get(at..at + ROOT_KEY_LEN)
                    .ok_or_else(|| truncated(path, bytes.len()))?,
            );
            return Ok(RootKeyMaterial(key));
        }
        Protection::Passphrase(params) => params,
        Protection::Kms | Protection::Pkcs11 => {
            return Err(Error::backend(format!(
                "the root key file {} names a key kept in AWS KMS or a token; it holds no key \
                 material",
                path.display()
            )));
        }
    };
    // Check the parameters before asking for a passphrase that could not be used.
    params.check().map_err(|e| corrupted(path, e))?;
    let passphrase = passphrase()?;
    let (aad, rest) = bytes.split_at(AAD_LEN);
    let (nonce, rest) = rest.split_at(NONCE_LEN);
    let sealed_len = ROOT_KEY_LEN + TAG_LEN;
    let sealed = rest
        .get(..sealed_len)
        .ok_or_else(|| truncated(path, bytes.len()))?;
    let salt = aad
        .get(AAD_LEN - SALT_LEN..)
        .ok_or_else(|| truncated(path, bytes.len()))?;
    let kek = derive_kek(&passphrase, salt, params).map_err(|e| corrupted(path, e))?;
    let nonce: &[u8; NONCE_LEN] = nonce
        .try_into()
        .map_err(|_| corrupted(path, "bad nonce".into()))?;
    let mut buf = Zeroizing::new(sealed.to_vec());
    let plain = gcm_key(&kek)?
        .open_in_place(nonce, aad, &mut buf[..])
        .map_err(|_| {
            Error::denied(format!("wrong passphrase for root key {}", path.display())).advice(
                Advice::WrongPassphrase {
                    var: PASSPHRASE_FILE_VAR,
                },
            )
        })?;
    let mut key = Zeroizing::new([0u8; ROOT_KEY_LEN]);
    if plain.len() != ROOT_KEY_LEN {
        return Err(corrupted(path, "bad key length".into()));
    }
    key.copy_from_slice(plain);
    Ok(RootKeyMaterial(key))
}

/// Writes a new root key file: `0600`, atomically, never replacing an existing file.
///
/// # Errors
/// The file exists already, or cannot be written.
pub fn write_new(path: &Path, bytes: &[u8]) -> Result<(), FileError> {
    let mut f = AtomicFile::create(path, false)?;
    f.write_all(bytes)
        .map_err(|e| FileError::io(path, "write", e))?;
    f.commit()?;
    Ok(())
}

/// Writes the side file of a root rotation (`root.key.next`): `0600`, synced, renamed into
/// place (replacing a stale side file left by an interrupted rotation), directory synced.
///
/// # Errors
/// The file cannot be written.
pub fn write_side_file(path: &Path, bytes: &[u8]) -> Result<(), FileError> {
    let mut f = AtomicFile::create(path, true)?;
    f.write_all(bytes)
        .map_err(|e| FileError::io(path, "write", e))?;
    f.commit()?;
    Ok(())
}

/// Renames the side file `next` over the root key file `path` and syncs the directory. A
/// side file that is gone already was renamed by another process finishing the same switch.
///
/// # Errors
/// The rename failed for another reason.
pub fn switch_to_side_file(next: &Path, path: &Path) -> Result<(), Error> {
    match fs::rename(next, path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(Error::backend(format!(
                "cannot rename {} to {}",
                next.display(),
                path.display()
            ))
            .caused_by(e));
        }
    }
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if let Err(e) = crate::files::sync_dir(dir) {
        tracing::warn!(dir = %dir.display(), "cannot sync directory: {e}");
    }
    Ok(())
}

/// Removes what an interrupted root rotation may leave next to `path` (`root.key`) when the
/// store does not use it: the side file `root.key.next` and its temporary files. Returns how
/// many files were removed.
///
/// **Only** call this while holding the store's write lock, after checking that the store
/// uses the key in `path`: a rotation in progress writes its side file under that lock.
///
/// # Errors
/// The directory cannot be read, or a file cannot be removed.
pub fn remove_side_files(path: &Path, next: &Path) -> io::Result<usize> {
    let mut removed = 0;
    for f in side_files(path, next)? {
        match fs::remove_file(&f) {
            Ok(()) => removed += 1,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(removed)
}

/// The side file and its temporary files (`.root.key.next.*.coffer-tmp`), if any exist.
///
/// # Errors
/// The directory cannot be read.
pub fn side_files(path: &Path, next: &Path) -> io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    if next.symlink_metadata().is_ok() {
        out.push(next.to_path_buf());
    }
    let (Some(dir), Some(name)) = (path.parent(), next.file_name()) else {
        return Ok(out);
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let prefix = format!(".{}.", name.to_string_lossy());
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let n = entry.file_name();
        let n = n.to_string_lossy();
        if n.starts_with(&prefix) && n.ends_with(".coffer-tmp") {
            out.push(entry.path());
        }
    }
    Ok(out)
}

/// Reads and decodes the root key file at `path`.
///
/// # Errors
/// A missing file (with a hint about backups), and everything [`decode`] reports.
pub fn load(
    path: &Path,
    passphrase: impl FnOnce() -> Result<Passphrase, Error>,
) -> Result<RootKeyMaterial, Error> {
    load_with_protection(path, passphrase).map(|(key, _)| key)
}

/// [`load`], and how the file is protected.
///
/// # Errors
/// As [`load`].
pub fn load_with_protection(
    path: &Path,
    passphrase: impl FnOnce() -> Result<Passphrase, Error>,
) -> Result<(RootKeyMaterial, Protection), Error> {
    let bytes = read_key_file(path)?;
    warn_if_readable(path);
    let protection = protection(path, &bytes)?;
    Ok((decode(path, &bytes, passphrase)?, protection))
}

/// The largest root key file: the longest form, a KMS key ARN or PKCS#11 URI of 65535 bytes.
pub const MAX_FILE_LEN: usize = MAGIC.len() + 1 + 2 + u16::MAX as usize + CHECKSUM_LEN;

/// Reads the root key file at `path` (at most [`MAX_FILE_LEN`] bytes).
///
/// # Errors
/// The file is missing, cannot be read or is too large.
pub fn read_key_file(path: &Path) -> Result<Zeroizing<Vec<u8>>, Error> {
    use crate::smallfile::ReadError;
    match crate::smallfile::read(path, "root key file", MAX_FILE_LEN) {
        Ok(b) => Ok(b),
        Err(ReadError::Io(e)) if e.kind() == io::ErrorKind::NotFound => Err(Error::missing(
            format!("the root key {} is missing", path.display()),
        )
        .advice(Advice::RestoreRootKey)),
        Err(ReadError::Io(e)) => {
            Err(Error::backend(format!("cannot read the root key {}", path.display())).caused_by(e))
        }
        Err(ReadError::TooLarge(t)) => Err(Error::backend(t.to_string())),
    }
}

fn warn_if_readable(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        if let Ok(meta) = fs::metadata(path) {
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                tracing::warn!(
                    "root key {} has mode {mode:o}: other users may read it; chmod 600 it",
                    path.display()
                );
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    const CHEAP: KdfParams = KdfParams {
        m_kib: 64,
        t: 1,
        p: 1,
    };

    fn pass(s: &str) -> Passphrase {
        Passphrase::new(Zeroizing::new(s.as_bytes().to_vec()))
    }

    fn key() -> RootKeyMaterial {
        RootKeyMaterial(Zeroizing::new([0xA7; 32]))
    }

    fn no_pass() -> Result<Passphrase, Error> {
        panic!("no passphrase needed")
    }

    /// Files made by another implementation of the documented format (Python's argon2-cffi
    /// and cryptography: `tests/data/root_key_kat.py`) read back as their key, and the plain
    /// one is written byte for byte the same.
    #[test]
    fn files_of_the_documented_format_decode() {
        let kat = include_str!("../../tests/data/root_key_kat.txt");
        let field = |name: &str| {
            kat.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
                .unwrap()
        };
        let want = hex::decode(field("key")).unwrap();
        let p = Path::new("root.key");
        let plain = hex::decode(field("plain")).unwrap();
        let got = decode(p, &plain, no_pass).unwrap();
        assert_eq!(&got.expose_secret()[..], &want[..]);
        let mut material = [0u8; 32];
        material.copy_from_slice(&want);
        let again = encode(
            &RootKeyMaterial(Zeroizing::new(material)),
            Protection::Plain,
            None,
        )
        .unwrap();
        assert_eq!(&again[..], &plain[..]);
        let protected = hex::decode(field("protected")).unwrap();
        let phrase = field("passphrase");
        let got = decode(p, &protected, || Ok(pass(phrase))).unwrap();
        assert_eq!(&got.expose_secret()[..], &want[..]);
        assert!(decode(p, &protected, || Ok(pass("wrong"))).is_err());
    }

    #[test]
    fn plain_round_trip_and_damage() {
        let p = Path::new("root.key");
        let bytes = encode(&key(), Protection::Plain, None).unwrap();
        assert_eq!(bytes.len(), PLAIN_LEN);
        assert!(bytes.starts_with(b"coffer-root-key v1\n\x01"));
        assert_eq!(
            decode(p, &bytes, no_pass).unwrap().expose_secret(),
            &[0xA7; 32]
        );
        for n in [0, 5, 19, 20, 40, PLAIN_LEN - 1] {
            let e = decode(p, &bytes[..n], no_pass).unwrap_err();
            assert!(e.to_string().contains("truncated"), "{n}: {e}");
        }
        for i in [20, 51, PLAIN_LEN - 1] {
            let mut b = bytes.clone();
            b[i] ^= 1;
            let e = decode(p, &b, no_pass).unwrap_err();
            assert!(e.to_string().contains("corrupted"), "{i}: {e}");
        }
        let mut b = bytes.clone();
        b[MAGIC.len()] = 9;
        assert!(
            decode(p, &b, no_pass)
                .unwrap_err()
                .to_string()
                .contains("corrupted")
        );
        let mut b = bytes.clone();
        b.push(0);
        assert!(
            decode(p, &b, no_pass)
                .unwrap_err()
                .to_string()
                .contains("corrupted")
        );
        let mut b = bytes.to_vec();
        b[17] = b'2';
        let e = decode(p, &b, no_pass).unwrap_err();
        assert!(e.to_string().contains("format version 2"), "{e}");
        let e = decode(p, b"-----BEGIN PRIVATE KEY-----\n", no_pass).unwrap_err();
        assert!(e.to_string().contains("not a coffer root key file"), "{e}");
    }

    #[test]
    fn passphrase_round_trip() {
        let p = Path::new("root.key");
        let bytes = encode(
            &key(),
            Protection::Passphrase(CHEAP),
            Some(&pass("hunter2")),
        )
        .unwrap();
        assert_eq!(bytes.len(), PASSPHRASE_LEN);
        assert!(!bytes.windows(4).any(|w| w == [0xA7; 4]));
        assert_eq!(
            protection(p, &bytes).unwrap(),
            Protection::Passphrase(CHEAP)
        );
        let k = decode(p, &bytes, || Ok(pass("hunter2"))).unwrap();
        assert_eq!(k.expose_secret(), &[0xA7; 32]);
        let e = decode(p, &bytes, || Ok(pass("hunter3"))).unwrap_err();
        assert!(e.to_string().contains("wrong passphrase"), "{e}");
        // Damage is reported as damage, before any passphrase is asked for.
        let mut b = bytes.clone();
        b[AAD_LEN + 3] ^= 0x10;
        let e = decode(p, &b, no_pass).unwrap_err();
        assert!(e.to_string().contains("checksum"), "{e}");
        let e = decode(p, &bytes[..100], no_pass).unwrap_err();
        assert!(e.to_string().contains("truncated"), "{e}");
    }

    #[test]
    fn crafted_parameters_are_refused_before_the_passphrase() {
        let p = Path::new("root.key");
        let mut b = encode(&key(), Protection::Passphrase(CHEAP), Some(&pass("x")))
            .unwrap()
            .to_vec();
        b[MAGIC.len() + 1..MAGIC.len() + 5].copy_from_slice(&u32::MAX.to_be_bytes());
        let body = b.len() - CHECKSUM_LEN;
        let sum = checksum(&b[..body]);
        b[body..].copy_from_slice(&sum);
        let e = decode(p, &b, no_pass).unwrap_err();
        assert!(e.to_string().contains("limits"), "{e}");
    }

    #[test]
    fn kms_and_pkcs11_files_name_their_key() {
        let p = Path::new("root.key");
        let uri = "pkcs11:token=t;object=r?module-path=/m.so&pin-source=file:/run/pin";
        let f = encode_pkcs11(uri).unwrap();
        assert_eq!(pkcs11_uri(p, &f).unwrap().as_deref(), Some(uri));
        assert_eq!(kms_key_id(p, &f).unwrap(), None);
        assert_eq!(protection(p, &f).unwrap(), Protection::Pkcs11);
        let k = encode_kms("arn:aws:kms:us-east-1:111122223333:key/k").unwrap();
        assert_eq!(pkcs11_uri(p, &k).unwrap(), None);
        assert_eq!(protection(p, &k).unwrap(), Protection::Kms);
        assert!(decode(p, &f, no_pass).is_err());
        for cut in [f.len() - 1, 22, 21, 20] {
            let e = protection(p, &f[..cut]).unwrap_err().to_string();
            assert!(
                e.contains("truncated") || e.contains("damaged"),
                "{cut}: {e}"
            );
        }
        let mut bad = f.to_vec();
        bad[30] ^= 1;
        assert!(protection(p, &bad).is_err());
    }

    #[test]
    fn debug_is_redacted() {
        let s = format!("{:?} {:?}", key(), pass("hunter2"));
        assert!(
            !s.contains("hunter2") && !s.contains("167") && !s.to_lowercase().contains("a7"),
            "{s}"
        );
    }
}
