#!/usr/bin/env bash
# Runs the README's two commands as a new user would and times each: a clean clone of this
# repository's HEAD and an empty HOME (no cargo registry, no build directory, no tools, models,
# pip or npm caches). The toolchain (rustup) and Debian packages already on the machine are kept.
# Not part of CI: run it by hand for the README's figures.
#
# Usage: scripts/fresh_machine.sh [run|test|both] [WORKDIR]   (default: both, /tmp/kiln-fresh)
# Each command's output goes to WORKDIR/<run|test>.log; the run's cargo build timings (HTML)
# to WORKDIR/run-timings.
set -euo pipefail
which="${1:-both}"
W="${2:-/tmp/kiln-fresh}"
repo="$(cd "$(dirname "$0")/.." && pwd)"
case "$which" in run|test|both) ;; *) echo "usage: $0 [run|test|both] [WORKDIR]" >&2; exit 2 ;; esac
[ -e "$W" ] && { echo "$W exists: remove it or pick another WORKDIR" >&2; exit 2; }
mkdir -p "$W/home"
git clone -q "$repo" "$W/kiln"
RUSTUP_HOME="${RUSTUP_HOME:-$(rustup show home)}"
cargo_bin="$(dirname "$(command -v cargo)")"
py_bin="$(dirname "$(command -v python3)")"
# pyenv's shims find their interpreters under PYENV_ROOT, which defaults to $HOME/.pyenv.
PYENV_ROOT="${PYENV_ROOT:-$(python3 -c 'import sys; print(sys.base_prefix.split("/versions/")[0])' 2>/dev/null || true)}"
fresh() {
  env -i HOME="$W/home" RUSTUP_HOME="$RUSTUP_HOME" CARGO_HOME="$W/home/.cargo" \
    PYENV_ROOT="$PYENV_ROOT" PATH="$cargo_bin:$py_bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
    TERM=dumb LANG=C.UTF-8 "$@"
}
timed() {
  local name="$1"; shift
  local t0; t0=$(date +%s)
  echo "fresh_machine: $name: $* (log: $W/$name.log)"
  if (cd "$W/kiln" && fresh "$@") >"$W/$name.log" 2>&1; then status=ok; else status="FAILED ($?)"; fi
  local t=$(( $(date +%s) - t0 ))
  printf 'fresh_machine: %s: %s in %d min %02d s\n' "$name" "$status" $((t / 60)) $((t % 60)) | tee -a "$W/times.txt"
}
if [ "$which" != test ]; then
  timed run env KILN_CARGO_FLAGS=--timings bash scripts/run.sh
fi
if [ "$which" != run ]; then
  # A cold CI run: the test command alone on an empty HOME, as .ci/run does (the run's build
  # timings are kept in WORKDIR first).
  if [ "$which" = both ]; then
    cp -r "$W/home/.cache/kiln/target/cargo-timings" "$W/run-timings" 2>/dev/null || true
    rm -rf "$W/home"; mkdir -p "$W/home"
  fi
  timed test env CI=true bash .ci/run
fi
cat "$W/times.txt"
