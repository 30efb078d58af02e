//! `kiln bench`: load time, prefill and decode speed (median of several runs), peak memory.
//! Like llama-bench, the prompt is a fixed number of tokens and generation ignores EOS.

use std::ops::ControlFlow;

use anyhow::Result;
use clap::Args;
use futures_lite::future::block_on;
use kiln_engine::{GenerateRequest, Prompt, SamplingParams};
use serde::Serialize;

use crate::ModelArgs;

/// Flags of `kiln bench`.
#[derive(Args)]
pub struct BenchArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Prompt length in tokens.
    #[arg(long = "prompt-tokens", short = 'p', default_value_t = 64)]
    prompt_tokens: usize,
    /// Tokens to generate.
    #[arg(long = "gen-tokens", short = 'g', default_value_t = 32)]
    gen_tokens: usize,
    /// Repetitions (the median is reported).
    #[arg(long, short, default_value_t = 3)]
    runs: usize,
    /// Print JSON only.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Report {
    model: String,
    device: String,
    backend: String,
    runs: usize,
    prompt_tokens: usize,
    gen_tokens: usize,
    load_ms: f64,
    prefill_tok_s: f64,
    decode_tok_s: f64,
    prefill_tok_s_runs: Vec<f64>,
    decode_tok_s_runs: Vec<f64>,
    peak_rss_mb: Option<f64>,
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs.get(xs.len() / 2).copied().unwrap_or(0.0)
}

/// Peak resident memory of this process (Linux `VmHWM`).
fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Runs the benchmark and prints a table (or JSON).
pub fn run(a: BenchArgs) -> Result<()> {
    let mut margs = a.model.clone();
    margs.quiet |= a.json;
    let t0 = std::time::Instant::now();
    let (engine, _) = crate::load(&margs)?;
    let load_ms = t0.elapsed().as_secs_f64() * 1000.0;
    // A prompt of exactly `prompt_tokens` ids: code text, repeated as needed.
    let sample = "fn fibonacci(n: u64) -> u64 {\n    if n < 2 { return n; }\n    fibonacci(n - 1) + fibonacci(n - 2)\n}\n";
    let ids = engine.tokenizer().encode_plain(sample)?;
    let prompt: Vec<u32> = ids
        .iter()
        .copied()
        .cycle()
        .take(a.prompt_tokens.max(1))
        .collect();
    let req = GenerateRequest {
        prompt: Prompt::Tokens(prompt),
        sampling: SamplingParams::greedy(),
        max_tokens: a.gen_tokens,
        stop: Vec::new(),
        ignore_eos: true,
        stop_on_repetition: false,
    };
    let (mut pre, mut dec) = (Vec::new(), Vec::new());
    for _ in 0..a.runs.max(1) {
        let g = block_on(engine.generate(&req, &mut |_| ControlFlow::Continue(())))?;
        pre.push(g.timings.prefill_tok_s());
        dec.push(g.timings.decode_tok_s());
    }
    let d = engine.device();
    let report = Report {
        model: engine.info().file.clone(),
        device: d.name.clone(),
        backend: d.backend.clone(),
        runs: pre.len(),
        prompt_tokens: a.prompt_tokens,
        gen_tokens: a.gen_tokens,
        load_ms,
        prefill_tok_s: median(pre.clone()),
        decode_tok_s: median(dec.clone()),
        prefill_tok_s_runs: pre,
        decode_tok_s_runs: dec,
        peak_rss_mb: peak_rss_mb(),
    };
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "| model | device | load ms | pp{} tok/s | tg{} tok/s | peak RSS MB |",
            a.prompt_tokens, a.gen_tokens
        );
        println!("|---|---|---:|---:|---:|---:|");
        println!(
            "| {} | {} [{}] | {:.0} | {:.1} | {:.1} | {} |",
            report.model,
            report.device,
            report.backend,
            report.load_ms,
            report.prefill_tok_s,
            report.decode_tok_s,
            report
                .peak_rss_mb
                .map_or("n/a".into(), |m| format!("{m:.0}"))
        );
    }
    Ok(())
}
