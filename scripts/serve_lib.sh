# Sourced by scripts/e2e.sh and scripts/contract.sh: starting a process that reports its own
# address, and waiting for it with a deadline (a poll, never a fixed sleep).

# wait_for_address FILE PID WHAT: prints the first http://127.0.0.1:PORT written to FILE by the
# process PID, waiting up to 60 s; fails naming WHAT (and showing FILE) if the process exits or
# says nothing in time. Extra files to show on failure may follow.
wait_for_address() {
  local file=$1 pid=$2 what=$3 found deadline=$((SECONDS + 60))
  shift 3
  until found=$(grep -m1 -oE 'http://127\.0\.0\.1:[0-9]+' "$file"); do
    if ! kill -0 "$pid" 2>/dev/null || ((SECONDS >= deadline)); then
      printf '%s exited or did not report its address within 60 s\n' "$what" >&2
      tail -n 40 "$file" "$@" >&2
      return 1
    fi
    sleep 0.2
  done
  printf '%s\n' "$found"
}

# start_chartgate BIN DIR: starts `BIN serve` on a free port (output in DIR/serve.out and
# DIR/serve.err), sets server_pid, and prints nothing; then wait_for_address DIR/serve.out.
start_chartgate() {
  local bin=$1 dir=$2
  : >"$dir/serve.out"
  CHARTGATE_LISTEN=127.0.0.1:0 CHARTGATE_SITE_ROOT="${CHARTGATE_SITE_ROOT:-$PWD/target/site}" \
    "$bin" serve >"$dir/serve.out" 2>"$dir/serve.err" &
  server_pid=$!
}

# stop_all PID...: ends each process (if running) and waits for it.
stop_all() {
  local pid
  for pid in "$@"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
}

# sqlite_stores_in DIR: Chartgate's own database and the chart stores as SQLite files in DIR.
sqlite_stores_in() {
  export CHARTGATE_DATABASE_URL="sqlite://$1/chartgate.db"
  export CHARTGATE_PRODUCTION_URL="sqlite://$1/production.db"
  export CHARTGATE_STAGING_URL_TEMPLATE="sqlite://$1/staging/{branch}.db"
  mkdir -p "$1/staging"
}
