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
V=(full no_stock_blocks tx_only tx_update_audit_stock tx_update_audit one_statement one_statement_no_stock bare)
pick 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18 >"$OUT/diag/full.pgbench"
pick 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,17,18 >"$OUT/diag/no_stock_blocks.pgbench"
pick 1,2,3,4,5,6,10,11,12,13,14,15,16,17 >"$OUT/diag/tx_only.pgbench"
pick 1,2,3,4,5,6,10,11,14,15,16,17 >"$OUT/diag/tx_update_audit_stock.pgbench"
pick 1,2,3,4,5,6,10,11,14,15,17 >"$OUT/diag/tx_update_audit.pgbench"
# One round trip: the UPDATE, its audit entry and the stock counts in one statement.
upd=$(sed -n 14p "$full" | sed 's/;$//')
aud=$(sed -n 15p "$full" | sed 's/;$//; s/VALUES (/SELECT /; s/, NULL)$/, NULL FROM u/; s/:d_id, :d_number/u.id, u.number/')
stk=$(sed -n 16p "$full" | sed 's/;$//')
op=$(grep -o "'[0-9a-f-]\{36\}', 'FR'" <<<"$stk" | head -1 | cut -d"'" -f2)
{
    pick 1,2,3,4,5,6,10
    echo "WITH u AS ($upd RETURNING id, number), a AS ($aud), s AS (INSERT INTO stock_blocks (size, prefix, operator_id, country, number_type, free) SELECT z.size, substr(u.number, 1, length(u.number) - length(z.size::text) + 1), '$op', 'FR', 'fixed_line', -1 FROM u, (VALUES (100), (1000), (10000), (100000)) z(size) ON CONFLICT (size, prefix, operator_id, country, number_type) DO UPDATE SET free = stock_blocks.free + excluded.free) SELECT count(*) FROM u;"
} >"$OUT/diag/one_statement.pgbench"
{
    pick 1,2,3,4,5,6,10
    echo "WITH u AS ($upd RETURNING id, number), a AS ($aud) SELECT count(*) FROM u;"
} >"$OUT/diag/one_statement_no_stock.pgbench"
{
    pick 1,2,3,4,5,6
    echo "UPDATE dids SET status = 'assigned', customer_id = :cust, client_package_id = :cp, destination = 'x', updated_at = now(), version = version + 1 WHERE id = (SELECT id FROM bench4_pool WHERE i = :r) AND status = 'in_stock';"
} >"$OUT/diag/bare.pgbench"

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
    echo "| variant | statements (round trips) | assignments/s (median) | runs |"
    echo "|---|---|---:|---|"
    desc() {
        case $1 in
            full) echo "didhub's sequence: 4 reads, BEGIN, lock, count, UPDATE, audit, stock upsert, COMMIT, read (12)";;
            no_stock_blocks) echo "the same without the stock_blocks upsert (11)";;
            tx_only) echo "DID read + the transaction only: BEGIN, lock, count, UPDATE, audit, stock, COMMIT (8)";;
            tx_update_audit_stock) echo "DID read + BEGIN, UPDATE, audit, stock, COMMIT: no lock, no count (6)";;
            tx_update_audit) echo "DID read + BEGIN, UPDATE, audit, COMMIT (5)";;
            one_statement) echo "DID read + one statement: UPDATE … RETURNING, audit INSERT and stock upsert as CTEs (2)";;
            one_statement_no_stock) echo "DID read + one statement: UPDATE … RETURNING and audit INSERT (2)";;
            bare) echo "the bare UPDATE (1)";;
        esac
    }
    for v in "${V[@]}"; do
        # shellcheck disable=SC2086
        echo "| $v | $(desc "$v") | $(median ${rates[$v]}) | ${rates[$v]}|"
    done
} >"$RES/diag-assign.md"
cat "$RES/diag-assign.md"
