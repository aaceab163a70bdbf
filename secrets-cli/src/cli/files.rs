//! Flags of the file verbs: `encrypt`, `decrypt`, `inspect`, `rewrap`.

use std::path::PathBuf;

use clap::Args;

/// The commitment policies, in their CLI spelling.
pub const COMMITMENT_POLICIES: [&str; 3] = [
    "require-encrypt-require-decrypt",
    "require-encrypt-allow-decrypt",
    "forbid-encrypt-allow-decrypt",
];

/// Flags of `encrypt`.
#[derive(Debug, Args)]
pub struct EncryptArgs {
    /// Key to wrap the data key with (repeatable; the first one generates it).
    #[arg(short = 'k', long = "key", value_name = "KEYREF", required = true)]
    pub keys: Vec<String>,

    /// Input file, or `-` for stdin [default: -].
    #[arg(short, long, value_name = "PATH")]
    pub input: Option<PathBuf>,

    /// Output file, or `-` for stdout [default: -].
    #[arg(short = 'o', long = "out", value_name = "PATH")]
    pub out: Option<PathBuf>,

    /// Encryption context pair stored (authenticated, not encrypted) in the message (repeatable).
    #[arg(short = 'c', long = "context", value_name = "KEY=VALUE")]
    pub context: Vec<String>,

    /// Algorithm suite: hex id (`0478`) or ESDK name [default: 0578].
    #[arg(long, value_name = "ID")]
    pub suite: Option<String>,

    /// Plaintext bytes per frame (frames above 16 MiB need decrypt --max-frame-size).
    #[arg(long, value_name = "BYTES", default_value_t = 4096,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub frame_size: u32,

    /// Key commitment policy.
    #[arg(long, value_name = "POLICY", value_parser = COMMITMENT_POLICIES,
          default_value = "require-encrypt-require-decrypt")]
    pub commitment_policy: String,

    /// Fail if the message would hold more than N encrypted data keys.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_encrypted_data_keys: Option<u64>,

    /// Overwrite an existing output file.
    #[arg(short, long)]
    pub force: bool,

    /// Append one JSON line describing the result to PATH (`-` for stdout).
    #[arg(long, value_name = "PATH")]
    pub metadata_output: Option<PathBuf>,

    /// Encrypt every regular file below -i DIR into -o DIR (adding `.coffer`).
    #[arg(short, long)]
    pub recursive: bool,

    /// With -r: how many files to encrypt at once [default: the number of CPUs].
    #[arg(short = 'j', long = "jobs", value_name = "N", requires = "recursive",
          value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: Option<u16>,

    /// With -r: follow symbolic links to files and directories (by default they are skipped,
    /// so a link cannot pull files from outside the tree in).
    #[arg(short = 'L', long, requires = "recursive")]
    pub follow_symlinks: bool,

    /// Reuse a data key for several messages (with -r): max-age=DURATION (30s, 5m, 1h; at
    /// most 1d), optional max-messages=N and max-bytes=SIZE (K, M, G). Fewer key-provider
    /// calls; a leaked data key then opens every message it encrypted, so keep the limits
    /// low. Files only (a stdin of unknown length is never cached).
    #[arg(long, value_name = "SPEC")]
    pub data_key_cache: Option<String>,
}

/// Flags of `decrypt`.
#[derive(Debug, Args)]
pub struct DecryptArgs {
    /// Key that may unwrap the data key (repeatable; any one of them is enough). Without
    /// --key, the local keyring of COFFER_HOME (any of its keys).
    #[arg(short = 'k', long = "key", value_name = "KEYREF")]
    pub keys: Vec<String>,

    /// Input file, or `-` for stdin [default: -].
    #[arg(short, long, value_name = "PATH")]
    pub input: Option<PathBuf>,

    /// Output file, or `-` for stdout [default: -].
    #[arg(short = 'o', long = "out", value_name = "PATH")]
    pub out: Option<PathBuf>,

    /// Required encryption context pair: the message's context must contain it (repeatable).
    #[arg(short = 'c', long = "context", value_name = "KEY=VALUE")]
    pub context: Vec<String>,

    /// Key commitment policy.
    #[arg(long, value_name = "POLICY", value_parser = COMMITMENT_POLICIES,
          default_value = "require-encrypt-require-decrypt")]
    pub commitment_policy: String,

    /// Refuse messages with more than N encrypted data keys, and try at most N of those
    /// addressed to the given keys [default: 256 data keys, of which 32 are tried].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_encrypted_data_keys: Option<u64>,

    /// Refuse messages whose frames are longer than SIZE (bytes, or a number with K, M, G),
    /// before reading their body: each frame is held in memory until its tag verifies. The
    /// AWS Encryption SDKs write 4 KiB frames; 4G takes any.
    #[arg(long, value_name = "SIZE", default_value = "16M", value_parser = crate::size::parse_size)]
    pub max_frame_size: u64,

    /// Refuse messages of signed algorithm suites.
    #[arg(long)]
    pub unsigned_only: bool,

    /// Hold the plaintext in memory until the signature verifies (see below).
    #[arg(long)]
    pub buffer: bool,

    /// Overwrite an existing output file.
    #[arg(short, long)]
    pub force: bool,

    /// Append one JSON line describing the result to PATH (`-` for stdout).
    #[arg(long, value_name = "PATH")]
    pub metadata_output: Option<PathBuf>,

    /// Decrypt every `*.coffer` file below -i DIR into -o DIR (removing `.coffer`).
    #[arg(short, long)]
    pub recursive: bool,

    /// With -r: how many files to decrypt at once [default: the number of CPUs].
    #[arg(short = 'j', long = "jobs", value_name = "N", requires = "recursive",
          value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: Option<u16>,

    /// With -r: follow symbolic links to files and directories (by default they are skipped,
    /// so a link cannot pull files from outside the tree in).
    #[arg(short = 'L', long, requires = "recursive")]
    pub follow_symlinks: bool,
}

/// Flags of `rewrap`.
#[derive(Debug, Args)]
pub struct RewrapArgs {
    /// The message (a directory with -r).
    #[arg(short, long, value_name = "PATH")]
    pub input: PathBuf,

    /// Where the rewrapped message goes; may be the input itself (a directory with -r).
    #[arg(short = 'o', long = "out", value_name = "PATH")]
    pub out: PathBuf,

    /// Key to wrap the data key with (repeatable; every one of them can decrypt).
    #[arg(short = 'k', long = "key", value_name = "KEYREF", required = true)]
    pub keys: Vec<String>,

    /// Key that may unwrap the current data key (repeatable) [default: the local keyring].
    #[arg(long = "from", value_name = "KEYREF")]
    pub from: Vec<String>,

    /// Rewrap every `*.coffer` file below -i DIR into -o DIR (the same names).
    #[arg(short, long)]
    pub recursive: bool,

    /// Overwrite an existing output file (not needed to replace the input itself).
    #[arg(short, long)]
    pub force: bool,
}

/// Flags of `inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The message, or `-` for stdin.
    #[arg(value_name = "PATH", default_value = "-")]
    pub input: PathBuf,

    /// Inspect every regular file below the directory PATH.
    #[arg(short, long)]
    pub recursive: bool,
}
