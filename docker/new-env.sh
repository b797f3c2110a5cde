#!/bin/sh
# Creates the .env file that docker compose reads next to docker-compose.yml: fresh random
# secrets (64 hex characters each, from /dev/urandom), readable by the owner only. .env is
# ignored by git and left out of every image (.gitignore, .dockerignore). An existing file is
# kept: the PostgreSQL containers keep the password they were created with in their volumes.
#   docker/new-env.sh            writes ./.env
#   docker/new-env.sh FILE       writes FILE instead (tests/docker/run.sh uses a scratch file)
set -eu
cd "$(dirname "$0")/.."
file=${1:-.env}
if [ -e "$file" ]; then
  echo "$file exists; keeping it (remove it to make new secrets)"
  exit 0
fi
random_hex() { od -An -N32 -tx1 /dev/urandom | tr -d ' \n'; }
umask 077
{
  echo "# Made by docker/new-env.sh. Secrets of the compose ring: keep this file private."
  echo "RINGBANK_RING_SECRET=$(random_hex)"
  echo "RINGBANK_ADMIN_SECRET=$(random_hex)"
  echo "RINGBANK_DB_PASSWORD=$(random_hex)"
} >"$file"
echo "wrote $file (RINGBANK_RING_SECRET, RINGBANK_ADMIN_SECRET, RINGBANK_DB_PASSWORD)"
