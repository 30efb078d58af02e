//! The transformer: configuration, loading, blocks and the KV cache.

pub mod config;
pub(crate) mod host;
pub mod kv_cache;
pub mod linear;
pub mod llama;
pub(crate) mod load;
pub(crate) mod rope;
