//! Each sample of a run judged as `kiln generate` judges an answer: post-processed with the
//! run's options (the token limit known per lane), usable or not, and its program's structure.
//! Tests are run by the caller — the native sandbox, or the browser's test workers — and the
//! outcome classified from their verdicts ([`super::classify`]). The CLI, the playground's worker
//! and `kiln eval` share these, so a sample is judged the same way everywhere.

use crate::post::{self, PostOptions, PostReport};
use crate::request::Finish;

use super::lanes::LaneResult;
use super::outcome::{Outcome, classify};

/// The lane's text post-processed with `opts`.
pub fn post_process(lane: &LaneResult, opts: &PostOptions) -> PostReport {
    let mut opts = opts.clone();
    opts.hit_max_tokens = lane.generation.finish == Finish::MaxTokens;
    post::process(&lane.generation.text, &opts)
}

/// Whether the report's code can be tested: it parses and is complete.
pub fn usable(report: &PostReport) -> bool {
    report.valid != Some(false) && report.incomplete.is_none()
}

/// The sample's outcome from its report: a syntax error unless usable; with tests (`tested`),
/// the first test that did not pass decides (no verdicts at all: nothing ran, a runtime error).
pub fn outcome(report: &PostReport, tested: bool) -> Outcome {
    classify(
        usable(report),
        tested.then(|| report.tests.as_deref().unwrap_or(&[])),
    )
}

/// The structure of each usable sample's program ([`post::structure`]), `None` for the others.
pub fn structures(reports: &[PostReport]) -> Vec<Option<String>> {
    reports
        .iter()
        .map(|r| {
            if usable(r) {
                post::structure(&r.code, r.language)
            } else {
                None
            }
        })
        .collect()
}
