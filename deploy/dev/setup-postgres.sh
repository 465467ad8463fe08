#!/usr/bin/env bash
# Makes PostgreSQL 15 with PostGIS ready for Pantau on this machine, as root:
# installs the Debian packages if missing, starts the cluster if it is down,
# and creates the `pantau` role, the `pantau` database and `pantau_template`
# (a template with the extensions, from which tests and benchmarks copy their
# own databases). Safe to run again.
set -euo pipefail

PG_VERSION="${PG_VERSION:-15}"
PG_HOST="${PG_HOST:-127.0.0.1}"
PG_PORT="${PG_PORT:-5432}"
DB_NAME="${PANTAU_DB_NAME:-pantau}"

need=()
command -v psql >/dev/null || need+=("postgresql-client-${PG_VERSION}")
[ -d "/usr/lib/postgresql/${PG_VERSION}/bin" ] || need+=("postgresql-${PG_VERSION}" "postgresql-contrib")
dpkg -s "postgresql-${PG_VERSION}-postgis-3" >/dev/null 2>&1 || need+=("postgresql-${PG_VERSION}-postgis-3")
if [ ${#need[@]} -gt 0 ]; then
  echo "setup-postgres: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi

if ! pg_isready -q -h "$PG_HOST" -p "$PG_PORT"; then
  echo "setup-postgres: starting the PostgreSQL ${PG_VERSION} cluster"
  if ! pg_lsclusters -h | grep -q "^${PG_VERSION} main"; then
    pg_createcluster "$PG_VERSION" main
  fi
  pg_ctlcluster --skip-systemctl-redirect "$PG_VERSION" main start
  for _ in $(seq 1 30); do pg_isready -q -h "$PG_HOST" -p "$PG_PORT" && break; sleep 1; done
fi

# NOTICEs ("extension ... already exists, skipping") say nothing on a second run.
as_postgres() {
  if [ "$(id -u)" = 0 ]; then
    su postgres -c "PGOPTIONS='-c client_min_messages=warning' psql -X -q -v ON_ERROR_STOP=1 -h '$PG_HOST' -p '$PG_PORT' $*"
  else
    PGOPTIONS='-c client_min_messages=warning' psql -X -q -v ON_ERROR_STOP=1 -h "$PG_HOST" -p "$PG_PORT" -U postgres "$@"
  fi
}

as_postgres -d postgres <<SQL
DO \$\$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'pantau') THEN
    CREATE ROLE pantau LOGIN CREATEDB;
  END IF;
END
\$\$;
SQL

ensure_db() {
  local name="$1"
  if ! as_postgres -d postgres -tAc "\"SELECT 1 FROM pg_database WHERE datname = '$name'\"" | grep -q 1; then
    as_postgres -d postgres -c "\"CREATE DATABASE $name OWNER pantau\""
  fi
  as_postgres -d "$name" -c "\"CREATE EXTENSION IF NOT EXISTS postgis; CREATE EXTENSION IF NOT EXISTS pg_trgm; CREATE EXTENSION IF NOT EXISTS btree_gist;\""
}

ensure_db pantau_template
as_postgres -d postgres -c "\"ALTER DATABASE pantau_template IS_TEMPLATE true\""
ensure_db "$DB_NAME"
echo "setup-postgres: PostgreSQL ${PG_VERSION} with PostGIS ready on ${PG_HOST}:${PG_PORT} (database ${DB_NAME}, role pantau)"
