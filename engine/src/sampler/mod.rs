//! The sampler chain, with llama.cpp's semantics (src/llama-sampling.cpp): penalties → top-k →
//! top-p → min-p → temperature, then a selector (greedy at temperature 0, else a seeded
//! categorical draw). Stages are pure; the random number comes in from outside.

mod candidates;
mod chain;
mod params;
mod rng;
mod stages;

pub use candidates::Candidates;
pub use chain::Sampler;
pub use params::SamplingParams;
pub use rng::Rng;
pub use stages::{MinP, Penalties, Stage, Temperature, TopK, TopP};
