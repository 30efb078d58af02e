//! The lab's table: one row of measurements per temperature, from the run's lanes and each
//! lane's outcome. The definitions are [`super::metrics`]' and [`super::pass_at_k`]'s
//! (docs/LAB.md states them).

use serde::{Deserialize, Serialize};

use super::lanes::LabRun;
use super::metrics;
use super::outcome::Outcome;
use super::pass_at_k::pass_at_k;

/// What the lab measured at one temperature over its `k` samples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TemperatureSummary {
    /// The temperature.
    pub temperature: f32,
    /// Samples (`k`).
    pub samples: usize,
    /// How many samples had each outcome, in [`Outcome::ALL`]'s order (zeros included).
    pub outcomes: Vec<(Outcome, usize)>,
    /// Samples whose code did not parse (or left nothing usable), over all samples.
    pub syntax_error_rate: f64,
    /// Distinct texts among the samples.
    pub distinct_outputs: usize,
    /// Share of sample pairs with identical text (`None` for one sample).
    pub exact_match_rate: Option<f64>,
    /// Share of samples identical to the run's first T = 0 sample (`None` without a T = 0 lane).
    pub identical_to_greedy: Option<f64>,
    /// Median first token index at which two differing samples part (`None` if none differ).
    pub median_first_divergence: Option<usize>,
    /// distinct-1 … distinct-4 over the samples' tokens.
    pub distinct_n: [Option<f64>; 4],
    /// Mean normalised token edit distance over sample pairs.
    pub mean_edit_distance: Option<f64>,
    /// Distinct program structures (names and literals anonymised: `kiln_post::structure`)
    /// among the samples whose code parses; `None` when none has one.
    #[serde(default)]
    pub distinct_structures: Option<usize>,
    /// Samples whose program has a structure (the denominator of `distinct_structures`).
    #[serde(default)]
    pub structured: usize,
    /// pass@k for k = 1, 2, 5, 10, … up to the samples (when the run has tests).
    pub pass_at: Vec<(usize, f64)>,
    /// Mean log-probability (nats) of the generated tokens under the model.
    pub mean_logprob: Option<f64>,
    /// Mean entropy (nats) of the model's next-token distribution along the samples.
    pub mean_entropy: Option<f64>,
    /// Generated tokens (EOS excluded) over all samples.
    pub tokens: usize,
}

/// The k of pass@k the lab reports: 1, 2, 5, 10, 20, 50, 100, … up to `n`.
pub fn reported_ks(n: usize) -> Vec<usize> {
    let mut ks = Vec::new();
    let mut decade = 1usize;
    'outer: loop {
        for m in [1, 2, 5] {
            let k = m * decade;
            if k > n {
                break 'outer;
            }
            ks.push(k);
        }
        decade = decade.saturating_mul(10);
    }
    ks
}

/// One row per temperature of `run`. `outcomes` and `structures` hold one entry per lane
/// (temperature-major, as [`LabRun::lanes`]; `structures` from [`super::judge::structures`]);
/// pass@k is reported when `tested` (the run had tests to run).
pub fn summarize(
    run: &LabRun,
    outcomes: &[Outcome],
    structures: &[Option<String>],
    tested: bool,
) -> Vec<TemperatureSummary> {
    let greedy = run
        .lanes
        .iter()
        .find(|l| l.temperature == 0.0)
        .map(|l| l.generation.text.as_str());
    run.request
        .temperatures
        .iter()
        .enumerate()
        .map(|(t, &temperature)| {
            let lanes: Vec<_> = run
                .lanes
                .iter()
                .zip(outcomes)
                .filter(|(l, _)| l.temperature_index == t)
                .collect();
            let texts: Vec<&str> = lanes
                .iter()
                .map(|(l, _)| l.generation.text.as_str())
                .collect();
            let tokens: Vec<Vec<u32>> = lanes
                .iter()
                .map(|(l, _)| l.generation.tokens.clone())
                .collect();
            let shapes: std::collections::BTreeSet<&str> = run
                .lanes
                .iter()
                .zip(structures)
                .filter(|(l, _)| l.temperature_index == t)
                .filter_map(|(_, s)| s.as_deref())
                .collect();
            let structured = run
                .lanes
                .iter()
                .zip(structures)
                .filter(|(l, s)| l.temperature_index == t && s.is_some())
                .count();
            let n = lanes.len();
            let count = |o: Outcome| lanes.iter().filter(|(_, x)| **x == o).count();
            let passed = count(Outcome::Passed);
            let per_token = |f: fn(&crate::Generation) -> &Vec<f32>, log: bool| {
                metrics::mean(lanes.iter().flat_map(|(l, _)| {
                    f(&l.generation).iter().map(move |&p| {
                        if log {
                            f64::from(p.max(f32::MIN_POSITIVE)).ln()
                        } else {
                            f64::from(p)
                        }
                    })
                }))
            };
            TemperatureSummary {
                temperature,
                samples: n,
                outcomes: Outcome::ALL.iter().map(|&o| (o, count(o))).collect(),
                syntax_error_rate: if n > 0 {
                    count(Outcome::SyntaxError) as f64 / n as f64
                } else {
                    0.0
                },
                distinct_outputs: metrics::distinct_outputs(&texts),
                exact_match_rate: metrics::exact_match_rate(&texts),
                identical_to_greedy: greedy.and_then(|g| metrics::share_identical(&texts, g)),
                median_first_divergence: metrics::median_first_divergence(&tokens),
                distinct_n: [1, 2, 3, 4].map(|k| metrics::distinct_n(&tokens, k)),
                mean_edit_distance: metrics::mean_pairwise_edit_distance(&tokens),
                distinct_structures: (structured > 0).then_some(shapes.len()),
                structured,
                pass_at: if tested {
                    reported_ks(n)
                        .into_iter()
                        .filter_map(|k| pass_at_k(n, passed, k).map(|p| (k, p)))
                        .collect()
                } else {
                    Vec::new()
                },
                mean_logprob: per_token(|g| &g.token_probs, true),
                mean_entropy: per_token(|g| &g.token_entropies, false),
                tokens: tokens.iter().map(Vec::len).sum(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::lanes::{LabRequest, LaneResult, isolated_sampling};
    use crate::request::{Finish, GenerateRequest, Generation, Prompt, Timings};

    fn lane(t: usize, temperature: f32, sample: usize, tokens: Vec<u32>) -> LaneResult {
        LaneResult {
            temperature_index: t,
            temperature,
            sample,
            seed: 0,
            pieces: vec![],
            generation: Generation {
                text: tokens.iter().map(|t| format!("<{t}>")).collect(),
                token_probs: vec![0.5; tokens.len()],
                token_entropies: vec![1.0; tokens.len()],
                tokens,
                prompt_tokens: vec![1],
                finish: Finish::Eos,
                timings: Timings::default(),
            },
        }
    }

    #[test]
    fn a_crafted_run_gives_its_table() {
        let run = LabRun {
            request: LabRequest {
                request: GenerateRequest {
                    prompt: Prompt::Tokens(vec![1]),
                    sampling: isolated_sampling(0),
                    max_tokens: 4,
                    stop: vec![],
                    ignore_eos: false,
                    stop_on_repetition: false,
                },
                temperatures: vec![0.0, 1.0],
                samples: 2,
            },
            lanes: vec![
                lane(0, 0.0, 0, vec![5, 6, 7]),
                lane(0, 0.0, 1, vec![5, 6, 7]),
                lane(1, 1.0, 0, vec![5, 6, 7]),
                lane(1, 1.0, 1, vec![5, 8]),
            ],
            wall_ms: 1.0,
        };
        let outcomes = [
            Outcome::Passed,
            Outcome::Passed,
            Outcome::Passed,
            Outcome::SyntaxError,
        ];
        let shapes = [Some("a".into()), Some("a".into()), Some("a".into()), None];
        let rows = summarize(&run, &outcomes, &shapes, true);
        assert_eq!(rows.len(), 2);
        let (cold, hot) = (&rows[0], &rows[1]);
        assert_eq!(
            (cold.distinct_outputs, cold.exact_match_rate),
            (1, Some(1.0))
        );
        assert_eq!(cold.identical_to_greedy, Some(1.0));
        assert_eq!(cold.median_first_divergence, None);
        assert_eq!(cold.pass_at, vec![(1, 1.0), (2, 1.0)]);
        assert_eq!(cold.syntax_error_rate, 0.0);
        assert_eq!((hot.distinct_outputs, hot.exact_match_rate), (2, Some(0.0)));
        assert_eq!(hot.identical_to_greedy, Some(0.5));
        assert_eq!(hot.median_first_divergence, Some(1));
        assert_eq!(hot.syntax_error_rate, 0.5);
        assert_eq!(hot.pass_at, vec![(1, 0.5), (2, 1.0)]);
        // Unigrams 5 6 7 5 8: distinct 4 of 5.
        assert_eq!(hot.distinct_n[0], Some(0.8));
        assert_eq!(hot.tokens, 5);
        assert!((hot.mean_logprob.expect("tokens") - 0.5f64.ln()).abs() < 1e-6);
        assert_eq!(hot.mean_entropy, Some(1.0));
        let count = |o| hot.outcomes.iter().find(|(x, _)| *x == o).map(|(_, n)| *n);
        assert_eq!(count(Outcome::SyntaxError), Some(1));
        assert_eq!(count(Outcome::Timeout), Some(0));
        assert_eq!((cold.distinct_structures, cold.structured), (Some(1), 2));
        assert_eq!((hot.distinct_structures, hot.structured), (Some(1), 1));
        let none = [None, None, None, None];
        assert_eq!(
            summarize(&run, &outcomes, &none, true)[0].distinct_structures,
            None
        );
        assert!(
            summarize(&run, &outcomes, &shapes, false)[1]
                .pass_at
                .is_empty()
        );
    }

    #[test]
    fn reported_ks_follow_one_two_five() {
        assert_eq!(reported_ks(1), vec![1]);
        assert_eq!(reported_ks(5), vec![1, 2, 5]);
        assert_eq!(reported_ks(9), vec![1, 2, 5]);
        assert_eq!(reported_ks(100), vec![1, 2, 5, 10, 20, 50, 100]);
        assert!(reported_ks(0).is_empty());
    }
}
