#!/usr/bin/env bash
# The whole test suite, from a fresh machine: set-up, the playground built for wasm32 (dist/,
# which the desktop app embeds), native tests (CPU and lavapipe wgpu, tiny fixtures and the real
# default model vs llama.cpp's committed reference, the sandbox on HumanEval and hostile code,
# the `kiln` binary's main job, `kiln serve` with the openai client, `kiln app`'s window under
# Xvfb), the playground driven in headless Chromium on WebGPU and on the CPU backend, and the
# post-processing tables in wasm (Node).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/kiln/target}"
export KILN_REQUIRE_MODEL=1 KILN_REQUIRE_GPU=1 KILN_REQUIRE_DATA=1 KILN_REQUIRE_SANDBOX=1 KILN_REQUIRE_OPENAI=1 KILN_REQUIRE_APP=1
# The one feature set every cargo build below uses (the desktop app is not a default feature).
export KILN_FEATURES=kiln/app

bash scripts/setup.sh test
export PATH="$HOME/.cache/kiln/tools/bin:$PATH"

echo "== the playground for wasm32 (UI + worker): dist/, embedded by the app's build"
bash scripts/web_build.sh

echo "== native tests (cargo test --workspace --features $KILN_FEATURES)"
cargo test --workspace --locked --features "$KILN_FEATURES" -- --test-threads=1

echo "== browser end-to-end: the playground (engine + UI for wasm32), headless Chromium"
bash scripts/e2e.sh

# After the playground's build, so that the wasm dependencies it shares are already compiled.
# kiln-web is named too, only so that cargo resolves the same features as the playground's build
# (without it serde, futures and proc-macro2 resolve differently and the parsers compile a second
# time for wasm, ≈ 4 min); its unit tests are plain #[test]s, run natively above, so the wasm
# runner reports "no tests to run!" for it.
echo "== post-processing tables and the CPU kernel's bits in wasm32 (wasm-bindgen-test under Node)"
CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
  cargo test -p kiln-post -p kiln-shaders -p kiln-web --lib --locked --target wasm32-unknown-unknown
