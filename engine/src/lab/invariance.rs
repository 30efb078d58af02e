//! Batch invariance at T = 0: the same greedy lane decoded alone and as one of `n` lanes of a
//! batch (the lab's way: one prefill, a widened cache) should choose the same tokens; how far its
//! logits move between the two says how batch-invariant the forward is (on the CPU path: not at
//! all — each output row is computed the same way whatever the batch).

use serde::{Deserialize, Serialize};

use crate::Engine;
use crate::batch::MAX_LANES;
use crate::error::{Error, Result};
use crate::request::Prompt;

/// What the comparison found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchInvariance {
    /// Lanes in the batch.
    pub lanes: usize,
    /// Greedy steps compared.
    pub steps: usize,
    /// Whether the lane chose the same token alone and in the batch at every step (every lane
    /// of the batch included).
    pub same_tokens: bool,
    /// The largest |logit alone − logit in the batch| over every step, lane and vocabulary entry.
    pub max_abs_logit_diff: f32,
}

impl BatchInvariance {
    /// In words, for the CLI and the playground: "the greedy lane alone and in a 6-lane batch,
    /// 32 steps: the same tokens, max |Δlogit| 0.0e0".
    pub fn summary(&self) -> String {
        format!(
            "the greedy lane alone and in a {}-lane batch, {} steps: {}, max |Δlogit| {:.1e}",
            self.lanes,
            self.steps,
            if self.same_tokens {
                "the same tokens"
            } else {
                "DIFFERENT tokens"
            },
            self.max_abs_logit_diff
        )
    }
}

fn argmax(row: &[f32]) -> u32 {
    let mut best = 0usize;
    for (i, &x) in row.iter().enumerate() {
        if x > row[best] {
            best = i;
        }
    }
    best as u32
}

impl Engine {
    /// Decodes `prompt` greedily for `steps` tokens alone, then as every lane of an `n`-lane
    /// batch, and compares the logits step by step. The batch follows the lone lane's tokens
    /// (teacher-forced), so that a near-tie that flips does not end the comparison.
    pub async fn batch_invariance(
        &self,
        prompt: &Prompt,
        lanes: usize,
        steps: usize,
    ) -> Result<BatchInvariance> {
        if lanes == 0 || lanes > MAX_LANES {
            return Err(Error::Param {
                name: "lanes",
                value: lanes.to_string(),
                expected: "1 to 256 lanes",
            });
        }
        let ids = self.prompt_tokens(prompt)?;
        if ids.is_empty() {
            return Err(Error::EmptyPrompt);
        }
        // Alone.
        let mut cache = self.new_cache();
        let mut alone = self.step(std::slice::from_ref(&ids), &mut cache).await?;
        let mut chosen = Vec::with_capacity(steps);
        for _ in 0..steps {
            let Some(last) = alone.last() else { break };
            let t = argmax(last);
            if cache.len() >= self.model.max_positions() {
                break;
            }
            chosen.push(t);
            alone.extend(self.step(&[vec![t]], &mut cache).await?);
        }
        // In a batch.
        let mut cache = self.new_cache();
        let first = self.step(&[ids], &mut cache).await?;
        if lanes > 1 {
            cache.widen(lanes)?;
        }
        let mut rows: Vec<Vec<Vec<f32>>> =
            vec![vec![first.into_iter().next().unwrap_or_default(); lanes]];
        for &t in &chosen {
            rows.push(self.step(&vec![vec![t]; lanes], &mut cache).await?);
        }
        let mut report = BatchInvariance {
            lanes,
            steps: chosen.len(),
            same_tokens: true,
            max_abs_logit_diff: 0.0,
        };
        for (a, batch) in alone.iter().zip(&rows) {
            for b in batch {
                report.same_tokens &= argmax(a) == argmax(b);
                for (x, y) in a.iter().zip(b) {
                    report.max_abs_logit_diff = report.max_abs_logit_diff.max((x - y).abs());
                }
            }
        }
        Ok(report)
    }
}
