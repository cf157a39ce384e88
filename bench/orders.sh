#!/usr/bin/env bash
# Validating a porting order of 10,000 numbers (issue 19 §9: under 1 s). Run by hand:
#
#   bench/orders.sh
#
# Times `didhub orders check --json` on a GB full-porting order of 10,000 numbers: the whole
# command (process start, database open, every rule of the check, the inventory lookup of the
# 10,000 numbers), on SQLite and on PostgreSQL (database bench_orders) holding the
# benchmark's data set of a million DIDs when bench/out/numbers.csv exists (bench/run.sh
# makes it), else an empty inventory.
# Beside it, in the same run, the reference point of the check's costliest rule: Python
# phonenumbers parsing and validating the same 10,000 numbers (no other rule, no database).
# The result goes into docs/PERFORMANCE.md between <!-- bench:orders --> markers.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
mkdir -p "$OUT" "$RES" "$OUT/logs"
ensure_binary

ORDER="$OUT/porting-10000.json"
python3 - "$ORDER" <<'EOF'
import datetime, json, sys
# Valid London numbers, 020 7000 0000 onwards; a porting date 30 days ahead (after the lead).
numbers = [f"+4420700{n:05d}" for n in range(10000)]
day = datetime.date.today() + datetime.timedelta(days=30)
order = {
    "country": "GB", "service": "full_porting", "numbers": numbers,
    "preferred_date": day.isoformat(), "documents": ["loa", "invoice"],
    "address": {"street": "10 Downing Street", "city": "London", "postcode": "SW1A 2AA"},
    "submitted_at": datetime.datetime.now(datetime.timezone.utc).isoformat(),
}
json.dump(order, open(sys.argv[1], "w"))
EOF

run_check() { # NAME ARGS… : median of RUNS timed checks; sets MED
    local name="$1"; shift
    local ts=()
    for i in $(seq 1 "$RUNS"); do
        timed_stdin "orders-$name-$i" "$ORDER" "$BIN" "$@" orders check --json
        grep -q '"ok":true' "$OUT/logs/orders-$name-$i.out" || die "the order was refused: $(head -c 400 "$OUT/logs/orders-$name-$i.out")"
        ts+=("$T_SECS")
    done
    MED=$(median "${ts[@]}")
}

SQLITE_DIR="$OUT/orders-sqlite"
rm -rf "$SQLITE_DIR"
"$BIN" --data-dir "$SQLITE_DIR" operators list >/dev/null # created and migrated outside the timing
run_check sqlite --data-dir "$SQLITE_DIR"
T_SQLITE=$MED

PG_DB="bench_orders"
recreate_db "$PG_DB"
"$BIN" --database-url "$PG_BASE/$PG_DB" operators list >/dev/null
if [[ -s "$DATA_CSV" ]]; then
    log "loading the benchmark's numbers into $PG_DB (not timed)"
    "$BIN" --database-url "$PG_BASE/$PG_DB" import "$DATA_CSV" --operator Bench >/dev/null
fi
PG_DIDS=$(psql_q -d "$PG_DB" -tAc 'SELECT count(*) FROM dids')
run_check pg --database-url "$PG_BASE/$PG_DB"
T_PG=$MED

pyts=()
for i in $(seq 1 "$RUNS"); do
    timed "orders-py-$i" python3 -c '
import json, sys, phonenumbers
o = json.load(open(sys.argv[1]))
bad = [n for n in o["numbers"] if not phonenumbers.is_valid_number(phonenumbers.parse(n, None))]
assert not bad, bad[:3]
' "$ORDER"
    pyts+=("$T_SECS")
done
T_PY=$(median "${pyts[@]}")

frag="$RES/orders.md"
{
    echo "Porting order of 10,000 GB numbers, \`didhub orders check --json\`, median of $RUNS runs"
    echo "(whole process: start, database open, every rule, the inventory lookup):"
    echo
    echo "| | seconds | target | |"
    echo "|---|---|---|---|"
    echo "| didhub, SQLite (empty inventory) | $T_SQLITE | < 1 s | $(pass_lt "$T_SQLITE" 1) |"
    echo "| didhub, PostgreSQL ($PG_DIDS DIDs in the inventory) | $T_PG | < 1 s | $(pass_lt "$T_PG" 1) |"
    echo "| reference: Python phonenumbers validating the 10,000 numbers only | $T_PY | | |"
} >"$frag"
cat "$frag"
python3 "$BENCH_DIR/update_doc.py" "$DOC" orders "$frag"
