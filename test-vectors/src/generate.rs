//! `encrypt`: encrypts coffer's own test matrix and writes it as an ESDK
//! decrypt manifest directory (`manifest.json`, `keys.json`, `ciphertexts/`,
//! `plaintexts/`), in the layout of the official ESDK vectors, so that any
//! ESDK implementation can decrypt it.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;

use base64::Engine as _;
use coffer_core::cmm::{DefaultCmm, MaterialsManager, RequiredContextCmm};
use coffer_core::keyring::{Keyring, MultiKeyring, RawAesKeyring, RawRsaKeyring};
use coffer_core::{
    AlgorithmSuite, CommitmentPolicy, EncryptConfig, EncryptionContext, Encryptor, Threads,
};
use futures::executor::block_on;
use serde::Serialize;

use crate::builtin;
use crate::error::{Error, Result};
use crate::keys::rsa_padding;
use crate::manifest::{CmmKind, RsaPaddingSpec, STREAMING_UNSIGNED_ONLY};

/// Keyring namespace (EDK provider id) of the generated vectors.
pub const PROVIDER_ID: &str = "coffer-raw-vectors";
/// `client.name` of the generated manifest.
pub const CLIENT_NAME: &str = "coffer";
/// Key name (`key-id`) shared by the RSA private and public key entries.
const RSA_KEY_ID: &str = "rsa-4096";
const RSA_PRIVATE: &str = "rsa-4096-private";
const RSA_PUBLIC: &str = "rsa-4096-public";

/// Frame sizes of the matrix.
pub const FRAME_SIZES: [u32; 4] = [1, 128, 4096, 65536];

/// The plaintexts: name and length.
pub const PLAINTEXTS: [(&str, usize); 6] = [
    ("empty", 0),
    ("small", 10),
    ("exact-384", 384),   // 3 frames of 128
    ("exact-8192", 8192), // 2 frames of 4096
    ("large", 70000),     // more than one 65536 frame
    // Past the point (4 MiB) where frames are sealed on worker threads, not a whole number
    // of 1 MiB chunks or of frames.
    ("huge", 9 * 1024 * 1024 + 4097),
];

/// Worker threads that seal large messages.
const PARALLEL_WORKERS: std::num::NonZeroUsize = std::num::NonZeroUsize::new(3).expect("3 > 0");

/// Suites whose messages get tampered copies (negative tests).
const NEGATIVE_SUITES: [u16; 5] = [0x0014, 0x0178, 0x0378, 0x0478, 0x0578];

/// Summary of a generated directory.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Generated {
    /// Tests whose decryption must succeed.
    pub positive: usize,
    /// Tests whose decryption must fail.
    pub negative: usize,
}

/// Encryption contexts of the matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ec {
    Empty,
    Ascii,
    NonAscii,
    /// Ascii and non-ASCII pairs together (for required-context tests).
    Both,
}

impl Ec {
    const MATRIX: [Self; 3] = [Self::Empty, Self::Ascii, Self::NonAscii];

    fn tag(self) -> &'static str {
        match self {
            Self::Empty => "ec0",
            Self::Ascii => "ecascii",
            Self::NonAscii => "ecutf8",
            Self::Both => "ecboth",
        }
    }

    fn pairs(self) -> BTreeMap<String, String> {
        let ascii = [("purpose", "coffer test vectors"), ("tenant", "acme-42")];
        let non_ascii = [("clé", "värde ✓"), ("日本", "東京")];
        let pairs: Vec<(&str, &str)> = match self {
            Self::Empty => Vec::new(),
            Self::Ascii => ascii.to_vec(),
            Self::NonAscii => non_ascii.to_vec(),
            Self::Both => ascii.iter().chain(non_ascii.iter()).copied().collect(),
        };
        pairs
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }
}

/// Key setups of the matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Keys {
    Aes(u16),
    Rsa(RsaPaddingSpec),
    /// AES-256 generator + RSA OAEP-SHA256 child.
    Multi,
}

impl Keys {
    const MATRIX: [Self; 9] = [
        Self::Aes(128),
        Self::Aes(192),
        Self::Aes(256),
        Self::Rsa(RsaPaddingSpec::Pkcs1),
        Self::Rsa(RsaPaddingSpec::OaepSha1),
        Self::Rsa(RsaPaddingSpec::OaepSha256),
        Self::Rsa(RsaPaddingSpec::OaepSha384),
        Self::Rsa(RsaPaddingSpec::OaepSha512),
        Self::Multi,
    ];

    fn tag(self) -> String {
        match self {
            Self::Aes(bits) => format!("aes{bits}"),
            Self::Rsa(padding) => format!("rsa-{}", padding.short_name()),
            Self::Multi => "multi-aes256-rsa".to_owned(),
        }
    }
}

/// A key description written into the manifest.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
struct KeyDesc {
    #[serde(rename = "type")]
    kind: &'static str,
    key: String,
    provider_id: &'static str,
    encryption_algorithm: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    padding_algorithm: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    padding_hash: Option<&'static str>,
}

impl KeyDesc {
    fn aes(bits: u16) -> Self {
        Self {
            kind: "raw",
            key: format!("aes-{bits}"),
            provider_id: PROVIDER_ID,
            encryption_algorithm: "aes",
            padding_algorithm: None,
            padding_hash: None,
        }
    }

    fn rsa(padding: RsaPaddingSpec) -> Self {
        let (algorithm, hash) = padding.manifest_fields();
        Self {
            kind: "raw",
            key: RSA_PRIVATE.to_owned(),
            provider_id: PROVIDER_ID,
            encryption_algorithm: "rsa",
            padding_algorithm: Some(algorithm),
            padding_hash: hash,
        }
    }
}

/// One encryption of the matrix.
#[derive(Debug, Clone)]
struct Case {
    suite: AlgorithmSuite,
    frame: u32,
    plaintext: (&'static str, usize),
    ec: Ec,
    keys: Keys,
    /// Required encryption-context keys (encrypt with the required-context CMM).
    required: Option<Vec<String>>,
    /// Write the encryption context into the manifest as the reproduced context.
    reproduce: bool,
    /// Decrypt with `streaming-unsigned-only`.
    unsigned_only: bool,
    /// Derive negative tests from this message.
    negatives: bool,
}

impl Case {
    fn id(&self) -> String {
        let mut id = format!(
            "{:04x}-{}-f{}-{}-{}",
            self.suite.id(),
            self.keys.tag(),
            self.frame,
            self.plaintext.0,
            self.ec.tag()
        );
        if let Some(required) = &self.required {
            id.push_str(&format!("-req{}", required.len()));
        }
        if self.reproduce {
            id.push_str("-repro");
        }
        if self.unsigned_only {
            id.push_str("-unsigned");
        }
        id
    }
}

/// A decrypt-manifest test as written.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
struct TestOut {
    description: String,
    ciphertext: String,
    master_keys: Vec<KeyDesc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    decryption_method: Option<&'static str>,
    cmm: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    encryption_context: Option<BTreeMap<String, String>>,
    result: ResultOut,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
enum ResultOut {
    Output {
        plaintext: String,
    },
    Error {
        #[serde(rename = "error-description")]
        error_description: String,
    },
}

#[derive(Debug, Serialize)]
struct HeaderOut {
    #[serde(rename = "type")]
    kind: &'static str,
    version: u32,
}

#[derive(Debug, Serialize)]
struct ClientOut {
    name: &'static str,
    version: &'static str,
}

#[derive(Debug, Serialize)]
struct ManifestOut {
    manifest: HeaderOut,
    client: ClientOut,
    keys: &'static str,
    tests: BTreeMap<String, TestOut>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
struct KeyOut {
    #[serde(rename = "type")]
    kind: &'static str,
    key_id: String,
    encrypt: bool,
    decrypt: bool,
    algorithm: &'static str,
    bits: u32,
    encoding: &'static str,
    material: String,
}

#[derive(Debug, Serialize)]
struct KeysOut {
    manifest: HeaderOut,
    keys: BTreeMap<String, KeyOut>,
}

/// The fixed keys of the matrix.
struct KeyMaterials {
    aes: BTreeMap<u16, Vec<u8>>,
}

impl KeyMaterials {
    fn load() -> Result<Self> {
        let mut aes = BTreeMap::new();
        for (bits, b64) in [
            (128, builtin::AES_128_B64),
            (192, builtin::AES_192_B64),
            (256, builtin::AES_256_B64),
        ] {
            let key = base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .map_err(|e| Error::new(format!("built-in AES-{bits} key: {e}")))?;
            if key.len() * 8 != usize::from(bits) {
                return Err(Error::new(format!(
                    "built-in AES-{bits} key has the wrong length"
                )));
            }
            aes.insert(bits, key);
        }
        Ok(Self { aes })
    }

    fn aes_keyring(&self, bits: u16) -> Result<Arc<dyn Keyring>> {
        let key = self
            .aes
            .get(&bits)
            .ok_or_else(|| Error::new(format!("no AES-{bits} key")))?;
        let keyring = RawAesKeyring::new(PROVIDER_ID, &format!("aes-{bits}"), key)
            .map_err(|e| Error::new(format!("AES-{bits} keyring: {e}")))?;
        Ok(Arc::new(keyring))
    }

    fn rsa_keyring(padding: RsaPaddingSpec) -> Result<Arc<dyn Keyring>> {
        // Encrypt with the public key only.
        let keyring = RawRsaKeyring::new(
            PROVIDER_ID,
            RSA_KEY_ID,
            rsa_padding(padding),
            Some(builtin::RSA_PUBLIC_PEM.as_bytes()),
            None,
        )
        .map_err(|e| Error::new(format!("RSA keyring: {e}")))?;
        Ok(Arc::new(keyring))
    }

    fn encrypt_keyring(&self, keys: Keys) -> Result<Arc<dyn Keyring>> {
        match keys {
            Keys::Aes(bits) => self.aes_keyring(bits),
            Keys::Rsa(padding) => Self::rsa_keyring(padding),
            Keys::Multi => {
                let multi = MultiKeyring::new(
                    Some(self.aes_keyring(256)?),
                    vec![Self::rsa_keyring(RsaPaddingSpec::OaepSha256)?],
                )
                .map_err(|e| Error::new(format!("multi-keyring: {e}")))?;
                Ok(Arc::new(multi))
            }
        }
    }

    fn keys_manifest(&self) -> KeysOut {
        let mut keys = BTreeMap::new();
        for (bits, key) in &self.aes {
            keys.insert(
                format!("aes-{bits}"),
                KeyOut {
                    kind: "symmetric",
                    key_id: format!("aes-{bits}"),
                    encrypt: true,
                    decrypt: true,
                    algorithm: "aes",
                    bits: u32::from(*bits),
                    encoding: "base64",
                    material: base64::engine::general_purpose::STANDARD.encode(key),
                },
            );
        }
        keys.insert(
            RSA_PRIVATE.to_owned(),
            KeyOut {
                kind: "private",
                key_id: RSA_KEY_ID.to_owned(),
                encrypt: true,
                decrypt: true,
                algorithm: "rsa",
                bits: 4096,
                encoding: "pem",
                material: builtin::RSA_PRIVATE_PEM.to_owned(),
            },
        );
        keys.insert(
            RSA_PUBLIC.to_owned(),
            KeyOut {
                kind: "public",
                key_id: RSA_KEY_ID.to_owned(),
                encrypt: true,
                decrypt: false,
                algorithm: "rsa",
                bits: 4096,
                encoding: "pem",
                material: builtin::RSA_PUBLIC_PEM.to_owned(),
            },
        );
        KeysOut {
            manifest: HeaderOut {
                kind: "keys",
                version: 3,
            },
            keys,
        }
    }
}

fn plaintext_bytes(name: &str, len: usize) -> Vec<u8> {
    // SplitMix64 seeded from the name: deterministic, incompressible-looking.
    let mut state = name.bytes().fold(0x9E37_79B9_7F4A_7C15_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3)
    });
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        let take = (len - out.len()).min(8);
        out.extend_from_slice(&z.to_le_bytes()[..take]);
    }
    out
}

fn policy_for(suite: AlgorithmSuite) -> CommitmentPolicy {
    if suite.is_committing() {
        CommitmentPolicy::RequireEncryptRequireDecrypt
    } else {
        CommitmentPolicy::ForbidEncryptAllowDecrypt
    }
}

const fn plaintext(name: &str) -> (&'static str, usize) {
    let mut i = 0;
    while i < PLAINTEXTS.len() {
        if str_eq(PLAINTEXTS[i].0, name) {
            return PLAINTEXTS[i];
        }
        i += 1;
    }
    PLAINTEXTS[0]
}

const fn str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// The matrix. Every suite is combined with every frame size and the
/// plaintexts that matter for it, with every key setup, with every
/// encryption context, with the required-context CMM and (for unsigned
/// suites) with streaming unsigned-only decryption.
fn matrix() -> Vec<Case> {
    let base = |suite, frame, pt: &str, ec, keys| Case {
        suite,
        frame,
        plaintext: plaintext(pt),
        ec,
        keys,
        required: None,
        reproduce: false,
        unsigned_only: false,
        negatives: false,
    };
    let mut cases = Vec::new();
    let mut rotation = 0_usize;
    for suite in AlgorithmSuite::ALL {
        // Suite x frame size x plaintext; keys and contexts rotate.
        let frames: [(u32, &[&str]); 4] = [
            (1, &["empty", "small", "exact-384"]),
            (128, &["empty", "small", "exact-384", "large"]),
            (4096, &["small", "exact-8192"]),
            (65536, &["empty", "small", "large"]),
        ];
        for (frame, pts) in frames {
            for pt in pts {
                let keys = Keys::MATRIX[rotation % Keys::MATRIX.len()];
                let ec = Ec::MATRIX[rotation % Ec::MATRIX.len()];
                rotation += 1;
                let mut case = base(suite, frame, pt, ec, keys);
                case.reproduce = rotation % 2 == 0;
                cases.push(case);
            }
        }
        // Suite x key setup.
        for (i, keys) in Keys::MATRIX.into_iter().enumerate() {
            cases.push(base(suite, 4096, "small", Ec::MATRIX[i % 3], keys));
        }
        // Suite x encryption context (reproduced).
        for ec in Ec::MATRIX {
            let mut case = base(suite, 128, "exact-384", ec, Keys::Aes(256));
            case.reproduce = true;
            case.negatives = ec == Ec::Ascii && NEGATIVE_SUITES.contains(&suite.id());
            cases.push(case);
        }
        // Required encryption context: all keys required, or a subset.
        let all: Vec<String> = Ec::Both.pairs().into_keys().collect();
        for required in [all, vec!["tenant".to_owned(), "日本".to_owned()]] {
            let mut case = base(suite, 4096, "small", Ec::Both, Keys::Aes(256));
            case.negatives = required.len() == 2 && suite.id() == 0x0578;
            case.required = Some(required);
            cases.push(case);
        }
        // Frames sealed on worker threads (signed and unsigned, committing or not).
        if [0x0078, 0x0378, 0x0478, 0x0578].contains(&suite.id()) {
            for frame in [4096, 65536] {
                cases.push(base(suite, frame, "huge", Ec::Ascii, Keys::Aes(256)));
            }
        }
        // Streaming unsigned-only.
        if !suite.is_signing() {
            let mut case = base(suite, 4096, "exact-8192", Ec::Ascii, Keys::Aes(128));
            case.unsigned_only = true;
            cases.push(case);
        }
    }
    // The sets overlap a little; keep the first of equal cases.
    let mut seen = std::collections::BTreeSet::new();
    cases.retain(|c| seen.insert(c.id()));
    cases
}

/// A negative test derived from an encrypted case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tamper {
    Truncate,
    FlipHeader,
    FlipMiddle,
    FlipLast,
    WrongKey,
    UnsignedOnlyOnSigned,
    WrongContext,
    MissingRequiredContext,
}

impl Tamper {
    fn tag(self) -> &'static str {
        match self {
            Self::Truncate => "truncated",
            Self::FlipHeader => "flip-header",
            Self::FlipMiddle => "flip-middle",
            Self::FlipLast => "flip-last",
            Self::WrongKey => "wrong-key",
            Self::UnsignedOnlyOnSigned => "unsigned-only-on-signed",
            Self::WrongContext => "wrong-context",
            Self::MissingRequiredContext => "missing-required-context",
        }
    }
}

struct Writer<'a> {
    dir: &'a Path,
    tests: BTreeMap<String, TestOut>,
    generated: Generated,
}

impl Writer<'_> {
    fn write_file(&self, rel: &str, bytes: &[u8]) -> Result<()> {
        let path = self.dir.join(rel);
        fs::write(&path, bytes).map_err(|e| Error::at(&path, format!("cannot write: {e}")))
    }

    fn add(&mut self, id: String, test: TestOut) -> Result<()> {
        if matches!(test.result, ResultOut::Error { .. }) {
            self.generated.negative += 1;
        } else {
            self.generated.positive += 1;
        }
        if self.tests.insert(id.clone(), test).is_some() {
            return Err(Error::new(format!("duplicate test id {id}")));
        }
        Ok(())
    }
}

fn encrypt_case(materials: &KeyMaterials, case: &Case, plaintext: &[u8]) -> Result<Vec<u8>> {
    let keyring = materials.encrypt_keyring(case.keys)?;
    let default_cmm: Arc<dyn MaterialsManager> = Arc::new(DefaultCmm::new(keyring));
    let cmm: Arc<dyn MaterialsManager> = match &case.required {
        None => default_cmm,
        Some(required) => Arc::new(
            RequiredContextCmm::new(default_cmm, required.clone())
                .map_err(|e| Error::new(format!("required-context CMM: {e}")))?,
        ),
    };
    let config = EncryptConfig::default()
        .with_suite(Some(case.suite))
        .with_frame_length(case.frame)
        .map_err(|e| Error::new(format!("frame length {}: {e}", case.frame)))?
        .with_commitment_policy(policy_for(case.suite))
        // Several workers whatever the machine, so that large messages are always sealed
        // in parallel (the output is the same as on one thread).
        .with_threads(Threads::Fixed(PARALLEL_WORKERS));
    let context: EncryptionContext = case.ec.pairs().into_iter().collect();
    let len = u64::try_from(plaintext.len()).map_err(|e| Error::new(e.to_string()))?;
    let prepared = block_on(Encryptor::new(cmm, config).prepare(&context, Some(len)))
        .map_err(|e| Error::new(format!("{}: encrypt: {e}", case.id())))?;
    let mut writer = prepared
        .wrap_output(Vec::new())
        .map_err(|e| Error::new(format!("{}: encrypt: {e}", case.id())))?;
    writer
        .write_all(plaintext)
        .map_err(|e| Error::new(format!("{}: encrypt: {e}", case.id())))?;
    writer
        .finish()
        .map_err(|e| Error::new(format!("{}: encrypt: {e}", case.id())))
}

/// Encrypts the matrix and writes the manifest directory `out`.
pub fn generate(out: &Path) -> Result<Generated> {
    for sub in ["", "ciphertexts", "plaintexts"] {
        let path = out.join(sub);
        fs::create_dir_all(&path).map_err(|e| Error::at(&path, format!("cannot create: {e}")))?;
    }
    let materials = KeyMaterials::load()?;
    let mut writer = Writer {
        dir: out,
        tests: BTreeMap::new(),
        generated: Generated::default(),
    };

    let mut plaintexts = BTreeMap::new();
    for (name, len) in PLAINTEXTS {
        let bytes = plaintext_bytes(name, len);
        writer.write_file(&format!("plaintexts/{name}"), &bytes)?;
        plaintexts.insert(name, bytes);
    }

    // Base messages that negative tests are derived from.
    let mut tamper_sources: Vec<(String, Case, Vec<u8>)> = Vec::new();
    for case in matrix() {
        let id = case.id();
        let plaintext = plaintexts
            .get(case.plaintext.0)
            .ok_or_else(|| Error::new(format!("no plaintext {}", case.plaintext.0)))?;
        let ciphertext = encrypt_case(&materials, &case, plaintext)?;
        writer.write_file(&format!("ciphertexts/{id}"), &ciphertext)?;
        let context = case.ec.pairs();
        let (cmm, encryption_context) = match &case.required {
            Some(required) => (
                CmmKind::RequiredEncryptionContext,
                Some(
                    context
                        .iter()
                        .filter(|(k, _)| required.contains(k))
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                ),
            ),
            None => (CmmKind::Default, case.reproduce.then(|| context.clone())),
        };
        let description = format!(
            "suite {} ({}), frame {}, plaintext {} ({} bytes), context {}, keys {}{}{}",
            case.suite.name(),
            format_args!("{:04X}", case.suite.id()),
            case.frame,
            case.plaintext.0,
            case.plaintext.1,
            case.ec.tag(),
            case.keys.tag(),
            case.required
                .as_ref()
                .map(|r| format!(", required keys {r:?}"))
                .unwrap_or_default(),
            if case.unsigned_only {
                ", streaming unsigned-only"
            } else {
                ""
            },
        );
        let test = |master_keys: Vec<KeyDesc>, description: String| TestOut {
            description,
            ciphertext: format!("file://ciphertexts/{id}"),
            master_keys,
            decryption_method: case.unsigned_only.then_some(STREAMING_UNSIGNED_ONLY),
            cmm: cmm.as_str(),
            encryption_context: encryption_context.clone(),
            result: ResultOut::Output {
                plaintext: format!("file://plaintexts/{}", case.plaintext.0),
            },
        };
        match case.keys {
            Keys::Aes(bits) => {
                writer.add(id.clone(), test(vec![KeyDesc::aes(bits)], description))?
            }
            Keys::Rsa(padding) => {
                writer.add(id.clone(), test(vec![KeyDesc::rsa(padding)], description))?;
            }
            Keys::Multi => {
                // One ciphertext, decrypted once through each of its EDKs.
                writer.add(
                    format!("{id}-via-aes"),
                    test(
                        vec![KeyDesc::aes(256)],
                        format!("{description}; decrypt with AES-256"),
                    ),
                )?;
                writer.add(
                    format!("{id}-via-rsa"),
                    test(
                        vec![KeyDesc::rsa(RsaPaddingSpec::OaepSha256)],
                        format!("{description}; decrypt with RSA OAEP-SHA256"),
                    ),
                )?;
            }
        }
        if case.negatives {
            tamper_sources.push((id.clone(), case.clone(), ciphertext));
        }
    }

    for (id, case, ciphertext) in &tamper_sources {
        let tampers: &[Tamper] = if case.required.is_some() {
            &[Tamper::MissingRequiredContext]
        } else if case.suite.is_signing() {
            &[
                Tamper::Truncate,
                Tamper::FlipHeader,
                Tamper::FlipMiddle,
                Tamper::FlipLast,
                Tamper::WrongKey,
                Tamper::UnsignedOnlyOnSigned,
                Tamper::WrongContext,
            ]
        } else {
            &[
                Tamper::Truncate,
                Tamper::FlipHeader,
                Tamper::FlipMiddle,
                Tamper::FlipLast,
                Tamper::WrongKey,
                Tamper::WrongContext,
            ]
        };
        for &tamper in tampers {
            let neg_id = format!("{id}-neg-{}", tamper.tag());
            let mut master_keys = match case.keys {
                Keys::Aes(bits) => vec![KeyDesc::aes(bits)],
                Keys::Rsa(padding) => vec![KeyDesc::rsa(padding)],
                Keys::Multi => vec![KeyDesc::aes(256)],
            };
            let mut ciphertext_uri = format!("file://ciphertexts/{id}");
            let mut decryption_method = None;
            let mut cmm = CmmKind::Default;
            let mut encryption_context = case.reproduce.then(|| case.ec.pairs());
            let description;
            match tamper {
                Tamper::Truncate | Tamper::FlipHeader | Tamper::FlipMiddle | Tamper::FlipLast => {
                    let mut bytes = ciphertext.clone();
                    let len = bytes.len();
                    let what = match tamper {
                        Tamper::Truncate => {
                            bytes.truncate(len.saturating_sub(1));
                            "message truncated by 1 byte".to_owned()
                        }
                        _ => {
                            // Byte 2..3 is the suite id; 5 is inside the message id.
                            let at = match tamper {
                                Tamper::FlipHeader => 5,
                                Tamper::FlipMiddle => len / 2,
                                _ => len.saturating_sub(1),
                            };
                            if let Some(b) = bytes.get_mut(at) {
                                *b ^= 0x01;
                            }
                            format!("bit 0 flipped at byte {at} of {len}")
                        }
                    };
                    writer.write_file(&format!("ciphertexts/{neg_id}"), &bytes)?;
                    ciphertext_uri = format!("file://ciphertexts/{neg_id}");
                    description = what;
                }
                Tamper::WrongKey => {
                    master_keys = vec![KeyDesc::aes(if case.keys == Keys::Aes(128) {
                        192
                    } else {
                        128
                    })];
                    description = format!(
                        "decrypt with {}, which wrapped no data key",
                        master_keys[0].key
                    );
                }
                Tamper::UnsignedOnlyOnSigned => {
                    decryption_method = Some(STREAMING_UNSIGNED_ONLY);
                    description =
                        "signed message decrypted with streaming-unsigned-only".to_owned();
                }
                Tamper::WrongContext => {
                    let mut context = case.ec.pairs();
                    if let Some(v) = context.values_mut().next() {
                        v.push('!');
                    }
                    encryption_context = Some(context);
                    description = "reproduced encryption context has a changed value".to_owned();
                }
                Tamper::MissingRequiredContext => {
                    cmm = CmmKind::Default;
                    encryption_context = None;
                    description =
                        "required encryption-context pairs not reproduced at decrypt".to_owned();
                }
            }
            writer.add(
                neg_id,
                TestOut {
                    description: format!("{description}: must fail"),
                    ciphertext: ciphertext_uri,
                    master_keys,
                    decryption_method,
                    cmm: cmm.as_str(),
                    encryption_context,
                    result: ResultOut::Error {
                        error_description: format!("{description}: must fail"),
                    },
                },
            )?;
        }
    }

    let keys = materials.keys_manifest();
    write_json(&out.join("keys.json"), &keys)?;
    let manifest = ManifestOut {
        manifest: HeaderOut {
            kind: "awses-decrypt",
            version: 4,
        },
        client: ClientOut {
            name: CLIENT_NAME,
            version: env!("CARGO_PKG_VERSION"),
        },
        keys: "file://keys.json",
        tests: writer.tests,
    };
    write_json(&out.join("manifest.json"), &manifest)?;
    Ok(writer.generated)
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let mut text = serde_json::to_string_pretty(value)
        .map_err(|e| Error::at(path, format!("cannot serialize: {e}")))?;
    text.push('\n');
    fs::write(path, text).map_err(|e| Error::at(path, format!("cannot write: {e}")))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn matrix_covers_every_axis() {
        let cases = matrix();
        for suite in AlgorithmSuite::ALL {
            assert!(cases.iter().any(|c| c.suite == suite));
        }
        for frame in FRAME_SIZES {
            assert!(cases.iter().any(|c| c.frame == frame), "frame {frame}");
        }
        for (name, _) in PLAINTEXTS {
            assert!(cases.iter().any(|c| c.plaintext.0 == name), "{name}");
        }
        for keys in Keys::MATRIX {
            assert!(cases.iter().any(|c| c.keys == keys), "{keys:?}");
        }
        for ec in Ec::MATRIX {
            assert!(cases.iter().any(|c| c.ec == ec), "{ec:?}");
        }
        assert!(cases.iter().any(|c| c.unsigned_only));
        assert!(cases.iter().any(|c| c.required.is_some()));
        // Exact multiples of the frame size.
        assert!(
            cases
                .iter()
                .any(|c| c.frame == 128 && c.plaintext.1 % 128 == 0 && c.plaintext.1 > 0)
        );
        assert!(
            cases
                .iter()
                .any(|c| c.frame == 4096 && c.plaintext.1 % 4096 == 0 && c.plaintext.1 > 0)
        );
        let mut ids: Vec<String> = cases.iter().map(Case::id).collect();
        let n = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), n, "test ids are unique");
        assert!(n < 400, "{n} cases");
    }

    #[test]
    fn plaintexts_are_deterministic() {
        assert_eq!(plaintext_bytes("large", 70000).len(), 70000);
        assert_eq!(plaintext_bytes("x", 13), plaintext_bytes("x", 13));
        assert_ne!(plaintext_bytes("x", 13), plaintext_bytes("y", 13));
        assert_eq!(plaintext("exact-384"), ("exact-384", 384));
    }
}
