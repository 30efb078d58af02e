#!/usr/bin/env bash
# Time from `kiln app` to an interactive window, and to the default model ready to generate:
# the median of N starts (default 5) of the app built with --features app, on $DISPLAY, or on
# an Xvfb server of its own when there is none. Each start is timed inside the app, from its
# start: "window ready" (the UI loaded from the embedded assets and connected to the native
# engine) and the moment the page reports the default model ready (tests/app/ready.js); and from
# outside, process start to exit (which adds WebKit's teardown).
# Usage: scripts/bench_app.sh [N]   (after scripts/run.sh --app, or the test command)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/kiln/target}"
runs="${1:-5}"
bin="$CARGO_TARGET_DIR/debug/kiln"
if ! "$bin" app --help >/dev/null 2>&1 || "$bin" app --help | grep -q "built without"; then
  echo "bench_app: $bin has no app: build it with scripts/run.sh --app first" >&2
  exit 1
fi
if [ -z "${DISPLAY:-}" ]; then
  export DISPLAY=":$((200 + $$ % 100))"
  Xvfb "$DISPLAY" -screen 0 1280x900x24 -nolisten tcp >/dev/null 2>&1 &
  xvfb=$!
  trap 'kill $xvfb 2>/dev/null || true' EXIT
  for _ in $(seq 100); do [ -e "/tmp/.X11-unix/X${DISPLAY#:}" ] && break; sleep 0.05; done
fi
export NO_AT_BRIDGE=1
out="$(mktemp -d)"
echo "bench_app: $runs starts of kiln app on $DISPLAY ($(nproc) cores, $(date -u +%F))"
for i in $(seq "$runs"); do
  t0=$(date +%s%N)
  "$bin" app --device cpu --drive tests/app/ready.js >"$out/out" 2>"$out/err"
  t1=$(date +%s%N)
  window=$(sed -n 's/.*window ready in \([0-9]*\) ms.*/\1/p' "$out/err")
  ready=$(sed -n 's/.*drive script reported after \([0-9]*\) ms.*/\1/p' "$out/err")
  wall=$(( (t1 - t0) / 1000000 ))
  echo "$wall ${window:-nan} ${ready:-nan}" >>"$out/times"
  echo "  start $i: window ready ${window:-?} ms, model ready ${ready:-?} ms, process start to exit $wall ms; $(tail -1 "$out/out" | head -c 160)"
done
python3 - "$out/times" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
med = lambda i: statistics.median(float(r[i]) for r in rows)
print(f"median of {len(rows)}: interactive window {med(1):.0f} ms, default model ready {med(2):.0f} ms "
      f"(both from the app's start); process start to exit {med(0):.0f} ms")
PY
rm -rf "$out"
