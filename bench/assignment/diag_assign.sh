#!/usr/bin/env bash
# Where the time of a single-DID assignment goes on the database side: pgbench at 32 clients
# runs variants of the statement sequence didhub sends (out/assign-full.pgbench, written by
# `run.sh assign`), each on its own slice of fresh in-stock DIDs, rounds alternating.
# Needs a finished `run.sh assign` (database bench4_assign, out/assign-full.pgbench). Resets
# bench4_assign's DIDs to in stock by SQL first. Output: out/results/diag-assign.md.
#
#   bench/assignment/diag_assign.sh [SECONDS (10)] [ROUNDS (2)]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
SECS="${1:-10}"
ROUNDS="${2:-2}"
CLIENTS="${A_CLIENTS:-32}"
db=bench4_assign
full="$OUT/assign-full.pgbench"
[[ -f "$full" ]] || die "run bench/assignment/run.sh assign first"

log "resetting $db (every DID back in stock)"
psql_q -d "$db" <<'SQL' >/dev/null
UPDATE dids SET status = 'in_stock', customer_id = NULL, client_package_id = NULL, destination = NULL, hold_until = NULL WHERE status <> 'in_stock';
TRUNCATE stock_blocks;
INSERT INTO stock_blocks (size, prefix, operator_id, country, number_type, free)
SELECT s.size, substr(number, 1, length(number) - length(s.size::text) + 1), operator_id, country, number_type, count(*)
FROM dids, (VALUES (100), (1000), (10000), (100000)) s(size) WHERE status = 'in_stock' GROUP BY 1, 2, 3, 4, 5;
VACUUM ANALYZE dids;
VACUUM ANALYZE stock_blocks;
VACUUM ANALYZE client_packages;
SQL

# Lines of assign-full.pgbench: 1-6 header (counters, client package of the client),
# 7 client package read, 8 package, 9 prices, 10 DID read (\gset d_id, d_number), 11 BEGIN,
# 12 client-package row lock, 13 allowance count, 14 UPDATE dids, 15 audit INSERT,
# 16 stock_blocks upsert, 17 COMMIT, 18 DID read again.
pick() { awk -v keep=",$1," 'index(keep, "," NR ",")' "$full"; }
mkdir -p "$OUT/diag"
V=(full tx_only tx_no_lock_count one_statement one_statement_counter one_statement_stock_100_1000 one_statement_no_stock bare)
pick 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18 >"$OUT/diag/full.pgbench"
pick 1,2,3,4,5,6,10,11,12,13,14,15,16,17 >"$OUT/diag/tx_only.pgbench"
pick 1,2,3,4,5,6,10,11,14,15,16,17 >"$OUT/diag/tx_no_lock_count.pgbench"
# One round trip in autocommit (the DID id looked up inside the statement, as the API gets it
# in the request): the UPDATE, its audit entry and the stock counts in one statement.
upd=$(sed -n 14p "$full" | sed 's/;$//; s/WHERE id = :d_id/WHERE id = (SELECT id FROM bench4_pool WHERE i = :r)/')
aud=$(sed -n 15p "$full" | sed 's/;$//; s/VALUES (/SELECT /; s/, NULL)$/, NULL FROM u/; s/:d_id, :d_number/u.id, u.number/')
stk=$(sed -n 16p "$full" | sed 's/;$//')
op=$(grep -o "'[0-9a-f-]\{36\}', 'FR'" <<<"$stk" | head -1 | cut -d"'" -f2)
stock() { echo "s AS (INSERT INTO stock_blocks (size, prefix, operator_id, country, number_type, free) SELECT z.size, substr(u.number, 1, length(u.number) - length(z.size::text) + 1), '$op', 'FR', 'fixed_line', -1 FROM u, (VALUES $1) z(size) ON CONFLICT (size, prefix, operator_id, country, number_type) DO UPDATE SET free = stock_blocks.free + excluded.free)"; }
all4="(100), (1000), (10000), (100000)"
{ pick 1,2,3,4,5,6; echo "WITH u AS ($upd RETURNING id, number), a AS ($aud), $(stock "$all4") SELECT count(*) FROM u;"; } >"$OUT/diag/one_statement.pgbench"
# Proposed: the allowance kept as a counter on the client package row (bench column
# bench_did_count, added to this bench database only): lock, check and count in one UPDATE.
{ pick 1,2,3,4,5,6; echo "WITH c AS (UPDATE client_packages SET bench_did_count = bench_did_count + 1 WHERE id = :cp AND bench_did_count + 1 <= 1000000 RETURNING id), u AS ($upd AND EXISTS (SELECT 1 FROM c) RETURNING id, number), a AS ($aud), $(stock "$all4") SELECT count(*) FROM u;"; } >"$OUT/diag/one_statement_counter.pgbench"
{ pick 1,2,3,4,5,6; echo "WITH u AS ($upd RETURNING id, number), a AS ($aud), $(stock "(100), (1000)") SELECT count(*) FROM u;"; } >"$OUT/diag/one_statement_stock_100_1000.pgbench"
{ pick 1,2,3,4,5,6; echo "WITH u AS ($upd RETURNING id, number), a AS ($aud) SELECT count(*) FROM u;"; } >"$OUT/diag/one_statement_no_stock.pgbench"
{ pick 1,2,3,4,5,6; echo "$upd;"; } >"$OUT/diag/bare.pgbench"
psql_q -d "$db" -c "ALTER TABLE client_packages ADD COLUMN IF NOT EXISTS bench_did_count bigint NOT NULL DEFAULT 0" >/dev/null

declare -A rates
slice=0
la=$(loadavg)
for round in $(seq 1 "$ROUNDS"); do
    for v in "${V[@]}"; do
        base=$((slice * 50000)); slice=$((slice + 1))
        before=$(psql_v -d "$db" -c "SELECT count(*) FROM dids WHERE client_package_id IN (SELECT cp FROM bench4_cps)")
        pgbench -n -M prepared -c "$CLIENTS" -j 2 -T "$SECS" -D k=0 -D loaded=0 -D base="$base" -D stride=1500 \
            -f "$OUT/diag/$v.pgbench" "$db" >"$OUT/diag/$v-$round.out" 2>&1 || die "$v: $(grep -m2 error "$OUT/diag/$v-$round.out")"
        after=$(psql_v -d "$db" -c "SELECT count(*) FROM dids WHERE client_package_id IN (SELECT cp FROM bench4_cps)")
        rate=$(awk -v n="$((after - before))" -v s="$SECS" 'BEGIN{printf "%.0f", n/s}')
        rates[$v]+="$rate "
        log "round $round $v: $rate assignments/s"
    done
done
{
    echo "Database-side cost of one single-DID assignment: pgbench -M prepared -c $CLIENTS -j 2, $SECS s per variant, $ROUNDS rounds alternating (median), each client its own client package, fresh in-stock DIDs (\`bench/assignment/diag_assign.sh\`). Load average at start: $la."
    echo
    echo "| variant | statements (round trips per assignment) | assignments/s (median) | runs |"
    echo "|---|---|---:|---|"
    desc() {
        case $1 in
            full) echo "didhub's sequence today: 4 reads, BEGIN, lock, count, UPDATE, audit, stock upsert, COMMIT, read (12 round trips)";;
            tx_only) echo "DID read + the transaction only: BEGIN, lock, count, UPDATE, audit, stock, COMMIT (8)";;
            tx_no_lock_count) echo "DID read + BEGIN, UPDATE, audit, stock, COMMIT: no client-package lock, no count (6)";;
            one_statement) echo "one statement: UPDATE … RETURNING, audit INSERT and stock upsert (4 levels) as CTEs (1)";;
            one_statement_counter) echo "the same plus the allowance as a counter column on the client package row, checked and bumped in the statement (1)";;
            one_statement_stock_100_1000) echo "one statement, stock counts kept for blocks of 100 and 1,000 only (1)";;
            one_statement_no_stock) echo "one statement: UPDATE … RETURNING and audit INSERT, no stock counts (1)";;
            bare) echo "the bare conditional UPDATE (1)";;
        esac
    }
    for v in "${V[@]}"; do
        # shellcheck disable=SC2086
        echo "| $v | $(desc "$v") | $(median ${rates[$v]}) | ${rates[$v]}|"
    done
} >"$RES/diag-assign.md"
cat "$RES/diag-assign.md"
