//! GGUF's quantized block types (ggml's `ggml_type` names, ids and sizes) and the f16 scales
//! their blocks carry: the leaf both the layouts ([`crate::unpack`]) and [`crate::blocks`]
//! stand on.

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
pub(crate) const QK_K: usize = 256;

/// Every f16's value, indexed by its bits (256 KiB): a block's scale is one load. Converting
/// with integer arithmetic cost 18 instructions per scale, a third of the kernel, and `half`'s
/// conversion asks the CPU for F16C on every call; llama.cpp keeps the same table.
pub(crate) type Halves = [f32; 65536];

/// The table of [`Halves`], built once from [`f16_to_f32`].
pub(crate) fn halves() -> &'static Halves {
    static TABLE: std::sync::OnceLock<Box<Halves>> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        let v: Vec<f32> = (0..=u16::MAX).map(f16_to_f32).collect();
        v.into_boxed_slice()
            .try_into()
            .unwrap_or_else(|_| Box::new([f32::NAN; 65536]))
    })
}

/// The f16 at `b[at..at + 2]`, as f32.
#[inline(always)]
pub(crate) fn half_at(t: &Halves, b: &[u8], at: usize) -> f32 {
    t[usize::from(u16::from_le_bytes([b[at], b[at + 1]]))]
}

/// An f16's bits as f32, exactly, the same on every target (hardware conversions quiet
/// signalling NaNs; this keeps every payload). The magnitude's bits shifted into an f32 give the
/// value × 2⁻¹¹², so one exact multiplication by 2¹¹² restores it, subnormals included;
/// infinities and NaNs (exponent 31) take f32's all-ones exponent instead.
#[inline(always)]
pub fn f16_to_f32(h: u16) -> f32 {
    let mag = u32::from(h & 0x7fff) << 13;
    let v = if h & 0x7c00 == 0x7c00 {
        mag | 0x7f80_0000
    } else {
        (f32::from_bits(mag) * f32::from_bits(0x7780_0000)).to_bits() // × 2¹¹²
    };
    f32::from_bits(v | (u32::from(h & 0x8000) << 16))
}

// The block decoders below are called by `decode` on exact-length chunks: `b` holds one block
// (`ty.bytes()`), `y` its values (`ty.values()`), so every constant index is in bounds.

#[cfg(test)]
mod tests {
    use half::f16;

    use super::*;

    #[test]
    fn f16_conversion_is_exact_for_every_bit_pattern() {
        for h in 0..=u16::MAX {
            let (got, want) = (f16_to_f32(h), f16::from_bits(h).to_f32());
            if want.is_nan() {
                assert!(got.is_nan(), "{h:#06x}");
                assert_eq!(
                    got.to_bits() & 0x003f_ffff,
                    want.to_bits() & 0x003f_ffff,
                    "{h:#06x}"
                );
            } else {
                assert_eq!(got.to_bits(), want.to_bits(), "{h:#06x}");
            }
        }
    }

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
}
