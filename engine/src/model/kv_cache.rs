//! Key/value cache: one (K, V) history per layer. The position of the next token is `len()`.
//!
//! Two representations, one per forward path. On the device path a layer holds tensors grown
//! along the sequence axis. On the CPU path ([`super::host`]) each lane holds host rows written in
//! place — appended to a buffer that grows by doubling, never re-concatenated — behind segments
//! shared with its forks: `fork` freezes what a lane has so far into a shared segment, so that
//! temperature-lab lanes forked from one prefilled prompt copy nothing, then each appends only
//! its own tokens. Host lanes may hold histories of different lengths (continuous batching: a
//! server's requests [`join`](KvCache::join) a running batch and leave it); device lanes always
//! share one length.

use std::sync::Arc;

use burn::prelude::*;

use crate::error::{Error, Result};

/// One lane's keys (or values) in one layer, as rows of `n_kv × head_dim` values.
#[derive(Clone, Debug, Default)]
pub(crate) struct HostRows {
    /// Frozen prefixes shared with forks, oldest first.
    shared: Vec<Arc<Vec<f32>>>,
    /// This lane's own rows since the last fork.
    own: Vec<f32>,
}

impl HostRows {
    /// Values held.
    pub(crate) fn values(&self) -> usize {
        self.shared.iter().map(|s| s.len()).sum::<usize>() + self.own.len()
    }

    /// Appends rows in place (amortised: the buffer doubles when full).
    pub(crate) fn push(&mut self, rows: &[f32]) {
        self.own.extend_from_slice(rows);
    }

    /// The history as segments, oldest first.
    pub(crate) fn segments(&self) -> Vec<&[f32]> {
        self.shared
            .iter()
            .map(|s| s.as_slice())
            .chain(Some(self.own.as_slice()).filter(|o| !o.is_empty()))
            .collect()
    }

    /// Moves the lane's own rows into a shared segment (nothing is copied).
    fn freeze(&mut self) {
        if !self.own.is_empty() {
            self.shared.push(Arc::new(std::mem::take(&mut self.own)));
        }
    }
}

/// The cache of one layer.
#[derive(Clone, Debug, Default)]
pub struct LayerCache {
    /// Device path: `[b, kv, len, d]` keys and values.
    kv: Option<(Tensor<4>, Tensor<4>)>,
    /// CPU path: per lane, keys and values; and the row width (`n_kv × head_dim`).
    host: Vec<(HostRows, HostRows)>,
    width: usize,
}

impl LayerCache {
    /// Cached positions (of the first lane: every device lane, and every lane of a cache filled
    /// by one prompt, has the same; see [`LayerCache::lane_lens`]).
    pub fn len(&self) -> usize {
        match (&self.kv, self.host.first()) {
            (Some((k, _)), _) => k.dims()[2],
            (None, Some((k, _))) if self.width > 0 => k.values() / self.width,
            _ => 0,
        }
    }

    /// Whether nothing is cached yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Cached positions of each lane.
    pub fn lane_lens(&self) -> Vec<usize> {
        match &self.kv {
            Some((k, _)) => vec![k.dims()[2]; k.dims()[0]],
            None if self.width > 0 => self
                .host
                .iter()
                .map(|(k, _)| k.values() / self.width)
                .collect(),
            None => Vec::new(),
        }
    }

    /// Moves `other`'s lanes after this cache's (host rows move, nothing is copied). Device
    /// lanes cannot join a non-empty cache: their tensors share one length.
    fn join(&mut self, other: LayerCache) -> Result<()> {
        if self.batch().is_none() {
            *self = other;
            return Ok(());
        }
        if self.kv.is_some() || other.kv.is_some() || self.width != other.width {
            return Err(Error::Param {
                name: "lanes",
                value: "a cache joining a non-empty one".into(),
                expected: "host-path caches of the same model (device lanes share one length)",
            });
        }
        self.host.extend(other.host);
        Ok(())
    }

    /// Lanes held, once something is cached.
    fn batch(&self) -> Option<usize> {
        match &self.kv {
            Some((k, _)) => Some(k.dims()[0]),
            None => (!self.host.is_empty()).then_some(self.host.len()),
        }
    }

    /// Appends this step's keys and values and returns the whole history (device path).
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

    /// The host lanes (CPU path), created empty for `lanes` lanes of rows `width` wide on first
    /// use. The caller checked that `lanes` matches what is cached.
    pub(crate) fn host_lanes(&mut self, lanes: usize, width: usize) -> &mut [(HostRows, HostRows)] {
        if self.host.is_empty() {
            self.host = vec![Default::default(); lanes];
            self.width = width;
        }
        &mut self.host
    }

    fn freeze(&mut self) {
        for (k, v) in &mut self.host {
            k.freeze();
            v.freeze();
        }
    }

    /// `n` copies of the single lane held (the caller checked there is one): device tensors
    /// repeated along the batch axis; host rows frozen into segments every copy shares.
    ///
    /// # Shapes
    /// - device: `[1, kv, len, d]` → `[n, kv, len, d]`
    fn widen(&mut self, n: usize) {
        if let Some((k, v)) = self.kv.take() {
            self.kv = Some((k.repeat_dim(0, n), v.repeat_dim(0, n)));
        }
        self.freeze();
        if let Some(lane) = self.host.first().cloned() {
            self.host = vec![lane; n];
        }
    }

    /// Keeps the lanes whose `keep` entry is true, in order (`keep` has one entry per lane).
    ///
    /// # Shapes
    /// - device: `[b, kv, len, d]` → `[kept, kv, len, d]`
    fn retain(&mut self, keep: &[bool]) {
        if let Some((k, v)) = self.kv.take() {
            let idx: Vec<i64> = (0..keep.len() as i64)
                .filter(|&i| keep[i as usize])
                .collect();
            let n = idx.len();
            let idx = Tensor::<1, Int>::from_data(TensorData::new(idx, [n]), &k.device());
            self.kv = Some((k.select(0, idx.clone()), v.select(0, idx)));
        }
        let mut flags = keep.iter();
        self.host.retain(|_| flags.next().copied().unwrap_or(false));
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
        self.layers.first().and_then(LayerCache::batch)
    }

    /// Cached positions of each lane (= each lane's next position).
    pub fn lane_lens(&self) -> Vec<usize> {
        self.layers
            .first()
            .map_or_else(Vec::new, LayerCache::lane_lens)
    }

    /// Appends `other`'s lanes after this cache's, in order: a request prefilled on its own
    /// joins a running batch. Host path only once this cache holds lanes (see
    /// [`LayerCache::join`]).
    pub fn join(&mut self, other: KvCache) -> Result<()> {
        if other.layers.len() != self.layers.len() {
            return Err(Error::Param {
                name: "lanes",
                value: format!("a cache of {} layers", other.layers.len()),
                expected: "a cache of the same model",
            });
        }
        for (l, o) in self.layers.iter_mut().zip(other.layers) {
            l.join(o)?;
        }
        Ok(())
    }

    /// An independent copy that shares what is cached so far: device tensors are
    /// reference-counted; host rows are frozen into segments both copies share.
    pub fn fork(&mut self) -> Self {
        for l in &mut self.layers {
            l.freeze();
        }
        self.clone()
    }

    /// Turns a one-lane cache (a prefilled prompt) into `n` lanes that each continue it, the
    /// way llama.cpp's `batched` example copies one sequence's cells into many: host rows are
    /// shared, not copied; device tensors are repeated along the batch axis.
    pub fn widen(&mut self, n: usize) -> Result<()> {
        if self.batch() != Some(1) || n == 0 {
            return Err(Error::Param {
                name: "lanes",
                value: format!("{n} from a cache of {:?} lanes", self.batch()),
                expected: "at least one lane, widened from a prefilled one-lane cache",
            });
        }
        for l in &mut self.layers {
            l.widen(n);
        }
        Ok(())
    }

    /// Drops the lanes whose `keep` entry is false (finished lanes leave the batch); the rest
    /// keep their order.
    pub fn retain(&mut self, keep: &[bool]) -> Result<()> {
        if self.batch() != Some(keep.len()) || !keep.contains(&true) {
            return Err(Error::Param {
                name: "lanes",
                value: format!(
                    "{} flags for a cache of {:?} lanes",
                    keep.len(),
                    self.batch()
                ),
                expected: "one flag per cached lane, at least one kept",
            });
        }
        for l in &mut self.layers {
            l.retain(keep);
        }
        Ok(())
    }
}
