#!/bin/sh
# Reads the statement page (50 lines) of COUNT random synthetic accounts of a bank filled by
# `ringbank seed`, one at a time, each signed in as its holder, and prints how long each read took
# and their median and maximum. Run as root with DROP_CACHES=1 to empty the kernel's page cache
# first, so that every account's first read comes from the disk (README, "A large ledger").
#
#   DROP_CACHES=1 bench/cold-statements.sh http://127.0.0.1:8080 20 1000000
set -eu
URL=${1:?usage: cold-statements.sh URL COUNT SEEDED_ACCOUNTS [PASSWORD]}
COUNT=${2:?usage: cold-statements.sh URL COUNT SEEDED_ACCOUNTS [PASSWORD]}
SEEDED=${3:?usage: cold-statements.sh URL COUNT SEEDED_ACCOUNTS [PASSWORD]}
PASSWORD=${4:-seed-password-123}
# The check digit of DIGITS (a string), weights counting down from FIRST_WEIGHT (CPF rules).
check_digit() {
    sum=0 i=0
    while [ "$i" -lt "${#1}" ]; do
        d=$(printf '%s' "$1" | cut -c$((i + 1)))
        sum=$((sum + d * ($2 - i)))
        i=$((i + 1))
    done
    r=$((sum % 11))
    if [ "$r" -lt 2 ]; then echo 0; else echo $((11 - r)); fi
}
# Customer k of `ringbank seed`: the CPF whose base is 100000000 + k, account 10000000 + k.
cpf() {
    base=$(printf '%09d' "$1")
    dv1=$(check_digit "$base" 10)
    echo "$base$dv1$(check_digit "$base$dv1" 11)"
}
# Sign in first (a sign-in reads the customer's row, not the account's lines).
PAIRS=""
n=0
while [ "$n" -lt "$COUNT" ]; do
    k=$(shuf -i 0-$((SEEDED - 1)) -n 1)
    TOKEN=$(curl -sf -XPOST "$URL/api/v1/sessions" -d "{\"document\":\"$(cpf $((100000000 + k)))\",\"password\":\"$PASSWORD\"}" \
        | sed 's/.*"token":"\([^"]*\)".*/\1/')
    PAIRS="$PAIRS $((10000000 + k)):$TOKEN"
    n=$((n + 1))
done
if [ "${DROP_CACHES:-0}" = 1 ]; then
    sync
    echo 3 > /proc/sys/vm/drop_caches
fi
TIMES=""
for pair in $PAIRS; do
    account=${pair%%:*}
    token=${pair#*:}
    ms=$(curl -sf -o /dev/null -w '%{time_total}' -H "Authorization: Bearer $token" "$URL/api/v1/accounts/$account/statement?limit=50" \
        | awk '{ printf "%.1f", $1 * 1000 }')
    echo "account $account: $ms ms"
    TIMES="$TIMES $ms"
done
echo "$TIMES" | tr ' ' '\n' | grep . | sort -n | awk '{ v[NR] = $1 } END { printf "%d reads: p50 %.1f ms, max %.1f ms\n", NR, v[int((NR + 1) / 2)], v[NR] }'
