//! `kiln bench`: load time, prefill and decode speed (median of several runs), peak memory.
//! Like llama-bench, the prompt is a fixed number of tokens and generation ignores EOS.
//! `--lanes N` decodes N greedy lanes together from one prefill (the temperature lab's path) and
//! reports their aggregate tokens/s; the report also gives the weight bytes each decoded token
//! reads and, with `--bandwidth`, this machine's measured memory read bandwidth to compare.

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
    /// Lanes decoded together in one batch (1: the ordinary generation loop).
    #[arg(long, default_value_t = 1)]
    lanes: usize,
    /// Also measure this machine's memory read bandwidth (a 1 GiB sum per thread count).
    #[arg(long)]
    bandwidth: bool,
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
    lanes: usize,
    /// Bytes of weights the model holds: each decoded step reads them once.
    weight_bytes: usize,
    /// `weight_bytes` × decode steps per second.
    weight_read_gb_s: f64,
    /// Measured memory read bandwidth, GB/s, by thread count (with `--bandwidth`).
    machine_read_gb_s: Vec<(usize, f64)>,
    /// The CPU kernel's instruction-set level.
    cpu_kernel: String,
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
        let (p, d) = if a.lanes > 1 {
            block_on(lanes(&engine, &req, a.lanes))?
        } else {
            let g = block_on(engine.generate(&req, &mut |_| ControlFlow::Continue(())))?;
            (g.timings.prefill_tok_s(), g.timings.decode_tok_s())
        };
        pre.push(p);
        dec.push(d);
    }
    let d = engine.device();
    let weight_bytes = engine.weight_stats().bytes;
    let decode = median(dec.clone());
    let steps_s = decode / a.lanes.max(1) as f64;
    let report = Report {
        model: engine.info().file.clone(),
        device: d.name.clone(),
        backend: d.backend.clone(),
        runs: pre.len(),
        prompt_tokens: a.prompt_tokens,
        gen_tokens: a.gen_tokens,
        load_ms,
        prefill_tok_s: median(pre.clone()),
        decode_tok_s: decode,
        prefill_tok_s_runs: pre,
        decode_tok_s_runs: dec,
        peak_rss_mb: peak_rss_mb(),
        lanes: a.lanes.max(1),
        weight_bytes,
        weight_read_gb_s: weight_bytes as f64 * steps_s / 1e9,
        machine_read_gb_s: if a.bandwidth {
            read_bandwidth()
        } else {
            Vec::new()
        },
        cpu_kernel: kiln_engine::cpu_kernel_level().to_string(),
    };
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "| model | device | lanes | load ms | pp{} tok/s | tg{} tok/s | weights GB/s | peak RSS MB |",
            a.prompt_tokens, a.gen_tokens
        );
        println!("|---|---|---:|---:|---:|---:|---:|---:|");
        println!(
            "| {} | {} [{}, {}] | {} | {:.0} | {:.1} | {:.1} | {:.2} | {} |",
            report.model,
            report.device,
            report.backend,
            report.cpu_kernel,
            report.lanes,
            report.load_ms,
            report.prefill_tok_s,
            report.decode_tok_s,
            report.weight_read_gb_s,
            report
                .peak_rss_mb
                .map_or("n/a".into(), |m| format!("{m:.0}"))
        );
        for (t, gb) in &report.machine_read_gb_s {
            println!("memory read bandwidth, {t} thread(s): {gb:.1} GB/s");
        }
    }
    Ok(())
}

/// `n` greedy lanes of the same prompt decoded together, the temperature lab's way
/// ([`kiln_engine::Engine::generate_lanes`]: the prompt prefilled once, its cache shared, one
/// forward for all lanes per step). Returns (prefill tokens/s of the one prefill, decode tokens/s
/// over all lanes).
async fn lanes(
    engine: &kiln_engine::Engine,
    req: &GenerateRequest,
    n: usize,
) -> Result<(f64, f64)> {
    let gens = engine
        .generate_lanes(req, &vec![req.sampling.clone(); n], &mut |_, _| {
            ControlFlow::Continue(())
        })
        .await?;
    let first = gens
        .first()
        .ok_or_else(|| anyhow::anyhow!("no lanes came back"))?;
    // Every lane runs to the token limit (EOS ignored), so all end on the same step.
    let decode_ms = gens.iter().map(|g| g.timings.decode_ms).fold(0.0, f64::max);
    let steps: usize = gens
        .iter()
        .map(|g| g.timings.generated_tokens.saturating_sub(1))
        .sum();
    Ok((
        first.timings.prefill_tok_s(),
        steps as f64 * 1000.0 / decode_ms.max(1e-9),
    ))
}

/// Memory read bandwidth (the engine's optimised summation), by thread count: 1 and all cores.
fn read_bandwidth() -> Vec<(usize, f64)> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    [1, cores]
        .into_iter()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .map(|t| (t, kiln_engine::memory_read_gb_s(t)))
        .collect()
}
