//! The chain: stages in llama.cpp's order, then the selector.

use super::stages::argmax;
use super::{Candidates, MinP, Penalties, Rng, SamplingParams, Stage, Temperature, TopK, TopP};
use crate::error::Result;

/// A configured sampler: stages, selector and its own rng.
pub struct Sampler {
    stages: Vec<Box<dyn Stage + Send>>,
    greedy: bool,
    rng: Rng,
}

impl Sampler {
    /// Builds the chain for validated `params`, drawing from `rng`.
    pub fn new(params: &SamplingParams, rng: Rng) -> Result<Self> {
        params.validate()?;
        let stages: Vec<Box<dyn Stage + Send>> = vec![
            Box::new(Penalties::new(
                params.repeat_last_n,
                params.repeat_penalty,
                params.frequency_penalty,
                params.presence_penalty,
            )),
            Box::new(TopK(params.top_k)),
            Box::new(TopP(params.top_p)),
            Box::new(MinP(params.min_p)),
            Box::new(Temperature(params.temperature)),
        ];
        Ok(Self {
            stages,
            greedy: params.temperature <= 0.0,
            rng,
        })
    }

    /// Runs the stages over a logits row and selects a token.
    pub fn sample(&mut self, logits: &[f32]) -> u32 {
        let mut c = Candidates::from_logits(logits);
        for s in &mut self.stages {
            s.apply(&mut c);
        }
        if c.is_empty() {
            // Every stage keeps at least one candidate; this only guards an empty vocabulary.
            return 0;
        }
        if self.greedy {
            return c.ids[argmax(&c.logits)];
        }
        c.softmax();
        let u = self.rng.uniform();
        let mut cum = 0.0f64;
        for (id, &p) in c.ids.iter().zip(&c.probs) {
            cum += f64::from(p);
            if u < cum {
                return *id;
            }
        }
        c.ids[c.len() - 1]
    }

    /// Tells the stages which token was taken (prompt tokens too, for the penalties).
    pub fn accept(&mut self, token: u32) {
        for s in &mut self.stages {
            s.accept(token);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_takes_the_argmax_even_after_other_stages() {
        let mut s = Sampler::new(&SamplingParams::greedy(), Rng::new(0)).unwrap();
        assert_eq!(s.sample(&[0.1, 2.0, 1.9, -1.0]), 1);
    }

    #[test]
    fn same_seed_same_draws_different_seed_different_draws() {
        let logits: Vec<f32> = (0..50).map(|i| (i as f32 * 0.37).sin()).collect();
        let params = SamplingParams {
            temperature: 1.0,
            top_k: 0,
            top_p: 1.0,
            min_p: 0.0,
            ..Default::default()
        };
        let draw = |seed| {
            let mut s = Sampler::new(&params, Rng::new(seed)).unwrap();
            (0..32).map(|_| s.sample(&logits)).collect::<Vec<_>>()
        };
        assert_eq!(draw(1), draw(1));
        assert_ne!(draw(1), draw(2));
    }

    #[test]
    fn draws_follow_the_distribution() {
        // p = [0.1, 0.6, 0.3] at T = 1: empirical frequencies within 2 %.
        let logits = [0.1f32.ln(), 0.6f32.ln(), 0.3f32.ln()];
        let params = SamplingParams {
            temperature: 1.0,
            top_k: 0,
            top_p: 1.0,
            min_p: 0.0,
            ..Default::default()
        };
        let mut s = Sampler::new(&params, Rng::new(3)).unwrap();
        let mut n = [0usize; 3];
        for _ in 0..20_000 {
            n[s.sample(&logits) as usize] += 1;
        }
        for (i, p) in [0.1, 0.6, 0.3].iter().enumerate() {
            let f = n[i] as f64 / 20_000.0;
            assert!((f - p).abs() < 0.02, "token {i}: {f} vs {p}");
        }
    }

    #[test]
    fn invalid_parameters_are_rejected_with_their_name() {
        let cases: [(SamplingParams, &str); 5] = [
            (
                SamplingParams {
                    temperature: -0.5,
                    ..Default::default()
                },
                "invalid parameter `temperature` = -0.5: a number in [0, 100]",
            ),
            (
                SamplingParams {
                    temperature: f32::NAN,
                    ..Default::default()
                },
                "invalid parameter `temperature` = NaN: a number in [0, 100]",
            ),
            (
                SamplingParams {
                    top_p: 0.0,
                    ..Default::default()
                },
                "invalid parameter `top_p` = 0: a number in (0, 1]",
            ),
            (
                SamplingParams {
                    top_p: 1.5,
                    ..Default::default()
                },
                "invalid parameter `top_p` = 1.5: a number in (0, 1]",
            ),
            (
                SamplingParams {
                    min_p: -0.1,
                    ..Default::default()
                },
                "invalid parameter `min_p` = -0.1: a number in [0, 1]",
            ),
        ];
        for (p, msg) in cases {
            let err = Sampler::new(&p, Rng::new(0)).err().map(|e| e.to_string());
            assert_eq!(err.as_deref(), Some(msg));
        }
    }
}
