//! Key/value cache: one (K, V) pair per layer, grown along the sequence axis. The position of the
//! next token is `len()`. Tensors are reference-counted, so `fork` (for temperature-lab lanes
//! that share a prompt) copies nothing until a lane appends.

use burn::prelude::*;

/// The cache of one layer.
#[derive(Clone, Debug, Default)]
pub struct LayerCache {
    kv: Option<(Tensor<4>, Tensor<4>)>,
}

impl LayerCache {
    /// Cached positions.
    pub fn len(&self) -> usize {
        self.kv.as_ref().map_or(0, |(k, _)| k.dims()[2])
    }

    /// Whether nothing is cached yet.
    pub fn is_empty(&self) -> bool {
        self.kv.is_none()
    }

    /// Appends this step's keys and values and returns the whole history.
    ///
    /// # Shapes
    /// - `k`, `v`: `[b, kv, s, d]` → `[b, kv, len + s, d]`
    pub fn append(&mut self, k: Tensor<4>, v: Tensor<4>) -> (Tensor<4>, Tensor<4>) {
        let (k, v) = match self.kv.take() {
            None => (k, v),
            Some((pk, pv)) => (Tensor::cat(vec![pk, k], 2), Tensor::cat(vec![pv, v], 2)),
        };
        self.kv = Some((k.clone(), v.clone()));
        (k, v)
    }
}

/// The cache of a whole model.
#[derive(Clone, Debug)]
pub struct KvCache {
    /// One entry per transformer block.
    pub layers: Vec<LayerCache>,
}

impl KvCache {
    /// An empty cache for `n_layers` blocks.
    pub fn new(n_layers: usize) -> Self {
        Self {
            layers: vec![LayerCache::default(); n_layers],
        }
    }

    /// Tokens cached so far (= position of the next token).
    pub fn len(&self) -> usize {
        self.layers.first().map_or(0, LayerCache::len)
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Lanes the cache holds, once something is cached.
    pub fn batch(&self) -> Option<usize> {
        self.layers
            .first()
            .and_then(|l| l.kv.as_ref())
            .map(|(k, _)| k.dims()[0])
    }

    /// An independent copy that shares the tensors already cached.
    pub fn fork(&self) -> Self {
        self.clone()
    }
}
