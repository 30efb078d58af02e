//! A lab run's record: everything needed to run it again and to check that the rerun gave the
//! same thing — the model's hashes, the engine version and device, the request (with the base
//! seed; lane seeds are derived from it), every lane's text and tokens, each sample's outcome and
//! the table. `kiln lab --json` writes one; `kiln lab --replay` reruns it and compares.

use serde::{Deserialize, Serialize};

use super::invariance::BatchInvariance;
use super::judge::{outcome, structures};
use super::lanes::LabRun;
use super::metrics::first_divergence;
use super::outcome::Outcome;
use super::summary::{TemperatureSummary, summarize};
use crate::post::PostReport;

/// Where and with what a run was made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordMeta {
    /// kiln-engine's version.
    pub engine_version: String,
    /// The model's files and the sha256 (hex) of each.
    pub model_sha256: Vec<(String, String)>,
    /// The device the run used ("cpu" or "wgpu") and its name.
    pub device: String,
    /// How the weights were multiplied (e.g. "blocks, f32 activations, AVX2").
    pub kernels: String,
}

impl RecordMeta {
    /// The record's meta for a run on `engine`, whose files hash to `model_sha256`.
    pub fn new(engine: &crate::Engine, model_sha256: Vec<(String, String)>) -> Self {
        let d = engine.device();
        RecordMeta {
            engine_version: env!("CARGO_PKG_VERSION").into(),
            model_sha256,
            device: format!("{} {}", d.backend, d.name),
            kernels: engine.kernels(),
        }
    }
}

/// A whole run as `--json` writes it. Post-processing reports are kept as JSON values so that a
/// record stays readable when the report gains fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabRecord {
    /// Where and with what.
    pub meta: RecordMeta,
    /// The request and every lane.
    pub run: LabRun,
    /// Each lane's outcome, temperature-major like the lanes.
    pub outcomes: Vec<Outcome>,
    /// Each lane's post-processing report (with test verdicts when the run had tests).
    pub reports: Vec<serde_json::Value>,
    /// One row per temperature.
    pub summary: Vec<TemperatureSummary>,
    /// The greedy lane alone against the same lane in a batch as wide as the run (when the run
    /// has a T = 0 temperature).
    #[serde(default)]
    pub invariance: Option<BatchInvariance>,
}

impl LabRecord {
    /// The record of `run` on `meta`'s model: each lane's outcome from its report (tests
    /// already run into the reports when `tested`) and the table, from the same functions the
    /// CLI and the playground both call.
    pub fn new(
        meta: RecordMeta,
        run: LabRun,
        reports: &[PostReport],
        tested: bool,
        invariance: Option<BatchInvariance>,
    ) -> Self {
        let outcomes: Vec<Outcome> = reports.iter().map(|r| outcome(r, tested)).collect();
        let summary = summarize(&run, &outcomes, &structures(reports), tested);
        LabRecord {
            meta,
            run,
            outcomes,
            reports: reports
                .iter()
                .map(|r| serde_json::to_value(r).unwrap_or_default())
                .collect(),
            summary,
            invariance,
        }
    }

    /// The reports as typed values (`None` for one this version cannot read).
    pub fn typed_reports(&self) -> Vec<Option<PostReport>> {
        self.reports
            .iter()
            .map(|v| serde_json::from_value(v.clone()).ok())
            .collect()
    }
}

/// How a rerun differs from the record: empty when every lane's tokens and text are the same.
pub fn differences(recorded: &LabRun, rerun: &LabRun) -> Vec<String> {
    let mut out = Vec::new();
    if recorded.request != rerun.request {
        out.push("the request differs from the recorded one".into());
    }
    if recorded.lanes.len() != rerun.lanes.len() {
        out.push(format!(
            "{} lanes recorded, {} rerun",
            recorded.lanes.len(),
            rerun.lanes.len()
        ));
    }
    for (a, b) in recorded.lanes.iter().zip(&rerun.lanes) {
        let (ga, gb) = (&a.generation, &b.generation);
        if let Some(at) = first_divergence(&ga.tokens, &gb.tokens) {
            out.push(format!(
                "T={} sample {}: tokens part at index {at} ({} recorded, {} rerun)",
                a.temperature,
                a.sample,
                ga.tokens.len(),
                gb.tokens.len()
            ));
        } else if ga.text != gb.text || ga.finish != gb.finish {
            out.push(format!(
                "T={} sample {}: same tokens, different text or finish",
                a.temperature, a.sample
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::lanes::{LabRequest, LaneResult, isolated_sampling};
    use crate::request::{Finish, GenerateRequest, Generation, Prompt, Timings};

    fn run(tokens: &[&[u32]]) -> LabRun {
        LabRun {
            request: LabRequest {
                request: GenerateRequest {
                    prompt: Prompt::Tokens(vec![1]),
                    sampling: isolated_sampling(5),
                    max_tokens: 4,
                    stop: vec![],
                    ignore_eos: false,
                    stop_on_repetition: true,
                },
                temperatures: vec![0.0],
                samples: tokens.len(),
            },
            lanes: tokens
                .iter()
                .enumerate()
                .map(|(s, t)| LaneResult {
                    temperature_index: 0,
                    temperature: 0.0,
                    sample: s,
                    seed: 9,
                    pieces: vec![],
                    generation: Generation {
                        text: format!("{t:?}"),
                        tokens: t.to_vec(),
                        prompt_tokens: vec![1],
                        finish: Finish::Eos,
                        timings: Timings::default(),
                        token_probs: vec![],
                        token_entropies: vec![],
                    },
                })
                .collect(),
            wall_ms: 3.0,
        }
    }

    #[test]
    fn a_rerun_with_the_same_tokens_has_no_differences_and_one_that_parts_says_where() {
        let a = run(&[&[1, 2, 3], &[4, 5]]);
        let mut b = a.clone();
        b.wall_ms = 7.0; // timings may differ
        assert!(differences(&a, &b).is_empty());
        let c = run(&[&[1, 2, 3], &[4, 6]]);
        assert_eq!(
            differences(&a, &c),
            vec!["T=0 sample 1: tokens part at index 1 (2 recorded, 2 rerun)".to_string()]
        );
        let d = run(&[&[1, 2, 3]]);
        assert!(differences(&a, &d).len() >= 2, "request and lane count");
        // A record survives its own JSON.
        let rec = LabRecord {
            meta: RecordMeta {
                engine_version: "0".into(),
                model_sha256: vec![("m.gguf".into(), "ab".into())],
                device: "cpu Flex".into(),
                kernels: "blocks".into(),
            },
            run: a,
            outcomes: vec![Outcome::Parses; 2],
            reports: vec![serde_json::json!({"code": "x"}); 2],
            summary: vec![],
            invariance: None,
        };
        let back: LabRecord =
            serde_json::from_str(&serde_json::to_string(&rec).expect("json")).expect("parse");
        assert_eq!(back, rec);
    }
}
