#!/usr/bin/env bash
# Installs Chartgate's build and test prerequisites. Idempotent: every tool's version is checked
# first, so on a prepared machine this finishes in seconds.
#
#   scripts/setup.sh            wasm32 target, cargo-leptos, wasm-bindgen-cli, Chromium, end2end npm deps
#   scripts/setup.sh --release  the same, plus wasm-opt (for `cargo leptos build --release`)
#                               (or CHARTGATE_SETUP_RELEASE=1)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

CARGO_LEPTOS_VERSION=0.3.10
WASM_OPT_VERSION=0.116.1 # the wasm-opt crate; its binary reports "version 116"

release=${CHARTGATE_SETUP_RELEASE:-0}
for arg in "$@"; do
  case $arg in
    --release) release=1 ;;
    -h | --help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "setup: unknown argument: $arg" >&2; exit 2 ;;
  esac
done

export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
say() { printf 'setup: %s\n' "$*"; }
# First x.y.z in a command's output, or nothing when the command is missing or fails.
version_of() { { "$@" 2>/dev/null || true; } | grep -oE '[0-9]+\.[0-9]+\.[0-9]+' | head -n1; }
as_root() { if [[ $EUID -eq 0 ]]; then "$@"; else sudo "$@"; fi; }

# Rust target of the browser bundle.
if rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "ok       rust target wasm32-unknown-unknown"
else
  say "install  rust target wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi

# cargo-leptos builds the server and the browser bundle together.
if [[ $(version_of cargo leptos --version) == "$CARGO_LEPTOS_VERSION" ]]; then
  say "ok       cargo-leptos $CARGO_LEPTOS_VERSION"
else
  say "install  cargo-leptos $CARGO_LEPTOS_VERSION (takes a while)"
  cargo install --locked "cargo-leptos@$CARGO_LEPTOS_VERSION"
fi

# wasm-bindgen-cli must be exactly the version of the wasm-bindgen crate pinned in Cargo.toml.
wasm_bindgen_version=$(grep -E '^wasm-bindgen[[:space:]]*=' Cargo.toml | grep -oE '"=[0-9][^"]*"' | tr -d '"=' | head -n1)
if [[ -z $wasm_bindgen_version ]]; then
  echo 'setup: Cargo.toml pins no wasm-bindgen version (expected wasm-bindgen = "=X.Y.Z")' >&2
  exit 1
fi
if [[ $(version_of wasm-bindgen --version) == "$wasm_bindgen_version" ]]; then
  say "ok       wasm-bindgen-cli $wasm_bindgen_version"
else
  say "install  wasm-bindgen-cli $wasm_bindgen_version (matches Cargo.toml)"
  CARGO_RESOLVER_INCOMPATIBLE_RUST_VERSIONS=fallback cargo install wasm-bindgen-cli --version "$wasm_bindgen_version"
fi

# wasm-opt shrinks the release bundle; Debian's binaryen is too old, so it comes from crates.io.
if [[ $release == 1 ]]; then
  if { wasm-opt --version 2>/dev/null || true; } | grep -qw 116; then
    say "ok       wasm-opt 116"
  else
    say "install  wasm-opt $WASM_OPT_VERSION"
    cargo install --locked wasm-opt --version "$WASM_OPT_VERSION"
  fi
fi

# Headless browser of the end-to-end tests (Playwright never downloads its own).
if [[ -x /usr/bin/chromium ]]; then
  say "ok       /usr/bin/chromium"
else
  say "install  chromium (apt)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
fi

# Playwright, reinstalled when package.json or the lock file changed since the last install.
command -v npm >/dev/null || { echo "setup: npm not found; install Node.js 20 or newer" >&2; exit 1; }
stamp=end2end/node_modules/.chartgate-setup-stamp
if [[ -f $stamp && ! end2end/package.json -nt $stamp && ! end2end/package-lock.json -nt $stamp ]]; then
  say "ok       end2end/node_modules"
else
  say "install  end2end npm packages"
  if [[ -f end2end/package-lock.json ]]; then npm_cmd=ci; else npm_cmd=install; fi
  (cd end2end && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm "$npm_cmd" --no-audit --no-fund --loglevel=error)
  touch "$stamp"
fi

say "done"
