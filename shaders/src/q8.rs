//! The opt-in 8-bit activation path (llama.cpp's design): each activation row is quantized to
//! blocks of 32 signed bytes with one f32 scale ([`quantize`]), and each weight group is
//! multiplied with it as integers — exact — before one f32 scaling per group.
//!
//! # One order of arithmetic
//!
//! For a weight row and an activation row, eight f32 running sums: per group of 32 values, lane
//! `j` takes the exact integer sum of products `4j..4j + 4`, converted to f32 and multiplied by
//! the group's scale times the activations' scale, then added; a minimum's term (`m · d_x · Σq`)
//! is added to one scalar in group order. The result is [`crate::cpu::LANES`]'s fixed tree over
//! the eight, plus the scalar. Every step is lane-wise IEEE arithmetic or exact integer
//! arithmetic, so the scalar level, AVX2 (`vpmaddubsw`) and wasm SIMD128 (`i32x4.dot_i16x8_s`)
//! give the same bits. Rounding activations to 8 bits moves the logits; `docs/PERFORMANCE.md`
//! says by how much on the default model.

use crate::blocks::BlockType;
use crate::cpu::{LANES, QMatrix, ShapeError, TILE_ROWS, by_rows, reduce};
use crate::simd::{Eight, EightOp, Isa};
pub use crate::unpack::Q8Block;
use crate::unpack::{self as u, Layout};

/// Quantizes rows of `cols` values (a multiple of 32) to 8-bit blocks: per block, `d = max|x| /
/// 127` and `q = round(x / d)` (half away from zero), `s = d · Σ q`. All-zero blocks get `d = 0`.
pub fn quantize(x: &[f32], cols: usize) -> Vec<Q8Block> {
    quantize_rows(x, cols)
}

#[inline(always)]
fn quantize_rows(x: &[f32], cols: usize) -> Vec<Q8Block> {
    let mut out = Vec::with_capacity(x.len() / 32);
    if cols == 0 || !cols.is_multiple_of(32) {
        return out;
    }
    for xs in x.as_chunks::<32>().0 {
        let amax = xs.iter().fold(0.0f32, |a, v| a.max(v.abs()));
        let d = amax / 127.0;
        let id = if d > 0.0 { 1.0 / d } else { 0.0 };
        let mut b = Q8Block {
            d,
            ..Q8Block::default()
        };
        let mut sum = 0i32;
        for (q, &v) in b.q.iter_mut().zip(xs) {
            *q = (v * id).round().clamp(-127.0, 127.0) as i8;
            sum += i32::from(*q);
        }
        b.s = d * sum as f32;
        out.push(b);
    }
    out
}

/// `y = x Wᵀ` with `x` quantized to 8 bits, on the best instruction set, threads natively.
pub fn matmul_q8(w: &QMatrix, x: &[f32], y: &mut [f32]) -> Result<(), ShapeError> {
    matmul_q8_on(Isa::best(), w, x, y)
}

/// [`matmul_q8`] on a chosen level (the scalar level is the reference; the tests force each).
pub fn matmul_q8_on(isa: Isa, w: &QMatrix, x: &[f32], y: &mut [f32]) -> Result<(), ShapeError> {
    let m = w.check(x, y)?;
    if m == 0 || w.rows == 0 {
        return Ok(());
    }
    let xq = isa.run(Quantize { x, cols: w.cols });
    by_rows(w.rows, m, y, |r0, out| {
        isa.run(Task {
            w,
            xq: &xq,
            m,
            r0,
            out,
        });
    });
    Ok(())
}

/// [`quantize`] compiled at the kernels' level (its rounding inlines there; called plainly it
/// was a library call per value, 5 % of a decoded token).
struct Quantize<'a> {
    x: &'a [f32],
    cols: usize,
}

impl EightOp for Quantize<'_> {
    type Output = Vec<Q8Block>;

    #[inline(always)]
    fn run<E: Eight>(self, _: E) -> Vec<Q8Block> {
        quantize_rows(self.x, self.cols)
    }
}

/// Weight rows `r0..` for every activation row, into `out` as `[row][m]`.
struct Task<'a, 'b> {
    w: &'a QMatrix<'b>,
    xq: &'a [Q8Block],
    m: usize,
    r0: usize,
    out: &'a mut [f32],
}

impl EightOp for Task<'_, '_> {
    type Output = ();

    #[inline(always)]
    fn run<E: Eight>(self, e: E) {
        let Task { w, xq, m, r0, out } = self;
        match w.ty {
            BlockType::Q4_0 => rows::<E, u::Q4_0>(e, w, xq, m, r0, out),
            BlockType::Q4_1 => rows::<E, u::Q4_1>(e, w, xq, m, r0, out),
            BlockType::Q5_0 => rows::<E, u::Q5_0>(e, w, xq, m, r0, out),
            BlockType::Q5_1 => rows::<E, u::Q5_1>(e, w, xq, m, r0, out),
            BlockType::Q8_0 => rows::<E, u::Q8_0>(e, w, xq, m, r0, out),
            BlockType::Q4_K => rows::<E, u::Q4_K>(e, w, xq, m, r0, out),
            BlockType::Q5_K => rows::<E, u::Q5_K>(e, w, xq, m, r0, out),
            BlockType::Q6_K => rows::<E, u::Q6_K>(e, w, xq, m, r0, out),
        }
    }
}

/// Activation rows taken together per weight row (its groups unpacked once for all of them).
const ACT: usize = TILE_ROWS;

/// The rows of one task: every weight row's blocks against up to [`ACT`] activation rows at
/// a time.
#[inline(always)]
fn rows<E: Eight, D: Layout>(
    e: E,
    w: &QMatrix,
    xq: &[Q8Block],
    m: usize,
    r0: usize,
    out: &mut [f32],
) {
    let t = crate::block_type::halves();
    let (nb, rb, per_row) = (D::TY.bytes(), w.row_bytes(), w.cols / 32);
    for (k, out) in out.chunks_mut(m).enumerate() {
        let r = r0 + k;
        let Some(row) = w.data.get(r * rb..(r + 1) * rb) else {
            return;
        };
        for (i0, out) in (0..m).step_by(ACT).zip(out.chunks_mut(ACT)) {
            let mut acc = [e.splat(0.0); ACT];
            let mut off = [0.0f32; ACT];
            for (bi, b) in row.chunks_exact(nb).enumerate() {
                for j in 0..D::N {
                    let Some(g) = D::group(t, b, j) else {
                        continue;
                    };
                    let at = bi * D::N + j;
                    for a in 0..out.len() {
                        if let Some(x) = xq.get((i0 + a) * per_row + at) {
                            g.dot_q8(e, x, &mut acc[a], &mut off[a]);
                        }
                    }
                }
            }
            for (a, y) in out.iter_mut().enumerate() {
                let mut lanes = [0.0f32; LANES];
                e.store(acc[a], &mut lanes);
                *y = reduce(lanes) + off[a];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;
    use crate::blocks::ALL;
    use crate::cpu::tests::synthetic_blocks;

    /// Every level gives the scalar level's bits; and the result is the exact product of the
    /// dequantised weights with the dequantised activations (float64), within f32 rounding —
    /// an independent check of the integer arithmetic.
    #[test]
    fn every_level_matches_the_scalar_level_and_the_exact_product() {
        let mut sum = 0u64;
        for ty in ALL {
            let (rows, cols, m) = (7, 2 * ty.values(), 3);
            let data = synthetic_blocks(ty, rows * 2, ty.ggml_id() + 7);
            let Ok(w) = QMatrix::new(ty, rows, cols, &data) else {
                panic!("{ty:?}: bad synthetic matrix");
            };
            let x: Vec<f32> = (0..m * cols)
                .map(|i| ((i * 53) % 89) as f32 / 30.0 - 1.4)
                .collect();
            let mut want = vec![0.0; m * rows];
            assert!(matmul_q8_on(Isa::Scalar, &w, &x, &mut want).is_ok());
            for isa in Isa::available() {
                let mut got = vec![0.0; m * rows];
                assert!(matmul_q8_on(isa, &w, &x, &mut got).is_ok());
                let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&got), bits(&want), "{ty:?} on {}", isa.name());
            }
            for (i, v) in want.iter().enumerate() {
                sum = sum
                    .wrapping_mul(0x100_0000_01b3)
                    .wrapping_add(u64::from(v.to_bits()) ^ i as u64);
            }
            // Reference: dequantised activations · dequantised weights in f64.
            let xq = quantize(&x, cols);
            let mut wf = vec![0.0f32; rows * cols];
            assert!(crate::blocks::decode(ty, &data, &mut wf).is_ok());
            for i in 0..m {
                for r in 0..rows {
                    let (mut exact, mut mag) = (0.0f64, 0.0f64);
                    for c in 0..cols {
                        let xb = &xq[i * cols / 32 + c / 32];
                        let xv = f64::from(xb.d) * f64::from(xb.q[c % 32]);
                        exact += xv * f64::from(wf[r * cols + c]);
                        mag += (xv * f64::from(wf[r * cols + c])).abs();
                    }
                    let got = f64::from(want[i * rows + r]);
                    assert!(
                        (got - exact).abs() <= 1e-5 * mag + 1e-6,
                        "{ty:?} [{i}, {r}]: {got} vs {exact}"
                    );
                }
            }
        }
        // The same bits natively and in wasm: one checksum both builds must reproduce.
        println!("8-bit path checksum: {sum:#x}");
        assert_eq!(sum, GOLDEN, "the 8-bit path's bits changed");
    }

    /// [`every_level_matches_the_scalar_level_and_the_exact_product`]'s checksum, computed
    /// natively (AVX2 and scalar); the wasm SIMD128 run must give the same.
    const GOLDEN: u64 = 0x06c8_a199_ae81_ecfc;

    #[test]
    fn quantized_activations_round_half_away_and_keep_zero_blocks() {
        let mut x = vec![0.0f32; 64];
        x[0] = 127.0;
        x[1] = -63.5;
        x[2] = 0.49;
        let b = quantize(&x, 64);
        assert_eq!(b.len(), 2);
        assert_eq!(
            (b[0].d, b[0].q[0], b[0].q[1], b[0].q[2]),
            (1.0, 127, -64, 0)
        );
        assert_eq!(b[0].s, 63.0);
        assert_eq!((b[1].d, b[1].s), (0.0, 0.0));
        assert!(b[1].q.iter().all(|&q| q == 0));
    }
}
