#!/bin/sh
# Set hook for `coffer rotate`: gives the PostgreSQL role PG_ROLE the new password, read from
# stdin, with ALTER ROLE … PASSWORD.
#
#   PG_ADMIN_URL  a connection URL of a role that may alter PG_ROLE (its password from
#                 PGPASSWORD or ~/.pgpass, never in the URL)
#   PG_ROLE       the role whose password is rotated
#
# The password is never in argv: psql reads the statement from stdin, and the role name is
# quoted by psql (:"role"). The server hashes it (SCRAM-SHA-256 by default). The statement
# holds the password, so the server must not log it: keep log_statement at 'none' or 'mod'
# (ALTER ROLE is logged from 'ddl' on) and log_min_error_statement above 'error'.
set -eu
: "${PG_ADMIN_URL:?set PG_ADMIN_URL}" "${PG_ROLE:?set PG_ROLE}"
password=$(cat)
[ -n "$password" ] || { echo "set-password: empty password on stdin" >&2; exit 2; }
# Inside a string literal only ' needs doubling (standard_conforming_strings is on).
quoted=$(printf '%s' "$password" | sed "s/'/''/g")
printf "ALTER ROLE :\"role\" PASSWORD '%s';\n" "$quoted" |
    psql "$PG_ADMIN_URL" --no-psqlrc --quiet -v ON_ERROR_STOP=1 -v role="$PG_ROLE" >/dev/null
echo "set-password: the password of role $PG_ROLE was changed"
