//! CPU kernels over GGUF's blocks: the matrix product of f32 activations with a quantized weight
//! matrix, for decode (1–8 lanes) and prefill (many rows) alike. The weights are never expanded
//! to f32 beyond a few rows at a time in a buffer that stays in the core's cache.
//!
//! # One order of summation
//!
//! Every output is `dot(x, w)` for one activation row `x` and one weight row `w`, where `w` is the
//! row as [`crate::blocks`] decodes it, summed in one fixed order ([`dot`]): eight running sums,
//! sum `j` taking the products `x[8k + j] * w[8k + j]` for `k = 0, 1, …` in turn, then a fixed
//! tree over the eight. Products and sums are separate roundings (no fused multiply-add), so the
//! scalar, AVX2 and wasm SIMD128 levels and the scalar twin give the same f32 bits — llama.cpp's
//! results change with the SIMD path; kiln's do not. AVX-512 CPUs run the AVX2 code (eight lanes
//! is the definition, not a width chosen per machine).
//!
//! [`matmul_twin`] is the plain reference; [`matmul`] is the same arithmetic tiled four weight
//! rows by up to two activation rows, written against eight explicit f32 lanes
//! ([`crate::simd`]: the block decoders too) at the best level the CPU has ([`Isa`], detected at
//! run time), and, natively, split across threads by output rows.

use crate::blocks::{self, BlockType};
pub use crate::simd::Isa;
use crate::simd::{Eight, EightOp};
use crate::unpack::{self as u, Layout};

/// Running sums per dot product: the width of the canonical order.
pub const LANES: usize = 8;

/// A weight matrix `[rows, cols]` in GGUF's row order: each row is `cols / ty.values()` blocks.
#[derive(Debug, Clone, Copy)]
pub struct QMatrix<'a> {
    /// The block type.
    pub ty: BlockType,
    /// Output features.
    pub rows: usize,
    /// Input features (a multiple of the block's value count).
    pub cols: usize,
    /// `rows × cols / ty.values()` blocks.
    pub data: &'a [u8],
}

/// Shapes that do not fit together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShapeError(pub String);

impl std::fmt::Display for ShapeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ShapeError {}

impl<'a> QMatrix<'a> {
    /// Checks that `data` holds exactly `rows` rows of `cols` values of `ty`.
    pub fn new(
        ty: BlockType,
        rows: usize,
        cols: usize,
        data: &'a [u8],
    ) -> Result<Self, ShapeError> {
        if cols == 0 || !cols.is_multiple_of(ty.values()) {
            return Err(ShapeError(format!(
                "{} rows of {cols} values: not whole blocks of {}",
                ty.name(),
                ty.values()
            )));
        }
        let want = (cols / ty.values())
            .checked_mul(ty.bytes())
            .and_then(|b| b.checked_mul(rows));
        if want != Some(data.len()) {
            return Err(ShapeError(format!(
                "{} matrix [{rows}, {cols}] needs {want:?} bytes, has {}",
                ty.name(),
                data.len()
            )));
        }
        Ok(Self {
            ty,
            rows,
            cols,
            data,
        })
    }

    /// Bytes of one row.
    pub fn row_bytes(&self) -> usize {
        self.cols / self.ty.values() * self.ty.bytes()
    }

    /// Decodes row `r` into `out` (`cols` values); `false` if `r` or `out` does not fit.
    pub fn decode_row(&self, r: usize, out: &mut [f32]) -> bool {
        let rb = self.row_bytes();
        match self.data.get(r * rb..(r + 1) * rb) {
            Some(bytes) if r < self.rows => blocks::decode(self.ty, bytes, out).is_ok(),
            _ => false,
        }
    }

    pub(crate) fn check(&self, x: &[f32], y: &[f32]) -> Result<usize, ShapeError> {
        let m = x.len() / self.cols;
        if m * self.cols != x.len() || y.len() != m * self.rows {
            return Err(ShapeError(format!(
                "activations of {} values and outputs of {} do not fit a [{}, {}] matrix",
                x.len(),
                y.len(),
                self.rows,
                self.cols
            )));
        }
        Ok(m)
    }
}

/// The canonical reduction of the eight running sums.
#[inline(always)]
pub(crate) fn reduce(a: [f32; LANES]) -> f32 {
    ((a[0] + a[4]) + (a[2] + a[6])) + ((a[1] + a[5]) + (a[3] + a[7]))
}

/// The canonical dot product (the definition every kernel reproduces). `x` and `w` have the
/// same length, a multiple of [`LANES`].
pub fn dot(x: &[f32], w: &[f32]) -> f32 {
    let mut acc = [0.0f32; LANES];
    for (xc, wc) in x
        .as_chunks::<LANES>()
        .0
        .iter()
        .zip(w.as_chunks::<LANES>().0)
    {
        for j in 0..LANES {
            acc[j] += xc[j] * wc[j];
        }
    }
    reduce(acc)
}

/// Reference twin: `y[i * rows + r] = dot(x[i], decode(row r))`, `x` being `m` rows of `cols`.
pub fn matmul_twin(w: &QMatrix, x: &[f32], y: &mut [f32]) -> Result<(), ShapeError> {
    let m = w.check(x, y)?;
    let mut row = vec![0.0f32; w.cols];
    for r in 0..w.rows {
        if !w.decode_row(r, &mut row) {
            return Err(ShapeError(format!("row {r} does not decode")));
        }
        for i in 0..m {
            y[i * w.rows + r] = dot(&x[i * w.cols..(i + 1) * w.cols], &row);
        }
    }
    Ok(())
}

/// One task of [`matmul_on`]: whole weight rows for every activation row, as `[row][m]`.
struct Task<'a, 'b> {
    w: &'a QMatrix<'b>,
    x: &'a [f32],
    m: usize,
    r0: usize,
    out: &'a mut [f32],
}

impl EightOp for Task<'_, '_> {
    type Output = ();

    #[inline(always)]
    fn run<E: Eight>(self, e: E) {
        tile_rows(e, self.w, self.x, self.m, self.r0, self.out);
    }
}

/// Weight rows per tile.
pub(crate) const TILE_ROWS: usize = 4;

/// `y = x Wᵀ` on the best instruction set, threads natively: the same bits as [`matmul_twin`].
pub fn matmul(w: &QMatrix, x: &[f32], y: &mut [f32]) -> Result<(), ShapeError> {
    matmul_on(Isa::best(), w, x, y)
}

/// [`matmul`] on a chosen instruction set (the tests force each level the CPU has).
pub fn matmul_on(isa: Isa, w: &QMatrix, x: &[f32], y: &mut [f32]) -> Result<(), ShapeError> {
    let m = w.check(x, y)?;
    if m == 0 || w.rows == 0 {
        return Ok(());
    }
    by_rows(w.rows, m, y, |r0, out| {
        isa.run(Task { w, x, m, r0, out });
    });
    Ok(())
}

/// Runs `task(r0, out)` over tasks of whole weight rows (natively across threads), each writing
/// its rows for all `m` activation rows as `[row][m]` into `out`, and lays the results out as
/// `y[i * rows + r]`.
pub(crate) fn by_rows(
    rows: usize,
    m: usize,
    y: &mut [f32],
    task: impl Fn(usize, &mut [f32]) + Sync + Send,
) {
    let per_task = rows_per_task(rows, m);
    let run = |(t, out): (usize, &mut [f32])| task(t * per_task, out);
    if m == 1 {
        for_each_chunk(y, per_task, run);
        return;
    }
    let mut yt = vec![0.0f32; y.len()];
    for_each_chunk(&mut yt, per_task * m, run);
    for (r, col) in yt.chunks_exact(m).enumerate() {
        for (i, v) in col.iter().enumerate() {
            y[i * rows + r] = *v;
        }
    }
}

/// Rows per task: a multiple of the tile, about four tasks per thread.
pub(crate) fn rows_per_task(rows: usize, m: usize) -> usize {
    let threads = threads();
    if threads == 1 || rows * m < 64 {
        return rows.next_multiple_of(TILE_ROWS);
    }
    rows.div_ceil(threads * 4).next_multiple_of(TILE_ROWS)
}

/// Runs `f` on one of the kernels' pool threads (natively; in place without threads), so that
/// each matrix product inside it splits its rows with the other pool threads directly: called
/// from outside the pool, every product handed its work over and waited to be woken, ≈ 211
/// times per token, and two threads ran slower than one.
#[cfg(feature = "threads")]
pub fn on_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    rayon::scope(|_| f())
}

/// Runs `f` in place (no thread pool in this build).
#[cfg(not(feature = "threads"))]
pub fn on_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    f()
}

/// How many threads the kernels split their rows over: rayon's pool natively, 1 without it.
#[cfg(feature = "threads")]
pub fn threads() -> usize {
    rayon::current_num_threads()
}

/// How many threads the kernels split their rows over: rayon's pool natively, 1 without it.
#[cfg(not(feature = "threads"))]
pub fn threads() -> usize {
    1
}

#[cfg(feature = "threads")]
pub(crate) fn for_each_chunk(
    y: &mut [f32],
    chunk: usize,
    f: impl Fn((usize, &mut [f32])) + Sync + Send,
) {
    use rayon::prelude::*;
    if y.len() <= chunk {
        f((0, y));
    } else {
        y.par_chunks_mut(chunk).enumerate().for_each(f);
    }
}

#[cfg(not(feature = "threads"))]
pub(crate) fn for_each_chunk(y: &mut [f32], chunk: usize, f: impl Fn((usize, &mut [f32]))) {
    y.chunks_mut(chunk).enumerate().for_each(f);
}

/// Weight rows `r0..r0 + out.len() / m` for every activation row, into `out` as `[row][m]`.
#[inline(always)]
fn tile_rows<E: Eight>(e: E, w: &QMatrix, x: &[f32], m: usize, r0: usize, out: &mut [f32]) {
    match w.ty {
        BlockType::Q4_0 => tiles::<E, u::Q4_0>(e, w, x, m, r0, out),
        BlockType::Q4_1 => tiles::<E, u::Q4_1>(e, w, x, m, r0, out),
        BlockType::Q5_0 => tiles::<E, u::Q5_0>(e, w, x, m, r0, out),
        BlockType::Q5_1 => tiles::<E, u::Q5_1>(e, w, x, m, r0, out),
        BlockType::Q8_0 => tiles::<E, u::Q8_0>(e, w, x, m, r0, out),
        BlockType::Q4_K => tiles::<E, u::Q4_K>(e, w, x, m, r0, out),
        BlockType::Q5_K => tiles::<E, u::Q5_K>(e, w, x, m, r0, out),
        BlockType::Q6_K => tiles::<E, u::Q6_K>(e, w, x, m, r0, out),
    }
}

/// The tiled loop for one block decoder: four weight rows are decoded into a buffer that stays
/// in cache, then every activation row (two at a time) is multiplied with them.
#[inline(always)]
fn tiles<E: Eight, D: Layout>(e: E, w: &QMatrix, x: &[f32], m: usize, r0: usize, out: &mut [f32]) {
    let (nv, nb) = (D::TY.values(), D::TY.bytes());
    let (cols, rb) = (w.cols, w.cols / nv * nb);
    let mut buf = vec![0.0f32; TILE_ROWS * cols];
    let halves = crate::block_type::halves();
    for (t, out) in out.chunks_mut(TILE_ROWS * m).enumerate() {
        let r = r0 + t * TILE_ROWS;
        let nr = out.len() / m;
        for (k, row) in buf.chunks_exact_mut(cols).take(nr).enumerate() {
            let bytes = &w.data[(r + k) * rb..(r + k + 1) * rb];
            for (b, y) in bytes.chunks_exact(nb).zip(row.chunks_exact_mut(nv)) {
                D::decode(e, halves, b, y);
            }
        }
        let mut i = 0;
        while i + 2 <= m {
            let sums = dots::<E, 2>(e, &buf, cols, nr, &x[i * cols..(i + 2) * cols]);
            for (k, s) in sums.iter().take(nr).enumerate() {
                out[k * m + i] = s[0];
                out[k * m + i + 1] = s[1];
            }
            i += 2;
        }
        if i < m {
            let sums = dots::<E, 1>(e, &buf, cols, nr, &x[i * cols..(i + 1) * cols]);
            for (k, s) in sums.iter().take(nr).enumerate() {
                out[k * m + i] = s[0];
            }
        }
    }
}

/// `A` activation rows against the first `nr` decoded rows of `buf`: `[row][activation]` sums,
/// each in the canonical order (`acc[j] += x[j] * w[j]`, two roundings per lane, then [`reduce`]).
#[inline(always)]
fn dots<E: Eight, const A: usize>(
    e: E,
    buf: &[f32],
    cols: usize,
    nr: usize,
    x: &[f32],
) -> [[f32; A]; TILE_ROWS] {
    let mut acc = [[e.splat(0.0); A]; TILE_ROWS];
    // Rows as arrays of eight: fixed-size chunks, so the loops carry no bounds checks.
    let n = cols / LANES;
    let xs: [&[[f32; LANES]]; A] =
        std::array::from_fn(|a| &x[a * cols..(a + 1) * cols].as_chunks().0[..n]);
    if nr == TILE_ROWS {
        let w: [&[[f32; LANES]]; TILE_ROWS] =
            std::array::from_fn(|k| &buf[k * cols..(k + 1) * cols].as_chunks().0[..n]);
        for c in 0..n {
            let xv: [E::V; A] = std::array::from_fn(|a| e.load(&xs[a][c]));
            for k in 0..TILE_ROWS {
                let wv = e.load(&w[k][c]);
                for a in 0..A {
                    acc[k][a] = e.add(acc[k][a], e.mul(xv[a], wv));
                }
            }
        }
    } else {
        for (k, acc) in acc.iter_mut().enumerate().take(nr) {
            let w = &buf[k * cols..(k + 1) * cols].as_chunks::<LANES>().0[..n];
            for (acc, x) in acc.iter_mut().zip(xs) {
                for (xv, wv) in x.iter().zip(w) {
                    *acc = e.add(*acc, e.mul(e.load(xv), e.load(wv)));
                }
            }
        }
    }
    acc.map(|rows| {
        rows.map(|v| {
            let mut lanes = [0.0f32; LANES];
            e.store(v, &mut lanes);
            reduce(lanes)
        })
    })
}

#[cfg(test)]
pub(crate) mod tests {
    // The same tests run natively and in wasm (wasm-bindgen-test under Node, SIMD128).
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;
    use crate::blocks::ALL;

    /// Deterministic bytes; the f16 scale fields of each block set to finite values.
    pub(crate) fn synthetic_blocks(ty: BlockType, n: usize, seed: u32) -> Vec<u8> {
        let mut s = seed | 1;
        let mut data: Vec<u8> = (0..n * ty.bytes())
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                (s >> 24) as u8
            })
            .collect();
        let halves: &[usize] = match ty {
            BlockType::Q6_K => &[208],
            BlockType::Q4_0 | BlockType::Q5_0 | BlockType::Q8_0 => &[0],
            _ => &[0, 2],
        };
        for (i, b) in data.chunks_exact_mut(ty.bytes()).enumerate() {
            for (k, &at) in halves.iter().enumerate() {
                let v = half::f16::from_f32(
                    0.01 * (1 + (i + k) % 7) as f32 * if k == 1 { -1.0 } else { 1.0 },
                );
                b[at..at + 2].copy_from_slice(&v.to_le_bytes());
            }
        }
        data
    }

    /// The kernel's bits for every block type on a fixed input, natively and in wasm: equal to
    /// the twin's, and folded into one checksum that both targets must reproduce.
    #[test]
    fn the_same_bits_on_every_target() {
        let mut sum = 0u64;
        for ty in ALL {
            let (rows, cols, m) = (13, 2 * ty.values(), 3);
            let data = synthetic_blocks(ty, rows * 2, ty.ggml_id());
            let w = QMatrix::new(ty, rows, cols, &data).ok();
            let w = w.as_ref().map(|w| *w);
            let Some(w) = w else {
                panic!("{ty:?}: bad synthetic matrix");
            };
            let x: Vec<f32> = (0..m * cols)
                .map(|i| ((i * 37) % 101) as f32 / 50.0 - 1.0)
                .collect();
            let (mut got, mut want) = (vec![0.0; m * rows], vec![0.0; m * rows]);
            assert!(matmul(&w, &x, &mut got).is_ok() && matmul_twin(&w, &x, &mut want).is_ok());
            let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&got), bits(&want), "{ty:?} on {}", Isa::best().name());
            for (i, v) in got.iter().enumerate() {
                sum = sum
                    .wrapping_mul(0x100_0000_01b3)
                    .wrapping_add(u64::from(v.to_bits()) ^ i as u64);
            }
        }
        println!("checksum on {}: {sum:#x}", Isa::best().name());
        assert_eq!(
            sum,
            GOLDEN,
            "the kernel's bits changed on {}",
            Isa::best().name()
        );
    }

    /// [`the_same_bits_on_every_target`]'s checksum, first computed natively (AVX2); the wasm run
    /// must give the same.
    const GOLDEN: u64 = 0x5808_61d6_92aa_c18d;

    #[test]
    fn the_canonical_order_is_not_left_to_right() {
        // Eight lanes make a different sum than a left-to-right loop: the order is a definition.
        // Lane 0 holds 1e8 (+1, lost to rounding); lanes 1-7 hold 2 each, which the tree adds
        // as 4 (lost: a tie, rounded to even) on one side and 8 (kept) on the other.
        let x: Vec<f32> = (0..16).map(|i| if i == 0 { 1e8 } else { 1.0 }).collect();
        let w = vec![1.0; 16];
        let left: f32 = x.iter().zip(&w).map(|(a, b)| a * b).sum();
        assert_eq!(left, 1e8);
        assert_eq!(dot(&x, &w), 1e8 + 8.0);
    }

    #[test]
    fn shapes_that_do_not_fit_are_refused() {
        let data = vec![0u8; 2 * 20];
        assert!(QMatrix::new(BlockType::Q4_1, 2, 32, &data).is_ok());
        assert!(QMatrix::new(BlockType::Q4_1, 2, 31, &data).is_err());
        assert!(QMatrix::new(BlockType::Q4_1, 3, 32, &data).is_err());
        let w = QMatrix::new(BlockType::Q4_1, 2, 32, &data).ok();
        let w = w.as_ref();
        let mut y = vec![0.0; 3];
        assert!(w.is_some_and(|w| matmul(w, &[0.0; 64], &mut y).is_err()));
        assert!(w.is_some_and(|w| matmul(w, &[0.0; 65], &mut y[..2]).is_err()));
    }
}
