#!/usr/bin/env bash
# Quick start: builds Chartgate, creates the demo chart stores under data/ and serves the app
# (http://127.0.0.1:3000 unless CHARTGATE_LISTEN says otherwise). Ctrl-C stops it.
#
#   scripts/demo.sh            the debug build: the quickest way to a first page on a fresh machine
#                              (no wasm-opt, no LTO; the same build scripts/test.sh makes)
#   scripts/demo.sh --release  the optimised build (minutes longer to compile, a smaller bundle)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

mode=debug
for arg in "$@"; do
  case $arg in
    --release) mode=release ;;
    -h | --help) sed -n '2,7p' "$0"; exit 0 ;;
    *) echo "demo: unknown argument: $arg (try --help)" >&2; exit 2 ;;
  esac
done

export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
if [[ $mode == release ]]; then
  scripts/setup.sh --demo
  echo "demo: building (scripts/build.sh --release)"
  scripts/build.sh --release
else
  scripts/setup.sh --build
  echo "demo: building (scripts/build.sh)"
  scripts/build.sh
fi
bin=target/$mode/chartgate

echo "demo: creating the demo stores, branches and accounts (data/)"
demo_out=$("$bin" demo)
echo "$demo_out"

# The accounts `chartgate demo` printed (one per role, new passwords on each run), next to the URL.
accounts=$(sed -n '/^demo accounts/,$p' <<<"$demo_out" | tail -n +2)
echo
echo "demo: serving; open http://${CHARTGATE_LISTEN:-127.0.0.1:3000}/ and sign in with one of (Ctrl-C to stop):"
echo "$accounts"
echo
exec "$bin" serve
