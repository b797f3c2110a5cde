#!/usr/bin/env bash
# Conformance of the customer API to its OpenAPI document: schemathesis (from PyPI) against one
# live bank, authenticated as a customer, bounded in time: a stateless run (examples, coverage,
# fuzzing), then a stateful one that follows the links it infers between operations (create an
# account, then read it; post a transfer, then read it). DELETE /api/v1/sessions is
# left out (it would sign the shared token out) and so is /admin/v1/audit (another credential).
# Usage: .ci/schemathesis.sh [path to the ringbank binary]   (default target/release/ringbank)
set -euo pipefail
cd "$(dirname "$0")/.."
binary=${1:-target/release/ringbank}

if ! command -v schemathesis >/dev/null 2>&1; then
  if ! python3 -m pip --version >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-pip >/dev/null
  fi
  python3 -m pip install -q schemathesis || python3 -m pip install -q --break-system-packages schemathesis
fi

data=$(mktemp -d)
port=18599
url="http://127.0.0.1:$port"
RINGBANK_ADMIN_SECRET=schemathesis-admin-secret-0123 "$binary" serve --id A --listen "127.0.0.1:$port" --data-dir "$data" >"$data/bank.log" 2>&1 &
bank=$!
trap 'kill "$bank" 2>/dev/null || true; wait "$bank" 2>/dev/null || true; rm -rf "$data" || true' EXIT
for _ in $(seq 1 50); do
  curl -fsS "$url/healthz" >/dev/null 2>&1 && break
  sleep 0.2
done

password="blue river at dawn"
curl -fsS -XPOST "$url/api/v1/customers" -d "{\"document\":\"111.444.777-35\",\"name\":\"Ana\",\"password\":\"$password\"}" >/dev/null
token=$(curl -fsS -XPOST "$url/api/v1/sessions" -d "{\"document\":\"11144477735\",\"password\":\"$password\"}" | sed 's/.*"token":"\([^"]*\)".*/\1/')

timeout 600 schemathesis --config-file .ci/schemathesis.toml run "$url/api/v1/openapi.json" \
  -H "Authorization: Bearer $token" \
  --exclude-method DELETE --exclude-path /admin/v1/audit \
  --phases examples,coverage,fuzzing --max-examples 25 --request-timeout 10

timeout 600 schemathesis --config-file .ci/schemathesis.toml run "$url/api/v1/openapi.json" \
  -H "Authorization: Bearer $token" \
  --exclude-method DELETE --exclude-path /admin/v1/audit \
  --phases stateful --max-examples 200 --request-timeout 10
