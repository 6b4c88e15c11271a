#!/usr/bin/env bash
# Reconciling million-line return files, one per layout, on SQLite.
#
#   benches/reconcile.sh WORK_DIR
#
# WORK_DIR is one left by benches/month.sh (its onecard.db holds a city of a
# million persons with cards). A month pays only a few percent of a city, so
# to get million-line batches this script adds, in SQL, one approved run per
# layout whose batch pays every person with an active card once (an item and
# a payment each), exports them with `run export`, lets `bank simulate`
# answer (2% failed, 0.5% repeated), and times `reconcile` alone: seconds,
# CPU seconds (user + system: on a shared machine the steadier figure) and
# peak memory.
#
# Reconciling applies the returns: a second run on the same WORK_DIR finds
# them already applied. To measure again, keep a copy of onecard.db from
# before the first reconcile (after the setup and export) and put it back.
# The binary is built into CARGO_TARGET_DIR when that is set.
set -euo pipefail
WORK=${1:?usage: benches/reconcile.sh WORK_DIR (from benches/month.sh)}
cd "$(dirname "$0")/.."
cargo build --release --quiet
TARGET=${CARGO_TARGET_DIR:-target}
case "$TARGET" in /*) ;; *) TARGET="$PWD/$TARGET" ;; esac
BIN="$TARGET/release/onecard"
DBFILE="$WORK/onecard.db"
DB="sqlite://$DBFILE"
echo "onecard reconcile benchmark on $DBFILE; machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$DBFILE" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
now = "2099-01-01T00:00:00Z"
# Start over from an earlier, unfinished setup.
for t, col in [("payment_items", "payment_id IN (SELECT id FROM payments WHERE run_id LIKE 'R2099%')"), ("payments", "run_id LIKE 'R2099%'"),
               ("items", "first_run_id LIKE 'R2099%'"), ("batches", "run_id LIKE 'R2099%'"), ("runs", "run_id LIKE 'R2099%'")]:
    if not db.execute("SELECT 1 FROM batches WHERE run_id LIKE 'R2099%' AND state = 'exported'").fetchone():
        db.execute(f"DELETE FROM {t} WHERE {col}")
db.commit()
# A run holds persons whose name GBK cannot carry (they are paid only through ISO 20022); so does this setup.
def gbk_ok(name):
    try:
        name.encode("gbk")
        return True
    except UnicodeEncodeError:
        return False
db.execute("CREATE TEMP TABLE unencodable (person_id TEXT PRIMARY KEY)")
db.executemany("INSERT INTO unencodable VALUES (?)", [(p,) for p, n in db.execute("SELECT person_id, name FROM persons") if not gbk_ok(n)])
for i, (bank, layout) in enumerate([("102", "TXT-A"), ("103", "FIX-B"), ("104", "ISO20022")], start=1):
    run, batch, month = f"R2099{i:02d}-01", f"2099010{i}{bank}001", f"2099-{i:02d}"
    if db.execute("SELECT 1 FROM runs WHERE run_id = ?", (run,)).fetchone():
        continue
    db.execute("INSERT INTO runs (run_id, period, seq, state, created_by, created_at) VALUES (?, ?, 1, 'draft', 'bench-maker', ?)", (run, month, now))
    db.execute("INSERT INTO batches (batch_no, run_id, bank_code, layout, value_date, payment_count, amount_fen, state) VALUES (?, ?, ?, ?, '2099-01-02', 0, 0, 'scheduled')", (batch, run, bank, layout))
    db.execute("""INSERT INTO items (person_id, program, benefit_month, amount_fen, origin, state, first_run_id, created_at, updated_at)
                  SELECT c.person_id, 'temp_relief', ?, 10000 + (c.id % 500) * 100, 'relief', 'approved', ?, ?, ? FROM cards c WHERE c.state = 'active'
                  AND c.person_id NOT IN (SELECT person_id FROM unencodable)""", (month, run, now, now))
    db.execute("""INSERT INTO payments (run_id, batch_no, seq, serial_no, person_id, card_id, bank_code, account_no, account_name, amount_fen, remark, state, created_at)
                  SELECT ?, ?, ROW_NUMBER() OVER (ORDER BY c.person_id), ? || printf('%08d', ROW_NUMBER() OVER (ORDER BY c.person_id)), c.person_id, c.id, ?, c.account_no, p.name, 10000 + (c.id % 500) * 100, ? || ' 临时救助金', 'approved', ?
                  FROM cards c JOIN persons p ON p.person_id = c.person_id WHERE c.state = 'active'
                  AND c.person_id NOT IN (SELECT person_id FROM unencodable)""", (run, batch, batch, bank, month, now))
    db.execute("""INSERT INTO payment_items (payment_id, item_id, amount_fen) SELECT p.id, i.id, p.amount_fen FROM payments p
                  JOIN items i ON i.person_id = p.person_id AND i.program = 'temp_relief' AND i.benefit_month = ? WHERE p.run_id = ?""", (month, run))
    n, s = db.execute("SELECT COUNT(*), SUM(amount_fen) FROM payments WHERE run_id = ?", (run,)).fetchone()
    db.execute("UPDATE batches SET payment_count = ?, amount_fen = ? WHERE batch_no = ?", (n, s, batch))
    db.execute("UPDATE runs SET state = 'approved', approved_by = 'bench-checker', approved_at = ?, approved_count = ?, approved_amount_fen = ? WHERE run_id = ?", (now, n, s, run))
    db.commit()
    print(f"set up {run}: {n} payments in batch {batch} ({layout})")
PY
for i in 1 2 3; do
    RUN="R2099$(printf %02d $i)-01"
    /usr/bin/time -f "export %e s %M KB" "$BIN" --db "$DB" run export "$RUN" --outbox "$WORK/bench-outbox" > /dev/null
done
for REQ in "$WORK"/bench-outbox/102_TXTA_*.txt "$WORK"/bench-outbox/103_FIXB_*.dat "$WORK"/bench-outbox/104_PAIN001_*.xml; do
    rm -rf "$WORK/bench-returns-$(basename "$REQ")"
    "$BIN" bank simulate "$REQ" --out "$WORK/bench-returns-$(basename "$REQ")" --seed 5 --fail-rate 0.02 --duplicate-rate 0.005 > /dev/null
    RET=$(ls "$WORK/bench-returns-$(basename "$REQ")"/* | grep -v report)
    LINES=$(case "$RET" in *.xml) grep -c "<TxInfAndSts>" "$RET" ;; *) echo $(( $(wc -l < "$RET") - 1 )) ;; esac)
    /usr/bin/time -f "%e %U %S %M" -o "$WORK/time" "$BIN" --db "$DB" reconcile "$RET" > "$WORK/reconcile.out"
    read -r secs user sys kb < "$WORK/time"
    awk -v f="$(basename "$RET")" -v l="$LINES" -v s="$secs" -v u="$user" -v y="$sys" -v k="$kb" \
        'BEGIN { printf "reconcile %-42s %8d lines %7.2f s (%6.2f s cpu) %9.0f lines/s %6.0f MiB peak\n", f, l, s, u + y, l / s, k / 1024 }'
    sed 's/^/    /' "$WORK/reconcile.out"
done
