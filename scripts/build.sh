#!/usr/bin/env bash
# Builds Chartgate with plain cargo and wasm-bindgen (no cargo-leptos): the same files
# `cargo leptos build [--release]` produces.
#
#   scripts/build.sh            debug:   target/debug/chartgate + target/site
#   scripts/build.sh --release  release: target/release/chartgate + target/site, the wasm shrunk by
#                               wasm-opt and the JS glue minified by esbuild (tools/package.json)
#
# target/site (the server's CHARTGATE_SITE_ROOT):
#   pkg/chartgate.js     wasm-bindgen's JS glue (`--target web`)
#   pkg/chartgate.wasm   the browser bundle (crate chartgate-web, feature `hydrate`)
#   pkg/chartgate.css    style/main.css
#   favicon.svg, ...     everything in public/
# Leptos's <HydrationScripts> asks for /pkg/{output_name}.js and /pkg/{output_name}.wasm because
# .cargo/config.toml sets LEPTOS_OUTPUT_NAME=chartgate at compile time; without that variable it
# would ask for chartgate_bg.wasm, wasm-bindgen's own name, which this script renames as
# cargo-leptos does.
#
# Incremental: cargo decides what to recompile; wasm-bindgen, wasm-opt and esbuild run only when
# the wasm cargo produced (or a tool version) changed since the last build of the same mode.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD

release=0
for arg in "$@"; do
  case $arg in
    --release) release=1 ;;
    -h | --help) sed -n '2,21p' "$0"; exit 0 ;;
    *) echo "build: unknown argument: $arg (usage: scripts/build.sh [--release])" >&2; exit 2 ;;
  esac
done

export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
say() { printf 'build: %s\n' "$*"; }
die() { printf 'build: ERROR: %s\n' "$*" >&2; exit 1; }
run() { printf 'build: $ %s\n' "$*"; "$@"; }
version_of() { { "$@" 2>/dev/null || true; } | grep -oE '[0-9]+\.[0-9]+\.[0-9]+' | head -n1; }

output_name=chartgate # LEPTOS_OUTPUT_NAME in .cargo/config.toml; the server's LeptosOptions::output_name too
site=$root/target/site # site-root in Cargo.toml's [[workspace.metadata.leptos]]; e2e.sh serves it
pkg=$site/pkg
if ((release)); then
  mode=release wasm_profile=wasm-release server_flags=(--release)
  setup_hint="scripts/setup.sh --demo"
else
  mode=debug wasm_profile=debug server_flags=()
  setup_hint="scripts/setup.sh --build"
fi

# --- tools ------------------------------------------------------------------------------------
command -v cargo >/dev/null || die "cargo not found; install Rust (https://rustup.rs), then run $setup_hint"
if ! grep -qE '^LEPTOS_OUTPUT_NAME[[:space:]]*=[[:space:]]*"chartgate"' .cargo/config.toml 2>/dev/null; then
  die ".cargo/config.toml must set LEPTOS_OUTPUT_NAME = \"chartgate\" (the name <HydrationScripts> loads)"
fi
if [[ -n ${LEPTOS_OUTPUT_NAME:-} && $LEPTOS_OUTPUT_NAME != chartgate ]]; then
  die "LEPTOS_OUTPUT_NAME=$LEPTOS_OUTPUT_NAME in the environment overrides .cargo/config.toml; unset it"
fi
wasm_libdir=$(rustc --print target-libdir --target wasm32-unknown-unknown 2>/dev/null || true)
if [[ -z $wasm_libdir ]] || ! compgen -G "$wasm_libdir/libcore-*.rlib" >/dev/null; then
  die "the Rust target wasm32-unknown-unknown is not installed; run $setup_hint (or: rustup target add wasm32-unknown-unknown)"
fi
wasm_bindgen_want=$(grep -E '^wasm-bindgen[[:space:]]*=' Cargo.toml | grep -oE '"=[0-9][^"]*"' | tr -d '"=' | head -n1)
[[ -n $wasm_bindgen_want ]] || die 'Cargo.toml pins no wasm-bindgen version (expected wasm-bindgen = "=X.Y.Z")'
if ! command -v wasm-bindgen >/dev/null; then
  die "wasm-bindgen (wasm-bindgen-cli $wasm_bindgen_want) not found; run $setup_hint"
fi
wasm_bindgen_have=$(version_of wasm-bindgen --version)
if [[ $wasm_bindgen_have != "$wasm_bindgen_want" ]]; then
  die "wasm-bindgen is ${wasm_bindgen_have:-unknown}, Cargo.toml pins $wasm_bindgen_want (they must match); run $setup_hint"
fi
tool_versions="wasm-bindgen $wasm_bindgen_have"
if ((release)); then
  wasm_opt=$root/tools/node_modules/.bin/wasm-opt
  esbuild=$root/tools/node_modules/.bin/esbuild
  command -v node >/dev/null || die "node not found (wasm-opt and esbuild run on Node.js 20+); install Node.js, then run $setup_hint"
  [[ -x $wasm_opt && -x $esbuild ]] || die "tools/node_modules is missing wasm-opt or esbuild; run $setup_hint"
  for tool in binaryen esbuild; do
    want=$(grep -oE "\"$tool\": *\"[^\"]+\"" tools/package.json | grep -oE '[0-9][^"]*')
    have=$(grep -oE '"version": *"[^"]+"' "tools/node_modules/$tool/package.json" | grep -oE '[0-9][^"]*')
    [[ $want == "$have" ]] || die "tools/node_modules has $tool ${have:-?}, tools/package.json pins $want; run $setup_hint"
    tool_versions+=", $tool $have"
  done
fi

target_dir=$(cargo metadata --format-version 1 --no-deps --offline 2>/dev/null | grep -oE '"target_directory":"[^"]*"' | cut -d'"' -f4 || true)
target_dir=${target_dir:-${CARGO_TARGET_DIR:-$root/target}}

started=$SECONDS
say "$mode build ($tool_versions)"

# --- 1. browser bundle: chartgate-web for wasm32 -----------------------------------------------
say "[1/4] browser bundle: crate chartgate-web, feature hydrate, profile $wasm_profile"
wasm_cargo_flags=(-p chartgate-web --lib --target wasm32-unknown-unknown --no-default-features --features hydrate)
if ((release)); then wasm_cargo_flags+=(--profile wasm-release); fi
run cargo build "${wasm_cargo_flags[@]}"
wasm_in=$target_dir/wasm32-unknown-unknown/$wasm_profile/chartgate_web.wasm
[[ -f $wasm_in ]] || die "cargo did not produce $wasm_in"

# --- 2. wasm-bindgen (+ wasm-opt and esbuild in release) ---------------------------------------
# Each mode keeps its own generated pair under target/chartgate-bundle/MODE with a stamp of what it
# was made from (the wasm's hash, the tool versions), so switching between debug and release does
# not rerun wasm-opt; target/site/pkg/.build-stamp says which pair is served.
stamp="$mode $(sha256sum <"$wasm_in" | cut -d' ' -f1) $tool_versions"
cache=$target_dir/chartgate-bundle/$mode
if [[ -f $cache/$output_name.js && -f $cache/$output_name.wasm && -f $cache/stamp && $(<"$cache/stamp") == "$stamp" ]]; then
  say "[2/4] $output_name.js + $output_name.wasm ($mode) up to date"
else
  say "[2/4] wasm-bindgen -> $output_name.js, $output_name.wasm"
  mkdir -p "$target_dir/chartgate-bundle"
  work=$(mktemp -d "$target_dir/chartgate-bundle/.work.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  run wasm-bindgen --target web --no-typescript --out-dir "$work" --out-name "$output_name" "$wasm_in"
  # wasm-bindgen writes {name}_bg.wasm; <HydrationScripts> loads {name}.wasm (it passes that URL
  # to the glue's init, so the glue's own default URL is never used).
  mv "$work/${output_name}_bg.wasm" "$work/$output_name.wasm"
  if ((release)); then
    before=$(stat -c %s "$work/$output_name.wasm") opt_started=$SECONDS
    # -Oz as cargo-leptos runs it; the features are those rustc enables for wasm32-unknown-unknown
    # (`rustc --print cfg --target wasm32-unknown-unknown`), so wasm-opt accepts and keeps them.
    run "$wasm_opt" -Oz --enable-bulk-memory --enable-bulk-memory-opt --enable-multivalue \
      --enable-mutable-globals --enable-nontrapping-float-to-int --enable-reference-types \
      --enable-sign-ext "$work/$output_name.wasm" -o "$work/$output_name.opt.wasm"
    mv "$work/$output_name.opt.wasm" "$work/$output_name.wasm"
    after=$(stat -c %s "$work/$output_name.wasm")
    say "      wasm-opt: $before -> $after bytes in $((SECONDS - opt_started)) s"
    # cargo-leptos minifies the JS glue in release builds; esbuild keeps its ES module exports.
    run "$esbuild" "$work/$output_name.js" --minify --log-level=warning --outfile="$work/$output_name.min.js"
    mv "$work/$output_name.min.js" "$work/$output_name.js"
  fi
  printf '%s\n' "$stamp" >"$work/stamp"
  rm -rf "$cache"
  mv "$work" "$cache"
  trap - EXIT
fi
if [[ -f $pkg/.build-stamp && $(<"$pkg/.build-stamp") == "$stamp" ]] && cmp -s "$cache/$output_name.wasm" "$pkg/$output_name.wasm" \
  && cmp -s "$cache/$output_name.js" "$pkg/$output_name.js"; then
  say "      target/site/pkg already serves them"
else
  say "      -> target/site/pkg/"
  mkdir -p "$pkg"
  rm -f "$pkg/.build-stamp" "$pkg/${output_name}_bg.wasm"
  for file in "$output_name.js" "$output_name.wasm"; do
    cp "$cache/$file" "$pkg/.$file.tmp"
    mv -f "$pkg/.$file.tmp" "$pkg/$file"
  done
  cp "$cache/stamp" "$pkg/.build-stamp"
fi
say "      $(stat -c '%s bytes' "$pkg/$output_name.wasm") wasm, $(stat -c '%s bytes' "$pkg/$output_name.js") js"

# --- 3. CSS and static assets -----------------------------------------------------------------
say "[3/4] style/main.css -> target/site/pkg/$output_name.css; public/ -> target/site/"
copy_if_changed() { # SRC DEST
  if ! cmp -s "$1" "$2"; then
    mkdir -p "$(dirname "$2")"
    cp "$1" "$2"
    say "      copied ${1#"$root"/} -> ${2#"$root"/}"
  fi
}
copy_if_changed "$root/style/main.css" "$pkg/$output_name.css"
if [[ -d public ]]; then
  while IFS= read -r -d '' file; do
    copy_if_changed "$file" "$site/${file#"$root/public/"}"
  done < <(find "$root/public" -type f -print0)
fi

# --- 4. server -----------------------------------------------------------------------------------
say "[4/4] server: binary chartgate (package chartgate-server)"
run cargo build "${server_flags[@]}" -p chartgate-server --bin chartgate
server_bin=$target_dir/$mode/chartgate
[[ -x $server_bin ]] || die "cargo did not produce $server_bin"

say "done in $((SECONDS - started)) s: ${server_bin#"$root"/} and ${site#"$root"/}/"
