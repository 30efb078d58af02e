//! The candidate list a sampler stage works on (llama.cpp: `llama_token_data_array`).

/// Token ids with their logits, and probabilities once a stage has normalised them.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidates {
    /// Token ids.
    pub ids: Vec<u32>,
    /// Logits, one per id.
    pub logits: Vec<f32>,
    /// Softmax of `logits` when `normalised` is set.
    pub probs: Vec<f32>,
    /// Entries are sorted by logit, descending.
    pub sorted: bool,
}

impl Candidates {
    /// All tokens of a logits row, in id order.
    pub fn from_logits(logits: &[f32]) -> Self {
        Self {
            ids: (0..logits.len() as u32).collect(),
            logits: logits.to_vec(),
            probs: Vec::new(),
            sorted: false,
        }
    }

    /// Candidates whose logits are ln(p): convenient for table tests.
    pub fn from_probs(probs: &[f32]) -> Self {
        Self::from_logits(&probs.iter().map(|p| p.ln()).collect::<Vec<_>>())
    }

    /// Number of candidates.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether no candidate is left.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Sorts by logit, descending (ties keep their current order).
    pub fn sort_desc(&mut self) {
        self.keep_top(self.len());
    }

    /// Keeps the `k` largest logits, sorted descending (ties keep their current order). Uses a
    /// partial selection first, so top-k over a 49k vocabulary does not sort all of it.
    pub fn keep_top(&mut self, k: usize) {
        let k = k.min(self.len());
        if self.sorted {
            self.truncate(k);
            return;
        }
        // A total order (logit descending, then position) gives the stable sort's result.
        let logits = &self.logits;
        let cmp = |a: &usize, b: &usize| logits[*b].total_cmp(&logits[*a]).then(a.cmp(b));
        let mut order: Vec<usize> = (0..self.len()).collect();
        if k > 0 && k < order.len() {
            order.select_nth_unstable_by(k - 1, cmp);
        }
        order.truncate(k);
        order.sort_by(cmp);
        self.ids = order.iter().map(|&i| self.ids[i]).collect();
        self.logits = order.iter().map(|&i| self.logits[i]).collect();
        if !self.probs.is_empty() {
            self.probs = order.iter().map(|&i| self.probs[i]).collect();
        }
        self.sorted = true;
    }

    /// Computes `probs` as the softmax of `logits` (max-subtracted, accumulated in f64).
    pub fn softmax(&mut self) {
        let max = self
            .logits
            .iter()
            .copied()
            .fold(f32::NEG_INFINITY, f32::max);
        let exps: Vec<f64> = self
            .logits
            .iter()
            .map(|&l| f64::from(l - max).exp())
            .collect();
        let sum: f64 = exps.iter().sum();
        self.probs = exps.iter().map(|&e| (e / sum) as f32).collect();
    }

    /// Keeps the first `n` entries.
    pub fn truncate(&mut self, n: usize) {
        self.ids.truncate(n);
        self.logits.truncate(n);
        self.probs.truncate(n);
    }

    /// Keeps the entries for which `keep(index)` holds.
    pub fn retain_indices(&mut self, keep: impl Fn(usize) -> bool) {
        let idx: Vec<usize> = (0..self.len()).filter(|&i| keep(i)).collect();
        self.ids = idx.iter().map(|&i| self.ids[i]).collect();
        self.logits = idx.iter().map(|&i| self.logits[i]).collect();
        if !self.probs.is_empty() {
            self.probs = idx.iter().map(|&i| self.probs[i]).collect();
        }
    }

    /// Renormalised probabilities of the current entries.
    pub fn probs(&mut self) -> Vec<f32> {
        self.softmax();
        self.probs.clone()
    }
}
