//! Flags of `init`, `key …`, `policy …` and `audit …`.

use clap::{Args, Subcommand};

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
    /// Check the whole chain with the store's audit key (needs the root key): reports OK and
    /// the count, or the first bad entry (exit 1).
    Verify,
    /// Trust the store as it is now after restoring a backup or replacing it on purpose: the
    /// whole log must verify; this home then checks later opens against its head.
    Accept,
}

const POLICY_HELP: &str = concat!(
    "A policy makes one key protect every secure-string value below a path (at any depth; the
longest path with a policy decides): `put` there encrypts under the policy's key (another
--key is refused), and a read refuses a value written under another key. The policies are
sealed in the store: one changed outside coffer is refused by the next read, never used.
Every parameter below PATH must already have its current value under KEYREF.

Examples:
  coffer key create prod
  coffer policy set /app/prod --key prod
  coffer policy ls
  coffer policy rm /app/prod

",
    exit_codes!()
);

/// `coffer policy …`.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Make KEYREF the key of every secure value below PATH (replacing PATH's policy).
    #[command(after_help = POLICY_HELP)]
    Set {
        /// The path (`/app/prod`).
        path: String,
        /// The key: a key of the store (NAME or local:NAME), or kms:…, aes:…, rsa:…, pkcs11:….
        #[arg(long, value_name = "KEYREF")]
        key: String,
    },
    /// List the policies: path, key, when and by whom each was set.
    Ls,
    /// Remove the policy of PATH (its values stay under the key they were written with).
    Rm {
        /// The path.
        path: String,
    },
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
        /// Give the key a root of its own instead of the store's: `local` (a new key file,
        /// COFFER_HOME/roots/NAME.key), an AWS KMS key (kms:KEY) or an AES key on a PKCS#11
        /// token (pkcs11:…). Only machines whose home holds that root can use the key.
        #[arg(long, value_name = "ROOT", conflicts_with = "on_token")]
        root: Option<String>,
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
