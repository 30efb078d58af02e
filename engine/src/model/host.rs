//! The CPU path: the same decoder as [`super::llama`], run over host rows when every matrix is
//! held as the checkpoint's blocks. Each matrix product is kiln-shaders' kernel and each of the
//! rest is one of its layer operations ([`kiln_shaders::ops`]); the key/value history is written
//! in place ([`super::kv_cache`]) and grouped heads are read without being repeated.
//!
//! Why a second path: on the CPU, dispatching RMSNorm, RoPE, attention and the SwiGLU gate as
//! burn tensor operations, and reading activations back and uploading results around every
//! quantized matrix, cost ≈ 20 ms per token for the default model — a third of the time — while
//! their arithmetic takes well under one. The burn path stays for wgpu and the dense reference.
//! Both follow `modeling_llama.py`; the parity tests hold each to the same references.

use burn::prelude::*;
use kiln_shaders::ops::{self, Heads};

use super::kv_cache::{KvCache, LayerCache};
use super::llama::{Block, Llama};
use super::rope::HostRope;
use crate::error::{Error, Result};

/// Positions run through the layers at once: a long prompt goes in chunks (llama.cpp's
/// micro-batch is the same size), so that the activations of a 4k-token prefill — ≈ 90 MB at
/// once for the default model — stay a few MB.
const CHUNK: usize = 512;

/// The decoder over `tokens` (`b` lanes of `s` ids, checked by the caller) on the kernels'
/// thread pool, appending to `cache`: the final-norm hidden states as a tensor on the model's
/// device, where the output head takes them.
///
/// # Shapes
/// - `tokens`: `b` lanes of `s` ids → `[b, s, hidden]`
pub(crate) fn hidden(
    m: &Llama,
    rope: &HostRope,
    tokens: &[Vec<u32>],
    cache: &mut KvCache,
) -> Result<Tensor<3>> {
    let (b, s) = (tokens.len(), tokens.first().map_or(0, Vec::len));
    let x = m.embed(tokens);
    let h = kiln_shaders::cpu::on_pool(|| forward(m, rope, x, b, s, cache))?;
    Ok(m.to_device(h, b, s))
}

/// Runs the decoder over the embedded rows `x` of `b` lanes × `s` tokens, appending to `cache`,
/// and returns the final-norm hidden states.
///
/// # Shapes
/// - `x`: `[b, s, hidden]` → `[b, s, hidden]`
fn forward(
    m: &Llama,
    rope: &HostRope,
    mut x: Vec<f32>,
    b: usize,
    s: usize,
    cache: &mut KvCache,
) -> Result<Vec<f32>> {
    let hidden = m.hidden;
    for c0 in (0..s).step_by(CHUNK) {
        let c = CHUNK.min(s - c0);
        // [b, c, hidden]: this chunk's positions of every lane.
        let mut h: Vec<f32> = (0..b)
            .flat_map(|l| {
                x[(l * s + c0) * hidden..(l * s + c0 + c) * hidden]
                    .iter()
                    .copied()
            })
            .collect();
        for (block, lc) in m.layers.iter().zip(cache.layers.iter_mut()) {
            layer(block, rope, &mut h, b, c, lc)?;
        }
        ops::rms_norm(&mut h, &m.norm.host, m.norm.eps as f32);
        for (l, rows) in h.chunks_exact(c * hidden).enumerate() {
            x[(l * s + c0) * hidden..(l * s + c0 + c) * hidden].copy_from_slice(rows);
        }
    }
    Ok(x)
}

/// One decoder layer in place: `x += attn(norm(x))`, then `x += mlp(norm(x))`.
///
/// # Shapes
/// - `x`: `[b, s, hidden]`
fn layer(
    block: &Block,
    rope: &HostRope,
    x: &mut [f32],
    b: usize,
    s: usize,
    cache: &mut LayerCache,
) -> Result<()> {
    let a = &block.self_attn;
    let heads = Heads {
        n_heads: a.n_heads,
        n_kv: a.n_kv,
        head_dim: a.head_dim,
    };
    let (qw, kvw) = (heads.n_heads * heads.head_dim, heads.kv_width());
    let lanes = cache.host_lanes(b, kvw);
    if lanes.len() != b {
        return Err(Error::Kernel(format!(
            "{b} lanes stepped on a cache of {}",
            lanes.len()
        )));
    }
    // Each lane's next position: lanes of a server's batch hold histories of their own length.
    let starts: Vec<usize> = lanes.iter().map(|(k, _)| k.values() / kvw).collect();

    let mut h = x.to_vec();
    let norm = &block.input_layernorm;
    ops::rms_norm(&mut h, &norm.host, norm.eps as f32);
    let mut q = a.q_proj.apply_host(&h)?; // [b, s, n_heads * d]
    let mut k = a.k_proj.apply_host(&h)?; // [b, s, n_kv * d]
    let v = a.v_proj.apply_host(&h)?; // [b, s, n_kv * d]
    for (i, (qr, kr)) in q
        .chunks_exact_mut(qw)
        .zip(k.chunks_exact_mut(kvw))
        .enumerate()
    {
        let (cos, sin) = rope.at(starts[i / s] + i % s)?;
        ops::rope(qr, cos, sin);
        ops::rope(kr, cos, sin);
    }
    let mut y = vec![0.0f32; q.len()]; // [b, s, n_heads * d]
    let lanes = cache.host_lanes(b, kvw);
    for (lane, (kc, vc)) in lanes.iter_mut().enumerate() {
        let (rows, qrows) = (
            lane * s * kvw..(lane + 1) * s * kvw,
            lane * s * qw..(lane + 1) * s * qw,
        );
        kc.push(&k[rows.clone()]);
        vc.push(&v[rows]);
        ops::attention(
            heads,
            &q[qrows.clone()],
            &kc.segments(),
            &vc.segments(),
            starts[lane],
            &mut y[qrows],
        )
        .map_err(|e| Error::Kernel(e.to_string()))?;
    }
    add(x, &a.o_proj.apply_host(&y)?);

    h.copy_from_slice(x);
    let norm = &block.post_attention_layernorm;
    ops::rms_norm(&mut h, &norm.host, norm.eps as f32);
    let mlp = &block.mlp;
    let mut gate = mlp.gate_proj.apply_host(&h)?; // [b, s, intermediate]
    ops::silu_mul(&mut gate, &mlp.up_proj.apply_host(&h)?);
    add(x, &mlp.down_proj.apply_host(&gate)?);
    Ok(())
}

/// The residual: `x += y`.
fn add(x: &mut [f32], y: &[f32]) {
    for (a, b) in x.iter_mut().zip(y) {
        *a += b;
    }
}
