#!/usr/bin/env bash
# The consortium as containers, broken from outside (README, "Docker": what this runs).
#
# Needs the images ringbank:latest, postgres:15-bookworm and rust:1-bookworm
# (tests/docker/base-images.sh, then tests/docker/build-image.sh), a Docker engine, Compose (v2
# plugin or v1 docker-compose), curl and jq. Runs docker-compose.yml as it is, under a unique project name,
# with fresh secrets (docker/new-env.sh into a scratch file) and free ports published on
# 127.0.0.1 only; removes every container, network and volume of that project on exit.
#
#   0. The Dockerfile's skeleton stage still works when a workspace crate is added.
#   1. SQLite ring: 3 banks come up healthy and ready; customers, deposits, a cross-bank
#      transfer through the published ports. Then, under a steady load of cross-bank transfers:
#      docker kill of the token holder (as last seen), docker pause/unpause of the same, docker network
#      disconnect/connect of a bank, and a bank container removed and recreated on its volume.
#      After each fault the other banks keep committing and the bank comes back.
#   2. PostgreSQL profile: 3 banks, each on its own PostgreSQL container; docker kill of one
#      PostgreSQL container under its bank, then restart.
#   Afterwards, for each ring: every answered transfer is final, every account balance is its
#   deposits plus what committed transfers moved (no answered transfer lost or applied twice),
#   and `ringbank audit` of the live consortium exits 0.
# Every wait is bounded. Output ends with "N passed, M failed"; exit 1 if any check failed.
set -uo pipefail
cd "$(dirname "$0")/../.."

project="ringbank-it-$(date +%s)-$$"
scratch=$(mktemp -d "${TMPDIR:-/tmp}/ringbank-docker-it.XXXXXX")
passed=0
failed=0
load_pid=""
started=$(date +%s)

say() { echo "[$(($(date +%s) - started))s] $*"; }
pass() {
  passed=$((passed + 1))
  say "ok - $*"
}
fail() {
  failed=$((failed + 1))
  say "FAIL - $*"
}
# quiet COMMAND...: the command without its output (for checks that run docker).
quiet() { "$@" >/dev/null; }
elapsed_since() { awk -v start="$1" -v now="$(date +%s.%N)" 'BEGIN { printf "%.1f", now - start }'; }
# check NAME COMMAND...: one counted check.
check() {
  local name=$1
  shift
  if "$@"; then pass "$name"; else fail "$name"; fi
}

if docker compose version >/dev/null 2>&1; then
  compose_cmd=(docker compose)
elif command -v docker-compose >/dev/null 2>&1; then
  compose_cmd=(docker-compose)
else
  echo "neither 'docker compose' nor 'docker-compose' is installed" >&2
  exit 2
fi
compose() { "${compose_cmd[@]}" -p "$project" -f docker-compose.yml --profile postgres "$@"; }

cleanup() {
  set +e
  [ -n "$load_pid" ] && kill "$load_pid" 2>/dev/null && wait "$load_pid" 2>/dev/null
  local label="label=com.docker.compose.project=$project"
  for container in $(docker ps -q --filter "$label" --filter status=paused); do docker unpause "$container" >/dev/null; done
  if [ "${KEEP:-0}" = 1 ]; then
    echo "KEEP=1: left project $project running; remove it with: ${compose_cmd[*]} -p $project --profile postgres down -v"
    return
  fi
  compose down -v --remove-orphans -t 5 >/dev/null 2>&1
  # Whatever compose could not remove (it failed half-way, a container was reconnected by hand).
  docker ps -aq --filter "$label" | xargs -r docker rm -f >/dev/null 2>&1
  docker network ls -q --filter "$label" | xargs -r docker network rm >/dev/null 2>&1
  docker volume ls -q --filter "$label" | xargs -r docker volume rm >/dev/null 2>&1
  rm -rf "$scratch"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for image in ringbank:latest postgres:15-bookworm rust:1-bookworm; do
  docker image inspect "$image" >/dev/null 2>&1 || { echo "image $image is missing (tests/docker/base-images.sh, then the build)" >&2; exit 2; }
done
for tool in curl jq; do
  command -v "$tool" >/dev/null || { echo "$tool is required" >&2; exit 2; }
done

# Secrets and ports: fresh ones, published on loopback only.
docker/new-env.sh "$scratch/env" >/dev/null
set -a
# shellcheck disable=SC1091
. "$scratch/env"
set +a
free_ports() {
  python3 -c 'import socket
sockets = [socket.socket() for _ in range(6)]
for s in sockets: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in sockets])' 2>/dev/null || shuf -i 20000-40000 -n 6 | tr '\n' ' '
}
read -r RINGBANK_PORT_A RINGBANK_PORT_B RINGBANK_PORT_C RINGBANK_PORT_A_PG RINGBANK_PORT_B_PG RINGBANK_PORT_C_PG <<<"$(free_ports)"
export RINGBANK_PUBLISH=127.0.0.1 RINGBANK_PORT_A RINGBANK_PORT_B RINGBANK_PORT_C RINGBANK_PORT_A_PG RINGBANK_PORT_B_PG RINGBANK_PORT_C_PG
say "project $project, compose: ${compose_cmd[*]}, ports $RINGBANK_PORT_A-$RINGBANK_PORT_C (SQLite), $RINGBANK_PORT_A_PG-$RINGBANK_PORT_C_PG (PostgreSQL)"

# ---------------------------------------------------------------------------------------------
# Helpers. The current ring: banks A B C, their URLs and compose services (set per phase).
declare -A url service token account
banks=(A B C)
people=(ana bruno)
declare -A document=([ana]=11144477735 [bruno]=52998224725)
deposit_cents=1000000

# http METHOD URL [BODY [CURL ARGS...]]: sets $code and $body (code 000: no answer).
http() {
  local method=$1 target=$2 data=${3:-}
  shift 3 2>/dev/null || shift $#
  local file="$scratch/body.$BASHPID"
  code=$(curl -sS -m "${HTTP_TIMEOUT:-10}" -o "$file" -w '%{http_code}' -X "$method" -H 'Content-Type: application/json' \
    ${data:+--data "$data"} "$@" "$target" 2>/dev/null) || true
  [ -n "$code" ] || code=000
  body=$(cat "$file" 2>/dev/null || true)
  rm -f "$file"
}

container_of() { compose ps -q "$1"; }

# wait_until SECONDS COMMAND...: retries the command every second, at most SECONDS times.
wait_until() {
  local limit=$1
  shift
  for _ in $(seq 1 "$limit"); do
    "$@" && return 0
    sleep 1
  done
  return 1
}

healthy() { [ "$(docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{end}}' "$(container_of "$1")" 2>/dev/null)" = healthy ]; }
all_healthy() {
  local name
  for name in "$@"; do healthy "$name" || return 1; done
}
ready() {
  http GET "${url[$1]}/readyz"
  [ "$code" = 200 ]
}
all_ready() {
  local bank
  for bank in "$@"; do ready "$bank" || return 1; done
}
not_ready() { ! ready "$1"; }
# The bank holding the token now, if any bank says so.
holder() {
  local bank
  for bank in "${banks[@]}"; do
    http GET "${url[$bank]}/ring/v1/status" '' -m 2
    if [ "$code" = 200 ] && [ "$(jq -r '.holding' <<<"$body")" = true ]; then
      echo "$bank"
      return
    fi
  done
  echo A
}

# The highest epoch any reachable bank reports (the ring's generation of the token).
ring_epoch() {
  local bank epoch=0 value
  for bank in "${banks[@]}"; do
    http GET "${url[$bank]}/ring/v1/status" '' -m 2
    [ "$code" = 200 ] || continue
    value=$(jq -r '.epoch // 0' <<<"$body")
    [ "$value" -gt "$epoch" ] && epoch=$value
  done
  echo "$epoch"
}
# unreachable BANK: its published port gives no answer within 2 s.
unreachable() {
  http GET "${url[$1]}/healthz" '' -m 2
  [ "$code" = 000 ]
}
container_state() { docker inspect -f '{{.State.Status}}, restarted by docker {{.RestartCount}} times' "$(container_of "$1")"; }

login() {
  local bank=$1 person=$2
  http POST "${url[$bank]}/api/v1/sessions" "{\"document\":\"${document[$person]}\",\"password\":\"secret-$person\"}"
  [ "$code" = 200 ] || return 1
  token[$bank:$person]=$(jq -r .token <<<"$body")
}

# Customer, session, individual account and deposit for every person at every bank.
open_accounts() {
  local bank person
  for bank in "${banks[@]}"; do
    for person in "${people[@]}"; do
      http POST "${url[$bank]}/api/v1/customers" "{\"document\":\"${document[$person]}\",\"name\":\"$person\",\"password\":\"secret-$person\"}"
      [ "$code" = 201 ] || { echo "customer $person at $bank: $code $body"; return 1; }
      login "$bank" "$person" || { echo "session $person at $bank: $code $body"; return 1; }
      http POST "${url[$bank]}/api/v1/accounts" '{"kind":"individual"}' -H "Authorization: Bearer ${token[$bank:$person]}"
      [ "$code" = 201 ] || { echo "account $person at $bank: $code $body"; return 1; }
      account[$bank:$person]=$(jq -r .number <<<"$body")
      http POST "${url[$bank]}/api/v1/deposits" "{\"account\":\"${account[$bank:$person]}\",\"amount_cents\":$deposit_cents}" \
        -H "Authorization: Bearer ${token[$bank:$person]}"
      [ "$code" = 201 ] || { echo "deposit $person at $bank: $code $body"; return 1; }
    done
  done
}

# transfer KEY ORIGIN PERSON TARGET_BANK TARGET_PERSON AMOUNT: one cross-bank transfer, debit at
# the origin, `Prefer: wait=5`; sets $code, $body; logs "KEY ORIGIN PERSON TARGET TPERSON AMOUNT CODE ID STATUS".
transfer() {
  local key=$1 origin=$2 person=$3 target=$4 target_person=$5 amount=$6
  local request="{\"debits\":[{\"bank\":\"$origin\",\"account\":\"${account[$origin:$person]}\",\"amount_cents\":$amount}],\"credits\":[{\"bank\":\"$target\",\"account\":\"${account[$target:$target_person]}\",\"amount_cents\":$amount}],\"description\":\"$key\"}"
  HTTP_TIMEOUT=12 http POST "${url[$origin]}/api/v1/transfers" "$request" \
    -H "Authorization: Bearer ${token[$origin:$person]}" -H 'Prefer: wait=5' -H "Idempotency-Key: $key"
  if [ "$code" = 401 ]; then
    login "$origin" "$person" && HTTP_TIMEOUT=12 http POST "${url[$origin]}/api/v1/transfers" "$request" \
      -H "Authorization: Bearer ${token[$origin:$person]}" -H 'Prefer: wait=5' -H "Idempotency-Key: $key"
  fi
  local id=- status=-
  if [[ $code == 20[012] ]]; then
    id=$(jq -r '.id // "-"' <<<"$body")
    status=$(jq -r '.status // "-"' <<<"$body")
  fi
  echo "$key $origin $person $target $target_person $amount $code $id $status" >>"$scratch/transfers.$phase"
  [ "$status" = committed ]
}

# commits KEY ORIGIN TARGET: a cross-bank transfer that commits within a few attempts (each
# waits up to 5 s for the outcome); a ring that just lost a bank needs a moment.
commits() {
  local key=$1 origin=$2 target=$3 attempt
  for attempt in 1 2 3 4 5 6; do
    transfer "$key-$attempt" "$origin" ana "$target" bruno $((100 + attempt)) && return 0
    sleep 1
  done
  echo "last answer: $code $body"
  return 1
}

# A steady load from every bank to the next, until $scratch/stop exists (at most 3000 requests).
load() {
  local i=0 origin target
  while [ ! -e "$scratch/stop" ] && [ "$i" -lt 3000 ]; do
    i=$((i + 1))
    origin=${banks[$((i % 3))]}
    target=${banks[$(((i + 1) % 3))]}
    transfer "load-$phase-$i" "$origin" "${people[$((i % 2))]}" "$target" "${people[$(((i / 2) % 2))]}" $((1 + i % 97)) >/dev/null || true
    sleep 0.1
  done
}
start_load() {
  rm -f "$scratch/stop"
  load &
  load_pid=$!
}
stop_load() {
  touch "$scratch/stop"
  # A request waits at most 12 s (twice, after a re-login).
  for _ in $(seq 1 30); do kill -0 "$load_pid" 2>/dev/null || break; sleep 1; done
  kill "$load_pid" 2>/dev/null
  wait "$load_pid" 2>/dev/null
  load_pid=""
}

# Every request that got no answer (or 409: still running) is sent again with its key until it
# is answered; then every answered transfer must become final at its origin.
settle() {
  local log="$scratch/transfers.$phase" key origin person target target_person amount code id status
  local unanswered=0 pending=0 resent=0
  local -A final=()
  : >"$scratch/final.$phase"
  : >"$scratch/reasons.$phase"
  # The last line of a key is its latest answer.
  while read -r key origin person target target_person amount code id status; do
    final[$key]="$origin $person $target $target_person $amount $code $id $status"
  done <"$log"
  for key in "${!final[@]}"; do
    read -r origin person target target_person amount code id status <<<"${final[$key]}"
    local tries=0
    [ "$id" = - ] && resent=$((resent + 1))
    while [ "$id" = - ] && [ "$tries" -lt 10 ]; do
      tries=$((tries + 1))
      transfer "$key" "$origin" "$person" "$target" "$target_person" "$amount" >/dev/null
      read -r _ _ _ _ _ _ code id status <<<"$(tail -1 "$log")"
      [ "$id" = - ] && sleep 2
    done
    if [ "$id" = - ]; then
      unanswered=$((unanswered + 1))
      echo "no answer for $key after retries: $code"
      continue
    fi
    # The origin's view, even when the answer was already final.
    tries=0
    status=unknown
    while [ "$status" != committed ] && [ "$status" != aborted ] && [ "$tries" -lt 60 ]; do
      tries=$((tries + 1))
      http GET "${url[$origin]}/api/v1/transfers/$id" '' -H "Authorization: Bearer ${token[$origin:$person]}"
      [ "$code" = 401 ] && login "$origin" "$person" && continue
      [ "$code" = 200 ] && status=$(jq -r .status <<<"$body")
      [ "$status" = aborted ] && jq -r '.reason // "?"' <<<"$body" >>"$scratch/reasons.$phase"
      [ "$status" = committed ] || [ "$status" = aborted ] || sleep 1
    done
    if [ "$status" != committed ] && [ "$status" != aborted ]; then
      pending=$((pending + 1))
      echo "transfer $id ($key) still $status"
    fi
    echo "$key $origin $person $target $target_person $amount $id $status" >>"$scratch/final.$phase"
  done
  local committed aborted
  committed=$(awk '$8 == "committed"' "$scratch/final.$phase" | wc -l)
  aborted=$(awk '$8 == "aborted"' "$scratch/final.$phase" | wc -l)
  say "$phase: ${#final[@]} transfers answered: $committed committed, $aborted aborted, $pending not final, $unanswered unanswered ($resent had no answer at first and were resent with their key)"
  [ -s "$scratch/reasons.$phase" ] && say "$phase: abort reasons: $(sort "$scratch/reasons.$phase" | uniq -c | sort -rn | awk '{ $1 = $1 "x"; print }' | paste -sd ';' -)"
  [ "$unanswered" = 0 ] && [ "$pending" = 0 ]
}

# Each account holds its deposit plus the committed transfers' credits minus their debits.
conserved() {
  local bank person expected actual total=0 ok=0
  local -A moved=()
  while read -r key origin person target target_person amount id status; do
    [ "$status" = committed ] || continue
    moved[$origin:$person]=$((${moved[$origin:$person]:-0} - amount))
    moved[$target:$target_person]=$((${moved[$target:$target_person]:-0} + amount))
  done <"$scratch/final.$phase"
  for bank in "${banks[@]}"; do
    for person in "${people[@]}"; do
      expected=$((deposit_cents + ${moved[$bank:$person]:-0}))
      http GET "${url[$bank]}/api/v1/accounts/${account[$bank:$person]}" '' -H "Authorization: Bearer ${token[$bank:$person]}"
      if [ "$code" = 401 ]; then
        login "$bank" "$person"
        http GET "${url[$bank]}/api/v1/accounts/${account[$bank:$person]}" '' -H "Authorization: Bearer ${token[$bank:$person]}"
      fi
      actual=$(jq -r '.balance_cents // "?"' <<<"$body" 2>/dev/null)
      total=$((total + ${actual//\?/0}))
      if [ "$actual" != "$expected" ]; then
        echo "$person at $bank: balance $actual, expected $expected"
        ok=1
      fi
    done
  done
  say "$phase: customer money $total, deposited $((deposit_cents * 6))"
  [ "$ok" = 0 ] && [ "$total" = $((deposit_cents * 6)) ]
}

# The live consortium audit (`ringbank audit --peer ...`), run from the image on the ring's
# network; retried while transfers are still settling (holds open, outcomes in flight).
audit_passes() {
  local network peers="" bank attempt
  network=$(docker network ls --filter "label=com.docker.compose.project=$project" --format '{{.Name}}' | head -1)
  for bank in "${banks[@]}"; do peers+=" --peer $bank=http://${service[$bank]}:8080"; done
  for attempt in $(seq 1 15); do
    # shellcheck disable=SC2086
    if docker run --rm --network "$network" -e RINGBANK_ADMIN_SECRET ringbank:latest audit $peers >"$scratch/audit.$phase" 2>&1; then
      say "$phase: consortium audit passed (attempt $attempt)"
      return 0
    fi
    sleep 2
  done
  cat "$scratch/audit.$phase"
  return 1
}

# The network a bank container is on, and its compose alias, for disconnect/connect.
bank_network() { docker network ls --filter "label=com.docker.compose.project=$project" --format '{{.Name}}' | head -1; }

# ---------------------------------------------------------------------------------------------
# 0. The Dockerfile keeps working when a workspace crate is added: its skeleton stage, built from
# a copy of this checkout plus a new member (library, nested module, extra binary), holds every
# manifest and every .rs file as a stub, and nothing else.
skeleton_finds_new_members() {
  local copy="$scratch/skeleton" tag="ringbank-skeleton-check:$project"
  mkdir -p "$copy"
  tar --exclude=./target --exclude=./.git --exclude=./data --exclude=./.env -cf - . | tar -C "$copy" -xf -
  mkdir -p "$copy/extra-member/src/codec" "$copy/extra-member/src/bin"
  printf '[package]\nname = "extra-member"\nversion = "0.1.0"\nedition = "2021"\n' >"$copy/extra-member/Cargo.toml"
  echo 'pub mod codec;' >"$copy/extra-member/src/lib.rs"
  echo 'pub fn encode() {}' >"$copy/extra-member/src/codec/mod.rs"
  echo 'fn main() { println!("tool"); }' >"$copy/extra-member/src/bin/tool.rs"
  sed -i 's/^members = \[/members = ["extra-member", /' "$copy/Cargo.toml"
  grep -q '"extra-member"' "$copy/Cargo.toml" || { echo "no [workspace] members line to extend"; return 1; }
  docker build -q --target skeleton -t "$tag" "$copy" >"$scratch/skeleton.log" 2>&1 || { tail -5 "$scratch/skeleton.log"; return 1; }
  local expected actual
  expected=$(cd "$copy" && find . \( -name Cargo.toml -o -name Cargo.lock -o -name '*.rs' \) -type f | sort)
  actual=$(docker run --rm --entrypoint sh "$tag" -c 'cd /src && find . -type f | sort')
  docker run --rm --entrypoint sh "$tag" -c \
    'cd /src && cargo metadata --no-deps --format-version 1 | grep -q "\"name\":\"extra-member\"" && ! find . -name "*.rs" -exec grep -Lx "fn main() {}" {} + | grep .' \
    >"$scratch/skeleton-run.log" 2>&1
  local status=$?
  docker rmi "$tag" >/dev/null 2>&1
  [ "$expected" = "$actual" ] || { diff <(echo "$expected") <(echo "$actual") | head -10; return 1; }
  [ "$status" = 0 ] || { cat "$scratch/skeleton-run.log"; return 1; }
}
say "== Dockerfile: skeleton stage with an added workspace crate"
check "the Dockerfile's skeleton stage finds a new workspace member (manifests and stubs only)" skeleton_finds_new_members

# ---------------------------------------------------------------------------------------------
phase=sqlite
url=([A]="http://127.0.0.1:$RINGBANK_PORT_A" [B]="http://127.0.0.1:$RINGBANK_PORT_B" [C]="http://127.0.0.1:$RINGBANK_PORT_C")
service=([A]=bank-a [B]=bank-b [C]=bank-c)
say "== SQLite ring: compose up bank-a bank-b bank-c"
up_started=$(date +%s.%N)
if compose up -d --no-build bank-a bank-b bank-c >"$scratch/up.log" 2>&1; then pass "compose up of the SQLite ring"; else fail "compose up of the SQLite ring: $(tail -5 "$scratch/up.log")"; fi
check "all three bank containers healthy within 60 s" wait_until 60 all_healthy bank-a bank-b bank-c
say "healthy $(elapsed_since "$up_started") s after compose up"
check "all three banks ready (database up, joined the ring) within 60 s" wait_until 60 all_ready A B C
say "ready $(elapsed_since "$up_started") s after compose up"
check "the image runs as a non-root user" test "$(docker exec "$(container_of bank-a)" id -u)" = 10001
check "customers, accounts and deposits at every bank through the published ports" open_accounts
check "a cross-bank transfer A -> B commits (Prefer: wait=5)" commits first A B
id=$(awk '$9 == "committed" { print $8 }' "$scratch/transfers.$phase" | tail -1)
http GET "${url[A]}/api/v1/transfers/$id" '' -H "Authorization: Bearer ${token[A:ana]}"
check "GET /api/v1/transfers/{id} at the origin says committed" test "$(jq -r .status <<<"$body" 2>/dev/null)" = committed
# Per-bank keys: the coordinator signed the receipt; anyone with the member list (the public keys
# docker/new-env.sh wrote) verifies it with the image's `ringbank verify`; a changed amount fails.
members="A=http://bank-a:8080=$RINGBANK_PUBLIC_KEY_A,B=http://bank-b:8080=$RINGBANK_PUBLIC_KEY_B,C=http://bank-c:8080=$RINGBANK_PUBLIC_KEY_C"
receipt_verifies() { docker run --rm -i ringbank:latest verify - --peer "$members" <<<"$1" >"$scratch/verify.out" 2>&1; }
receipt_refused() { ! receipt_verifies "$1"; }
check "the transfer's signed receipt verifies with ringbank verify" receipt_verifies "$body"
check "a receipt with a changed amount does not verify" receipt_refused "$(jq -c '.receipt.legs[0].amount_cents -= 1' <<<"$body")"

say "== load running; faults from outside the containers"
start_load
sleep 3

victim=$(holder)
epoch=$(ring_epoch)
say "docker kill (SIGKILL) of bank $victim, the token holder when asked (epoch $epoch)"
check "docker kill bank $victim" quiet docker kill "$(container_of "${service[$victim]}")"
say "bank $victim container: $(container_state "${service[$victim]}")"
others=()
for bank in "${banks[@]}"; do [ "$bank" != "$victim" ] && others+=("$bank"); done
check "with $victim killed, ${others[0]} -> ${others[1]} commits" commits after-kill "${others[0]}" "${others[1]}"
say "ring epoch now $(ring_epoch)"
# restart: unless-stopped may already have brought it back; otherwise start it (same container, same volume).
docker start "$(container_of "${service[$victim]}")" >/dev/null 2>&1
check "bank $victim back and ready on its volume within 60 s" wait_until 60 ready "$victim"
check "after its restart, $victim -> ${others[0]} commits" commits after-restart "$victim" "${others[0]}"

victim=$(holder)
say "docker pause of bank $victim, the token holder when asked, for 6 s (epoch $(ring_epoch))"
check "docker pause bank $victim" quiet docker pause "$(container_of "${service[$victim]}")"
check "paused bank $victim does not answer" unreachable "$victim"
others=()
for bank in "${banks[@]}"; do [ "$bank" != "$victim" ] && others+=("$bank"); done
check "with $victim paused, ${others[1]} -> ${others[0]} commits" commits while-paused "${others[1]}" "${others[0]}"
say "ring epoch now $(ring_epoch)"
sleep 2
check "docker unpause bank $victim" quiet docker unpause "$(container_of "${service[$victim]}")"
check "bank $victim ready again within 30 s" wait_until 30 ready "$victim"
check "after unpause, $victim -> ${others[1]} commits" commits after-unpause "$victim" "${others[1]}"

victim=C
network=$(bank_network)
say "docker network disconnect of bank $victim from $network for 8 s"
check "docker network disconnect bank $victim" docker network disconnect "$network" "$(container_of "${service[$victim]}")"
check "disconnected bank $victim does not answer on its published port" wait_until 5 unreachable "$victim"
check "with $victim cut off, A -> B commits" commits while-disconnected A B
say "ring epoch now $(ring_epoch)"
sleep 3
check "docker network connect bank $victim (alias ${service[$victim]})" \
  docker network connect --alias "${service[$victim]}" "$network" "$(container_of "${service[$victim]}")"
check "bank $victim ready again within 30 s" wait_until 30 ready "$victim"
check "after reconnecting, $victim -> A commits" commits after-connect "$victim" A

sleep 3
stop_load
say "load stopped: $(grep -c '^load-' "$scratch/transfers.$phase") load requests"
check "every answered transfer is final (unanswered ones retried with their key)" settle
check "balances: deposits plus committed transfers, at every account" conserved
check "consortium audit (ringbank audit --peer A,B,C) exits 0" audit_passes

victim=B
say "bank $victim removed and recreated on its volume"
declare -A before=()
for person in "${people[@]}"; do
  http GET "${url[$victim]}/api/v1/accounts/${account[$victim:$person]}" '' -H "Authorization: Bearer ${token[$victim:$person]}"
  before[$person]=$(jq -r .balance_cents <<<"$body" 2>/dev/null)
done
old_container=$(container_of "${service[$victim]}")
compose rm -s -f "${service[$victim]}" >/dev/null 2>&1
compose up -d --no-build "${service[$victim]}" >/dev/null 2>&1
check "bank $victim is a new container" test "$(container_of "${service[$victim]}")" != "$old_container"
check "bank $victim ready within 60 s" wait_until 60 ready "$victim"
same_balances() {
  local person
  for person in "${people[@]}"; do
    login "$victim" "$person" || return 1
    http GET "${url[$victim]}/api/v1/accounts/${account[$victim:$person]}" '' -H "Authorization: Bearer ${token[$victim:$person]}"
    [ "$(jq -r .balance_cents <<<"$body" 2>/dev/null)" = "${before[$person]}" ] || { echo "$person: $body, was ${before[$person]}"; return 1; }
  done
}
check "bank $victim kept its customers and balances (same volume)" same_balances
check "the recreated bank $victim -> C commits" commits after-recreate "$victim" C
check "every answered transfer is final" settle
check "balances conserved" conserved
check "consortium audit exits 0" audit_passes
compose stop -t 5 bank-a bank-b bank-c >/dev/null 2>&1

# ---------------------------------------------------------------------------------------------
phase=postgres
url=([A]="http://127.0.0.1:$RINGBANK_PORT_A_PG" [B]="http://127.0.0.1:$RINGBANK_PORT_B_PG" [C]="http://127.0.0.1:$RINGBANK_PORT_C_PG")
service=([A]=bank-a-pg [B]=bank-b-pg [C]=bank-c-pg)
token=()
account=()
say "== PostgreSQL ring: compose --profile postgres up bank-a-pg bank-b-pg bank-c-pg"
up_started=$(date +%s.%N)
if compose up -d --no-build bank-a-pg bank-b-pg bank-c-pg >"$scratch/up-pg.log" 2>&1; then pass "compose up of the PostgreSQL ring"; else fail "compose up of the PostgreSQL ring: $(tail -5 "$scratch/up-pg.log")"; fi
check "three PostgreSQL and three bank containers healthy within 90 s" wait_until 90 all_healthy db-a db-b db-c bank-a-pg bank-b-pg bank-c-pg
check "all three banks ready within 60 s" wait_until 60 all_ready A B C
say "ready $(elapsed_since "$up_started") s after compose up"
check "customers, accounts and deposits at every bank" open_accounts
check "a cross-bank transfer A -> B commits" commits first A B

start_load
sleep 3
say "docker kill (SIGKILL) of db-b, the PostgreSQL under bank B"
check "docker kill db-b" quiet docker kill "$(container_of db-b)"
say "db-b container: $(container_state db-b)"
check "bank B reports not ready (/readyz 503) within 20 s" wait_until 20 not_ready B
check "with B's database down, A -> C commits" commits while-db-down A C
docker start "$(container_of db-b)" >/dev/null 2>&1
check "db-b healthy again within 60 s (same volume)" wait_until 60 healthy db-b
check "bank B ready again within 60 s" wait_until 60 ready B
check "after the database restart, B -> A commits" commits after-db-restart B A
sleep 3
stop_load
say "load stopped: $(grep -c '^load-' "$scratch/transfers.$phase") load requests"
check "every answered transfer is final" settle
check "balances: deposits plus committed transfers, at every account" conserved
check "consortium audit of the PostgreSQL ring exits 0" audit_passes

say "container suite took $(($(date +%s) - started)) s"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
