#!/usr/bin/env bash
# Card issuance at scale: generate a city, import its registry, then time the
# card counter's round — the bulk applications of card_applications.csv, the
# card-making request files, the bank's answers, applying the returns and the
# hand-over — printing seconds, rows per second and peak memory of each step.
#
#   benches/cards.sh [PERSONS] [DB_URL]
#
# To get more applications than a city's few percent without a card, every
# cardholder of one bank also applies for a replacement (APPLY_ALL_OF_BANK,
# default 403: about a fifth of the city).
set -euo pipefail
PERSONS=${1:-1000000}
cd "$(dirname "$0")/.."
cargo build --release --quiet
BIN="$PWD/target/release/onecard"
WORK=$(mktemp -d /tmp/onecard-cards.XXXXXX)
DB=${2:-sqlite://$WORK/onecard.db}
BANK=${APPLY_ALL_OF_BANK:-403}
echo "onecard card benchmark: $PERSONS persons, $(echo "$DB" | sed 's|://[^@]*@|://***@|'), work dir $WORK"
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"

. benches/common.sh

"$BIN" gen --persons "$PERSONS" --period 2026-11 --seed 1 --out "$WORK/city" > /dev/null
"$BIN" --db "$DB" import registry "$WORK/city/cardholders.csv" > /dev/null
APPS="$WORK/applications.csv"
python3 - "$WORK/city" "$BANK" "$APPS" <<'PY'
import csv, sys
city, bank, out = sys.argv[1:]
planted = {r["person_id"] for r in csv.DictReader(open(f"{city}/card_applications.csv", encoding="utf-8"))}
with open(out, "w", encoding="utf-8", newline="") as f:
    w = csv.writer(f)
    w.writerow(["person_id", "bank_code", "kind"])
    for r in csv.DictReader(open(f"{city}/card_applications.csv", encoding="utf-8")):
        w.writerow([r["person_id"], r["bank_code"], r["kind"]])
    for r in csv.DictReader(open(f"{city}/cardholders.csv", encoding="utf-8-sig")):
        if r["bank_code"] == bank and not r["death_date"] and r["person_id"] not in planted:
            w.writerow([r["person_id"], bank, "replace"])
PY
ROWS=$(($(wc -l < "$APPS") - 1))
step cards-apply "$ROWS" "$BIN" --db "$DB" cards apply --file "$APPS" --by bench
step cards-export "$ROWS" "$BIN" --db "$DB" --json cards export --outbox "$WORK/out" --by bench
mapfile -t FILES < <(python3 -c "import json; [print(b['file']) for b in json.load(open('$WORK/cards-export.out'))['batches']]")
mapfile -t BATCHES < <(python3 -c "import json; [print(b['batch_no']) for b in json.load(open('$WORK/cards-export.out'))['batches']]")
for f in "${FILES[@]}"; do "$BIN" bank simulate "$WORK/out/$f" --out "$WORK/ret" --fail-rate 0.02 > /dev/null; done
step cards-import "$ROWS" "$BIN" --db "$DB" cards import "$WORK"/ret/*.ret
MADE=$(grep -o '[0-9]* cards made' "$WORK/cards-import.out" | awk '{s += $1} END {print s}')
step cards-activate "$MADE" bash -c 'for b in "${@:3}"; do "$1" --db "$2" cards activate --batch "$b" --by bench; done' \
    _ "$BIN" "$DB" "${BATCHES[@]}"
echo "work dir kept: $WORK (remove it when done)"
