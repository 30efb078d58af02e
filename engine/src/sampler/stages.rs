//! Sampler stages. Each follows its llama.cpp namesake in src/llama-sampling.cpp, including the
//! values that switch a stage off (top-k 0, top-p 1, min-p 0, penalties 1/0/0).

use std::collections::{HashMap, VecDeque};

use super::Candidates;

/// One step of the chain: transforms the candidates; may learn from accepted tokens.
pub trait Stage {
    /// Transforms the candidate list.
    fn apply(&mut self, c: &mut Candidates);
    /// Records a token that was chosen (or fed from the prompt).
    fn accept(&mut self, _token: u32) {}
    /// Forgets what `accept` learnt.
    fn reset(&mut self) {}
}

/// Repetition, frequency and presence penalties over the last `last_n` tokens.
/// (llama.cpp: llama_sampler_penalties)
#[derive(Debug, Clone)]
pub struct Penalties {
    last_n: usize,
    repeat: f32,
    frequency: f32,
    presence: f32,
    window: VecDeque<u32>,
    counts: HashMap<u32, u32>,
}

impl Penalties {
    /// A penalty stage; `repeat` divides positive logits and multiplies negative ones.
    pub fn new(last_n: usize, repeat: f32, frequency: f32, presence: f32) -> Self {
        Self {
            last_n,
            repeat,
            frequency,
            presence,
            window: VecDeque::new(),
            counts: HashMap::new(),
        }
    }

    fn is_off(&self) -> bool {
        self.last_n == 0 || (self.repeat == 1.0 && self.frequency == 0.0 && self.presence == 0.0)
    }
}

impl Stage for Penalties {
    fn apply(&mut self, c: &mut Candidates) {
        if self.is_off() {
            return;
        }
        for (id, logit) in c.ids.iter().zip(c.logits.iter_mut()) {
            let Some(&n) = self.counts.get(id) else {
                continue;
            };
            if *logit <= 0.0 {
                *logit *= self.repeat;
            } else {
                *logit /= self.repeat;
            }
            *logit -= n as f32 * self.frequency + self.presence;
        }
        c.sorted = false;
    }

    fn accept(&mut self, token: u32) {
        if self.last_n == 0 {
            return;
        }
        if self.window.len() == self.last_n
            && let Some(old) = self.window.pop_front()
            && let Some(n) = self.counts.get_mut(&old)
        {
            *n -= 1;
            if *n == 0 {
                self.counts.remove(&old);
            }
        }
        self.window.push_back(token);
        *self.counts.entry(token).or_insert(0) += 1;
    }

    fn reset(&mut self) {
        self.window.clear();
        self.counts.clear();
    }
}

/// Keeps the `k` most likely candidates; 0 keeps all. (llama.cpp: llama_sampler_top_k)
#[derive(Debug, Clone, Copy)]
pub struct TopK(pub usize);

impl Stage for TopK {
    fn apply(&mut self, c: &mut Candidates) {
        if self.0 == 0 {
            return;
        }
        c.keep_top(self.0);
    }
}

/// Keeps the smallest set of most likely candidates whose probability mass reaches `p`;
/// 1 keeps all. (llama.cpp: llama_sampler_top_p)
#[derive(Debug, Clone, Copy)]
pub struct TopP(pub f32);

impl Stage for TopP {
    fn apply(&mut self, c: &mut Candidates) {
        if self.0 >= 1.0 || c.is_empty() {
            return;
        }
        c.sort_desc();
        c.softmax();
        let mut cum = 0.0f64;
        let mut keep = c.len();
        for (i, &p) in c.probs.iter().enumerate() {
            cum += f64::from(p);
            if cum >= f64::from(self.0) {
                keep = i + 1;
                break;
            }
        }
        c.truncate(keep);
    }
}

/// Keeps candidates whose probability is at least `p` times the best one's; 0 keeps all.
/// Compared on logits as llama.cpp does: logit >= max_logit + ln(p). (llama_sampler_min_p)
#[derive(Debug, Clone, Copy)]
pub struct MinP(pub f32);

impl Stage for MinP {
    fn apply(&mut self, c: &mut Candidates) {
        if self.0 <= 0.0 || c.is_empty() {
            return;
        }
        let max = c.logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let min_logit = max + self.0.ln();
        let logits = c.logits.clone();
        c.retain_indices(|i| logits[i] >= min_logit);
    }
}

/// Divides logits by the temperature; at 0 only the most likely candidate survives.
/// (llama.cpp: llama_sampler_temp)
#[derive(Debug, Clone, Copy)]
pub struct Temperature(pub f32);

impl Stage for Temperature {
    fn apply(&mut self, c: &mut Candidates) {
        if self.0 <= 0.0 {
            let best = argmax(&c.logits);
            c.retain_indices(|i| i == best);
            return;
        }
        for l in &mut c.logits {
            *l /= self.0;
        }
    }
}

/// Index of the first maximum (llama.cpp's greedy selector keeps the first on ties).
pub(crate) fn argmax(xs: &[f32]) -> usize {
    let mut best = 0;
    for (i, &x) in xs.iter().enumerate() {
        if x > xs[best] {
            best = i;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_close(a: &[f32], b: &[f32], tol: f32) {
        assert_eq!(a.len(), b.len(), "{a:?} vs {b:?}");
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() <= tol, "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn top_k_table() {
        // (k, expected ids)
        let cases: [(usize, &[u32]); 4] = [
            (0, &[0, 1, 2, 3]),
            (1, &[1]),
            (2, &[1, 3]),
            (9, &[1, 3, 2, 0]),
        ];
        for (k, ids) in cases {
            let mut c = Candidates::from_probs(&[0.1, 0.4, 0.2, 0.3]);
            TopK(k).apply(&mut c);
            assert_eq!(c.ids, ids, "k = {k}");
        }
        let mut c = Candidates::from_probs(&[0.1, 0.4, 0.2, 0.3]);
        TopK(2).apply(&mut c);
        assert_close(&c.probs(), &[0.4 / 0.7, 0.3 / 0.7], 1e-6);
    }

    #[test]
    fn top_p_table() {
        // The token that crosses p is kept (cumulative >= p), as in llama.cpp.
        let cases: [(f32, &[u32]); 5] = [
            (1.0, &[0, 1, 2, 3]),
            (0.4, &[1]),
            (0.5, &[1, 3]),
            (0.7, &[1, 3]),
            (0.71, &[1, 3, 2]),
        ];
        for (p, ids) in cases {
            let mut c = Candidates::from_probs(&[0.1, 0.4, 0.2, 0.3]);
            TopP(p).apply(&mut c);
            assert_eq!(c.ids, ids, "p = {p}");
        }
    }

    #[test]
    fn min_p_table() {
        // Threshold is p × max prob = p × 0.4.
        let cases: [(f32, &[u32]); 4] = [
            (0.0, &[0, 1, 2, 3]),
            (0.25, &[0, 1, 2, 3]),
            (0.5, &[1, 2, 3]),
            (0.8, &[1]),
        ];
        for (p, ids) in cases {
            let mut c = Candidates::from_probs(&[0.1, 0.4, 0.2, 0.3]);
            MinP(p).apply(&mut c);
            assert_eq!(c.ids, ids, "min_p = {p}");
        }
    }

    #[test]
    fn temperature_sharpens_flattens_and_zero_keeps_the_best() {
        let base = [0.1f32, 0.4, 0.2, 0.3];
        let mut cold = Candidates::from_probs(&base);
        Temperature(0.5).apply(&mut cold);
        let mut hot = Candidates::from_probs(&base);
        Temperature(2.0).apply(&mut hot);
        // p^(1/T) renormalised
        let pow = |e: f32| {
            let s: f32 = base.iter().map(|p| p.powf(e)).sum();
            base.iter().map(|p| p.powf(e) / s).collect::<Vec<_>>()
        };
        assert_close(&cold.probs(), &pow(2.0), 1e-6);
        assert_close(&hot.probs(), &pow(0.5), 1e-6);
        let mut zero = Candidates::from_probs(&base);
        Temperature(0.0).apply(&mut zero);
        assert_eq!(zero.ids, [1]);
    }

    #[test]
    fn penalties_table() {
        // logits [2, -2, 1, 0.5]; token 0 seen twice, token 1 once.
        let cases: [((f32, f32, f32), [f32; 4]); 4] = [
            ((1.0, 0.0, 0.0), [2.0, -2.0, 1.0, 0.5]),
            ((2.0, 0.0, 0.0), [1.0, -4.0, 1.0, 0.5]),
            ((1.0, 0.5, 0.0), [1.0, -2.5, 1.0, 0.5]),
            ((1.0, 0.0, 0.25), [1.75, -2.25, 1.0, 0.5]),
        ];
        for ((rep, freq, pres), want) in cases {
            let mut p = Penalties::new(64, rep, freq, pres);
            for t in [0, 1, 0] {
                p.accept(t);
            }
            let mut c = Candidates::from_logits(&[2.0, -2.0, 1.0, 0.5]);
            p.apply(&mut c);
            assert_close(&c.logits, &want, 1e-6);
        }
    }

    #[test]
    fn penalties_forget_tokens_that_leave_the_window() {
        let mut p = Penalties::new(2, 2.0, 0.0, 0.0);
        for t in [0, 1, 2] {
            p.accept(t);
        }
        let mut c = Candidates::from_logits(&[2.0, 2.0, 2.0]);
        p.apply(&mut c);
        assert_close(&c.logits, &[2.0, 1.0, 1.0], 1e-6);
        p.reset();
        let mut c = Candidates::from_logits(&[2.0, 2.0, 2.0]);
        p.apply(&mut c);
        assert_close(&c.logits, &[2.0, 2.0, 2.0], 1e-6);
    }

    #[test]
    fn argmax_keeps_the_first_of_equal_maxima() {
        assert_eq!(argmax(&[1.0, 3.0, 3.0, 2.0]), 1);
    }
}
