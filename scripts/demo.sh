#!/usr/bin/env bash
# Quick start: builds Chartgate in release mode, creates the demo chart stores under data/ and
# serves the app (http://127.0.0.1:3000 unless CHARTGATE_LISTEN says otherwise). Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
scripts/setup.sh --release

echo "demo: building (cargo leptos build --release)"
cargo leptos build --release

echo "demo: creating the demo stores and branches (data/)"
target/release/chartgate demo

echo "demo: serving; open http://${CHARTGATE_LISTEN:-127.0.0.1:3000}/ (Ctrl-C to stop)"
exec target/release/chartgate serve
