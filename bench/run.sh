#!/usr/bin/env bash
# didhub benchmarks (issue 2 §7). Run by hand, not in CI:
#
#   bench/run.sh [import|export|classify|list|all|machine|clean]
#   bench/run.sh mail     (the outbox, issue 19: bench/mail.sh; not part of `all`)
#   bench/run.sh portal   (the portal's DID list page, issue 21: bench/portal.sh; not in `all`)
#
# Each benchmark measures didhub and its baseline in the same run, on the same data, prints a
# markdown table and puts it into docs/PERFORMANCE.md (between <!-- bench:NAME --> markers).
#
# Needs: PostgreSQL on 127.0.0.1:5432 (trust auth; PGUSER root), psql, pgbench, python3 with
# phonenumbers, and these Debian packages, installed here with apt-get when missing:
# sqlite3 (import baseline), time (/usr/bin/time -v: peak RSS), wrk (HTTP load for list).
#
# Environment (defaults in bench/lib.sh): BENCH_COUNT (1000000), BENCH_RUNS (3 timed runs
# per side, median reported), BENCH_CONCURRENCY (8), BENCH_LIST_SECONDS (30),
# BENCH_SKIP_BUILD=1 (use target/release/didhub as it is), BENCH_BIN=PATH (benchmark that
# binary instead), BENCH_WAIT_QUIET=SECONDS (wait that long at most for the load average to
# drop before each benchmark), PGHOST/PGPORT/PGUSER.
#
# Data and logs go to bench/out/ (gitignored). Databases: bench_didhub, bench_copy;
# `bench/run.sh clean` drops them and removes bench/out/ except the generated numbers.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

mkdir -p "$OUT" "$RES" "$OUT/logs"

# --------------------------------------------------------------------------------------
machine() {
    local f="$RES/machine.md" commit dirty
    commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo "?")
    dirty=$(git -C "$ROOT" status --porcelain -- crates Cargo.toml Cargo.lock 2>/dev/null | wc -l)
    {
        echo "Last run: $(date -u '+%Y-%m-%d %H:%M UTC'), commit $commit$([[ $dirty != 0 ]] && echo " (with $dirty uncommitted changes under crates/)")."
        echo
        echo "| | |"
        echo "|---|---|"
        echo "| CPU | $(nproc) cores, $(lscpu | awk -F: '/Model name/{gsub(/^ +/,"",$2); print $2; exit}') |"
        echo "| memory | $(free -g | awk '/Mem:/{print $2}') GiB |"
        echo "| kernel | $(uname -sr) |"
        echo "| didhub | $("$BIN" --version 2>/dev/null), release profile, binary built $(date -u -r "$BIN" '+%Y-%m-%d %H:%M UTC') |"
        echo "| rustc | $(rustc --version 2>/dev/null | cut -d' ' -f2) |"
        echo "| PostgreSQL | $(psql -X -tA -d postgres -c 'SHOW server_version' | cut -d' ' -f1) (server), shared_buffers $(psql -X -tA -d postgres -c 'SHOW shared_buffers'), synchronous_commit $(psql -X -tA -d postgres -c 'SHOW synchronous_commit'), fsync $(psql -X -tA -d postgres -c 'SHOW fsync'), max_wal_size $(psql -X -tA -d postgres -c 'SHOW max_wal_size'), port $PGPORT; clients connect with sslmode=$PGSSLMODE (the server's ssl = $(psql -X -tA -d postgres -c 'SHOW ssl')) |"
        echo "| tools | psql / pgbench $(psql --version | awk '{print $3}') / $(pgbench --version | awk '{print $3}'), sqlite3 $(sqlite3 --version | cut -d' ' -f1), Python / phonenumbers $(python3 --version | cut -d' ' -f2) / $(python3 -c 'import phonenumbers; print(phonenumbers.__version__)'), wrk $(wrk --version 2>&1 | head -1 | awk '{print $2}') |"
        echo "| data set | $N numbers, $(tail -n +2 "$DATA_CSV" | cut -c1-3 | sort -u | wc -l) leading-digit groups |"
        python3 - "$OUT/expected.csv" <<'EOF'
import csv, sys, collections
c, t = collections.Counter(), collections.Counter()
for r in csv.DictReader(open(sys.argv[1])):
    c[r["country"]] += 1; t[r["type"]] += 1
print("| by country (phonenumbers) |", ", ".join(f"{k} {v}" for k, v in sorted(c.items())), "|")
print("| by type (phonenumbers) |", ", ".join(f"{k} {v}" for k, v in sorted(t.items())), "|")
EOF
    } >"$f"
    publish machine "$f"
}

# --------------------------------------------------------------------------------------
# 1. Import: didhub import vs psql \copy (PostgreSQL) and sqlite3 .import + INSERT … SELECT (SQLite).
bench_import() {
    warn_if_busy import
    local pg_d=() pg_b=() pg_f=() sq_d=() sq_b=() sq_r=() sq_f=() rss_pg=() rss_sq=() cq_d=() cq_b=() cq_f=()
    local url="$PG_BASE/$DB_DIDHUB" full="$OUT/dids_full.copy"
    for i in $(seq 1 "$RUNS"); do
        log "import run $i/$RUNS: PostgreSQL baseline (psql \\copy, unique index on number)"
        recreate_db "$DB_COPY"
        psql_q -d "$DB_COPY" -c 'CREATE TABLE dids_copy (number text COLLATE "C" NOT NULL)' \
            -c 'CREATE UNIQUE INDEX dids_copy_number_key ON dids_copy (number)' -c 'CHECKPOINT'
        pg_settle
        timed "import-pg-copy-$i" psql -X -v ON_ERROR_STOP=1 -d "$DB_COPY" \
            -c "\\copy dids_copy (number) FROM '$DATA_CSV' WITH (FORMAT csv, HEADER true)"
        pg_b+=("$T_SECS")

        log "import run $i/$RUNS: PostgreSQL didhub import"
        recreate_db "$DB_DIDHUB"
        "$BIN" --database-url "$url" migrate >/dev/null
        psql_q -d "$DB_DIDHUB" -c 'CHECKPOINT'
        pg_settle
        timed "import-pg-didhub-$i" "$BIN" --database-url "$url" import "$DATA_CSV" --operator bench --json
        pg_d+=("$T_SECS"); rss_pg+=("$T_RSS_KB")
        grep -q "\"imported\":$N," "$OUT/logs/import-pg-didhub-$i.out" \
            || die "didhub import did not import $N rows: $(head -c 300 "$OUT/logs/import-pg-didhub-$i.out")"

        # Reference only: COPY of didhub's own rows (every column, in a database migrated by
        # didhub: same indexes and constraints) — what the database alone costs for them.
        psql_q -d "$DB_DIDHUB" -c "\\copy dids TO '$full'"
        recreate_db "$DB_COPY"
        "$BIN" --database-url "$PG_BASE/$DB_COPY" migrate >/dev/null
        psql_q -d "$DB_DIDHUB" -c "\\copy operators TO '$OUT/operators.copy'"
        psql_q -d "$DB_COPY" -c "\\copy operators FROM '$OUT/operators.copy'" -c 'CHECKPOINT'
        pg_settle
        timed "import-pg-fullcopy-$i" psql -X -v ON_ERROR_STOP=1 -d "$DB_COPY" -c "\\copy dids FROM '$full'"
        pg_f+=("$T_SECS")

        # The floor: the file into a TEMP table without an index, then into the indexed table by
        # one INSERT … SELECT in number order (so the index is built by appending). Without the
        # ORDER BY it took twice as long (random inserts into the index), and `.import` straight
        # into the indexed table (the old baseline, kept below as a reference) about 2.5 times.
        log "import run $i/$RUNS: SQLite baseline (sqlite3 .import into a TEMP table, INSERT … SELECT … ORDER BY number)"
        local sdb="$OUT/sqlite-baseline.db"
        new_sqlite_baseline "$sdb"
        timed "import-sqlite-import-$i" sqlite3 -bail "$sdb" 'PRAGMA synchronous=NORMAL;' \
            'CREATE TEMP TABLE dids_tmp (number TEXT NOT NULL);' \
            ".import --csv --skip 1 $DATA_CSV dids_tmp" \
            'INSERT INTO dids_import SELECT number FROM dids_tmp ORDER BY number;'
        sq_b+=("$T_SECS"); cq_b+=("$T_CPU")
        [[ "$(sqlite3 "$sdb" 'SELECT count(*) FROM dids_import')" == "$N" ]] || die "sqlite3 baseline lost rows"

        log "import run $i/$RUNS: SQLite reference (sqlite3 .import straight into the indexed table)"
        new_sqlite_baseline "$sdb"
        timed "import-sqlite-direct-$i" sqlite3 -bail "$sdb" 'PRAGMA synchronous=NORMAL;' \
            ".import --csv --skip 1 $DATA_CSV dids_import"
        sq_r+=("$T_SECS")
        [[ "$(sqlite3 "$sdb" 'SELECT count(*) FROM dids_import')" == "$N" ]] || die "sqlite3 .import lost rows"

        log "import run $i/$RUNS: SQLite didhub import"
        local dir="$OUT/sqlite-didhub"
        rm -rf "$dir"
        "$BIN" --data-dir "$dir" migrate >/dev/null
        timed "import-sqlite-didhub-$i" "$BIN" --data-dir "$dir" import "$DATA_CSV" --operator bench --json
        sq_d+=("$T_SECS"); rss_sq+=("$T_RSS_KB"); cq_d+=("$T_CPU")
        grep -q "\"imported\":$N," "$OUT/logs/import-sqlite-didhub-$i.out" \
            || die "didhub import (SQLite) did not import $N rows"

        # Reference only: sqlite3 copying the very rows didhub wrote (every column, in the order
        # it wrote them) into `dids` of another database migrated by didhub, with didhub's
        # settings (WAL, synchronous=NORMAL, foreign keys on, 16 MiB page cache) and its bulk
        # load (the number and `updated_at` indexes dropped in the transaction and built at
        # its end, sorter threads on): what SQLite alone costs for them, with no parsing.
        local rows_db="$OUT/sqlite-rows.db" ref="$OUT/sqlite-ref"
        rm -f "$rows_db"
        sqlite3 "$rows_db" "ATTACH '$dir/didhub.sqlite3' AS s" 'CREATE TABLE dids AS SELECT * FROM s.dids ORDER BY rowid'
        rm -rf "$ref"
        "$BIN" --data-dir "$ref" migrate >/dev/null
        sqlite3 "$ref/didhub.sqlite3" "ATTACH '$dir/didhub.sqlite3' AS s" 'INSERT INTO operators SELECT * FROM s.operators'
        timed "import-sqlite-rows-$i" sqlite3 -bail "$ref/didhub.sqlite3" 'PRAGMA synchronous=NORMAL;' \
            'PRAGMA foreign_keys=ON;' 'PRAGMA cache_size=-16384;' 'PRAGMA temp_store=memory;' \
            "ATTACH '$rows_db' AS r;" 'BEGIN;' 'DROP INDEX dids_number_key;' 'DROP INDEX dids_updated;' \
            'INSERT INTO dids SELECT * FROM r.dids;' 'PRAGMA threads=2;' \
            'CREATE UNIQUE INDEX dids_number_key ON dids (number);' \
            'CREATE INDEX dids_updated ON dids (updated_at);' 'COMMIT;'
        sq_f+=("$T_SECS"); cq_f+=("$T_CPU")
        rm -rf "$rows_db" "$ref"
    done
    dropdb --if-exists "$DB_COPY"

    local d b f r1 r2 r3 sd sb sr sf cd cb cf
    d=$(median "${pg_d[@]}"); b=$(median "${pg_b[@]}"); f=$(median "${pg_f[@]}")
    sd=$(median "${sq_d[@]}"); sb=$(median "${sq_b[@]}"); sr=$(median "${sq_r[@]}"); sf=$(median "${sq_f[@]}")
    r1=$(ratio "$d" "$b"); r2=$(ratio "$sd" "$sb"); r3=$(ratio "$d" "$f")
    cd=$(median "${cq_d[@]}"); cb=$(median "${cq_b[@]}"); cf=$(median "${cq_f[@]}")
    local frag="$RES/import.md"
    {
        echo "Import of $N DIDs from \`bench/out/numbers.csv\` (one column, \`number\`, E.164; shuffled). didhub: \`didhub import FILE --operator bench --json\` into a freshly migrated database (full validation and classification, one audit entry, one transaction), wall time of the whole command. Each timed PostgreSQL step starts after a \`CHECKPOINT\` with no autovacuum worker running (\`pg_settle\`). Median of $RUNS runs; load average at start: $(load_note)."
        echo
        echo "| measurement | didhub | baseline | ratio | target | result |"
        echo "|---|---:|---:|---:|---:|:---:|"
        echo "| PostgreSQL import | $d s | $b s (\`psql \\copy\` into \`dids_copy(number text COLLATE \"C\")\` with a unique index) | **$r1×** | ≤ 1.3× | $(pass_le "$r1" 1.3) |"
        echo "| SQLite import | $sd s | $sb s (\`sqlite3\`: \`.import --csv\` into a TEMP table \`dids_tmp(number TEXT)\` without an index, then \`INSERT INTO dids_import SELECT number FROM dids_tmp ORDER BY number\` into \`dids_import(number TEXT)\` with a unique index; WAL, synchronous=NORMAL) | **$r2×** | ≤ 1.5× | $(pass_le "$r2" 1.5) |"
        echo "| PostgreSQL import, reference only | $d s | $f s (\`psql \\copy\` of the very rows didhub wrote into \`dids\` of another database migrated by didhub) | $r3× | — | — |"
        echo "| SQLite import, reference only | $sd s | $sr s (\`sqlite3 .import --csv\` straight into the indexed \`dids_import\`: the baseline before 2026-12-06) | $(ratio "$sd" "$sr")× | — | — |"
        echo "| SQLite import, reference only: the same table and indexes | $sd s | $sf s (\`sqlite3\`: \`INSERT INTO dids SELECT * FROM\` the very rows didhub wrote, in its order, into another database migrated by didhub, bulk loaded as didhub does: number and \`updated_at\` indexes dropped, built at the end; foreign keys on, 16 MiB cache) | $(ratio "$sd" "$sf")× | — | — |"
        echo "| SQLite floor for didhub's rows: that reference against the baseline | $sf s | $sb s | $(ratio "$sf" "$sb")× | ≤ 1.5× for didhub | — |"
        echo "| SQLite import, CPU time (user + system) | $cd s | $cb s (the baseline above); $cf s (the same table and indexes) | $(ratio "$cd" "$cb")× / $(ratio "$cd" "$cf")× | — | — |"
        echo
        echo "Throughput: PostgreSQL $(awk -v n="$N" -v t="$d" 'BEGIN{printf "%.0f", n/t}') DIDs/s, SQLite $(awk -v n="$N" -v t="$sd" 'BEGIN{printf "%.0f", n/t}') DIDs/s. Peak RSS of didhub import: PostgreSQL $(mb "$(maxof "${rss_pg[@]}")") MB, SQLite $(mb "$(maxof "${rss_sq[@]}")") MB."
        echo
        echo "All runs (s): PostgreSQL didhub ${pg_d[*]}; \\copy ${pg_b[*]}; full-row \\copy ${pg_f[*]}; SQLite didhub ${sq_d[*]}; TEMP table + INSERT … SELECT ${sq_b[*]}; .import into the indexed table ${sq_r[*]}; didhub's rows by sqlite3 ${sq_f[*]}. SQLite CPU (s): didhub ${cq_d[*]}; baseline ${cq_b[*]}; didhub's rows by sqlite3 ${cq_f[*]}."
    } >"$frag"
    publish import "$frag"
}

# An empty SQLite database for the baseline: one indexed column, the journal settings of
# didhub's store (WAL here, synchronous=NORMAL by each timed command).
new_sqlite_baseline() {
    rm -f "$1" "$1-wal" "$1-shm"
    sqlite3 "$1" 'PRAGMA journal_mode=WAL;' \
        'CREATE TABLE dids_import (number TEXT NOT NULL);' \
        'CREATE UNIQUE INDEX dids_import_number_key ON dids_import (number);' >/dev/null
}

# --------------------------------------------------------------------------------------
# 2. Export: didhub export --output vs psql \copy (SELECT …) TO, peak RSS.
bench_export() {
    ensure_pg_loaded
    warn_if_busy export
    local url="$PG_BASE/$DB_DIDHUB" d=() b=() rss=() s=() sb=() srss=()
    # The same SELECT didhub's PostgreSQL export runs (crates/didhub-store/src/export.rs).
    local q="SELECT d.number, d.country, d.number_type, o.name, d.status, d.after_hold, d.tag, d.notes, to_char(d.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), to_char(d.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') FROM dids d JOIN operators o ON o.id = d.operator_id WHERE 1=1 ORDER BY d.number"
    # Warm the cache for both sides alike.
    psql_q -d "$DB_DIDHUB" -c "\\copy ($q) TO '/dev/null' WITH (FORMAT csv)"
    for i in $(seq 1 "$RUNS"); do
        log "export run $i/$RUNS: psql \\copy (SELECT …) TO"
        rm -f "$OUT/export-copy.csv" "$OUT/export-didhub.csv"
        timed "export-pg-copy-$i" psql -X -v ON_ERROR_STOP=1 -d "$DB_DIDHUB" \
            -c "\\copy ($q) TO '$OUT/export-copy.csv' WITH (FORMAT csv, HEADER true)"
        b+=("$T_SECS")
        log "export run $i/$RUNS: didhub export --output"
        timed "export-pg-didhub-$i" "$BIN" --database-url "$url" export --output "$OUT/export-didhub.csv"
        d+=("$T_SECS"); rss+=("$T_RSS_KB")
    done
    local lines_d lines_b
    lines_d=$(($(wc -l <"$OUT/export-didhub.csv") - 1)); lines_b=$(($(wc -l <"$OUT/export-copy.csv") - 1))
    [[ "$lines_d" == "$N" ]] || die "didhub exported $lines_d rows, not $N"
    local same="identical data rows"
    cmp -s <(tail -n +2 "$OUT/export-didhub.csv") <(tail -n +2 "$OUT/export-copy.csv") || same="data rows DIFFER"

    # SQLite: the same join by the sqlite3 shell (its times as stored; didhub rewrites them in
    # the export's format as it writes).
    ensure_sqlite_loaded
    local sdb="$OUT/sqlite-didhub/didhub.sqlite3"
    local sq="SELECT d.number, d.country, d.number_type, o.name, d.status, d.after_hold, d.tag, d.notes, d.created_at, d.updated_at FROM dids d JOIN operators o ON o.id = d.operator_id ORDER BY d.number"
    sqlite3 "$sdb" "$sq" >/dev/null
    for i in $(seq 1 "$RUNS"); do
        log "export run $i/$RUNS: SQLite (sqlite3 -csv vs didhub export)"
        timed "export-sqlite-cli-$i" sqlite3 -csv -header "$sdb" ".output $OUT/export-sqlite-cli.csv" "$sq"
        sb+=("$T_SECS")
        timed "export-sqlite-didhub-$i" "$BIN" --data-dir "$OUT/sqlite-didhub" export --output "$OUT/export-sqlite-didhub.csv"
        s+=("$T_SECS"); srss+=("$T_RSS_KB")
    done
    local slines
    slines=$(($(wc -l <"$OUT/export-sqlite-didhub.csv") - 1))
    [[ "$slines" == "$N" ]] || die "didhub exported $slines rows from SQLite, not $N"

    local md mb_ r rssmax smd smb sr srssmax
    md=$(median "${d[@]}"); mb_=$(median "${b[@]}"); r=$(ratio "$md" "$mb_")
    rssmax=$(maxof "${rss[@]}")
    smd=$(median "${s[@]}"); smb=$(median "${sb[@]}"); sr=$(ratio "$smd" "$smb"); srssmax=$(maxof "${srss[@]}")
    local frag="$RES/export.md"
    {
        echo "Export of all $N DIDs to a CSV file (\`didhub export --output FILE\`, whole command), against \`psql \\copy (SELECT …) TO FILE\` of the same SELECT didhub's COPY runs (join to operators, \`to_char\` timestamps, \`ORDER BY number\`). Output: $lines_d rows (didhub) / $lines_b rows (psql), $same; SQLite: $slines rows, against \`sqlite3 -csv -header\` of the same join and columns with \`.output FILE\` (times as stored). Peak RSS by \`/usr/bin/time -v\` (maximum over runs). Median of $RUNS runs; load average at start: $(load_note)."
        echo
        echo "| measurement | didhub | baseline | ratio | target | result |"
        echo "|---|---:|---:|---:|---:|:---:|"
        echo "| PostgreSQL export time | $md s | $mb_ s (\`psql \\copy (SELECT …) TO\`) | **$r×** | ≤ 1.5× | $(pass_le "$r" 1.5) |"
        echo "| PostgreSQL export peak RSS | $(mb "$rssmax") MB | — | — | < 64 MB | $(pass_lt "$rssmax" 65536) |"
        echo "| SQLite export time | $smd s | $smb s (\`sqlite3 -csv\` of the same join and columns, ORDER BY number, into a file) | **$sr×** | ≤ 1.5× | $(pass_le "$sr" 1.5) |"
        echo "| SQLite export peak RSS | $(mb "$srssmax") MB | — | — | < 64 MB | $(pass_lt "$srssmax" 65536) |"
        echo
        echo "All runs (s): didhub ${d[*]}; \\copy ${b[*]}; SQLite didhub ${s[*]}; sqlite3 ${sb[*]}. didhub RSS (KB): PostgreSQL ${rss[*]}; SQLite ${srss[*]}."
    } >"$frag"
    publish export "$frag"
}

# --------------------------------------------------------------------------------------
# 3. Classification: didhub numbers classify vs Python phonenumbers on the same numbers.
bench_classify() {
    warn_if_busy classify
    local d=() p=()
    for i in $(seq 1 "$RUNS"); do
        log "classify run $i/$RUNS: Python phonenumbers (parse + is_valid_number + number_type)"
        timed "classify-py-$i" python3 "$BENCH_DIR/classify_py.py" "$DATA_TXT"
        p+=("$T_SECS")
        log "classify run $i/$RUNS: didhub numbers classify"
        timed_stdin "classify-didhub-$i" "$DATA_TXT" "$BIN" numbers classify
        d+=("$T_SECS")
    done
    local agree
    agree=$(python3 "$BENCH_DIR/check_classify.py" "$OUT/expected.csv" "$OUT/logs/classify-didhub-1.out")
    local md mp td tp r
    md=$(median "${d[@]}"); mp=$(median "${p[@]}")
    td=$(awk -v n="$N" -v t="$md" 'BEGIN{printf "%.0f", n/t}')
    tp=$(awk -v n="$N" -v t="$mp" 'BEGIN{printf "%.0f", n/t}')
    r=$(ratio "$td" "$tp")
    local frag="$RES/classify.md"
    {
        echo "Classification of the same $N E.164 numbers (\`bench/out/numbers.txt\`). didhub: \`didhub numbers classify < FILE > out.jsonl\` (parse, validate, country and type, one JSON line written per number; whole command). Baseline: \`bench/classify_py.py\`, Python $(python3 --version | cut -d' ' -f2) with phonenumbers $(python3 -c 'import phonenumbers; print(phonenumbers.__version__)'): \`parse\` + \`is_valid_number\` + \`number_type\` per line, no output per number. Median of $RUNS runs; load average at start: $(load_note)."
        echo
        echo "| measurement | didhub | baseline | ratio | target | result |"
        echo "|---|---:|---:|---:|---:|:---:|"
        echo "| throughput | $td numbers/s ($md s) | $tp numbers/s ($mp s, Python phonenumbers) | **$r×** | ≥ 30× | $(pass_ge "$r" 30) |"
        echo
        echo "Agreement with phonenumbers on valid/country/type (untimed check, \`bench/check_classify.py\`): \`$(echo "$agree" | head -1)\`."
        if [[ $(echo "$agree" | wc -l) -gt 1 ]]; then
            echo
            echo '```'
            echo "$agree" | tail -n +2
            echo '```'
        fi
        echo
        echo "All runs (s): didhub ${d[*]}; Python ${p[*]}."
    } >"$frag"
    publish classify "$frag"
}

# --------------------------------------------------------------------------------------
# 4. Prefix-filtered list through the API vs the same SQL by pgbench, 8 clients.
SERVER_PID=""
stop_server() {
    if [[ -n "$SERVER_PID" ]]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=""
    fi
}

bench_list() {
    ensure_pg_loaded
    need jq jq
    # The load generator of bench/assignment (outside the workspace), built here once.
    local LOADGEN="$BENCH_DIR/assignment/out/loadgen-target/release/didhub-assign-loadgen"
    if [[ ! -x "$LOADGEN" || "$BENCH_DIR/assignment/loadgen/src/main.rs" -nt "$LOADGEN" ]]; then
        log "building the load generator (bench/assignment/loadgen)"
        (cd "$BENCH_DIR/assignment/loadgen" && CARGO_TARGET_DIR="$BENCH_DIR/assignment/out/loadgen-target" cargo build --release --quiet) >&2 \
            || die "loadgen build failed"
    fi
    local url="$PG_BASE/$DB_DIDHUB" pf="$OUT/prefixes.txt" sd="$OUT/pgbench"
    local token
    token=$("$BIN" --database-url "$url" token create --name "bench-$(date +%s)" 2>/dev/null | tail -1)
    [[ "$token" == dh_* ]] || die "token create printed no token"

    # One pgbench script per prefix, each the exact statement list_dids() builds for
    # ?prefix=P with the default limit 100 (crates/didhub-store/src/dids.rs, DID_SELECT +
    # push_filter + ORDER BY + LIMIT limit+1). pgbench picks one script per transaction.
    # The bounds are literals (pgbench variables are numbers only); sqlx binds them as $1/$2.
    rm -rf "$sd"; mkdir -p "$sd"
    local args=() k=0 p upper
    while read -r p; do
        [[ -z "$p" ]] && continue
        k=$((k + 1))
        upper=$(python3 -c 'import sys; p=sys.argv[1]; print(p[:-1] + chr(ord(p[-1]) + 1))' "$p")
        cat >"$sd/p$k.sql" <<EOF
SELECT d.id, d.number, d.country, d.number_type, d.operator_id, o.name AS operator, d.status, d.after_hold, d.tag, d.notes, d.created_at, d.updated_at, d.version FROM dids d JOIN operators o ON o.id = d.operator_id WHERE 1=1 AND d.number >= '$p' AND d.number < '$upper' ORDER BY d.number LIMIT 101;
EOF
        args+=(-f "$sd/p$k.sql")
    done <"$pf"
    ((k <= 128)) || die "pgbench takes at most 128 scripts"

    log "starting didhub serve on 127.0.0.1:$LIST_PORT"
    trap stop_server EXIT
    # Default logging (serve logs at info; per-request spans are debug).
    "$BIN" --database-url "$url" serve --listen "127.0.0.1:$LIST_PORT" \
        >"$OUT/logs/serve.out" 2>"$OUT/logs/serve.err" &
    SERVER_PID=$!
    for _ in $(seq 1 100); do
        curl -fsS "http://127.0.0.1:$LIST_PORT/healthz" >/dev/null 2>&1 && break
        sleep 0.1
    done
    local first
    first=$(head -1 "$pf")
    local sample
    sample=$(curl -fsS -H "Authorization: Bearer $token" "http://127.0.0.1:$LIST_PORT/api/v1/dids?prefix=${first/+/%2B}") \
        || die "list request failed"
    local items
    items=$(python3 -c 'import json,sys; print(len(json.load(sys.stdin)["items"]))' <<<"$sample")
    log "sample: prefix $first → $items items"

    warn_if_busy list
    local wrk_cmd=(wrk -t 2 -c "$CONC" --timeout 10s -s "$BENCH_DIR/list.lua" "http://127.0.0.1:$LIST_PORT")
    local pgb_cmd=(pgbench -n -M prepared -c "$CONC" -j 2 "${args[@]}" "$DB_DIDHUB")
    export BENCH_PREFIXES="$pf" BENCH_TOKEN="$token"
    log "warm-up: wrk and pgbench, ${LIST_WARMUP}s each"
    "${wrk_cmd[@]}" -d "${LIST_WARMUP}s" >/dev/null
    "${pgb_cmd[@]}" -T "$LIST_WARMUP" >/dev/null 2>&1

    # The headline compares like with like: the load generator's closed loop records every
    # request's latency as measured, as pgbench --log does. wrk is run too, but it corrects
    # its samples for coordinated omission before reporting (bench/assignment/latency_pcts.py),
    # so its p99 is set beside pgbench's log put through the same correction.
    sed 's/+/%2B/; s|^|/api/v1/dids?prefix=|' "$pf" >"$OUT/list-paths.txt"
    local api_p99=() sql_p99=() wrk_p99=() sqlw_p99=() api_lines=() sql_lines=() wrk_lines=()
    for i in $(seq 1 "$RUNS"); do
        pg_settle
        log "list run $i/$RUNS: pgbench, $CONC clients, ${LIST_SECS}s"
        rm -f "$sd"/log*
        (cd "$sd" && "${pgb_cmd[@]}" -T "$LIST_SECS" --log --log-prefix=log >"$OUT/logs/pgbench-$i.out" 2>&1) \
            || die "pgbench failed: $(tail -3 "$OUT/logs/pgbench-$i.out")"
        local s pw
        s=$(python3 "$BENCH_DIR/percentiles.py" "$sd"/log*)
        sql_lines+=("$s")
        sql_p99+=("$(sed -E 's/.* p99=([0-9.]+).*/\1/' <<<"$s")")
        pw=$(python3 "$BENCH_DIR/assignment/latency_pcts.py" "$LIST_SECS" "$CONC" "$sd"/log*) || die "latency_pcts failed"
        sqlw_p99+=("$(awk '{print $5}' <<<"$pw")")

        pg_settle
        log "list run $i/$RUNS: load generator against the API, $CONC connections, closed loop, ${LIST_SECS}s"
        "$LOADGEN" routing --url "http://127.0.0.1:$LIST_PORT" --token "$token" --rate 0 --conns "$CONC" \
            --seconds "$LIST_SECS" --paths "$OUT/list-paths.txt" --log "$OUT/list-api-$i.log" >"$OUT/list-api-$i.json" \
            || die "loadgen failed"
        [[ "$(jq -r '.non_2xx_or_errors' "$OUT/list-api-$i.json")" == 0 ]] || die "list requests failed: $(cat "$OUT/list-api-$i.json")"
        api_p99+=("$(jq -r '.latency.p99_ms' "$OUT/list-api-$i.json" | xargs printf '%.3f')")
        api_lines+=("$(jq -r 'def ms: . * 1000 | round / 1000; "count=\(.latency.n) requests_per_s=\(.requests_per_s|floor) p50=\(.latency.p50_ms|ms) p99=\(.latency.p99_ms|ms) p999=\(.latency.p999_ms|ms) max=\(.latency.max_ms|ms)"' "$OUT/list-api-$i.json")")

        pg_settle
        log "list run $i/$RUNS: wrk against the API, $CONC connections, ${LIST_SECS}s"
        local w
        w=$("${wrk_cmd[@]}" -d "${LIST_SECS}s" | tee "$OUT/logs/wrk-$i.out" | grep '^RESULT') || die "wrk failed"
        wrk_lines+=("${w#RESULT }")
        wrk_p99+=("$(sed -E 's/.* p99=([0-9.]+).*/\1/' <<<"$w")")
        grep -q ' non2xx=0 errors=0' <<<"$w" || log "warning: wrk saw errors: $w"
    done
    stop_server
    trap - EXIT

    local a q r wa wq
    a=$(median "${api_p99[@]}"); q=$(median "${sql_p99[@]}"); r=$(ratio "$a" "$q")
    wa=$(median "${wrk_p99[@]}"); wq=$(median "${sqlw_p99[@]}")
    local frag="$RES/list.md"
    {
        echo "First page of a prefix-filtered list on $N DIDs (PostgreSQL), $CONC concurrent clients, ${LIST_SECS} s a run after a ${LIST_WARMUP} s warm-up of each side, median p99 of $RUNS runs; load average at start: $(load_note). The $k prefixes (\`bench/out/prefixes.txt\`, 3 to 9 digits after the \`+\`, cut from random numbers of the set) are drawn at random for every request. Clients connect to PostgreSQL with sslmode=$PGSSLMODE, as didhub does."
        echo
        echo "- API: \`GET /api/v1/dids?prefix=P\` (default limit 100) with a bearer token, by \`bench/assignment/loadgen routing --rate 0 --paths\` ($CONC threads, one blocking keep-alive connection each, closed loop); every request's latency as measured. Each request costs the server a token lookup and the list query."
        echo "- SQL: the statement \`list_dids\` builds for that request (\`… WHERE 1=1 AND d.number >= P AND d.number < P' ORDER BY d.number LIMIT 101\`), by \`pgbench -M prepared -c $CONC -j 2\`, one script per prefix; every transaction's latency from \`pgbench --log\`."
        echo "- Also, after each load generator run: \`wrk\` $(wrk --version 2>&1 | head -1 | awk '{print $2}') (2 threads, $CONC connections) with \`bench/list.lua\`. wrk corrects its samples for coordinated omission before it reports; its p99 is set beside pgbench's log put through the same correction (\`bench/assignment/latency_pcts.py\`)."
        echo
        echo "| measurement | didhub API | baseline (pgbench, same SQL) | ratio | target | result |"
        echo "|---|---:|---:|---:|---:|:---:|"
        echo "| p99 latency, every request as measured | $a ms | $q ms | **$r×** | ≤ 3× | $(pass_le "$r" 3) |"
        echo "| p99 latency, absolute | $a ms | — | — | < 10 ms | $(pass_lt "$a" 10) |"
        echo "| p99 as wrk reports (wrk / pgbench's log with wrk's correction) | $wa ms | $wq ms | $(ratio "$wa" "$wq")× | — | — |"
        echo
        echo "Per run (latencies in ms):"
        echo
        for i in $(seq 1 "$RUNS"); do
            echo "- run $i — API (load generator): ${api_lines[$((i - 1))]}; SQL: ${sql_lines[$((i - 1))]}; API (wrk): ${wrk_lines[$((i - 1))]}; SQL with wrk's correction: p99=${sqlw_p99[$((i - 1))]}"
        done
    } >"$frag"
    publish list "$frag"
}

clean() {
    dropdb --if-exists "$DB_DIDHUB"
    dropdb --if-exists "$DB_COPY"
    rm -rf "$OUT/sqlite-didhub" "$OUT"/sqlite-baseline.db* "$OUT"/export-*.csv "$OUT/dids_full.copy" "$OUT/pgbench" "$OUT/bin"
    log "dropped $DB_DIDHUB, $DB_COPY; kept the generated numbers in $OUT"
}

# --------------------------------------------------------------------------------------
what="${1:-all}"
case "$what" in
    clean) clean; exit 0 ;;
    mail)
        source "$BENCH_DIR/mail.sh"
        ensure_binary
        bench_mail
        exit 0
        ;;
    portal)
        source "$BENCH_DIR/portal.sh"
        ensure_binary
        ensure_data
        bench_portal
        exit 0
        ;;
    import | export | classify | list | all | machine) ;;
    *) die "usage: bench/run.sh [import|export|classify|list|all|machine|clean|mail]" ;;
esac
need /usr/bin/time time
need sqlite3 sqlite3
need wrk wrk
command -v psql >/dev/null && command -v pgbench >/dev/null || die "psql and pgbench are needed (postgresql-client)"
python3 -c 'import phonenumbers' 2>/dev/null || die "python3 with phonenumbers is needed (pip install phonenumbers)"
ensure_binary
ensure_data
[[ -f "$DOC" ]] || log "$DOC is missing; sections will be appended to a new file"
machine >/dev/null
case "$what" in
    import) bench_import ;;
    export) bench_export ;;
    classify) bench_classify ;;
    list) bench_list ;;
    machine) machine ;;
    all)
        bench_import
        bench_export
        bench_classify
        bench_list
        ;;
esac
