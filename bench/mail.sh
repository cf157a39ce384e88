# The outbox benchmark (issue 19 §9: "the outbox delivers ≥ 200 mails/s to a local SMTP
# server"), sourced by bench/run.sh: `bench/run.sh mail`.
#
# One SMTP server for both sides: scripts/smtp_sink.py (aiosmtpd), which appends every message
# it accepts to a file before it answers. Baseline: bench/mail_baseline.py, Python smtplib
# sending the same number of messages (didhub's own .eml, each with its Message-ID) over one
# connection, one after another: the server's ceiling for one client. didhub: N test mails
# queued (`didhub mail test --count N`, untimed), then `didhub mail send-pending` timed as a
# whole command (claims, SMTP over pooled connections, 8 at once, each mail recorded sent),
# on SQLite and on PostgreSQL. Needs python3 with aiosmtpd (pip install aiosmtpd).
# shellcheck shell=bash

MAIL_N="${BENCH_MAIL_COUNT:-5000}"
MAIL_PORT="${BENCH_MAIL_PORT:-18025}"
SINK_PID=""

stop_sink() {
    if [[ -n "$SINK_PID" ]]; then
        kill "$SINK_PID" 2>/dev/null || true
        wait "$SINK_PID" 2>/dev/null || true
        SINK_PID=""
    fi
}

# Messages the sink holds.
sink_count() { [[ -f "$OUT/mail-sink.jsonl" ]] && wc -l <"$OUT/mail-sink.jsonl" || echo 0; }

bench_mail() {
    python3 -c 'import aiosmtpd' 2>/dev/null || die "python3 with aiosmtpd is needed (pip install aiosmtpd)"
    local sink_out="$OUT/mail-sink.jsonl" fifo="$OUT/mail-sink.ready"
    rm -f "$sink_out" "$fifo"
    mkfifo "$fifo"
    log "starting the SMTP sink (aiosmtpd) on 127.0.0.1:$MAIL_PORT"
    python3 "$ROOT/scripts/smtp_sink.py" --port "$MAIL_PORT" --out "$sink_out" >"$fifo" 2>"$OUT/logs/mail-sink.err" &
    SINK_PID=$!
    trap stop_sink EXIT
    read -r -t 30 ready <"$fifo" || true
    rm -f "$fifo"
    [[ "${ready:-}" == ready ]] || die "the SMTP sink did not start: $(cat "$OUT/logs/mail-sink.err")"

    # A mail as didhub writes it, for the baseline to send.
    local sample_dir="$OUT/mail-sample"
    rm -rf "$sample_dir"
    "$BIN" --data-dir "$sample_dir" mail test --to bench@example.com >/dev/null
    "$BIN" --data-dir "$sample_dir" mail send-pending >/dev/null
    local sample
    sample=$(ls "$sample_dir"/outbox/*.eml | head -1)
    [[ -f "$sample" ]] || die "no sample .eml"

    warn_if_busy mail
    local b=() s=() p=() before got url="$PG_BASE/bench_mail" dir="$OUT/mail-sqlite"
    for i in $(seq 1 "$RUNS"); do
        log "mail run $i/$RUNS: baseline (Python smtplib, one connection, $MAIL_N messages)"
        before=$(sink_count)
        timed "mail-baseline-$i" python3 "$BENCH_DIR/mail_baseline.py" 127.0.0.1 "$MAIL_PORT" "$MAIL_N" "$sample"
        b+=("$T_SECS")
        got=$(($(sink_count) - before))
        [[ "$got" == "$MAIL_N" ]] || die "the baseline delivered $got of $MAIL_N"

        log "mail run $i/$RUNS: didhub on SQLite (queue $MAIL_N untimed, then mail send-pending)"
        rm -rf "$dir"
        "$BIN" --data-dir "$dir" mail test --to bench@example.com --count "$MAIL_N" >/dev/null
        before=$(sink_count)
        timed "mail-sqlite-$i" "$BIN" --data-dir "$dir" --smtp-url "smtp://127.0.0.1:$MAIL_PORT" mail send-pending --json
        s+=("$T_SECS")
        got=$(($(sink_count) - before))
        [[ "$got" == "$MAIL_N" ]] || die "didhub (SQLite) delivered $got of $MAIL_N: $(cat "$OUT/logs/mail-sqlite-$i.out")"

        log "mail run $i/$RUNS: didhub on PostgreSQL"
        recreate_db bench_mail
        "$BIN" --database-url "$url" mail test --to bench@example.com --count "$MAIL_N" >/dev/null
        pg_settle
        before=$(sink_count)
        timed "mail-pg-$i" "$BIN" --database-url "$url" --smtp-url "smtp://127.0.0.1:$MAIL_PORT" mail send-pending --json
        p+=("$T_SECS")
        got=$(($(sink_count) - before))
        [[ "$got" == "$MAIL_N" ]] || die "didhub (PostgreSQL) delivered $got of $MAIL_N: $(cat "$OUT/logs/mail-pg-$i.out")"
    done
    stop_sink
    trap - EXIT
    dropdb --if-exists bench_mail
    rm -rf "$dir" "$sample_dir" "$sink_out"

    local mb ms mp rb rs rp
    mb=$(median "${b[@]}"); ms=$(median "${s[@]}"); mp=$(median "${p[@]}")
    rb=$(awk -v n="$MAIL_N" -v t="$mb" 'BEGIN{printf "%.0f", n/t}')
    rs=$(awk -v n="$MAIL_N" -v t="$ms" 'BEGIN{printf "%.0f", n/t}')
    rp=$(awk -v n="$MAIL_N" -v t="$mp" 'BEGIN{printf "%.0f", n/t}')
    local frag="$RES/mail.md"
    {
        echo "Outbox delivery of $MAIL_N queued mails to a local SMTP server (\`scripts/smtp_sink.py\`, aiosmtpd $(python3 -c 'import aiosmtpd; print(aiosmtpd.__version__)'), which writes each message to a file before it answers), \`didhub mail send-pending\` timed as a whole command (8 mails at once on pooled connections, each recorded sent as it is accepted). Baseline: \`bench/mail_baseline.py\`, Python smtplib sending as many of didhub's messages over one connection, one after another. Median of $RUNS runs; load average at start: $(load_note)."
        echo
        echo "| measurement | didhub | baseline | ratio | target | result |"
        echo "|---|---:|---:|---:|---:|:---:|"
        echo "| SQLite outbox | $rs mails/s ($ms s) | $rb mails/s ($mb s, smtplib, one connection) | $(ratio "$rs" "$rb")× | ≥ 200 mails/s | $(pass_ge "$rs" 200) |"
        echo "| PostgreSQL outbox | $rp mails/s ($mp s) | $rb mails/s | $(ratio "$rp" "$rb")× | ≥ 200 mails/s | $(pass_ge "$rp" 200) |"
        echo
        echo "All runs (s): baseline ${b[*]}; SQLite ${s[*]}; PostgreSQL ${p[*]}."
    } >"$frag"
    cat "$frag"
}
