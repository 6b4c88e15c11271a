#!/usr/bin/env bash
# Account verification at scale over the real-time channel: a city whose
# cards are all at one bank, that bank's simulator (`bank serve-iso --db`),
# and `iso verify --all` sending one 0100 per active card over ONE
# connection. Prints messages per second and latency percentiles (the
# latency of each request: sent to matched response, with up to WINDOW in
# flight), and the time of the whole command (results stored included).
#
#   benches/iso_verify.sh [PERSONS] [DB_URL] [WINDOW]
#   benches/iso_verify.sh 100000                       # SQLite in a temp dir
#
# A benchmark, not a test: run it on a quiet machine; figures go to stdout.
set -euo pipefail
PERSONS=${1:-100000}
WINDOW=${3:-64}
cd "$(dirname "$0")/.."
cargo build --release --quiet
BIN="${CARGO_TARGET_DIR:-$PWD/target}/release/onecard"
WORK=$(mktemp -d /tmp/onecard-isobench.XXXXXX)
DB=${2:-sqlite://$WORK/onecard.db}
echo "onecard ISO 8583 verification benchmark: $PERSONS persons, window $WINDOW, $(echo "$DB" | sed 's|://[^@]*@|://***@|'), work dir $WORK"
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"

"$BIN" gen --persons "$PERSONS" --period 2026-11 --seed 1 --out "$WORK/city" > /dev/null
# Every card at bank 105, so that one connection carries them all.
python3 - "$WORK/city/cardholders.csv" <<'PY'
import csv, sys
path = sys.argv[1]
with open(path, encoding="utf-8-sig", newline="") as f:
    rows = list(csv.reader(f))
i = rows[0].index("bank_code")
for r in rows[1:]:
    if r[i]:
        r[i] = "105"
with open(path, "w", encoding="utf-8", newline="") as f:
    csv.writer(f, lineterminator="\n").writerows(rows)
PY
"$BIN" --db "$DB" import registry "$WORK/city/cardholders.csv" > /dev/null
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$WORK/banks"
cat > "$WORK/banks/105.toml" <<TOML
bank_code = "105"
name = "中国建设银行江门分行"
layout = "TXT-A"
payer_account = "44050166010100000123"
payer_name = "江门市社会保障卡管理中心"
agency_code = "44070001"
[iso8583]
host = "127.0.0.1"
port = $PORT
terminal_id = "JMSBK105"
TOML
echo 'bank_formats_dir = "banks"' > "$WORK/onecard.toml"
export ONECARD_ISO_KEY_105=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
"$BIN" --db "$DB" bank serve-iso --listen "127.0.0.1:$PORT" --bank 105 > "$WORK/sim.out" 2> "$WORK/sim.err" &
SIM=$!
trap 'kill $SIM 2>/dev/null || true' EXIT
for _ in $(seq 100); do grep -qs listening "$WORK/sim.out" && break; sleep 0.1; done
cat "$WORK/sim.out"
/usr/bin/time -f "%e %M" -o "$WORK/time" \
    "$BIN" --db "$DB" --config "$WORK/onecard.toml" --json iso verify --all --window "$WINDOW" > "$WORK/verify.json"
read -r secs kb < "$WORK/time"
python3 - "$WORK/verify.json" "$secs" "$kb" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
print(f"verified {s['checked']} accounts over one connection: {s['verified']} verified, {s['invalid']} invalid, {s['unknown']} unknown")
print(f"messages/s {s['messages_per_second']:.0f}   latency p50 {s['latency_ms_p50']:.2f} ms   p99 {s['latency_ms_p99']:.2f} ms   max {s['latency_ms_max']:.2f} ms")
print(f"whole command {float(sys.argv[2]):.2f} s (connect, verify, store every result), peak {int(sys.argv[3]) / 1024:.0f} MiB")
PY
echo "work dir kept: $WORK (remove it when done)"
