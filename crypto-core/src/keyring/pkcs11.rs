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
//! data key wrapped for another token or object is refused by name. The object is named by
//! its own label however the key was found (by `object`, `id` or both); a key with no label
//! by `id=%XX…`. Ciphertext: for AES-GCM `IV (12) ‖ encrypted key ‖ tag (16)`; for RSA-OAEP
//! the OAEP block.
//!
//! # Root keys and new keys
//!
//! [`Pkcs11RootKey`] makes an AES key on a token the root of a key hierarchy (branch keys are
//! wrapped in the token the same way). [`Pkcs11Token::generate_aes_key`] makes such a key:
//! sensitive and not extractable, so its value never leaves the token.
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
use cryptoki::session::{Session, SessionState, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use zeroize::Zeroizing;

use super::{BoxFuture, Keyring, RootKey, ensure_data_key};
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

/// Whether an object handle went stale (the token was removed and put back, or the session
/// that found it logged out): worth finding the object again, once.
fn handle_lost(e: &P11Error) -> bool {
    matches!(
        e,
        P11Error::Pkcs11(RvError::ObjectHandleInvalid | RvError::KeyHandleInvalid, _)
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

    /// Logs `s` in if the token has a PIN and the session is not logged in (the application
    /// was logged out under us).
    fn log_in_again(&self, s: &Session) -> std::result::Result<(), P11Error> {
        let Some(pin) = &self.pin else {
            return Ok(());
        };
        match s.get_session_info()?.session_state() {
            SessionState::RoPublic | SessionState::RwPublic => {
                match s.login(UserType::User, Some(pin)) {
                    Ok(()) | Err(P11Error::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(()),
                    Err(e) => Err(e),
                }
            }
            _ => Ok(()),
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

    /// Makes a 256-bit AES key labelled `object` on the token, for [`Pkcs11Keyring`]: a token
    /// object, private, sensitive and not extractable (its value can never be read out),
    /// allowed to encrypt and decrypt only. Needs a PIN.
    ///
    /// Key generation is serialized within the process: some modules (SoftHSM2's file store
    /// among them) fail concurrent object creation with `CKR_GENERAL_ERROR`. SoftHSM2 can also
    /// fail it while other threads use the token, so make keys before using the token from
    /// several threads (the CLI makes them in a process of their own).
    ///
    /// # Errors
    /// A key or key pair labelled `object` exists already; no PIN; token errors.
    pub fn generate_aes_key(&self, object: &str) -> Result<()> {
        static GENERATE: Mutex<()> = Mutex::new(());
        if self.pin.is_none() {
            return Err(Error::Key(format!(
                "PKCS#11: making a key on token `{}` needs the user PIN (pin-source)",
                self.label
            )));
        }
        let _one_at_a_time = GENERATE.lock().unwrap_or_else(PoisonError::into_inner);
        for class in [
            ObjectClass::SECRET_KEY,
            ObjectClass::PUBLIC_KEY,
            ObjectClass::PRIVATE_KEY,
        ] {
            if self.find(class, &KeyObject::label(object))?.is_some() {
                return Err(Error::Key(format!(
                    "PKCS#11: token `{}` already has a key labelled `{object}`",
                    self.label
                )));
            }
        }
        let mut id = [0u8; 8];
        primitives::fill_random(&mut id)?;
        let template = [
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Encrypt(true),
            Attribute::Decrypt(true),
            Attribute::Wrap(false),
            Attribute::Unwrap(false),
            Attribute::Sign(false),
            Attribute::Verify(false),
            Attribute::Derive(false),
            Attribute::ValueLen(32.into()),
            Attribute::Label(object.as_bytes().to_vec()),
            Attribute::Id(id.to_vec()),
        ];
        self.with_session(|s| s.generate_key(&Mechanism::AesKeyGen, &template))?
            .map_err(|e| p11(&format!("make `{object}` on token `{}`", self.label), e))?;
        Ok(())
    }

    /// The handle of the object of `class` that `object` names (`None`: none; several: an
    /// error, as the name is ambiguous).
    fn find(&self, class: ObjectClass, object: &KeyObject) -> Result<Option<ObjectHandle>> {
        let mut template = vec![Attribute::Class(class)];
        if let Some(label) = &object.label {
            template.push(Attribute::Label(label.as_bytes().to_vec()));
        }
        if let Some(id) = &object.id {
            template.push(Attribute::Id(id.clone()));
        }
        // A pooled session logged out under us would see only public objects.
        let found = self
            .with_session(|s| {
                self.log_in_again(s)?;
                s.find_objects(&template)
            })?
            .map_err(|e| p11(&format!("find `{object}`"), e))?;
        match found.as_slice() {
            [] => Ok(None),
            [one] => Ok(Some(*one)),
            many => Err(Error::Key(format!(
                "PKCS#11: {} objects on token `{}` match `{object}`: name the key by both \
                 object and id",
                many.len(),
                self.label
            ))),
        }
    }

    /// How EDKs and root ids name an object, however it was found: by its own label, else by
    /// its id.
    fn canonical_name(&self, h: ObjectHandle) -> Result<KeyObject> {
        let attrs = self
            .with_session(|s| s.get_attributes(h, &[AttributeType::Label, AttributeType::Id]))?
            .map_err(|e| p11("read a key's label and id", e))?;
        let mut names = KeyObject::default();
        for a in attrs {
            match a {
                Attribute::Label(l) if !l.is_empty() => {
                    names.label = Some(String::from_utf8_lossy(&l).into_owned());
                }
                Attribute::Id(id) if !id.is_empty() => names.id = Some(id),
                _ => {}
            }
        }
        if names.label.is_some() {
            names.id = None;
        }
        Ok(names)
    }

    /// The AES secret key that `object` names.
    fn find_aes(&self, object: &KeyObject) -> Result<Option<ObjectHandle>> {
        let Some(h) = self.find(ObjectClass::SECRET_KEY, object)? else {
            return Ok(None);
        };
        let key_type = self
            .with_session(|s| s.get_attributes(h, &[AttributeType::KeyType]))?
            .map_err(|e| p11(&format!("read `{object}`"), e))?;
        if !key_type
            .iter()
            .any(|a| matches!(a, Attribute::KeyType(t) if *t == KeyType::AES))
        {
            return Err(Error::Key(format!(
                "PKCS#11 object `{object}` on token `{}` is not an AES key",
                self.label
            )));
        }
        Ok(Some(h))
    }

    fn missing(&self, object: &KeyObject) -> Error {
        Error::Key(format!(
            "PKCS#11: no key `{object}` on token `{}`{}",
            self.label,
            if self.pin.is_none() {
                " (without a PIN only public objects are visible)"
            } else {
                ""
            }
        ))
    }

    /// AES-GCM inside the token with the secret key `h`: `IV (12) ‖ ciphertext ‖ tag (16)`,
    /// with a fresh random IV.
    /// (The outer error: no session; the inner: the token's answer.)
    fn seal(
        &self,
        h: ObjectHandle,
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<std::result::Result<Vec<u8>, P11Error>> {
        let mut iv = [0u8; IV_LEN];
        primitives::fill_random(&mut iv)?;
        let sealed = self.with_session(|s| {
            let mut iv = iv;
            let params = GcmParams::new(&mut iv, aad, 128.into())?;
            s.encrypt(&Mechanism::AesGcm(params), h, plaintext)
        })?;
        let sealed = match sealed {
            Ok(sealed) => sealed,
            Err(e) => return Ok(Err(e)),
        };
        if sealed.len() != plaintext.len() + TAG_LEN {
            return Err(Error::Key(format!(
                "PKCS#11 AES-GCM on token `{}` returned {} bytes, not {}",
                self.label,
                sealed.len(),
                plaintext.len() + TAG_LEN
            )));
        }
        let mut out = iv.to_vec();
        out.extend_from_slice(&sealed);
        Ok(Ok(out))
    }

    /// Opens what [`Self::seal`] made (the outer error: no session; the inner: the token's
    /// answer).
    fn open_sealed(
        &self,
        h: ObjectHandle,
        aad: &[u8],
        sealed: &[u8],
    ) -> Result<std::result::Result<Zeroizing<Vec<u8>>, P11Error>> {
        let Some((iv, body)) = sealed.split_first_chunk::<IV_LEN>() else {
            return Ok(Err(P11Error::Pkcs11(
                RvError::EncryptedDataLenRange,
                cryptoki::context::Function::Decrypt,
            )));
        };
        let out = self.with_session(|s| {
            let mut iv = *iv;
            let params = GcmParams::new(&mut iv, aad, 128.into())?;
            s.decrypt(&Mechanism::AesGcm(params), h, body)
        })?;
        Ok(out.map(Zeroizing::new))
    }
}

/// How a key is named on its token: by label (`CKA_LABEL`, the URI's `object`), by id
/// (`CKA_ID`, the URI's `id`), or both.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct KeyObject {
    /// The label.
    pub label: Option<String>,
    /// The id.
    pub id: Option<Vec<u8>>,
}

impl KeyObject {
    /// The key labelled `label`.
    #[must_use]
    pub fn label(label: &str) -> Self {
        Self {
            label: Some(label.to_owned()),
            id: None,
        }
    }
}

impl From<&str> for KeyObject {
    fn from(label: &str) -> Self {
        Self::label(label)
    }
}

impl fmt::Display for KeyObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(l) = &self.label {
            write!(f, "object={l}")?;
        }
        if let Some(id) = &self.id {
            if self.label.is_some() {
                f.write_str(";")?;
            }
            f.write_str("id=")?;
            for b in id {
                write!(f, "%{b:02X}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for KeyObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyObject({self})")
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

impl Kind {
    /// The key `object` names on `token`, and the handle that names it in EDKs.
    fn find(
        token: &Pkcs11Token,
        object: &KeyObject,
        oaep: OaepHash,
    ) -> Result<(Self, ObjectHandle)> {
        if let Some(h) = token.find_aes(object)? {
            Ok((Self::Aes(h), h))
        } else if let Some(public) = token.find(ObjectClass::PUBLIC_KEY, object)? {
            let kind = Self::Rsa {
                public,
                private: token.find(ObjectClass::PRIVATE_KEY, object)?,
                hash: oaep,
            };
            Ok((kind, public))
        } else {
            Err(token.missing(object))
        }
    }
}

/// A key on a token (see the module docs).
pub struct Pkcs11Keyring {
    token: Arc<Pkcs11Token>,
    /// The key's own name on the token (found again by it if its handles go stale).
    object: KeyObject,
    oaep: OaepHash,
    kind: Mutex<Kind>,
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
    /// The key `object` names on `token`: an AES secret key, else an RSA key pair (its
    /// public half, and its private half if there is one), with `oaep` as the OAEP hash.
    ///
    /// # Errors
    /// No such object; several match; token errors.
    pub fn new(
        token: Arc<Pkcs11Token>,
        object: impl Into<KeyObject>,
        oaep: OaepHash,
    ) -> Result<Self> {
        let (kind, found) = Kind::find(&token, &object.into(), oaep)?;
        let mech = match kind {
            Kind::Aes(_) => "aes-gcm".to_owned(),
            Kind::Rsa { hash, .. } => format!("rsa-oaep-{}", hash.name()),
        };
        let canonical = token.canonical_name(found)?;
        let info = format!("token={};{canonical};mech={mech}", token.label());
        Ok(Self {
            token,
            object: canonical,
            oaep,
            kind: Mutex::new(kind),
            info,
        })
    }

    fn label(&self) -> String {
        format!("pkcs11 {}", self.info)
    }

    /// Runs `op` with the key's handles; if the token says they went stale, finds the key
    /// again (by its label or id) and runs `op` once more.
    fn with_kind<T>(
        &self,
        op: impl Fn(Kind) -> Result<std::result::Result<T, P11Error>>,
    ) -> Result<std::result::Result<T, P11Error>> {
        let kind = *self.kind.lock().unwrap_or_else(PoisonError::into_inner);
        match op(kind)? {
            Err(e) if handle_lost(&e) => {
                let (fresh, _) = Kind::find(&self.token, &self.object, self.oaep)?;
                *self.kind.lock().unwrap_or_else(PoisonError::into_inner) = fresh;
                op(fresh)
            }
            done => Ok(done),
        }
    }

    fn wrap(&self, m: EncryptionMaterials) -> Result<EncryptionMaterials> {
        let m = ensure_data_key(m)?;
        let key = m
            .data_key()
            .ok_or_else(|| Error::ApiMisuse("no data key".into()))?
            .expose_secret()
            .to_vec();
        let key = Zeroizing::new(key);
        let aad = m.context().serialize()?;
        let ciphertext = self
            .with_kind(|kind| match kind {
                Kind::Aes(h) => self.token.seal(h, &aad, &key),
                Kind::Rsa { public, hash, .. } => self
                    .token
                    .with_session(|s| s.encrypt(&hash.mechanism(), public, &key)),
            })?
            .map_err(|e| p11(&format!("wrap with `{}`", self.object), e))?;
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
            let kind = *self.kind.lock().unwrap_or_else(PoisonError::into_inner);
            match kind {
                Kind::Aes(_) if edk.ciphertext.len() != IV_LEN + len + TAG_LEN => {
                    report.push(self.label(), format!("data key #{n}: wrong length"));
                    continue;
                }
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
                _ => {}
            }
            if !m.take_unwrap_attempt(&mut report) {
                continue;
            }
            let aad = m.context().serialize()?;
            let opened = self.with_kind(|kind| match kind {
                Kind::Aes(h) => Ok(self
                    .token
                    .open_sealed(h, &aad, &edk.ciphertext)?
                    .map(|mut k| std::mem::take(&mut *k))),
                Kind::Rsa {
                    private: Some(private),
                    hash,
                    ..
                } => self
                    .token
                    .with_session(|s| s.decrypt(&hash.mechanism(), private, &edk.ciphertext)),
                Kind::Rsa { private: None, .. } => Ok(Err(P11Error::Pkcs11(
                    RvError::KeyHandleInvalid,
                    cryptoki::context::Function::Decrypt,
                ))),
            })?;
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

/// An AES key on a token as the root of a key hierarchy ([`RootKey`]): branch keys are
/// wrapped inside the token with AES-GCM (`IV (12) ‖ ciphertext ‖ tag (16)`, a fresh IV each
/// time, the store's authenticated data as AAD), so the root key never leaves it.
pub struct Pkcs11RootKey {
    token: Arc<Pkcs11Token>,
    /// The key's own name on the token (found again by it if its handle goes stale).
    object: KeyObject,
    key: Mutex<ObjectHandle>,
    id: String,
}

impl fmt::Debug for Pkcs11RootKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pkcs11RootKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Pkcs11RootKey {
    /// The AES key `object` names on `token`. Its id ([`RootKey::id`]) is
    /// `pkcs11:token=T;object=L` by the key's own label (else its id).
    ///
    /// # Errors
    /// No such AES key (an RSA key pair cannot be a root); token errors.
    pub fn new(token: Arc<Pkcs11Token>, object: &KeyObject) -> Result<Self> {
        let key = Self::find(&token, object)?;
        let object = token.canonical_name(key)?;
        let id = format!("pkcs11:token={};{object}", token.label());
        Ok(Self {
            token,
            object,
            key: Mutex::new(key),
            id,
        })
    }

    fn find(token: &Pkcs11Token, object: &KeyObject) -> Result<ObjectHandle> {
        if let Some(key) = token.find_aes(object)? {
            return Ok(key);
        }
        if token.find(ObjectClass::PUBLIC_KEY, object)?.is_some() {
            return Err(Error::Key(format!(
                "PKCS#11: `{object}` on token `{}` is a key pair: a root key must be an AES \
                 secret key",
                token.label()
            )));
        }
        Err(token.missing(object))
    }

    /// As [`Pkcs11Keyring`]: a stale handle is found again once.
    fn with_key<T>(
        &self,
        op: impl Fn(ObjectHandle) -> Result<std::result::Result<T, P11Error>>,
        what: &str,
    ) -> Result<T> {
        let key = *self.key.lock().unwrap_or_else(PoisonError::into_inner);
        let out = match op(key)? {
            Err(e) if handle_lost(&e) => {
                let fresh = Self::find(&self.token, &self.object)?;
                *self.key.lock().unwrap_or_else(PoisonError::into_inner) = fresh;
                op(fresh)?
            }
            done => done,
        };
        out.map_err(|e| p11(&format!("{what} with the root key {}", self.id), e))
    }
}

impl RootKey for Pkcs11RootKey {
    fn id(&self) -> String {
        self.id.clone()
    }

    fn wrap<'a>(&'a self, key: &'a [u8], aad: &'a [u8]) -> BoxFuture<'a, Result<Vec<u8>>> {
        let out = self.with_key(|h| self.token.seal(h, aad, key), "wrap");
        Box::pin(std::future::ready(out))
    }

    fn unwrap<'a>(
        &'a self,
        wrapped: &'a [u8],
        aad: &'a [u8],
    ) -> BoxFuture<'a, Result<Zeroizing<Vec<u8>>>> {
        let out = self.with_key(|h| self.token.open_sealed(h, aad, wrapped), "unwrap");
        Box::pin(std::future::ready(out))
    }
}
