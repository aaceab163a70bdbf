//! Flags of `rotate` (secrets).

use std::path::PathBuf;

use clap::Args;

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
