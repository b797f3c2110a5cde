#!/bin/sh
# Prepares a running bank for bench/transfers.lua: signs up a company customer, signs in, opens
# and funds COUNT company accounts, and prints the environment the Lua script reads.
#
#   eval "$(bench/setup.sh http://127.0.0.1:8080 A 40)"
#   wrk -t2 -c64 -d15s -s bench/transfers.lua http://127.0.0.1:8080
set -eu
URL=${1:?usage: setup.sh URL BANK_ID [COUNT]}
BANK=${2:?usage: setup.sh URL BANK_ID [COUNT]}
COUNT=${3:-40}
CNPJ=11222333000181
PASSWORD=wrk-bench-password-7
curl -sf -XPOST "$URL/api/v1/customers" -d "{\"document\":\"$CNPJ\",\"name\":\"Wrk Bench Ltda\",\"password\":\"$PASSWORD\"}" >/dev/null || true
TOKEN=$(curl -sf -XPOST "$URL/api/v1/sessions" -d "{\"document\":\"$CNPJ\",\"password\":\"$PASSWORD\"}" | sed 's/.*"token":"\([^"]*\)".*/\1/')
ACCOUNTS=""
i=0
while [ "$i" -lt "$COUNT" ]; do
    NUMBER=$(curl -sf -XPOST "$URL/api/v1/accounts" -H "Authorization: Bearer $TOKEN" -d '{"kind":"company"}' | sed 's/.*"number":"\([0-9]*\)".*/\1/')
    curl -sf -XPOST "$URL/api/v1/deposits" -H "Authorization: Bearer $TOKEN" -d "{\"account\":\"$NUMBER\",\"amount_cents\":100000000}" >/dev/null
    ACCOUNTS="$ACCOUNTS${ACCOUNTS:+,}$NUMBER"
    i=$((i + 1))
done
echo "export RINGBANK_TOKEN=$TOKEN RINGBANK_BANK=$BANK RINGBANK_ACCOUNTS=$ACCOUNTS"
