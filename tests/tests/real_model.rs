//! The real default model (SmolLM2-135M-Instruct Q4_1) against llama.cpp: prompt tokenization,
//! the first 32 greedy tokens, and the tokenization of a varied sample. The reference ids were
//! produced by scripts/llama_reference.sh (llama.cpp built from source) and are committed under
//! tests/fixtures/llama_cpp/. Also CPU vs wgpu (lavapipe) on the same model.

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests stop on a failed fixture read

use std::ops::ControlFlow;

use futures_lite::future::block_on;
use kiln_engine::post::{RepeatRule, repeated_tail};
use kiln_engine::{
    Activations, DeviceChoice, Engine, GenerateRequest, LoadOptions, Message, Prompt,
    SamplingParams,
};
use kiln_tests::{argmax, default_model, fixtures, load, max_abs_diff, read_model};
use serde::Deserialize;

#[derive(Clone, Deserialize)]
struct PromptCase {
    id: String,
    mode: String,
    text: String,
}

#[derive(Clone, Deserialize)]
struct Greedy {
    id: String,
    rendered: String,
    prompt_tokens: Vec<u32>,
    greedy: Vec<u32>,
    top5: Vec<Vec<(u32, f32)>>,
}

#[derive(Deserialize)]
struct TokenizeRef {
    ids: Vec<u32>,
}

fn lines<T: for<'de> Deserialize<'de>>(name: &str) -> Vec<T> {
    let text =
        std::fs::read_to_string(fixtures().join("llama_cpp").join(name)).expect("reference file");
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("valid JSON line"))
        .collect()
}

fn cases() -> Vec<(PromptCase, Greedy)> {
    let prompts: Vec<PromptCase> = lines("prompts.jsonl");
    let greedy: Vec<Greedy> = lines("greedy.jsonl");
    assert!(prompts.len() >= 6, "at least 6 reference prompts");
    prompts
        .into_iter()
        .map(|p| {
            let g = greedy
                .iter()
                .find(|g| g.id == p.id)
                .unwrap_or_else(|| panic!("no reference for {}", p.id));
            (
                p,
                Greedy {
                    id: g.id.clone(),
                    rendered: g.rendered.clone(),
                    prompt_tokens: g.prompt_tokens.clone(),
                    greedy: g.greedy.clone(),
                    top5: g.top5.clone(),
                },
            )
        })
        .collect()
}

fn prompt_of(p: &PromptCase) -> Prompt {
    match p.mode.as_str() {
        "chat" => Prompt::Chat(vec![Message::user(p.text.clone())]),
        _ => Prompt::Raw(p.text.clone()),
    }
}

fn greedy_tokens(engine: &Engine, p: &PromptCase, n: usize) -> Vec<u32> {
    let req = GenerateRequest {
        prompt: prompt_of(p),
        sampling: SamplingParams::greedy(),
        max_tokens: n,
        stop: vec![],
        ignore_eos: false,
        stop_on_repetition: false,
    };
    block_on(engine.generate(&req, &mut |_| ControlFlow::Continue(())))
        .expect("generate")
        .tokens
}

#[test]
fn prompts_render_and_tokenize_like_llama_cpp() {
    let Some(path) = default_model() else { return };
    let files = read_model(&path);
    let info = Engine::inspect(&files).expect("inspect");
    let tok = Engine::load_tokenizer(&files).expect("tokenizer");
    let template = info
        .chat_template
        .expect("the default model has a chat template");
    let chat = kiln_engine::ChatTemplate::new(&template, "", "").expect("template compiles");
    for (p, g) in cases() {
        if p.mode == "chat" {
            assert_eq!(
                chat.render(&[Message::user(p.text.clone())], true)
                    .expect("render"),
                g.rendered,
                "{}: rendered prompt",
                p.id
            );
        } else {
            assert_eq!(p.text, g.rendered, "{}: raw prompt", p.id);
        }
        assert_eq!(
            tok.encode(&g.rendered).expect("encode"),
            g.prompt_tokens,
            "{}: prompt tokens",
            p.id
        );
    }
}

#[test]
fn sample_text_tokenizes_like_llama_cpp() {
    let Some(path) = default_model() else { return };
    let tok = Engine::load_tokenizer(&read_model(&path)).expect("tokenizer");
    let text =
        std::fs::read_to_string(fixtures().join("llama_cpp/tokenize_sample.txt")).expect("sample");
    let want: TokenizeRef = serde_json::from_slice(
        &std::fs::read(fixtures().join("llama_cpp/tokenize_sample.json")).expect("ids"),
    )
    .expect("json");
    let ours = tok.encode_plain(&text).expect("encode");
    let first_diff = ours.iter().zip(&want.ids).position(|(a, b)| a != b);
    assert_eq!(ours, want.ids, "first difference at {first_diff:?}");
}

#[derive(Deserialize)]
struct ExactRef {
    cases: Vec<ExactCase>,
}

#[derive(Deserialize)]
struct ExactCase {
    id: String,
    tokens: Vec<u32>,
    first_position: usize,
    steps: Vec<ExactStep>,
}

#[derive(Deserialize)]
struct ExactStep {
    top10: Vec<(u32, f32)>,
}

/// Exact math: a float64 numpy forward (HF equations, gguf-py dequantisation) on the same GGUF,
/// scripts/real_model_reference.py. Our f32 logits of its top-10 ids agree within 5e-4 and the
/// argmax is the same at every step — on the CPU and on wgpu.
fn check_exact(engine: &Engine) {
    let r: ExactRef = serde_json::from_slice(
        &std::fs::read(fixtures().join("real_numpy/reference.json")).expect("reference"),
    )
    .expect("json");
    let mut worst = 0.0f32;
    for c in &r.cases {
        let prompt = &c.tokens[..=c.first_position];
        let rows = block_on(engine.decode_logits(prompt, &c.tokens[c.first_position + 1..]))
            .expect("decode");
        for (j, (row, step)) in rows.iter().zip(&c.steps).enumerate() {
            for &(id, want) in &step.top10 {
                let d = (row[id as usize] - want).abs();
                worst = worst.max(d);
                assert!(
                    d <= 5e-4,
                    "{} step {j}: token {id}: {} vs exact {want}",
                    c.id,
                    row[id as usize]
                );
            }
            assert_eq!(
                argmax(row) as u32,
                step.top10[0].0,
                "{} step {j}: argmax",
                c.id
            );
        }
    }
    eprintln!(
        "{}: max |Δ| vs exact float64 reference over top-10 logits: {worst:.2e}",
        engine.device().name
    );
}

#[test]
fn logits_match_exact_math_on_cpu() {
    let Some(path) = default_model() else { return };
    check_exact(&load(&read_model(&path), DeviceChoice::Cpu).expect("load"));
}

#[test]
fn logits_match_exact_math_on_wgpu() {
    let Some(path) = default_model() else { return };
    if kiln_tests::gpu_unavailable() {
        return;
    }
    check_exact(&load(&read_model(&path), DeviceChoice::Gpu).expect("load"));
}

/// llama.cpp's CPU mat-muls quantise activations to 8 bits (Q8_1 / Q8_0) against Q4_1 / Q8_0
/// weights; kiln multiplies in f32. Its logits therefore carry a quantisation noise of a few
/// tenths of a logit around ours (measured on these 28 prompts × up to 32 steps: mean |Δ| ≈ 0.2,
/// max ≈ 1.3 over llama.cpp's top-5 ids); a token where llama.cpp's own top-2 gap is inside
/// that band is a coin toss for any implementation that does not replicate ggml bit for bit.
const LOGIT_MAX_DIFF: f32 = 1.5;
const LOGIT_MEAN_DIFF: f32 = 0.3;
/// [`LOGIT_MAX_DIFF`] for the 8-bit activation path.
const Q8_LOGIT_MAX_DIFF: f32 = 3.0;
/// Above this top-2 gap in llama.cpp's logits, its token is not a near-tie and must be ours.
const DECISIVE_GAP: f32 = 1.0;
/// Prompts whose greedy tokens must be identical to llama.cpp's over all 32 tokens (or to EOS).
const MIN_IDENTICAL: usize = 6;

/// Teacher-forced on llama.cpp's own tokens: at every step of every prompt, llama.cpp's five
/// largest logits agree with ours (max and mean bounds above), and our argmax is llama.cpp's
/// token whenever its top-2 gap exceeds `DECISIVE_GAP`. Then free-running: our greedy tokens
/// equal llama.cpp's, all of them or up to a step that is a near-tie in llama.cpp's logits;
/// and all of them for at least `MIN_IDENTICAL` prompts, raw and chat, code and prose among
/// them. The prompt set is every prompt ever tried (none is dropped for diverging).
#[test]
fn logits_and_greedy_tokens_match_llama_cpp_on_cpu() {
    let Some(path) = default_model() else { return };
    let engine = load(&read_model(&path), DeviceChoice::Cpu).expect("load");
    against_llama_cpp(&engine, "f32 activations", LOGIT_MAX_DIFF);
}

/// The opt-in 8-bit activation path: held to the same thresholds against llama.cpp (which also
/// quantizes activations to 8 bits), and how far its logits move from the f32 path's is
/// reported and bounded.
#[test]
fn the_8bit_activation_path_matches_llama_cpp_too() {
    let Some(path) = default_model() else { return };
    let files = read_model(&path);
    let q8 = load_with(&files, Activations::Q8);
    let f32 = load(&files, DeviceChoice::Cpu).expect("load");
    assert!(q8.on_host() && f32.on_host());
    // Rounding activations to 8 bits moves single logits further from llama.cpp's (which rounds
    // them too, but differently: f16 KV cache, its own rounding): 2.5 at worst, on chat_capital
    // step 5 (measured 2026-12-02), against 1.4 for the f32 path; the mean stays as close.
    against_llama_cpp(&q8, "8-bit activations", Q8_LOGIT_MAX_DIFF);
    let (mut worst, mut sum, mut n, mut same_argmax, mut rows_seen) = (0.0f32, 0.0f32, 0, 0, 0);
    for (_, g) in cases().iter().take(8) {
        let then = &g.greedy[..g.greedy.len() - 1];
        let a = block_on(f32.decode_logits(&g.prompt_tokens, then)).expect("f32 decode");
        let b = block_on(q8.decode_logits(&g.prompt_tokens, then)).expect("q8 decode");
        for (ra, rb) in a.iter().zip(&b) {
            let mut top: Vec<usize> = (0..ra.len()).collect();
            top.sort_by(|&i, &j| ra[j].total_cmp(&ra[i]));
            for &id in &top[..10] {
                let d = (ra[id] - rb[id]).abs();
                worst = worst.max(d);
                sum += d;
                n += 1;
            }
            same_argmax += usize::from(argmax(ra) == argmax(rb));
            rows_seen += 1;
        }
    }
    let mean = sum / n as f32;
    eprintln!(
        "8-bit vs f32 activations over {rows_seen} decode steps of 8 prompts: top-10 logit |Δ| mean {mean:.3}, max {worst:.3}; same argmax at {same_argmax} of {rows_seen}"
    );
    // Measured 2026-12-02: mean 0.214, max 1.52, the same argmax at 245 of 253 steps.
    assert!(
        mean <= 0.3 && worst <= 3.0,
        "8-bit path moved the logits by {mean} (mean), {worst} (max)"
    );
}

fn load_with(files: &kiln_engine::ModelFiles, activations: Activations) -> Engine {
    let opts = LoadOptions {
        device: DeviceChoice::Cpu,
        activations,
        ..LoadOptions::default()
    };
    block_on(Engine::load(files, &opts, &mut |_, _| {})).expect("load")
}

/// The greedy and teacher-forced comparison with llama.cpp's committed tokens and logits.
fn against_llama_cpp(engine: &Engine, label: &str, max_diff: f32) {
    eprintln!("== {label}");
    let (mut worst, mut sum, mut n, mut steps, mut decisive) = (0.0f32, 0.0f32, 0, 0, 0);
    let mut identical: Vec<String> = Vec::new();
    let cases = cases();
    for (p, g) in &cases {
        let (p, g) = (p.clone(), g.clone());
        let rows =
            block_on(engine.decode_logits(&g.prompt_tokens, &g.greedy[..g.greedy.len() - 1]))
                .expect("decode");
        for (i, (row, top)) in rows.iter().zip(&g.top5).enumerate() {
            for &(id, logit) in top {
                let d = (row[id as usize] - logit).abs();
                worst = worst.max(d);
                sum += d;
                n += 1;
                assert!(
                    d <= max_diff,
                    "{} step {i}: token {id} logit {} vs llama.cpp {logit}",
                    p.id,
                    row[id as usize]
                );
            }
            if top[0].1 - top[1].1 > DECISIVE_GAP {
                assert_eq!(
                    argmax(row) as u32,
                    g.greedy[i],
                    "{} step {i}: argmax (llama.cpp gap {})",
                    p.id,
                    top[0].1 - top[1].1
                );
                decisive += 1;
            }
            steps += 1;
        }
        let ours = greedy_tokens(engine, &p, 32);
        let want: Vec<u32> = g
            .greedy
            .iter()
            .copied()
            .filter(|&t| !engine.tokenizer().is_eog(t))
            .collect();
        let same = ours.iter().zip(&want).take_while(|(a, b)| a == b).count();
        if same == want.len() && (ours.len() == want.len() || want.len() == 32) {
            identical.push(p.id.clone());
            eprintln!(
                "{}: all {} greedy tokens identical to llama.cpp",
                p.id,
                want.len()
            );
        } else {
            let gap = g.top5[same][0].1 - g.top5[same][1].1;
            eprintln!(
                "{}: first {same} greedy tokens identical; step {same} is a near-tie in llama.cpp (top-2 gap {gap:.3})",
                p.id
            );
            assert!(
                gap <= DECISIVE_GAP,
                "{}: diverged at step {same} where llama.cpp's gap is {gap}",
                p.id
            );
        }
    }
    let mean = sum / n as f32;
    eprintln!(
        "{}/{} prompts identical over all tokens ({}); teacher-forced: argmax = llama.cpp's token at all {decisive} of {steps} steps with a gap > {DECISIVE_GAP}; top-5 logit |Δ| mean {mean:.3}, max {worst:.3}",
        identical.len(),
        cases.len(),
        identical.join(", ")
    );
    assert!(
        identical.len() >= MIN_IDENTICAL,
        "only {} prompts fully identical to llama.cpp: {identical:?}",
        identical.len()
    );
    for kind in ["raw_", "chat_"] {
        assert!(
            identical.iter().any(|id| id.starts_with(kind)),
            "no {kind}* prompt fully identical: {identical:?}"
        );
    }
    assert!(
        mean <= LOGIT_MEAN_DIFF,
        "mean top-5 logit difference {mean}"
    );
}

/// wgpu on lavapipe vs the CPU backend: last-position logits within 1e-3 × logit scale after
/// the prompt, and identical greedy tokens for two prompts (lavapipe is slow; two suffice to
/// exercise prefill, decode and the cache).
#[test]
fn wgpu_agrees_with_cpu_on_the_real_model() {
    let Some(path) = default_model() else { return };
    if kiln_tests::gpu_unavailable() {
        return;
    }
    let files = read_model(&path);
    let cpu = load(&files, DeviceChoice::Cpu).expect("cpu");
    let gpu = load(&files, DeviceChoice::Gpu).expect("wgpu");
    let cases = cases();
    for (p, g) in cases.iter().take(2) {
        let a = block_on(cpu.all_logits(&g.prompt_tokens)).expect("cpu logits");
        let b = block_on(gpu.all_logits(&g.prompt_tokens)).expect("gpu logits");
        let (a, b) = (a.last().expect("rows"), b.last().expect("rows"));
        let scale = a.iter().fold(0.0f32, |m, x| m.max(x.abs()));
        let diff = max_abs_diff(a, b);
        eprintln!(
            "{}: wgpu vs cpu max abs diff {diff:.2e} (scale {scale:.1})",
            p.id
        );
        assert!(diff <= 1e-3 * scale, "{}: {diff} > 1e-3 × {scale}", p.id);
        assert_eq!(argmax(a), argmax(b));
        assert_eq!(
            greedy_tokens(&gpu, p, 16),
            greedy_tokens(&cpu, p, 16),
            "{}: greedy on wgpu vs cpu",
            p.id
        );
    }
}

/// Same seed ⇒ same text; another seed ⇒ different text (T = 1 on the real model).
#[test]
fn sampling_is_deterministic_per_seed() {
    let Some(path) = default_model() else { return };
    let engine = load(&read_model(&path), DeviceChoice::Cpu).expect("load");
    let run = |seed| {
        let sampling = SamplingParams {
            temperature: 1.0,
            seed,
            ..SamplingParams::default()
        };
        let req = GenerateRequest {
            prompt: Prompt::Chat(vec![Message::user("Write a haiku about compilers.")]),
            sampling,
            max_tokens: 24,
            stop: vec![],
            ignore_eos: false,
            stop_on_repetition: false,
        };
        block_on(engine.generate(&req, &mut |_| ControlFlow::Continue(())))
            .expect("generate")
            .text
    };
    let a = run(7);
    assert_eq!(a, run(7), "same seed");
    assert_ne!(a, run(8), "different seed");
}

/// Stop strings cut the text before the stop string, even when it spans tokens; cancellation
/// ends the run with its own finish reason.
#[test]
fn stop_strings_and_cancellation() {
    let Some(path) = default_model() else { return };
    let engine = load(&read_model(&path), DeviceChoice::Cpu).expect("load");
    let prompt = Prompt::Raw("def fibonacci(n):".into());
    let full = {
        let req = GenerateRequest {
            prompt: prompt.clone(),
            sampling: SamplingParams::greedy(),
            max_tokens: 40,
            stop: vec![],
            ignore_eos: false,
            stop_on_repetition: false,
        };
        block_on(engine.generate(&req, &mut |_| ControlFlow::Continue(())))
            .expect("generate")
            .text
    };
    // A stop string made of the middle of the output, likely spanning a token boundary.
    let stop: String = full.chars().skip(6).take(5).collect();
    let cut = full.find(&stop).expect("stop occurs");
    let req = GenerateRequest {
        prompt: prompt.clone(),
        sampling: SamplingParams::greedy(),
        max_tokens: 40,
        stop: vec![stop.clone()],
        ignore_eos: false,
        stop_on_repetition: false,
    };
    let mut streamed = String::new();
    let g = block_on(engine.generate(&req, &mut |ev| {
        if let kiln_engine::Event::Text { text } = ev {
            streamed.push_str(&text);
        }
        ControlFlow::Continue(())
    }))
    .expect("generate");
    assert_eq!(g.finish, kiln_engine::Finish::Stop);
    assert_eq!(g.text, full[..cut], "stop {stop:?}");
    assert_eq!(
        streamed, g.text,
        "nothing past the stop string was streamed"
    );

    let mut n = 0;
    let req = GenerateRequest {
        prompt,
        sampling: SamplingParams::greedy(),
        max_tokens: 40,
        stop: vec![],
        ignore_eos: false,
        stop_on_repetition: false,
    };
    let g = block_on(engine.generate(&req, &mut |ev| {
        if matches!(ev, kiln_engine::Event::Token { .. }) {
            n += 1;
        }
        if n == 3 {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }))
    .expect("generate");
    assert_eq!(g.finish, kiln_engine::Finish::Cancelled);
    assert_eq!(g.tokens.len(), 3);
}

/// The README's old main job (`--chat --temp 0 -n 200` on the prime prompt) spent its whole
/// budget repeating one `if … return False` line. With the repetition stop the same greedy run
/// ends as soon as the repetition is certain, on the same tokens up to there.
#[test]
fn a_greedy_run_that_degenerates_stops_on_repetition() {
    let Some(path) = default_model() else { return };
    let engine = load(&read_model(&path), DeviceChoice::Cpu).expect("load");
    let run = |stop_on_repetition| {
        let req = GenerateRequest {
            prompt: Prompt::Chat(vec![Message::user(
                "Write a Python function that checks whether a number is prime.",
            )]),
            sampling: SamplingParams::greedy(),
            max_tokens: 200,
            stop: vec![],
            ignore_eos: false,
            stop_on_repetition,
        };
        block_on(engine.generate(&req, &mut |_| ControlFlow::Continue(()))).expect("generate")
    };
    let free = run(false);
    let guarded = run(true);
    // Without the guard the model really does loop: its complete lines end in a repetition.
    let complete = &free.text[..free.text.rfind('\n').unwrap_or(0)];
    let lines: Vec<&str> = complete.lines().collect();
    assert!(
        repeated_tail(&lines, RepeatRule::STOP).is_some(),
        "the model no longer degenerates here:\n{}",
        free.text
    );
    assert_eq!(free.finish, kiln_engine::Finish::MaxTokens);
    assert_eq!(guarded.finish, kiln_engine::Finish::Repetition);
    assert!(guarded.tokens.len() < free.tokens.len());
    assert!(free.tokens.starts_with(&guarded.tokens));
}

/// The lab on the real model: 3 temperatures × 2 samples decoded together give every lane the
/// tokens it gives alone (same temperature and seed); the T = 0 lanes equal each other and plain
/// greedy generation; every metric of the summary is present and within its range.
#[test]
fn lab_lanes_on_the_real_model_match_the_same_lanes_run_alone() {
    use kiln_engine::lab::{LabRequest, Outcome, isolated_sampling, summarize};
    let Some(path) = default_model() else { return };
    let engine = load(&read_model(&path), DeviceChoice::Cpu).expect("load");
    let req = LabRequest {
        request: GenerateRequest {
            prompt: Prompt::Chat(vec![Message::user(
                "Write a Python function that returns the factorial of n.",
            )]),
            sampling: isolated_sampling(11),
            max_tokens: 40,
            stop: vec![],
            ignore_eos: false,
            stop_on_repetition: true,
        },
        temperatures: vec![0.0, 0.7, 1.5],
        samples: 2,
    };
    let mut streamed = [0usize; 6];
    let run = block_on(engine.lab(&req, &mut |l, _| {
        streamed[l] += 1;
        ControlFlow::Continue(())
    }))
    .expect("lab");
    assert_eq!(run.lanes.len(), 6);
    assert!(
        streamed.iter().all(|&n| n > 0),
        "every lane streamed: {streamed:?}"
    );
    for lane in &run.lanes {
        let alone = GenerateRequest {
            sampling: SamplingParams {
                temperature: lane.temperature,
                seed: lane.seed,
                ..req.request.sampling.clone()
            },
            ..req.request.clone()
        };
        let got =
            block_on(engine.generate(&alone, &mut |_| ControlFlow::Continue(()))).expect("alone");
        assert_eq!(
            got.tokens, lane.generation.tokens,
            "T={} sample {}: batched vs alone",
            lane.temperature, lane.sample
        );
        assert_eq!(got.text, lane.generation.text);
    }
    let greedy = GenerateRequest {
        sampling: SamplingParams::greedy(),
        ..req.request.clone()
    };
    let plain =
        block_on(engine.generate(&greedy, &mut |_| ControlFlow::Continue(()))).expect("greedy");
    assert_eq!(
        run.lanes[0].generation.tokens, plain.tokens,
        "T=0 lane vs greedy"
    );
    assert_eq!(
        run.lanes[1].generation.tokens, plain.tokens,
        "T=0 lanes agree"
    );

    let rows = summarize(&run, &[Outcome::Parses; 6], &vec![None; 6], false);
    assert_eq!(rows.len(), 3);
    assert_eq!(
        (
            rows[0].distinct_outputs,
            rows[0].exact_match_rate,
            rows[0].identical_to_greedy
        ),
        (1, Some(1.0), Some(1.0))
    );
    let unit = |x: Option<f64>| x.is_some_and(|x| (0.0..=1.0).contains(&x));
    for r in &rows {
        assert!(
            unit(r.exact_match_rate) && unit(r.identical_to_greedy),
            "{r:?}"
        );
        assert!(r.distinct_n.iter().all(|&d| unit(d)), "{r:?}");
        assert!(unit(r.mean_edit_distance), "{r:?}");
        assert!(r.mean_logprob.is_some_and(|l| l <= 0.0), "{r:?}");
        assert!(r.mean_entropy.is_some_and(|h| h >= 0.0), "{r:?}");
        assert!(
            (1..=2).contains(&r.distinct_outputs) && r.tokens > 0,
            "{r:?}"
        );
        assert!(r.pass_at.is_empty() && r.syntax_error_rate == 0.0, "{r:?}");
    }
    // The greedy path is the most certain: its tokens are more likely than T = 1.5's.
    assert!(rows[0].mean_logprob > rows[2].mean_logprob, "{rows:?}");
}

#[test]
fn requests_joining_a_running_batch_get_the_tokens_they_get_alone() {
    use kiln_engine::Batch;
    let Some(path) = default_model() else { return };
    let engine = load(&read_model(&path), DeviceChoice::Cpu).expect("load");
    let request = |text: &str, seed: u64, temperature: f32| GenerateRequest {
        prompt: Prompt::Raw(text.into()),
        sampling: SamplingParams {
            temperature,
            seed,
            ..SamplingParams::greedy()
        },
        max_tokens: 24,
        stop: vec![],
        ignore_eos: false,
        stop_on_repetition: false,
    };
    // Prompts of different lengths, greedy and sampled, one with two lanes; each joins when
    // the ones before it have decoded a few steps, so every lane sits at its own position.
    let reqs = [
        request("def fibonacci(n):", 1, 0.0),
        request(
            "# A function that reverses a string\ndef reverse(s):",
            2,
            0.8,
        ),
        request("The capital of France is", 3, 0.0),
    ];
    let lanes = [
        vec![reqs[0].sampling.clone()],
        vec![
            reqs[1].sampling.clone(),
            SamplingParams {
                seed: 99,
                ..reqs[1].sampling.clone()
            },
        ],
        vec![reqs[2].sampling.clone()],
    ];
    let mut batch = Batch::new(&engine);
    assert!(batch.can_join());
    let mut got: Vec<Vec<Option<Vec<u32>>>> = lanes.iter().map(|l| vec![None; l.len()]).collect();
    let mut admitted = 0;
    let mut steps = 0;
    while admitted < reqs.len() || !batch.is_empty() {
        if admitted < reqs.len() && steps % 5 == 0 {
            block_on(batch.admit(admitted as u64, &reqs[admitted], &lanes[admitted]))
                .expect("admit");
            admitted += 1;
        }
        for f in block_on(batch.step(&mut |_, _, _| ControlFlow::Continue(()))).expect("step") {
            got[f.tag as usize][f.lane] = Some(f.generation.tokens);
        }
        steps += 1;
    }
    for (r, (req, lanes)) in reqs.iter().zip(&lanes).enumerate() {
        for (l, sampling) in lanes.iter().enumerate() {
            let alone = GenerateRequest {
                sampling: sampling.clone(),
                ..req.clone()
            };
            let want = block_on(engine.generate(&alone, &mut |_| ControlFlow::Continue(())))
                .expect("alone")
                .tokens;
            assert_eq!(got[r][l].as_ref(), Some(&want), "request {r} lane {l}");
        }
    }
    // A refused request changes nothing: the batch still runs what it had.
    let too_long = GenerateRequest {
        prompt: Prompt::Tokens(vec![1; engine.info().n_ctx]),
        ..reqs[0].clone()
    };
    block_on(batch.admit(7, &reqs[0], &lanes[0])).expect("admit");
    assert!(block_on(batch.admit(8, &too_long, &lanes[0])).is_err());
    assert_eq!(batch.len(), 1);
}
