//! Sampling parameters: plain data with llama.cpp's defaults, validated before a run.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// How the next token is chosen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SamplingParams {
    /// 0 = greedy; otherwise logits are divided by it before the draw.
    pub temperature: f32,
    /// Keep the k most likely tokens (0 = off).
    pub top_k: usize,
    /// Nucleus mass (1 = off).
    pub top_p: f32,
    /// Minimum probability relative to the best token (0 = off).
    pub min_p: f32,
    /// Repetition penalty (1 = off).
    pub repeat_penalty: f32,
    /// How many recent tokens the penalties look at (0 = off).
    pub repeat_last_n: usize,
    /// Subtracted once per previous occurrence.
    pub frequency_penalty: f32,
    /// Subtracted once if the token occurred.
    pub presence_penalty: f32,
    /// Seed of the categorical draw.
    pub seed: u64,
}

impl Default for SamplingParams {
    fn default() -> Self {
        // llama.cpp's common_params_sampling defaults.
        Self {
            temperature: 0.8,
            top_k: 40,
            top_p: 0.95,
            min_p: 0.05,
            repeat_penalty: 1.0,
            repeat_last_n: 64,
            frequency_penalty: 0.0,
            presence_penalty: 0.0,
            seed: 0,
        }
    }
}

impl SamplingParams {
    /// Greedy decoding with every other stage off.
    pub fn greedy() -> Self {
        Self {
            temperature: 0.0,
            top_k: 0,
            top_p: 1.0,
            min_p: 0.0,
            ..Self::default()
        }
    }

    /// Checks every value's range.
    pub fn validate(&self) -> Result<()> {
        let check = |ok: bool, name: &'static str, value: f32, expected: &'static str| {
            if ok {
                Ok(())
            } else {
                Err(Error::Param {
                    name,
                    value: value.to_string(),
                    expected,
                })
            }
        };
        let t = self.temperature;
        check(
            t.is_finite() && (0.0..=100.0).contains(&t),
            "temperature",
            t,
            "a number in [0, 100]",
        )?;
        let p = self.top_p;
        check(
            p.is_finite() && p > 0.0 && p <= 1.0,
            "top_p",
            p,
            "a number in (0, 1]",
        )?;
        let m = self.min_p;
        check(
            m.is_finite() && (0.0..=1.0).contains(&m),
            "min_p",
            m,
            "a number in [0, 1]",
        )?;
        let r = self.repeat_penalty;
        check(
            r.is_finite() && r > 0.0 && r <= 10.0,
            "repeat_penalty",
            r,
            "a number in (0, 10]",
        )?;
        let f = self.frequency_penalty;
        check(
            f.is_finite() && (-10.0..=10.0).contains(&f),
            "frequency_penalty",
            f,
            "a number in [-10, 10]",
        )?;
        let q = self.presence_penalty;
        check(
            q.is_finite() && (-10.0..=10.0).contains(&q),
            "presence_penalty",
            q,
            "a number in [-10, 10]",
        )?;
        Ok(())
    }
}
