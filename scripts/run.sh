#!/usr/bin/env bash
# The main job: sets up (idempotently) only what generation needs, builds the `kiln` binary and
# asks the default model for code. The answer is post-processed (code extracted, syntax checked,
# a degenerate tail cut); `--raw` prints the untouched text.
# Usage: scripts/run.sh [--gpu] [PROMPT] [more kiln generate flags]
#        (--gpu builds the wgpu backend too: a longer first build; without it kiln runs on the
#        CPU, where its quantized kernels are)
#        scripts/run.sh --web      (builds the browser playground and serves it on 127.0.0.1:8080)
#        scripts/run.sh --app      (builds the desktop app — the playground in a native window,
#                                  WebKitGTK installed by scripts/setup.sh app — and opens it)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/kiln/target}"
if [ "${1:-}" = --web ]; then
  bash scripts/setup.sh test
  exec bash scripts/web_build.sh serve
fi
features=(--no-default-features)
what="engine (CPU backend), tokenizer, syntax checkers"
minutes="12-15"
if [ "${1:-}" = --gpu ]; then
  shift
  features=(--features gpu)
  what="engine with the CPU and wgpu backends, tokenizer, syntax checkers"
  minutes="20"
fi
bash scripts/setup.sh run
bin="$CARGO_TARGET_DIR/debug/kiln"
# Mesa's Vulkan drivers print an error per probe when XDG_RUNTIME_DIR is unset (bare containers).
if [ -z "${XDG_RUNTIME_DIR:-}" ]; then
  export XDG_RUNTIME_DIR="${TMPDIR:-/tmp}/kiln-runtime-$(id -u)"
  mkdir -p -m 700 "$XDG_RUNTIME_DIR"
fi
if [ "${1:-}" = --app ]; then
  shift
  bash scripts/setup.sh app
  bash scripts/web_build.sh
  cargo build --locked -p kiln --bin kiln --features app ${KILN_CARGO_FLAGS:-}
  exec "$bin" app "$@"
fi
if [ ! -x "$bin" ]; then
  echo "run: first build of the kiln binary ($what);" \
       "about $minutes minutes on 2 cores, seconds afterwards" >&2
fi
# Only the binary: no web crate, no tests. Dependencies are optimised ([profile.dev.package]).
cargo build --locked -p kiln --bin kiln "${features[@]}" ${KILN_CARGO_FLAGS:-}
prompt="${1:-Write a Python function that returns the factorial of n.}"
shift || true
exec "$bin" generate --chat --temp 0 -n 256 "$prompt" "$@"
