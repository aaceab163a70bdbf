//! The command line as clap sees it: a literal view of the flags.
//!
//! Nothing here is validated beyond what clap does; [`crate::config`] turns a [`Cli`] into
//! [`crate::config::Settings`] before any command runs (ripgrep's low-args → high-args split).

use std::path::PathBuf;

use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};

macro_rules! exit_codes {
    () => {
        "Exit status:
  0  success (also when a reader of stdout went away: broken pipe)
  1  the operation failed (wrong key, corrupt or tampered message, file errors, ...)
  2  usage or configuration error (bad flags, bad key reference, ...)
  130, 143, 129  interrupted by SIGINT, SIGTERM or SIGHUP while writing files
     (temporary output files removed, no partial output left)"
    };
}

#[cfg(feature = "kms")]
macro_rules! kms_keyref_help {
    () => {
        "  kms:KEY
      an AWS KMS key: key id, key ARN, alias/NAME or alias ARN; the Region and
      credentials come from the AWS configuration (AWS_REGION, ~/.aws/config profiles),
      else the Region from the key ARN
  kms:discovery[?partition=P&account=ID,...]
      decrypt only: the KMS key each data key names, limited to these accounts
"
    };
}

#[cfg(not(feature = "kms"))]
macro_rules! kms_keyref_help {
    () => {
        "  kms:...
      AWS KMS keys: not in this build (feature `kms`)
"
    };
}

#[cfg(feature = "pkcs11")]
macro_rules! pkcs11_keyref_help {
    () => {
        "  pkcs11:token=T;object=O[;id=%01]?module-path=LIB&pin-source=file:PATH[&oaep=H]
      a key on a PKCS#11 token: AES (AES-GCM wrap) or RSA (RSA-OAEP, H sha1 by default);
      the module from module-path or COFFER_PKCS11_MODULE, the PIN from pin-source or
      the file COFFER_PKCS11_PIN_FILE names
"
    };
}

#[cfg(not(feature = "pkcs11"))]
macro_rules! pkcs11_keyref_help {
    () => {
        "  pkcs11:...
      PKCS#11 keys: not in this build (feature `pkcs11`)
"
    };
}

macro_rules! keyref_help {
    () => {
        concat!(
            "Key references (KEYREF):
  aes:PATH[?namespace=NS&name=NAME]
      raw AES-128/192/256 key file: exactly 16, 24 or 32 bytes, or their base64 text
      (a trailing newline is fine); NS defaults to `coffer`, NAME to the file name
  rsa:PATH[?padding=P&namespace=NS&name=NAME]
      raw RSA: PEM public key (SPKI) to encrypt, PEM private key (PKCS#8) to decrypt;
      P is oaep-sha1, oaep-sha256 (default), oaep-sha384, oaep-sha512 or pkcs1;
      NAME defaults to the file name without .pem/.pub/.key and -public/-private
      suffixes, so alice.pub.pem and alice.pem (or rsa-public.pem and rsa-private.pem)
      name the same key
  NAME, local:NAME
      a key of the local keyring in COFFER_HOME (coffer init; coffer key create NAME)
",
            kms_keyref_help!(),
            pkcs11_keyref_help!()
        )
    };
}

const EXIT_CODES: &str = exit_codes!();

const ENCRYPT_HELP: &str = concat!(
    keyref_help!(),
    "
With several --key, the first generates the data key and every key wraps it: any one
of them decrypts the message.

The output file appears only when complete (written to a temporary file with mode 0600,
unnamed on Linux, then given its name); an existing file is kept unless --force. An
existing FIFO or device (such as /dev/stdout) is written in place, never replaced.
Ciphertext is not written to a terminal unless -o - is given.

Directory runs (-r): files are encrypted -j at a time (default: one per CPU); the
files written do not depend on -j. Nothing is created through a symbolic link below the
output directory: such a link fails the files below it. A file that fails is reported (and gets a failure
line in --metadata-output) and the others go on; the run ends with a summary line on stderr
(unless -q), or a JSON line of type \"summary\" on stdout with --output json, and exits 1
if any file failed. On SIGINT, SIGTERM or SIGHUP, temporary outputs are removed and coffer
exits 128 + the signal number.

",
    exit_codes!()
);

const DECRYPT_HELP: &str = concat!(
    keyref_help!(),
    "
With several --key, any of them may unwrap the data key; when none can, the error lists
every key tried and why it failed. Without --key, any key of the local keyring in
COFFER_HOME may (when COFFER_HOME has a store).

When plaintext is released:
  -o FILE   the plaintext goes to a temporary file (mode 0600; on Linux an unnamed one,
            which no kill leaves behind) that gets the name FILE only after the whole
            message, signature included, has been verified; on any failure nothing appears
            under FILE.
  stdout    (and an existing FIFO or device given as -o, such as /dev/stdout, which is
            written in place, never replaced, with or without --force)
            each frame is written as soon as it is authenticated. For signed suites the
            signature at the end of the message is checked last: if decryption then fails
            (exit 1), the output already written must not be trusted. --buffer holds the
            whole plaintext in memory until the signature verifies, so nothing unverified
            is ever written (costs memory the size of the message).

Directory runs (-r): files are decrypted -j at a time (default: one per CPU); the
files written do not depend on -j. Nothing is created through a symbolic link below the
output directory: such a link fails the files below it. A file that fails is reported (and gets a failure
line in --metadata-output) and the others go on; the run ends with a summary line on stderr
(unless -q), or a JSON line of type \"summary\" on stdout with --output json, and exits 1
if any file failed. On SIGINT, SIGTERM or SIGHUP, temporary outputs are removed and coffer
exits 128 + the signal number.

",
    exit_codes!()
);

/// Envelope encryption in the AWS Encryption SDK message format, and a secrets store.
#[derive(Debug, Parser)]
#[command(name = "coffer", version, after_help = EXIT_CODES, propagate_version = true)]
pub struct Cli {
    /// Output format for reports and errors: `json` prints one JSON object per line.
    #[arg(long, global = true, value_enum, value_name = "FORMAT",
          default_value_t = OutputFormat::Text, help_heading = "Global options")]
    pub output: OutputFormat,

    /// More log output on stderr (-v info, -vv debug, -vvv trace). RUST_LOG also works.
    #[arg(short, long, global = true, action = ArgAction::Count, conflicts_with = "quiet",
          help_heading = "Global options")]
    pub verbose: u8,

    /// Only errors on stderr (no warnings).
    #[arg(short, long, global = true, help_heading = "Global options")]
    pub quiet: bool,

    /// Where the store and the local keyring live [env: COFFER_HOME; default:
    /// $XDG_DATA_HOME/coffer, else ~/.local/share/coffer].
    #[arg(
        long,
        global = true,
        value_name = "DIR",
        help_heading = "Global options"
    )]
    pub home: Option<PathBuf>,

    /// The parameter store [env: COFFER_STORE; default: sqlite://$COFFER_HOME/coffer.db].
    /// postgres://USER@HOST:PORT/DATABASE[?sslmode=require] shares one store between
    /// machines (password from PGPASSWORD, TLS roots from PGSSLROOTCERT; each machine uses the
    /// root.key of its COFFER_HOME).
    #[arg(
        long,
        global = true,
        value_name = "URL",
        help_heading = "Global options"
    )]
    pub store: Option<String>,

    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// `--output`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum OutputFormat {
    /// Human-readable text.
    #[default]
    Text,
    /// JSON (one object per line).
    Json,
}

/// The verbs.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Encrypt a file or stdin into an AWS Encryption SDK message.
    #[command(after_help = ENCRYPT_HELP)]
    Encrypt(EncryptArgs),
    /// Decrypt an AWS Encryption SDK message.
    #[command(after_help = DECRYPT_HELP)]
    Decrypt(DecryptArgs),
    /// Show the header of a message (suite, message id, context, data keys); no key needed.
    #[command(after_help = EXIT_CODES)]
    Inspect(InspectArgs),
    /// Replace the data keys of unsigned messages (new key, or a key's current version)
    /// without touching their bodies.
    #[command(after_help = REWRAP_HELP)]
    Rewrap(RewrapArgs),
    /// Create COFFER_HOME: the store (coffer.db) and its root key (root.key).
    #[command(after_help = INIT_HELP)]
    Init(InitArgs),
    /// Manage the named keys of the store (the local keyring) and its root key.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Write a new version of a parameter (the value from --value-file or stdin).
    #[command(after_help = PUT_HELP)]
    Put(PutArgs),
    /// Rotate a secret: stage a new value as `pending`, run the set and test hooks, then
    /// move `current` to it (and `previous` to the old value).
    #[command(after_help = SECRET_ROTATE_HELP)]
    Rotate(RotateArgs),
    /// Print a parameter's value (NAME, NAME:VERSION or NAME:LABEL).
    #[command(after_help = PARAM_HELP)]
    Get(GetArgs),
    /// List the parameters under a path (never their values).
    #[command(after_help = PARAM_HELP)]
    Ls(LsArgs),
    /// List the versions of a parameter (never their values).
    #[command(after_help = PARAM_HELP)]
    History {
        /// The parameter.
        name: String,
    },
    /// Point labels at a version (a label moves when set again).
    #[command(after_help = PARAM_HELP)]
    Label {
        /// The parameter and version: NAME:VERSION.
        #[arg(value_name = "NAME:VERSION")]
        selector: String,
        /// The labels.
        #[arg(value_name = "LABEL", required = true)]
        labels: Vec<String>,
    },
    /// Remove labels from a parameter.
    #[command(after_help = PARAM_HELP)]
    Unlabel {
        /// The parameter.
        name: String,
        /// The labels.
        #[arg(value_name = "LABEL", required = true)]
        labels: Vec<String>,
    },
    /// Delete a parameter, recoverably (see restore, destroy).
    #[command(after_help = PARAM_HELP)]
    Rm {
        /// The parameter.
        name: String,
    },
    /// Undo `rm`.
    #[command(after_help = PARAM_HELP)]
    Restore {
        /// The parameter.
        name: String,
    },
    /// Destroy a parameter (every version, for good) or one version's value.
    #[command(after_help = PARAM_HELP)]
    Destroy {
        /// NAME (the whole parameter) or NAME:VERSION (that version's value).
        #[arg(value_name = "NAME[:VERSION]")]
        selector: String,
    },
    /// Run a command with the parameters under --path in its environment (it replaces coffer).
    #[command(after_help = EXEC_HELP)]
    Exec(ExecArgs),
    /// Print the parameters under --path as dotenv, JSON, YAML or shell `export` lines.
    #[command(after_help = EXEC_HELP)]
    Export(ExportArgs),
    /// Show or check the store's audit log (writes, key operations, reads of secure values).
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Print a shell completion script (bash, zsh, fish, elvish or powershell).
    #[command(
        after_help = "Install, for example:\n  coffer completions bash > ~/.local/share/bash-completion/completions/coffer\n  coffer completions zsh > \"${fpath[1]}/_coffer\"\n  coffer completions fish > ~/.config/fish/completions/coffer.fish"
    )]
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man pages (roff) to stdout, coffer(1) and one per subcommand with its full
    /// help: `coffer man | man -l -`.
    Man,
}

const REWRAP_HELP: &str = concat!(
    "The message's data key is unwrapped with a --from key (default: the local keyring) and
wrapped again with the --key keys; the header tag is recomputed and the body is copied as it
is. A local key (NAME) wraps with its active version, so rewrapping moves messages off old
versions before `coffer key retire`.

-o may name the input itself (the message is replaced, atomically). Signed messages (the
default suite 0578) cannot be rewrapped: their signature covers the data keys. Decrypt and
encrypt them again instead. Keep no copy of the old message: see SECURITY.md.

",
    exit_codes!()
);

macro_rules! param_help {
    () => {
        "Names are paths: /app/prod/db-password (1 to 15 levels of A-Z a-z 0-9 _ . -; the
leading slash may be left out). Labels are 1 to 100 of A-Z a-z 0-9 _ . -, not starting
with a digit: NAME:3 is version 3, NAME:current the version labelled current.

Types: secure-string (the default) is stored as an AWS Encryption SDK message under the
store's keys, with the name and version in its encryption context; string and
string-list (comma-separated) are stored in the clear and read without any key.

rm marks a parameter deleted: get, ls and exec no longer see it, restore brings it back.
destroy NAME removes it and every version for good (the name is free again); destroy
NAME:VERSION wipes that version's value and keeps its history.

"
    };
}

const PARAM_HELP: &str = concat!(param_help!(), exit_codes!());

const SECRET_ROTATE_HELP: &str = concat!(
    param_help!(),
    "The new value is generated (--generate SPEC: length=32,charset=alnum|print|hex|base64,
exclude=CHARS,require-each=true; the default is length=32,charset=alnum) or read from
--value-file PATH or stdin, and written as a new version labelled `pending`. Then the set
hook and the test hook run, in that order, each with `sh -c CMD`: the new value on stdin,
COFFER_ROTATE_NAME, COFFER_ROTATE_VERSION and COFFER_ROTATE_OLD_VERSION in the
environment. When both succeed, `current` moves to the new version and `previous` to the
old one, in one transaction; `get NAME` reads `current`.

A hook that fails or runs past --hook-timeout (default 5m; its process group is killed)
leaves `current` where it was and the new version `pending`, and its output is printed.
The next `coffer rotate NAME` resumes that version (the hooks run again with the same
value, so they must bear being run twice); --discard-pending starts over instead.

--every 30d rotates now and stores the plan (--generate is required, and the hooks and
--hook-timeout are kept); coffer rotate --due rotates every secret whose time has come, one
at a time, and prints a JSON report. A run holds a lease on the secret in the store, so two
runs never rotate one secret at once; a failed scheduled rotation stays due. --every off
removes the schedule.
",
    exit_codes!()
);

const PUT_HELP: &str = concat!(
    param_help!(),
    "The value is read from --value-file PATH, or stdin (`-`, the default; asked for without
echo on a terminal), never from the command line. One trailing newline is dropped. Values
are UTF-8 text of at most 64 KiB with no NUL byte; COFFER_MAX_VALUE_BYTES=N changes the
limit.

Without --overwrite an existing name is an error. --if-version N writes only if the latest
version is N (check-and-set); of several writers racing with the same N, one wins. A new
version keeps the parameter's type: a --type that differs from the latest version's is
refused unless --change-type is given (so a secure value is never stored in the clear by
mistake).

A secure-string value is encrypted with --key KEYREF, else with the store key: the local
key `params`, created on the first secure put (coffer init must have run). Reading it
back needs that key: the store's root key (and its passphrase) for local keys, or
get --key KEYREF.

--expires takes an RFC 3339 time (2026-12-31T23:59:59Z) or a duration from now (90d, 12h,
30m); get refuses an expired value, saying when it expired.

",
    exit_codes!()
);

const EXEC_HELP: &str = concat!(
    "One variable per parameter under each --path: the part of its name below the path,
upper-cased, with `/`, `-` and `.` turned into `_` (/app/prod/db-password under /app/prod is
DB_PASSWORD; a name starting with a digit gets a leading `_`). Later paths win. Expired values
are left out with a warning; with --strict an expired value, or two parameters giving the same
variable, is an error. Secure values are decrypted with the local keyring, or --key KEYREF.

The store never sets a variable that changes how programs are found, loaded or started
(PATH, LD_*, DYLD_*, BASH_ENV, ENV, IFS, PS4, PYTHONPATH, PERL5OPT, NODE_OPTIONS,
JAVA_TOOL_OPTIONS, GIT_*, HOME, SSL_CERT_FILE, COFFER_*, …): such a parameter is left out
with a warning (an error with --strict) unless --allow-var VAR names it. A value holding a
NUL byte cannot be a variable and is left out the same way (json and yaml carry it).

`exec` replaces coffer with COMMAND (execve): its exit status and signals are its own, and the
values are only in its environment, never in its arguments. COMMAND is found with coffer's
own PATH, before the parameters are applied. It exits 127 if COMMAND is not found and 126 if
it cannot run.

`export --format dotenv` writes lines that `set -a; . ./app.env` in a POSIX shell reads back
exactly, running nothing; docker compose and python-dotenv read them back too, except values
their rules cannot express (python-dotenv expands ${VAR} even in single quotes): those are
named in a warning (an error with --strict). --format shell is for eval; json and yaml are
exact.

",
    exit_codes!()
);

const INIT_HELP: &str = concat!(
    "The root key is 32 random bytes in COFFER_HOME/root.key (mode 0600); it only wraps the
keys of the store. With --passphrase it is encrypted under a passphrase (Argon2id, then
AES-256-GCM), read from the file named by COFFER_PASSPHRASE_FILE (one trailing newline
dropped) or asked twice on the terminal; every command that uses the keys then needs it.
Back root.key up: without it the keys in the store cannot be used.

An existing home is refused unless its store holds no keys (nothing is overwritten).

",
    exit_codes!()
);

const KEY_HELP: &str = concat!(
    "Key names are 1 to 64 characters of A-Z a-z 0-9 _ . -, starting with a letter or digit.
Durations are numbers with units, one or several: 90s, 30m, 12h, 90d, 1w, 1h30m; a
rotation period is 1m to 36500d.

",
    exit_codes!()
);

/// Flags of `init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// The root key: `local` (a key file in COFFER_HOME; the default), an AWS KMS key,
    /// kms:KEY, or an AES key on a PKCS#11 token, pkcs11:token=T;object=O?module-path=…&
    /// pin-source=file:… (branch keys are then wrapped in KMS or the token; root.key only
    /// names the key).
    #[arg(long, value_name = "KEYREF", default_value = "local")]
    pub root: String,

    /// Protect the local root key with a passphrase (from COFFER_PASSPHRASE_FILE or the
    /// terminal; never from the command line).
    #[arg(long)]
    pub passphrase: bool,
}

/// `coffer audit …`.
#[derive(Debug, Clone, Copy, Subcommand)]
pub enum AuditCommand {
    /// Print the log: sequence number, time, user, verb, name and detail (never a value).
    Ls,
    /// Recompute the hash chain: reports OK and the count, or the first bad entry (exit 1).
    Verify,
}

/// `coffer key …`.
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Create a key (version 1, enabled).
    #[command(after_help = KEY_HELP)]
    Create {
        /// The key's name.
        name: String,
        /// The kind of key: aes-256 (rsa-3072 and rsa-4096 are not supported yet).
        #[arg(long, value_name = "SPEC", default_value = "aes-256")]
        spec: String,
        /// Rotate on a schedule: a new version is due this long after the active one was
        /// made (90d, 1w, 12h; 1m to 36500d; change it later with `key set-rotation`).
        #[arg(long, value_name = "DURATION")]
        rotation_period: Option<String>,
        /// Make the key on a PKCS#11 token instead (pkcs11:token=T?module-path=…&
        /// pin-source=file:…): an AES-256 key labelled NAME, sensitive and not extractable,
        /// for --key pkcs11:… and init --root pkcs11:….
        #[arg(
            long = "in",
            value_name = "PKCS11-URI",
            conflicts_with = "rotation_period"
        )]
        on_token: Option<String>,
    },
    /// List the keys.
    #[command(after_help = KEY_HELP)]
    List,
    /// Show a key: versions, dates, state, rotation period and next rotation.
    #[command(after_help = KEY_HELP)]
    Show {
        /// The key's name.
        name: String,
    },
    /// Enable a key: it encrypts and decrypts again.
    #[command(after_help = KEY_HELP)]
    Enable {
        /// The key's name.
        name: String,
    },
    /// Disable a key: it neither encrypts nor decrypts until enabled again.
    #[command(after_help = KEY_HELP)]
    Disable {
        /// The key's name.
        name: String,
    },
    /// Rotate a key (a new active version; older versions still decrypt), every key whose
    /// rotation period has passed (--due), or the root key (--root).
    #[command(
        after_help = ROTATE_HELP,
        override_usage = "coffer key rotate NAME\n       coffer key rotate --due\n       \
                          coffer key rotate --root"
    )]
    Rotate {
        /// The key to rotate.
        #[arg(required_unless_present_any = ["due", "root"], conflicts_with_all = ["due", "root"])]
        name: Option<String>,
        /// Rotate every enabled key whose rotation period has passed since its active version
        /// was made (for cron and timers; safe to run often and concurrently).
        #[arg(long, conflicts_with = "root")]
        due: bool,
        /// Make a new root key and re-wrap every key version under it (no message changes).
        #[arg(long)]
        root: bool,
        /// With --root: move to this root instead of a new local key (kms:KEY, or
        /// pkcs11:… naming an AES key on a token).
        #[arg(long, value_name = "KEYREF", requires = "root")]
        to: Option<String>,
    },
    /// Set or clear a key's rotation period (see `key rotate --due`).
    #[command(after_help = KEY_HELP)]
    SetRotation {
        /// The key's name.
        name: String,
        /// A duration (90d, 12h, 30m), or `off` for no scheduled rotation.
        #[arg(value_name = "DURATION|off")]
        period: String,
    },
    /// Retire old versions: versions below N may no longer decrypt (lower N to undo).
    #[command(after_help = RETIRE_HELP)]
    Retire {
        /// The key's name.
        name: String,
        /// The oldest version that may still decrypt (at most the active version).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
        below_version: u32,
    },
}

const ROTATE_HELP: &str = concat!(
    "coffer key rotate NAME adds a version with fresh key material and makes it active: new
messages use it, and messages under the older versions still decrypt.

coffer key rotate --due rotates every enabled key whose rotation period (key create
--rotation-period, key set-rotation) has passed since its active version was made. It prints
one line per rotated key (one JSON object of type \"key_rotated\" with --output json), or
\"nothing due\" (type \"nothing_due\"). Run it from cron or a systemd timer (see contrib/): two
runs at once rotate a due key once, and it needs the root key's passphrase only when a key is
due.

coffer key rotate --root makes a new root key (protected by the same passphrase, if any) and
re-wraps every key version under it in one transaction; no message changes. root.key is then
replaced: back it up again. If it is interrupted, the next command that uses the keys finishes
or undoes the switch (root.key.next is the new key until then).

",
    exit_codes!()
);

const RETIRE_HELP: &str = concat!(
    "coffer key retire NAME --below-version N sets the key's minimum decryption version: messages
under versions below N no longer decrypt (the error names the version), which shows what still
needs them (coffer inspect lists the versions a message uses). N may be at most the active
version. Lowering N again (down to 1) lets the old versions decrypt again: nothing is deleted.

",
    exit_codes!()
);

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

/// Which parameters `exec` and `export` read.
#[derive(Debug, Args)]
pub struct SelectionArgs {
    /// A path whose parameters become variables (repeatable; later paths win).
    #[arg(long = "path", value_name = "PATH", required = true)]
    pub paths: Vec<String>,

    /// Parameters at any depth below each path, not only directly below it.
    #[arg(short, long)]
    pub recursive: bool,

    /// Fail instead of warning: on a name clash, an expired value, a variable left out, or a
    /// dotenv value some reader would not read back exactly.
    #[arg(long)]
    pub strict: bool,

    /// Let the store set VAR although it changes how programs are found, loaded or started
    /// (PATH, LD_PRELOAD, BASH_ENV, PYTHONPATH, …; repeatable).
    #[arg(long = "allow-var", value_name = "VAR")]
    pub allow_vars: Vec<String>,

    /// Decrypt secure values with this key (repeatable) [default: the local keyring].
    #[arg(short = 'k', long = "key", value_name = "KEYREF")]
    pub keys: Vec<String>,
}

/// Flags of `exec`.
#[derive(Debug, Args)]
pub struct ExecArgs {
    /// The parameters.
    #[command(flatten)]
    pub selection: SelectionArgs,

    /// Start from an empty environment (only the parameters).
    #[arg(long)]
    pub pristine: bool,

    /// The command and its arguments (after `--`).
    #[arg(value_name = "COMMAND", required = true, last = true)]
    pub command: Vec<std::ffi::OsString>,
}

/// Flags of `export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The parameters.
    #[command(flatten)]
    pub selection: SelectionArgs,

    /// The output format.
    #[arg(long, value_enum, default_value = "dotenv")]
    pub format: crate::envmap::Format,
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

/// Flags of `put`.
#[derive(Debug, Args)]
pub struct PutArgs {
    /// The parameter.
    pub name: String,

    /// The type: string, string-list or secure-string [default: the parameter's type;
    /// secure-string for a new one].
    #[arg(long = "type", value_name = "TYPE")]
    pub param_type: Option<String>,

    /// Let --type differ from the type of the latest version (without it, a change of type
    /// is refused).
    #[arg(long, requires = "param_type")]
    pub change_type: bool,

    /// Read the value from PATH, or `-` for stdin [default: -].
    #[arg(long, value_name = "PATH")]
    pub value_file: Option<PathBuf>,

    /// Write a new version of an existing parameter.
    #[arg(long)]
    pub overwrite: bool,

    /// Write only if the latest version is N (check-and-set).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub if_version: Option<u32>,

    /// Point LABEL at the new version (repeatable).
    #[arg(long = "label", value_name = "LABEL")]
    pub labels: Vec<String>,

    /// A description of this version.
    #[arg(long, value_name = "TEXT")]
    pub description: Option<String>,

    /// A tag of this version (repeatable).
    #[arg(long = "tag", value_name = "K=V")]
    pub tags: Vec<String>,

    /// When the value expires: RFC 3339, or a duration from now (90d, 12h, 30m).
    #[arg(long, value_name = "WHEN")]
    pub expires: Option<String>,

    /// Encrypt a secure-string with this key [default: the store key, local:params].
    #[arg(short = 'k', long = "key", value_name = "KEYREF")]
    pub key: Option<String>,
}

/// Flags of `rotate`.
#[derive(Debug, Args)]
pub struct RotateArgs {
    /// The parameter (it must exist: `coffer put` writes its first value).
    #[arg(required_unless_present = "due")]
    pub name: Option<String>,

    /// Rotate every secret whose schedule (--every) is due, one at a time, and print a JSON
    /// report (for cron and timers; two runs at once rotate a secret once).
    #[arg(long, conflicts_with_all = ["name", "generate", "value_file", "set_hook", "test_hook", "every", "discard_pending", "key"])]
    pub due: bool,

    /// Rotate now and then on a schedule (90d, 1w, 12h; 1m to 36500d) with these --generate
    /// and hooks, which are stored; `off` removes the schedule.
    #[arg(long, value_name = "DURATION|off")]
    pub every: Option<String>,

    /// Generate the new value: SPEC is length=N,charset=alnum|print|hex|base64,
    /// exclude=CHARS,require-each=true (each part optional) [default: length=32,charset=alnum].
    #[arg(long, value_name = "SPEC", num_args = 0..=1, default_missing_value = "",
          conflicts_with = "value_file")]
    pub generate: Option<String>,

    /// Read the new value from PATH, or `-` for stdin (the default without --generate).
    #[arg(long, value_name = "PATH")]
    pub value_file: Option<PathBuf>,

    /// Shell command that puts the new value in place (value on stdin).
    #[arg(long, value_name = "CMD")]
    pub set_hook: Option<String>,

    /// Shell command that checks the new value works (value on stdin).
    #[arg(long, value_name = "CMD")]
    pub test_hook: Option<String>,

    /// Time limit of each hook: 30s, 5m, 1h (at most 7d).
    #[arg(long, value_name = "DURATION", default_value = "5m")]
    pub hook_timeout: String,

    /// Drop a version left `pending` by a failed or interrupted rotation and start over
    /// (without it, that version is resumed).
    #[arg(long)]
    pub discard_pending: bool,

    /// Encrypt the new secure-string with this key [default: the store key, local:params].
    #[arg(short = 'k', long = "key", value_name = "KEYREF")]
    pub key: Option<String>,
}

/// Flags of `get`.
#[derive(Debug, Args)]
pub struct GetArgs {
    /// NAME, NAME:VERSION or NAME:LABEL.
    #[arg(value_name = "NAME[:VERSION|:LABEL]")]
    pub selector: String,

    /// Decrypt a secure-string with this key (repeatable) [default: the local keyring].
    #[arg(short = 'k', long = "key", value_name = "KEYREF")]
    pub keys: Vec<String>,
}

/// Flags of `ls`.
#[derive(Debug, Args)]
pub struct LsArgs {
    /// The path [default: /].
    #[arg(value_name = "PATH")]
    pub path: Option<String>,

    /// Every parameter below PATH, at any depth.
    #[arg(short, long)]
    pub recursive: bool,
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_structure_is_valid() {
        Cli::command().debug_assert();
    }
}
