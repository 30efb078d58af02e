//! Eight f32 lanes on every instruction set: the one vector shape the CPU kernels and the block
//! decoders are written against ([`Eight`]), and the levels a CPU can run them at ([`Isa`]).
//!
//! Every operation is lane-wise and IEEE-exact (add, multiply, integer-to-float, exact integer dot products), so an
//! implementation gives the same bits whatever its registers: one 256-bit register on x86-64-v3
//! (AVX2), two 128-bit registers in wasm SIMD128, an array of eight on the scalar level. The
//! compiler's auto-vectoriser is not relied on: it left the kernel's inner loop scalar.
//! Intrinsics are reached through `pulp`'s safe wrappers (x86, detected at run time) and
//! `core::arch::wasm32` (enabled for the whole wasm build), so the crate needs no `unsafe`.

/// Eight f32 lanes.
pub(crate) trait Eight: Copy {
    /// The register(s) holding eight lanes.
    type V: Copy;
    /// Eight lanes of `v`.
    fn splat(self, v: f32) -> Self::V;
    /// Loads eight values.
    fn load(self, a: &[f32; 8]) -> Self::V;
    /// Stores eight values.
    fn store(self, v: Self::V, out: &mut [f32; 8]);
    /// `a + b` per lane.
    fn add(self, a: Self::V, b: Self::V) -> Self::V;
    /// `a * b` per lane.
    fn mul(self, a: Self::V, b: Self::V) -> Self::V;
    /// Eight unsigned bytes as f32.
    fn u8s(self, q: [u8; 8]) -> Self::V;
    /// Eight signed bytes as f32.
    fn i8s(self, q: [i8; 8]) -> Self::V;
    /// Lanes 0–3 `a`, lanes 4–7 `b`.
    fn splat2(self, a: f32, b: f32) -> Self::V;
    /// Lane `j`: `Σ w[4j + i] · x[4j + i]` over `i < 4`, as f32 (exact: |sum| < 2²⁴). `w < 128`.
    fn dot_u8(self, w: &[u8; 32], x: &[i8; 32]) -> Self::V;
    /// As [`Eight::dot_u8`] for signed `w`; `x` in −127..=127.
    fn dot_i8(self, w: &[i8; 32], x: &[i8; 32]) -> Self::V;
}

/// The scalar definition of [`Eight::dot_u8`] / [`Eight::dot_i8`].
#[inline(always)]
fn dot4(w: impl Fn(usize) -> i32, x: &[i8; 32]) -> [f32; 8] {
    std::array::from_fn(|j| {
        (0..4)
            .map(|i| w(4 * j + i) * i32::from(x[4 * j + i]))
            .sum::<i32>() as f32
    })
}

/// The scalar level: plain arrays, the definition the vector levels reproduce.
impl Eight for pulp::Scalar {
    type V = [f32; 8];
    #[inline(always)]
    fn splat(self, v: f32) -> [f32; 8] {
        [v; 8]
    }
    #[inline(always)]
    fn load(self, a: &[f32; 8]) -> [f32; 8] {
        *a
    }
    #[inline(always)]
    fn store(self, v: [f32; 8], out: &mut [f32; 8]) {
        *out = v;
    }
    #[inline(always)]
    fn add(self, a: [f32; 8], b: [f32; 8]) -> [f32; 8] {
        std::array::from_fn(|j| a[j] + b[j])
    }
    #[inline(always)]
    fn mul(self, a: [f32; 8], b: [f32; 8]) -> [f32; 8] {
        std::array::from_fn(|j| a[j] * b[j])
    }
    #[inline(always)]
    fn u8s(self, q: [u8; 8]) -> [f32; 8] {
        q.map(f32::from)
    }
    #[inline(always)]
    fn i8s(self, q: [i8; 8]) -> [f32; 8] {
        q.map(f32::from)
    }
    #[inline(always)]
    fn splat2(self, a: f32, b: f32) -> [f32; 8] {
        [a, a, a, a, b, b, b, b]
    }
    #[inline(always)]
    fn dot_u8(self, w: &[u8; 32], x: &[i8; 32]) -> [f32; 8] {
        dot4(|i| i32::from(w[i]), x)
    }
    #[inline(always)]
    fn dot_i8(self, w: &[i8; 32], x: &[i8; 32]) -> [f32; 8] {
        dot4(|i| i32::from(w[i]), x)
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use core::arch::x86_64::{__m128i, __m256, __m256i};
    use pulp::bytemuck::cast;
    use pulp::x86::V3;

    /// AVX2: one 256-bit register.
    impl super::Eight for V3 {
        type V = __m256;
        #[inline(always)]
        fn splat(self, v: f32) -> __m256 {
            self.avx._mm256_set1_ps(v)
        }
        #[inline(always)]
        fn load(self, a: &[f32; 8]) -> __m256 {
            cast(*a)
        }
        #[inline(always)]
        fn store(self, v: __m256, out: &mut [f32; 8]) {
            *out = cast(v);
        }
        #[inline(always)]
        fn add(self, a: __m256, b: __m256) -> __m256 {
            self.avx._mm256_add_ps(a, b)
        }
        #[inline(always)]
        fn mul(self, a: __m256, b: __m256) -> __m256 {
            self.avx._mm256_mul_ps(a, b)
        }
        #[inline(always)]
        fn u8s(self, q: [u8; 8]) -> __m256 {
            let b: __m128i = cast([u64::from_le_bytes(q), 0]);
            self.avx
                ._mm256_cvtepi32_ps(self.avx2._mm256_cvtepu8_epi32(b))
        }
        #[inline(always)]
        fn i8s(self, q: [i8; 8]) -> __m256 {
            let b: __m128i = cast([u64::from_le_bytes(q.map(|v| v as u8)), 0]);
            self.avx
                ._mm256_cvtepi32_ps(self.avx2._mm256_cvtepi8_epi32(b))
        }
        #[inline(always)]
        fn splat2(self, a: f32, b: f32) -> __m256 {
            self.avx._mm256_setr_ps(a, a, a, a, b, b, b, b)
        }
        #[inline(always)]
        fn dot_u8(self, w: &[u8; 32], x: &[i8; 32]) -> __m256 {
            // Unsigned × signed byte pairs summed to i16 (no saturation: 2 · 63 · 127 < 2¹⁵),
            // then pairs of those to i32.
            let (w, x): (__m256i, __m256i) = (cast(*w), cast(*x));
            let pairs = self.avx2._mm256_maddubs_epi16(w, x);
            let quads = self
                .avx2
                ._mm256_madd_epi16(pairs, self.avx._mm256_set1_epi16(1));
            self.avx._mm256_cvtepi32_ps(quads)
        }
        #[inline(always)]
        fn dot_i8(self, w: &[i8; 32], x: &[i8; 32]) -> __m256 {
            // |w| × (x with w's sign): the same products, the first factor unsigned
            // (2 · 128 · 127 < 2¹⁵).
            let (w, x): (__m256i, __m256i) = (cast(*w), cast(*x));
            let aw = self.avx2._mm256_abs_epi8(w);
            let sx = self.avx2._mm256_sign_epi8(x, w);
            let pairs = self.avx2._mm256_maddubs_epi16(aw, sx);
            let quads = self
                .avx2
                ._mm256_madd_epi16(pairs, self.avx._mm256_set1_epi16(1));
            self.avx._mm256_cvtepi32_ps(quads)
        }
    }
}

/// wasm SIMD128 (enabled for the whole wasm build): two 128-bit registers.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod wasm {
    use core::arch::wasm32::*;

    /// The SIMD128 level's token (the feature is on for the whole build).
    #[derive(Debug, Clone, Copy)]
    pub(crate) struct Simd128;

    impl Simd128 {
        #[inline(always)]
        fn bytes(q: [u8; 8]) -> v128 {
            u64x2(u64::from_le_bytes(q), 0)
        }
        #[inline(always)]
        fn halves(lo: v128, hi: v128) -> (v128, v128) {
            (f32x4_convert_i32x4(lo), f32x4_convert_i32x4(hi))
        }
        /// 16 bytes from `b[at..]`.
        #[inline(always)]
        fn load16(b: &[u8; 32], at: usize) -> v128 {
            let word = |k: usize| u64::from_le_bytes(std::array::from_fn(|j| b[at + 8 * k + j]));
            u64x2(word(0), word(1))
        }
        /// Lane sums of four from i16 products: `w` and `x` as four i16x8 each.
        #[inline(always)]
        fn quads(w: [v128; 4], x: [v128; 4]) -> (v128, v128) {
            let d: [v128; 4] = std::array::from_fn(|k| i32x4_dot_i16x8(w[k], x[k])); // pairs
            let four = |a: v128, b: v128| {
                i32x4_add(
                    i32x4_shuffle::<0, 2, 4, 6>(a, b),
                    i32x4_shuffle::<1, 3, 5, 7>(a, b),
                )
            };
            Self::halves(four(d[0], d[1]), four(d[2], d[3]))
        }
        #[inline(always)]
        fn widen_i8(b: &[u8; 32]) -> [v128; 4] {
            let (lo, hi) = (Self::load16(b, 0), Self::load16(b, 16));
            [
                i16x8_extend_low_i8x16(lo),
                i16x8_extend_high_i8x16(lo),
                i16x8_extend_low_i8x16(hi),
                i16x8_extend_high_i8x16(hi),
            ]
        }
    }

    impl super::Eight for Simd128 {
        type V = (v128, v128);
        #[inline(always)]
        fn splat(self, v: f32) -> (v128, v128) {
            (f32x4_splat(v), f32x4_splat(v))
        }
        #[inline(always)]
        fn load(self, a: &[f32; 8]) -> (v128, v128) {
            (f32x4(a[0], a[1], a[2], a[3]), f32x4(a[4], a[5], a[6], a[7]))
        }
        #[inline(always)]
        fn store(self, v: (v128, v128), out: &mut [f32; 8]) {
            *out = [
                f32x4_extract_lane::<0>(v.0),
                f32x4_extract_lane::<1>(v.0),
                f32x4_extract_lane::<2>(v.0),
                f32x4_extract_lane::<3>(v.0),
                f32x4_extract_lane::<0>(v.1),
                f32x4_extract_lane::<1>(v.1),
                f32x4_extract_lane::<2>(v.1),
                f32x4_extract_lane::<3>(v.1),
            ];
        }
        #[inline(always)]
        fn add(self, a: (v128, v128), b: (v128, v128)) -> (v128, v128) {
            (f32x4_add(a.0, b.0), f32x4_add(a.1, b.1))
        }
        #[inline(always)]
        fn mul(self, a: (v128, v128), b: (v128, v128)) -> (v128, v128) {
            (f32x4_mul(a.0, b.0), f32x4_mul(a.1, b.1))
        }
        #[inline(always)]
        fn u8s(self, q: [u8; 8]) -> (v128, v128) {
            let w = u16x8_extend_low_u8x16(Self::bytes(q));
            Self::halves(u32x4_extend_low_u16x8(w), u32x4_extend_high_u16x8(w))
        }
        #[inline(always)]
        fn i8s(self, q: [i8; 8]) -> (v128, v128) {
            let w = i16x8_extend_low_i8x16(Self::bytes(q.map(|v| v as u8)));
            Self::halves(i32x4_extend_low_i16x8(w), i32x4_extend_high_i16x8(w))
        }
        #[inline(always)]
        fn splat2(self, a: f32, b: f32) -> (v128, v128) {
            (f32x4_splat(a), f32x4_splat(b))
        }
        #[inline(always)]
        fn dot_u8(self, w: &[u8; 32], x: &[i8; 32]) -> (v128, v128) {
            let (lo, hi) = (Self::load16(w, 0), Self::load16(w, 16));
            let w = [
                u16x8_extend_low_u8x16(lo),
                u16x8_extend_high_u8x16(lo),
                u16x8_extend_low_u8x16(hi),
                u16x8_extend_high_u8x16(hi),
            ];
            Self::quads(w, Self::widen_i8(&x.map(|v| v as u8)))
        }
        #[inline(always)]
        fn dot_i8(self, w: &[i8; 32], x: &[i8; 32]) -> (v128, v128) {
            Self::quads(
                Self::widen_i8(&w.map(|v| v as u8)),
                Self::widen_i8(&x.map(|v| v as u8)),
            )
        }
    }
}
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub(crate) use wasm::Simd128;

/// An instruction-set level the kernels run at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isa {
    /// Eight lanes as plain arrays (any target; the definition).
    Scalar,
    /// x86-64-v3: AVX2, detected at run time (FMA available but not used).
    #[cfg(target_arch = "x86_64")]
    V3,
    /// wasm SIMD128 (kiln's wasm build enables it).
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    Simd128,
}

impl Isa {
    /// The levels this CPU runs, scalar first.
    pub fn available() -> Vec<Isa> {
        #[allow(unused_mut)]
        let mut v = vec![Isa::Scalar];
        #[cfg(target_arch = "x86_64")]
        if pulp::x86::V3::try_new().is_some() {
            v.push(Isa::V3);
        }
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        v.push(Isa::Simd128);
        v
    }

    /// The best level this CPU runs (detected once: the kernels ask on every call).
    pub fn best() -> Isa {
        static BEST: std::sync::OnceLock<Isa> = std::sync::OnceLock::new();
        *BEST.get_or_init(|| Self::available().pop().unwrap_or(Isa::Scalar))
    }

    /// What users see ("AVX2", "SIMD128", "scalar").
    pub fn name(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            #[cfg(target_arch = "x86_64")]
            Isa::V3 => "AVX2",
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            Isa::Simd128 => "SIMD128",
        }
    }

    /// Runs `op` at this level (the scalar level if the CPU lacks it), its whole body compiled
    /// inside the level's target-feature context.
    #[inline(always)]
    pub(crate) fn run<Op: EightOp>(self, op: Op) -> Op::Output {
        match self {
            Isa::Scalar => op.run(pulp::Scalar::new()),
            #[cfg(target_arch = "x86_64")]
            Isa::V3 => match pulp::x86::V3::try_new() {
                Some(s) => pulp::Simd::vectorize(s, WithEight(s, op)),
                None => op.run(pulp::Scalar::new()),
            },
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            Isa::Simd128 => op.run(Simd128),
        }
    }
}

/// An operation written against [`Eight`].
pub(crate) trait EightOp {
    /// What it returns.
    type Output;
    /// Runs it with the level's token.
    fn run<E: Eight>(self, e: E) -> Self::Output;
}

/// Carries an [`EightOp`] and its level's token into pulp's target-feature function, so that the
/// operation is inlined there (a closure would be called, not inlined).
#[cfg(target_arch = "x86_64")]
struct WithEight<E, Op>(E, Op);

#[cfg(target_arch = "x86_64")]
impl<E: Eight, Op: EightOp> pulp::WithSimd for WithEight<E, Op> {
    type Output = Op::Output;
    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _: S) -> Op::Output {
        self.1.run(self.0)
    }
}
