#!/usr/bin/env python3
"""Float64 numpy reference logits for the real default model (SmolLM2-135M-Instruct Q4_1).

Pinned dependencies (see scripts/requirements-fixtures.txt): numpy==2.4.6, gguf==0.19.0.

Usage:
    pip install -r scripts/requirements-fixtures.txt
    python3 scripts/real_model_reference.py [MODEL.gguf] [--out tests/fixtures/real_numpy]

MODEL.gguf defaults to $KILN_MODEL_DIR/SmolLM2-135M-Instruct-Q4_1.gguf
($KILN_MODEL_DIR defaults to ~/.cache/kiln/models).

What it does:
  * dequantizes every tensor of the GGUF with gguf-py's `gguf.quants.dequantize` (llama.cpp's
    own reference dequantization: Q4_1 -> d*q + m, Q8_0 -> d*q, F32 as is);
  * un-permutes attn_q / attn_k back to the Hugging Face layout (llama.cpp's converter
    permuted them for its interleaved "NORM" RoPE: within each head, GGUF rows 2i and 2i+1 are
    HF rows i and i+d/2), so the HF rotate_half RoPE applies;
  * runs a float64 forward written from the equations of HF transformers' modeling_llama.py
    (RMSNorm, rotate_half RoPE, repeat_kv GQA, causal softmax attention, SwiGLU MLP, tied
    lm_head) over the whole sequence, causal, no KV cache. It shares no code with kiln or
    llama.cpp;
  * for the first 4 cases of tests/fixtures/llama_cpp/greedy.jsonl, teacher-forces
    prompt_tokens + greedy[:8] (llama.cpp's own greedy tokens) and records, at the 9 positions
    len(prompt_tokens)-1 .. end (step j predicts greedy[j]), numpy's top-10 (id, logit) and
    numpy's logits for llama.cpp's top-5 ids of that step;
  * writes tests/fixtures/real_numpy/reference.json and README.md, and prints how far
    llama.cpp's logits are from this exact-math reference.

Deterministic: BLAS is pinned to one thread and logits are rounded to 6 significant digits;
re-running produces byte-identical files.
"""
from __future__ import annotations

import os

# One BLAS thread: deterministic summation order (and light on a 2-core machine).
for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_v] = "1"

import argparse  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import gguf  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
MODEL_FILE = "SmolLM2-135M-Instruct-Q4_1.gguf"
# sha256 of the model llama.cpp's fixtures were made with (tests/fixtures/llama_cpp/README.md)
LLAMA_CPP_MODEL_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
N_CASES = 4
N_FORCED = 8  # greedy tokens appended; gives N_FORCED + 1 scored positions
TOP_K = 10


def versions() -> dict:
    from importlib.metadata import version

    return {"numpy": np.__version__, "gguf": version("gguf")}


# --------------------------------------------------------------------------------------
# GGUF loading
# --------------------------------------------------------------------------------------


def field(r: gguf.GGUFReader, key: str):
    return r.fields[key].contents()


def load_gguf(path: Path) -> tuple[dict[str, np.ndarray], dict]:
    r = gguf.GGUFReader(path)
    arch = field(r, "general.architecture")
    if arch != "llama":
        raise SystemExit(f"expected a llama-arch GGUF, got {arch!r}")
    cfg = {
        "n_layer": int(field(r, "llama.block_count")),
        "hidden": int(field(r, "llama.embedding_length")),
        "ffn": int(field(r, "llama.feed_forward_length")),
        "n_head": int(field(r, "llama.attention.head_count")),
        "n_kv": int(field(r, "llama.attention.head_count_kv")),
        "rope_theta": float(field(r, "llama.rope.freq_base")),
        # stored as f32 in the GGUF (9.999999747e-06); used as that exact value
        "eps": float(field(r, "llama.attention.layer_norm_rms_epsilon")),
        "rope_dim": int(field(r, "llama.rope.dimension_count")),
    }
    cfg["head_dim"] = cfg["hidden"] // cfg["n_head"]
    assert cfg["rope_dim"] == cfg["head_dim"], "partial RoPE not handled"
    ts: dict[str, np.ndarray] = {}
    for t in r.tensors:
        # t.shape is ggml ne order (ne[0] first); numpy row-major shape is the reverse.
        shape = tuple(int(x) for x in reversed(t.shape.tolist()))
        ts[t.name] = gguf.quants.dequantize(t.data, t.tensor_type).reshape(shape)  # float32
    hd = cfg["head_dim"]
    for i in range(cfg["n_layer"]):
        for name, nh in (("attn_q", cfg["n_head"]), ("attn_k", cfg["n_kv"])):
            key = f"blk.{i}.{name}.weight"
            assert ts[key].shape[0] == nh * hd, (key, ts[key].shape)
            ts[key] = unpermute(ts[key], nh)
    return ts, cfg


def unpermute(w: np.ndarray, n_head: int) -> np.ndarray:
    """Inverse of convert_hf_to_gguf.py LlamaModel.permute: GGUF row h*d + 2i + j
    (j in {0,1}) -> HF row h*d + j*d/2 + i."""
    return (w.reshape(n_head, w.shape[0] // n_head // 2, 2, *w.shape[1:])
            .swapaxes(1, 2)
            .reshape(w.shape))


# --------------------------------------------------------------------------------------
# Float64 forward, HF modeling_llama.py equations
# --------------------------------------------------------------------------------------


def rms_norm(x: np.ndarray, w: np.ndarray, eps: float) -> np.ndarray:
    var = np.mean(x * x, axis=-1, keepdims=True)
    return (x / np.sqrt(var + eps)) * w.astype(np.float64)


def rotate_half(x: np.ndarray) -> np.ndarray:
    h = x.shape[-1] // 2
    return np.concatenate([-x[..., h:], x[..., :h]], axis=-1)


def silu(x: np.ndarray) -> np.ndarray:
    return x / (1.0 + np.exp(-x))


def f64(t: np.ndarray) -> np.ndarray:
    return t.astype(np.float64)


def forward(ts: dict[str, np.ndarray], cfg: dict, ids: list[int]) -> np.ndarray:
    """Logits [T, V] for token ids; every operation in float64."""
    T = len(ids)
    nh, nkv, hd, eps = cfg["n_head"], cfg["n_kv"], cfg["head_dim"], cfg["eps"]
    inv_freq = 1.0 / (cfg["rope_theta"] ** (np.arange(0, hd, 2, dtype=np.float64) / hd))
    freqs = np.outer(np.arange(T, dtype=np.float64), inv_freq)   # [T, hd/2]
    emb = np.concatenate([freqs, freqs], axis=-1)                # [T, hd]
    cos, sin = np.cos(emb), np.sin(emb)
    n_rep = nh // nkv
    mask = np.triu(np.full((T, T), -np.inf), k=1)

    embed = ts["token_embd.weight"]                              # [V, H] (tied lm_head)
    x = f64(embed[ids])                                          # [T, H]
    for i in range(cfg["n_layer"]):
        p = f"blk.{i}."
        h = rms_norm(x, ts[p + "attn_norm.weight"], eps)
        q = h @ f64(ts[p + "attn_q.weight"]).T
        k = h @ f64(ts[p + "attn_k.weight"]).T
        v = h @ f64(ts[p + "attn_v.weight"]).T
        q = q.reshape(T, nh, hd).transpose(1, 0, 2)               # [nh, T, hd]
        k = k.reshape(T, nkv, hd).transpose(1, 0, 2)
        v = v.reshape(T, nkv, hd).transpose(1, 0, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = np.repeat(k, n_rep, axis=0)  # repeat_kv: kv head j -> q heads j*n_rep..(j+1)*n_rep-1
        v = np.repeat(v, n_rep, axis=0)
        scores = q @ k.transpose(0, 2, 1) / math.sqrt(hd) + mask
        scores = scores - scores.max(-1, keepdims=True)
        probs = np.exp(scores)
        probs = probs / probs.sum(-1, keepdims=True)
        attn = (probs @ v).transpose(1, 0, 2).reshape(T, nh * hd)
        x = x + attn @ f64(ts[p + "attn_output.weight"]).T
        h = rms_norm(x, ts[p + "ffn_norm.weight"], eps)
        g = h @ f64(ts[p + "ffn_gate.weight"]).T
        u = h @ f64(ts[p + "ffn_up.weight"]).T
        x = x + (silu(g) * u) @ f64(ts[p + "ffn_down.weight"]).T
    x = rms_norm(x, ts["output_norm.weight"], eps)
    head = ts["output.weight"] if "output.weight" in ts else embed
    return x @ f64(head).T


# --------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------


def r6(x) -> float:
    return float(f"{float(x):.6g}")


def _is_scalar(o) -> bool:
    return not isinstance(o, (dict, list))


def dumps(o, ind: int = 0) -> str:
    """JSON with one key per line, short numeric rows kept on one line (small, diffable)."""
    pad = " " * (ind + 1)
    if isinstance(o, dict):
        if not o:
            return "{}"
        items = [pad + json.dumps(k, ensure_ascii=False) + ": " + dumps(v, ind + 1) for k, v in o.items()]
        return "{\n" + ",\n".join(items) + "\n" + " " * ind + "}"
    if isinstance(o, list):
        if all(_is_scalar(x) for x in o) or all(
                isinstance(x, list) and all(_is_scalar(y) for y in x) for x in o):
            return json.dumps(o, ensure_ascii=False, separators=(",", ":"))
        return "[\n" + ",\n".join(pad + dumps(x, ind + 1) for x in o) + "\n" + " " * ind + "]"
    return json.dumps(o, ensure_ascii=False)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


NOTE = (
    "Independent float64 numpy forward pass (HF modeling_llama.py equations: RMSNorm, "
    "rotate_half RoPE, repeat_kv GQA, causal softmax attention, SwiGLU, tied lm_head) on "
    "weights dequantized by gguf-py (llama.cpp's reference dequantization), attn_q/attn_k "
    "un-permuted to HF layout. Teacher-forced on llama.cpp's greedy tokens: tokens = "
    "prompt_tokens + greedy[:8]; steps[j] are the logits at position first_position + j "
    "(= len(prompt_tokens) - 1 + j), which predict greedy[j] and correspond to top5[j] of "
    "tests/fixtures/llama_cpp/greedy.jsonl. Logits rounded to 6 significant digits."
)


def readme(summary: dict, model_sha: str, vers: dict) -> str:
    rows = "\n".join(
        f"| {c['id']} | {c['n_tokens']} | {c['mean']:.3f} | {c['max']:.3f} | "
        f"{c['argmax_agree']}/{c['steps']} |"
        for c in summary["cases"])
    return f"""# Float64 numpy reference for the real default model

`reference.json` holds exact-math reference logits for `SmolLM2-135M-Instruct-Q4_1.gguf`
(sha256 `{model_sha}`),
produced by `scripts/real_model_reference.py` (numpy {vers['numpy']}, gguf {vers['gguf']}).
Regenerate with:

    pip install -r scripts/requirements-fixtures.txt
    python3 scripts/real_model_reference.py [path/to/SmolLM2-135M-Instruct-Q4_1.gguf]

## How it is made

- Every tensor is dequantized with gguf-py's `gguf.quants.dequantize` (llama.cpp's own
  reference dequantization; Q4_1 blocks -> `d*q + m`, the tied `token_embd` Q8_0 -> `d*q`,
  norms F32). gguf-py returns float32; everything after that is float64.
- `attn_q` / `attn_k` are un-permuted back to the Hugging Face layout (llama.cpp's converter
  permuted them for its interleaved RoPE: within each head GGUF rows `2i`, `2i+1` are HF rows
  `i`, `i+d/2`), so the HF `rotate_half` RoPE applies.
- The forward pass is plain float64 numpy written from Hugging Face transformers'
  `modeling_llama.py` equations (RMSNorm with the GGUF's eps, RoPE theta 100000, repeat_kv GQA
  9/3 heads, causal softmax attention, SwiGLU MLP, tied lm_head), full sequence, no KV cache.
  It shares no code with kiln or llama.cpp.
- Cases: the first {N_CASES} lines of `tests/fixtures/llama_cpp/greedy.jsonl`. Each is
  teacher-forced on llama.cpp's own tokens, `tokens = prompt_tokens + greedy[:{N_FORCED}]`, and
  scored at the {N_FORCED + 1} positions `first_position = len(prompt_tokens) - 1` .. end.
  `steps[j]` (position `first_position + j`) predicts `greedy[j]` and lines up with llama.cpp's
  `top5[j]`.

## Format

`{{"model_sha256", "generator", "versions", "note", "cases": [{{"id", "tokens",
"first_position", "steps": [{{"top10": [[id, logit], ...], "llama_top5_ids": [...],
"logits_at_llama_top5": [...]}}]}}]}}` — `top10` is numpy's ten largest logits (descending);
`logits_at_llama_top5` is numpy's logit for each of llama.cpp's top-5 ids at that step, so a
test can compare three ways (kiln vs numpy, kiln vs llama.cpp, llama.cpp vs numpy). Logits are
rounded to 6 significant digits.

## What it shows

llama.cpp is not exact math: its Q4_1 / Q8_0 matmuls quantize the activations to Q8_1 / Q8_0
first. Over the {summary['n_logits']} (step, llama.cpp top-5 id) pairs, |llama.cpp logit -
numpy logit| has mean {summary['mean']:.3f} and max {summary['max']:.3f}; numpy's argmax equals
llama.cpp's greedy token at {summary['argmax_agree']}/{summary['n_steps']} steps.

| case | tokens | mean abs diff | max abs diff | argmax agrees |
| --- | --- | --- | --- | --- |
{rows}

Quantizing activations also makes llama.cpp's logits sensitive to summation order: tiny
upstream differences flip Q8 roundings, and over 30 layers that grows to the full quantization
noise. One-off checks made while writing the script: the same Q8_1/Q8_0-activation pipeline run
in float32 vs float64 differed by 0.5-1.2 (max over the vocabulary) at these positions, and a
numpy simulation of it was as far from llama.cpp as this reference is (mean 0.22); whereas a
plain float32 forward on the same dequantized weights stayed within 1e-4 of these logits, and
skipping the q/k un-permute moved them by up to 19 (argmax right at 19/36 steps only).

So an engine that dequantizes weights and multiplies in f32 should sit within about 1e-3 of
*these* logits, while agreement with llama.cpp can only be expected within roughly the
llama.cpp-vs-numpy distance above (about 1 logit), unless the engine replicates llama.cpp's
kernels bit for bit.
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model", nargs="?", help=f"path to {MODEL_FILE}")
    ap.add_argument("--greedy", default=str(REPO / "tests" / "fixtures" / "llama_cpp" / "greedy.jsonl"))
    ap.add_argument("--out", default=str(REPO / "tests" / "fixtures" / "real_numpy"))
    args = ap.parse_args()

    t0 = time.time()
    if args.model:
        model = Path(args.model)
    else:
        d = os.environ.get("KILN_MODEL_DIR") or str(Path.home() / ".cache" / "kiln" / "models")
        model = Path(d).expanduser() / MODEL_FILE
    if not model.is_file():
        raise SystemExit(f"model not found: {model} (run scripts/fetch_model.sh)")
    model_sha = sha256_file(model)
    if model_sha != LLAMA_CPP_MODEL_SHA256:
        print(f"WARNING: model sha256 {model_sha} differs from the one llama.cpp's fixtures used "
              f"({LLAMA_CPP_MODEL_SHA256})", file=sys.stderr)

    ts, cfg = load_gguf(model)
    t_load = time.time() - t0
    print(f"model {model} sha256 {model_sha}")
    print(f"config {cfg}; loaded + dequantized in {t_load:.1f} s")

    greedy_lines = [json.loads(l) for l in Path(args.greedy).read_text(encoding="utf-8").splitlines()
                    if l.strip()]
    cases, summ_cases, all_diffs = [], [], []
    n_agree = n_steps = 0
    for g in greedy_lines[:N_CASES]:
        prompt, greedy, top5 = g["prompt_tokens"], g["greedy"], g["top5"]
        assert len(greedy) >= N_FORCED + 1 and len(top5) >= N_FORCED + 1, g["id"]
        tokens = [int(t) for t in prompt + greedy[:N_FORCED]]
        first = len(prompt) - 1
        tc = time.time()
        logits = forward(ts, cfg, tokens)
        steps, diffs, agree = [], [], 0
        print(f"== {g['id']} ({len(tokens)} tokens, forward {time.time() - tc:.1f} s)")
        print("  step pos  llama_greedy numpy_argmax  max|llama-numpy| over llama top5")
        for j in range(N_FORCED + 1):
            row = logits[first + j]
            order = np.argsort(-row, kind="stable")[:TOP_K]
            l_ids = [int(a) for a, _ in top5[j]]
            l_vals = np.array([float(b) for _, b in top5[j]])
            n_vals = row[l_ids]
            d = np.abs(l_vals - n_vals)
            diffs.extend(d.tolist())
            ok = int(order[0]) == int(greedy[j])
            agree += ok
            steps.append({
                "top10": [[int(t), r6(row[t])] for t in order],
                "llama_top5_ids": l_ids,
                "logits_at_llama_top5": [r6(v) for v in n_vals],
            })
            margin = row[order[0]] - row[order[1]]
            print(f"  {j:4d} {first + j:3d}  {greedy[j]:12d} {int(order[0]):12d}{'' if ok else ' !'}"
                  f"  {d.max():.4f}  (llama {np.round(l_vals, 3).tolist()} vs numpy "
                  f"{np.round(n_vals, 3).tolist()}; numpy top1-top2 margin {margin:.3f})")
        cases.append({"id": g["id"], "tokens": tokens, "first_position": first, "steps": steps})
        summ_cases.append({"id": g["id"], "n_tokens": len(tokens), "mean": float(np.mean(diffs)),
                           "max": float(np.max(diffs)), "argmax_agree": agree,
                           "steps": N_FORCED + 1})
        all_diffs.extend(diffs)
        n_agree += agree
        n_steps += N_FORCED + 1
        print(f"  case: mean |diff| {np.mean(diffs):.4f}, max {np.max(diffs):.4f}, "
              f"argmax == llama greedy at {agree}/{N_FORCED + 1}")

    summary = {"cases": summ_cases, "n_logits": len(all_diffs), "mean": float(np.mean(all_diffs)),
               "max": float(np.max(all_diffs)), "argmax_agree": n_agree, "n_steps": n_steps}
    vers = versions()
    ref = {
        "model_sha256": model_sha,
        "generator": "scripts/real_model_reference.py",
        "versions": vers,
        "note": NOTE,
        "cases": cases,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    text = dumps(ref) + "\n"
    assert json.loads(text) == ref
    (out / "reference.json").write_text(text, encoding="utf-8")
    (out / "README.md").write_text(readme(summary, model_sha, vers), encoding="utf-8")
    print(f"ALL: {len(all_diffs)} logits, mean |llama.cpp - numpy| {summary['mean']:.4f}, "
          f"max {summary['max']:.4f}; argmax agrees {n_agree}/{n_steps}")
    print(f"wrote {out / 'reference.json'} and {out / 'README.md'}; total {time.time() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
