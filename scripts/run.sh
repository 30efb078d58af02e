#!/usr/bin/env bash
# Sets up (idempotently) and generates code from the default model with the `kiln` binary.
# Usage: scripts/run.sh [PROMPT] [more kiln generate flags]
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/kiln/target}"
bash scripts/setup.sh
# The dev profile builds dependencies optimised (Cargo.toml); --workspace resolves the same
# features as the test suite, so the two commands share one build of the dependencies.
cargo build --locked --workspace --bins
prompt="${1:-Write a Python function that returns the n-th Fibonacci number.}"
shift || true
exec "$CARGO_TARGET_DIR/debug/kiln" generate --chat --temp 0 -n 200 "$prompt" "$@"
