#!/usr/bin/env bash
# The whole test suite: prerequisites, formatting, clippy, the Rust tests (SQLite, and PostgreSQL
# when one is reachable), the debug build (scripts/build.sh), the API contract and metrics check
# (scripts/contract.sh) and the Playwright end-to-end tests.
# Exits non-zero on any failure. TEST_SKIP_E2E=1 skips the browser part (quick local runs only).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

passed=0 failed=0 skipped=0 last_ok=0
failures=() pg_started=""

banner() { printf '\n%s\n!!! %s\n%s\n\n' "$(printf '!%.0s' {1..78})" "$*" "$(printf '!%.0s' {1..78})"; }

# stage NAME CMD...: runs one stage, counts it, and keeps going so one run shows every failure.
stage() {
  local name=$1
  shift
  printf '\n==> %s\n' "$name"
  last_ok=0
  if "$@"; then
    passed=$((passed + 1))
    last_ok=1
  else
    failed=$((failed + 1))
    failures+=("$name")
    printf '==> FAILED: %s\n' "$name" >&2
  fi
}

finish() {
  local rc=$?
  if [[ -n $pg_started ]]; then
    echo "test.sh: stopping the PostgreSQL cluster it started"
    pg_ctlcluster --skip-systemctl-redirect "$pg_started" main stop || true
  fi
  if ((failed > 0)); then
    local list
    printf -v list '%s, ' "${failures[@]}"
    echo "test.sh: FAILED: ${list%, }" >&2
  fi
  local extra=""
  ((skipped == 0)) || extra=", $skipped skipped"
  echo "test.sh: $passed passed, $failed failed$extra"
  if ((rc == 0 && failed > 0)); then exit 1; fi
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Prerequisites: nothing else can run without them (Chromium and Playwright only when the
# end-to-end tests will run).
setup_mode=(--test)
if [[ ${TEST_SKIP_E2E:-0} == 1 ]]; then setup_mode=(--build --contract); fi
stage setup scripts/setup.sh "${setup_mode[@]}"
((failed == 0)) || exit 1

# PostgreSQL for the Postgres variants of the Rust tests (they create their own databases). Those
# variants are #[ignore]d unless asked for with --include-ignored, which is passed only when a
# server answers: without one they are reported as ignored, never as passed. In CI (CI=true) a
# missing PostgreSQL fails the run.
pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
pg_tests=()
if [[ -n ${CHARTGATE_TEST_PG_URL:-} ]]; then
  echo "test.sh: using CHARTGATE_TEST_PG_URL from the environment"
  pg_tests=(-- --include-ignored)
else
  if ! pg_up && [[ -d /etc/postgresql ]] && command -v pg_ctlcluster >/dev/null; then
    pg_version=$(find /etc/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' | sort -V | tail -n 1)
    echo "test.sh: starting PostgreSQL $pg_version"
    if pg_ctlcluster --skip-systemctl-redirect "$pg_version" main start; then
      pg_started=$pg_version
      deadline=$((SECONDS + 30))
      until pg_up || ((SECONDS >= deadline)); do sleep 0.5; done
    fi
  fi
  if pg_up; then
    export CHARTGATE_TEST_PG_URL=postgres://postgres@127.0.0.1:5432/test
    echo "test.sh: PostgreSQL tests use $CHARTGATE_TEST_PG_URL"
    pg_tests=(-- --include-ignored)
  elif [[ ${CI:-} == true ]]; then
    banner "NO POSTGRESQL on 127.0.0.1:5432 in CI: the PostgreSQL variants cannot run; failing"
    failed=$((failed + 1))
    failures+=("PostgreSQL")
  else
    banner "NO POSTGRESQL on 127.0.0.1:5432: the PostgreSQL variants of the tests are IGNORED (reported as ignored)"
    skipped=$((skipped + 1))
  fi
fi

# MySQL/MariaDB for the MySQL variants of the chart-store tests (design §13), like PostgreSQL's:
# started when it is down, required in CI, reported as skipped elsewhere when absent.
mysql_up() { mysqladmin --protocol=tcp -h 127.0.0.1 -P 3306 -u root status >/dev/null 2>&1; }
if [[ -z ${CHARTGATE_TEST_MYSQL_URL:-} ]]; then
  if ! mysql_up && [[ -x /usr/sbin/mariadbd ]]; then
    echo "test.sh: starting MariaDB"
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd || true
    deadline=$((SECONDS + 30))
    until mysql_up || ((SECONDS >= deadline)); do sleep 0.5; done
  fi
  if mysql_up; then
    export CHARTGATE_TEST_MYSQL_URL=mysql://root@127.0.0.1:3306/test
    echo "test.sh: MySQL tests use $CHARTGATE_TEST_MYSQL_URL"
  elif [[ ${CI:-} == true ]]; then
    banner "NO MYSQL/MARIADB on 127.0.0.1:3306 in CI: the MySQL store tests cannot run; failing"
    failed=$((failed + 1))
    failures+=("MySQL")
  elif ((${#pg_tests[@]} > 0)); then
    banner "NO MYSQL/MARIADB on 127.0.0.1:3306: the MySQL variants of the store tests are SKIPPED"
    pg_tests+=(--skip ::mysql)
    skipped=$((skipped + 1))
  fi
fi

stage "cargo fmt" cargo fmt --all -- --check
stage "cargo clippy" cargo clippy --workspace --all-targets -- -D warnings
stage "cargo test" cargo test --workspace "${pg_tests[@]}"
stage "build (scripts/build.sh)" scripts/build.sh
built=$last_ok

# The OpenAPI document as served (openapi-spec-validator), a property-based fuzzer driven by it
# (schemathesis: all checks, fixed seed, a token of each role, the demo data) and promtool on
# /metrics after that traffic. Needs only the server binary.
stage "contract (scripts/contract.sh)" scripts/contract.sh

if [[ ${TEST_SKIP_E2E:-0} == 1 ]]; then
  banner "TEST_SKIP_E2E=1: the browser end-to-end tests were NOT run"
  skipped=$((skipped + 1))
elif ((built == 0)); then
  echo "test.sh: end-to-end tests not run: the build failed" >&2
  failed=$((failed + 1))
  failures+=("end-to-end")
else
  stage "end-to-end (Playwright)" scripts/e2e.sh
fi
