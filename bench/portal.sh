# The portal's DID list benchmark (issue 21 §3: "the DID list page on 1,000,000 DIDs renders
# server-side with p99 ≤ 50 ms at 8 clients on PostgreSQL"), sourced by bench/run.sh:
# `bench/run.sh portal`.
#
# The same tool and data as the API list benchmark (bench_list): the load generator's closed
# loop (bench/assignment/loadgen `routing --rate 0 --paths`), BENCH_CONCURRENCY clients, a
# random prefix of bench/out/prefixes.txt each request, every latency as measured. Side by
# side in the same run: the portal page `/dids?prefix=P` (signed in with a session cookie:
# the session check, the list of 50 with the count, the filter form with the operators, the
# HTML) and the API's `GET /api/v1/dids?prefix=P&limit=50` (a bearer token, JSON), the same
# page of DIDs without the page around it.
# shellcheck shell=bash

bench_portal() {
    ensure_pg_loaded
    need jq jq
    local LOADGEN="$BENCH_DIR/assignment/out/loadgen-target/release/didhub-assign-loadgen"
    if [[ ! -x "$LOADGEN" || "$BENCH_DIR/assignment/loadgen/src/main.rs" -nt "$LOADGEN" ]]; then
        log "building the load generator (bench/assignment/loadgen)"
        (cd "$BENCH_DIR/assignment/loadgen" && CARGO_TARGET_DIR="$BENCH_DIR/assignment/out/loadgen-target" cargo build --release --quiet) >&2 \
            || die "loadgen build failed"
    fi
    local url="$PG_BASE/$DB_DIDHUB" pf="$OUT/prefixes.txt"
    local email="bench-$(date +%s)@example.com" password="bench-portal-$RANDOM-$RANDOM"
    "$BIN" --database-url "$url" users create --email "$email" --role admin --password-stdin \
        <<<"$password" >/dev/null 2>&1 || die "users create failed"
    local token
    token=$("$BIN" --database-url "$url" token create --name "bench-$(date +%s)" 2>/dev/null | tail -1)
    [[ "$token" == dh_* ]] || die "token create printed no token"

    log "starting didhub serve on 127.0.0.1:$LIST_PORT"
    trap stop_server EXIT
    "$BIN" --database-url "$url" serve --listen "127.0.0.1:$LIST_PORT" \
        >"$OUT/logs/serve-portal.out" 2>"$OUT/logs/serve-portal.err" &
    SERVER_PID=$!
    for _ in $(seq 1 100); do
        curl -fsS "http://127.0.0.1:$LIST_PORT/healthz" >/dev/null 2>&1 && break
        sleep 0.1
    done
    # A session as the portal's sign-in opens it (the API's login: the same session row).
    local cookie
    cookie=$(curl -fsS -D - -o /dev/null -H 'content-type: application/json' \
        -d "{\"email\":\"$email\",\"password\":\"$password\"}" \
        "http://127.0.0.1:$LIST_PORT/api/v1/auth/login" \
        | tr -d '\r' | sed -nE 's/^[Ss]et-[Cc]ookie: (didhub_session=[^;]*).*/\1/p' | head -1)
    [[ "$cookie" == didhub_session=?* ]] || die "login set no session cookie"

    sed 's/+/%2B/; s|^|/dids?prefix=|' "$pf" >"$OUT/portal-paths.txt"
    sed 's/+/%2B/; s|^|/api/v1/dids?limit=50\&prefix=|' "$pf" >"$OUT/portal-api-paths.txt"
    local first bytes
    first=$(head -1 "$OUT/portal-paths.txt")
    bytes=$(curl -fsS -H "Cookie: $cookie" "http://127.0.0.1:$LIST_PORT$first" | wc -c) \
        || die "portal page failed"
    log "sample: $first → $bytes bytes"

    warn_if_busy portal
    local run_page=("$LOADGEN" routing --url "http://127.0.0.1:$LIST_PORT" --cookie "$cookie" --rate 0 --conns "$CONC")
    local run_api=("$LOADGEN" routing --url "http://127.0.0.1:$LIST_PORT" --token "$token" --rate 0 --conns "$CONC")
    log "warm-up: ${LIST_WARMUP}s each"
    "${run_page[@]}" --seconds "$LIST_WARMUP" --paths "$OUT/portal-paths.txt" >/dev/null
    "${run_api[@]}" --seconds "$LIST_WARMUP" --paths "$OUT/portal-api-paths.txt" >/dev/null
    local page_p99=() api_p99=() page_lines=() api_lines=()
    local summary='def ms: . * 1000 | round / 1000; "count=\(.latency.n) requests_per_s=\(.requests_per_s|floor) p50=\(.latency.p50_ms|ms) p99=\(.latency.p99_ms|ms) max=\(.latency.max_ms|ms)"'
    for i in $(seq 1 "$RUNS"); do
        pg_settle
        log "portal run $i/$RUNS: the DID list page, $CONC clients, ${LIST_SECS}s"
        "${run_page[@]}" --seconds "$LIST_SECS" --paths "$OUT/portal-paths.txt" >"$OUT/portal-page-$i.json" \
            || die "loadgen failed"
        [[ "$(jq -r '.non_2xx_or_errors' "$OUT/portal-page-$i.json")" == 0 ]] \
            || die "page requests failed: $(cat "$OUT/portal-page-$i.json")"
        page_p99+=("$(jq -r '.latency.p99_ms' "$OUT/portal-page-$i.json" | xargs printf '%.3f')")
        page_lines+=("$(jq -r "$summary" "$OUT/portal-page-$i.json")")
        pg_settle
        log "portal run $i/$RUNS: the API's page of 50, $CONC clients, ${LIST_SECS}s"
        "${run_api[@]}" --seconds "$LIST_SECS" --paths "$OUT/portal-api-paths.txt" >"$OUT/portal-api-$i.json" \
            || die "loadgen failed"
        [[ "$(jq -r '.non_2xx_or_errors' "$OUT/portal-api-$i.json")" == 0 ]] \
            || die "API requests failed: $(cat "$OUT/portal-api-$i.json")"
        api_p99+=("$(jq -r '.latency.p99_ms' "$OUT/portal-api-$i.json" | xargs printf '%.3f')")
        api_lines+=("$(jq -r "$summary" "$OUT/portal-api-$i.json")")
    done
    stop_server
    trap - EXIT

    local p a
    p=$(median "${page_p99[@]}"); a=$(median "${api_p99[@]}")
    local frag="$RES/portal.md"
    {
        echo "The portal's DID list page on $N DIDs (PostgreSQL), $CONC concurrent clients, ${LIST_SECS} s a run after a ${LIST_WARMUP} s warm-up, median p99 of $RUNS runs; load average at start: $(load_note). A random prefix of \`bench/out/prefixes.txt\` each request (as the API list benchmark), by \`bench/assignment/loadgen routing --rate 0 --paths\` (closed loop, every latency as measured). A page was $bytes bytes."
        echo
        echo "| measurement | portal \`/dids?prefix=P\` (session cookie) | API \`/api/v1/dids?limit=50&prefix=P\` (token), same run | ratio | target | result |"
        echo "|---|---:|---:|---:|---:|:---:|"
        echo "| p99 latency | $p ms | $a ms | $(ratio "$p" "$a")× | ≤ 50 ms | $(pass_le "$p" 50) |"
        echo
        local runs=""
        for i in $(seq 1 "$RUNS"); do
            runs+="run $i — page: ${page_lines[$((i - 1))]}; API: ${api_lines[$((i - 1))]}. "
        done
        echo "Per run (ms): ${runs% }"
    } >"$frag"
    publish portal "$frag"
}
