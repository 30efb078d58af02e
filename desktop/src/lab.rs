//! `kiln lab`: one prompt at several temperatures, `k` samples each, decoded together from one
//! prefilled prompt; every sample post-processed (and tested with `--tests`) and classified;
//! then one row per temperature — determinism, diversity, outcomes, pass@k (docs/LAB.md).

use std::collections::BTreeMap;
use std::io::Write;
use std::ops::ControlFlow;

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use futures_lite::future::block_on;
use indicatif::ProgressBar;
use kiln_engine::lab::{
    LabRecord, LabRequest, LabRun, Outcome, RecordMeta, TemperatureSummary, differences,
    isolated_sampling, post_process, published_sampling, usable,
};
use kiln_engine::post::sandbox::{Limits, Outcome as TestOutcome, TestCase, Verdict};
use kiln_engine::post::{Language, PostOptions, PostReport};
use kiln_engine::{Engine, GenerateRequest, RequestSettings};

use crate::generate::{prompt_text, typed_stops};
use crate::source::{EndpointArgs, Source, decode, progress_bar};
use crate::{ModelArgs, load_hashed, post};

/// Which sampling stages run beside the temperature.
#[derive(Clone, Copy, ValueEnum)]
pub enum Preset {
    /// Temperature only: top-k, top-p and min-p off.
    Isolated,
    /// Top-p 0.95 as code assistants publish it (top-k and min-p off).
    Published,
}

/// `kiln lab` flags.
#[derive(Args)]
pub struct LabArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// The prompt; read from stdin when absent.
    prompt: Option<String>,
    /// Render the prompt as a user turn with the model's chat template.
    #[arg(long)]
    chat: bool,
    /// Temperatures to compare, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "0,0.3,0.7,1,1.5")]
    temps: Vec<f32>,
    /// Samples per temperature.
    #[arg(short = 'k', long, default_value_t = 5)]
    samples: usize,
    /// Maximum new tokens per sample.
    #[arg(long = "max-tokens", short = 'n', default_value_t = 256)]
    max_tokens: usize,
    /// Base seed; each (temperature, sample) lane's seed is derived from it.
    #[arg(long, short, default_value_t = 0)]
    seed: u64,
    /// The other sampling stages: `isolated` (temperature alone) or `published` (top-p 0.95).
    #[arg(long, value_enum, default_value = "isolated")]
    preset: Preset,
    /// Stop string (repeatable; `\n`, `\t`, `\r` and `\\` are unescaped).
    #[arg(long)]
    stop: Vec<String>,
    /// Print the whole run as a JSON record (model hashes, request, every lane, its report and
    /// outcome, the table).
    #[arg(long)]
    json: bool,
    /// Run a record written by `--json` again and say whether every lane came out the same
    /// (exit 1 if not). The model given by `--model` (default: the default model) must be the
    /// recorded one.
    #[arg(long, value_name = "RECORD")]
    replay: Option<std::path::PathBuf>,
    /// Skip the batch-invariance check (the greedy lane decoded alone and in a batch as wide as
    /// the run, 32 steps; done when a temperature is 0).
    #[arg(long = "no-invariance")]
    no_invariance: bool,
    /// Also decode every lane alone, one after another, and say how the two wall times compare
    /// and whether every lane gave the same tokens both ways.
    #[arg(long = "versus-sequential")]
    versus_sequential: bool,
    /// Also write the charts (pass@k, outcomes, determinism and diversity against
    /// temperature) to this SVG file.
    #[arg(long, value_name = "FILE")]
    svg: Option<std::path::PathBuf>,
    #[command(flatten)]
    post_args: post::PostArgs,
    #[command(flatten)]
    endpoint: EndpointArgs,
}

/// Runs the lab and prints its table (or the JSON record).
pub fn run(args: LabArgs) -> Result<()> {
    if let Some(path) = &args.replay {
        return replay(&args, path);
    }
    let sampling = match args.preset {
        Preset::Isolated => isolated_sampling(args.seed),
        Preset::Published => published_sampling(args.seed),
    };
    let mut settings = RequestSettings {
        prompt: prompt_text(args.prompt.clone())?,
        chat: args.chat,
        sampling,
        max_tokens: args.max_tokens,
        stop: typed_stops(&args.stop),
        ..args.post_args.settings()?
    };
    // With tests and no `--lang`, the code is taken to be in the tests' language (their file
    // extension).
    if settings.language.is_none() {
        settings.language = args
            .post_args
            .tests
            .iter()
            .map(|p| Language::from_path(&p.to_string_lossy()))
            .find(|l| *l != Language::Other);
    }
    // The request and the post-processing options are checked before the model is loaded.
    let req = LabRequest::new(&settings, args.temps.clone(), args.samples)?;
    let post_opts = settings.post_options().unwrap_or_default();
    let (source, hashes) = Source::open(&args.model, &args.endpoint, args.json)?;
    let run = source.lab(&req, args.model.quiet)?;
    let lanes = run.lanes.len();

    let tests = args.post_args.test_cases()?;
    let tested = !tests.is_empty();
    let testing = progress_bar(args.model.quiet || !tested, run.lanes.len());
    let reports = judge(
        &run,
        &post_opts,
        tested.then_some(tests.as_slice()),
        "",
        &args.post_args.limits(),
        &testing,
    )?;
    testing.finish_and_clear();
    let invariance = if let Some(engine) = source.local()
        && !args.no_invariance
        && req.temperatures.contains(&0.0)
    {
        Some(block_on(engine.batch_invariance(
            &req.request.prompt,
            lanes,
            req.request.max_tokens.min(32),
        ))?)
    } else {
        None
    };
    let prompt_tokens = run
        .lanes
        .first()
        .map_or(0, |l| l.generation.timings.prompt_tokens);
    let where_ = if source.local().is_some() {
        "decoded together"
    } else {
        "decoded on the endpoint"
    };
    let wall_ms = run.wall_ms;
    if args.versus_sequential {
        versus_sequential(source.require_local("--versus-sequential")?, &req, &run)?;
    }
    let meta = source.meta(hashes);
    let record = LabRecord::new(meta, run, &reports, tested, invariance);
    if let Some(path) = &args.svg {
        std::fs::write(path, kiln_engine::lab::chart::svg(&record.summary))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    let generated: usize = record.summary.iter().map(|r| r.tokens).sum();
    let nothing_usable = record.outcomes.iter().all(|&o| o == Outcome::SyntaxError);
    if args.json {
        println!("{}", serde_json::to_string(&record)?);
    } else {
        print_table(&record.summary, tested)?;
    }
    eprintln!(
        "kiln: {lanes} lanes ({} temperatures × {}) {where_}: {generated} tokens in {:.1} s \
         ({:.1} tok/s over all lanes), prompt of {prompt_tokens} tokens prefilled once",
        req.temperatures.len(),
        req.samples,
        wall_ms / 1000.0,
        generated as f64 * 1000.0 / wall_ms.max(1e-3),
    );
    if let Some(b) = &record.invariance {
        eprintln!("kiln: batch invariance at T=0: {}", b.summary());
    }
    if nothing_usable {
        bail!("no sample at any temperature gave usable code (--json shows every report)");
    }
    Ok(())
}

/// Post-processes every lane's text as `kiln generate` would and runs `tests` (when given) on
/// what is usable: each lane's report, its verdicts in it ([`kiln_engine::lab::outcome`]
/// classifies it).
///
/// `preamble` goes before the code when the tests run (kiln eval: the problem's imports, which
/// an instruct model's answer usually leaves out — the evaluation harnesses for chat models do
/// the same).
pub fn judge(
    run: &LabRun,
    post_opts: &PostOptions,
    tests: Option<&[TestCase]>,
    preamble: &str,
    limits: &Limits,
    progress: &ProgressBar,
) -> Result<Vec<PostReport>> {
    let mut reports = Vec::with_capacity(run.lanes.len());
    for lane in &run.lanes {
        let mut report = post_process(lane, post_opts);
        let usable = usable(&report);
        if let Some(tests) = tests
            && usable
            && let Err(e) = post::run_tests_on(&mut report, preamble, tests, limits)
        {
            // A sample the sandbox cannot run (e.g. an answer in another language than the
            // tests) is that sample's runtime error, not the end of the run.
            report.tests = Some(
                tests
                    .iter()
                    .map(|t| Verdict {
                        test: t.name.clone(),
                        outcome: TestOutcome::Error,
                        kind: None,
                        message: format!("{e:#}"),
                        line: None,
                        output: String::new(),
                        wall_ms: 0,
                    })
                    .collect(),
            );
        }
        reports.push(report);
        progress.inc(1);
    }
    Ok(reports)
}

/// `--versus-sequential`: every lane of `run` decoded again on its own, one after another; the
/// wall times compared and every lane's tokens checked.
fn versus_sequential(engine: &Engine, req: &LabRequest, run: &LabRun) -> Result<()> {
    let t0 = std::time::Instant::now();
    let mut differ = Vec::new();
    for (i, sampling) in req.lanes().into_iter().enumerate() {
        let alone = GenerateRequest {
            sampling,
            ..req.request.clone()
        };
        let g = block_on(engine.generate(&alone, &mut |_| ControlFlow::Continue(())))?;
        if run.lanes.get(i).map(|l| &l.generation.tokens) != Some(&g.tokens) {
            differ.push(i);
        }
    }
    let alone_ms = t0.elapsed().as_secs_f64() * 1000.0;
    eprintln!(
        "kiln: the same {} lanes one after another: {:.1} s, batched {:.1} s ({:.2} × faster together); {}",
        run.lanes.len(),
        alone_ms / 1000.0,
        run.wall_ms / 1000.0,
        alone_ms / run.wall_ms.max(1e-3),
        if differ.is_empty() {
            "every lane gave the same tokens".to_string()
        } else {
            format!("lanes {differ:?} gave DIFFERENT tokens")
        }
    );
    if !differ.is_empty() {
        bail!("batched and sequential lanes differ");
    }
    Ok(())
}

/// `--replay RECORD`: the recorded request run again on the given model; every lane compared.
fn replay(args: &LabArgs, path: &std::path::Path) -> Result<()> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let record: LabRecord = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a kiln lab record", path.display()))?;
    record.run.request.validate()?;
    let (engine, _, hashes) = load_hashed(&args.model, true)?;
    let digests = |h: &[(String, String)]| h.iter().map(|(_, d)| d.clone()).collect::<Vec<_>>();
    if digests(&hashes) != digests(&record.meta.model_sha256) {
        bail!(
            "the record was made with model {:?}, not {:?}: pass the recorded file with --model",
            record.meta.model_sha256,
            hashes
        );
    }
    let now = RecordMeta::new(&engine, hashes);
    if now.kernels != record.meta.kernels || now.device != record.meta.device {
        eprintln!(
            "kiln: recorded on {} ({}), replayed on {} ({}); lanes may part where the arithmetic differs",
            record.meta.device, record.meta.kernels, now.device, now.kernels
        );
    }
    let rerun = decode(&engine, &record.run.request, args.model.quiet)?;
    let diff = differences(&record.run, &rerun);
    if diff.is_empty() {
        println!(
            "replay: all {} lanes gave the recorded tokens and text ({:.1} s recorded, {:.1} s now)",
            rerun.lanes.len(),
            record.run.wall_ms / 1000.0,
            rerun.wall_ms / 1000.0
        );
        return Ok(());
    }
    for d in &diff {
        println!("replay: {d}");
    }
    bail!(
        "the replay differs from the record in {} place(s)",
        diff.len()
    )
}

/// `0.42`, or `–` for a metric that is not defined here.
fn num(x: Option<f64>) -> String {
    x.map_or("–".into(), |x| format!("{x:.2}"))
}

/// The table: one row per temperature.
fn print_table(rows: &[TemperatureSummary], tested: bool) -> Result<()> {
    let mut out = std::io::stdout().lock();
    let ks: Vec<usize> = rows
        .first()
        .map(|r| r.pass_at.iter().map(|(k, _)| *k).collect())
        .unwrap_or_default();
    let mut head = format!(
        "{:>5} {:>3} {:>8} {:>6} {:>7} {:>8} {:>7} {:>7} {:>5} {:>6} {:>7} {:>8} {:>7}",
        "T",
        "k",
        "distinct",
        "match",
        "=greedy",
        "diverge@",
        "dist-1",
        "dist-2",
        "edit",
        "shapes",
        "syntax",
        "logprob",
        "entropy"
    );
    if tested {
        head.push_str(&format!(
            " {:>7} {:>7} {:>7}",
            "runtime", "timeout", "wrong"
        ));
        head.push_str(&format!(" {:>6}", "passed"));
        for k in &ks {
            head.push_str(&format!(" {:>7}", format!("pass@{k}")));
        }
    }
    writeln!(out, "{head}")?;
    for r in rows {
        let count: BTreeMap<Outcome, usize> = r.outcomes.iter().copied().collect();
        let n = |o| count.get(&o).copied().unwrap_or(0);
        let mut line = format!(
            "{:>5} {:>3} {:>8} {:>6} {:>7} {:>8} {:>7} {:>7} {:>5} {:>6} {:>7} {:>8} {:>7}",
            format!("{:.2}", r.temperature),
            r.samples,
            format!("{}/{}", r.distinct_outputs, r.samples),
            num(r.exact_match_rate),
            num(r.identical_to_greedy),
            r.median_first_divergence
                .map_or("–".into(), |d| d.to_string()),
            num(r.distinct_n[0]),
            num(r.distinct_n[1]),
            num(r.mean_edit_distance),
            r.distinct_structures
                .map_or("–".into(), |d| format!("{d}/{}", r.structured)),
            format!("{}/{}", n(Outcome::SyntaxError), r.samples),
            num(r.mean_logprob),
            num(r.mean_entropy),
        );
        if tested {
            for o in [
                Outcome::RuntimeError,
                Outcome::Timeout,
                Outcome::WrongAnswer,
            ] {
                line.push_str(&format!(" {:>7}", format!("{}/{}", n(o), r.samples)));
            }
            line.push_str(&format!(
                " {:>6}",
                format!("{}/{}", n(Outcome::Passed), r.samples)
            ));
            for (_, p) in &r.pass_at {
                line.push_str(&format!(" {:>7}", format!("{p:.2}")));
            }
        }
        writeln!(out, "{line}")?;
    }
    writeln!(
        out,
        "distinct: different texts · match: identical pairs · =greedy: same as the T=0 text · \
         diverge@: median token where two samples part · dist-n: distinct n-grams · edit: mean \
         token edit distance · shapes: distinct program structures (names and literals anonymised) \
         among the samples that parse · syntax: samples whose code does not parse or is incomplete · runtime, \
         timeout, wrong: the first failing test's outcome (docs/LAB.md)"
    )?;
    Ok(())
}
