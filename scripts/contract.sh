#!/usr/bin/env bash
# The API's contract and the metrics, checked with third-party tools against the real server:
# fresh demo stores (120 charts) in a temporary directory, the debug server on a free port with
# the GitHub hook configured, a viewer, a reviewer and a lead with API tokens; then
#   1. openapi-spec-validator on /api/v1/openapi.json as served,
#   2. schemathesis with all of its checks and every phase (examples, coverage, fuzzing,
#      stateful), a fixed seed, once per role's token (viewer, reviewer, then lead),
#   3. promtool check metrics on /metrics after that traffic.
# Any failure of any of them fails the script. The tools live in .venv-contract/ and promtool
# comes from Debian's `prometheus` package: `scripts/setup.sh --test` installs both. Without
# promtool the metrics check is skipped with a message, except in CI (CI=true), where it fails.
#
#   CONTRACT_EXAMPLES=N   test cases per operation and role (default 25; the lead gets twice as many)
#   CONTRACT_SEED=N       schemathesis' seed (default 23)
#   CONTRACT_KEEP=1       keep the server log, databases and reports (always kept on failure)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
venv=$root/.venv-contract
examples=${CONTRACT_EXAMPLES:-25}
seed=${CONTRACT_SEED:-23}
say() { printf 'contract: %s\n' "$*"; }
# shellcheck source=scripts/serve_lib.sh
source scripts/serve_lib.sh

for tool in schemathesis openapi-spec-validator; do
  if [[ ! -x $venv/bin/$tool ]]; then
    say "$venv/bin/$tool is missing; run 'scripts/setup.sh --test'" >&2
    exit 1
  fi
done
promtool=$(command -v promtool || true)
if [[ -z $promtool && ${CI:-} == true ]]; then
  say "promtool is missing (Debian's prometheus package; 'scripts/setup.sh --test' installs it)" >&2
  exit 1
fi

# The API needs the server binary only, not the browser bundle.
say "building the server (cargo build -p chartgate-server)"
cargo build --quiet -p chartgate-server --bin chartgate
bin=$root/target/debug/chartgate

tmp=$(mktemp -d "${TMPDIR:-/tmp}/chartgate-contract.XXXXXX")
server_pid=""
cleanup() {
  local rc=$?
  stop_all $server_pid
  if [[ $rc -eq 0 && -z ${CONTRACT_KEEP:-} ]]; then
    rm -rf "$tmp"
  else
    say "server log, databases and reports kept in $tmp"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

sqlite_stores_in "$tmp"
export CHARTGATE_HOOK_SECRET="contract-$RANDOM$RANDOM"
export CHARTGATE_SCAN_INTERVAL=0s
unset CHARTGATE_CONFIG CHARTGATE_ENV
say "demo stores in $tmp"
"$bin" demo --charts 120 >"$tmp/demo.out"

# A token per role, and one more to revoke: DELETE /tokens/{id} is given its id, so the fuzzer
# never revokes the token it is testing with.
token() {
  "$bin" users add "$1" --role "$2" >/dev/null
  "$bin" tokens create "$1" | tail -n 1
}
viewer=$(token viewer@contract.example viewer)
reviewer=$(token reviewer@contract.example reviewer)
lead=$(token lead@contract.example lead)
spare=$(token spare@contract.example viewer)
spare_id=$(printf '%s' "$spare" | sha256sum | cut -c1-12)

start_chartgate "$bin" "$tmp"
base=$(wait_for_address "$tmp/serve.out" "$server_pid" "the server" "$tmp/serve.err")
say "server at $base"

failed=()

# 1. The document as served.
curl -fsS "$base/api/v1/openapi.json" -o "$tmp/openapi.json"
operations=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(sum(len(v) for v in d["paths"].values()))' "$tmp/openapi.json")
say "openapi-spec-validator: $operations operations"
if ! "$venv/bin/openapi-spec-validator" "$tmp/openapi.json"; then
  failed+=("openapi-spec-validator")
fi

# 2. The fuzzer. Real names reach the handlers' logic: the demo's branches, a conflict on one of
# them (for the merge), the dataset versions of its dataset update (for the upgrader), and the
# spare token's id; each is used most of the time, not always.
branch=feature-energy-update
api() { curl -fsS -H "Authorization: Bearer $lead" "$base/api/v1/$1"; }
chart=$(api "branches/$branch/diffs?conflict=true&per_page=1" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["items"][0]["chart_id"])')
read -r from to < <(api "branches/data-wdi-2026-update/datasets" |
  python3 -c 'import json,sys; s=json.load(sys.stdin)["suggested"][0]; print(s["from"], s["to"])')
cat >"$tmp/schemathesis.toml" <<EOF
# Written by scripts/contract.sh.
[dictionaries.branches]
values = ["$branch", "fix-population-labels", "data-wdi-2026-update"]
[dictionaries.charts]
values = ["$chart"]
[dictionaries.datasets]
values = ["$from", "$to"]

[parameters]
"path.branch" = { dictionary = "branches", probability = 0.8 }
"path.chart_id" = { dictionary = "charts", probability = 0.8 }
"body.from" = { dictionary = "datasets", probability = 0.8 }
"body.to" = { dictionary = "datasets", probability = 0.8 }

[[operations]]
include-operation-id = "revoke_token"
parameters = { "path.id" = "$spare_id" }

# Well-formed requests these operations cannot carry out as given are a 422, as the document says:
# a store URL that cannot be opened, an unknown target (registration); the same dataset on both
# sides, a mapping to an indicator the dataset lacks (upgrades); a person who is not a user or a
# chart that is not an item (review requests). JSON Schema cannot say those.
[[operations]]
include-operation-id-regex = "^(register_branch|preview_upgrade|apply_upgrade|request_review)$"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"]
EOF

started=$SECONDS
for role in viewer reviewer lead; do
  n=$examples
  [[ $role == lead ]] && n=$((examples * 2))
  say "schemathesis as the $role: all checks, seed $seed, $n examples per operation"
  if ! (cd "$tmp" && "$venv/bin/schemathesis" --config-file "$tmp/schemathesis.toml" --no-color run "$tmp/openapi.json" \
    --url "$base" -H "Authorization: Bearer ${!role}" --checks all --seed "$seed" --max-examples "$n" \
    --workers 2 --request-timeout 30 --report junit --report-dir "$tmp/report-$role" \
    >"$tmp/schemathesis-$role.out" 2>&1); then
    failed+=("schemathesis ($role)")
    sed -n '/FAILURES/,$p' "$tmp/schemathesis-$role.out" | head -n 200 >&2
  fi
  grep -E '^Test cases:|generated|failures?,|passed|in [0-9.]+s' "$tmp/schemathesis-$role.out" | tail -n 3 | sed 's/^/  /'
done
say "schemathesis took $((SECONDS - started)) s"

# 3. The metrics after that traffic.
curl -fsS "$base/metrics" -o "$tmp/metrics.txt"
if [[ -z $promtool ]]; then
  say "SKIPPED promtool check metrics: promtool is not installed ('scripts/setup.sh --test' installs it)" >&2
else
  series=$(grep -cv '^#' "$tmp/metrics.txt" || true)
  say "promtool check metrics: $series series"
  # promtool exits 0 on lint warnings (a missing HELP, say): any output is a failure too.
  if ! "$promtool" check metrics <"$tmp/metrics.txt" >"$tmp/promtool.out" 2>&1 || [[ -s $tmp/promtool.out ]]; then
    failed+=("promtool check metrics")
    cat "$tmp/promtool.out" >&2
  fi
fi

if ((${#failed[@]} > 0)); then
  printf -v list '%s, ' "${failed[@]}"
  say "FAILED: ${list%, }" >&2
  tail -n 20 "$tmp/serve.err" >&2
  exit 1
fi
say "the document is valid, the fuzzer found no failure, the metrics are clean"
