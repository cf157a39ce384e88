#!/usr/bin/env bash
# The support desk's at-risk list under load (issue 20 §7: p99 ≤ 20 ms through the API on
# PostgreSQL, with 1,000,000 tickets of which 10,000 await their first response). By hand:
#
#   bench/support.sh
#
# Fills database bench_support (migrated by didhub) with 1,000,000 tickets straight by SQL:
# 990,000 answered and closed over the past year, 10,000 open and unanswered whose deadlines
# spread evenly from 12 hours ago to 36 hours ahead, half critical; then serves it and runs
# wrk (bench/at_risk.lua: GET /api/v1/support/at-risk with a support user's token) at
# BENCH_CONCURRENCY connections for BENCH_LIST_SECONDS, BENCH_RUNS times after a warm-up.
# Beside it, the list's SQL alone by pgbench (-M prepared, same clients), for reference.
# The results go to bench/out/results/support.md (the figure to docs/PERFORMANCE.md's table
# and bench/JOURNAL.md by hand).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
mkdir -p "$OUT" "$RES" "$OUT/logs"
need wrk wrk
ensure_binary

DB="bench_support"
TICKETS="${BENCH_TICKETS:-1000000}"
OPEN="${BENCH_OPEN_TICKETS:-10000}"
PORT="${BENCH_PORT:-18089}"
URL="$PG_BASE/$DB"

recreate_db "$DB"
"$BIN" --database-url "$URL" migrate >/dev/null
log "seeding $TICKETS tickets ($OPEN awaiting their first response; untimed)"
psql_q -d "$DB" <<SQL
INSERT INTO partners (id, name, created_at, updated_at) VALUES
    ('00000000-0000-7000-8000-000000000001', 'Bench partner', now(), now());
-- Answered and closed: created over the past year, answered within the hour.
INSERT INTO tickets (id, ref, partner_id, subject, kind, topic, channel, state, class, criterion,
    class_set_by, details, centre, first_response_due, first_response_at, sla_month, created_by,
    created_at, updated_at, closed_at)
SELECT gen_random_uuid(), g, '00000000-0000-7000-8000-000000000001', 'Ticket ' || g,
    'non_technical', 'billing', 'portal', 'closed', 'standard', NULL, 'partner', '{}', 'europe',
    c + interval '8 hours', c + interval '40 minutes', to_char(c, 'YYYY-MM'), 'bench', c, c, c + interval '1 day'
FROM (SELECT g, now() - interval '1 year' + (g * interval '31 seconds') AS c
      FROM generate_series(1, $TICKETS - $OPEN) g) s;
-- Open and unanswered: deadlines from 12 hours ago to 36 hours ahead, half of them critical.
INSERT INTO tickets (id, ref, partner_id, subject, kind, topic, channel, state, class, criterion,
    class_set_by, details, centre, first_response_due, sla_month, created_by, created_at, updated_at)
SELECT gen_random_uuid(), $TICKETS - $OPEN + g, '00000000-0000-7000-8000-000000000001', 'Open ' || g,
    'non_technical', 'billing', 'portal', 'open',
    CASE WHEN g % 2 = 0 THEN 'critical' ELSE 'standard' END,
    CASE WHEN g % 2 = 0 THEN 'cloud_unreachable' END, 'partner', '{}', 'europe',
    now() - interval '12 hours' + (g * interval '48 hours' / $OPEN), to_char(now(), 'YYYY-MM'),
    'bench', now() - interval '1 day', now()
FROM generate_series(1, $OPEN) g;
-- Their SLA alerts as a running desk would have mailed them already (the alerter would
-- otherwise mail thousands of old ones during the run).
UPDATE tickets SET sla_alert = CASE WHEN first_response_due <= now() THEN 'breached' ELSE 'at_risk' END
WHERE first_response_at IS NULL AND first_response_due <= now() + interval '2 hours';
SELECT setval('tickets_ref_seq', $TICKETS);
VACUUM ANALYZE tickets;
CHECKPOINT;
SQL

"$BIN" --database-url "$URL" users create --email bench-support@example.com --role support >/dev/null
TOKEN=$("$BIN" --database-url "$URL" token create --name "bench-$(date +%s)" --user bench-support@example.com | tail -1)
[[ "$TOKEN" == dh_* ]] || die "token create printed no token"

stop() {
    if [[ -n "${SERVER_PID:-}" ]]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    SERVER_PID=
}
trap stop EXIT
"$BIN" --database-url "$URL" serve --listen "127.0.0.1:$PORT" >"$OUT/logs/support-serve.out" 2>"$OUT/logs/support-serve.err" &
SERVER_PID=$!
for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
ITEMS=$(curl -fsS -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT/api/v1/support/at-risk" | jq length) \
    || die "the at-risk list failed"
BYTES=$(curl -fsS -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT/api/v1/support/at-risk" | wc -c)
log "sample: $ITEMS tickets at risk ($BYTES bytes)"

# The statement the list runs (support/sla.rs: SUMMARY_SELECT + AWAITING + the windows).
cat >"$OUT/at_risk.sql" <<'SQL'
SELECT t.id, t.ref AS number, t.partner_id, t.customer_id, t.subject, t.state, t.class, t.centre, t.assignee_id, t.first_response_due, t.created_at FROM tickets t WHERE t.first_response_at IS NULL AND t.state <> 'closed' AND t.first_response_due > now() AND t.first_response_due <= now() + interval '2 hours' AND ((t.class = 'critical' AND t.first_response_due <= now() + interval '15 minutes') OR (t.class = 'standard' AND t.first_response_due <= now() + interval '2 hours')) ORDER BY t.first_response_due, t.id;
SQL
psql_q -d "$DB" -c "EXPLAIN (ANALYZE, BUFFERS) $(cat "$OUT/at_risk.sql")" >"$OUT/logs/at_risk.plan"

export BENCH_TOKEN="$TOKEN"
WRK=(wrk -t 2 -c "$CONC" --timeout 10s -s "$BENCH_DIR/at_risk.lua" "http://127.0.0.1:$PORT")
PGB=(pgbench -n -M prepared -c "$CONC" -j 2 -f "$OUT/at_risk.sql" "$DB")
warn_if_busy support
log "warm-up: ${LIST_WARMUP}s each"
"${WRK[@]}" -d "${LIST_WARMUP}s" >/dev/null
"${PGB[@]}" -T "$LIST_WARMUP" >/dev/null 2>&1
api=(); sql=(); lines=()
for i in $(seq 1 "$RUNS"); do
    pg_settle
    log "run $i/$RUNS: pgbench, $CONC clients, ${LIST_SECS}s"
    rm -f "$OUT"/pgb-support-log*
    (cd "$OUT" && "${PGB[@]}" -T "$LIST_SECS" --log --log-prefix=pgb-support-log >"$OUT/logs/support-pgbench-$i.out" 2>&1) \
        || die "pgbench failed"
    s=$(python3 "$BENCH_DIR/percentiles.py" "$OUT"/pgb-support-log*)
    sql+=("$(sed -E 's/.* p99=([0-9.]+).*/\1/' <<<"$s")")
    pg_settle
    log "run $i/$RUNS: wrk, $CONC connections, ${LIST_SECS}s"
    w=$("${WRK[@]}" -d "${LIST_SECS}s" | tee "$OUT/logs/support-wrk-$i.out" | grep '^RESULT') || die "wrk failed"
    grep -q ' non2xx=0 errors=0' <<<"$w" || die "requests failed: $w"
    api+=("$(sed -E 's/.* p99=([0-9.]+).*/\1/' <<<"$w")")
    lines+=("run $i — API (wrk): ${w#RESULT }; SQL (pgbench): $s")
done
stop
a=$(median "${api[@]}"); q=$(median "${sql[@]}")
frag="$RES/support.md"
{
    echo "At-risk list on $TICKETS tickets ($OPEN awaiting a first response; $ITEMS at risk, $BYTES bytes of JSON), PostgreSQL, $CONC connections, ${LIST_SECS} s a run, median p99 of $RUNS runs; load average at start: $(load_note); $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git -C "$ROOT" rev-parse --short HEAD)."
    echo
    echo "| measurement | didhub API (wrk) | the SQL alone (pgbench) | target | result |"
    echo "|---|---:|---:|---:|:---:|"
    echo "| p99 latency of \`GET /api/v1/support/at-risk\` | $a ms | $q ms | ≤ 20 ms | $(pass_le "$a" 20) |"
    echo
    for l in "${lines[@]}"; do echo "- $l"; done
    echo
    echo "Plan of the list's statement: \`$(grep -m1 -o 'Index Scan using [a-z_]*' "$OUT/logs/at_risk.plan" || echo 'see logs/at_risk.plan')\`."
} >"$frag"
cat "$frag"
