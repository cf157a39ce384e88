# Helpers sourced by bench/run.sh. Not meant to be run alone.
# shellcheck shell=bash

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$BENCH_DIR/.." && pwd)"
OUT="${BENCH_OUT:-$BENCH_DIR/out}"
RES="$OUT/results"
DOC="${BENCH_DOC:-$ROOT/docs/PERFORMANCE.md}"

N="${BENCH_COUNT:-1000000}"       # DIDs in the data set
RUNS="${BENCH_RUNS:-3}"            # timed runs of each side; the median is reported
PGHOST="${PGHOST:-127.0.0.1}"
PGPORT="${PGPORT:-5432}"
PGUSER="${PGUSER:-root}"
# didhub's PostgreSQL client speaks plain TCP (sqlx without a TLS feature); psql and pgbench
# would negotiate TLS with a server that has `ssl = on` (libpq's sslmode=prefer), charging the
# baselines an encryption didhub does not pay. Both sides use the same transport.
PGSSLMODE="${PGSSLMODE:-disable}"
export PGHOST PGPORT PGUSER PGSSLMODE
PG_BASE="postgres://$PGUSER@$PGHOST:$PGPORT"
DB_DIDHUB="bench_didhub"           # didhub's database; kept loaded for export and list
DB_COPY="bench_copy"               # the baselines' database
CONC="${BENCH_CONCURRENCY:-8}"     # list: concurrent clients
LIST_SECS="${BENCH_LIST_SECONDS:-30}"
LIST_WARMUP="${BENCH_LIST_WARMUP:-5}"
LIST_PORT="${BENCH_PORT:-18088}"

BIN="$OUT/bin/didhub"              # a private copy: the shared target dir may be rebuilt mid-run
DATA_CSV="$OUT/numbers.csv"
DATA_TXT="$OUT/numbers.txt"

log() { printf '\033[1m[bench]\033[0m %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Wall-clock seconds of a command, with peak RSS, by GNU time -v.
# usage: timed NAME cmd args...   (stdout/stderr of cmd go to $OUT/logs/NAME.{out,err})
# sets: T_SECS (wall, from a monotonic clock), T_RSS_KB (peak RSS of the process tree's
# biggest process, as GNU time reports it), T_CPU (user + system seconds)
timed() {
    local name="$1"; shift
    mkdir -p "$OUT/logs"
    local tv="$OUT/logs/$name.time"
    local t0 t1
    # A previous run's output is removed outside the timed window: truncating a large file
    # on open costs the kernel a tenth of a second that belongs to neither side.
    rm -f "$OUT/logs/$name.out"
    t0=$(date +%s%N)
    if ! /usr/bin/time -v -o "$tv" "$@" >"$OUT/logs/$name.out" 2>"$OUT/logs/$name.err"; then
        t1=$(date +%s%N)
        log "$name failed; see $OUT/logs/$name.err"
        tail -5 "$OUT/logs/$name.err" >&2
        return 1
    fi
    t1=$(date +%s%N)
    T_SECS=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", (b-a)/1e9}')
    T_RSS_KB=$(awk -F': ' '/Maximum resident set size/{print $2}' "$tv")
    T_CPU=$(cpu_secs "$tv")
}

# User + system CPU seconds of a command, from GNU time -v's report: less skewed than wall
# time by other work on a busy machine.
cpu_secs() { awk -F': ' '/User time|System time/{s += $2} END{printf "%.2f", s}' "$1"; }

# Like timed, but the command's stdin is a file.
timed_stdin() {
    local name="$1" input="$2"; shift 2
    mkdir -p "$OUT/logs"
    local tv="$OUT/logs/$name.time"
    local t0 t1
    # A previous run's output is removed outside the timed window: truncating a large file
    # on open costs the kernel a tenth of a second that belongs to neither side.
    rm -f "$OUT/logs/$name.out"
    t0=$(date +%s%N)
    if ! /usr/bin/time -v -o "$tv" "$@" <"$input" >"$OUT/logs/$name.out" 2>"$OUT/logs/$name.err"; then
        log "$name failed; see $OUT/logs/$name.err"
        tail -5 "$OUT/logs/$name.err" >&2
        return 1
    fi
    t1=$(date +%s%N)
    T_SECS=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", (b-a)/1e9}')
    T_RSS_KB=$(awk -F': ' '/Maximum resident set size/{print $2}' "$tv")
}

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END{ if (NR%2) print a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2 }'; }
maxof() { printf '%s\n' "$@" | sort -g | tail -1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b>0) printf "%.2f", a/b; else print "n/a" }'; }
# pass_le VALUE LIMIT / pass_ge VALUE LIMIT / pass_lt VALUE LIMIT → PASS or FAIL
pass_le() { awk -v a="$1" -v b="$2" 'BEGIN{ print (a<=b) ? "PASS" : "FAIL" }'; }
pass_lt() { awk -v a="$1" -v b="$2" 'BEGIN{ print (a<b) ? "PASS" : "FAIL" }'; }
pass_ge() { awk -v a="$1" -v b="$2" 'BEGIN{ print (a>=b) ? "PASS" : "FAIL" }'; }
mb() { awk -v k="$1" 'BEGIN{printf "%.1f", k/1024}'; }

psql_q() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }
recreate_db() {
    dropdb --if-exists "$1"
    createdb "$1"
}

# Other processes on the machine skew every figure; say so in the results.
load_note() {
    local la
    la=$(cut -d' ' -f1-3 /proc/loadavg)
    echo "$la"
}
# BENCH_WAIT_QUIET=SECONDS: first wait up to that long for the 1-minute load average to
# drop below half the cores.
warn_if_busy() {
    local l1 waited=0 limit="${BENCH_WAIT_QUIET:-0}"
    l1=$(cut -d' ' -f1 /proc/loadavg)
    while ((waited < limit)) && awk -v l="$l1" -v c="$(nproc)" 'BEGIN{exit !(l > c*0.5)}'; do
        ((waited == 0)) && log "waiting up to ${limit}s for the machine to quiet down (load $l1)"
        sleep 10; waited=$((waited + 10))
        l1=$(cut -d' ' -f1 /proc/loadavg)
    done
    if awk -v l="$l1" -v c="$(nproc)" 'BEGIN{exit !(l > c*0.5)}'; then
        log "warning: load average $l1 on $(nproc) cores before '$1'; other work on the machine skews the figures"
    fi
}

# Waits (up to 120 s) until no autovacuum worker runs on the server. A million-row table
# written by one step is vacuumed and analyzed a minute later, on a core the next step may
# need: every timed PostgreSQL step starts after that work, whichever side it measures.
pg_settle() {
    local n waited=0
    while ((waited < 1200)); do
        n=$(psql -X -tA -d postgres -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'" 2>/dev/null || echo 0)
        ((n == 0)) && return 0
        sleep 0.1; waited=$((waited + 1))
    done
    log "warning: autovacuum still running after 120 s"
}

# Writes a results fragment and puts it into docs/PERFORMANCE.md between the markers
# <!-- bench:NAME --> and <!-- /bench:NAME -->.
publish() {
    local name="$1" file="$2"
    cat "$file"
    python3 "$BENCH_DIR/update_doc.py" "$DOC" "$name" "$file"
}

ensure_binary() {
    mkdir -p "$OUT/bin"
    if [[ "${BENCH_SKIP_BUILD:-0}" != 1 && -z "${BENCH_BIN:-}" ]]; then
        log "building didhub (cargo build --release --bin didhub)"
        (cd "$ROOT" && cargo build --release --bin didhub) >&2 || die "build failed"
    fi
    local src="${BENCH_BIN:-$ROOT/target/release/didhub}"
    [[ -x "$src" ]] || die "no $src; build it first"
    if [[ "$src" != "$BIN" ]]; then
        cp "$src" "$BIN.tmp" && touch -r "$src" "$BIN.tmp" && mv "$BIN.tmp" "$BIN"
    fi
}

ensure_data() {
    if [[ ! -s "$DATA_CSV" || ! -s "$OUT/prefixes.txt" ]] \
        || [[ "$(($(wc -l <"$DATA_CSV") - 1))" != "$N" ]]; then
        log "generating $N numbers (bench/gen_numbers.py; takes a minute or two)"
        python3 "$BENCH_DIR/gen_numbers.py" --count "$N" --out "$OUT" >&2 || die "generator failed"
    fi
}

# didhub's PostgreSQL database with the data set imported (untimed; for export and list).
ensure_pg_loaded() {
    local n
    n=$(psql -X -tA -d "$DB_DIDHUB" -c "SELECT count(*) FROM dids" 2>/dev/null || echo 0)
    if [[ "$n" != "$N" ]]; then
        log "loading $N DIDs into $DB_DIDHUB (untimed)"
        recreate_db "$DB_DIDHUB"
        "$BIN" --database-url "$PG_BASE/$DB_DIDHUB" migrate >/dev/null
        "$BIN" --database-url "$PG_BASE/$DB_DIDHUB" import "$DATA_CSV" --operator bench --json \
            >"$OUT/logs/load.json" || die "import failed"
    fi
    # Flushed now, so that a checkpoint of the load does not run under the measurements.
    psql_q -d "$DB_DIDHUB" -c "VACUUM ANALYZE dids" -c "CHECKPOINT" >/dev/null
}

# didhub's SQLite database with the data set imported (untimed; for the SQLite export).
ensure_sqlite_loaded() {
    local dir="$OUT/sqlite-didhub" n=0
    if [[ -f "$dir/didhub.sqlite3" ]]; then
        n=$(sqlite3 "$dir/didhub.sqlite3" "SELECT count(*) FROM dids" 2>/dev/null || echo 0)
    fi
    if [[ "$n" != "$N" ]]; then
        log "loading $N DIDs into SQLite (untimed)"
        rm -rf "$dir"
        "$BIN" --data-dir "$dir" migrate >/dev/null
        "$BIN" --data-dir "$dir" import "$DATA_CSV" --operator bench --json \
            >"$OUT/logs/load-sqlite.json" || die "import failed"
    fi
}

need() {
    local cmd="$1" pkg="$2"
    if ! command -v "$cmd" >/dev/null 2>&1; then
        log "$cmd missing; installing Debian package $pkg"
        (apt-get update -qq && apt-get install -y -qq "$pkg") >&2 || die "cannot install $pkg"
    fi
}
