//! GGUF's quantized block formats: one decoder per type, shared by the model loader and the
//! kernels' reference twins.
//!
//! Layouts are ggml's (`ggml-common.h`: `block_q4_0` … `block_q6_K`); each decoder follows
//! `dequantize_row_*` in `ggml-quants.c` operation for operation (the same f32 products and
//! sums in the same order, no fused multiply-add), so that it agrees bit for bit with llama.cpp
//! and with gguf-py's numpy dequantisers, the tests' independent reference
//! (`scripts/make_block_fixtures.py`).

use half::f16;

/// A quantized block type (ggml's `ggml_type` ids in [`BlockType::from_ggml`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[allow(non_camel_case_types)] // ggml's names, as users see them in model files
pub enum BlockType {
    /// 32 values: f16 scale, 32 × 4 bits, offset 8.
    Q4_0,
    /// 32 values: f16 scale and minimum, 32 × 4 bits.
    Q4_1,
    /// 32 values: f16 scale, 32 × 5 bits (high bits packed in a u32), offset 16.
    Q5_0,
    /// 32 values: f16 scale and minimum, 32 × 5 bits.
    Q5_1,
    /// 32 values: f16 scale, 32 × i8.
    Q8_0,
    /// 256 values in 8 sub-blocks of 32: f16 super-scale and super-minimum, 6-bit sub-scales
    /// and sub-minimums, 4-bit values.
    Q4_K,
    /// As Q4_K with a fifth bit per value.
    Q5_K,
    /// 256 values in 16 sub-blocks of 16: 6-bit values (offset 32), i8 sub-scales, f16 scale.
    Q6_K,
}

/// Every block type, in ggml's id order.
pub const ALL: [BlockType; 8] = [
    BlockType::Q4_0,
    BlockType::Q4_1,
    BlockType::Q5_0,
    BlockType::Q5_1,
    BlockType::Q8_0,
    BlockType::Q4_K,
    BlockType::Q5_K,
    BlockType::Q6_K,
];

impl BlockType {
    /// The type of a GGUF tensor type id, if it is a block type kiln decodes.
    pub fn from_ggml(id: u32) -> Option<Self> {
        ALL.into_iter().find(|t| t.ggml_id() == id)
    }

    /// ggml's type id.
    pub const fn ggml_id(self) -> u32 {
        match self {
            Self::Q4_0 => 2,
            Self::Q4_1 => 3,
            Self::Q5_0 => 6,
            Self::Q5_1 => 7,
            Self::Q8_0 => 8,
            Self::Q4_K => 12,
            Self::Q5_K => 13,
            Self::Q6_K => 14,
        }
    }

    /// The name llama.cpp uses.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Q4_0 => "Q4_0",
            Self::Q4_1 => "Q4_1",
            Self::Q5_0 => "Q5_0",
            Self::Q5_1 => "Q5_1",
            Self::Q8_0 => "Q8_0",
            Self::Q4_K => "Q4_K",
            Self::Q5_K => "Q5_K",
            Self::Q6_K => "Q6_K",
        }
    }

    /// Values per block.
    pub const fn values(self) -> usize {
        match self {
            Self::Q4_0 | Self::Q4_1 | Self::Q5_0 | Self::Q5_1 | Self::Q8_0 => 32,
            Self::Q4_K | Self::Q5_K | Self::Q6_K => QK_K,
        }
    }

    /// Bytes per block.
    pub const fn bytes(self) -> usize {
        match self {
            Self::Q4_0 => 18,
            Self::Q4_1 => 20,
            Self::Q5_0 => 22,
            Self::Q5_1 => 24,
            Self::Q8_0 => 34,
            Self::Q4_K => 144,
            Self::Q5_K => 176,
            Self::Q6_K => 210,
        }
    }
}

/// Values per K-quant super-block.
const QK_K: usize = 256;

/// [`decode`] was handed slices that do not hold whole blocks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LengthError {
    /// The block type.
    pub ty: BlockType,
    /// Bytes given.
    pub bytes: usize,
    /// Values asked for.
    pub values: usize,
}

impl std::fmt::Display for LengthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} blocks: {} bytes cannot decode into {} values (blocks of {} values in {} bytes)",
            self.ty.name(),
            self.bytes,
            self.values,
            self.ty.values(),
            self.ty.bytes()
        )
    }
}

impl std::error::Error for LengthError {}

/// Decodes whole blocks of `ty` from `bytes` into `out` (`out.len()` values, a multiple of the
/// block's value count; `bytes` exactly the blocks that hold them).
pub fn decode(ty: BlockType, bytes: &[u8], out: &mut [f32]) -> Result<(), LengthError> {
    let (nv, nb) = (ty.values(), ty.bytes());
    if !out.len().is_multiple_of(nv) || bytes.len() != out.len() / nv * nb {
        return Err(LengthError {
            ty,
            bytes: bytes.len(),
            values: out.len(),
        });
    }
    let blocks = bytes.chunks_exact(nb).zip(out.chunks_exact_mut(nv));
    match ty {
        BlockType::Q4_0 => blocks.for_each(|(b, y)| q4_0(b, y)),
        BlockType::Q4_1 => blocks.for_each(|(b, y)| q4_1(b, y)),
        BlockType::Q5_0 => blocks.for_each(|(b, y)| q5_0(b, y)),
        BlockType::Q5_1 => blocks.for_each(|(b, y)| q5_1(b, y)),
        BlockType::Q8_0 => blocks.for_each(|(b, y)| q8_0(b, y)),
        BlockType::Q4_K => blocks.for_each(|(b, y)| q4_k(b, y)),
        BlockType::Q5_K => blocks.for_each(|(b, y)| q5_k(b, y)),
        BlockType::Q6_K => blocks.for_each(|(b, y)| q6_k(b, y)),
    }
    Ok(())
}

/// The f16 at `b[at..at + 2]`, as f32.
#[inline(always)]
fn half_at(b: &[u8], at: usize) -> f32 {
    f16::from_le_bytes([b[at], b[at + 1]]).to_f32()
}

// The block decoders below are called by `decode` on exact-length chunks: `b` holds one block
// (`ty.bytes()`), `y` its values (`ty.values()`), so every constant index is in bounds.

/// The 32 4-bit values of a Q4/Q5 block's 16 bytes: value j is the low nibble of byte j,
/// value j + 16 its high nibble. (Unpacking to bytes first lets the compiler vectorise both
/// steps of each decoder.)
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

/// Adds the fifth bit of each Q5 value (bit j of `qh` belongs to value j).
#[inline(always)]
fn with_high_bits(mut q: [u8; 32], qh: u32) -> [u8; 32] {
    for (j, q) in q.iter_mut().enumerate() {
        *q |= (((qh >> j) & 1) << 4) as u8;
    }
    q
}

/// `block_q4_0 { d: f16, qs: [u8; 16] }`: value j is the low nibble of byte j, value j + 16
/// its high nibble.
#[inline(always)]
pub(crate) fn q4_0(b: &[u8], y: &mut [f32]) {
    let d = half_at(b, 0);
    let q = nibbles(&b[2..18]);
    for (y, &q) in y.iter_mut().zip(&q) {
        *y = (i32::from(q) - 8) as f32 * d;
    }
}

/// `block_q4_1 { d: f16, m: f16, qs: [u8; 16] }`.
#[inline(always)]
pub(crate) fn q4_1(b: &[u8], y: &mut [f32]) {
    let (d, m) = (half_at(b, 0), half_at(b, 2));
    let q = nibbles(&b[4..20]);
    for (y, &q) in y.iter_mut().zip(&q) {
        *y = f32::from(q) * d + m;
    }
}

/// The fifth bits of a Q5 block: bit j of the little-endian u32 belongs to value j.
#[inline(always)]
fn high_bits(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// `block_q5_0 { d: f16, qh: [u8; 4], qs: [u8; 16] }`.
#[inline(always)]
pub(crate) fn q5_0(b: &[u8], y: &mut [f32]) {
    let d = half_at(b, 0);
    let q = with_high_bits(nibbles(&b[6..22]), high_bits(b, 2));
    for (y, &q) in y.iter_mut().zip(&q) {
        *y = (i32::from(q) - 16) as f32 * d;
    }
}

/// `block_q5_1 { d: f16, m: f16, qh: [u8; 4], qs: [u8; 16] }`.
#[inline(always)]
pub(crate) fn q5_1(b: &[u8], y: &mut [f32]) {
    let (d, m) = (half_at(b, 0), half_at(b, 2));
    let q = with_high_bits(nibbles(&b[8..24]), high_bits(b, 4));
    for (y, &q) in y.iter_mut().zip(&q) {
        *y = f32::from(q) * d + m;
    }
}

/// `block_q8_0 { d: f16, qs: [i8; 32] }`.
#[inline(always)]
pub(crate) fn q8_0(b: &[u8], y: &mut [f32]) {
    let d = half_at(b, 0);
    let q: [u8; 32] = b[2..34].try_into().unwrap_or([0; 32]);
    for (y, &q) in y.iter_mut().zip(&q) {
        *y = f32::from(q as i8) * d;
    }
}

/// Sub-block `j`'s 6-bit scale and minimum from a K-quant's 12 packed bytes
/// (`get_scale_min_k4`): sub-blocks 0–3 in the low 6 bits of bytes 0–3 / 4–7, sub-blocks 4–7
/// in the nibbles of bytes 8–11 with their top two bits in the high bits of bytes 0–7.
#[inline(always)]
fn scale_min_k4(j: usize, q: &[u8]) -> (u8, u8) {
    if j < 4 {
        (q[j] & 63, q[j + 4] & 63)
    } else {
        (
            (q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4),
            (q[j + 4] >> 4) | ((q[j] >> 6) << 4),
        )
    }
}

/// Sub-block `j`'s scale and minimum as f32: the super-block's `d` and `dmin` times its 6-bit
/// pair (llama.cpp's `d1 = d * sc; m1 = min * m`).
#[inline(always)]
fn k_scale_min(d: f32, min: f32, j: usize, scales: &[u8]) -> (f32, f32) {
    let (sc, m) = scale_min_k4(j, scales);
    (d * f32::from(sc), min * f32::from(m))
}

/// `block_q4_K { d: f16, dmin: f16, scales: [u8; 12], qs: [u8; 128] }`: four groups of 64
/// values; in each, 32 low nibbles (one sub-block) then 32 high nibbles (the next).
#[inline(always)]
pub(crate) fn q4_k(b: &[u8], y: &mut [f32]) {
    let (d, min) = (half_at(b, 0), half_at(b, 2));
    let scales = &b[4..16];
    for g in 0..4 {
        let qs = &b[16 + 32 * g..16 + 32 * (g + 1)];
        let (d1, m1) = k_scale_min(d, min, 2 * g, scales);
        let (d2, m2) = k_scale_min(d, min, 2 * g + 1, scales);
        let (lo, hi) = y[64 * g..64 * (g + 1)].split_at_mut(32);
        for ((&q, lo), hi) in qs.iter().zip(lo).zip(hi) {
            *lo = d1 * f32::from(q & 0x0f) - m1;
            *hi = d2 * f32::from(q >> 4) - m2;
        }
    }
}

/// `block_q5_K { d: f16, dmin: f16, scales: [u8; 12], qh: [u8; 32], qs: [u8; 128] }`: as
/// Q4_K; bit `2g` of `qh[l]` is the fifth bit of value l of group g's first sub-block, bit
/// `2g + 1` of its second.
#[inline(always)]
pub(crate) fn q5_k(b: &[u8], y: &mut [f32]) {
    let (d, min) = (half_at(b, 0), half_at(b, 2));
    let scales = &b[4..16];
    let qh = &b[16..48];
    for g in 0..4 {
        let qs = &b[48 + 32 * g..48 + 32 * (g + 1)];
        let (d1, m1) = k_scale_min(d, min, 2 * g, scales);
        let (d2, m2) = k_scale_min(d, min, 2 * g + 1, scales);
        let (u1, u2) = (1u8 << (2 * g), 2u8 << (2 * g));
        let (lo, hi) = y[64 * g..64 * (g + 1)].split_at_mut(32);
        for (((&q, &h), lo), hi) in qs.iter().zip(qh).zip(lo).zip(hi) {
            let hi1 = if h & u1 != 0 { 16 } else { 0 };
            let hi2 = if h & u2 != 0 { 16 } else { 0 };
            *lo = d1 * f32::from((q & 0x0f) + hi1) - m1;
            *hi = d2 * f32::from((q >> 4) + hi2) - m2;
        }
    }
}

/// `block_q6_K { ql: [u8; 128], qh: [u8; 64], scales: [i8; 16], d: f16 }`: two halves of 128
/// values; in each, value l (l < 32) of the four quarters takes the low or high nibble of
/// `ql[l]` / `ql[l + 32]` and two bits of `qh[l]`, and sub-block `l / 16` of each quarter has
/// its own i8 scale.
#[inline(always)]
pub(crate) fn q6_k(b: &[u8], y: &mut [f32]) {
    let d = half_at(b, 208);
    for h in 0..2 {
        let ql = &b[64 * h..64 * (h + 1)];
        let qh = &b[128 + 32 * h..128 + 32 * (h + 1)];
        let sc = &b[192 + 8 * h..192 + 8 * (h + 1)];
        let out = &mut y[128 * h..128 * (h + 1)];
        let (ql_lo, ql_hi) = ql.split_at(32);
        let (o12, o34) = out.split_at_mut(64);
        let ((o1, o2), (o3, o4)) = (o12.split_at_mut(32), o34.split_at_mut(32));
        for is in 0..2 {
            let s = [0, 2, 4, 6].map(|k| d * f32::from(sc[is + k] as i8));
            let r = 16 * is..16 * (is + 1);
            let quarters = (o1[r.clone()].iter_mut())
                .zip(&mut o2[r.clone()])
                .zip(&mut o3[r.clone()])
                .zip(&mut o4[r.clone()]);
            let src = ql_lo[r.clone()].iter().zip(&ql_hi[r.clone()]).zip(&qh[r]);
            for ((((y1, y2), y3), y4), ((&a, &b), &h)) in quarters.zip(src) {
                let q1 = i32::from((a & 0x0f) | ((h & 3) << 4)) - 32;
                let q2 = i32::from((b & 0x0f) | (((h >> 2) & 3) << 4)) - 32;
                let q3 = i32::from((a >> 4) | (((h >> 4) & 3) << 4)) - 32;
                let q4 = i32::from((b >> 4) | (((h >> 6) & 3) << 4)) - 32;
                *y1 = s[0] * q1 as f32;
                *y2 = s[1] * q2 as f32;
                *y3 = s[2] * q3 as f32;
                *y4 = s[3] * q4 as f32;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_ggmls() {
        // ggml-common.h static_asserts: sizeof(block_*) and QK_*.
        let want = [
            (2, 32, 18),
            (3, 32, 20),
            (6, 32, 22),
            (7, 32, 24),
            (8, 32, 34),
            (12, 256, 144),
            (13, 256, 176),
            (14, 256, 210),
        ];
        for (t, (id, nv, nb)) in ALL.into_iter().zip(want) {
            assert_eq!((t.ggml_id(), t.values(), t.bytes()), (id, nv, nb), "{t:?}");
            assert_eq!(BlockType::from_ggml(id), Some(t));
        }
        for other in [0, 1, 9, 10, 11, 15, 16, 30, 39, 1000] {
            assert_eq!(BlockType::from_ggml(other), None, "{other}");
        }
    }

    #[test]
    fn lengths_that_are_not_whole_blocks_are_refused() {
        let mut out = vec![0.0; 64];
        assert!(decode(BlockType::Q4_0, &[0; 36], &mut out).is_ok());
        assert!(decode(BlockType::Q4_0, &[0; 35], &mut out).is_err());
        assert!(decode(BlockType::Q4_0, &[0; 36], &mut out[..63]).is_err());
        let e = decode(BlockType::Q6_K, &[0; 210], &mut out).err();
        assert_eq!(
            e.map(|e| e.to_string()).as_deref(),
            Some(
                "Q6_K blocks: 210 bytes cannot decode into 64 values (blocks of 256 values in 210 bytes)"
            )
        );
    }

    #[test]
    fn q4_0_puts_low_nibbles_first() {
        let mut b = f16::from_f32(1.0).to_le_bytes().to_vec();
        b.extend((0..16u8).map(|j| (j << 4) | (15 - j)));
        let mut x = [0.0; 32];
        decode(BlockType::Q4_0, &b, &mut x).ok();
        assert_eq!((x[0], x[15], x[16], x[31]), (7.0, -8.0, -8.0, 7.0));
    }

    #[test]
    fn the_k_scale_packing_round_trips() {
        // Pack 8 chosen 6-bit scales and minimums the way llama.cpp's quantize_row_q4_K does.
        let sc: [u8; 8] = [1, 17, 33, 63, 0, 42, 5, 60];
        let mn: [u8; 8] = [63, 2, 31, 8, 59, 0, 44, 13];
        let mut q = [0u8; 12];
        for j in 0..8 {
            if j < 4 {
                q[j] = sc[j];
                q[j + 4] = mn[j];
            } else {
                q[j + 4] = (sc[j] & 0x0f) | ((mn[j] & 0x0f) << 4);
                q[j - 4] |= (sc[j] >> 4) << 6;
                q[j] |= (mn[j] >> 4) << 6;
            }
        }
        for j in 0..8 {
            assert_eq!(scale_min_k4(j, &q), (sc[j], mn[j]), "sub-block {j}");
        }
    }
}
