#!/usr/bin/env bash
# Builds the playground into dist/ with Trunk (UI + engine worker, dev profile: dependencies are
# optimised by [profile.dev.package."*"]), using the wasm-bindgen and trunk in ~/.cache/kiln/tools,
# and Pyodide from npm (web/package-lock.json) for Python tests in the browser.
# `bash scripts/web_build.sh serve` also serves it on http://127.0.0.1:8080.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/kiln/target}"
export PATH="$HOME/.cache/kiln/tools/bin:$PATH"
TOOLS="$HOME/.cache/kiln/tools"
if [ "$(trunk --version 2>/dev/null | awk '{print $2}')" != "0.21.14" ]; then
  echo "web_build: installing trunk 0.21.14 (cargo install, a few minutes once)"
  cargo install trunk --version =0.21.14 --locked --no-default-features --features rustls --root "$TOOLS" >/dev/null
fi
cargo fetch --locked >/dev/null   # Trunk.toml builds offline
# Pyodide (Python tests in the browser), pinned by web/package-lock.json.
if command -v npm >/dev/null 2>&1; then
  (cd web && npm ci --no-audit --no-fund >/dev/null)
else
  echo "web_build: no npm; Python tests will not run in the browser (scripts/setup.sh installs node)" >&2
fi
if [ "${1:-}" = serve ]; then
  exec trunk serve
fi
trunk build
