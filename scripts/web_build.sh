#!/usr/bin/env bash
# Builds the playground into dist/: the UI and the engine's worker, two wasm programs of the
# kiln-web crate compiled by one cargo call (one dependency graph; dev profile, whose
# dependencies are optimised by [profile.dev.package."*"]), bound by wasm-bindgen (the
# wasm-bindgen-cli that scripts/setup.sh installs at Cargo.lock's version) and placed beside
# index.html, web/style.css, the worker's loader, the default model and Pyodide (npm, pinned by
# web/package-lock.json) for Python tests in the browser.
# `bash scripts/web_build.sh serve` also serves dist/ on http://127.0.0.1:8080.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/kiln/target}"
export PATH="$HOME/.cache/kiln/tools/bin:$PATH"
WB_VERSION="$(awk '/^name = "wasm-bindgen"$/ {getline; gsub(/[^0-9.]/, ""); print; exit}' Cargo.lock)"
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$WB_VERSION" ]; then
  echo "web_build: wasm-bindgen $WB_VERSION not on PATH: run scripts/setup.sh test first" >&2
  exit 1
fi

echo "web_build: cargo build -p kiln-web --target wasm32-unknown-unknown (UI + worker)"
cargo build --locked -p kiln-web --bins --target wasm32-unknown-unknown
wasm="$CARGO_TARGET_DIR/wasm32-unknown-unknown/debug"

stage="$(mktemp -d dist.staging.XXXXXX)"
trap 'rm -rf "$stage"' EXIT
for bin in kiln-web kiln-worker; do
  wasm-bindgen --target web --no-typescript --out-dir "$stage" "$wasm/$bin.wasm"
done
cp index.html "$stage/index.html"
cp web/style.css "$stage/style.css"
cp web/worker_loader.js "$stage/kiln-worker_loader.js"
cp web/start.js "$stage/kiln-start.js"

link() { ln -f "$1" "$2/" 2>/dev/null || cp "$1" "$2/"; }
model="${KILN_MODEL_DIR:-$HOME/.cache/kiln/models}/SmolLM2-135M-Instruct-Q4_1.gguf"
mkdir -p "$stage/models"
if [ -f "$model" ]; then
  link "$model" "$stage/models"
else
  echo "web_build: $model not found (scripts/fetch_model.sh); the page will offer file and URL loading only" >&2
fi
# Pyodide (Python tests in the browser), pinned by web/package-lock.json.
if command -v npm >/dev/null 2>&1; then
  (cd web && npm ci --no-audit --no-fund >/dev/null)
  mkdir -p "$stage/pyodide"
  for f in pyodide.mjs pyodide.asm.mjs pyodide.asm.wasm python_stdlib.zip pyodide-lock.json; do
    link "web/node_modules/pyodide/$f" "$stage/pyodide"
  done
else
  echo "web_build: no npm; Python tests will not run in the browser (scripts/setup.sh test installs node)" >&2
fi
rm -rf dist
mv "$stage" dist
trap - EXIT
echo "web_build: dist/ ready ($(du -sh dist | cut -f1))"
if [ "${1:-}" = serve ]; then
  echo "web_build: serving http://127.0.0.1:8080 (Ctrl-C stops)"
  exec python3 -m http.server --bind 127.0.0.1 --directory dist 8080
fi
