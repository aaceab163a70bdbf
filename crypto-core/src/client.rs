//! The two-phase client: async key work first, then sync byte work.

use crate::cmm::{DecryptionRequest, EncryptionRequest, MaterialsManager};
use crate::context::EncryptionContext;
use crate::error::{Error, Result};
use crate::format::{
    ContentType, EncryptedDataKey, HeaderAuth, HeaderLimits, MessageHeader, read_header,
};
use crate::keyring::Keyring;
use crate::materials::EncryptionMaterials;
use crate::primitives::{self, IV_LEN, MessageHasher, SigningKey, TAG_LEN, ct_eq};
use crate::secret::DataKey;
use crate::stream::decrypt::{DecryptingReader, ReaderParts, Release};
use crate::stream::encrypt::EncryptingWriter;
use crate::stream::pool::Threads;
use crate::stream::{MessageKeys, ZERO_IV, derive_keys};
use crate::suite::{AlgorithmSuite, CommitmentPolicy};
use std::io::{Read, Write};
use std::sync::Arc;

/// Default frame length (bytes).
pub const DEFAULT_FRAME_LENGTH: u32 = 4096;
/// Default in-memory limit for legacy non-framed bodies (256 MiB).
pub const DEFAULT_MAX_NON_FRAMED: u64 = 256 << 20;
/// Default largest frame length a message may declare on decrypt (16 MiB).
///
/// A frame is buffered whole before its tag can be checked, so the frame length a message
/// declares decides how much memory decrypting it takes. The AWS Encryption SDKs write 4096-byte
/// frames by default and their CLI users choose frames of up to a few MiB; 16 MiB leaves room
/// above that while keeping a hostile header (4 GiB frames) from making decrypt hold gigabytes.
pub const DEFAULT_MAX_FRAME_LENGTH: u32 = 16 << 20;
/// Default largest number of encrypted data keys a message may have on decrypt (256).
///
/// The format allows 65,535. A message has one per key it was encrypted for (a multi-keyring
/// message a handful), so 256 is far above any real message, while the header a message must
/// then have stays bounded.
pub const DEFAULT_MAX_ENCRYPTED_DATA_KEYS: u16 = 256;
/// Default largest number of unwrap attempts per message on decrypt (32).
///
/// An attempt is one key operation on one encrypted data key that names a key the keyrings
/// hold (an RSA decryption, an AES-GCM open, a KMS or HSM call); data keys for other keys are
/// passed over at no cost. A real message has one data key per key, so a keyring tries one or
/// two; 32 attempts of the costliest local key (RSA-4096) take well under a second.
pub const DEFAULT_MAX_UNWRAP_ATTEMPTS: u16 = 32;

/// Settings for encryption.
#[derive(Debug, Clone)]
pub struct EncryptConfig {
    suite: Option<AlgorithmSuite>,
    frame_length: u32,
    commitment_policy: CommitmentPolicy,
    max_edks: Option<u16>,
    threads: Threads,
}

impl Default for EncryptConfig {
    fn default() -> Self {
        Self {
            suite: None,
            frame_length: DEFAULT_FRAME_LENGTH,
            commitment_policy: CommitmentPolicy::default(),
            max_edks: None,
            threads: Threads::Auto,
        }
    }
}

impl EncryptConfig {
    /// The suite (`None`: the commitment policy's default, 0x0578).
    #[must_use]
    pub fn with_suite(mut self, suite: Option<AlgorithmSuite>) -> Self {
        self.suite = suite;
        self
    }

    /// The frame length, 1 to 2^32 - 1 bytes.
    ///
    /// # Errors
    /// [`Error::ApiMisuse`] for 0.
    pub fn with_frame_length(mut self, len: u32) -> Result<Self> {
        if len == 0 {
            return Err(Error::ApiMisuse(
                "frame length must be at least 1 byte".into(),
            ));
        }
        self.frame_length = len;
        Ok(self)
    }

    /// The commitment policy.
    #[must_use]
    pub fn with_commitment_policy(mut self, policy: CommitmentPolicy) -> Self {
        self.commitment_policy = policy;
        self
    }

    /// The largest number of encrypted data keys a message may have.
    #[must_use]
    pub fn with_max_encrypted_data_keys(mut self, max: Option<u16>) -> Self {
        self.max_edks = max;
        self
    }

    /// The frame length.
    #[must_use]
    pub fn frame_length(&self) -> u32 {
        self.frame_length
    }

    /// How many threads seal the frames of a large message (default: one per core).
    /// Small messages (the first 4 MiB of any message) are always sealed on the caller's
    /// thread; the output is the same either way.
    #[must_use]
    pub fn with_threads(mut self, threads: Threads) -> Self {
        self.threads = threads;
        self
    }
}

/// Settings for decryption.
///
/// The defaults bound what a message can make decryption cost, whatever it says: frames of at
/// most [`DEFAULT_MAX_FRAME_LENGTH`] bytes, at most [`DEFAULT_MAX_ENCRYPTED_DATA_KEYS`]
/// encrypted data keys of which at most [`DEFAULT_MAX_UNWRAP_ATTEMPTS`] are tried, and
/// non-framed bodies of at most [`DEFAULT_MAX_NON_FRAMED`] bytes.
#[derive(Debug, Clone)]
pub struct DecryptConfig {
    commitment_policy: CommitmentPolicy,
    max_edks: Option<u16>,
    max_unwrap_attempts: Option<u16>,
    unsigned_only: bool,
    max_non_framed: u64,
    max_frame: u32,
    threads: Threads,
}

impl Default for DecryptConfig {
    fn default() -> Self {
        Self {
            commitment_policy: CommitmentPolicy::default(),
            max_edks: Some(DEFAULT_MAX_ENCRYPTED_DATA_KEYS),
            max_unwrap_attempts: Some(DEFAULT_MAX_UNWRAP_ATTEMPTS),
            unsigned_only: false,
            max_non_framed: DEFAULT_MAX_NON_FRAMED,
            max_frame: DEFAULT_MAX_FRAME_LENGTH,
            threads: Threads::Auto,
        }
    }
}

impl DecryptConfig {
    /// How many threads open the frames of a large message (default: one per core).
    /// Small messages (the first 4 MiB of any message) are always opened on the caller's
    /// thread; with [`Release::AfterSignature`], and for non-framed messages, all of it is.
    #[must_use]
    pub fn with_threads(mut self, threads: Threads) -> Self {
        self.threads = threads;
        self
    }

    /// The commitment policy.
    #[must_use]
    pub fn with_commitment_policy(mut self, policy: CommitmentPolicy) -> Self {
        self.commitment_policy = policy;
        self
    }

    /// Fail while parsing a header with more encrypted data keys than this (default
    /// [`DEFAULT_MAX_ENCRYPTED_DATA_KEYS`]; `None`: any number, up to the format's 65,535).
    #[must_use]
    pub fn with_max_encrypted_data_keys(mut self, max: Option<u16>) -> Self {
        self.max_edks = max;
        self
    }

    /// The most unwrap attempts made for one message (default [`DEFAULT_MAX_UNWRAP_ATTEMPTS`];
    /// `None`: no limit). An attempt is a key operation on one encrypted data key addressed to
    /// a key the keyrings hold; once they are spent, the remaining data keys are not tried
    /// and the [`Error::Unwrap`] report says how many were left.
    #[must_use]
    pub fn with_max_unwrap_attempts(mut self, max: Option<u16>) -> Self {
        self.max_unwrap_attempts = max;
        self
    }

    /// The largest frame length a message may declare (default [`DEFAULT_MAX_FRAME_LENGTH`];
    /// `u32::MAX`: any). A message with longer frames is refused as soon as its header is
    /// read, before anything of its body is read or buffered: a frame is held whole in memory
    /// until its tag verifies, so this bounds the memory decryption takes.
    #[must_use]
    pub fn with_max_frame_length(mut self, bytes: u32) -> Self {
        self.max_frame = bytes;
        self
    }

    /// Refuse signed messages right after the header (streaming without buffering is then
    /// always fully authenticated frame by frame).
    #[must_use]
    pub fn with_unsigned_only(mut self, yes: bool) -> Self {
        self.unsigned_only = yes;
        self
    }

    /// Largest legacy non-framed body accepted (it is decrypted in memory).
    #[must_use]
    pub fn with_max_non_framed_length(mut self, bytes: u64) -> Self {
        self.max_non_framed = bytes;
        self
    }
}

/// Prepares messages: gets materials from a materials manager.
#[derive(Debug, Clone)]
pub struct Encryptor {
    cmm: Arc<dyn MaterialsManager>,
    config: EncryptConfig,
}

impl Encryptor {
    /// An encryptor over `cmm`.
    #[must_use]
    pub fn new(cmm: Arc<dyn MaterialsManager>, config: EncryptConfig) -> Self {
        Self { cmm, config }
    }

    /// Gets materials and builds the header of one message.
    ///
    /// # Errors
    /// Reserved context keys, policy violations, keyring failures.
    pub async fn prepare(
        &self,
        context: &EncryptionContext,
        plaintext_length: Option<u64>,
    ) -> Result<PreparedEncryption> {
        context.check_no_reserved_keys()?;
        let cfg = &self.config;
        if let Some(s) = cfg.suite {
            cfg.commitment_policy.check_encrypt(s)?;
        }
        let req = EncryptionRequest::new(
            context.clone(),
            cfg.suite,
            cfg.commitment_policy,
            plaintext_length,
        );
        let m = self.cmm.get_encryption_materials(req).await?;
        let suite = m.suite();
        cfg.commitment_policy.check_encrypt(suite)?;
        if cfg.suite.is_some_and(|s| s != suite) {
            return Err(Error::ApiMisuse(format!(
                "materials manager returned suite {suite}"
            )));
        }
        if let Some(max) = cfg.max_edks {
            if m.edks().len() > usize::from(max) {
                return Err(Error::Policy(format!(
                    "{} encrypted data keys exceed the limit of {max}",
                    m.edks().len()
                )));
            }
        }
        if suite.is_signing() != m.signing_key().is_some() {
            return Err(Error::ApiMisuse(
                "signing key does not match the suite".into(),
            ));
        }
        let (suite, full_context, required, data_key, edks, signing) = m.into_parts();
        let data_key =
            data_key.ok_or_else(|| Error::ApiMisuse("materials without a data key".into()))?;
        let mut message_id = vec![0u8; suite.message_id_len()];
        primitives::fill_random(&mut message_id)?;
        let keys = derive_keys(suite, &data_key, &message_id)?;
        let mut stored = full_context.clone();
        for k in &required {
            stored.remove(k);
        }
        let mut header = MessageHeader {
            suite,
            message_id,
            context: stored,
            edks,
            content_type: ContentType::Framed,
            frame_length: cfg.frame_length,
            commitment: keys.commitment,
            body_bytes: Vec::new(),
            auth: HeaderAuth {
                iv: [0; IV_LEN],
                tag: [0; TAG_LEN],
            },
        };
        header.body_bytes = header.serialize_body()?;
        let mut aad = header.body_bytes.clone();
        aad.extend_from_slice(
            &full_context
                .restricted_to(required.iter().map(String::as_str))
                .serialize()?,
        );
        header.auth.tag = keys.gcm.seal_in_place(&ZERO_IV, &aad, &mut [])?;
        crate::log::debug(format_args!(
            "prepared message: suite {:04X}, {} data key(s), frame {}",
            suite.id(),
            header.edks.len(),
            cfg.frame_length
        ));
        Ok(PreparedEncryption {
            header,
            keys,
            signing,
            threads: cfg.threads,
        })
    }
}

/// A message whose materials and header are ready; the body is written next.
#[must_use]
pub struct PreparedEncryption {
    header: MessageHeader,
    keys: MessageKeys,
    signing: Option<SigningKey>,
    threads: Threads,
}

impl std::fmt::Debug for PreparedEncryption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreparedEncryption")
            .field("suite", &self.header.suite)
            .finish_non_exhaustive()
    }
}

impl PreparedEncryption {
    /// The header that will be written.
    #[must_use]
    pub fn header(&self) -> &MessageHeader {
        &self.header
    }

    /// Writes the header to `out` and returns the writer for the body.
    ///
    /// # Errors
    /// I/O errors of `out`.
    pub fn wrap_output<W: Write>(self, mut out: W) -> Result<EncryptingWriter<W>> {
        let mut hasher = self.header.suite.signature().map(MessageHasher::new);
        let auth = self.header.auth_bytes();
        out.write_all(&self.header.body_bytes)?;
        out.write_all(&auth)?;
        if let Some(h) = hasher.as_mut() {
            h.update(&self.header.body_bytes);
            h.update(&auth);
        }
        EncryptingWriter::new(
            out,
            self.keys.gcm,
            self.header.message_id,
            self.header.frame_length,
            hasher,
            self.signing,
            self.threads,
        )
    }
}

/// Starts decryption: parses the header.
#[derive(Debug, Clone, Default)]
pub struct Decryptor {
    config: DecryptConfig,
}

impl Decryptor {
    /// A decryptor.
    #[must_use]
    pub fn new(config: DecryptConfig) -> Self {
        Self { config }
    }

    /// Reads and checks the header (not yet authenticated: that needs the data key).
    ///
    /// # Errors
    /// Malformed or truncated headers, unknown suites, policy (commitment, unsigned-only,
    /// EDK limit, frame length limit) violations.
    pub fn read_header<R: Read + ?Sized>(&self, input: &mut R) -> Result<ParsedHeader> {
        let header = read_header(
            input,
            HeaderLimits {
                max_edks: self.config.max_edks,
            },
        )?;
        if header.content_type == ContentType::Framed && header.frame_length > self.config.max_frame
        {
            return Err(Error::Policy(format!(
                "message frames of {} are longer than the limit of {}",
                describe_bytes(header.frame_length),
                describe_bytes(self.config.max_frame)
            )));
        }
        self.config.commitment_policy.check_decrypt(header.suite)?;
        if self.config.unsigned_only && header.suite.is_signing() {
            return Err(Error::Policy(format!(
                "message uses signed suite {} and only unsigned messages are accepted",
                header.suite
            )));
        }
        Ok(ParsedHeader {
            header,
            config: self.config.clone(),
        })
    }
}

/// A parsed header waiting for its data key.
#[derive(Debug)]
#[must_use]
pub struct ParsedHeader {
    header: MessageHeader,
    config: DecryptConfig,
}

impl ParsedHeader {
    /// The header (unauthenticated until [`ParsedHeader::obtain_materials`] succeeds).
    #[must_use]
    pub fn header(&self) -> &MessageHeader {
        &self.header
    }

    /// Gets the data key from `cmm`, checks the key commitment and the header tag.
    ///
    /// # Errors
    /// No key could decrypt a data key; authentication failures; context mismatches.
    pub async fn obtain_materials(
        self,
        cmm: &dyn MaterialsManager,
        reproduced_context: Option<&EncryptionContext>,
    ) -> Result<ReadyToDecrypt> {
        let h = self.header;
        let req = DecryptionRequest::new(
            h.suite,
            self.config.commitment_policy,
            h.edks.clone(),
            h.context.clone(),
            reproduced_context.cloned(),
        )
        .with_max_unwrap_attempts(self.config.max_unwrap_attempts);
        let m = cmm.decrypt_materials(req).await?;
        if m.suite() != h.suite {
            return Err(Error::ApiMisuse("materials are for another suite".into()));
        }
        let (_, context, required, data_key, verification) = m.into_parts();
        let data_key =
            data_key.ok_or_else(|| Error::ApiMisuse("materials without a data key".into()))?;
        let keys = derive_keys(h.suite, &data_key, &h.message_id)?;
        if let (Some(expected), Some(got)) = (h.commitment, keys.commitment) {
            if !ct_eq(&expected, &got) {
                return Err(Error::Authentication);
            }
        }
        let mut aad = h.body_bytes.clone();
        aad.extend_from_slice(
            &context
                .restricted_to(required.iter().map(String::as_str))
                .serialize()?,
        );
        let iv = if h.version() == 1 { h.auth.iv } else { ZERO_IV };
        let mut tag = h.auth.tag;
        keys.gcm.open_in_place(&iv, &aad, &mut tag)?;
        if h.suite.is_signing() && verification.is_none() {
            return Err(Error::ApiMisuse(
                "signed suite without a verification key".into(),
            ));
        }
        Ok(ReadyToDecrypt {
            header: h,
            keys,
            verification,
            context,
            required,
            data_key,
            config: self.config,
        })
    }
}

/// An authenticated header with its key: the body can be read.
#[must_use]
pub struct ReadyToDecrypt {
    header: MessageHeader,
    keys: MessageKeys,
    verification: Option<primitives::VerificationKey>,
    context: EncryptionContext,
    /// Context keys that were not stored (reproduced by the caller).
    required: Vec<String>,
    data_key: DataKey,
    config: DecryptConfig,
}

impl std::fmt::Debug for ReadyToDecrypt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadyToDecrypt")
            .field("suite", &self.header.suite)
            .finish_non_exhaustive()
    }
}

impl ReadyToDecrypt {
    /// The suite.
    #[must_use]
    pub fn suite(&self) -> AlgorithmSuite {
        self.header.suite
    }

    /// The full encryption context (stored plus reproduced required pairs).
    #[must_use]
    pub fn context(&self) -> &EncryptionContext {
        &self.context
    }

    /// The message id.
    #[must_use]
    pub fn message_id(&self) -> &[u8] {
        &self.header.message_id
    }

    /// The encrypted data keys.
    #[must_use]
    pub fn encrypted_data_keys(&self) -> &[EncryptedDataKey] {
        &self.header.edks
    }

    /// The authenticated header.
    #[must_use]
    pub fn header(&self) -> &MessageHeader {
        &self.header
    }

    /// A header for the same message with its data key wrapped by `keyring` instead: the
    /// encrypted data keys are replaced and the header tag recomputed; the body (which
    /// follows the old header in the input) stays as it is, byte for byte. Returns the new
    /// header (body and authentication), to be written in place of the old one.
    ///
    /// Only unsigned suites: a signed message's signature covers its header, so its data
    /// keys cannot change without the signing key, which is gone.
    ///
    /// # Errors
    /// [`Error::Policy`] for signed suites; the keyring's errors.
    pub async fn rewrap(&self, keyring: &dyn Keyring) -> Result<Vec<u8>> {
        let suite = self.header.suite;
        if suite.is_signing() {
            return Err(Error::Policy(format!(
                "suite {suite} is signed: the signature covers the data keys, so they cannot \
                 be replaced; decrypt the message and encrypt it again"
            )));
        }
        let materials = EncryptionMaterials::new(suite, self.context.clone())
            .with_required_keys(self.required.clone())?
            .with_data_key(self.data_key.duplicate())?;
        let materials = keyring.on_encrypt(materials).await?;
        let data_key_kept = materials
            .data_key()
            .is_some_and(|k| ct_eq(k.expose_secret(), self.data_key.expose_secret()));
        if !data_key_kept {
            return Err(Error::ApiMisuse("the keyring replaced the data key".into()));
        }
        if materials.edks().is_empty() {
            return Err(Error::ApiMisuse(
                "the keyring added no encrypted data key".into(),
            ));
        }
        if let Some(max) = self.config.max_edks {
            if materials.edks().len() > usize::from(max) {
                return Err(Error::Policy(format!(
                    "{} encrypted data keys exceed the limit of {max}",
                    materials.edks().len()
                )));
            }
        }
        let mut header = self.header.clone();
        header.edks = materials.edks().to_vec();
        header.body_bytes = header.serialize_body()?;
        let mut aad = header.body_bytes.clone();
        aad.extend_from_slice(
            &self
                .context
                .restricted_to(self.required.iter().map(String::as_str))
                .serialize()?,
        );
        let iv = if header.version() == 1 {
            header.auth.iv
        } else {
            ZERO_IV
        };
        header.auth.tag = self.keys.gcm.seal_in_place(&iv, &aad, &mut [])?;
        let mut out = header.body_bytes.clone();
        out.extend_from_slice(&header.auth_bytes());
        Ok(out)
    }

    /// A reader over the rest of the message (the body and footer follow in `input`).
    pub fn into_reader<R: Read>(self, input: R, release: Release) -> DecryptingReader<R> {
        let mut hasher = self.header.suite.signature().map(MessageHasher::new);
        if let Some(h) = hasher.as_mut() {
            h.update(&self.header.body_bytes);
            h.update(&self.header.auth_bytes());
        }
        DecryptingReader::new(
            input,
            ReaderParts {
                gcm: self.keys.gcm,
                message_id: self.header.message_id,
                content_type: self.header.content_type,
                frame_len: self.header.frame_length,
                max_non_framed: self.config.max_non_framed,
                hasher,
                verification: self.verification,
                threads: self.config.threads,
            },
            release,
        )
    }
}

/// `N bytes`, with the size in KiB, MiB or GiB where it is a whole number of them.
fn describe_bytes(n: u32) -> String {
    let whole = [(30, "GiB"), (20, "MiB"), (10, "KiB")]
        .into_iter()
        .find(|&(shift, _)| n >= 1 << shift && n % (1 << shift) == 0);
    match whole {
        Some((shift, unit)) => format!("{n} bytes ({} {unit})", n >> shift),
        None => format!("{n} bytes"),
    }
}

/// The result of a one-shot decryption.
#[derive(Debug)]
#[non_exhaustive]
pub struct Decrypted {
    /// The plaintext.
    pub plaintext: Vec<u8>,
    /// The message's encryption context.
    pub context: EncryptionContext,
    /// The suite.
    pub suite: AlgorithmSuite,
}

/// Encrypts a byte slice in one call.
///
/// # Errors
/// As [`Encryptor::prepare`] and the writer.
pub async fn encrypt(
    cmm: Arc<dyn MaterialsManager>,
    config: &EncryptConfig,
    context: &EncryptionContext,
    plaintext: &[u8],
) -> Result<Vec<u8>> {
    let len = u64::try_from(plaintext.len()).ok();
    let prepared = Encryptor::new(cmm, config.clone())
        .prepare(context, len)
        .await?;
    let mut w = prepared.wrap_output(Vec::with_capacity(plaintext.len() + 1024))?;
    w.write_all(plaintext)?;
    w.finish()
}

/// Decrypts a whole message in one call. Nothing is returned unless everything verified.
///
/// # Errors
/// As [`Decryptor::read_header`], [`ParsedHeader::obtain_materials`] and the reader.
pub async fn decrypt(
    cmm: &dyn MaterialsManager,
    config: &DecryptConfig,
    reproduced_context: Option<&EncryptionContext>,
    message: &[u8],
) -> Result<Decrypted> {
    let mut input = message;
    let parsed = Decryptor::new(config.clone()).read_header(&mut input)?;
    let ready = parsed.obtain_materials(cmm, reproduced_context).await?;
    let context = ready.context().clone();
    let suite = ready.suite();
    let mut r = ready.into_reader(input, Release::PerFrame);
    let mut plaintext = Vec::with_capacity(message.len());
    r.read_to_end(&mut plaintext).map_err(Error::from)?;
    Ok(Decrypted {
        plaintext,
        context,
        suite,
    })
}
