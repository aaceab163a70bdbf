//! PKCS#11 keyrings (feature `pkcs11`, on `cryptoki`): data keys wrapped inside a token, by a
//! key that never leaves it.
//!
//! - An AES secret key wraps with `CKM_AES_GCM` (`C_Encrypt`): a fresh 12-byte IV per data
//!   key, the serialized encryption context as AAD, a 128-bit tag.
//! - An RSA key pair wraps with `CKM_RSA_PKCS_OAEP` under the public key (no login needed)
//!   and unwraps under the private key. The hash (SHA-1 by default: SoftHSM2 offers only
//!   that; SHA-256/384/512 where a module has them) is the OAEP hash and the MGF1 hash.
//!
//! # Encrypted data keys
//!
//! Provider id `pkcs11`. Provider info: UTF-8 `token=LABEL;object=LABEL;mech=aes-gcm` (or
//! `mech=rsa-oaep-sha1`, …): which token object wrapped the key, so decryption finds it and a
//! data key wrapped for another token or object is refused by name. Ciphertext: for AES-GCM
//! `IV (12) ‖ encrypted key ‖ tag (16)`; for RSA-OAEP the OAEP block.
//!
//! # Sessions
//!
//! A module is loaded and initialized once per process ([`Pkcs11Token::open`] shares it). Each
//! token keeps a small pool of logged-in read-write sessions shared by threads. A session that
//! the module closed under us (token removed, session invalid) is replaced once; then the
//! error is reported.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as P11Error, RvError};
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsOaepParams, PkcsOaepSource};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use zeroize::Zeroizing;

use super::{BoxFuture, Keyring, ensure_data_key};
use crate::error::{Error, Result, UnwrapReport};
use crate::format::EncryptedDataKey;
use crate::materials::{DecryptionMaterials, EncryptionMaterials};
use crate::primitives::{self, IV_LEN, TAG_LEN};
use crate::secret::DataKey;

/// The EDK provider id of PKCS#11 keyrings.
pub const PROVIDER_ID: &str = "pkcs11";

/// Sessions kept open per token.
const POOL: usize = 4;

/// Modules loaded by this process, by path: each is initialized once.
fn modules() -> &'static Mutex<HashMap<PathBuf, Arc<Pkcs11>>> {
    static MODULES: OnceLock<Mutex<HashMap<PathBuf, Arc<Pkcs11>>>> = OnceLock::new();
    MODULES.get_or_init(|| Mutex::new(HashMap::new()))
}

fn p11(what: &str, e: P11Error) -> Error {
    let hint = match &e {
        P11Error::Pkcs11(RvError::PinIncorrect, _) => " (wrong PIN)",
        P11Error::Pkcs11(RvError::PinLocked, _) => " (the PIN is locked)",
        P11Error::Pkcs11(RvError::KeyFunctionNotPermitted, _) => {
            " (the key's attributes do not allow this use)"
        }
        P11Error::Pkcs11(RvError::EncryptedDataInvalid | RvError::EncryptedDataLenRange, _) => {
            " (wrong key, or tampered data key or encryption context)"
        }
        _ => "",
    };
    let short = match &e {
        P11Error::Pkcs11(rv, f) => format!("{f}: {rv:?}"),
        other => other.to_string(),
    };
    Error::Key(format!("PKCS#11 {what}: {short}{hint}"))
}

/// Whether a session is gone (closed, token removed): worth one fresh session.
fn session_lost(e: &P11Error) -> bool {
    matches!(
        e,
        P11Error::Pkcs11(
            RvError::SessionHandleInvalid
                | RvError::SessionClosed
                | RvError::TokenNotPresent
                | RvError::DeviceRemoved
                | RvError::UserNotLoggedIn,
            _
        )
    )
}

/// One token of a module, logged in as the user (see the module docs).
pub struct Pkcs11Token {
    ctx: Arc<Pkcs11>,
    slot: Slot,
    label: String,
    pin: Option<AuthPin>,
    sessions: Mutex<Vec<Session>>,
}

impl fmt::Debug for Pkcs11Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pkcs11Token")
            .field("label", &self.label)
            .finish_non_exhaustive()
    }
}

impl Pkcs11Token {
    /// Loads `module` (once per process) and finds the token labelled `label`. Without a
    /// PIN, sessions are not logged in: only public objects (an RSA public key, to encrypt)
    /// can be used.
    ///
    /// # Errors
    /// The module cannot be loaded or initialized; no such token (the error lists those
    /// there are).
    pub fn open(module: &Path, label: &str, pin: Option<Zeroizing<String>>) -> Result<Arc<Self>> {
        let ctx = {
            let mut loaded = modules().lock().unwrap_or_else(PoisonError::into_inner);
            match loaded.get(module) {
                Some(ctx) => ctx.clone(),
                None => {
                    let ctx = Pkcs11::new(module).map_err(|e| {
                        Error::Key(format!(
                            "PKCS#11: cannot load the module {}: {e}",
                            module.display()
                        ))
                    })?;
                    match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
                        Ok(()) => {}
                        Err(P11Error::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
                        Err(e) => return Err(p11("initialize the module", e)),
                    }
                    let ctx = Arc::new(ctx);
                    loaded.insert(module.to_owned(), ctx.clone());
                    ctx
                }
            }
        };
        let slots = ctx
            .get_slots_with_token()
            .map_err(|e| p11("list the tokens", e))?;
        let mut labels = Vec::new();
        for slot in slots {
            let info = ctx
                .get_token_info(slot)
                .map_err(|e| p11("read a token", e))?;
            let l = info.label().trim().to_owned();
            if l == label {
                return Ok(Arc::new(Self {
                    ctx,
                    slot,
                    label: l,
                    pin: pin.map(|p| AuthPin::new(p.as_str().into())),
                    sessions: Mutex::new(Vec::new()),
                }));
            }
            labels.push(l);
        }
        Err(Error::Key(format!(
            "PKCS#11: no token labelled `{label}` in {} (tokens: {})",
            module.display(),
            if labels.is_empty() {
                "none".to_owned()
            } else {
                labels.join(", ")
            }
        )))
    }

    /// The token's label.
    #[must_use]
    pub fn label(&self) -> &str {
        &self.label
    }

    fn new_session(&self) -> Result<Session> {
        let s = self
            .ctx
            .open_rw_session(self.slot)
            .map_err(|e| p11(&format!("open a session on token `{}`", self.label), e))?;
        let Some(pin) = &self.pin else {
            return Ok(s);
        };
        match s.login(UserType::User, Some(pin)) {
            Ok(()) | Err(P11Error::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(s),
            Err(e) => Err(p11(&format!("log in to token `{}`", self.label), e)),
        }
    }

    /// Runs `f` on a pooled session; a lost session is replaced once.
    fn with_session<T>(
        &self,
        f: impl Fn(&Session) -> std::result::Result<T, P11Error>,
    ) -> Result<std::result::Result<T, P11Error>> {
        let pooled = self
            .sessions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let session = match pooled {
            Some(s) => s,
            None => self.new_session()?,
        };
        let mut out = f(&session);
        let session = match &out {
            Err(e) if session_lost(e) => {
                drop(session);
                let fresh = self.new_session()?;
                out = f(&fresh);
                fresh
            }
            _ => session,
        };
        let mut pool = self.sessions.lock().unwrap_or_else(PoisonError::into_inner);
        if pool.len() < POOL {
            pool.push(session);
        }
        Ok(out)
    }

    /// The handle of the object of `class` labelled `object`.
    fn find(&self, class: ObjectClass, object: &str) -> Result<Option<ObjectHandle>> {
        let found = self.with_session(|s| {
            s.find_objects(&[
                Attribute::Class(class),
                Attribute::Label(object.as_bytes().to_vec()),
            ])
        })?;
        let found = found.map_err(|e| p11(&format!("find `{object}`"), e))?;
        Ok(found.first().copied())
    }
}

/// The hash of RSA-OAEP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OaepHash {
    /// SHA-1 (what SoftHSM2 offers).
    Sha1,
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl OaepHash {
    fn name(self) -> &'static str {
        match self {
            Self::Sha1 => "sha1",
            Self::Sha256 => "sha256",
            Self::Sha384 => "sha384",
            Self::Sha512 => "sha512",
        }
    }

    fn mechanism(self) -> Mechanism<'static> {
        let (h, mgf) = match self {
            Self::Sha1 => (MechanismType::SHA1, PkcsMgfType::MGF1_SHA1),
            Self::Sha256 => (MechanismType::SHA256, PkcsMgfType::MGF1_SHA256),
            Self::Sha384 => (MechanismType::SHA384, PkcsMgfType::MGF1_SHA384),
            Self::Sha512 => (MechanismType::SHA512, PkcsMgfType::MGF1_SHA512),
        };
        Mechanism::RsaPkcsOaep(PkcsOaepParams::new(h, mgf, PkcsOaepSource::empty()))
    }
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Aes(ObjectHandle),
    Rsa {
        public: ObjectHandle,
        private: Option<ObjectHandle>,
        hash: OaepHash,
    },
}

/// A key on a token (see the module docs).
pub struct Pkcs11Keyring {
    token: Arc<Pkcs11Token>,
    object: String,
    kind: Kind,
    info: String,
}

impl fmt::Debug for Pkcs11Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pkcs11Keyring")
            .field("key", &self.info)
            .finish_non_exhaustive()
    }
}

impl Pkcs11Keyring {
    /// The key labelled `object` on `token`: an AES secret key, else an RSA key pair (its
    /// public half, and its private half if there is one), with `oaep` as the OAEP hash.
    ///
    /// # Errors
    /// No such object; token errors.
    pub fn new(token: Arc<Pkcs11Token>, object: &str, oaep: OaepHash) -> Result<Self> {
        let kind = if let Some(h) = token.find(ObjectClass::SECRET_KEY, object)? {
            let key_type = token
                .with_session(|s| s.get_attributes(h, &[AttributeType::KeyType]))?
                .map_err(|e| p11(&format!("read `{object}`"), e))?;
            if !key_type
                .iter()
                .any(|a| matches!(a, Attribute::KeyType(t) if *t == KeyType::AES))
            {
                return Err(Error::Key(format!(
                    "PKCS#11 object `{object}` on token `{}` is not an AES key",
                    token.label()
                )));
            }
            Kind::Aes(h)
        } else if let Some(public) = token.find(ObjectClass::PUBLIC_KEY, object)? {
            Kind::Rsa {
                public,
                private: token.find(ObjectClass::PRIVATE_KEY, object)?,
                hash: oaep,
            }
        } else {
            return Err(Error::Key(format!(
                "PKCS#11: no key labelled `{object}` on token `{}`{}",
                token.label(),
                if token.pin.is_none() {
                    " (without a PIN only public objects are visible)"
                } else {
                    ""
                }
            )));
        };
        let mech = match kind {
            Kind::Aes(_) => "aes-gcm".to_owned(),
            Kind::Rsa { hash, .. } => format!("rsa-oaep-{}", hash.name()),
        };
        let info = format!("token={};object={object};mech={mech}", token.label());
        Ok(Self {
            token,
            object: object.to_owned(),
            kind,
            info,
        })
    }

    fn label(&self) -> String {
        format!("pkcs11 {}", self.info)
    }

    fn wrap(&self, m: EncryptionMaterials) -> Result<EncryptionMaterials> {
        let m = ensure_data_key(m)?;
        let key = m
            .data_key()
            .ok_or_else(|| Error::ApiMisuse("no data key".into()))?
            .expose_secret()
            .to_vec();
        let key = Zeroizing::new(key);
        let ciphertext = match self.kind {
            Kind::Aes(h) => {
                let aad = m.context().serialize()?;
                let mut iv = [0u8; IV_LEN];
                primitives::fill_random(&mut iv)?;
                let sealed = self.token.with_session(|s| {
                    let mut iv = iv;
                    let params = GcmParams::new(&mut iv, &aad, 128.into())?;
                    s.encrypt(&Mechanism::AesGcm(params), h, &key)
                })?;
                let sealed = sealed.map_err(|e| p11(&format!("wrap with `{}`", self.object), e))?;
                if sealed.len() != key.len() + TAG_LEN {
                    return Err(Error::Key(format!(
                        "PKCS#11 AES-GCM with `{}` returned {} bytes, not {}",
                        self.object,
                        sealed.len(),
                        key.len() + TAG_LEN
                    )));
                }
                let mut out = iv.to_vec();
                out.extend_from_slice(&sealed);
                out
            }
            Kind::Rsa { public, hash, .. } => self
                .token
                .with_session(|s| s.encrypt(&hash.mechanism(), public, &key))?
                .map_err(|e| p11(&format!("wrap with `{}`", self.object), e))?,
        };
        m.with_edk(EncryptedDataKey {
            provider_id: PROVIDER_ID.to_owned(),
            provider_info: self.info.clone().into_bytes(),
            ciphertext,
        })
    }

    fn unwrap_key(
        &self,
        m: DecryptionMaterials,
        edks: &[EncryptedDataKey],
    ) -> Result<DecryptionMaterials> {
        if m.data_key().is_some() {
            return Ok(m);
        }
        let mut report = UnwrapReport::default();
        let len = m.suite().data_key_len();
        for (i, edk) in edks.iter().enumerate() {
            let n = i + 1;
            if edk.provider_id != PROVIDER_ID {
                report.push(
                    self.label(),
                    format!("data key #{n}: not a PKCS#11 data key"),
                );
                continue;
            }
            if edk.provider_info != self.info.as_bytes() {
                report.push(
                    self.label(),
                    format!(
                        "data key #{n}: wrapped by {}, another key",
                        String::from_utf8_lossy(&edk.provider_info)
                    ),
                );
                continue;
            }
            let opened = match self.kind {
                Kind::Aes(h) => {
                    let aad = m.context().serialize()?;
                    if edk.ciphertext.len() != IV_LEN + len + TAG_LEN {
                        report.push(self.label(), format!("data key #{n}: wrong length"));
                        continue;
                    }
                    let (iv, sealed) = edk.ciphertext.split_at(IV_LEN);
                    self.token.with_session(|s| {
                        let mut iv = <[u8; IV_LEN]>::try_from(iv).unwrap_or([0; IV_LEN]);
                        let params = GcmParams::new(&mut iv, &aad, 128.into())?;
                        s.decrypt(&Mechanism::AesGcm(params), h, sealed)
                    })?
                }
                Kind::Rsa {
                    private: Some(private),
                    hash,
                    ..
                } => self
                    .token
                    .with_session(|s| s.decrypt(&hash.mechanism(), private, &edk.ciphertext))?,
                Kind::Rsa { private: None, .. } => {
                    report.push(
                        self.label(),
                        format!(
                            "data key #{n}: the token has no private key `{}`",
                            self.object
                        ),
                    );
                    continue;
                }
            };
            match opened {
                Ok(key) if key.len() == len => {
                    return m.with_data_key(DataKey::new(Zeroizing::new(key)));
                }
                Ok(key) => report.push(
                    self.label(),
                    format!("data key #{n}: {} bytes, not the suite's {len}", key.len()),
                ),
                Err(e) => report.push(self.label(), format!("data key #{n}: {}", p11("unwrap", e))),
            }
        }
        if edks.is_empty() {
            report.push(self.label(), "message has no encrypted data keys");
        }
        Err(Error::Unwrap(report))
    }
}

impl Keyring for Pkcs11Keyring {
    fn on_encrypt<'a>(
        &'a self,
        materials: EncryptionMaterials,
    ) -> BoxFuture<'a, Result<EncryptionMaterials>> {
        Box::pin(std::future::ready(self.wrap(materials)))
    }

    fn on_decrypt<'a>(
        &'a self,
        materials: DecryptionMaterials,
        edks: &'a [EncryptedDataKey],
    ) -> BoxFuture<'a, Result<DecryptionMaterials>> {
        Box::pin(std::future::ready(self.unwrap_key(materials, edks)))
    }
}
