//! `coffer role …`: database logins limited to paths (PostgreSQL stores).

use std::path::PathBuf;

use clap::Subcommand;

const ROLE_HELP: &str = concat!(
    "A PostgreSQL store only. The new login sees and writes the parameters at or below its
paths and nothing else of them (row-level security): `ls -r /` lists only those, and a read or
write of another name finds nothing or is refused by the server. It sees the audit entries of
its paths and those of no parameter; `audit verify` and key writes need a login that sees the
whole log (the store's owner). This hides names and stops writes at the database; what keeps
the secrets below other paths safe is their keys (key create --root, policy set).

Run it as the store's owner with the right to create roles, or print the SQL with --sql for
your database administrator. The password comes from --password-file (one trailing newline
dropped), never from the command line, and is sent as its SCRAM-SHA-256 verifier.

Examples:
  coffer role create coffer_dev --path /app/dev --password-file /run/secrets/dev-db
  COFFER_STORE=postgres://coffer_dev@db.internal/coffer coffer ls -r /
  coffer role create coffer_dev --path /app/dev --sql | psql …

",
    exit_codes!()
);

/// `coffer role …`.
#[derive(Debug, Subcommand)]
pub enum RoleCommand {
    /// Create a database login limited to the parameters at or below --path.
    #[command(after_help = ROLE_HELP)]
    Create {
        /// The login's name (a-z, 0-9, _).
        name: String,
        /// A path it may read and write (repeat for more).
        #[arg(long = "path", value_name = "PATH", required = true)]
        paths: Vec<String>,
        /// Its password: the file's contents (else none; set one as the server's admin).
        #[arg(long, value_name = "FILE", conflicts_with = "sql")]
        password_file: Option<PathBuf>,
        /// Print the SQL instead of running it.
        #[arg(long)]
        sql: bool,
    },
}
