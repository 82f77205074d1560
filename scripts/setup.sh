#!/usr/bin/env bash
# Installs what Chartgate's scripts need, and nothing more than the chosen mode asks for.
# Idempotent: every tool's version is checked first, so on a prepared machine this finishes in
# seconds. Modes combine; without one, everything is installed.
#
#   scripts/setup.sh --build   what `scripts/build.sh` (debug) needs: the wasm32-unknown-unknown
#                              target and wasm-bindgen-cli matching the pin in Cargo.toml
#   scripts/setup.sh --demo    --build plus tools/ (npm: binaryen's wasm-opt, esbuild) for
#                              `scripts/build.sh --release`; scripts/demo.sh uses this mode
#                              (--release is the same mode; so is CHARTGATE_SETUP_RELEASE=1)
#   scripts/setup.sh --test    --build plus the browser tests: Chromium (apt) and end2end/'s npm
#                              packages (Playwright, never its browsers), and --contract;
#                              scripts/test.sh uses this
#   scripts/setup.sh --contract what scripts/contract.sh needs: openapi-spec-validator and
#                              schemathesis (PyPI, pinned below) in .venv-contract/, and promtool
#                              (apt: Debian's prometheus package)
#   scripts/setup.sh           all of the above
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

want_release=0 want_e2e=0 want_contract=0 chosen=0
if [[ ${CHARTGATE_SETUP_RELEASE:-0} == 1 ]]; then want_release=1 chosen=1; fi
for arg in "$@"; do
  case $arg in
    --build) chosen=1 ;;
    --demo | --release) want_release=1 chosen=1 ;;
    --test) want_e2e=1 want_contract=1 chosen=1 ;;
    --contract) want_contract=1 chosen=1 ;;
    -h | --help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "setup: unknown argument: $arg (try --help)" >&2; exit 2 ;;
  esac
done
if ((chosen == 0)); then want_release=1 want_e2e=1 want_contract=1; fi

export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
say() { printf 'setup: %s\n' "$*"; }
die() { printf 'setup: ERROR: %s\n' "$*" >&2; exit 1; }
# First x.y.z in a command's output, or nothing when the command is missing or fails.
version_of() { { "$@" 2>/dev/null || true; } | grep -oE '[0-9]+\.[0-9]+\.[0-9]+' | head -n1; }
as_root() { if [[ $EUID -eq 0 ]]; then "$@"; else sudo "$@"; fi; }

# npm_install DIR: `npm ci` in DIR when its node_modules is older than package.json or the lock.
# Never downloads browsers (Playwright's postinstall is told to skip them).
npm_install() {
  local dir=$1 stamp=$1/node_modules/.chartgate-setup-stamp
  command -v npm >/dev/null || die "npm not found; install Node.js 20 or newer"
  if [[ -f $stamp && ! $dir/package.json -nt $stamp && ! $dir/package-lock.json -nt $stamp ]]; then
    say "ok       $dir/node_modules"
  else
    say "install  $dir npm packages"
    local npm_cmd=install
    if [[ -f $dir/package-lock.json ]]; then npm_cmd=ci; fi
    (cd "$dir" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm "$npm_cmd" --no-audit --no-fund --loglevel=error)
    touch "$stamp"
  fi
}

command -v rustup >/dev/null || die "rustup not found; install Rust from https://rustup.rs"

# Rust target of the browser bundle.
if rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "ok       rust target wasm32-unknown-unknown"
else
  say "install  rust target wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi

# wasm-bindgen-cli must be exactly the version of the wasm-bindgen crate pinned in Cargo.toml.
wasm_bindgen_version=$(grep -E '^wasm-bindgen[[:space:]]*=' Cargo.toml | grep -oE '"=[0-9][^"]*"' | tr -d '"=' | head -n1)
[[ -n $wasm_bindgen_version ]] || die 'Cargo.toml pins no wasm-bindgen version (expected wasm-bindgen = "=X.Y.Z")'
if [[ $(version_of wasm-bindgen --version) == "$wasm_bindgen_version" ]]; then
  say "ok       wasm-bindgen-cli $wasm_bindgen_version"
else
  say "install  wasm-bindgen-cli $wasm_bindgen_version (matches Cargo.toml; a few minutes)"
  CARGO_RESOLVER_INCOMPATIBLE_RUST_VERSIONS=fallback cargo install wasm-bindgen-cli --version "$wasm_bindgen_version"
fi

# Release build tools, pinned in tools/package.json: wasm-opt from npm's binaryen (Debian's
# binaryen is too old and breaks hydration; the wasm-opt crate takes minutes to compile) and
# esbuild for the JS glue.
if ((want_release)); then
  npm_install tools
fi

if ((want_e2e)); then
  # Headless browser of the end-to-end tests (Playwright never downloads its own).
  if [[ -x /usr/bin/chromium ]]; then
    say "ok       /usr/bin/chromium"
  else
    say "install  chromium (apt)"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
  fi
  npm_install end2end
fi

# The contract check's tools (scripts/contract.sh), pinned: a new release of either can find
# new things, so moving a pin is a change of its own.
schemathesis_version=4.32.5
openapi_spec_validator_version=0.9.0
if ((want_contract)); then
  venv=.venv-contract
  wanted="schemathesis==$schemathesis_version openapi-spec-validator==$openapi_spec_validator_version"
  if [[ -x $venv/bin/schemathesis && -x $venv/bin/openapi-spec-validator && $(cat "$venv/.chartgate-setup-stamp" 2>/dev/null) == "$wanted" ]]; then
    say "ok       $venv: $wanted"
  else
    say "install  $venv: $wanted (PyPI)"
    command -v python3 >/dev/null || die "python3 not found; install Python 3.9 or newer"
    [[ -x $venv/bin/python ]] || python3 -m venv "$venv" || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
    # shellcheck disable=SC2086 # two requirements
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check $wanted
    printf '%s' "$wanted" >"$venv/.chartgate-setup-stamp"
  fi
  if command -v promtool >/dev/null; then
    say "ok       promtool $(version_of promtool --version)"
  else
    say "install  prometheus (apt, for promtool; the service is not started)"
    as_root apt-get update -qq
    # No daemon from the package's scripts: a policy that refuses to start services, for the
    # install only, unless the machine has its own.
    policy=""
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
      policy=/usr/sbin/policy-rc.d
      printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy" >/dev/null
      as_root chmod +x "$policy"
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus ||
      { [[ -z $policy ]] || as_root rm -f "$policy"; die "apt-get install prometheus failed"; }
    [[ -z $policy ]] || as_root rm -f "$policy"
  fi
fi

say "done"
