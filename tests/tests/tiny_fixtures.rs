//! Tiny random checkpoints (scripts/make_fixtures.py) against an independent float64 numpy
//! forward written from Hugging Face's modeling_llama.py / modeling_qwen2.py equations.
//!
//! Tolerance: max |ours − reference| ≤ 1e-4 × the reference's logit scale (max |logit|), for
//! f32-exact files and for quantized files against the reference computed from the same
//! dequantized weights. Argmax must agree at every position. Greedy continuations must agree.

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests stop on a failed fixture read

use std::ops::ControlFlow;
use std::path::Path;

use futures_lite::future::block_on;
use kiln_engine::{DeviceChoice, Engine, GenerateRequest, Prompt, SamplingParams};
use kiln_tests::{argmax, fixtures, load, max_abs_diff, read_model};
use serde::Deserialize;

const REL_TOL: f32 = 1e-4;

#[derive(Deserialize)]
struct Reference {
    token_ids: Vec<u32>,
    files: Vec<String>,
    logits_f32: Vec<Vec<f32>>,
    argmax_f32: Vec<usize>,
    greedy_continuation: Vec<u32>,
    logits_by_gguf_type: std::collections::BTreeMap<String, Vec<Vec<f32>>>,
    argmax_by_gguf_type: std::collections::BTreeMap<String, Vec<usize>>,
    tokenizer: TokenizerRef,
}

#[derive(Deserialize)]
struct TokenizerRef {
    cases: Vec<TokCase>,
    chat: ChatRef,
}

#[derive(Deserialize)]
struct TokCase {
    text: String,
    ids: Vec<u32>,
}

#[derive(Deserialize)]
struct ChatRef {
    messages: Vec<kiln_engine::Message>,
    rendered: String,
}

fn reference(model: &str) -> Reference {
    let p = fixtures().join("tiny").join(model).join("reference.json");
    serde_json::from_slice(&std::fs::read(&p).expect("reference.json"))
        .expect("valid reference.json")
}

/// The model variants a reference covers: HF directories and GGUF files.
fn variants(r: &Reference) -> Vec<String> {
    let mut v: Vec<String> = r
        .files
        .iter()
        .filter_map(|f| {
            if f.ends_with(".gguf") {
                Some(f.clone())
            } else {
                f.split_once('/').map(|(d, _)| d.to_string())
            }
        })
        .collect();
    v.sort();
    v.dedup();
    v
}

/// Which reference logits a variant must match: quantized GGUF files have their own.
fn expected<'a>(r: &'a Reference, variant: &str) -> (&'a [Vec<f32>], &'a [usize]) {
    for (ty, logits) in &r.logits_by_gguf_type {
        if variant.ends_with(&format!("-{ty}.gguf")) {
            return (logits, &r.argmax_by_gguf_type[ty]);
        }
    }
    (&r.logits_f32, &r.argmax_f32)
}

fn check_logits(engine: &Engine, r: &Reference, variant: &str) {
    let ours = block_on(engine.all_logits(&r.token_ids)).expect("forward");
    let (want, want_argmax) = expected(r, variant);
    assert_eq!(ours.len(), want.len(), "{variant}: positions");
    for (pos, (o, w)) in ours.iter().zip(want).enumerate() {
        let scale = w.iter().fold(0.0f32, |m, x| m.max(x.abs()));
        let diff = max_abs_diff(o, w);
        assert!(
            diff <= REL_TOL * scale,
            "{variant} pos {pos}: max abs diff {diff} > {REL_TOL} × scale {scale}"
        );
        assert_eq!(argmax(o), want_argmax[pos], "{variant} pos {pos}: argmax");
    }
}

fn check_greedy(engine: &Engine, r: &Reference, variant: &str) {
    let req = GenerateRequest {
        prompt: Prompt::Tokens(r.token_ids.clone()),
        sampling: SamplingParams::greedy(),
        max_tokens: r.greedy_continuation.len(),
        stop: vec![],
        ignore_eos: true,
        stop_on_repetition: false,
    };
    let g = block_on(engine.generate(&req, &mut |_| ControlFlow::Continue(()))).expect("generate");
    assert_eq!(
        g.tokens, r.greedy_continuation,
        "{variant}: greedy continuation (KV cache path)"
    );
}

fn run_model(model: &str, device: DeviceChoice) {
    let r = reference(model);
    let dir = fixtures().join("tiny").join(model);
    for variant in variants(&r) {
        let engine = load(&read_model(&dir.join(&variant)), device)
            .unwrap_or_else(|e| panic!("{model}/{variant}: {e}"));
        // Quantized GGUFs run on host rows (kiln-shaders' kernels), the rest on burn tensors.
        if device == DeviceChoice::Cpu {
            assert_eq!(
                engine.on_host(),
                variant.contains("-Q"),
                "{model}/{variant}: path"
            );
        }
        check_logits(&engine, &r, &variant);
        if !variant.contains("-Q") {
            check_greedy(&engine, &r, &variant);
        }
        eprintln!("{model}/{variant} on {}: ok", engine.device().name);
    }
}

#[test]
fn llama_gqa_matches_reference_in_every_format() {
    run_model("llama_gqa", DeviceChoice::Cpu);
}

#[test]
fn qwen2_bias_matches_reference_in_every_format() {
    run_model("qwen2_bias", DeviceChoice::Cpu);
}

#[test]
fn llama3_rope_scaling_matches_reference() {
    run_model("llama3_rope", DeviceChoice::Cpu);
}

#[test]
fn tokenizer_from_gguf_and_from_tokenizer_json_match_the_reference_ids() {
    for model in ["llama_gqa", "qwen2_bias"] {
        let r = reference(model);
        let dir = fixtures().join("tiny").join(model);
        for source in ["hf", "gguf/model-Q8_0.gguf"] {
            let path = dir.join(source);
            if !Path::new(&path).exists() {
                continue;
            }
            let tok = Engine::load_tokenizer(&read_model(&path)).expect("tokenizer");
            for case in &r.tokenizer.cases {
                assert_eq!(
                    tok.encode_plain(&case.text).expect("encode"),
                    case.ids,
                    "{model}/{source}: {:?}",
                    case.text
                );
                assert_eq!(
                    tok.decode(&case.ids)
                        .expect("decode")
                        .replace("<|im_start|>", "")
                        .replace("<|im_end|>", ""),
                    case.text
                        .replace("<|im_start|>", "")
                        .replace("<|im_end|>", ""),
                    "{model}/{source}: round trip"
                );
            }
        }
    }
}

#[test]
fn chat_template_renders_like_jinja2() {
    let r = reference("llama_gqa");
    for source in ["hf", "gguf/model-F32.gguf"] {
        let files = read_model(&fixtures().join("tiny/llama_gqa").join(source));
        let info = Engine::inspect(&files).expect("inspect");
        let src = info.chat_template.expect("template");
        let t =
            kiln_engine::ChatTemplate::new(&src, "<|im_start|>", "<|im_end|>").expect("compiles");
        assert_eq!(
            t.render(&r.tokenizer.chat.messages, true).expect("renders"),
            r.tokenizer.chat.rendered,
            "{source}"
        );
    }
}

/// CPU vs wgpu (lavapipe natively): the same references hold on the GPU backend.
#[test]
fn wgpu_matches_reference_too() {
    if kiln_tests::gpu_unavailable() {
        return;
    }
    for model in ["llama_gqa", "qwen2_bias"] {
        run_model(model, DeviceChoice::Gpu);
    }
}

fn close(a: &[f32], b: &[f32], what: &str) {
    let d = max_abs_diff(a, b);
    assert!(d <= 1e-4, "{what}: max abs diff {d}");
}

/// Lanes in one batch, and forks of one prefilled cache, give what separate runs give — the
/// temperature lab runs its lanes this way.
#[test]
fn batched_lanes_and_forked_caches_match_separate_runs() {
    // F32 runs on burn tensors (a device-side cache); Q8_0 on host rows (a host cache).
    for (file, host) in [("model-F32.gguf", false), ("model-Q8_0.gguf", true)] {
        lanes_and_forks(file, host);
    }
}

fn lanes_and_forks(file: &str, host: bool) {
    let r = reference("llama_gqa");
    let engine = load(
        &read_model(&fixtures().join("tiny/llama_gqa/gguf").join(file)),
        DeviceChoice::Cpu,
    )
    .expect("load");
    assert_eq!(engine.on_host(), host, "{file}: forward path");
    let ids = r.token_ids.clone();
    let other: Vec<u32> = ids.iter().rev().copied().collect();
    let last = |t: &[u32]| {
        block_on(engine.all_logits(t))
            .expect("logits")
            .pop()
            .expect("row")
    };

    let mut cache = engine.new_cache();
    let rows = block_on(engine.step(&[ids.clone(), other.clone()], &mut cache)).expect("batch");
    close(&rows[0], &last(&ids), "lane 0");
    close(&rows[1], &last(&other), "lane 1");
    let err =
        block_on(engine.step(&[vec![5]], &mut cache)).expect_err("lane count must match the cache");
    assert_eq!(
        err.to_string(),
        "invalid parameter `lanes` = 1: as many lanes as the cache was filled with"
    );

    let mut base = engine.new_cache();
    block_on(engine.step(&[ids[..4].to_vec()], &mut base)).expect("prefill");
    let (mut a, mut b) = (base.fork(), base.fork());
    let ra = block_on(engine.step(&[ids[4..].to_vec()], &mut a)).expect("fork a");
    let rb = block_on(engine.step(&[other[..3].to_vec()], &mut b)).expect("fork b");
    close(&ra[0], &last(&ids), &format!("{file}: fork a"));
    let mut joined = ids[..4].to_vec();
    joined.extend(&other[..3]);
    close(&rb[0], &last(&joined), "fork b");
    assert_eq!(
        (base.len(), a.len(), b.len()),
        (4, ids.len(), 7),
        "{file}: forks do not touch the base"
    );
    // The base still extends after being forked, as if it had never been.
    let rc = block_on(engine.step(&[ids[4..6].to_vec()], &mut base)).expect("base again");
    close(&rc[0], &last(&ids[..6]), "base after forks");
}

/// `generate_lanes` (one prefill, every lane decoded in one batch, finished lanes leaving it)
/// gives each lane exactly what `generate` gives it alone — on host rows and on burn tensors.
#[test]
fn lanes_decoded_together_give_what_each_gives_alone() {
    for (file, host) in [("model-Q8_0.gguf", true), ("model-F32.gguf", false)] {
        let r = reference("llama_gqa");
        let engine = load(
            &read_model(&fixtures().join("tiny/llama_gqa/gguf").join(file)),
            DeviceChoice::Cpu,
        )
        .expect("load");
        assert_eq!(engine.on_host(), host, "{file}: forward path");
        let req = GenerateRequest {
            prompt: Prompt::Tokens(r.token_ids[..5].to_vec()),
            sampling: SamplingParams::greedy(),
            max_tokens: 12,
            stop: vec![],
            ignore_eos: true,
            stop_on_repetition: false,
        };
        // Greedy twice, then sampled lanes at several temperatures and seeds.
        let lanes: Vec<SamplingParams> = [(0.0, 0), (0.0, 1), (0.7, 3), (1.0, 4), (1.5, 5)]
            .into_iter()
            .map(|(temperature, seed)| SamplingParams {
                temperature,
                seed,
                ..SamplingParams::greedy()
            })
            .collect();
        let mut events = vec![0usize; lanes.len()];
        let together = block_on(engine.generate_lanes(&req, &lanes, &mut |l, _| {
            events[l] += 1;
            ControlFlow::Continue(())
        }))
        .expect("lanes");
        assert_eq!(together.len(), lanes.len());
        assert!(
            events.iter().all(|&n| n > 12),
            "{file}: every lane streamed: {events:?}"
        );
        for (i, (sampling, got)) in lanes.iter().zip(&together).enumerate() {
            let alone_req = GenerateRequest {
                sampling: sampling.clone(),
                ..req.clone()
            };
            let alone = block_on(engine.generate(&alone_req, &mut |_| ControlFlow::Continue(())))
                .expect("alone");
            assert_eq!(
                got.tokens, alone.tokens,
                "{file}: lane {i} batched vs alone"
            );
            assert_eq!(got.tokens.len(), 12, "{file}: lane {i}");
            assert_eq!(got.token_probs.len(), 12);
        }
        assert_eq!(
            together[0].tokens, together[1].tokens,
            "{file}: greedy lanes agree"
        );
        assert!(
            together[2..].iter().any(|g| g.tokens != together[0].tokens),
            "{file}: sampled lanes leave the greedy path"
        );

        // Lanes that end at different steps leave the batch; the rest go on unchanged.
        // The lab's batch-invariance check: exact on host rows; within f32 noise on tensors.
        let inv = block_on(engine.batch_invariance(&req.prompt, 5, 10)).expect("invariance");
        assert!(inv.same_tokens && inv.steps == 10, "{file}: {inv:?}");
        let bound = if host { 0.0 } else { 1e-4 };
        assert!(inv.max_abs_logit_diff <= bound, "{file}: {inv:?}");

        // Lanes ended at different steps (cancelled after their own count) leave the batch.
        let limits = [3usize, 9, 7];
        let mut seen = [0usize; 3];
        let cut = block_on(engine.generate_lanes(&req, &lanes[..3], &mut |l, e| {
            if matches!(e, kiln_engine::Event::Token { .. }) {
                seen[l] += 1;
                if seen[l] > limits[l] {
                    return ControlFlow::Break(());
                }
            }
            ControlFlow::Continue(())
        }))
        .expect("lanes leaving");
        for (l, g) in cut.iter().enumerate() {
            assert_eq!(g.finish, kiln_engine::Finish::Cancelled, "{file}: lane {l}");
            let want = &together[l].tokens[..=limits[l]];
            assert_eq!(g.tokens, want, "{file}: lane {l} after others left");
        }
    }
}

/// Multi-byte characters split over byte tokens come out whole, never as U+FFFD.
#[test]
fn streaming_decode_never_emits_broken_utf8() {
    let tok = Engine::load_tokenizer(&read_model(&fixtures().join("tiny/llama_gqa/hf")))
        .expect("tokenizer");
    for text in ["café naïve", "🦀 crab", "日本語"] {
        let ids = tok.encode_plain(text).expect("encode");
        assert!(
            ids.len() > text.chars().count() / 2,
            "{text}: byte-level tokens expected"
        );
        let mut dec = kiln_engine::StreamDecoder::default();
        let mut pieces = Vec::new();
        for &id in &ids {
            if let Some(p) = dec.push(&tok, id).expect("push") {
                pieces.push(p);
            }
        }
        pieces.push(dec.flush(&tok).expect("flush"));
        assert!(
            pieces.iter().all(|p| !p.contains('\u{FFFD}')),
            "{text}: {pieces:?}"
        );
        assert_eq!(pieces.concat(), text);
    }
    // A sequence cut off mid-character is dropped at the end, not emitted broken.
    let ids = tok.encode_plain("🦀").expect("encode");
    let mut dec = kiln_engine::StreamDecoder::default();
    for &id in &ids[..ids.len() - 1] {
        assert_eq!(dec.push(&tok, id).expect("push"), None);
    }
    assert_eq!(dec.flush(&tok).expect("flush"), "");
}
