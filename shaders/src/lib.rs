//! kiln-shaders: GGUF's block formats and the kernels that read them — each kernel (WGSL, or
//! SIMD Rust on the CPU) beside a plain scalar Rust reference twin and a parity test.
//!
//! [`blocks`]: one decoder per quantized block type, used by the engine's loader and by the
//! kernels' tests, checked against gguf-py's numpy dequantisers.

pub mod blocks;
