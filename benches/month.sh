#!/usr/bin/env bash
# The month at scale: generate a city, import it, create, approve and export
# the run, printing seconds, rows per second and peak memory of each step.
#
#   benches/month.sh [PERSONS] [DB_URL]
#   benches/month.sh 1000000                               # SQLite in a temp dir
#   benches/month.sh 1000000 postgres://u:p@127.0.0.1/db   # an empty PostgreSQL database
#
# A benchmark, not a test: run it on a quiet machine; figures go to stdout.
set -euo pipefail
PERSONS=${1:-1000000}
cd "$(dirname "$0")/.."
cargo build --release --quiet
BIN="$PWD/target/release/onecard"
WORK=$(mktemp -d /tmp/onecard-bench.XXXXXX)
DB=${2:-sqlite://$WORK/onecard.db}
PERIOD=2026-11
echo "onecard month benchmark: $PERSONS persons, $(echo "$DB" | sed 's|://[^@]*@|://***@|'), work dir $WORK"
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, load $(cut -d' ' -f1-3 /proc/loadavg)"

. benches/common.sh

step gen "$PERSONS" "$BIN" gen --persons "$PERSONS" --period $PERIOD --seed 1 --out "$WORK/city"
step import-registry "$PERSONS" "$BIN" --db "$DB" import registry "$WORK/city/cardholders.csv"
LINES=$(cat "$WORK"/city/roster_*.csv | wc -l)
step import-rosters "$LINES" "$BIN" --db "$DB" import roster "$WORK"/city/roster_*.csv
step run-create 0 "$BIN" --db "$DB" --json run create --period $PERIOD --by bench-maker
PAYMENTS=$(python3 -c "import json,sys; print(json.load(open('$WORK/run-create.out'))['payments']['count'])")
RUN=$(python3 -c "import json,sys; print(json.load(open('$WORK/run-create.out'))['run_id'])")
echo "                 (run-create decided $PAYMENTS payments: $(awk -v p="$PAYMENTS" -v s="$(cut -d' ' -f1 "$WORK/time")" 'BEGIN {printf "%.0f", p / s}') payments/s)"
step run-approve "$PAYMENTS" "$BIN" --db "$DB" run approve "$RUN" --by bench-checker
step run-export "$PAYMENTS" "$BIN" --db "$DB" run export "$RUN" --outbox "$WORK/outbox"
du -sh "$WORK/city" "$WORK/outbox" | sed 's/^/size: /'
case "$DB" in sqlite://*) du -sh "${DB#sqlite://}" | sed 's/^/size: /' ;; esac
echo "work dir kept: $WORK (remove it when done)"
