#!/usr/bin/env bash
# Starts a PostgreSQL server on loopback for the tests and prints the line
# that points them at it:
#   eval "$(scripts/postgres-for-tests.sh)"
# As root (CI) it starts Debian's cluster and makes a role that may create
# databases; otherwise it starts a private cluster under $TMPDIR with
# initdb. Needs PostgreSQL's server (Debian: apt-get install postgresql).
set -euo pipefail

if [ "$(id -u)" = 0 ] && command -v pg_lsclusters >/dev/null 2>&1; then
  read -r ver name port status _ < <(pg_lsclusters -h | head -1) || {
    echo "postgres-for-tests: no cluster; install Debian's postgresql package" >&2; exit 1; }
  if [ "$status" != online ]; then
    pg_ctlcluster "$ver" "$name" start >&2
  fi
  su postgres -c "PGOPTIONS='-c client_min_messages=warning' psql -p $port -v ON_ERROR_STOP=1 -q" >&2 <<'SQL'
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'duo_test') THEN
    CREATE ROLE duo_test LOGIN CREATEDB PASSWORD 'duo_test';
  END IF;
END $$;
-- DROP DATABASE … WITH (FORCE) at a test's end may meet an autovacuum
-- worker, which only a member of pg_signal_backend may end.
GRANT pg_signal_backend TO duo_test;
SQL
  echo "export DUO_TEST_POSTGRES_URL='postgres://duo_test:duo_test@127.0.0.1:$port/postgres?sslmode=disable'"
  exit 0
fi

bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
PATH="$PATH:${bin:-}"
command -v initdb >/dev/null 2>&1 || { echo "postgres-for-tests: initdb not found; install PostgreSQL's server" >&2; exit 1; }
dir="${TMPDIR:-/tmp}/duo-postgres-$(id -un)"
port=55432
if [ ! -f "$dir/PG_VERSION" ]; then
  initdb -D "$dir" -A trust -U "$(id -un)" >/dev/null
fi
if ! pg_ctl -D "$dir" status >/dev/null 2>&1; then
  pg_ctl -D "$dir" -l "$dir/server.log" -w -o "-p $port -k $dir -c listen_addresses=127.0.0.1" start >&2
fi
echo "export DUO_TEST_POSTGRES_URL='postgres://$(id -un)@127.0.0.1:$port/postgres?sslmode=disable'"
