//! `kiln eval`: a problem set (HumanEval, kiln's easy set, or any set in HumanEval's JSONL
//! shape) over a temperature list with `n` samples each — every problem one lab run, its samples
//! tested in the sandbox — then pass@k per temperature, averaged over problems with a bootstrap
//! 95% interval. Results are appended per sample to a JSONL file as each problem finishes, and a
//! rerun with the same file and settings resumes where it stopped.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use kiln_engine::RequestSettings;
use kiln_engine::lab::problems::{self, Problem};
use kiln_engine::lab::{
    LabRequest, Outcome, bootstrap_mean, isolated_sampling, pass_at_k, reported_ks,
};
use kiln_engine::post::Language;
use kiln_engine::sampler::Rng;
use serde::{Deserialize, Serialize};

use crate::lab::judge;
use crate::source::{EndpointArgs, Source};
use crate::{ModelArgs, post};

/// `kiln eval` flags.
#[derive(Args)]
pub struct EvalArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// `easy` (built in), `humaneval` (scripts/fetch_humaneval.sh's copy) or a JSONL file.
    #[arg(long, default_value = "easy")]
    set: String,
    /// Only the first N problems of the set.
    #[arg(long)]
    limit: Option<usize>,
    /// Temperatures, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "0,0.3,0.7,1,1.5")]
    temps: Vec<f32>,
    /// Samples per problem and temperature.
    #[arg(short = 'n', long, default_value_t = 5)]
    samples: usize,
    /// Maximum new tokens per sample.
    #[arg(long = "max-tokens", default_value_t = 256)]
    max_tokens: usize,
    /// Base seed (each problem's lanes derive theirs from it and the problem's index).
    #[arg(long, short, default_value_t = 0)]
    seed: u64,
    /// Prompt as a raw completion of the function (base models); by default a model with a
    /// chat template gets the function in a chat turn and its answer's code block is tested.
    #[arg(long)]
    completion: bool,
    /// Append results here (JSONL, one line per sample) and resume from what it holds.
    #[arg(long, short)]
    out: Option<PathBuf>,
    /// Wall-clock limit per test run, in seconds.
    #[arg(long = "test-timeout", default_value_t = 10)]
    test_timeout: u64,
    /// Run the tests without the operating-system jail (see `kiln generate --help`).
    #[arg(long = "no-jail")]
    no_jail: bool,
    /// Print the table as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    endpoint: EndpointArgs,
}

/// What a results file's first line records: a resumed run must match it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Settings {
    set: String,
    model_sha256: Vec<(String, String)>,
    temperatures: Vec<f32>,
    samples: usize,
    max_tokens: usize,
    seed: u64,
    chat: bool,
}

/// One sample's line in the results file.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SampleLine {
    task_id: String,
    temperature: f32,
    sample: usize,
    seed: u64,
    outcome: Outcome,
    tokens: usize,
    text: String,
}

/// One row of the table.
#[derive(Debug, Serialize)]
struct Row {
    temperature: f32,
    problems: usize,
    samples_per_problem: usize,
    /// (k, mean pass@k over problems, 95% interval low, high).
    pass_at: Vec<(usize, f64, f64, f64)>,
    outcomes: Vec<(Outcome, usize)>,
}

fn load_set(name: &str) -> Result<Vec<Problem>> {
    Ok(match name {
        "easy" => problems::easy()?,
        "humaneval" => {
            let path = crate::files::data_dir().join("HumanEval.jsonl");
            let text = std::fs::read_to_string(&path).with_context(|| {
                format!(
                    "cannot read {} — run scripts/fetch_humaneval.sh first",
                    path.display()
                )
            })?;
            problems::parse_jsonl("HumanEval.jsonl", &text)?
        }
        file => {
            let text =
                std::fs::read_to_string(file).with_context(|| format!("cannot read {file}"))?;
            problems::parse_jsonl(file, &text)?
        }
    })
}

/// The results already in `path` (none if it does not exist), checked against `settings`.
fn resume(path: &std::path::Path, settings: &Settings) -> Result<Vec<SampleLine>> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(Vec::new());
    };
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let Some(first) = lines.next() else {
        return Ok(Vec::new());
    };
    let recorded: Settings = serde_json::from_str(first).with_context(|| {
        format!(
            "{}: the first line is not kiln eval settings",
            path.display()
        )
    })?;
    if &recorded != settings {
        bail!(
            "{} holds a run with other settings ({recorded:?}); pick another --out to start anew",
            path.display()
        );
    }
    lines
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str(l)
                .with_context(|| format!("{}:{}: not a sample line", path.display(), i + 2))
        })
        .collect()
}

/// Runs the evaluation and prints pass@k per temperature.
pub fn run(args: EvalArgs) -> Result<()> {
    let mut set = load_set(&args.set)?;
    if let Some(n) = args.limit {
        set.truncate(n);
    }
    let (source, hashes) = Source::open(&args.model, &args.endpoint, true)?;
    let chat = !args.completion && source.has_chat();
    let settings = Settings {
        set: args.set.clone(),
        model_sha256: hashes.clone(),
        temperatures: args.temps.clone(),
        samples: args.samples,
        max_tokens: args.max_tokens,
        seed: args.seed,
        chat,
    };
    let mut done = match &args.out {
        Some(p) => resume(p, &settings)?,
        None => Vec::new(),
    };
    let mut out = match &args.out {
        Some(p) => {
            let fresh = done.is_empty() && std::fs::metadata(p).map_or(true, |m| m.len() == 0);
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .with_context(|| format!("cannot open {}", p.display()))?;
            if fresh {
                writeln!(f, "{}", serde_json::to_string(&settings)?)?;
            }
            Some(f)
        }
        None => None,
    };
    let post_args = post::PostArgs {
        test_timeout: args.test_timeout,
        no_jail: args.no_jail,
        ..post::PostArgs::default()
    };
    let have: BTreeSet<(String, u32, usize)> = done
        .iter()
        .map(|d| (d.task_id.clone(), d.temperature.to_bits(), d.sample))
        .collect();
    let todo: Vec<(usize, &Problem)> = set
        .iter()
        .enumerate()
        .filter(|(_, p)| {
            (0..args.temps.len()).any(|t| {
                (0..args.samples)
                    .any(|s| !have.contains(&(p.task_id.clone(), args.temps[t].to_bits(), s)))
            })
        })
        .collect();
    if !args.model.quiet && set.len() > todo.len() {
        eprintln!(
            "kiln: resuming: {} of {} problems already done",
            set.len() - todo.len(),
            set.len()
        );
    }
    let bar = if args.model.quiet {
        ProgressBar::hidden()
    } else {
        let pb = ProgressBar::new(todo.len() as u64);
        pb.set_style(
            ProgressStyle::with_template(
                "{bar:30} {pos}/{len} problems · {msg} · {elapsed} elapsed, ETA {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        pb
    };
    for (index, problem) in todo {
        bar.set_message(problem.task_id.clone());
        let text = if chat {
            problem.chat_prompt()
        } else {
            problem.prompt.clone()
        };
        let settings = RequestSettings {
            prompt: text,
            chat,
            sampling: isolated_sampling(Rng::for_lane(args.seed, index as u64).next_u64()),
            max_tokens: args.max_tokens,
            language: Some(Language::Python),
            no_format: true,
            ..RequestSettings::default()
        };
        let req = LabRequest::new(&settings, args.temps.clone(), args.samples)?;
        let run = source.lab(&req, true)?;
        let post_opts = settings.post_options().unwrap_or_default();
        // A chat answer is the function alone; the prompt's imports (`from typing import List`)
        // go before it, as HumanEval's own harness has them before the completion.
        let preamble = if chat {
            problem.imports()
        } else {
            String::new()
        };
        let reports = judge(
            &run,
            &post_opts,
            Some(&[problem.test_case()]),
            &preamble,
            &post_args.limits(),
            &ProgressBar::hidden(),
        )?;
        for (lane, report) in run.lanes.iter().zip(&reports) {
            let outcome = kiln_engine::lab::outcome(report, true);
            let line = SampleLine {
                task_id: problem.task_id.clone(),
                temperature: lane.temperature,
                sample: lane.sample,
                seed: lane.seed,
                outcome,
                tokens: lane.generation.tokens.len(),
                text: lane.generation.text.clone(),
            };
            if have.contains(&(
                line.task_id.clone(),
                line.temperature.to_bits(),
                line.sample,
            )) {
                continue;
            }
            if let Some(f) = out.as_mut() {
                writeln!(f, "{}", serde_json::to_string(&line)?)?;
            }
            done.push(line);
        }
        if let Some(f) = out.as_mut() {
            f.flush()?;
        }
        bar.inc(1);
    }
    bar.finish_and_clear();

    let rows = table(&set, &done, &args.temps, args.samples, args.seed);
    if args.json {
        println!("{}", serde_json::to_string(&rows)?);
        return Ok(());
    }
    print(&rows, &args.set, chat);
    Ok(())
}

/// pass@k per temperature over the problems of `set` (samples from `done`).
fn table(set: &[Problem], done: &[SampleLine], temps: &[f32], n: usize, seed: u64) -> Vec<Row> {
    let ids: BTreeSet<&str> = set.iter().map(|p| p.task_id.as_str()).collect();
    temps
        .iter()
        .map(|&t| {
            // Per problem: passes among its samples at this temperature.
            let mut per: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
            let mut outcomes: BTreeMap<Outcome, usize> = BTreeMap::new();
            for d in done
                .iter()
                .filter(|d| d.temperature == t && ids.contains(d.task_id.as_str()))
            {
                let e = per.entry(d.task_id.as_str()).or_default();
                e.0 += 1;
                e.1 += usize::from(d.outcome == Outcome::Passed);
                *outcomes.entry(d.outcome).or_default() += 1;
            }
            let mut rng = Rng::new(seed);
            let pass_at = reported_ks(n)
                .into_iter()
                .filter_map(|k| {
                    let values: Vec<f64> = per
                        .values()
                        .filter_map(|&(total, passed)| pass_at_k(total, passed, k))
                        .collect();
                    bootstrap_mean(&values, 0.95, 2000, &mut rng).map(|i| (k, i.mean, i.lo, i.hi))
                })
                .collect();
            Row {
                temperature: t,
                problems: per.len(),
                samples_per_problem: n,
                pass_at,
                outcomes: Outcome::ALL
                    .iter()
                    .map(|&o| (o, outcomes.get(&o).copied().unwrap_or(0)))
                    .collect(),
            }
        })
        .collect()
}

fn print(rows: &[Row], set: &str, chat: bool) {
    println!(
        "{set}: {} problems, {} samples per temperature, {}",
        rows.first().map_or(0, |r| r.problems),
        rows.first().map_or(0, |r| r.samples_per_problem),
        if chat {
            "chat turn, the answer's code block tested"
        } else {
            "raw completion of the function"
        }
    );
    for r in rows {
        let pass: Vec<String> = r
            .pass_at
            .iter()
            .map(|(k, m, lo, hi)| format!("pass@{k} {m:.3} [{lo:.3}, {hi:.3}]"))
            .collect();
        let outcomes: Vec<String> = r
            .outcomes
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(o, n)| format!("{} {n}", o.name()))
            .collect();
        println!(
            "T={:<4} {} · {}",
            r.temperature,
            pass.join(" · "),
            outcomes.join(", ")
        );
    }
}
