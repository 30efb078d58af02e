//! GGUF's block layouts, once: each block as groups of 32 integer values with their f32 scales
//! ([`Group`]), and the two things the kernels do with a group — expand it to f32
//! ([`Group::expand`], the dequantiser) or multiply it with 32 8-bit activations
//! ([`Group::dot_q8`], the opt-in 8-bit path). Layouts follow ggml's `block_*` structs and
//! `dequantize_row_*` in `ggml-quants.c`: value `q · d + m` (the K-quants' minimum enters as a
//! negative `m`: `d · q − m` is the same f32 bits), or `q · d` where a block has no minimum.

use crate::block_type::{BlockType, Halves, half_at};
use crate::simd::Eight;

/// 32 integer values of a block.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Vals {
    /// Unsigned (0..64): Q4_1, Q5_1 and the K-quants with minimums.
    U([u8; 32]),
    /// Signed, offsets already subtracted: Q4_0, Q5_0, Q8_0, Q6_K.
    I([i8; 32]),
}

/// One group of 32 values: `q · d + m`, `d` per half (Q6_K's sub-blocks are 16 values; every
/// other type has the same `d` for both halves), `m` where the block has a minimum.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Group {
    pub q: Vals,
    pub d: [f32; 2],
    pub m: Option<f32>,
}

/// 32 activations quantized to 8 bits: `x ≈ d · q`; `s = d · Σ q` (for the minimum's term).
#[derive(Debug, Clone, Copy, Default)]
pub struct Q8Block {
    /// Scale.
    pub d: f32,
    /// Values in −127..=127.
    pub q: [i8; 32],
    /// `d · Σ q`.
    pub s: f32,
}

impl Group {
    /// Writes the group's 32 values as f32 (`y.len() >= 32`).
    #[inline(always)]
    pub(crate) fn expand<E: Eight>(&self, e: E, y: &mut [f32]) {
        let m = self.m.map(|m| e.splat(m));
        for (c, y) in y.as_chunks_mut::<8>().0.iter_mut().take(4).enumerate() {
            let q = match &self.q {
                Vals::U(q) => e.u8s(eight(q, c)),
                Vals::I(q) => e.i8s(eight(q, c)),
            };
            let v = e.mul(q, e.splat(self.d[c / 2]));
            e.store(m.map_or(v, |m| e.add(v, m)), y);
        }
    }

    /// Adds this group times `x` to `acc` (lane `j` takes values `4j..4j + 4`, summed exactly as
    /// integers, then scaled once) and the minimum's term to `off`.
    #[inline(always)]
    pub(crate) fn dot_q8<E: Eight>(&self, e: E, x: &Q8Block, acc: &mut E::V, off: &mut f32) {
        let lanes = match &self.q {
            Vals::U(q) => e.dot_u8(q, &x.q),
            Vals::I(q) => e.dot_i8(q, &x.q),
        };
        *acc = e.add(
            *acc,
            e.mul(lanes, e.splat2(self.d[0] * x.d, self.d[1] * x.d)),
        );
        if let Some(m) = self.m {
            *off += m * x.s;
        }
    }
}

/// Eight values `at` of 32.
#[inline(always)]
fn eight<T: Copy + Default>(q: &[T; 32], at: usize) -> [T; 8] {
    std::array::from_fn(|j| q[8 * at + j])
}

/// A block type's layout: its groups, in value order. (A group by index, not a callback or an
/// array built with closures: those were compiled out of line, outside the kernels'
/// instruction-set context.)
pub(crate) trait Layout {
    /// The block type.
    const TY: BlockType;
    /// Groups per block (`TY.values() / 32`).
    const N: usize;
    /// Group `j < N` of one block (`b`: `TY.bytes()` bytes; `None` if shorter).
    fn group(t: &Halves, b: &[u8], j: usize) -> Option<Group>;

    /// Decodes one block into `y` (`TY.values()` values).
    #[inline(always)]
    fn decode<E: Eight>(e: E, t: &Halves, b: &[u8], y: &mut [f32]) {
        for (j, y) in y
            .as_chunks_mut::<32>()
            .0
            .iter_mut()
            .take(Self::N)
            .enumerate()
        {
            if let Some(g) = Self::group(t, b, j) {
                g.expand(e, y);
            }
        }
    }
}

/// The 32 4-bit values of a Q4/Q5 block's 16 bytes: value j is the low nibble of byte j,
/// value j + 16 its high nibble.
#[inline(always)]
fn nibbles(qs: &[u8]) -> [u8; 32] {
    let mut q = [0u8; 32];
    let (lo, hi) = q.split_at_mut(16);
    for ((&b, lo), hi) in qs.iter().zip(lo).zip(hi) {
        *lo = b & 0x0f;
        *hi = b >> 4;
    }
    q
}

/// Adds the fifth bit of each Q5 value (bit j of the little-endian u32 at `b[at..]`).
#[inline(always)]
fn with_high_bits(mut q: [u8; 32], b: &[u8], at: usize) -> [u8; 32] {
    let qh = u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
    for (j, q) in q.iter_mut().enumerate() {
        *q |= (((qh >> j) & 1) << 4) as u8;
    }
    q
}

/// Unsigned values less an offset, as signed bytes (`q - off` fits: q < 64, off ≤ 32).
#[inline(always)]
fn centred(q: [u8; 32], off: u8) -> [i8; 32] {
    q.map(|v| v.wrapping_sub(off) as i8)
}

/// A group with one scale and no minimum.
#[inline(always)]
fn signed(q: [i8; 32], d: f32) -> Group {
    Group {
        q: Vals::I(q),
        d: [d; 2],
        m: None,
    }
}

/// A group with one scale and a minimum added.
#[inline(always)]
fn with_min(q: [u8; 32], d: f32, m: f32) -> Group {
    Group {
        q: Vals::U(q),
        d: [d; 2],
        m: Some(m),
    }
}

macro_rules! layout {
    ($name:ident, $bytes:literal, $n:literal, |$t:ident, $b:ident, $j:ident| $body:block) => {
        #[allow(non_camel_case_types)]
        pub(crate) struct $name;
        impl Layout for $name {
            const TY: BlockType = BlockType::$name;
            const N: usize = $n;
            #[inline(always)]
            fn group($t: &Halves, b: &[u8], $j: usize) -> Option<Group> {
                // One length check; every index below is then in bounds by construction.
                let $b = b.first_chunk::<$bytes>()?;
                Some($body)
            }
        }
    };
}

// block_q4_0 { d: f16, qs: [u8; 16] }: (q − 8) · d.
layout!(Q4_0, 18, 1, |t, b, _j| {
    signed(centred(nibbles(&b[2..18]), 8), half_at(t, b, 0))
});

// block_q4_1 { d: f16, m: f16, qs: [u8; 16] }: q · d + m.
layout!(Q4_1, 20, 1, |t, b, _j| {
    with_min(nibbles(&b[4..20]), half_at(t, b, 0), half_at(t, b, 2))
});

// block_q5_0 { d: f16, qh: [u8; 4], qs: [u8; 16] }: (q − 16) · d.
layout!(Q5_0, 22, 1, |t, b, _j| {
    let q = with_high_bits(nibbles(&b[6..22]), b, 2);
    signed(centred(q, 16), half_at(t, b, 0))
});

// block_q5_1 { d: f16, m: f16, qh: [u8; 4], qs: [u8; 16] }: q · d + m.
layout!(Q5_1, 24, 1, |t, b, _j| {
    let q = with_high_bits(nibbles(&b[8..24]), b, 4);
    with_min(q, half_at(t, b, 0), half_at(t, b, 2))
});

// block_q8_0 { d: f16, qs: [i8; 32] }: q · d.
layout!(Q8_0, 34, 1, |t, b, _j| {
    let mut q = [0i8; 32];
    for (q, &v) in q.iter_mut().zip(&b[2..34]) {
        *q = v as i8;
    }
    signed(q, half_at(t, b, 0))
});

/// Sub-block `j`'s 6-bit scale and minimum from a K-quant's 12 packed bytes
/// (`get_scale_min_k4`): sub-blocks 0–3 in the low 6 bits of bytes 0–3 / 4–7, sub-blocks 4–7
/// in the nibbles of bytes 8–11 with their top two bits in the high bits of bytes 0–7.
#[inline(always)]
pub(crate) fn scale_min_k4(j: usize, q: &[u8]) -> (u8, u8) {
    if j < 4 {
        (q[j] & 63, q[j + 4] & 63)
    } else {
        (
            (q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4),
            (q[j + 4] >> 4) | ((q[j] >> 6) << 4),
        )
    }
}

/// Sub-block `j` of a Q4_K / Q5_K block: `d1 · q − m1` with llama.cpp's `d1 = d * sc;
/// m1 = min * m`.
#[inline(always)]
fn k_group(q: [u8; 32], d: f32, min: f32, j: usize, scales: &[u8]) -> Group {
    let (sc, m) = scale_min_k4(j, scales);
    with_min(q, d * f32::from(sc), -(min * f32::from(m)))
}

// block_q4_K { d: f16, dmin: f16, scales: [u8; 12], qs: [u8; 128] }: four groups of 64
// values; in each, 32 low nibbles (one sub-block) then 32 high nibbles (the next).
layout!(Q4_K, 144, 8, |t, b, j| {
    let shift = 4 * (j % 2);
    let mut q = [0u8; 32];
    for (q, &v) in q
        .iter_mut()
        .zip(&b[16 + 32 * (j / 2)..16 + 32 * (j / 2 + 1)])
    {
        *q = (v >> shift) & 0x0f;
    }
    k_group(q, half_at(t, b, 0), half_at(t, b, 2), j, &b[4..16])
});

// block_q5_K { d: f16, dmin: f16, scales: [u8; 12], qh: [u8; 32], qs: [u8; 128] }: as Q4_K;
// bit j of qh[l] is the fifth bit of value l of sub-block j.
layout!(Q5_K, 176, 8, |t, b, j| {
    let (shift, bit) = (4 * (j % 2), 1u8 << j);
    let mut q = [0u8; 32];
    let qs = &b[48 + 32 * (j / 2)..48 + 32 * (j / 2 + 1)];
    for ((q, &v), &h) in q.iter_mut().zip(qs).zip(&b[16..48]) {
        *q = ((v >> shift) & 0x0f) | if h & bit != 0 { 16 } else { 0 };
    }
    k_group(q, half_at(t, b, 0), half_at(t, b, 2), j, &b[4..16])
});

// block_q6_K { ql: [u8; 128], qh: [u8; 64], scales: [i8; 16], d: f16 }: two halves of 128
// values; in each, value l (l < 32) of quarter k takes the low (k = 0, 1) or high (k = 2, 3)
// nibble of ql[l] (k even) or ql[l + 32] (k odd) and bits 2k, 2k + 1 of qh[l], less 32;
// sub-block l / 16 of quarter k has the i8 scale scales[l / 16 + 2k]. Group j = 4h + k.
layout!(Q6_K, 210, 8, |t, b, j| {
    let (h, k) = (j / 4, j % 4);
    let ql = &b[64 * h + 32 * (k % 2)..64 * h + 32 * (k % 2) + 32];
    let qh = &b[128 + 32 * h..128 + 32 * (h + 1)];
    let (shift, hshift) = (4 * (k / 2), 2 * k);
    let mut q = [0i8; 32];
    for ((q, &lo), &hi) in q.iter_mut().zip(ql).zip(qh) {
        *q = (((lo >> shift) & 0x0f) | (((hi >> hshift) & 3) << 4)) as i8 - 32;
    }
    let d = half_at(t, b, 208);
    let s = |i: usize| d * f32::from(b[192 + 8 * h + 2 * k + i] as i8);
    Group {
        q: Vals::I(q),
        d: [s(0), s(1)],
        m: None,
    }
});
