//! What the playground's Lab view shows of a run record, as plain data (tested natively): one
//! column per temperature, a card per lane — its code with syntax errors on their lines, the
//! diff against the greedy (T = 0) sample, its tokens shaded by probability with the token where
//! it parts from the greedy sample marked — and each column's metrics.

use kiln_engine::Finish;
use kiln_engine::lab::metrics::first_divergence;
use kiln_engine::lab::{LabRecord, Outcome, TemperatureSummary};
use kiln_engine::post::sandbox::{Outcome as TestOutcome, Verdict};
use kiln_engine::post::{PostOptions, PostReport};
use kiln_engine::{Prompt, RequestSettings};

use crate::logic::{CodeLine, DiffLine, annotate, diff_lines};

/// One token of a lane as the view shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenView {
    /// The token's text.
    pub piece: String,
    /// Its probability under the model.
    pub prob: f32,
    /// Where the lane first parts from the greedy sample: this token, or one after it.
    pub diverged: Divergence,
}

/// A token's place relative to the lane's first divergence from the greedy sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Divergence {
    /// The same as the greedy sample so far.
    Before,
    /// The first token that differs.
    At,
    /// After the first difference.
    After,
}

/// One lane's card.
#[derive(Debug, Clone, PartialEq)]
pub struct LaneView {
    /// Index in the run (temperature-major).
    pub lane: usize,
    /// Sample index within its temperature.
    pub sample: usize,
    /// The lane's seed.
    pub seed: u64,
    /// What became of it.
    pub outcome: Outcome,
    /// Why its generation ended.
    pub finish: Finish,
    /// Its tokens.
    pub tokens: Vec<TokenView>,
    /// The first token index where it differs from the greedy sample (`None`: the same, or no
    /// greedy sample in the run).
    pub diverges_at: Option<usize>,
    /// Its post-processed code with errors placed (empty when the report is missing).
    pub code: Vec<CodeLine>,
    /// The line diff from the greedy sample's code to this one's (`None` for the greedy sample
    /// itself and when the run has none).
    pub diff: Option<Vec<DiffLine>>,
    /// The report's verdict in words.
    pub verdict: String,
    /// Test verdicts: (test, outcome, message).
    pub tests: Vec<(String, String, String)>,
}

/// One temperature's column.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnView {
    /// The row of the table for this temperature.
    pub summary: TemperatureSummary,
    /// Its lanes.
    pub lanes: Vec<LaneView>,
}

/// The lane the others are compared with: the run's first T = 0 sample (as the table's
/// "= greedy" column).
fn greedy_lane(record: &LabRecord) -> Option<usize> {
    record.run.lanes.iter().position(|l| l.temperature == 0.0)
}

fn test_outcome(o: TestOutcome) -> &'static str {
    match o {
        TestOutcome::Pass => "pass",
        TestOutcome::Fail => "fail",
        TestOutcome::Timeout => "timeout",
        TestOutcome::Error => "error",
        TestOutcome::ResourceLimit => "limit",
        TestOutcome::Forbidden => "forbidden",
    }
}

/// The columns of `record`, one per temperature in the run's order.
pub fn columns(record: &LabRecord) -> Vec<ColumnView> {
    let reports = record.typed_reports();
    let greedy = greedy_lane(record);
    let greedy_tokens = greedy.map(|g| record.run.lanes[g].generation.tokens.as_slice());
    let greedy_code = greedy
        .and_then(|g| reports.get(g).cloned().flatten())
        .map(|r| r.code);
    let lane_view = |i: usize| {
        let lane = &record.run.lanes[i];
        let g = &lane.generation;
        let report = reports.get(i).cloned().flatten();
        let diverges_at = greedy_tokens.and_then(|t| first_divergence(t, &g.tokens));
        let tokens = g
            .tokens
            .iter()
            .enumerate()
            .map(|(j, _)| TokenView {
                piece: lane.pieces.get(j).cloned().unwrap_or_default(),
                prob: g.token_probs.get(j).copied().unwrap_or(1.0),
                diverged: match diverges_at {
                    Some(d) if j == d => Divergence::At,
                    Some(d) if j > d => Divergence::After,
                    _ => Divergence::Before,
                },
            })
            .collect();
        LaneView {
            lane: i,
            sample: lane.sample,
            seed: lane.seed,
            outcome: record
                .outcomes
                .get(i)
                .copied()
                .unwrap_or(Outcome::SyntaxError),
            finish: g.finish,
            tokens,
            diverges_at,
            code: report
                .as_ref()
                .map(|r| annotate(&r.code, &r.diagnostics))
                .unwrap_or_default(),
            diff: match (&greedy_code, &report) {
                (Some(base), Some(r)) if Some(i) != greedy => Some(diff_lines(base, &r.code)),
                _ => None,
            },
            verdict: report
                .as_ref()
                .map_or_else(|| "no report".into(), PostReport::verdict),
            tests: report
                .iter()
                .flat_map(|r| r.tests.iter().flatten())
                .map(|v: &Verdict| {
                    (
                        v.test.clone(),
                        test_outcome(v.outcome).to_string(),
                        v.message.clone(),
                    )
                })
                .collect(),
        }
    };
    record
        .summary
        .iter()
        .enumerate()
        .map(|(t, summary)| ColumnView {
            summary: summary.clone(),
            lanes: (0..record.run.lanes.len())
                .filter(|&i| record.run.lanes[i].temperature_index == t)
                .map(lane_view)
                .collect(),
        })
        .collect()
}

/// A metric for the view: `0.42`, or `–` where it is not defined.
pub fn num(x: Option<f64>) -> String {
    x.map_or("–".into(), |x| format!("{x:.2}"))
}

/// The metrics of one column as (label, value, what it means) rows: the CLI table's columns.
pub fn metric_rows(s: &TemperatureSummary) -> Vec<(&'static str, String, &'static str)> {
    let count = |o: Outcome| {
        s.outcomes
            .iter()
            .find(|(x, _)| *x == o)
            .map_or(0, |(_, n)| *n)
    };
    let mut rows = vec![
        (
            "distinct",
            format!("{}/{}", s.distinct_outputs, s.samples),
            "different texts among the samples",
        ),
        (
            "match",
            num(s.exact_match_rate),
            "share of sample pairs with the same text",
        ),
        (
            "= greedy",
            num(s.identical_to_greedy),
            "share of samples identical to the T = 0 sample",
        ),
        (
            "diverge@",
            s.median_first_divergence
                .map_or("–".into(), |d| d.to_string()),
            "median token index where two samples part",
        ),
        (
            "distinct-2",
            num(s.distinct_n[1]),
            "distinct token bigrams over all bigrams",
        ),
        (
            "edit",
            num(s.mean_edit_distance),
            "mean normalised token edit distance between samples",
        ),
        (
            "shapes",
            s.distinct_structures
                .map_or("–".into(), |d| format!("{d}/{}", s.structured)),
            "distinct program structures (names and literals anonymised) among the samples that parse",
        ),
        (
            "syntax",
            format!("{}/{}", count(Outcome::SyntaxError), s.samples),
            "samples whose code does not parse or is incomplete",
        ),
    ];
    for (k, p) in &s.pass_at {
        rows.push((
            match k {
                1 => "pass@1",
                2 => "pass@2",
                5 => "pass@5",
                10 => "pass@10",
                _ => "pass@k",
            },
            format!("{p:.2}"),
            "unbiased estimate that one of k samples passes every test",
        ));
    }
    rows.push((
        "logprob",
        num(s.mean_logprob),
        "mean log-probability of the chosen tokens (nats)",
    ));
    rows.push((
        "entropy",
        num(s.mean_entropy),
        "mean entropy of the model's next-token distribution (nats)",
    ));
    rows
}

/// How a recorded run's samples are post-processed when it is run again in the playground: as
/// the request's prompt says (chat or raw completion), in the language of its reports.
pub fn replay_post_options(record: &LabRecord) -> PostOptions {
    let reports = record.typed_reports();
    let language = reports.iter().flatten().map(|r| r.language).next();
    let (prompt, chat) = match &record.run.request.request.prompt {
        Prompt::Chat(turns) => (
            turns.last().map(|m| m.content.clone()).unwrap_or_default(),
            true,
        ),
        Prompt::Raw(text) => (text.clone(), false),
        Prompt::Tokens(_) => (String::new(), false),
    };
    RequestSettings {
        prompt,
        chat,
        language,
        ..RequestSettings::default()
    }
    .post_options()
    .unwrap_or_default()
}

/// The name an exported record is saved under.
pub fn record_file_name(record: &LabRecord, now_ms: f64) -> String {
    let model = record
        .meta
        .model_sha256
        .first()
        .map(|(_, h)| h.get(..8).unwrap_or(h).to_string())
        .unwrap_or_default();
    format!("kiln-lab-{model}-{}.json", (now_ms / 1000.0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_engine::lab::{LabRequest, LabRun, LaneResult, RecordMeta, isolated_sampling};
    use kiln_engine::post::{Language, process};
    use kiln_engine::{GenerateRequest, Generation, Timings};

    fn lane(t: usize, temperature: f32, sample: usize, tokens: &[u32], text: &str) -> LaneResult {
        LaneResult {
            temperature_index: t,
            temperature,
            sample,
            seed: sample as u64,
            pieces: tokens.iter().map(|t| format!("<{t}>")).collect(),
            generation: Generation {
                text: text.into(),
                tokens: tokens.to_vec(),
                prompt_tokens: vec![1],
                finish: Finish::Eos,
                timings: Timings::default(),
                token_probs: vec![0.5; tokens.len()],
                token_entropies: vec![0.1; tokens.len()],
            },
        }
    }

    fn record() -> LabRecord {
        let run = LabRun {
            request: LabRequest {
                request: GenerateRequest {
                    prompt: Prompt::Raw("def f(x):\n".into()),
                    sampling: isolated_sampling(1),
                    max_tokens: 8,
                    stop: vec![],
                    ignore_eos: false,
                    stop_on_repetition: true,
                },
                temperatures: vec![0.0, 1.0],
                samples: 2,
            },
            lanes: vec![
                lane(0, 0.0, 0, &[5, 6, 7], "    return x\n"),
                lane(0, 0.0, 1, &[5, 6, 7], "    return x\n"),
                lane(1, 1.0, 0, &[5, 6, 9], "    return x + 1\n"),
                lane(1, 1.0, 1, &[5, 8], "    return (\n"),
            ],
            wall_ms: 5.0,
        };
        let opts = replay_post_options_for(&run);
        let reports: Vec<PostReport> = run
            .lanes
            .iter()
            .map(|l| process(&l.generation.text, &opts))
            .collect();
        let meta = RecordMeta {
            engine_version: "0".into(),
            model_sha256: vec![("m.gguf".into(), "b179c9523d0e".into())],
            device: "cpu".into(),
            kernels: "k".into(),
        };
        LabRecord::new(meta, run, &reports, false, None)
    }

    fn replay_post_options_for(run: &LabRun) -> PostOptions {
        RequestSettings {
            prompt: match &run.request.request.prompt {
                Prompt::Raw(t) => t.clone(),
                _ => String::new(),
            },
            language: Some(Language::Python),
            ..RequestSettings::default()
        }
        .post_options()
        .unwrap_or_default()
    }

    #[test]
    fn columns_mark_where_each_lane_parts_from_the_greedy_one() {
        let r = record();
        let cols = columns(&r);
        assert_eq!(cols.len(), 2);
        let (cold, hot) = (&cols[0], &cols[1]);
        assert_eq!(cold.lanes.len(), 2);
        assert_eq!(cold.lanes[0].diverges_at, None);
        assert!(cold.lanes[0].diff.is_none(), "the greedy lane has no diff");
        assert!(
            cold.lanes[1]
                .diff
                .as_ref()
                .is_some_and(|d| d.iter().all(|l| l.sign == ' '))
        );
        assert_eq!(hot.lanes[0].diverges_at, Some(2));
        let marks: Vec<Divergence> = hot.lanes[0].tokens.iter().map(|t| t.diverged).collect();
        assert_eq!(
            marks,
            [Divergence::Before, Divergence::Before, Divergence::At]
        );
        assert_eq!(hot.lanes[1].diverges_at, Some(1));
        assert_eq!(hot.lanes[1].tokens[1].piece, "<8>");
        assert_eq!(hot.lanes[1].outcome, Outcome::SyntaxError);
        assert_eq!(hot.lanes[0].outcome, Outcome::Parses);
        let diff = hot.lanes[0].diff.as_ref().expect("a diff");
        assert!(
            diff.iter()
                .any(|l| l.sign == '+' && l.text.contains("x + 1")),
            "{diff:?}"
        );
        let rows = metric_rows(&hot.summary);
        let get = |k: &str| rows.iter().find(|r| r.0 == k).map(|r| r.1.clone());
        assert_eq!(get("distinct").as_deref(), Some("2/2"));
        assert_eq!(get("syntax").as_deref(), Some("1/2"));
        assert_eq!(get("shapes").as_deref(), Some("1/1"));
        assert_eq!(get("pass@1"), None, "no tests, no pass@k");
    }

    #[test]
    fn a_record_names_its_model_and_replays_as_it_was_asked() {
        let r = record();
        assert_eq!(
            record_file_name(&r, 1_700_000_000_000.0),
            "kiln-lab-b179c952-1700000000.json"
        );
        let opts = replay_post_options(&r);
        assert!(!opts.chat);
        assert_eq!(opts.language, Some(Language::Python));
        assert_eq!(opts.prompt.as_deref(), Some("def f(x):\n"));
    }
}
