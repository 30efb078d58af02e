//! kiln-shaders: GGUF's block formats and the kernels that read them — each kernel (WGSL, or
//! SIMD Rust on the CPU) beside a plain scalar Rust reference twin and a parity test.
//!
//! [`blocks`]: one decoder per quantized block type, used by the engine's loader and by the
//! kernels' tests, checked against gguf-py's numpy dequantisers.
//!
//! [`cpu`]: the quantized matrix product on the CPU (native and wasm), one summation order on
//! every instruction set, with its scalar twin.
//!
//! [`q8`]: the opt-in path with activations quantized to 8 bits and integer dot products
//! (llama.cpp's design), the same bits on every instruction set too.
//!
//! [`ops`]: the rest of a decoder layer over f32 slices (RMSNorm, RoPE, grouped-query attention
//! over a segmented key/value history, the SwiGLU gate), for the engine's CPU path.

pub mod block_type;
pub mod blocks;
pub mod cpu;
pub mod ops;
pub mod q8;
mod simd;
mod unpack;
