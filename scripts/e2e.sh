#!/usr/bin/env bash
# End-to-end tests against the real server: fresh demo stores (300 charts) in a temporary
# directory, the debug server on a free port, a lead (password and API token), then Playwright in headless
# Debian Chromium. Needs `scripts/build.sh` first (scripts/test.sh runs everything in order).
# Arguments go to `playwright test`, e.g. scripts/e2e.sh --project=js -g filter
# E2E_RELEASE=1 tests the release build instead (`scripts/build.sh --release` first).
# E2E_KEEP=1 keeps the server log and databases (always kept when a test fails).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
# shellcheck source=scripts/serve_lib.sh
source scripts/serve_lib.sh
if [[ ${E2E_RELEASE:-0} == 1 ]]; then
  mode=release build_cmd="scripts/build.sh --release"
else
  mode=debug build_cmd="scripts/build.sh"
fi
bin=$root/target/$mode/chartgate

missing=()
for file in "$bin" target/site/pkg/chartgate.js target/site/pkg/chartgate.wasm target/site/pkg/chartgate.css; do
  [[ -e $file ]] || missing+=("${file#"$root"/}")
done
if ((${#missing[@]} > 0)); then
  echo "e2e: missing ${missing[*]}; run '$build_cmd' first (scripts/setup.sh --test installs what it needs)" >&2
  exit 1
fi
# scripts/build.sh records which build target/site/pkg holds (debug and release share it).
bundle=$(cut -d' ' -f1 target/site/pkg/.build-stamp 2>/dev/null || echo unknown)
echo "e2e: $mode server, $bundle browser bundle"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/chartgate-e2e.XXXXXX")
server_pid="" preview_pid=""
cleanup() {
  local rc=$?
  stop_all $server_pid $preview_pid
  if [[ $rc -eq 0 ]]; then
    [[ -n ${E2E_KEEP:-} ]] || rm -rf "$tmp"
  else
    echo "e2e: FAILED; server output and databases kept in $tmp" >&2
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

sqlite_stores_in "$tmp"

echo "e2e: creating demo stores in $tmp"
demo_out=$("$bin" demo --charts 300)
echo "$demo_out"
# The accounts the demo printed ("ROLE EMAIL password: PASSWORD"); demo_accounts.spec.ts signs in with them.
CHARTGATE_DEMO_ACCOUNTS=$(sed -n '/^demo accounts/,$p' <<<"$demo_out" | tail -n +2)
export CHARTGATE_DEMO_ACCOUNTS

# A chain of targets (design §10): the demo's production, and a staging that tracks the main line
# (a copy of production) and is promoted on releases. The demo's branches stay on production.
cp "$tmp/production.db" "$tmp/staging-main.db"
export CHARTGATE_TARGETS__PRODUCTION__STORE_URL="sqlite://$tmp/production.db"
export CHARTGATE_TARGETS__STAGING__STORE_URL="sqlite://$tmp/staging-main.db"
export CHARTGATE_TARGETS__STAGING__PROMOTES_TO=production
export CHARTGATE_TARGETS__STAGING__PROMOTE_ON=release

# The live previews (design §13) frame a stand-in site on a free port (end2end/preview_site.mjs).
node end2end/preview_site.mjs >"$tmp/preview.out" 2>&1 &
preview_pid=$!
preview_site=$(wait_for_address "$tmp/preview.out" "$preview_pid" "e2e: the preview site")
export PREVIEW_SITE=$preview_site
export CHARTGATE_TARGETS__PRODUCTION__PREVIEW_URL="$preview_site/production/{slug}"
export CHARTGATE_STAGING_PREVIEW_URL="$preview_site/staging/{branch}/{slug}"

echo "e2e: starting the server"
start_chartgate "$bin" "$tmp"
base_url=$(wait_for_address "$tmp/serve.out" "$server_pid" "e2e: the server" "$tmp/serve.err")
echo "e2e: server at $base_url"

# A lead who signs in through the browser (fresh password each run) and holds an API token.
email=e2e@example.com
password=$(od -An -N18 -tx1 /dev/urandom | tr -d ' \n')
printf '%s\n' "$password" | "$bin" users add "$email" --role lead --password-stdin
token=$("$bin" tokens create "$email" | tail -n 1)
if [[ -z $token ]]; then
  echo "e2e: 'chartgate tokens create' printed no token" >&2
  exit 1
fi
export BASE_URL=$base_url CHARTGATE_TOKEN=$token CHARTGATE_E2E_EMAIL=$email CHARTGATE_E2E_PASSWORD=$password

if ! (cd end2end && npx playwright test --forbid-only "$@"); then
  echo "e2e: last server log lines:" >&2
  tail -n 40 "$tmp/serve.err" >&2
  exit 1
fi
