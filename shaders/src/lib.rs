//! kiln-shaders: hand-written WGSL kernels, each beside a Rust reference twin and a parity test.
//!
//! Empty for now: the engine dequantises GGUF blocks at load and runs burn's own kernels. The
//! first kernels planned here are fused Q4_1/Q8_0 matrix–vector products for decode, which is
//! memory-bound (see docs/PERFORMANCE.md).
