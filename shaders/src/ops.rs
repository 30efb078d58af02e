//! The rest of a decoder layer on the CPU, over plain f32 slices: RMSNorm, rotary embedding,
//! causal grouped-query attention over a key/value history held in segments, and the SwiGLU gate.
//!
//! These run per token beside [`crate::cpu::matmul`] on the engine's CPU path, where dispatching
//! each of them as a tensor operation cost more than the arithmetic (≈ 20 ms per token for a
//! 30-layer model, `docs/PERFORMANCE.md`). They follow Hugging Face's `modeling_llama.py`
//! operation for operation in f32; sums of products use the kernels' canonical order
//! ([`crate::cpu::dot`]), so the results do not depend on the instruction set. They are checked
//! through the engine's parity tests: tiny fixtures against numpy, the real model against a
//! float64 forward, greedy text against llama.cpp.

use crate::cpu::{LANES, ShapeError, dot, for_each_chunk, reduce, threads};
use crate::simd::{Eight, EightOp, Isa};

/// `dot` for any length: the canonical order over whole groups of eight, then the rest left to
/// right.
pub fn dot_any(x: &[f32], w: &[f32]) -> f32 {
    let n = x.len().min(w.len());
    let whole = n - n % LANES;
    let mut s = dot(&x[..whole], &w[..whole]);
    for (a, b) in x[whole..n].iter().zip(&w[whole..n]) {
        s += a * b;
    }
    s
}

/// Root-mean-square normalisation of each row of `x` (`rows × weight.len()`), in place:
/// `x * rsqrt(mean(x²) + eps) * weight`.
pub fn rms_norm(x: &mut [f32], weight: &[f32], eps: f32) {
    let n = weight.len();
    if n == 0 {
        return;
    }
    for row in x.chunks_exact_mut(n) {
        let mean = dot_any(row, row) / n as f32;
        let inv = 1.0 / (mean + eps).sqrt();
        for (v, w) in row.iter_mut().zip(weight) {
            *v = *v * inv * w;
        }
    }
}

/// Rotates each head of one position in place, Hugging Face's convention (the two halves of a
/// head against each other, `rotate_half`): `x * cos + rotate_half(x) * sin`, where `cos` and
/// `sin` hold the position's `head_dim` values (each frequency twice).
///
/// # Shapes
/// - `x`: `[heads, head_dim]`; `cos`, `sin`: `[head_dim]`
pub fn rope(x: &mut [f32], cos: &[f32], sin: &[f32]) {
    let d = cos.len();
    let half = d / 2;
    for head in x.chunks_exact_mut(d) {
        let (x1, x2) = head.split_at_mut(half);
        for i in 0..half {
            let (a, b) = (x1[i], x2[i]);
            x1[i] = a * cos[i] - b * sin[i];
            x2[i] = b * cos[half + i] + a * sin[half + i];
        }
    }
}

/// `gate = silu(gate) * up`, in place (`silu(g) = g · sigmoid(g)`).
pub fn silu_mul(gate: &mut [f32], up: &[f32]) {
    for (g, u) in gate.iter_mut().zip(up) {
        *g = *g * (1.0 / (1.0 + (-*g).exp())) * u;
    }
}

/// The head layout of an attention layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Heads {
    /// Query heads.
    pub n_heads: usize,
    /// Key/value heads (each shared by `n_heads / n_kv` query heads).
    pub n_kv: usize,
    /// Values per head.
    pub head_dim: usize,
}

impl Heads {
    /// Values per position of the key (or value) history: `n_kv × head_dim`.
    pub fn kv_width(&self) -> usize {
        self.n_kv * self.head_dim
    }
}

/// Causal attention of `s` queries at positions `start..start + s` over the history of keys
/// and values, which covers positions `0..start + s` in segments (shared prefixes, then the
/// lane's own rows). Query head `h` reads key/value head `h / (n_heads / n_kv)` in place: the
/// grouped heads are never repeated. Scores are scaled by `1 / sqrt(head_dim)` and normalised
/// with a max-subtracted softmax, as `modeling_llama.py` does in f32.
///
/// # Shapes
/// - `q`: `[s, n_heads, head_dim]` → `out`: `[s, n_heads, head_dim]`
/// - `keys`, `values`: segments of `[t, n_kv, head_dim]`, `t` summing to `start + s`
pub fn attention(
    h: Heads,
    q: &[f32],
    keys: &[&[f32]],
    values: &[&[f32]],
    start: usize,
    out: &mut [f32],
) -> Result<(), ShapeError> {
    attention_on(Isa::best(), h, q, keys, values, start, out)
}

/// [`attention`] at a chosen instruction-set level (every level gives the same bits).
pub fn attention_on(
    isa: Isa,
    h: Heads,
    q: &[f32],
    keys: &[&[f32]],
    values: &[&[f32]],
    start: usize,
    out: &mut [f32],
) -> Result<(), ShapeError> {
    let (d, kvw) = (h.head_dim, h.kv_width());
    let qw = h.n_heads * d;
    let total: usize = keys.iter().map(|k| k.len()).sum();
    let s = q.len() / qw.max(1);
    let fits = d > 0
        && h.n_kv > 0
        && h.n_heads.is_multiple_of(h.n_kv)
        && q.len() == s * qw
        && out.len() == q.len()
        && keys
            .iter()
            .chain(values)
            .all(|k| k.len().is_multiple_of(kvw))
        && values.iter().map(|v| v.len()).sum::<usize>() == total
        && total == (start + s) * kvw;
    if !fits {
        return Err(ShapeError(format!(
            "attention: {s} queries of {qw} values at {start} over {} cached values of width {kvw}",
            total
        )));
    }
    // Each (query, head) pair is independent: natively, long histories split them across the
    // kernels' threads.
    let pairs = s * h.n_heads;
    let per_task = if (start + s) * pairs < 1 << 14 {
        pairs
    } else {
        pairs.div_ceil(threads())
    };
    for_each_chunk(out, per_task * d, |(t, out)| {
        isa.run(Attend {
            h,
            q,
            keys,
            values,
            start,
            first: t * per_task,
            out,
        });
    });
    Ok(())
}

/// [`attention`]'s loops, run at the kernels' instruction-set level.
struct Attend<'a> {
    h: Heads,
    q: &'a [f32],
    keys: &'a [&'a [f32]],
    values: &'a [&'a [f32]],
    start: usize,
    /// The (query, head) pair of `out`'s first `head_dim` values.
    first: usize,
    /// Outputs of consecutive pairs from `first`.
    out: &'a mut [f32],
}

impl EightOp for Attend<'_> {
    type Output = ();

    #[inline(always)]
    fn run<E: Eight>(self, e: E) {
        let Attend {
            h,
            q,
            keys,
            values,
            start,
            first,
            out,
        } = self;
        let (d, kvw) = (h.head_dim, h.kv_width());
        let groups = h.n_heads / h.n_kv;
        let scale = 1.0 / (d as f32).sqrt();
        let mut scores = vec![0.0f32; start + q.len() / (h.n_heads * d)];
        for (p, oh) in out.chunks_exact_mut(d).enumerate() {
            let (i, head) = ((first + p) / h.n_heads, (first + p) % h.n_heads);
            let Some(qh) = q.get((first + p) * d..(first + p + 1) * d) else {
                return;
            };
            let seen = start + i + 1; // causal: positions 0..=start + i
            let g = head / groups;
            let sc = &mut scores[..seen];
            for (t, k) in rows(keys, kvw).take(seen).enumerate() {
                sc[t] = dot_e(e, qh, &k[g * d..(g + 1) * d]) * scale;
            }
            let max = sc.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let mut sum = 0.0f32;
            for v in sc.iter_mut() {
                *v = (*v - max).exp();
                sum += *v;
            }
            let inv = 1.0 / sum;
            oh.fill(0.0);
            for (p, v) in sc.iter().zip(rows(values, kvw)) {
                axpy(e, p * inv, &v[g * d..(g + 1) * d], oh);
            }
        }
    }
}

/// [`dot_any`] at level `e`: the canonical order over whole groups of eight, then the rest.
#[inline(always)]
fn dot_e<E: Eight>(e: E, x: &[f32], w: &[f32]) -> f32 {
    let (xc, xt) = x.as_chunks::<LANES>();
    let (wc, wt) = w.as_chunks::<LANES>();
    let mut acc = e.splat(0.0);
    for (a, b) in xc.iter().zip(wc) {
        acc = e.add(acc, e.mul(e.load(a), e.load(b)));
    }
    let mut lanes = [0.0f32; LANES];
    e.store(acc, &mut lanes);
    let mut s = reduce(lanes);
    for (a, b) in xt.iter().zip(wt) {
        s += a * b;
    }
    s
}

/// `o += p · x`, lane-wise.
#[inline(always)]
fn axpy<E: Eight>(e: E, p: f32, x: &[f32], o: &mut [f32]) {
    let pv = e.splat(p);
    let (oc, ot) = o.as_chunks_mut::<LANES>();
    let (xc, xt) = x.as_chunks::<LANES>();
    for (o, x) in oc.iter_mut().zip(xc) {
        let v = e.add(e.load(o), e.mul(pv, e.load(x)));
        e.store(v, o);
    }
    for (o, x) in ot.iter_mut().zip(xt) {
        *o += p * x;
    }
}

/// The positions of a segmented history, in order: one `width`-value row each.
fn rows<'a>(segments: &'a [&'a [f32]], width: usize) -> impl Iterator<Item = &'a [f32]> + 'a {
    segments.iter().flat_map(move |s| s.chunks_exact(width))
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    /// A direct transcription of the formulas, in f64, for one query head.
    fn reference(q: &[f32], keys: &[Vec<f32>], values: &[Vec<f32>]) -> Vec<f64> {
        let d = q.len();
        let s: Vec<f64> = keys
            .iter()
            .map(|k| {
                q.iter()
                    .zip(k)
                    .map(|(a, b)| *a as f64 * *b as f64)
                    .sum::<f64>()
                    / (d as f64).sqrt()
            })
            .collect();
        let m = s.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let e: Vec<f64> = s.iter().map(|v| (v - m).exp()).collect();
        let z: f64 = e.iter().sum();
        (0..d)
            .map(|j| e.iter().zip(values).map(|(p, v)| p / z * v[j] as f64).sum())
            .collect()
    }

    #[test]
    fn grouped_attention_over_segments_matches_the_formula() {
        // Two query heads share one key/value head; history split into two segments; two new
        // queries, so the first sees one position less (causal). Heads of 12 values: one group
        // of eight lanes and a tail.
        const D: usize = 12;
        let h = Heads {
            n_heads: 2,
            n_kv: 1,
            head_dim: D,
        };
        let val = |i: usize| ((i * 7919) % 97) as f32 / 48.0 - 1.0;
        let k: Vec<f32> = (0..5 * D).map(val).collect();
        let v: Vec<f32> = (0..5 * D).map(|i| val(i + 300)).collect();
        let q: Vec<f32> = (0..2 * 2 * D).map(|i| val(i + 600)).collect();
        let mut out = vec![0.0; q.len()];
        let segs_k = [&k[..2 * D], &k[2 * D..]];
        let segs_v = [&v[..3 * D], &v[3 * D..]];
        assert!(attention(h, &q, &segs_k, &segs_v, 3, &mut out).is_ok());
        let krows: Vec<Vec<f32>> = k.chunks(D).map(<[f32]>::to_vec).collect();
        let vrows: Vec<Vec<f32>> = v.chunks(D).map(<[f32]>::to_vec).collect();
        for i in 0..2 {
            for head in 0..2 {
                let at = (i * 2 + head) * D;
                let want = reference(&q[at..at + D], &krows[..4 + i], &vrows[..4 + i]);
                for (g, w) in out[at..at + D].iter().zip(&want) {
                    assert!(
                        (*g as f64 - w).abs() < 1e-6,
                        "query {i} head {head}: {g} vs {w}"
                    );
                }
            }
        }
        // Every instruction-set level gives the same bits.
        for isa in Isa::available() {
            let mut again = vec![0.0; q.len()];
            assert!(attention_on(isa, h, &q, &segs_k, &segs_v, 3, &mut again).is_ok());
            let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&again), bits(&out), "{}", isa.name());
        }
        // A history that does not cover the queries is refused.
        assert!(attention(h, &q, &[&k[..4 * D]], &[&v[..4 * D]], 3, &mut out).is_err());
    }

    #[test]
    fn rope_rotates_halves_and_keeps_the_norm() {
        let (c, s) = (0.6f32, 0.8f32);
        let mut x = vec![1.0, 2.0, 3.0, 4.0];
        rope(&mut x, &[c, c, c, c], &[s, s, s, s]);
        assert_eq!(
            x,
            vec![
                1.0 * c - 3.0 * s,
                2.0 * c - 4.0 * s,
                3.0 * c + 1.0 * s,
                4.0 * c + 2.0 * s
            ]
        );
        let norm: f32 = x.iter().map(|v| v * v).sum();
        assert!((norm - 30.0).abs() < 1e-4);
    }

    #[test]
    fn rms_norm_and_gate_follow_their_formulas() {
        let mut x = vec![3.0, 4.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0];
        rms_norm(&mut x, &[1.0, 2.0, 1.0, 1.0], 0.0);
        let inv = 1.0 / (25.0f32 / 4.0).sqrt();
        assert_eq!(&x[..4], &[3.0 * inv, 4.0 * inv * 2.0, 0.0, 0.0]);
        assert_eq!(&x[4..], &[1.0, 2.0, 1.0, 1.0]);
        let mut g = vec![0.0, 2.0];
        silu_mul(&mut g, &[5.0, 3.0]);
        assert_eq!(g[0], 0.0);
        assert!((g[1] - 2.0 / (1.0 + (-2.0f32).exp()) * 3.0).abs() < 1e-6);
    }
}
