# Helpers sourced by bench/assignment/run.sh. Not meant to be run alone.
# shellcheck shell=bash

A_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$A_DIR/../.." && pwd)"
OUT="${A_OUT:-$A_DIR/out}"
RES="$OUT/results"
RESULTS_MD="${A_RESULTS:-$A_DIR/RESULTS.md}"

PGHOST="${PGHOST:-127.0.0.1}"
PGPORT="${PGPORT:-5432}"
PGUSER="${PGUSER:-root}"
# didhub's PostgreSQL client speaks plain TCP (sqlx without a TLS feature); psql and pgbench
# would negotiate TLS with a server that has `ssl = on` (libpq's sslmode=prefer), charging the
# baselines an encryption the API does not pay. Both sides use the same transport.
PGSSLMODE="${PGSSLMODE:-disable}"
export PGHOST PGPORT PGUSER PGSSLMODE
PG_BASE="postgres://$PGUSER@$PGHOST:$PGPORT"

BIN="$OUT/bin/didhub"                       # private copy: the shared target dir is rebuilt by others
LOADGEN="$OUT/loadgen-target/release/didhub-assign-loadgen"
RUNS="${A_RUNS:-3}"                          # alternating runs per side; medians reported
POOL_SIZE="${A_POOL_SIZE:-16}"               # didhub --pool-size (its default is 16)

# Numbers: French geographic +33 1 4x xx xx xx (all valid fixed_line, checked by
# `didhub numbers classify` before import). BASE + i for i in [0, count).
NUM_BASE=33140000000

log() { printf '\033[1m[bench4]\033[0m %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
psql_q() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }
psql_v() { psql -X -qtA -v ON_ERROR_STOP=1 "$@"; }

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END{ if (NR%2) print a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b>0) printf "%.2f", a/b; else print "n/a" }'; }
pass_le() { awk -v a="$1" -v b="$2" 'BEGIN{ print (a<=b) ? "PASS" : "FAIL" }'; }
pass_lt() { awk -v a="$1" -v b="$2" 'BEGIN{ print (a<b) ? "PASS" : "FAIL" }'; }
pass_ge() { awk -v a="$1" -v b="$2" 'BEGIN{ print (a>=b) ? "PASS" : "FAIL" }'; }
fmt() { awk -v a="$1" -v p="${2:-2}" 'BEGIN{ printf "%.*f", p, a }'; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

need() {
    local cmd="$1" pkg="$2"
    if ! command -v "$cmd" >/dev/null 2>&1; then
        log "$cmd missing; installing Debian package $pkg"
        (apt-get update -qq && apt-get install -y -qq "$pkg") >&2 || die "cannot install $pkg"
    fi
}

ensure_binary() {
    mkdir -p "$OUT/bin"
    if [[ "${A_SKIP_BUILD:-0}" != 1 && -z "${A_BIN:-}" ]]; then
        log "building didhub (cargo build --release --bin didhub)"
        (cd "$ROOT" && cargo build --release --bin didhub) >&2 || die "build failed"
    fi
    local src="${A_BIN:-$ROOT/target/release/didhub}"
    [[ -x "$src" ]] || die "no $src; build it first"
    cp "$src" "$BIN.tmp" && touch -r "$src" "$BIN.tmp" && mv "$BIN.tmp" "$BIN"
}

ensure_loadgen() {
    if [[ ! -x "$LOADGEN" || "$A_DIR/loadgen/src/main.rs" -nt "$LOADGEN" ]]; then
        log "building the load generator (bench/assignment/loadgen, outside the workspace)"
        (cd "$A_DIR/loadgen" && CARGO_TARGET_DIR="$OUT/loadgen-target" cargo build --release --quiet) >&2 \
            || die "loadgen build failed"
    fi
}

# numbers_csv FILE COUNT: header `number`, then ranges of at most 100,000 from NUM_BASE.
numbers_csv() {
    local file="$1" count="$2"
    python3 - "$file" "$count" "$NUM_BASE" <<'EOF'
import sys
f, count, base = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with open(f, "w") as o:
    o.write("number\n")
    i = 0
    while i < count:
        n = min(100_000, count - i)
        o.write(f"+{base + i}-+{base + i + n - 1}\n" if n > 1 else f"+{base + i}\n")
        i += n
EOF
}

# check_numbers COUNT: every number must be valid FR fixed_line for didhub's own classifier.
check_numbers() {
    local count="$1" f="$OUT/check-$1.txt"
    [[ -f "$OUT/check-$1.ok" ]] && return 0
    log "checking $count numbers with didhub numbers classify"
    python3 -c "
import sys
b=$NUM_BASE
w=sys.stdout.write
for i in range($count): w('+%d\n' % (b+i))" >"$f"
    local bad
    bad=$("$BIN" numbers classify <"$f" | grep -vc '"country":"FR".*"type":"fixed_line"\|"type":"fixed_line".*"country":"FR"' || true)
    rm -f "$f"
    [[ "$bad" == 0 ]] || die "$bad numbers are not valid FR fixed_line; see didhub numbers classify"
    touch "$OUT/check-$1.ok"
}

# load_db DB COUNT: fresh database with COUNT numbers imported; sets IMPORT_SECS.
load_db() {
    local db="$1" count="$2" csv="$OUT/numbers-$2.csv"
    [[ -f "$csv" ]] || numbers_csv "$csv" "$count"
    check_numbers "$count"
    dropdb --if-exists "$db"
    createdb "$db"
    "$BIN" --database-url "$PG_BASE/$db" migrate >/dev/null
    log "importing $count DIDs into $db"
    local t0 t1
    t0=$(date +%s%N)
    "$BIN" --database-url "$PG_BASE/$db" import "$csv" --operator Bench --json >"$OUT/logs/import-$db.json" \
        2>"$OUT/logs/import-$db.err" || die "import into $db failed; see $OUT/logs/import-$db.err"
    t1=$(date +%s%N)
    IMPORT_SECS=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", (b-a)/1e9}')
    echo "$IMPORT_SECS" >"$OUT/import-$db.secs"
    psql_q -d "$db" -c "VACUUM ANALYZE" >/dev/null
    "$BIN" --database-url "$PG_BASE/$db" token create --name bench 2>/dev/null | tail -1 | tr -d '[:space:]' >"$OUT/token-$db"
    [[ -s "$OUT/token-$db" ]] || die "no token for $db"
}

db_count() { psql_v -d "$1" -c "SELECT count(*) FROM dids" 2>/dev/null || echo 0; }

# start_server DB PORT: serves DB on PORT in the background; sets SERVER_PID.
start_server() {
    local db="$1" port="$2"
    # In a session of its own, as a service runs (and as PostgreSQL does here): the kernel's
    # autogroup scheduling then shares the CPU between it and the load generator's session
    # the way it does for the database and pgbench.
    DIDHUB_LOG=warn setsid "$BIN" --database-url "$PG_BASE/$db" --pool-size "$POOL_SIZE" \
        serve --listen "127.0.0.1:$port" >"$OUT/logs/serve-$db.log" 2>&1 &
    SERVER_PID=$!
    echo "$SERVER_PID" >>"$OUT/servers.pids"
    for _ in $(seq 1 300); do
        curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && return 0
        kill -0 "$SERVER_PID" 2>/dev/null || die "didhub serve for $db exited; see $OUT/logs/serve-$db.log"
        sleep 0.2
    done
    die "didhub serve for $db did not come up"
}

stop_server() {
    local pid="$1"
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

stop_all_servers() {
    if [[ -f "$OUT/servers.pids" ]]; then
        while read -r p; do
            kill "$p" 2>/dev/null || true
        done <"$OUT/servers.pids"
        rm -f "$OUT/servers.pids"
    fi
}

# api METHOD URL TOKEN [JSON]: prints the body; dies on a non-2xx answer.
api() {
    local method="$1" url="$2" token="$3" body="${4:-}" out code
    out=$(mktemp)
    if [[ -n "$body" ]]; then
        code=$(curl -sS -o "$out" -w '%{http_code}' -X "$method" -H "authorization: Bearer $token" \
            -H 'content-type: application/json' --data "$body" "$url")
    else
        code=$(curl -sS -o "$out" -w '%{http_code}' -X "$method" -H "authorization: Bearer $token" "$url")
    fi
    if [[ "$code" != 2* ]]; then
        log "$method $url → $code: $(head -c 400 "$out")"
        rm -f "$out"
        return 1
    fi
    cat "$out"
    rm -f "$out"
}

# setup_customer URL TOKEN NAME ALLOWANCE: creates partner, customer, package; prints
# "customer_id package_id".
setup_customer() {
    local url="$1" token="$2" name="$3" allowance="$4" partner customer package
    partner=$(api POST "$url/api/v1/partners" "$token" "{\"name\":\"$name partner\"}" | jq -r .id)
    customer=$(api POST "$url/api/v1/customers" "$token" "{\"partner_id\":\"$partner\",\"name\":\"$name customer\"}" | jq -r .id)
    package=$(api POST "$url/api/v1/packages" "$token" "{\"name\":\"$name package\",\"did_allowance\":$allowance,\"country\":\"FR\",\"number_type\":\"fixed_line\",\"prices\":[]}" | jq -r .id)
    [[ "$customer" =~ ^[0-9a-f-]{36}$ && "$package" =~ ^[0-9a-f-]{36}$ ]] || die "setup of $name failed"
    echo "$customer $package"
}

# new_cps URL TOKEN CUSTOMER PACKAGE N FILE: N fresh client packages, ids into FILE.
new_cps() {
    local url="$1" token="$2" customer="$3" package="$4" n="$5" file="$6"
    : >"$file"
    for _ in $(seq 1 "$n"); do
        api POST "$url/api/v1/client-packages" "$token" \
            "{\"customer_id\":\"$customer\",\"package_id\":\"$package\",\"start_date\":\"2026-11-01\"}" | jq -r .id >>"$file"
    done
}

# pgbench_pcts LOGPREFIX: p50 p95 p99 (ms) over every transaction of pgbench --log files.
pgbench_pcts() {
    cat "$1".* | python3 -c '
import sys
v = sorted(int(l.split()[2]) for l in sys.stdin if l.strip())
def p(q):
    import math
    return v[max(1, math.ceil(q / 100 * len(v))) - 1] / 1000
print(f"{p(50):.3f} {p(95):.3f} {p(99):.3f} {len(v)}")'
}

# One line naming the binary a benchmark ran (HEAD and its uncommitted changes at run time).
bin_note() {
    local commit dirty
    commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo "?")
    dirty=$(git -C "$ROOT" status --porcelain -- crates Cargo.toml Cargo.lock 2>/dev/null | wc -l)
    echo "Binary: didhub built $(date -u -r "$BIN" '+%Y-%m-%d %H:%M UTC'), HEAD $commit$([[ $dirty != 0 ]] && echo " + $dirty uncommitted changes under crates/") at run time."
}

machine_md() {
    local commit dirty
    commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo "?")
    dirty=$(git -C "$ROOT" status --porcelain -- crates Cargo.toml Cargo.lock 2>/dev/null | wc -l)
    echo "| | |"
    echo "|---|---|"
    echo "| last invocation | $(date -u '+%Y-%m-%d %H:%M UTC'), commit $commit$([[ $dirty != 0 ]] && echo " + $dirty uncommitted changes under crates/") |"
    echo "| CPU | $(nproc) cores, $(lscpu | awk -F: '/Model name/{gsub(/^ +/,"",$2); print $2; exit}') (shared with other sessions' builds and tests) |"
    echo "| memory | $(free -g | awk '/Mem:/{print $2}') GiB |"
    echo "| kernel | $(uname -sr) |"
    echo "| didhub (last invocation; each section names its binary) | $("$BIN" --version 2>/dev/null), release profile, binary built $(date -u -r "$BIN" '+%Y-%m-%d %H:%M UTC'), \`--pool-size $POOL_SIZE\` |"
    echo "| PostgreSQL | $(psql -X -tA -d postgres -c 'SHOW server_version' | cut -d' ' -f1), same host; shared_buffers $(psql -X -tA -d postgres -c 'SHOW shared_buffers'), synchronous_commit $(psql -X -tA -d postgres -c 'SHOW synchronous_commit'), fsync $(psql -X -tA -d postgres -c 'SHOW fsync'), max_connections $(psql -X -tA -d postgres -c 'SHOW max_connections'), max_wal_size $(psql -X -tA -d postgres -c 'SHOW max_wal_size'), port $PGPORT; clients connect with sslmode=$PGSSLMODE (the server's ssl = $(psql -X -tA -d postgres -c 'SHOW ssl')) |"
    echo "| pgbench | $(pgbench --version | awk '{print $3}') |"
    echo "| wrk | $(wrk --version 2>&1 | head -1 | awk '{print $2}') |"
    echo "| load generator | bench/assignment/loadgen (Rust, tokio + reqwest, keep-alive connections) |"
}
