#!/usr/bin/env bash
# Trunk post-build hook: link into the staged dist/
#   models/   the default model, if scripts/fetch_model.sh has put it in place;
#   pyodide/  Pyodide (CPython in wasm, npm package pinned by web/package-lock.json), for Python
#             tests in the browser, if scripts/web_build.sh has installed it.
set -euo pipefail
stage="${TRUNK_STAGING_DIR:?run by trunk}"
cd "$(dirname "$0")/.."
link() { ln -f "$1" "$2/" 2>/dev/null || cp "$1" "$2/"; }

src="${KILN_MODEL_DIR:-$HOME/.cache/kiln/models}/SmolLM2-135M-Instruct-Q4_1.gguf"
mkdir -p "$stage/models"
if [ -f "$src" ]; then
  link "$src" "$stage/models"
else
  echo "web_assets: $src not found (scripts/fetch_model.sh); the page will offer file and URL loading only" >&2
fi

py="web/node_modules/pyodide"
if [ -f "$py/pyodide.mjs" ]; then
  mkdir -p "$stage/pyodide"
  for f in pyodide.mjs pyodide.asm.mjs pyodide.asm.wasm python_stdlib.zip pyodide-lock.json; do
    link "$py/$f" "$stage/pyodide"
  done
else
  echo "web_assets: $py not installed (npm ci in web/); Python tests will not run in the browser" >&2
fi
