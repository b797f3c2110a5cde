#!/bin/sh
# Entrypoint of the locally built postgres:15-bookworm image (tests/docker/base-images.sh): the
# official image's interface as far as docker-compose.yml uses it. On an empty $PGDATA it creates
# the cluster with superuser $POSTGRES_USER (password $POSTGRES_PASSWORD, required, SCRAM over
# TCP) and the database $POSTGRES_DB; then it runs the server in the foreground.
set -eu
: "${PGDATA:=/var/lib/postgresql/data}"
if [ "${1:-postgres}" = postgres ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
  if [ -z "${POSTGRES_PASSWORD:-}" ]; then
    echo "POSTGRES_PASSWORD must be set" >&2
    exit 1
  fi
  user=${POSTGRES_USER:-postgres}
  database=${POSTGRES_DB:-$user}
  scratch=$(mktemp -d)
  printf '%s\n' "$POSTGRES_PASSWORD" >"$scratch/password"
  initdb -D "$PGDATA" -U "$user" --pwfile="$scratch/password" -E UTF8 --locale=C.UTF-8 \
    --auth-local=trust --auth-host=scram-sha-256 >/dev/null
  rm -f "$scratch/password"
  echo "listen_addresses = '*'" >>"$PGDATA/postgresql.conf"
  echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
  if [ "$database" != postgres ]; then
    # A private socket and no TCP while initialising, so nobody connects to a half-made server.
    pg_ctl -D "$PGDATA" -w -o "-c listen_addresses='' -c unix_socket_directories=$scratch" start >/dev/null
    psql -h "$scratch" -U "$user" -d postgres -v ON_ERROR_STOP=1 -qc "CREATE DATABASE \"$database\""
    pg_ctl -D "$PGDATA" -w -m fast stop >/dev/null
  fi
  rmdir "$scratch" 2>/dev/null || true
  echo "database cluster created in $PGDATA (user $user, database $database)"
fi
if [ "${1:-postgres}" = postgres ]; then
  [ "$#" -gt 0 ] && shift
  exec postgres -D "$PGDATA" "$@"
fi
exec "$@"
