#!/usr/bin/env bash
# Browser end-to-end tests: builds dist/ and the native CLI, installs Debian's chromium and
# playwright-core (npm, pinned by tests/e2e/package-lock.json), runs tests/e2e/*.test.js.
# Screenshots and console logs: target/e2e/ (or $KILN_ARTIFACTS).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/kiln/target}"
if ! [ -x /usr/lib/chromium/chromium ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
bash scripts/web_build.sh
# $KILN_FEATURES: the test command's feature set, so that this build is the one its tests made.
cargo build --workspace --locked ${KILN_FEATURES:+--features "$KILN_FEATURES"}
(cd tests/e2e && npm ci --no-audit --no-fund >/dev/null)
export KILN_BIN="$CARGO_TARGET_DIR/debug/kiln"
cd tests/e2e && npm test
