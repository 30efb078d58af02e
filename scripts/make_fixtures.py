#!/usr/bin/env python3
"""Generate tiny, deterministic transformer fixtures for kiln's loader/forward tests.

Pinned generator dependencies (see scripts/requirements-fixtures.txt):
    numpy==2.4.6
    gguf==0.19.0        (llama.cpp's official gguf-py package, from PyPI)
Optional, used only by --validate (never needed to *produce* the files):
    tokenizers==0.23.3  (loads tokenizer.json and checks our reference encodings)
    jinja2==3.1.6       (renders chat_template and checks our reference rendering)

Usage:
    pip install -r scripts/requirements-fixtures.txt
    python3 scripts/make_fixtures.py [--out tests/fixtures/tiny] [--no-validate]

What it writes (per model, under <out>/<model>/; see tests/fixtures/tiny/README.md):
    hf/config.json, hf/model.safetensors, hf/tokenizer.json, hf/tokenizer_config.json
    hf_sharded/ (llama_gqa: 2 BF16 shards + model.safetensors.index.json)
    hf_f16/ + hf_bf16/ (qwen2_bias)
    gguf/model-<TYPE>.gguf  (llama_gqa: F32 F16 Q8_0 Q4_0 Q4_1; qwen2_bias: F16 Q8_0
                             Q4_0 Q4_1; llama3_rope: F16)
    reference.json

The reference forward pass below is plain float64 numpy written from the equations of
Hugging Face transformers' modeling_llama.py / modeling_qwen2.py (RMSNorm, rotate_half
RoPE, repeat_kv GQA, causal softmax attention, SwiGLU MLP). It does not use or mirror
any kiln code. The GGUF side reproduces what llama.cpp's convert_hf_to_gguf.py does for
LlamaModel / Qwen2Model (tensor names, metadata keys, the LlamaModel.permute of q/k for
arch "llama", 1-D tensors kept F32), and what `llama-quantize --pure` would do for the
Q4_0 / Q4_1 files (every 2-D weight, token_embd included, in the target type).

Everything is seeded; re-running produces byte-identical files (checked with sha256).
"""
from __future__ import annotations

import argparse
import json
import math
import re
import shutil
import struct
import sys
from pathlib import Path

import numpy as np
import gguf
from gguf import GGMLQuantizationType as QT
from gguf import LlamaFileType, TokenType

GEN_VERSIONS = {"numpy": np.__version__, "gguf": "0.19.0"}
try:  # record the actually-installed gguf version
    from importlib.metadata import version as _pkg_version

    GEN_VERSIONS["gguf"] = _pkg_version("gguf")
except Exception:  # pragma: no cover
    pass

# --------------------------------------------------------------------------------------
# Model definitions
# --------------------------------------------------------------------------------------

HIDDEN = 64
LAYERS = 2
INTER = 128
VOCAB = 300
MAX_POS = 128
N_HEAD = 4
N_KV = 2
HEAD_DIM = HIDDEN // N_HEAD  # 16

MODELS = {
    "llama_gqa": dict(
        arch="llama", hf_arch="LlamaForCausalLM", model_type="llama",
        rms_norm_eps=1e-5, rope_theta=10000.0, tie=False, qkv_bias=False,
        rope_scaling=None, tokenizer="smollm", base_seed=1000, hf_dtype="F32",
        gguf_types=["F32", "F16", "Q8_0", "Q4_0", "Q4_1"],
        hf_variants=["sharded"],
    ),
    "qwen2_bias": dict(
        arch="qwen2", hf_arch="Qwen2ForCausalLM", model_type="qwen2",
        rms_norm_eps=1e-6, rope_theta=1000000.0, tie=True, qkv_bias=True,
        rope_scaling=None, tokenizer="qwen2", base_seed=4114, hf_dtype="F32",
        gguf_types=["F16", "Q8_0", "Q4_0", "Q4_1"],
        hf_variants=["f16", "bf16"],
    ),
    "llama3_rope": dict(
        arch="llama", hf_arch="LlamaForCausalLM", model_type="llama",
        rms_norm_eps=1e-5, rope_theta=10000.0, tie=True, qkv_bias=False,
        rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                      "high_freq_factor": 4.0, "original_max_position_embeddings": 32},
        tokenizer="smollm", base_seed=9176, hf_dtype="BF16",
        gguf_types=["F16"],
        hf_variants=[],
    ),
}

GGUF_FILE_TYPE = {
    "F32": LlamaFileType.ALL_F32,       # 0
    "F16": LlamaFileType.MOSTLY_F16,    # 1
    "Q4_0": LlamaFileType.MOSTLY_Q4_0,  # 2
    "Q4_1": LlamaFileType.MOSTLY_Q4_1,  # 3
    "Q8_0": LlamaFileType.MOSTLY_Q8_0,  # 7
}

PROMPT_TEXT = "<|im_start|>the cat sat on the"
N_GREEDY = 8
MIN_MARGIN = 0.05  # seed search: top1-top2 logit gap (f32 weights) on every scored position
MIN_MARGIN_GGUF = 0.02  # ... and on every prompt position for each GGUF type's own logits
MIN_DISTINCT_GREEDY = 5  # ... and a greedy continuation that is not one repeated token

# --------------------------------------------------------------------------------------
# Tokenizer: tiny byte-level BPE, merges "trained" deterministically on a fixed corpus
# --------------------------------------------------------------------------------------

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
N_MERGES = 24
CORPUS = (
    "the cat sat on the mat. the dog sat on the log. hello world! "
    "the quick brown fox jumps over the lazy dog. hello there, how are you? "
    "i am fine, thank you. the weather is nice today and the cat is on the mat."
)

# SmolLM2-style ChatML template (same structure as HuggingFaceTB/SmolLM2-*-Instruct).
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant.<|im_end|>\n' }}"
    "{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2 byte -> printable unicode char map (as in HF tokenizers' ByteLevel)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


BYTE_ENC = bytes_to_unicode()
BYTE_DEC = {v: k for k, v in BYTE_ENC.items()}

# Python `re` has no \p{..}; these are exact for the test strings we use (ASCII plus a
# few Latin letters): letters = [^\W\d_], digits = \d, "not space/letter/number" =
# [^\s\w] or '_'.
_L = r"[^\W\d_]"
_N = r"\d"
_NOT_SLN = r"(?:[^\s\w]|_)"
GPT2_RE = re.compile(
    rf"'s|'t|'re|'ve|'m|'ll|'d| ?{_L}+| ?{_N}+| ?{_NOT_SLN}+|\s+(?!\S)|\s+"
)
QWEN2_RE = re.compile(
    rf"(?i:'s|'t|'re|'ve|'m|'ll|'d)|(?:[^\r\n\w]|_)?{_L}+|{_N}| ?{_NOT_SLN}+[\r\n]*"
    rf"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
# the exact regexes as they appear in the HF tokenizer.json files
HF_GPT2_REGEX = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
HF_QWEN2_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                  r"|\s*[\r\n]+|\s+(?!\S)|\s+")


def pretokenize(text: str, style: str) -> list[str]:
    if style == "smollm":
        # Sequence[Digits(individual_digits=True), ByteLevel(use_regex=True)]
        out = []
        for piece in re.split(r"(\d)", text):
            if piece:
                out.extend(GPT2_RE.findall(piece))
        return out
    if style == "qwen2":
        # Sequence[Split(QWEN2 regex, Isolated), ByteLevel(use_regex=False)]
        return QWEN2_RE.findall(text)
    raise ValueError(style)


def train_merges(n_merges: int) -> list[tuple[str, str]]:
    words: dict[tuple[str, ...], int] = {}
    for w in pretokenize(CORPUS, "smollm"):
        sym = tuple(BYTE_ENC[b] for b in w.encode("utf-8"))
        words[sym] = words.get(sym, 0) + 1
    merges = []
    for _ in range(n_merges):
        counts: dict[tuple[str, str], int] = {}
        for sym, c in words.items():
            for a, b in zip(sym[:-1], sym[1:]):
                counts[(a, b)] = counts.get((a, b), 0) + c
        if not counts:
            break
        best = min(counts.items(), key=lambda kv: (-kv[1], kv[0]))[0]
        merges.append(best)
        new_words = {}
        for sym, c in words.items():
            out, i = [], 0
            while i < len(sym):
                if i + 1 < len(sym) and (sym[i], sym[i + 1]) == best:
                    out.append(sym[i] + sym[i + 1])
                    i += 2
                else:
                    out.append(sym[i])
                    i += 1
            new_words[tuple(out)] = new_words.get(tuple(out), 0) + c
        words = new_words
    return merges


class Tok:
    """Reference byte-level BPE encoder (independent of the tokenizers package)."""

    def __init__(self, style: str):
        self.style = style
        self.merges = train_merges(N_MERGES)
        alphabet = sorted(BYTE_ENC.values())  # codepoint order == GPT-2 byte order
        merged = [a + b for a, b in self.merges]
        if style == "smollm":  # SmolLM2 layout: specials first, in model.vocab too
            self.special_ids = {s: i for i, s in enumerate(SPECIALS)}
            normal = alphabet + merged
            self.vocab = {t: i + len(SPECIALS) for i, t in enumerate(normal)}
            self.specials_in_model_vocab = True
        else:  # Qwen2 layout: specials after the BPE vocab, only in added_tokens
            normal = alphabet + merged
            self.vocab = {t: i for i, t in enumerate(normal)}
            self.special_ids = {s: len(normal) + i for i, s in enumerate(SPECIALS)}
            self.specials_in_model_vocab = False
        self.ranks = {m: i for i, m in enumerate(self.merges)}
        self.n_tokens = len(self.vocab) + len(SPECIALS)
        self.id_to_tok = {i: t for t, i in self.vocab.items()}
        self.id_to_tok.update({i: s for s, i in self.special_ids.items()})
        assert sorted(self.id_to_tok) == list(range(self.n_tokens))

    def bpe(self, word: str) -> list[str]:
        parts = list(word)
        while len(parts) > 1:
            best, best_rank = None, None
            for i, pair in enumerate(zip(parts[:-1], parts[1:])):
                r = self.ranks.get(pair)
                if r is not None and (best_rank is None or r < best_rank):
                    best, best_rank = pair, r
            if best is None:
                break
            out, i = [], 0
            while i < len(parts):
                if i + 1 < len(parts) and (parts[i], parts[i + 1]) == best:
                    out.append(parts[i] + parts[i + 1])
                    i += 2
                else:
                    out.append(parts[i])
                    i += 1
            parts = out
        return parts

    def encode(self, text: str) -> list[int]:
        ids: list[int] = []
        pat = "(" + "|".join(re.escape(s) for s in SPECIALS) + ")"
        for chunk in re.split(pat, text):
            if not chunk:
                continue
            if chunk in self.special_ids:
                ids.append(self.special_ids[chunk])
                continue
            for w in pretokenize(chunk, self.style):
                mapped = "".join(BYTE_ENC[b] for b in w.encode("utf-8"))
                ids.extend(self.vocab[p] for p in self.bpe(mapped))
        return ids

    def decode(self, ids: list[int]) -> str:
        out = bytearray()
        for i in ids:
            t = self.id_to_tok[i]
            if t in self.special_ids:
                out += t.encode("utf-8")
            else:
                out += bytes(BYTE_DEC[c] for c in t)
        return out.decode("utf-8", errors="replace")

    # ---------------- HF files ----------------
    def tokenizer_json(self) -> dict:
        added = [
            {"id": self.special_ids[s], "content": s, "single_word": False, "lstrip": False,
             "rstrip": False, "normalized": False, "special": True}
            for s in SPECIALS
        ]
        model_vocab = dict(sorted(self.vocab.items(), key=lambda kv: kv[1]))
        if self.specials_in_model_vocab:
            model_vocab = {**{s: i for s, i in self.special_ids.items()}, **model_vocab}
        if self.style == "smollm":
            normalizer = None
            pre = {"type": "Sequence", "pretokenizers": [
                {"type": "Digits", "individual_digits": True},
                {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
            ]}
            post = {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True}
            decoder = {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True}
            merges = [f"{a} {b}" for a, b in self.merges]  # legacy "a b" string form
        else:
            normalizer = {"type": "NFC"}
            pre = {"type": "Sequence", "pretokenizers": [
                {"type": "Split", "pattern": {"Regex": HF_QWEN2_REGEX}, "behavior": "Isolated", "invert": False},
                {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False},
            ]}
            post = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}
            decoder = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}
            merges = [[a, b] for a, b in self.merges]  # newer [["a","b"], ...] pair form
        return {
            "version": "1.0",
            "truncation": None,
            "padding": None,
            "added_tokens": added,
            "normalizer": normalizer,
            "pre_tokenizer": pre,
            "post_processor": post,
            "decoder": decoder,
            "model": {
                "type": "BPE", "dropout": None, "unk_token": None,
                "continuing_subword_prefix": None, "end_of_word_suffix": None,
                "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                "vocab": model_vocab, "merges": merges,
            },
        }

    def tokenizer_config(self) -> dict:
        dec = {str(self.special_ids[s]): {"content": s, "lstrip": False, "normalized": False,
                                          "rstrip": False, "single_word": False, "special": True}
               for s in SPECIALS}
        base = {
            "add_bos_token": False,
            "add_eos_token": False,
            "add_prefix_space": False,
            "added_tokens_decoder": dec,
            "additional_special_tokens": ["<|im_start|>", "<|im_end|>"],
            "chat_template": CHAT_TEMPLATE,
            "clean_up_tokenization_spaces": False,
            "model_max_length": MAX_POS,
        }
        if self.style == "smollm":  # SmolLM2-Instruct: bos=<|im_start|>, eos=<|im_end|>
            base.update({"bos_token": "<|im_start|>", "eos_token": "<|im_end|>",
                         "pad_token": "<|im_end|>", "unk_token": "<|endoftext|>",
                         "tokenizer_class": "GPT2Tokenizer", "vocab_size": self.n_tokens})
        else:  # Qwen2.5-Instruct: no bos_token, eos=<|im_end|>, pad=<|endoftext|>
            base.update({"bos_token": None, "eos_token": "<|im_end|>", "pad_token": "<|endoftext|>",
                         "unk_token": None, "errors": "replace", "split_special_tokens": False,
                         "tokenizer_class": "Qwen2Tokenizer"})
        return base

    def bos_eos_ids(self) -> tuple[int, int]:
        if self.style == "smollm":
            return self.special_ids["<|im_start|>"], self.special_ids["<|im_end|>"]
        return self.special_ids["<|endoftext|>"], self.special_ids["<|im_end|>"]


def render_chat(messages: list[dict], add_generation_prompt: bool) -> str:
    """Hand-written equivalent of CHAT_TEMPLATE (checked against jinja2 in --validate)."""
    s = ""
    for i, m in enumerate(messages):
        if i == 0 and messages[0]["role"] != "system":
            s += "<|im_start|>system\nYou are a helpful AI assistant.<|im_end|>\n"
        s += "<|im_start|>" + m["role"] + "\n" + m["content"] + "<|im_end|>" + "\n"
    if add_generation_prompt:
        s += "<|im_start|>assistant\n"
    return s


TOKENIZER_CASES = [
    "hello world",
    "the cat sat on the mat.",
    "  leading spaces and trailing  ",
    "numbers 1234 and 3.14",
    "it's a dog's life, isn't it?",
    "line one\nline two\n\nend",
    "caf\u00e9 na\u00efve",
    "<|im_start|>user\nhi<|im_end|>",
    "snake_case_name",
]
CHAT_CASE = [{"role": "user", "content": "hello there"},
             {"role": "assistant", "content": "hi!"},
             {"role": "user", "content": "the cat?"}]

# --------------------------------------------------------------------------------------
# Weights
# --------------------------------------------------------------------------------------


def make_weights(cfg: dict, seed: int, n_tokens: int) -> dict[str, np.ndarray]:
    """HF-named float32 weights. Shapes are HF (out_features, in_features).
    Rows for the padded vocab ids (>= n_tokens, "[PADn]" in GGUF) get a tiny std, like
    untrained padding rows in real checkpoints, so they never win an argmax."""
    rng = np.random.default_rng(seed)

    def n(shape, std):
        return (rng.standard_normal(shape) * std).astype(np.float32)

    def norm_w(dim):
        return (1.0 + rng.standard_normal(dim) * 0.1).astype(np.float32)

    w: dict[str, np.ndarray] = {}
    emb = n((VOCAB, HIDDEN), 0.5)
    emb[n_tokens:] *= 0.02 / 0.5
    w["model.embed_tokens.weight"] = emb
    for i in range(LAYERS):
        p = f"model.layers.{i}."
        w[p + "input_layernorm.weight"] = norm_w(HIDDEN)
        w[p + "self_attn.q_proj.weight"] = n((N_HEAD * HEAD_DIM, HIDDEN), 0.15)
        w[p + "self_attn.k_proj.weight"] = n((N_KV * HEAD_DIM, HIDDEN), 0.15)
        w[p + "self_attn.v_proj.weight"] = n((N_KV * HEAD_DIM, HIDDEN), 0.125)
        if cfg["qkv_bias"]:
            w[p + "self_attn.q_proj.bias"] = n((N_HEAD * HEAD_DIM,), 0.2)
            w[p + "self_attn.k_proj.bias"] = n((N_KV * HEAD_DIM,), 0.2)
            w[p + "self_attn.v_proj.bias"] = n((N_KV * HEAD_DIM,), 0.2)
        w[p + "self_attn.o_proj.weight"] = n((HIDDEN, N_HEAD * HEAD_DIM), 0.125)
        w[p + "post_attention_layernorm.weight"] = norm_w(HIDDEN)
        w[p + "mlp.gate_proj.weight"] = n((INTER, HIDDEN), 0.125)
        w[p + "mlp.up_proj.weight"] = n((INTER, HIDDEN), 0.125)
        w[p + "mlp.down_proj.weight"] = n((HIDDEN, INTER), 0.088)
    w["model.norm.weight"] = norm_w(HIDDEN)
    if not cfg["tie"]:
        head = n((VOCAB, HIDDEN), 0.2)
        head[n_tokens:] *= 0.02 / 0.2
        w["lm_head.weight"] = head
    return {k: exact_in_all_float_formats(v) for k, v in w.items()}


def exact_in_all_float_formats(t: np.ndarray) -> np.ndarray:
    """Round to bf16 (RNE), then zero the rare values too small to be exact in f16.
    The result is bit-exactly representable in F32, F16 and BF16, so every unquantized
    file (HF F32/F16/BF16 safetensors, GGUF F32/F16) encodes the same values and shares
    one reference (logits_f32)."""
    t = np.ascontiguousarray(t, dtype=np.float32)
    b = gguf.quants.dequantize(gguf.quants.quantize(t, QT.BF16), QT.BF16).reshape(t.shape)
    b = np.where(b.astype(np.float16).astype(np.float32) == b, b, np.float32(0)).astype(np.float32)
    for dt in ("F16", "BF16"):
        assert np.array_equal(cast_like_hf(b, dt), b)
    return b


def hf_config(name: str, cfg: dict, tok: Tok) -> dict:
    bos, eos = tok.bos_eos_ids()
    c = {
        "architectures": [cfg["hf_arch"]],
        "model_type": cfg["model_type"],
        "hidden_size": HIDDEN,
        "intermediate_size": INTER,
        "num_attention_heads": N_HEAD,
        "num_key_value_heads": N_KV,
        "num_hidden_layers": LAYERS,
        "hidden_act": "silu",
        "rms_norm_eps": cfg["rms_norm_eps"],
        "rope_theta": cfg["rope_theta"],
        "vocab_size": VOCAB,
        "max_position_embeddings": MAX_POS,
        "tie_word_embeddings": cfg["tie"],
        "bos_token_id": bos,
        "eos_token_id": eos,
        "torch_dtype": "float32",
        "initializer_range": 0.02,
        "attention_dropout": 0.0,
        "use_cache": True,
    }
    if cfg["model_type"] == "llama":
        c.update({"head_dim": HEAD_DIM, "attention_bias": False, "mlp_bias": False,
                  "pretraining_tp": 1, "rope_scaling": cfg["rope_scaling"]})
        if cfg["rope_scaling"] is not None:
            # HF reads rope_scaling.original_max_position_embeddings. llama.cpp's
            # convert_hf_to_gguf.py (LlamaModel.generate_extra_tensors) reads the
            # *top-level* key (default 8192); mirror it so the real converter would
            # produce the same rope_freqs as this generator.
            c["original_max_position_embeddings"] = cfg["rope_scaling"]["original_max_position_embeddings"]
    else:
        c.update({"use_sliding_window": False, "sliding_window": MAX_POS, "max_window_layers": LAYERS})
    return dict(sorted(c.items()))


# --------------------------------------------------------------------------------------
# Reference forward (float64, HF equations)
# --------------------------------------------------------------------------------------


def default_inv_freq(theta: float, dim: int) -> np.ndarray:
    return 1.0 / (theta ** (np.arange(0, dim, 2, dtype=np.float64) / dim))


def llama3_inv_freq(theta: float, dim: int, rs: dict) -> np.ndarray:
    """HF transformers modeling_rope_utils._compute_llama3_parameters."""
    inv_freq = default_inv_freq(theta, dim)
    factor = rs["factor"]
    low_freq_factor = rs["low_freq_factor"]
    high_freq_factor = rs["high_freq_factor"]
    old_context_len = rs["original_max_position_embeddings"]
    low_freq_wavelen = old_context_len / low_freq_factor
    high_freq_wavelen = old_context_len / high_freq_factor
    wavelen = 2 * math.pi / inv_freq
    inv_freq_llama = np.where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq)
    smooth_factor = (old_context_len / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor)
    smoothed_inv_freq = (1 - smooth_factor) * inv_freq_llama / factor + smooth_factor * inv_freq_llama
    is_medium_freq = ~(wavelen < high_freq_wavelen) & ~(wavelen > low_freq_wavelen)
    return np.where(is_medium_freq, smoothed_inv_freq, inv_freq_llama)


def llama3_rope_freqs_tensor(theta: float, dim: int, rs: dict) -> np.ndarray:
    """What convert_hf_to_gguf.py LlamaModel.generate_extra_tensors writes (rope_freqs.weight).
    (computed in float32 like the converter's torch code; llama.cpp divides theta by it)."""
    freqs = 1.0 / (np.float32(theta) ** (np.arange(0, dim, 2, dtype=np.float32) / np.float32(dim)))
    factor, lo, hi = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"]
    old = rs["original_max_position_embeddings"]
    low_wl, high_wl = old / lo, old / hi
    out = []
    for f in freqs:
        wl = 2 * math.pi / float(f)
        if wl < high_wl:
            out.append(1)
        elif wl > low_wl:
            out.append(factor)
        else:
            smooth = (old / wl - lo) / (hi - lo)
            out.append(1 / ((1 - smooth) / factor + smooth))
    return np.array(out, dtype=np.float32)


def rms_norm(x: np.ndarray, w: np.ndarray, eps: float) -> np.ndarray:
    x = x.astype(np.float64)
    var = np.mean(x * x, axis=-1, keepdims=True)
    return (x / np.sqrt(var + eps)) * w.astype(np.float64)


def rotate_half(x: np.ndarray) -> np.ndarray:
    h = x.shape[-1] // 2
    return np.concatenate([-x[..., h:], x[..., :h]], axis=-1)


def silu(x: np.ndarray) -> np.ndarray:
    return x / (1.0 + np.exp(-x))


def forward(w: dict[str, np.ndarray], cfg: dict, ids: list[int]) -> np.ndarray:
    """Logits [T, V] for token ids, HF Llama/Qwen2 semantics, all math in float64."""
    W = {k: v.astype(np.float64) for k, v in w.items()}
    T = len(ids)
    eps = cfg["rms_norm_eps"]
    if cfg["rope_scaling"] is not None and cfg["rope_scaling"].get("rope_type") == "llama3":
        inv_freq = llama3_inv_freq(cfg["rope_theta"], HEAD_DIM, cfg["rope_scaling"])
    else:
        inv_freq = default_inv_freq(cfg["rope_theta"], HEAD_DIM)
    pos = np.arange(T, dtype=np.float64)
    freqs = np.outer(pos, inv_freq)                    # [T, hd/2]
    emb = np.concatenate([freqs, freqs], axis=-1)      # [T, hd]
    cos, sin = np.cos(emb), np.sin(emb)
    n_rep = N_HEAD // N_KV
    mask = np.triu(np.full((T, T), -np.inf), k=1)

    x = W["model.embed_tokens.weight"][ids]            # [T, H]
    for i in range(LAYERS):
        p = f"model.layers.{i}."
        h = rms_norm(x, W[p + "input_layernorm.weight"], eps)
        q = h @ W[p + "self_attn.q_proj.weight"].T
        k = h @ W[p + "self_attn.k_proj.weight"].T
        v = h @ W[p + "self_attn.v_proj.weight"].T
        if cfg["qkv_bias"]:
            q = q + W[p + "self_attn.q_proj.bias"]
            k = k + W[p + "self_attn.k_proj.bias"]
            v = v + W[p + "self_attn.v_proj.bias"]
        q = q.reshape(T, N_HEAD, HEAD_DIM).transpose(1, 0, 2)  # [nh, T, hd]
        k = k.reshape(T, N_KV, HEAD_DIM).transpose(1, 0, 2)
        v = v.reshape(T, N_KV, HEAD_DIM).transpose(1, 0, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = np.repeat(k, n_rep, axis=0)  # repeat_kv: kv head j -> q heads j*n_rep..(j+1)*n_rep-1
        v = np.repeat(v, n_rep, axis=0)
        scores = q @ k.transpose(0, 2, 1) / math.sqrt(HEAD_DIM) + mask
        scores = scores - scores.max(-1, keepdims=True)
        probs = np.exp(scores)
        probs = probs / probs.sum(-1, keepdims=True)
        attn = (probs @ v).transpose(1, 0, 2).reshape(T, N_HEAD * HEAD_DIM)
        x = x + attn @ W[p + "self_attn.o_proj.weight"].T
        h = rms_norm(x, W[p + "post_attention_layernorm.weight"], eps)
        g = h @ W[p + "mlp.gate_proj.weight"].T
        u = h @ W[p + "mlp.up_proj.weight"].T
        x = x + (silu(g) * u) @ W[p + "mlp.down_proj.weight"].T
    x = rms_norm(x, W["model.norm.weight"], eps)
    head = W["model.embed_tokens.weight"] if cfg["tie"] else W["lm_head.weight"]
    return x @ head.T


def greedy(w: dict, cfg: dict, ids: list[int], n: int) -> tuple[list[int], list[float]]:
    seq = list(ids)
    out, margins = [], []
    for _ in range(n):
        logits = forward(w, cfg, seq)[-1]  # full recompute, no KV cache
        top = np.argsort(logits)[::-1]
        out.append(int(top[0]))
        margins.append(float(logits[top[0]] - logits[top[1]]))
        seq.append(int(top[0]))
    return out, margins


def top2_margins(logits: np.ndarray) -> list[float]:
    s = np.sort(logits, axis=-1)
    return [float(m) for m in (s[:, -1] - s[:, -2])]


# --------------------------------------------------------------------------------------
# GGUF conversion (mirrors convert_hf_to_gguf.py LlamaModel / Qwen2Model)
# --------------------------------------------------------------------------------------


def permute(w: np.ndarray, n_head: int, n_head_kv: int | None) -> np.ndarray:
    """convert_hf_to_gguf.py LlamaModel.permute (verbatim semantics)."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return (w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:])
            .swapaxes(1, 2)
            .reshape(w.shape))


def unpermute(w: np.ndarray, n_head: int) -> np.ndarray:
    return (w.reshape(n_head, w.shape[0] // n_head // 2, 2, *w.shape[1:])
            .swapaxes(1, 2)
            .reshape(w.shape))


HF_TO_GGUF_LAYER = {
    "input_layernorm.weight": "attn_norm.weight",
    "self_attn.q_proj.weight": "attn_q.weight",
    "self_attn.q_proj.bias": "attn_q.bias",
    "self_attn.k_proj.weight": "attn_k.weight",
    "self_attn.k_proj.bias": "attn_k.bias",
    "self_attn.v_proj.weight": "attn_v.weight",
    "self_attn.v_proj.bias": "attn_v.bias",
    "self_attn.o_proj.weight": "attn_output.weight",
    "post_attention_layernorm.weight": "ffn_norm.weight",
    "mlp.gate_proj.weight": "ffn_gate.weight",
    "mlp.up_proj.weight": "ffn_up.weight",
    "mlp.down_proj.weight": "ffn_down.weight",
}


def gguf_name(hf: str) -> str:
    if hf == "model.embed_tokens.weight":
        return "token_embd.weight"
    if hf == "model.norm.weight":
        return "output_norm.weight"
    if hf == "lm_head.weight":
        return "output.weight"
    m = re.fullmatch(r"model\.layers\.(\d+)\.(.+)", hf)
    assert m, hf
    return f"blk.{m.group(1)}.{HF_TO_GGUF_LAYER[m.group(2)]}"


def gguf_tensors_f32(w: dict, cfg: dict) -> list[tuple[str, np.ndarray]]:
    """(gguf_name, float32 array in GGUF row layout) in a natural order."""
    out = []
    if cfg["rope_scaling"] is not None and cfg["rope_scaling"].get("rope_type") == "llama3":
        out.append(("rope_freqs.weight",
                    llama3_rope_freqs_tensor(cfg["rope_theta"], HEAD_DIM, cfg["rope_scaling"])))
    order = ["model.embed_tokens.weight"]
    for i in range(LAYERS):
        for suffix in HF_TO_GGUF_LAYER:
            if f"model.layers.{i}.{suffix}" in w:
                order.append(f"model.layers.{i}.{suffix}")
    order.append("model.norm.weight")
    if "lm_head.weight" in w:
        order.append("lm_head.weight")
    for hf in order:
        t = w[hf]
        if cfg["arch"] == "llama":
            if hf.endswith(("q_proj.weight", "q_proj.bias")):
                t = permute(t, N_HEAD, N_HEAD)
            if hf.endswith(("k_proj.weight", "k_proj.bias")):
                t = permute(t, N_HEAD, N_KV)
        out.append((gguf_name(hf), np.ascontiguousarray(t, dtype=np.float32)))
    return out


def quantize_for(name: str, t: np.ndarray, typ: str) -> tuple[np.ndarray, QT]:
    """Returns (data to hand to GGUFWriter.add_tensor, ggml type). 1-D -> F32 always."""
    if t.ndim <= 1 or name.endswith("_norm.weight") or not name.endswith(".weight"):
        return t.astype(np.float32), QT.F32
    qt = QT[typ]
    return gguf.quants.quantize(t, qt), qt


def roundtrip(t: np.ndarray, qt: QT) -> np.ndarray:
    if qt == QT.F32:
        return t.astype(np.float32)
    q = gguf.quants.quantize(t, qt)
    return gguf.quants.dequantize(q, qt).reshape(t.shape).astype(np.float32)


def weights_after_gguf_roundtrip(w: dict, cfg: dict, typ: str) -> dict[str, np.ndarray]:
    """HF-layout weights as a GGUF of type `typ` encodes them (quantize->dequantize of the
    exact stored, possibly permuted tensor; then un-permuted back to HF layout)."""
    gg = dict(gguf_tensors_f32(w, cfg))
    out = {}
    for hf in w:
        name = gguf_name(hf)
        t = gg[name]
        _, qt = quantize_for(name, t, typ)
        d = roundtrip(t, qt)
        if cfg["arch"] == "llama" and hf.endswith(("q_proj.weight", "q_proj.bias")):
            d = unpermute(d, N_HEAD)
        if cfg["arch"] == "llama" and hf.endswith(("k_proj.weight", "k_proj.bias")):
            d = unpermute(d, N_KV)
        out[hf] = d
    return out


def write_gguf(path: Path, name: str, w: dict, cfg: dict, tok: Tok, typ: str) -> None:
    arch = cfg["arch"]
    gw = gguf.GGUFWriter(path=None, arch=arch)  # adds general.architecture first
    for tname, t in gguf_tensors_f32(w, cfg):
        data, qt = quantize_for(tname, t, typ)
        gw.add_tensor(tname, data, raw_dtype=qt)
    # prepare_metadata(): general.* then set_gguf_parameters() then set_vocab()
    gw.add_type(gguf.GGUFType.MODEL)
    gw.add_name(f"kiln-tiny-{name}")
    # TextModel.set_gguf_parameters
    gw.add_block_count(LAYERS)
    gw.add_context_length(MAX_POS)
    gw.add_embedding_length(HIDDEN)
    gw.add_feed_forward_length(INTER)
    gw.add_head_count(N_HEAD)
    gw.add_head_count_kv(N_KV)
    gw.add_rope_freq_base(cfg["rope_theta"])
    gw.add_layer_norm_rms_eps(cfg["rms_norm_eps"])
    if arch == "llama":
        gw.add_key_length(HEAD_DIM)   # config.json has head_dim (AutoConfig always adds it)
        gw.add_value_length(HEAD_DIM)
    gw.add_file_type(GGUF_FILE_TYPE[typ])
    if arch == "llama":  # LlamaModel.set_gguf_parameters extras
        gw.add_vocab_size(VOCAB)
        gw.add_rope_dimension_count(HEAD_DIM)
        # (rope_type llama3 writes no rope.scaling.* keys; only the rope_freqs tensor)
    # _set_vocab_gpt2 (get_vocab_base pads to config vocab_size with [PAD{i}] UNUSED)
    tokens, types = [], []
    for i in range(VOCAB):
        if i in tok.id_to_tok:
            t = tok.id_to_tok[i]
            tokens.append(t)
            types.append(TokenType.CONTROL if t in tok.special_ids else TokenType.NORMAL)
        else:
            tokens.append(f"[PAD{i}]")
            types.append(TokenType.UNUSED)
    gw.add_tokenizer_model("gpt2")
    gw.add_tokenizer_pre(tok.style)  # "smollm" / "qwen2"
    gw.add_token_list(tokens)
    gw.add_token_types(types)
    sv = gguf.SpecialVocab(path.parent.parent / "hf", load_merges=True)  # same as convert
    sv.add_to_gguf(gw, quiet=True)
    if arch == "llama":  # LlamaModel.set_vocab: tokenizer_config add_prefix_space
        gw.add_add_space_prefix(False)
    gw.add_quantization_version(gguf.GGML_QUANT_VERSION)
    gw.write_header_to_file(path=path)
    gw.write_kv_data_to_file()
    gw.write_tensors_to_file()
    gw.close()


# --------------------------------------------------------------------------------------
# ggml-style cross-check forward: reads the GGUF-layout tensors back with GGUFReader and
# applies llama.cpp's rope convention (arch llama: LLAMA_ROPE_TYPE_NORM = adjacent pairs
# (2i, 2i+1), which is why q/k are permuted; arch qwen2: NEOX = pairs (i, i+d/2)).
# --------------------------------------------------------------------------------------


def read_gguf(path: Path) -> tuple[dict[str, np.ndarray], dict]:
    r = gguf.GGUFReader(path)
    ts = {}
    for t in r.tensors:
        # t.shape is ggml ne order (ne[0] first); numpy row-major shape is reversed.
        np_shape = tuple(int(x) for x in reversed(t.shape.tolist()))
        data = gguf.quants.dequantize(t.data, t.tensor_type).reshape(np_shape)
        ts[t.name] = data.astype(np.float64)
    kv = {}
    for k, f in r.fields.items():
        kv[k] = f
    return ts, kv


def ggml_forward(ts: dict[str, np.ndarray], cfg: dict, ids: list[int]) -> np.ndarray:
    T = len(ids)
    eps = cfg["rms_norm_eps"]
    theta = cfg["rope_theta"]
    i_half = np.arange(HEAD_DIM // 2, dtype=np.float64)
    base = theta ** (-2.0 * i_half / HEAD_DIM)
    if "rope_freqs.weight" in ts:
        base = base / ts["rope_freqs.weight"]
    ang = np.outer(np.arange(T, dtype=np.float64), base)  # [T, hd/2]
    c, s = np.cos(ang), np.sin(ang)

    def rope(x):  # x [nh, T, hd]
        y = np.empty_like(x)
        if cfg["arch"] == "llama":  # NORM: (x[2i], x[2i+1])
            a, b = x[..., 0::2], x[..., 1::2]
            y[..., 0::2] = a * c - b * s
            y[..., 1::2] = a * s + b * c
        else:  # NEOX: (x[i], x[i+d/2])
            h = HEAD_DIM // 2
            a, b = x[..., :h], x[..., h:]
            y[..., :h] = a * c - b * s
            y[..., h:] = a * s + b * c
        return y

    x = ts["token_embd.weight"][ids]
    mask = np.triu(np.full((T, T), -np.inf), k=1)
    for i in range(LAYERS):
        p = f"blk.{i}."
        h = rms_norm(x, ts[p + "attn_norm.weight"], eps)
        q = h @ ts[p + "attn_q.weight"].T + ts.get(p + "attn_q.bias", 0.0)
        k = h @ ts[p + "attn_k.weight"].T + ts.get(p + "attn_k.bias", 0.0)
        v = h @ ts[p + "attn_v.weight"].T + ts.get(p + "attn_v.bias", 0.0)
        q = rope(q.reshape(T, N_HEAD, HEAD_DIM).transpose(1, 0, 2))
        k = rope(k.reshape(T, N_KV, HEAD_DIM).transpose(1, 0, 2))
        v = v.reshape(T, N_KV, HEAD_DIM).transpose(1, 0, 2)
        out = np.empty((N_HEAD, T, HEAD_DIM))
        for hq in range(N_HEAD):
            hk = hq // (N_HEAD // N_KV)
            sc = q[hq] @ k[hk].T / math.sqrt(HEAD_DIM) + mask
            sc = np.exp(sc - sc.max(-1, keepdims=True))
            out[hq] = (sc / sc.sum(-1, keepdims=True)) @ v[hk]
        x = x + out.transpose(1, 0, 2).reshape(T, -1) @ ts[p + "attn_output.weight"].T
        h = rms_norm(x, ts[p + "ffn_norm.weight"], eps)
        x = x + (silu(h @ ts[p + "ffn_gate.weight"].T) * (h @ ts[p + "ffn_up.weight"].T)) \
            @ ts[p + "ffn_down.weight"].T
    x = rms_norm(x, ts["output_norm.weight"], eps)
    head = ts.get("output.weight", ts["token_embd.weight"])
    return x @ head.T


# --------------------------------------------------------------------------------------
# safetensors (hand-written)
# --------------------------------------------------------------------------------------

ST_DTYPE = {"F32": (np.float32, 4), "F16": (np.float16, 2), "BF16": (np.uint16, 2)}


def to_dtype_bytes(t: np.ndarray, dt: str) -> bytes:
    if dt == "F32":
        return np.ascontiguousarray(t, dtype="<f4").tobytes()
    if dt == "F16":
        return np.ascontiguousarray(t.astype("<f2")).tobytes()
    if dt == "BF16":  # round-to-nearest-even, same as torch .to(bfloat16)
        return gguf.quants.quantize(np.ascontiguousarray(t, dtype=np.float32), QT.BF16).tobytes()
    raise ValueError(dt)


def cast_like_hf(t: np.ndarray, dt: str) -> np.ndarray:
    """The float32 values a reader obtains after loading a tensor stored as dt."""
    if dt == "F32":
        return t.astype(np.float32)
    if dt == "F16":
        return t.astype(np.float16).astype(np.float32)
    q = gguf.quants.quantize(np.ascontiguousarray(t, dtype=np.float32), QT.BF16)
    return gguf.quants.dequantize(q, QT.BF16).reshape(t.shape)


def write_safetensors(path: Path, tensors: dict[str, np.ndarray], dt: str) -> int:
    """Layout: u64 LE header length N, N bytes of JSON header (space-padded to 8-byte
    alignment), then the raw little-endian data. Tensors are laid out in name order."""
    header: dict = {"__metadata__": {"format": "pt"}}
    blobs, off = [], 0
    for name in sorted(tensors):
        b = to_dtype_bytes(tensors[name], dt)
        header[name] = {"dtype": dt, "shape": list(tensors[name].shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    hjson = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hjson += b" " * ((8 - (8 + len(hjson)) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)))
        f.write(hjson)
        for b in blobs:
            f.write(b)
    return off


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    raw = path.read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    hdr = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    out = {}
    for k, v in hdr.items():
        if k == "__metadata__":
            continue
        a, b = v["data_offsets"]
        buf = np.frombuffer(data[a:b], dtype={"F32": "<f4", "F16": "<f2", "BF16": "<u2"}[v["dtype"]])
        if v["dtype"] == "BF16":
            buf = (buf.astype(np.uint32) << 16).view(np.float32)
        out[k] = buf.astype(np.float32).reshape(v["shape"])
    return out


# --------------------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------------------


def r6(x) -> float:
    return float(f"{float(x):.6g}")


def logits_json(lg: np.ndarray) -> list[list[float]]:
    return [[r6(v) for v in row] for row in lg]


def _is_scalar(o) -> bool:
    return not isinstance(o, (dict, list))


def dumps(o, ind: int = 0) -> str:
    """JSON with one key per line, numeric rows kept on one line (small, diffable)."""
    pad = " " * (ind + 1)
    if isinstance(o, dict):
        if not o:
            return "{}"
        items = [pad + json.dumps(k, ensure_ascii=False) + ": " + dumps(v, ind + 1) for k, v in o.items()]
        return "{\n" + ",\n".join(items) + "\n" + " " * ind + "}"
    if isinstance(o, list):
        if all(_is_scalar(x) for x in o):
            return json.dumps(o, ensure_ascii=False, separators=(",", ":"))
        return "[\n" + ",\n".join(pad + dumps(x, ind + 1) for x in o) + "\n" + " " * ind + "]"
    return json.dumps(o, ensure_ascii=False)


def write_json(path: Path, obj) -> None:
    text = dumps(obj) + "\n"
    assert json.loads(text) == obj
    path.write_text(text, encoding="utf-8")


def write_hf_dir(d: Path, cfgj: dict, tok: Tok, dtype: str | None) -> None:
    d.mkdir(parents=True, exist_ok=True)
    c = dict(cfgj)
    if dtype is not None:
        c["torch_dtype"] = {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}[dtype]
    write_json(d / "config.json", c)
    write_json(d / "tokenizer.json", tok.tokenizer_json())
    write_json(d / "tokenizer_config.json", tok.tokenizer_config())


def build_model(out: Path, name: str, cfg: dict, validate: bool) -> dict:
    tok = Tok(cfg["tokenizer"])
    assert tok.n_tokens <= VOCAB
    ids = tok.encode(PROMPT_TEXT)

    # deterministic seed search for clear argmax margins (prompt + greedy steps, f32)
    seed = cfg["base_seed"]
    while True:
        w = make_weights(cfg, seed, tok.n_tokens)
        lg = forward(w, cfg, ids)
        cont, gm = greedy(w, cfg, ids, N_GREEDY)
        if min(top2_margins(lg) + gm) >= MIN_MARGIN and len(set(cont)) >= MIN_DISTINCT_GREEDY:
            logits_by_type = {t: forward(weights_after_gguf_roundtrip(w, cfg, t), cfg, ids)
                              for t in cfg["gguf_types"]}
            if all(min(top2_margins(l)) >= MIN_MARGIN_GGUF for l in logits_by_type.values()):
                break
        seed += 1

    mdir = out / name
    if mdir.exists():
        shutil.rmtree(mdir)
    cfgj = hf_config(name, cfg, tok)

    # ---- HF directories ----
    write_hf_dir(mdir / "hf", cfgj, tok, cfg["hf_dtype"])
    write_safetensors(mdir / "hf" / "model.safetensors", w, cfg["hf_dtype"])
    if "sharded" in cfg["hf_variants"]:
        d = mdir / "hf_sharded"
        write_hf_dir(d, cfgj, tok, "BF16")
        names = sorted(w)
        # shard 1: embeddings, layer 0, and layer 1's attention (a layer split across files)
        s1 = [k for k in names if k.startswith(("model.embed_tokens", "model.layers.0."))
              or k.startswith("model.layers.1.self_attn.")]
        s2 = [k for k in names if k not in s1]
        files = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
        total = 0
        weight_map = {}
        for fname, keys in zip(files, [s1, s2]):
            total += write_safetensors(d / fname, {k: w[k] for k in keys}, "BF16")
            weight_map.update({k: fname for k in keys})
        write_json(d / "model.safetensors.index.json",
                   {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))})
    for v in ("f16", "bf16"):
        if v in cfg["hf_variants"]:
            dt = v.upper()
            d = mdir / f"hf_{v}"
            write_hf_dir(d, cfgj, tok, dt)
            write_safetensors(d / "model.safetensors", w, dt)

    # ---- GGUF files ----
    (mdir / "gguf").mkdir(parents=True, exist_ok=True)
    gguf_checks = {}
    for typ in cfg["gguf_types"]:
        p = mdir / "gguf" / f"model-{typ}.gguf"
        write_gguf(p, name, w, cfg, tok, typ)
        lq = logits_by_type[typ]
        # cross-check: read the file back, run a ggml-convention forward on raw GGUF layout
        ts, _ = read_gguf(p)
        lg_ggml = ggml_forward(ts, cfg, ids)
        err = float(np.max(np.abs(lg_ggml - lq)))
        gguf_checks[typ] = err
        # rope_freqs.weight is stored as F32 (as the converter does), the HF reference uses
        # float64 inv_freq: allow that rounding for llama3 rope, otherwise exact.
        assert err < (1e-5 if "rope_freqs.weight" in ts else 1e-9), (name, typ, err)

    # ---- self-checks of the HF files ----
    for st in sorted(mdir.glob("hf*/model.safetensors")):
        back = read_safetensors(st)
        assert set(back) == set(w) and all(np.array_equal(back[k], w[k]) for k in w), st
    for typ in ("F16", "F32"):
        if typ in logits_by_type:
            assert np.array_equal(logits_by_type[typ], lg), typ
    if "sharded" in cfg["hf_variants"]:
        merged = {}
        for f in ("model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"):
            merged.update(read_safetensors(mdir / "hf_sharded" / f))
        assert set(merged) == set(w) and all(np.array_equal(merged[k], w[k]) for k in w)

    # ---- reference.json ----
    tok_cases = [{"text": t, "ids": tok.encode(t)} for t in TOKENIZER_CASES]
    for c in tok_cases:
        assert tok.decode(c["ids"]) == c["text"], c
    ref = {
        "model": name,
        "generator": "scripts/make_fixtures.py",
        "generator_versions": GEN_VERSIONS,
        "seed": seed,
        "note": ("float64 numpy forward from HF modeling_llama/modeling_qwen2 equations; "
                 "logits rounded to 6 significant digits. Master weights are exactly "
                 "representable in F32, F16 and BF16, so logits_f32 is the reference for "
                 "every unquantized file (all hf*/ dirs, GGUF F32/F16)."),
        "files": sorted(str(p.relative_to(mdir)) for p in mdir.rglob("*") if p.is_file()),
        "config": {
            "arch": cfg["arch"], "hf_architecture": cfg["hf_arch"], "hidden_size": HIDDEN,
            "intermediate_size": INTER, "num_hidden_layers": LAYERS,
            "num_attention_heads": N_HEAD, "num_key_value_heads": N_KV, "head_dim": HEAD_DIM,
            "vocab_size": VOCAB, "tokenizer_tokens": tok.n_tokens,
            "rms_norm_eps": cfg["rms_norm_eps"], "rope_theta": cfg["rope_theta"],
            "rope_scaling": cfg["rope_scaling"], "tie_word_embeddings": cfg["tie"],
            "qkv_bias": cfg["qkv_bias"],
        },
        "prompt_text": PROMPT_TEXT,
        "token_ids": ids,
        "argmax_f32": [int(a) for a in lg.argmax(-1)],
        "top2_margin_f32": [r6(m) for m in top2_margins(lg)],
        "greedy_continuation": cont,
        "greedy_top2_margin": [r6(m) for m in gm],
        "logits_f32": logits_json(lg),
        "argmax_by_gguf_type": {t: [int(a) for a in l.argmax(-1)] for t, l in logits_by_type.items()},
        "top2_margin_by_gguf_type": {t: [r6(m) for m in top2_margins(l)] for t, l in logits_by_type.items()},
        "max_abs_diff_vs_f32_by_gguf_type": {t: r6(np.max(np.abs(l - lg))) for t, l in logits_by_type.items()},
        "logits_by_gguf_type": {t: logits_json(l) for t, l in logits_by_type.items()},
    }
    if cfg["rope_scaling"] is not None:
        ref["rope_inv_freq"] = [r6(v) for v in llama3_inv_freq(cfg["rope_theta"], HEAD_DIM, cfg["rope_scaling"])]
        ref["gguf_rope_freqs"] = [r6(v) for v in llama3_rope_freqs_tensor(cfg["rope_theta"], HEAD_DIM, cfg["rope_scaling"])]
    ref["tokenizer"] = {
        "bos_token_id": tok.bos_eos_ids()[0], "eos_token_id": tok.bos_eos_ids()[1],
        "special_ids": tok.special_ids, "merges_count": len(tok.merges),
        "cases": tok_cases,
        "chat": {"messages": CHAT_CASE, "add_generation_prompt": True,
                 "rendered": render_chat(CHAT_CASE, True),
                 "ids": tok.encode(render_chat(CHAT_CASE, True))},
    }
    write_json(mdir / "reference.json", ref)

    if validate:
        validate_tokenizer(mdir / "hf", tok, ref)

    return {"name": name, "seed": seed, "gguf_crosscheck_max_abs": gguf_checks,
            "argmax": ref["argmax_f32"], "greedy": cont,
            "max_diff": ref["max_abs_diff_vs_f32_by_gguf_type"]}


def validate_tokenizer(hf_dir: Path, tok: Tok, ref: dict) -> None:
    try:
        import tokenizers  # noqa: F401
        from tokenizers import Tokenizer
    except ImportError:
        print("  [validate] tokenizers not installed; skipping tokenizer.json check")
    else:
        t = Tokenizer.from_file(str(hf_dir / "tokenizer.json"))
        for c in ref["tokenizer"]["cases"] + [ref["tokenizer"]["chat"]]:
            text = c.get("text", c.get("rendered"))
            got = t.encode(text, add_special_tokens=True).ids
            assert got == c["ids"], (text, got, c["ids"])
            assert t.decode(got, skip_special_tokens=False) == text, (text, t.decode(got))
        got = t.encode(ref["prompt_text"]).ids
        assert got == ref["token_ids"], got
        print(f"  [validate] tokenizers {tokenizers.__version__}: tokenizer.json loads, "
              f"{len(ref['tokenizer']['cases']) + 2} encodings match")
    try:
        import jinja2
    except ImportError:
        print("  [validate] jinja2 not installed; skipping chat template check")
    else:
        env = jinja2.Environment()
        out = env.from_string(CHAT_TEMPLATE).render(messages=CHAT_CASE, add_generation_prompt=True)
        assert out == ref["tokenizer"]["chat"]["rendered"], out
        print(f"  [validate] jinja2 {jinja2.__version__}: chat_template rendering matches")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "tiny"))
    ap.add_argument("--no-validate", action="store_true")
    ap.add_argument("--models", nargs="*", default=list(MODELS))
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name in args.models:
        print(f"== {name}")
        info = build_model(out, name, MODELS[name], validate=not args.no_validate)
        print(f"  seed={info['seed']} argmax_f32={info['argmax']} greedy={info['greedy']}")
        print(f"  max|logits(type)-logits(f32)| = {info['max_diff']}")
        print(f"  ggml-convention forward on re-read GGUF vs reference: {info['gguf_crosscheck_max_abs']}")
    total = 0
    for p in sorted(out.rglob("*")):
        if p.is_file():
            total += p.stat().st_size
    print(f"total size under {out}: {total} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
