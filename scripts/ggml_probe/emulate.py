#!/usr/bin/env python3
"""A float32 forward of the default model that emulates ggml's CPU mat-muls as documented, and a
layer-by-layer comparison with llama.cpp's residual stream (dump_layers.cpp's output).

Emulated: activations quantised per block of 32 (d = amax/127 stored as f16, q = round-half-even
of x·127/amax), Q8_1 block sums s = f16(d·Σq), and the Q4_1 dot product d_w·d_x·Σq_w·q_x + m_w·s
(Q8_0 for the Q8_0 output head). Everything else is plain float32.

Usage: python3 scripts/ggml_probe/emulate.py MODEL.gguf llama_layers.txt ID ID ...
Needs numpy and gguf (scripts/requirements-fixtures.txt); reuses real_model_reference.py's loader.
"""
import math
import os
import sys

os.environ["OPENBLAS_NUM_THREADS"] = "1"
sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import gguf  # noqa: E402
import numpy as np  # noqa: E402

import real_model_reference as ref  # noqa: E402

path, dump, ids = sys.argv[1], sys.argv[2], [int(x) for x in sys.argv[3:]]
ts, cfg = ref.load_gguf(ref.Path(path))
W = {k: v.astype(np.float32) for k, v in ts.items()}
MINS = {}  # per-block minimum m of each Q4_1 weight, [out, in/32], rows in HF order
for t in gguf.GGUFReader(path).tensors:
    if t.tensor_type.name == "Q4_1":
        raw = np.asarray(t.data).reshape(-1, 20)
        m = raw[:, 2:4].copy().view(np.float16).astype(np.float32).reshape(int(t.shape[1]), -1)
        if t.name.endswith(("attn_q.weight", "attn_k.weight")):
            m = ref.unpermute(m, cfg["n_head"] if "attn_q" in t.name else cfg["n_kv"])
        MINS[t.name] = m


def f16(x):
    return x.astype(np.float16).astype(np.float32)


def lin(x, w):
    b = x.reshape(-1, 32).astype(np.float32)
    amax = np.abs(b).max(axis=1, keepdims=True)
    d = amax / np.float32(127)
    inv = np.where(amax != 0, np.float32(127) / np.where(amax != 0, amax, 1), 0).astype(np.float32)
    q = np.rint(b * inv)
    y = (q * f16(d)).reshape(x.shape) @ W[w].T
    if w in MINS:
        sums = q.sum(1, keepdims=True)
        y = y + (f16(d * sums) - f16(d) * sums).reshape(x.shape[0], -1) @ MINS[w].T
    return y.astype(np.float32)


def rms(x, w):
    mean = (x.astype(np.float64) ** 2).sum(-1, keepdims=True) / x.shape[-1]
    return (x * (1.0 / np.sqrt(mean.astype(np.float32) + np.float32(cfg["eps"]))) * W[w]).astype(np.float32)


nh, nkv, hd, T = cfg["n_head"], cfg["n_kv"], cfg["head_dim"], len(ids)
inv_freq = 1.0 / (cfg["rope_theta"] ** (np.arange(0, hd, 2, dtype=np.float64) / hd))
emb = np.concatenate([np.outer(np.arange(T, dtype=np.float64), inv_freq)] * 2, -1)
cos, sin = np.cos(emb).astype(np.float32), np.sin(emb).astype(np.float32)
theirs = {line.split()[0]: [float(v) for v in line.split()[1:5]] for line in open(dump)}
x = W["token_embd.weight"][ids].astype(np.float32)
for i in range(cfg["n_layer"]):
    p = f"blk.{i}."
    h = rms(x, p + "attn_norm.weight")
    q = lin(h, p + "attn_q.weight").reshape(T, nh, hd).transpose(1, 0, 2)
    k = lin(h, p + "attn_k.weight").reshape(T, nkv, hd).transpose(1, 0, 2)
    v = lin(h, p + "attn_v.weight").reshape(T, nkv, hd).transpose(1, 0, 2)
    q = q * cos + ref.rotate_half(q) * sin
    k = k * cos + ref.rotate_half(k) * sin
    k, v = np.repeat(k, nh // nkv, 0), np.repeat(v, nh // nkv, 0)
    sc = q @ k.transpose(0, 2, 1) / np.float32(math.sqrt(hd)) + np.triu(np.full((T, T), -np.inf, np.float32), 1)
    pr = np.exp(sc - sc.max(-1, keepdims=True))
    pr = pr / pr.sum(-1, keepdims=True)
    x = x + lin((pr @ v).transpose(1, 0, 2).reshape(T, nh * hd).astype(np.float32), p + "attn_output.weight")
    h = rms(x, p + "ffn_norm.weight")
    g, u = lin(h, p + "ffn_gate.weight"), lin(h, p + "ffn_up.weight")
    x = x + lin((g / (1 + np.exp(-g))) * u, p + "ffn_down.weight")
    ours, ref_row = x[-1][:4], theirs.get(f"l_out-{i}", [float("nan")] * 4)
    print(f"layer {i:2}: max |emulation - llama.cpp| over 4 values = {np.abs(ours - ref_row).max():.2e}")
