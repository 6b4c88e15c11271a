#!/usr/bin/env bash
# The caseworker desk under load: builds a city with MONTHS months of paid
# (and partly failed) payments on SQLite, serves it, and drives the payments
# API, the person API and the person page with 50 keep-alive clients on
# loopback for a bounded time, printing req/s and p50/p90/p99 latency.
#
#   benches/desk.sh [PERSONS] [MONTHS] [SECONDS]      # default 100000 12 20
#   WORK=/tmp/onecard-desk.XXXX benches/desk.sh ...     # reuse a built city
#   ONECARD_BIN=/path/to/onecard benches/desk.sh ...     # a binary built before
#
# The load comes from wrk (Debian's `wrk`, with benches/desk_wrk.lua) when it
# is installed, else from benches/desk_load.py, a Python client that takes a
# good part of a core itself.
#
# A benchmark, not a test: run it on a quiet machine; figures go to stdout.
set -euo pipefail
PERSONS=${1:-100000}
MONTHS=${2:-12}
SECONDS_EACH=${3:-20}
CLIENTS=${CLIENTS:-50}
cd "$(dirname "$0")/.."
ROOT=$PWD
if [[ -n "${ONECARD_BIN:-}" ]]; then
    BIN=$ONECARD_BIN
else
    cargo build --release --quiet
    BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/onecard"
fi
WORK=${WORK:-$(mktemp -d /tmp/onecard-desk.XXXXXX)}
DB="sqlite://$WORK/onecard.db"
echo "onecard desk benchmark: $PERSONS persons x $MONTHS months on SQLite, work dir $WORK"
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"

if [[ ! -f "$WORK/built" ]]; then
    T0=$SECONDS
    # Months ending with 2026-10, oldest first.
    PERIODS=$(python3 -c "
m=$MONTHS; y,mo=2026,10
out=[]
for _ in range(m):
    out.append(f'{y:04d}-{mo:02d}'); mo-=1
    if mo==0: y,mo=y-1,12
print(' '.join(reversed(out)))")
    first=true
    for P in $PERIODS; do
        rm -rf "$WORK/city" "$WORK/outbox" "$WORK/returns"
        "$BIN" gen --persons "$PERSONS" --period "$P" --seed 1 --out "$WORK/city" > /dev/null
        if $first; then
            "$BIN" --db "$DB" import registry "$WORK/city/cardholders.csv" > /dev/null
            first=false
        fi
        "$BIN" --db "$DB" import roster "$WORK"/city/roster_*.csv > /dev/null 2>&1 || true
        RUN=$("$BIN" --db "$DB" --json run create --period "$P" --by bench-maker | python3 -c 'import json,sys; print(json.load(sys.stdin)["run_id"])')
        "$BIN" --db "$DB" run approve "$RUN" --by bench-checker > /dev/null
        "$BIN" --db "$DB" run export "$RUN" --outbox "$WORK/outbox" > /dev/null
        for f in "$WORK"/outbox/*; do
            # Digests and the manifest are not request files: simulate refuses them.
            "$BIN" bank simulate "$f" --out "$WORK/returns" --fail-rate 0.03 --omit-rate 0 --seed 7 > /dev/null 2>&1 || true
        done
        "$BIN" --db "$DB" reconcile "$WORK"/returns/* > /dev/null 2>&1 || true
        echo "  $P: $RUN paid and reconciled ($((SECONDS - T0)) s so far)"
    done
    touch "$WORK/built"
fi
python3 - "$WORK" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1] + "/onecard.db")
print("city: %d persons, %d payments, %d items, %d failed payments" % tuple(
    db.execute(q).fetchone()[0] for q in (
        "SELECT COUNT(*) FROM persons", "SELECT COUNT(*) FROM payments", "SELECT COUNT(*) FROM items",
        "SELECT COUNT(*) FROM payments WHERE state = 'failed'")))
ids = [r[0] for r in db.execute(
    "SELECT person_id FROM (SELECT DISTINCT person_id FROM payments) ORDER BY substr(person_id, 15) LIMIT 5000")]
open(sys.argv[1] + "/ids.txt", "w").write("\n".join(ids) + "\n")
PY

PW=$("$BIN" --db "$DB" --json users passwd bench 2>/dev/null || "$BIN" --db "$DB" --json users add bench --role caseworker --scope 4407)
PW=$(echo "$PW" | python3 -c 'import json,sys; print(json.load(sys.stdin)["password"])')
"$BIN" --db "$DB" serve --listen 127.0.0.1:0 > "$WORK/serve.out" 2> "$WORK/serve.err" &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do grep -q http "$WORK/serve.out" 2>/dev/null && break; sleep 0.1; done
ADDR=$(sed -n 's|.*http://\([^/]*\)/.*|\1|p' "$WORK/serve.out")
TOKEN=$(curl -s -X POST "http://$ADDR/api/v1/login" -H 'Content-Type: application/json' \
    -d "{\"username\":\"bench\",\"password\":\"$PW\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
# A page session: the login form's CSRF cookie and field, then the session cookie.
JAR="$WORK/cookies"
CSRF=$(curl -s -c "$JAR" "http://$ADDR/login" | sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p')
curl -s -b "$JAR" -c "$JAR" -o /dev/null --data-urlencode "username=bench" --data-urlencode "password=$PW" \
    --data-urlencode "csrf=$CSRF" "http://$ADDR/login"
SESSION=$(awk '$6 == "onecard_session" {print $7}' "$JAR")
echo "serving on $ADDR; $CLIENTS clients, $SECONDS_EACH s per endpoint"
load() { # HEADER PATH_TEMPLATE
    if command -v wrk > /dev/null; then
        wrk -t2 -c"$CLIENTS" -d"${SECONDS_EACH}s" -s benches/desk_wrk.lua "http://$ADDR" -- "$2" "$WORK/ids.txt" "$1" | tail -n1
    else
        python3 benches/desk_load.py "$ADDR" "$1" "$WORK/ids.txt" "$2" "$CLIENTS" "$SECONDS_EACH"
    fi
}
load "Authorization: Bearer $TOKEN" "/api/v1/persons/{id}/payments"
load "Authorization: Bearer $TOKEN" "/api/v1/persons/{id}"
load "Cookie: onecard_session=$SESSION" "/persons/{id}"
"$BIN" --db "$DB" audit verify
du -sh "${DB#sqlite://}" | sed 's/^/size: /'
echo "work dir kept: $WORK (remove it when done)"
