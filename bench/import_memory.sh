#!/usr/bin/env bash
# Peak memory of imports of hostile and large files (issue 18, points 1 and 2). Run by hand:
#
#   bench/import_memory.sh
#
# Files (bench/gen_hostile_xlsx.py, written to bench/out/memory/):
# - notes.xlsx: 300,000 rows of one number repeated, each with the same 3,000-character note;
# - far.xlsx: a header, two numbers and one cell at XFD1048576 (the sheet declares the grid);
# - big.csv: 2,000,000 distinct London numbers with a 100-character note each (about 230 MB,
#   under the API's 256 MiB upload limit).
# Measured: peak RSS of `didhub import` (GNU time -v) on SQLite, and the peak RSS (VmHWM) of
# `didhub serve` over three concurrent dry-run uploads of notes.xlsx, then one of big.csv.
# Prints a table and puts it into docs/PERFORMANCE.md (<!-- bench:import-memory -->).
#
# Environment as bench/run.sh (BENCH_SKIP_BUILD=1, BENCH_BIN=PATH, BENCH_OUT); BENCH_PORT
# (default 18089).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need() { command -v "$1" >/dev/null || die "$1 is needed"; }
need /usr/bin/time
need curl

M="$OUT/memory"
mkdir -p "$M" "$OUT/logs"
ensure_binary
PORT="${BENCH_PORT:-18089}"

[[ -s "$M/notes.xlsx" ]] || python3 "$BENCH_DIR/gen_hostile_xlsx.py" notes "$M/notes.xlsx" 300000
[[ -s "$M/far.xlsx" ]] || python3 "$BENCH_DIR/gen_hostile_xlsx.py" far "$M/far.xlsx"
if [[ ! -s "$M/big.csv" ]]; then
    log "writing $M/big.csv (2,000,000 rows)"
    python3 - "$M/big.csv" <<'EOF'
import sys
note = "n" * 100
with open(sys.argv[1], "w") as f:
    f.write("number,notes\n")
    for i in range(2_000_000):
        f.write(f"+4420{30000000 + i},{note}\n")
EOF
fi
size_mb() { awk -v b="$(stat -c %s "$1")" 'BEGIN{printf "%.1f", b/1048576}'; }

# CLI, SQLite, a fresh data directory each.
cli() {
    local name="$1" file="$2"; shift 2
    rm -rf "$M/data-$name"
    "$BIN" --data-dir "$M/data-$name" migrate >/dev/null 2>&1
    # Exit 2 (rows rejected) is an answer, not a failure, here.
    timed "mem-$name" bash -c '"$@"; rc=$?; [[ $rc == 0 || $rc == 2 ]]' _ \
        "$BIN" --data-dir "$M/data-$name" import "$file" --operator bench --json "$@"
}

rows=()
add() { rows+=("| $1 | $2 | $3 | $4 | $5 |"); }

cli notes-dry "$M/notes.xlsx" --dry-run
rep=$(stat -c %s "$OUT/logs/mem-notes-dry.out")
add "\`didhub import notes.xlsx --dry-run\` (300,000 rows, $(size_mb "$M/notes.xlsx") MB)" "$(mb "$T_RSS_KB") MB" "$T_SECS s" "report $rep bytes, rejected_total $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["rejected_total"])' "$OUT/logs/mem-notes-dry.out")" "$(pass_lt "$(mb "$T_RSS_KB")" 300)"
cli notes-import "$M/notes.xlsx" --skip-invalid --rejects "$M/rejects.csv"
add "\`didhub import notes.xlsx --skip-invalid --rejects R.csv\`" "$(mb "$T_RSS_KB") MB" "$T_SECS s" "$(($(wc -l <"$M/rejects.csv") - 1)) rows in R.csv" "$(pass_lt "$(mb "$T_RSS_KB")" 300)"
cli far-dry "$M/far.xlsx" --dry-run
add "\`didhub import far.xlsx --dry-run\` (cell XFD1048576, $(stat -c %s "$M/far.xlsx") bytes)" "$(mb "$T_RSS_KB") MB" "$T_SECS s" "$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print("rejected row", r["rejected"][0]["row"], r["rejected"][0]["reason"])' "$OUT/logs/mem-far-dry.out")" "$(pass_lt "$(mb "$T_RSS_KB")" 300)"
cli big-dry "$M/big.csv" --dry-run
add "\`didhub import big.csv --dry-run\` (2,000,000 rows, $(size_mb "$M/big.csv") MB)" "$(mb "$T_RSS_KB") MB" "$T_SECS s" "valid $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["valid"])' "$OUT/logs/mem-big-dry.out")" "$(pass_lt "$(mb "$T_RSS_KB")" 300)"

# The API: one server, its peak RSS after each step.
rm -rf "$M/data-serve"
"$BIN" --data-dir "$M/data-serve" migrate >/dev/null 2>&1
token=$("$BIN" --data-dir "$M/data-serve" token create --name bench 2>/dev/null | tail -1)
"$BIN" --data-dir "$M/data-serve" serve --listen "127.0.0.1:$PORT" >"$OUT/logs/mem-serve.out" 2>"$OUT/logs/mem-serve.err" &
SERVER_PID=$!
trap 'kill $SERVER_PID 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
    sleep 0.1
done
hwm() { awk '/VmHWM/{print $2}' "/proc/$SERVER_PID/status"; }
upload() {
    curl -sS -o "$1" -w '%{http_code}' -H "Authorization: Bearer $token" \
        -F "file=@$2" -F operator=bench -F dry_run=true "http://127.0.0.1:$PORT/api/v1/dids/import"
}
base=$(hwm)
t0=$(date +%s%N)
pids=()
for i in 1 2 3; do
    upload "$M/api-notes-$i.json" "$M/notes.xlsx" >"$M/api-notes-$i.code" &
    pids+=($!)
done
wait "${pids[@]}"
t1=$(date +%s%N)
codes=$(for i in 1 2 3; do printf '%s ' "$(cat "$M/api-notes-$i.code")"; done)
add "\`POST /api/v1/dids/import\` notes.xlsx dry run, 3 at once (server's peak)" "$(mb "$(hwm)") MB" "$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", (b-a)/1e9}') s" "HTTP ${codes% }, report $(stat -c %s "$M/api-notes-1.json") bytes; idle server $(mb "$base") MB" "$(pass_lt "$(mb "$(hwm)")" 300)"
code=$(upload "$M/api-big.json" "$M/big.csv")
add "\`POST /api/v1/dids/import\` big.csv dry run, next (server's peak so far)" "$(mb "$(hwm)") MB" "—" "HTTP $code, valid $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["valid"])' "$M/api-big.json")" "$(pass_lt "$(mb "$(hwm)")" 300)"
kill "$SERVER_PID" 2>/dev/null || true
wait "$SERVER_PID" 2>/dev/null || true
trap - EXIT

frag="$OUT/results/import-memory.md"
mkdir -p "$OUT/results"
{
    echo "Peak memory of imports (issue 18): \`bench/import_memory.sh\`, $("$BIN" --version), SQLite; load average at start: $(load_note). Target: peak RSS under 300 MB for any file the upload limit (256 MiB) allows."
    echo
    echo "| import | peak RSS | wall | answer | < 300 MB |"
    echo "|---|---:|---:|---|:---:|"
    printf '%s\n' "${rows[@]}"
} >"$frag"
publish import-memory "$frag"
