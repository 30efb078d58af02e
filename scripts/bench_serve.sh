#!/usr/bin/env bash
# `kiln serve` next to llama-server on the same GGUF and machine: aggregate completion tokens/s
# with 1, 4 and 16 concurrent streaming clients (scripts/bench_serve.py: greedy, exactly TOKENS
# tokens each), the two servers interleaved round by round; and `kiln bench`'s in-process decode
# for the HTTP overhead. llama-server gets --parallel N for N clients (context 512 per slot).
# Prints one JSON line per measurement, then medians.
#
# Usage: scripts/bench_serve.sh [ROUNDS]   (default 3)
# Env: KILN_BIN (default: the dev build), LLAMA_SERVER (default: scripts/build_llama_cpp.sh's,
#      built with KILN_LLAMA_SERVER=1), MODEL (default model), TOKENS (64), THREADS (2),
#      CLIENTS ("1 4 16"), KILN_SERVE_FLAGS (e.g. --q8-activations).
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS="${1:-3}"
KILN_BIN="${KILN_BIN:-${CARGO_TARGET_DIR:-$HOME/.cache/kiln/target}/debug/kiln}"
LLAMA_SERVER="${LLAMA_SERVER:-$HOME/.cache/kiln/llama.cpp/build/bin/llama-server}"
MODEL="${MODEL:-$HOME/.cache/kiln/models/SmolLM2-135M-Instruct-Q4_1.gguf}"
TOKENS="${TOKENS:-64}"; THREADS="${THREADS:-2}"; CLIENTS="${CLIENTS:-1 4 16}"
for f in "$KILN_BIN" "$LLAMA_SERVER" "$MODEL"; do
  [ -e "$f" ] || { echo "bench_serve: $f is missing (cargo build -p kiln; KILN_LLAMA_SERVER=1 scripts/build_llama_cpp.sh; scripts/fetch_model.sh)" >&2; exit 1; }
done
KEY="bench-$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')"
OUT="$(mktemp)"; LOG="$(mktemp)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -f "$LOG"; }
trap cleanup EXIT

RAYON_NUM_THREADS="$THREADS" KILN_API_KEY="$KEY" "$KILN_BIN" serve -m "$MODEL" --device cpu \
  --port 0 --parallel 16 -q ${KILN_SERVE_FLAGS:-} 2> "$LOG" &
pids+=($!)
for _ in $(seq 100); do grep -q "listening on" "$LOG" && break; sleep 0.2; done
KILN_URL="$(grep -o 'http://[^ ]*/v1' "$LOG")"
echo "bench_serve: kiln serve at $KILN_URL" >&2

echo "bench_serve: kiln bench (in process, $TOKENS tokens)" >&2
RAYON_NUM_THREADS="$THREADS" "$KILN_BIN" bench -m "$MODEL" --device cpu -g "$TOKENS" --runs 3 --json -q ${KILN_SERVE_FLAGS:-} \
  | python3 -c 'import json,sys; v=json.load(sys.stdin); print(json.dumps({"engine":"kiln bench","decode_tok_s":v.get("decode_tok_s", v)}))' | tee -a "$OUT"

for n in $CLIENTS; do
  port=$(( 20000 + RANDOM % 20000 ))
  "$LLAMA_SERVER" -m "$MODEL" --host 127.0.0.1 --port "$port" -np "$n" -c $(( n * 512 )) \
    -t "$THREADS" --api-key "$KEY" >/dev/null 2>&1 &
  lpid=$!; pids+=($lpid)
  for _ in $(seq 150); do curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break; sleep 0.2; done
  for r in $(seq "$ROUNDS"); do
    for engine in kiln llama-server; do
      url="$KILN_URL"; [ "$engine" = llama-server ] && url="http://127.0.0.1:$port/v1"
      python3 scripts/bench_serve.py --url "$url" --key "$KEY" --clients "$n" --tokens "$TOKENS" \
        | python3 -c "import json,sys; v=json.load(sys.stdin); v.update(engine='$engine', round=$r); print(json.dumps(v))" \
        | tee -a "$OUT"
    done
  done
  kill "$lpid"; wait "$lpid" 2>/dev/null || true
done

python3 - "$OUT" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print("\nengine        clients  aggregate tok/s (median)  per-client decode tok/s  first token s")
for n in sorted({r["clients"] for r in rows if "clients" in r}):
    for e in ("kiln", "llama-server"):
        rs = [r for r in rows if r.get("clients") == n and r["engine"] == e]
        if rs:
            med = lambda k: statistics.median(r[k] for r in rs if r[k] is not None)
            print(f"{e:13} {n:7}  {med('aggregate_tok_s'):24.1f}  {med('median_client_decode_tok_s'):23.1f}  {med('median_first_token_s'):13.3f}")
for r in rows:
    if r["engine"] == "kiln bench":
        print(f"kiln bench (in process): decode {r['decode_tok_s']} tok/s")
PY
