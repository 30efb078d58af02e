//! GGUF's quantized block formats: one decoder per type, shared by the model loader and the
//! kernels' reference twins.
//!
//! Layouts are ggml's (`ggml-common.h`: `block_q4_0` … `block_q6_K`); each decoder follows
//! `dequantize_row_*` in `ggml-quants.c` operation for operation (the same f32 products and
//! sums in the same order, no fused multiply-add), so that it agrees bit for bit with llama.cpp
//! and with gguf-py's numpy dequantisers, the tests' independent reference
//! (`scripts/make_block_fixtures.py`). The bit layouts live in one place, [`crate::unpack`]
//! (each block as groups of 32 integers with their scales), written against eight f32 lanes
//! ([`crate::simd::Eight`]): [`decode`] runs them at the scalar level, the CPU kernels at the
//! machine's vector level, with the same bits.

pub use crate::block_type::{ALL, BlockType, f16_to_f32};

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
    // The scalar level: the definition (the kernels run the same decoders at their own level).
    let (e, t) = (pulp::Scalar::new(), crate::block_type::halves());
    use crate::unpack::{self as u, Layout};
    match ty {
        BlockType::Q4_0 => blocks.for_each(|(b, y)| u::Q4_0::decode(e, t, b, y)),
        BlockType::Q4_1 => blocks.for_each(|(b, y)| u::Q4_1::decode(e, t, b, y)),
        BlockType::Q5_0 => blocks.for_each(|(b, y)| u::Q5_0::decode(e, t, b, y)),
        BlockType::Q5_1 => blocks.for_each(|(b, y)| u::Q5_1::decode(e, t, b, y)),
        BlockType::Q8_0 => blocks.for_each(|(b, y)| u::Q8_0::decode(e, t, b, y)),
        BlockType::Q4_K => blocks.for_each(|(b, y)| u::Q4_K::decode(e, t, b, y)),
        BlockType::Q5_K => blocks.for_each(|(b, y)| u::Q5_K::decode(e, t, b, y)),
        BlockType::Q6_K => blocks.for_each(|(b, y)| u::Q6_K::decode(e, t, b, y)),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use half::f16;

    use super::*;

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
            assert_eq!(
                crate::unpack::scale_min_k4(j, &q),
                (sc[j], mn[j]),
                "sub-block {j}"
            );
        }
    }
}
