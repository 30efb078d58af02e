//! Long runs stay flat: a generation that fills the default model's context (2,048 tokens in
//! CI, `KILN_LONG_CTX=8192` for the documented run) grows in memory by no more than its KV cache,
//! and its per-token time is printed window by window (measured, not asserted: attention grows
//! with the position by design); 1,000 back-to-back generations and 200 cancelled ones leak no
//! memory (resident set size at the start and the end).

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests stop on a failed fixture read

use std::ops::ControlFlow;
use std::time::Instant;

use futures_lite::future::block_on;
use kiln_engine::{
    DeviceChoice, Engine, Event, GenerateRequest, LoadOptions, Prompt, SamplingParams,
};
use kiln_tests::{default_model, read_model};

/// This process's resident set, in bytes (Linux).
fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

const MB: f64 = 1e6;

fn request(prompt: Prompt, max_tokens: usize, seed: u64) -> GenerateRequest {
    GenerateRequest {
        prompt,
        sampling: SamplingParams {
            seed,
            ..SamplingParams::default()
        },
        max_tokens,
        stop: vec![],
        ignore_eos: true,
        stop_on_repetition: false,
    }
}

#[test]
fn a_generation_that_fills_the_context_grows_only_by_its_cache() {
    let Some(path) = default_model() else {
        return;
    };
    let n_ctx: usize = std::env::var("KILN_LONG_CTX")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2048);
    let files = read_model(&path);
    let engine = block_on(Engine::load(
        &files,
        &LoadOptions {
            device: DeviceChoice::Cpu,
            n_ctx: Some(n_ctx),
            ..LoadOptions::default()
        },
        &mut |_, _| {},
    ))
    .unwrap();
    let c = &engine.info().config;
    // Keys and values of every layer, f32, per position.
    let kv_per_token = c.num_hidden_layers * 2 * c.n_kv_heads() * c.head_dim() * 4;
    let prompt = Prompt::Raw("def fibonacci(n):".into());
    let prompt_len = 8;
    let window = 256;
    let mut marks: Vec<(usize, Instant, u64)> = Vec::new();
    let mut tokens = 0usize;
    let t0 = Instant::now();
    let start_rss = rss();
    let req = request(prompt, n_ctx - prompt_len - 1, 7);
    let generation = block_on(engine.generate(&req, &mut |e| {
        if let Event::Token { .. } = e {
            if tokens.is_multiple_of(window) {
                marks.push((tokens, Instant::now(), rss()));
            }
            tokens += 1;
        }
        ControlFlow::Continue(())
    }))
    .unwrap();
    marks.push((tokens, Instant::now(), rss()));
    eprintln!(
        "filled {} of {n_ctx} positions with {} tokens in {:.1} s ({:?})",
        generation.prompt_tokens.len() + tokens,
        tokens,
        t0.elapsed().as_secs_f64(),
        generation.finish
    );
    eprintln!("tokens      ms/token   RSS MB   RSS − KV written, MB");
    let base = marks[1].2 as f64 - (marks[1].0 * kv_per_token) as f64;
    let mut worst_excess: f64 = 0.0;
    for w in marks.windows(2) {
        let ((n0, t_0, _), (n1, t_1, r1)) = (w[0], w[1]);
        let per = (t_1 - t_0).as_secs_f64() * 1e3 / (n1 - n0).max(1) as f64;
        let excess = r1 as f64 - (n1 * kv_per_token) as f64 - base;
        worst_excess = worst_excess.max(excess);
        eprintln!(
            "{n0:>5}–{n1:<5} {per:>8.2} {:>8.1} {:>10.1}",
            r1 as f64 / MB,
            excess / MB
        );
    }
    assert!(
        tokens + prompt_len >= n_ctx / 2,
        "stopped early at {tokens}"
    );
    // The cache's rows grow by doubling, so up to one cache's worth of capacity is held beyond
    // what was written; anything more is memory that grows with the tokens.
    let slack = (n_ctx * kv_per_token) as f64 + 32.0 * MB;
    assert!(
        worst_excess <= slack,
        "memory grew {:.1} MB beyond the KV cache written (allowed {:.1}); start {:.1} MB",
        worst_excess / MB,
        slack / MB,
        start_rss as f64 / MB
    );
}

#[test]
fn a_thousand_generations_and_two_hundred_cancels_leak_nothing() {
    let engine = kiln_tests::tiny_engine();
    let prompt = || Prompt::Tokens(vec![3, 4, 5]);
    let run = |n: usize, cancel_after: Option<usize>| {
        for i in 0..n {
            let mut seen = 0;
            let req = request(prompt(), 8, i as u64);
            let _ = block_on(engine.generate(&req, &mut |e| {
                if let Event::Token { .. } = e {
                    seen += 1;
                    if cancel_after.is_some_and(|k| seen >= k) {
                        return ControlFlow::Break(());
                    }
                }
                ControlFlow::Continue(())
            }))
            .unwrap();
        }
    };
    // Warm up: the allocator's pools and the engine's buffers reach their steady size.
    run(100, None);
    run(20, Some(2));
    let before = rss();
    let t0 = Instant::now();
    run(1000, None);
    let after_generations = rss();
    run(200, Some(2));
    let after_cancels = rss();
    eprintln!(
        "RSS {:.1} MB → {:.1} MB after 1,000 generations → {:.1} MB after 200 cancels ({:.1} s)",
        before as f64 / MB,
        after_generations as f64 / MB,
        after_cancels as f64 / MB,
        t0.elapsed().as_secs_f64()
    );
    let grew = after_cancels.saturating_sub(before) as f64;
    assert!(
        grew <= 4.0 * MB,
        "resident memory grew {:.1} MB over 1,200 generations",
        grew / MB
    );
}
