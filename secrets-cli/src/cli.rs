//! The command line as clap sees it: a literal view of the flags.
//!
//! Nothing here is validated beyond what clap does; [`crate::config`] turns a [`Cli`] into
//! [`crate::config::Settings`] before any command runs (ripgrep's low-args → high-args split).

use std::path::PathBuf;

use clap::{ArgAction, Parser, Subcommand, ValueEnum};

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

mod files;
mod keys;
mod params;
mod role;
mod rotate;

pub use files::*;
pub use keys::*;
pub use params::*;
pub use role::*;
pub use rotate::*;

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
    /// List the parameters whose latest version carries the tags asked for (never values).
    #[command(after_help = PARAM_HELP)]
    Find(FindArgs),
    /// List the versions of a parameter (never their values).
    #[command(after_help = PARAM_HELP)]
    History {
        /// The parameter.
        #[arg(add = crate::complete::names())]
        name: String,
    },
    /// Point labels at a version (a label moves when set again).
    #[command(after_help = PARAM_HELP)]
    Label {
        /// The parameter and version: NAME:VERSION.
        #[arg(value_name = "NAME:VERSION", add = crate::complete::names())]
        selector: String,
        /// The labels.
        #[arg(value_name = "LABEL", required = true)]
        labels: Vec<String>,
    },
    /// Remove labels from a parameter.
    #[command(after_help = PARAM_HELP)]
    Unlabel {
        /// The parameter.
        #[arg(add = crate::complete::names())]
        name: String,
        /// The labels.
        #[arg(value_name = "LABEL", required = true)]
        labels: Vec<String>,
    },
    /// Delete a parameter, recoverably (see restore, destroy).
    #[command(after_help = PARAM_HELP)]
    Rm {
        /// The parameter.
        #[arg(add = crate::complete::names())]
        name: String,
    },
    /// Undo `rm`.
    #[command(after_help = PARAM_HELP)]
    Restore {
        /// The parameter.
        #[arg(add = crate::complete::names())]
        name: String,
    },
    /// Change a parameter's value in $VISUAL or $EDITOR (a new version only if it changed).
    #[command(after_help = EDIT_HELP)]
    Edit {
        /// The parameter.
        #[arg(add = crate::complete::names())]
        name: String,
    },
    /// Write a new version holding an older version's value (labels stay where they are).
    #[command(after_help = PARAM_HELP)]
    Rollback {
        /// The parameter.
        #[arg(add = crate::complete::names())]
        name: String,
        /// The version whose value the new version holds.
        #[arg(long = "to", value_name = "VERSION", value_parser = clap::value_parser!(u32).range(1..))]
        to: u32,
    },
    /// Destroy a parameter (every version, for good) or one version's value.
    #[command(after_help = PARAM_HELP)]
    Destroy {
        /// NAME (the whole parameter) or NAME:VERSION (that version's value).
        #[arg(value_name = "NAME[:VERSION]", add = crate::complete::names())]
        selector: String,
    },
    /// Copy a parameter's current value, type and tags to a new name (-r: a whole path).
    #[command(after_help = COPY_HELP)]
    Cp(CopyArgs),
    /// Move a parameter to a new name (-r: a whole path): a copy, then `rm` of the source.
    #[command(after_help = COPY_HELP)]
    Mv(CopyArgs),
    /// Write the parameters of a dotenv, JSON or YAML file, all in one transaction or none.
    #[command(after_help = IMPORT_HELP)]
    Import(ImportArgs),
    /// Run a command with the parameters under --path in its environment (it replaces coffer).
    #[command(after_help = EXEC_HELP)]
    Exec(ExecArgs),
    /// Print the parameters under --path as dotenv, JSON, YAML or shell `export` lines.
    #[command(after_help = EXEC_HELP)]
    Export(ExportArgs),
    /// Choose which key protects the secure values below a path (set, ls, rm).
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Create PostgreSQL logins limited to paths (row-level security).
    #[command(subcommand)]
    Role(RoleCommand),
    /// Show or check the store's audit log (writes, key operations, reads of secure values).
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Print a shell completion script (bash, zsh, fish, elvish or powershell).
    #[command(
        after_help = "Parameter names complete from the store as you type (COFFER_HOME, COFFER_STORE; never a value,\nnever a prompt). Load at shell start, so the script always matches the binary:\n  bash: echo 'source <(coffer completions bash)' >> ~/.bashrc\n  zsh:  echo 'source <(coffer completions zsh)' >> ~/.zshrc\n  fish: echo 'coffer completions fish | source' >> ~/.config/fish/config.fish"
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
string-list (comma-separated) are stored in the clear; every row is authenticated under
the store's root key, so every read needs it.

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

const EDIT_HELP: &str = concat!(
    "The value `get NAME` reads goes into a file of its own (mode 0600) in a new private
directory on memory-backed storage ($XDG_RUNTIME_DIR if it is a tmpfs of the user's, else
/dev/shm; never a disk: with neither, edit refuses), and $VISUAL, else $EDITOR, else vi runs
on it (through sh -c, so EDITOR='code --wait' works). When the editor exits 0 and the text
changed, it is written as a new version (type, description and tags kept; one trailing
newline dropped, as put does), if no other writer came in between; else nothing is written.
The directory, with whatever the editor left in it (swap and backup files), is removed on
every path, SIGTERM and SIGHUP included; Ctrl-C is the editor's while it runs. What the
editor keeps elsewhere is the editor's own; Vim and Neovim are run with -n -i NONE (no swap
file, no viminfo), so that deleted or yanked text is not kept on disk.

",
    exit_codes!()
);

const COPY_HELP: &str = concat!(
    "What is copied is the value `get` reads (the version labelled current) with its type,
description, tags and expiry; the history stays with the source. Each value becomes a new
version of its new name, a secure one encrypted again for that name (under the key the
policies give its path). With -r every parameter below SRC is copied below DST, all in one
transaction or none; one that cannot be read stops it before anything is written. A name
that exists is refused unless --overwrite. mv then deletes the sources (rm: restore brings
them back), so a move stopped between the two leaves both, never neither.

",
    exit_codes!()
);

const IMPORT_HELP: &str = concat!(
    "Each key names a parameter below --path: a key in capitals (DB_PASSWORD) becomes lower
case with `_` as `-` (db-password), so that exec --path gives the same variable back; any
other key is the rest of the name as written (`/` separates levels), and in JSON and YAML a
nested object is a level ({\"db\": {\"password\": …}} is db/password).

dotenv: KEY=value lines, `export ` allowed, `#` comments; '…' is literal, \"…\" knows
\\\\ \\\" \\$ \\n \\r \\t; nothing is expanded, and a $NAME, ${…}, $(…) or backquote outside
single quotes is refused (a shell or another reader would replace or run it). JSON and YAML:
strings, integers and booleans are values (quote a number to keep its text; 1.10 and 1E2
are refused); a list is a string-list (items joined by `,`); null is refused.

Values are of --type (default secure-string), lists string-list. A key given twice, two keys
giving one name, a bad name, a value over the limit, a name that exists (without
--overwrite) or of another type: nothing is written. Everything is written in one
transaction, or nothing; --dry-run checks it all and writes nothing. Values are never
printed.

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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_structure_is_valid() {
        Cli::command().debug_assert();
    }
}
