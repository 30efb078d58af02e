#!/usr/bin/env bash
# One-off cross-check of the tiny fixtures' numpy reference against llama.cpp: runs llama-greedy
# (scripts/build_llama_cpp.sh) on each model's GGUF with the reference prompt and compares the
# prompt ids, the 8-token greedy continuation and the first step's top-5 logits.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="$(bash scripts/build_llama_cpp.sh | tail -n 1)"
prompts="$(mktemp)"; out="$(mktemp)"; trap 'rm -f "$prompts" "$out"' EXIT
for m in llama_gqa qwen2_bias llama3_rope; do
  f=tests/fixtures/tiny/$m/gguf/model-F32.gguf
  [ -f "$f" ] || f=tests/fixtures/tiny/$m/gguf/model-F16.gguf
  python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(json.dumps({"id":"tiny","mode":"chat","text":"","rendered":r["prompt_text"]}))' \
    "tests/fixtures/tiny/$m/reference.json" > "$prompts"
  "$BIN/llama-greedy" greedy -m "$f" -f "$prompts" -n 8 -t 1 2>/dev/null > "$out"
  python3 - "$m" "$f" "$out" <<'PY'
import json, sys
m, f, out = sys.argv[1:]
l = json.load(open(out))
r = json.load(open(f"tests/fixtures/tiny/{m}/reference.json"))
last = r["logits_f32"][-1]
diff = max(abs(last[i] - v) for i, v in l["top5"][0])
print(f"{m} ({f.rsplit('/', 1)[1]}): prompt ids equal {l['prompt_tokens'] == r['token_ids']}, "
      f"greedy equal {l['greedy'] == r['greedy_continuation']}, step-0 top-5 max |diff| {diff:.2e}")
PY
done
