#!/usr/bin/env bash
# Holds the OpenAPI document to what the server answers: runs schemathesis (pinned) against
# a fresh server on an empty SQLite data directory, as an admin, and fails on any 5xx, any answer
# the document does not describe (status, content type, headers, body) and any request the
# document calls invalid that the server accepts. Bounded by a time budget. docs/API.md.
#
#   scripts/schemathesis.sh                 # build the binary if needed, run for 180 s
#   DIDHUB_SCHEMATHESIS_MAX_TIME=600 DIDHUB_SCHEMATHESIS_SEED=random scripts/schemathesis.sh
#
# Environment: DIDHUB_BIN (a built didhub; default: cargo build -p didhub);
# DIDHUB_SCHEMATHESIS_VENV (default target/schemathesis-venv, created from PyPI when missing or
# of another version); DIDHUB_SCHEMATHESIS_MAX_TIME (seconds, default 180);
# DIDHUB_SCHEMATHESIS_MAX_EXAMPLES (per operation and phase, default 40);
# DIDHUB_SCHEMATHESIS_SEED (default 1; `random` for a new one); DIDHUB_SCHEMATHESIS_WORKERS
# (default 1: with more, Python 3.11's ast module can fail in schemathesis's own threads,
# "AST constructor recursion depth mismatch", failing the run with no fault of the server).
# Extra arguments go to `st run`.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

# The version, and its dependencies', are pinned in scripts/schemathesis/requirements.txt.
ST_VERSION=4.32.5
venv=${DIDHUB_SCHEMATHESIS_VENV:-$root/target/schemathesis-venv}
if ! "$venv/bin/st" --version 2>/dev/null | grep -qF "$ST_VERSION"; then
  echo "installing schemathesis $ST_VERSION into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$root/scripts/schemathesis/requirements.txt"
fi

bin=${DIDHUB_BIN:-}
if [ -z "$bin" ]; then
  cargo build --quiet -p didhub --locked
  bin=$root/target/debug/didhub
fi

work=$(mktemp -d)
pid=
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

export DIDHUB_DATA_DIR=$work/data
unset DATABASE_URL
token=$("$bin" token create --name schemathesis 2>/dev/null)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base=http://127.0.0.1:$port
NO_COLOR=1 DIDHUB_LOG=warn "$bin" serve --listen "127.0.0.1:$port" >"$work/server.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do
  curl -fsS "$base/healthz" >/dev/null 2>&1 && break
  kill -0 "$pid" 2>/dev/null || { cat "$work/server.log"; echo "the server did not start"; exit 1; }
  sleep 0.1
done

# One of each record, and the run's own account and token (see scripts/schemathesis/hooks.py).
export DIDHUB_ST_PROTECTED
DIDHUB_ST_PROTECTED=$(python3 "$root/scripts/schemathesis/seed.py" "$base" "$token")
export PYTHONPATH="$root/scripts/schemathesis${PYTHONPATH:+:$PYTHONPATH}"
export SCHEMATHESIS_HOOKS=hooks

seed=${DIDHUB_SCHEMATHESIS_SEED:-1}
seed_args=()
[ "$seed" = random ] || seed_args=(--seed "$seed")
status=0
# From the scratch directory: schemathesis keeps a cache in its working directory.
(cd "$work" && "$venv/bin/st" --no-color --config-file "$root/scripts/schemathesis/schemathesis.toml" \
  run "$base/api/openapi.json" \
  -H "Authorization: Bearer $token" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance,negative_data_rejection \
  --max-time "${DIDHUB_SCHEMATHESIS_MAX_TIME:-180}" \
  --max-examples "${DIDHUB_SCHEMATHESIS_MAX_EXAMPLES:-40}" \
  --workers "${DIDHUB_SCHEMATHESIS_WORKERS:-1}" \
  --report junit --report-dir "$work/report" \
  "${seed_args[@]}" "$@") || status=$?

# The server's log, kept for a look at what a failure left there.
cp "$work/server.log" "$root/target/schemathesis-server.log" 2>/dev/null || true
if grep -q "panicked\|request failed" "$work/server.log"; then
  echo "--- server errors (whole log: target/schemathesis-server.log) ---"
  grep -m 20 "panicked\|request failed" "$work/server.log" || true
fi
exit "$status"
