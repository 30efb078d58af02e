#!/usr/bin/env python3
"""Reference values for kiln's GGUF block decoders (shaders/src/blocks.rs), made by gguf-py.

gguf-py (PyPI `gguf`, llama.cpp's own Python package) has a numpy dequantiser for every block
type; kiln's decoders were written from ggml-quants.c, not from it. This script writes, for each
block type, random blocks and what gguf-py decodes them to:

    tests/fixtures/blocks/<TYPE>.blocks   the raw blocks
    tests/fixtures/blocks/<TYPE>.f32      gguf-py's values, little-endian f32
    tests/fixtures/blocks/<TYPE>.x.f32    3 random activation rows for the blocks as a matrix of
                                          8 rows (3 blocks each), little-endian f32
    tests/fixtures/blocks/<TYPE>.y.f64    numpy's float64 product x @ W.T of those rows with
                                          gguf-py's values, little-endian f64 (the reference
                                          for the CPU matrix kernels, shaders/src/cpu.rs)

The quantised bytes are uniform random; the f16 scales and minimums are chosen to cover the
cases that matter: zero, negative, tiny (subnormal) and large scales, negative minimums.

With --model PATH (a GGUF file, e.g. the default model), it also writes
tests/fixtures/blocks/<file name>.json: for every block-quantised tensor, a checksum of
gguf-py's dequantised values (sum over i of bits(x[i]) * (2i + 1), mod 2^64), which the Rust
test recomputes from its own decoding of the same file.

Usage: pip install -r scripts/requirements-fixtures.txt
       python3 scripts/make_block_fixtures.py [--model ~/.cache/kiln/models/SmolLM2-135M-Instruct-Q4_1.gguf]
Seeded: re-running writes byte-identical files.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import GGUFReader
from gguf.quants import dequantize

OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "blocks"

# type: (bytes per block, byte offsets of its f16 scale fields, offsets of f16 minimum fields)
LAYOUT = {
    T.Q4_0: (18, [0], []),
    T.Q4_1: (20, [0], [2]),
    T.Q5_0: (22, [0], []),
    T.Q5_1: (24, [0], [2]),
    T.Q8_0: (34, [0], []),
    T.Q4_K: (144, [0], [2]),
    T.Q5_K: (176, [0], [2]),
    T.Q6_K: (210, [208], []),
}
BLOCKS = 24  # per type


def f16_cases(rng: np.random.Generator, n: int, signed: bool) -> np.ndarray:
    """n f16 values: block 0 gets 0, block 1 a subnormal, block 2 a large value, the rest
    normal-ish values (negative ones when `signed`)."""
    v = rng.normal(0.0, 0.05, n).astype(np.float32)
    if not signed:
        v = np.abs(v)
    v[0] = 0.0
    v[1] = 3.0e-6 * (-1 if signed else 1)  # below f16's smallest normal (6.1e-5)
    v[2] = 300.0
    return v.astype(np.float16)


def make(ty: T, seed: int) -> tuple[bytes, np.ndarray]:
    size, scales, mins = LAYOUT[ty]
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 256, (BLOCKS, size), dtype=np.uint8)
    for off in scales:
        blocks[:, off:off + 2] = f16_cases(rng, BLOCKS, signed=True).view(np.uint8).reshape(BLOCKS, 2)
    for off in mins:
        # Minimums are negative in real files (they are subtracted or added as stored).
        m = f16_cases(rng, BLOCKS, signed=True)
        m[3] = np.float16(-1.5)
        blocks[:, off:off + 2] = m.view(np.uint8).reshape(BLOCKS, 2)
    raw = blocks.tobytes()
    values = dequantize(np.frombuffer(raw, dtype=np.uint8), ty).astype(np.float32).reshape(-1)
    return raw, values


def checksum(values: np.ndarray) -> int:
    bits = values.astype(np.float32).view(np.uint32).astype(np.uint64)
    weights = np.arange(bits.size, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    with np.errstate(over="ignore"):
        return int(np.sum(bits * weights, dtype=np.uint64))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", type=Path, help="a GGUF file whose block tensors to checksum")
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    for i, ty in enumerate(LAYOUT):
        raw, values = make(ty, 1000 + i)
        (OUT / f"{ty.name}.blocks").write_bytes(raw)
        (OUT / f"{ty.name}.f32").write_bytes(values.astype("<f4").tobytes())
        rows = 8
        w = values.astype(np.float64).reshape(rows, -1)
        x = np.random.default_rng(2000 + i).normal(0.0, 1.0, (3, w.shape[1])).astype(np.float32)
        y = x.astype(np.float64) @ w.T
        (OUT / f"{ty.name}.x.f32").write_bytes(x.astype("<f4").tobytes())
        (OUT / f"{ty.name}.y.f64").write_bytes(y.astype("<f8").tobytes())
        print(f"{ty.name}: {BLOCKS} blocks, {values.size} values, a {rows}x{w.shape[1]} product")
    if args.model:
        reader = GGUFReader(args.model)
        sums = {}
        for t in reader.tensors:
            if t.tensor_type not in LAYOUT:
                continue
            values = dequantize(np.asarray(t.data).reshape(-1).view(np.uint8), t.tensor_type)
            sums[t.name] = {"type": t.tensor_type.name, "values": int(values.size),
                            "checksum": str(checksum(values.reshape(-1)))}
        name = args.model.name + ".json"
        (OUT / name).write_text(json.dumps(sums, indent=1, sort_keys=True) + "\n")
        print(f"{name}: {len(sums)} tensors")


if __name__ == "__main__":
    main()
