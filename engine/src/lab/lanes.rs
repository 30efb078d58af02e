//! A lab run: one prompt × several temperatures × `k` samples, each (temperature, sample) a lane
//! with its own seed, all decoded together from one prefilled prompt
//! ([`Engine::generate_lanes`]). llama.cpp's `batched` example is the model: one sequence
//! prefilled, its cache shared by many that then sample independently.

use std::ops::ControlFlow;

use serde::{Deserialize, Serialize};

use crate::Engine;
use crate::batch::MAX_LANES;
use crate::error::{Error, Result};
use crate::request::{Event, GenerateRequest, Generation};
use crate::sampler::{Rng, SamplingParams};
use crate::settings::RequestSettings;

/// At most this many temperatures in one run.
pub const MAX_TEMPERATURES: usize = 16;

/// What a lab run asks for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabRequest {
    /// The prompt, stop strings, token limit and the sampling settings every lane shares; its
    /// `sampling.temperature` is replaced by each lane's, its `sampling.seed` is the base seed.
    pub request: GenerateRequest,
    /// The temperatures compared, in the order reported.
    pub temperatures: Vec<f32>,
    /// Samples per temperature (`k`).
    pub samples: usize,
}

/// The sampling settings of the lab: every truncation stage off (top-k 0, top-p 1, min-p 0), so
/// that the temperature is the only thing that varies.
pub fn isolated_sampling(seed: u64) -> SamplingParams {
    SamplingParams {
        seed,
        ..SamplingParams::greedy()
    }
}

/// The settings code assistants publish alongside a temperature (top-p 0.95, the other stages
/// off): the lab's "published settings" preset.
pub fn published_sampling(seed: u64) -> SamplingParams {
    SamplingParams {
        top_p: 0.95,
        ..isolated_sampling(seed)
    }
}

/// The seed of lane (temperature `t`, sample `s`) of a run seeded with `seed`: distinct for every
/// pair, the same on every platform (SplitMix64 over the three).
pub fn lane_seed(seed: u64, t: usize, s: usize) -> u64 {
    let mut r = Rng::for_lane(seed, ((t as u64) << 32) | s as u64);
    r.next_u64()
}

/// One lane's place in the run and what it produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LaneResult {
    /// Index into [`LabRequest::temperatures`].
    pub temperature_index: usize,
    /// The temperature.
    pub temperature: f32,
    /// Sample index within the temperature.
    pub sample: usize,
    /// The lane's seed ([`lane_seed`]).
    pub seed: u64,
    /// The generation: text, tokens, their probabilities and entropies, finish, timings.
    pub generation: Generation,
    /// Each generated token's own text ([`crate::Tokenizer::piece`]), for token views: a record
    /// shows its lanes token by token without the model.
    #[serde(default)]
    pub pieces: Vec<String>,
}

/// A finished run: the request and every lane, temperature-major.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabRun {
    /// What was asked.
    pub request: LabRequest,
    /// Every lane, temperature-major (lane `t·k + s`).
    pub lanes: Vec<LaneResult>,
    /// Wall time of the whole batch, prefill included, in milliseconds.
    pub wall_ms: f64,
}

impl LabRequest {
    /// The run of `settings` (its sampling settings as every lane's base: the temperature
    /// replaced, the seed the base seed) at `temperatures`, `samples` each; checked.
    pub fn new(settings: &RequestSettings, temperatures: Vec<f32>, samples: usize) -> Result<Self> {
        let req = LabRequest {
            request: settings.request()?,
            temperatures,
            samples,
        };
        req.validate()?;
        Ok(req)
    }

    /// Checks the counts and every lane's sampling settings.
    pub fn validate(&self) -> Result<()> {
        let t = self.temperatures.len();
        if t == 0 || t > MAX_TEMPERATURES {
            return Err(Error::Param {
                name: "temperatures",
                value: t.to_string(),
                expected: "1 to 16 temperatures",
            });
        }
        if self.samples == 0 || t * self.samples > MAX_LANES {
            return Err(Error::Param {
                name: "samples",
                value: self.samples.to_string(),
                expected: "at least 1, and temperatures × samples at most 256",
            });
        }
        for s in self.lanes() {
            s.validate()?;
        }
        Ok(())
    }

    /// Each lane's sampling settings, temperature-major.
    pub fn lanes(&self) -> Vec<SamplingParams> {
        let base = &self.request.sampling;
        self.temperatures
            .iter()
            .enumerate()
            .flat_map(|(t, &temperature)| {
                (0..self.samples).map(move |s| SamplingParams {
                    temperature,
                    seed: lane_seed(base.seed, t, s),
                    ..base.clone()
                })
            })
            .collect()
    }
}

impl Engine {
    /// Runs a lab request: every lane decoded together, each lane's events reported with its
    /// index (temperature-major); returning `ControlFlow::Break` ends that lane.
    pub async fn lab(
        &self,
        req: &LabRequest,
        on_event: &mut dyn FnMut(usize, Event) -> ControlFlow<()>,
    ) -> Result<LabRun> {
        req.validate()?;
        let lanes = req.lanes();
        let t0 = crate::device::now_ms();
        let gens = self.generate_lanes(&req.request, &lanes, on_event).await?;
        let wall_ms = crate::device::now_ms() - t0;
        let k = req.samples;
        let lanes = gens
            .into_iter()
            .zip(lanes)
            .enumerate()
            .map(|(i, (generation, sampling))| LaneResult {
                temperature_index: i / k,
                temperature: sampling.temperature,
                sample: i % k,
                seed: sampling.seed,
                pieces: generation
                    .tokens
                    .iter()
                    .map(|&t| self.tokenizer().piece(t))
                    .collect(),
                generation,
            })
            .collect();
        Ok(LabRun {
            request: req.clone(),
            lanes,
            wall_ms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::Prompt;

    fn request(temperatures: Vec<f32>, samples: usize) -> LabRequest {
        LabRequest {
            request: GenerateRequest {
                prompt: Prompt::Tokens(vec![1, 2]),
                sampling: isolated_sampling(42),
                max_tokens: 8,
                stop: vec![],
                ignore_eos: false,
                stop_on_repetition: true,
            },
            temperatures,
            samples,
        }
    }

    #[test]
    fn lanes_are_temperature_major_with_distinct_seeds() {
        let r = request(vec![0.0, 0.7, 1.5], 4);
        let lanes = r.lanes();
        assert_eq!(lanes.len(), 12);
        assert_eq!(lanes[5].temperature, 0.7);
        assert_eq!(lanes[11].temperature, 1.5);
        assert!(
            lanes
                .iter()
                .all(|l| l.top_k == 0 && l.top_p == 1.0 && l.min_p == 0.0)
        );
        let seeds: std::collections::HashSet<u64> = lanes.iter().map(|l| l.seed).collect();
        assert_eq!(seeds.len(), 12);
        assert_eq!(lanes[5].seed, lane_seed(42, 1, 1));
        assert_ne!(lane_seed(42, 1, 0), lane_seed(42, 0, 1));
        assert_ne!(lane_seed(42, 0, 0), lane_seed(43, 0, 0));
        assert_eq!(published_sampling(1).top_p, 0.95);
        assert!(r.validate().is_ok());
    }

    #[test]
    fn bad_counts_and_temperatures_are_refused_by_name() {
        let name = |r: LabRequest| match r.validate() {
            Err(Error::Param { name, .. }) => name,
            other => panic!("{other:?}"),
        };
        assert_eq!(name(request(vec![], 2)), "temperatures");
        assert_eq!(name(request(vec![0.5; 17], 2)), "temperatures");
        assert_eq!(name(request(vec![0.5], 0)), "samples");
        assert_eq!(name(request(vec![0.5; 4], 65)), "samples");
        assert_eq!(name(request(vec![0.5, -1.0], 2)), "temperature");
        assert_eq!(name(request(vec![f32::NAN], 2)), "temperature");
    }
}
