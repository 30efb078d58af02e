#!/usr/bin/env bash
# Sets up (idempotently) and generates code from the default model with the `kiln` binary.
# Usage: scripts/run.sh [PROMPT] [more kiln generate flags]
#        scripts/run.sh --web      (builds the browser playground and serves it on 127.0.0.1:8080)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/kiln/target}"
bash scripts/setup.sh
if [ "${1:-}" = --web ]; then
  exec bash scripts/web_build.sh serve
fi
# The dev profile builds dependencies optimised (Cargo.toml); --workspace resolves the same
# features as the test suite, so the two commands share one build of the dependencies.
cargo build --locked --workspace --bins
prompt="${1:-Write a Python function that returns the n-th Fibonacci number.}"
shift || true
exec "$CARGO_TARGET_DIR/debug/kiln" generate --chat --temp 0 -n 200 "$prompt" "$@"
