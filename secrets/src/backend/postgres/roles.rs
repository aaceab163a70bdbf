//! Database roles limited to paths: `coffer role create dev --path /app/dev` makes a login
//! that PostgreSQL's row security confines to the parameters at or below its paths (schema
//! version 8, `schema.rs`; a login with the privileges of such a role, through
//! membership, is confined too). Such a login lists, reads and writes only those parameter
//! rows; it sees the audit entries of those parameters or of none (keys, the store's seals)
//! and appends only those of its paths; it reads the key hierarchy and the path policies but
//! writes neither; of `meta` it updates only the log's head, as every append does. The chain
//! itself (`audit_chain`: sequence numbers and hashes, no names) stays readable to every
//! login, so appends and each home's rollback check work.
//!
//! This hides names and stops most writes at the database; it is not what keeps secrets safe
//! (the keys are, [`crate::store::roots`]). Such a login can still write a bad head into
//! `meta`, which every reader then refuses (as any database writer's edit). It cannot verify
//! the whole audit log or change a key (both read every entry) and is told so.
//!
//! The password, if given, is sent as its SCRAM-SHA-256 verifier, never as text, so the
//! server's statement log does not hold it (the verifier is still worth protecting).

use postgres_protocol::escape::{escape_identifier, escape_literal};
use tokio_postgres::GenericClient;

use super::PgStore;
use crate::error::Error;
use crate::params::ParamPath;
use crate::store::audit::{AuditEntry, Head};

/// The longest role name PostgreSQL keeps.
const MAX_ROLE: usize = 63;

/// The tables whose rows row security confines to a limited login's paths: it reads and
/// writes those rows.
const CONFINED: &str = "params, param_versions, param_labels, param_rotations";

/// The tables it only reads (the key hierarchy and the policies are written by logins that
/// are not limited).
const READ_ONLY: &str = "keys, key_versions, key_paths, policies, policy_seal";

/// Checks a role name: `[a-z_][a-z0-9_]*`, at most 63 bytes (what needs no quoting, so the
/// role is named the same in every tool).
///
/// # Errors
/// [`Error::Invalid`], saying what is allowed.
pub fn validate_role(name: &str) -> Result<(), Error> {
    let ok = !name.is_empty()
        && name.len() <= MAX_ROLE
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b == b'_')
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "role name `{}`: use 1-{MAX_ROLE} of a-z, 0-9 and _, not starting with a digit",
            name.escape_debug()
        )))
    }
}

/// The SQL that makes login `role`, limited to `paths`, in the store whose schema is
/// `schema` and database `database`; with `verifier`, its password's SCRAM verifier.
pub(crate) fn role_sql(
    schema: &str,
    database: &str,
    role: &str,
    paths: &[ParamPath],
    verifier: Option<&str>,
) -> String {
    let r = escape_identifier(role);
    let password =
        verifier.map_or_else(String::new, |v| format!(" PASSWORD {}", escape_literal(v)));
    let s = escape_identifier(schema);
    let mut sql = format!(
        "CREATE ROLE {r} LOGIN{password};\n\
         GRANT CONNECT ON DATABASE {} TO {r};\n\
         GRANT USAGE ON SCHEMA {s} TO {r};\n",
        escape_identifier(database)
    );
    for table in CONFINED.split(", ") {
        sql.push_str(&format!(
            "GRANT SELECT, INSERT, UPDATE, DELETE ON {s}.{table} TO {r};\n"
        ));
    }
    for table in READ_ONLY.split(", ") {
        sql.push_str(&format!("GRANT SELECT ON {s}.{table} TO {r};\n"));
    }
    sql.push_str(&format!(
        "GRANT SELECT, UPDATE ON {s}.meta TO {r};\n\
         GRANT SELECT, INSERT ON {s}.audit TO {r};\n\
         GRANT SELECT ON {s}.audit_chain TO {r};\n\
         DELETE FROM {s}.role_paths WHERE NOT EXISTS \
         (SELECT 1 FROM pg_catalog.pg_roles g WHERE g.oid = role_paths.role);\n"
    ));
    for p in paths {
        sql.push_str(&format!(
            "INSERT INTO {s}.role_paths (role, path) SELECT oid, {} FROM pg_catalog.pg_roles \
             WHERE rolname = {};\n",
            escape_literal(p.as_str()),
            escape_literal(role)
        ));
    }
    sql
}

/// A role to make: a good name and at least one path.
fn check_request(role: &str, paths: &[ParamPath]) -> Result<(), Error> {
    validate_role(role)?;
    if paths.is_empty() {
        return Err(Error::invalid("a limited role needs at least one path"));
    }
    Ok(())
}

/// The error for what a limited login cannot do: `what` needs the whole audit log.
pub(crate) fn limited_login(location: &str, what: &str) -> Error {
    Error::denied(format!(
        "the database login of the store {location} is limited to some paths (row security), \
         so it sees only their audit entries, and {what} reads every one; \
         use a login that sees the whole log, such as the store's owner"
    ))
}

/// Whether this session's login is limited to paths.
pub(crate) async fn is_limited(c: &impl GenericClient) -> Result<bool, tokio_postgres::Error> {
    c.query_one("SELECT coffer_limited(current_user)", &[])
        .await?
        .try_get(0)
}

impl PgStore {
    /// [`PgStore::audit_log`], for a check of the whole log: refused to a login limited to
    /// some paths, which sees only their entries.
    ///
    /// # Errors
    /// Such a login; SQL errors.
    pub async fn whole_audit_log(&self) -> Result<(Vec<AuditEntry>, Head), Error> {
        let limited = {
            let client = self.client.lock().await;
            is_limited(&*client).await.map_err(self.err())?
        };
        if limited {
            return Err(limited_login(&self.location, "checking the audit log"));
        }
        self.audit_log().await
    }

    /// The schema the store's tables are in, and the database.
    async fn schema_and_database(&self, c: &impl GenericClient) -> Result<(String, String), Error> {
        let row = c
            .query_one("SELECT current_schema(), current_database()", &[])
            .await
            .map_err(self.err())?;
        Ok((
            row.try_get(0).map_err(self.err())?,
            row.try_get(1).map_err(self.err())?,
        ))
    }

    /// The SQL [`PgStore::create_role`] runs, for a database administrator to run instead
    /// (without a password: set it with `\password ROLE` in psql).
    ///
    /// # Errors
    /// A bad role name; no paths; SQL errors.
    pub async fn role_sql(&self, role: &str, paths: &[ParamPath]) -> Result<String, Error> {
        check_request(role, paths)?;
        let client = self.client.lock().await;
        let (schema, database) = self.schema_and_database(&*client).await?;
        Ok(role_sql(&schema, &database, role, paths, None))
    }

    /// Makes login `role`, limited to the parameters at or below `paths`, with `password`
    /// if given (else none: set one as the server's administrator), in one transaction.
    /// Needs a login that may create roles and owns the store's tables.
    ///
    /// # Errors
    /// A bad role name; no paths; the role exists; no right to create roles or grant on the
    /// tables; SQL errors.
    pub async fn create_role(
        &self,
        role: &str,
        paths: &[ParamPath],
        password: Option<&[u8]>,
    ) -> Result<(), Error> {
        check_request(role, paths)?;
        let verifier = password.map(postgres_protocol::password::scram_sha_256);
        let mut client = self.client.lock().await;
        let tx = client.transaction().await.map_err(self.err())?;
        let (schema, database) = self.schema_and_database(&tx).await?;
        let sql = role_sql(&schema, &database, role, paths, verifier.as_deref());
        tx.batch_execute(&sql).await.map_err(|e| {
            let exists = e.code() == Some(&tokio_postgres::error::SqlState::DUPLICATE_OBJECT);
            if exists {
                Error::conflict(format!("a database role {role} exists already"))
            } else {
                super::tx::pg_error(&format!("{} (creating role {role})", self.location), &e)
            }
        })?;
        tx.commit().await.map_err(self.err())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    #[test]
    fn role_names_need_no_quoting() {
        for ok in ["dev", "_x", "app_dev_2", &"a".repeat(63)] {
            validate_role(ok).unwrap();
        }
        for bad in [
            "",
            "Dev",
            "2dev",
            "dev-x",
            "dev x",
            "d\"; DROP",
            &"a".repeat(64),
        ] {
            assert!(validate_role(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_sql_quotes_what_it_names_and_never_holds_a_password() {
        let paths = [
            ParamPath::parse("/app/dev").unwrap(),
            ParamPath::parse("/ops").unwrap(),
        ];
        let sql = role_sql(
            "public",
            "my db",
            "dev",
            &paths,
            Some("SCRAM-SHA-256$4096:x"),
        );
        assert!(sql.starts_with("CREATE ROLE \"dev\" LOGIN PASSWORD 'SCRAM-SHA-256$4096:x';"));
        assert!(sql.contains("GRANT CONNECT ON DATABASE \"my db\" TO \"dev\";"));
        assert!(
            sql.contains("SELECT oid, '/app/dev' FROM pg_catalog.pg_roles WHERE rolname = 'dev';"),
            "{sql}"
        );
        assert!(sql.contains("SELECT oid, '/ops' FROM"), "{sql}");
        assert!(
            sql.contains("GRANT SELECT ON \"public\".keys TO \"dev\";"),
            "{sql}"
        );
        assert!(sql.contains("GRANT SELECT ON \"public\".audit_chain TO \"dev\";"));
        let plain = role_sql("public", "db", "dev", &paths, None);
        assert!(plain.starts_with("CREATE ROLE \"dev\" LOGIN;\n"), "{plain}");
    }
}
