#!/bin/sh
# Creates the .env file that docker compose reads next to docker-compose.yml: fresh random
# secrets (64 hex characters each, from /dev/urandom) and one Ed25519 key pair per bank (made
# with openssl), readable by the owner only. .env is ignored by git and left out of every image
# (.gitignore, .dockerignore). An existing file is kept: the PostgreSQL containers keep the
# password they were created with in their volumes.
#   docker/new-env.sh            writes ./.env
#   docker/new-env.sh FILE       writes FILE instead (tests/docker/run.sh uses a scratch file)
# Each bank X gets RINGBANK_SECRET_KEY_X (its own secret key, `ed25519-secret:HEX`, given only to
# bank X) and RINGBANK_PUBLIC_KEY_X (`ed25519:HEX`, in every bank's member list). Outside
# compose, `ringbank keygen --key-file FILE` makes a bank's key the same way.
set -eu
cd "$(dirname "$0")/.."
file=${1:-.env}
if [ -e "$file" ]; then
  echo "$file exists; keeping it (remove it to make new secrets)"
  exit 0
fi
command -v openssl >/dev/null || { echo "openssl is required to make the banks' keys" >&2; exit 2; }
random_hex() { od -An -N32 -tx1 /dev/urandom | tr -d ' \n'; }
umask 077
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
# key_pair BANK: prints the bank's two lines. The last 32 bytes of the DER forms are the raw
# Ed25519 seed (the secret key) and the raw public key.
key_pair() {
  openssl genpkey -algorithm ed25519 -out "$scratch/key.pem" 2>/dev/null
  secret=$(openssl pkey -in "$scratch/key.pem" -outform DER | tail -c 32 | od -An -tx1 | tr -d ' \n')
  public=$(openssl pkey -in "$scratch/key.pem" -pubout -outform DER | tail -c 32 | od -An -tx1 | tr -d ' \n')
  rm -f "$scratch/key.pem"
  [ ${#secret} = 64 ] && [ ${#public} = 64 ] || { echo "openssl did not make an Ed25519 key" >&2; exit 2; }
  echo "RINGBANK_SECRET_KEY_$1=ed25519-secret:$secret"
  echo "RINGBANK_PUBLIC_KEY_$1=ed25519:$public"
}
{
  echo "# Made by docker/new-env.sh. Secrets of the compose ring: keep this file private."
  echo "RINGBANK_ADMIN_SECRET=$(random_hex)"
  echo "RINGBANK_DB_PASSWORD=$(random_hex)"
  key_pair A
  key_pair B
  key_pair C
} >"$file"
echo "wrote $file (RINGBANK_ADMIN_SECRET, RINGBANK_DB_PASSWORD, RINGBANK_SECRET_KEY_A..C, RINGBANK_PUBLIC_KEY_A..C)"
