#!/bin/sh
# Test hook for `coffer rotate`: logs in as the role with the new password (stdin) and runs
# SELECT 1.
#
#   PG_APP_URL  a connection URL for the role whose password was rotated (no password in it)
#
# The password reaches psql in its environment (PGPASSWORD, readable only by the same user),
# never in argv.
set -eu
: "${PG_APP_URL:?set PG_APP_URL}"
PGPASSWORD=$(cat)
export PGPASSWORD
psql "$PG_APP_URL" --no-psqlrc --quiet -v ON_ERROR_STOP=1 -tAc 'SELECT 1' >/dev/null
echo "test-password: logged in with the new password"
