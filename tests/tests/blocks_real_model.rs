//! The block decoders (`kiln_shaders::blocks`, the loader's) on every quantized tensor of the
//! real default model, against gguf-py's dequantisation of the same file: a checksum of all
//! values (`scripts/make_block_fixtures.py --model`, committed in tests/fixtures/blocks/); and
//! the loaded model's own accounting: its quantized matrices stay blocks.

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests stop on a failed fixture read

use std::collections::BTreeMap;

use kiln_engine::format::gguf::Gguf;
use kiln_engine::{DeviceChoice, Engine, LoadOptions, WeightMode};
use kiln_tests::{default_model, fixtures, read_model};
use serde::Deserialize;

#[derive(Deserialize)]
struct Sum {
    #[serde(rename = "type")]
    ty: String,
    values: usize,
    checksum: String,
}

/// sum over i of bits(x[i]) * (2i + 1), mod 2^64 — the script's checksum.
fn checksum(xs: &[f32]) -> u64 {
    xs.iter().enumerate().fold(0u64, |acc, (i, x)| {
        acc.wrapping_add(u64::from(x.to_bits()).wrapping_mul(2 * i as u64 + 1))
    })
}

#[test]
fn every_quantized_tensor_of_the_default_model_decodes_as_gguf_py_does() {
    let Some(path) = default_model() else { return };
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    let want: BTreeMap<String, Sum> = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join(format!("blocks/{name}.json"))).expect("sums"),
    )
    .expect("json");
    let bytes = std::fs::read(&path).expect("model");
    let g = Gguf::parse(&name, &bytes).expect("parse");
    let mut checked = 0;
    for (tensor, s) in &want {
        let t = g
            .tensor(tensor)
            .unwrap_or_else(|| panic!("{tensor} missing"));
        assert_eq!(t.ty.name(), s.ty, "{tensor}");
        let x = g.dequantize(&bytes, t).expect("decode");
        assert_eq!(x.len(), s.values, "{tensor}");
        assert_eq!(
            checksum(&x).to_string(),
            s.checksum,
            "{tensor}: values differ from gguf-py's"
        );
        checked += 1;
    }
    // 30 layers × 7 matrices (Q4_1) + the embedding (Q8_0).
    assert_eq!(checked, 211);
}

/// Loads `files` on the CPU with `weights`.
fn load_cpu(files: &kiln_engine::ModelFiles, weights: WeightMode) -> kiln_engine::Engine {
    let opts = LoadOptions {
        device: DeviceChoice::Cpu,
        weights,
        ..LoadOptions::default()
    };
    futures_lite::future::block_on(Engine::load(files, &opts, &mut |_, _| {})).expect("load")
}

#[test]
fn the_loaded_default_model_holds_its_blocks_not_f32() {
    let Some(path) = default_model() else { return };
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    let bytes = std::fs::read(&path).expect("model");
    let tensor_bytes: usize = Gguf::parse(&name, &bytes)
        .expect("parse")
        .tensors
        .iter()
        .map(|t| t.end - t.start)
        .sum();
    let files = read_model(&path);

    let q = load_cpu(&files, WeightMode::Quantized).weight_stats();
    println!("quantized: {q:?}, GGUF tensor bytes {tensor_bytes}");
    // 30 layers × 7 matrices and the embedding, whose blocks the tied output head shares.
    assert_eq!((q.quantized, q.dense, q.f32_from_blocks), (211, 0, 0));
    assert!(
        q.bytes as f64 <= 1.15 * tensor_bytes as f64,
        "{} bytes held for {tensor_bytes} bytes of tensors",
        q.bytes
    );

    // The same check on the f32 reference path fails, as it must.
    let d = load_cpu(&files, WeightMode::Dense).weight_stats();
    println!("dense: {d:?}");
    assert_eq!(d.quantized, 0);
    assert!(d.f32_from_blocks > 0 && d.bytes as f64 > 4.0 * tensor_bytes as f64);
}

/// The host path runs a long prompt in chunks of positions: a 700-token prefill (chunks of 512
/// and 188) gives the bits of the same prompt fed as 300 then 400 tokens, each row's arithmetic
/// being independent of how many rows go together.
#[test]
fn a_long_prompt_in_chunks_gives_the_bits_of_one_pass() {
    let Some(path) = default_model() else { return };
    let engine = load_cpu(&read_model(&path), WeightMode::Quantized);
    assert!(engine.on_host());
    let sample = engine
        .tokenizer()
        .encode_plain("def add(a, b):\n    return a + b\n\nprint(add(2, 3))\n")
        .expect("encode");
    let ids: Vec<u32> = sample.iter().copied().cycle().take(700).collect();
    let mut one = engine.new_cache();
    let a = futures_lite::future::block_on(engine.step(std::slice::from_ref(&ids), &mut one))
        .expect("700");
    let mut two = engine.new_cache();
    futures_lite::future::block_on(engine.step(&[ids[..300].to_vec()], &mut two)).expect("300");
    let b =
        futures_lite::future::block_on(engine.step(&[ids[300..].to_vec()], &mut two)).expect("400");
    let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&a[0]), bits(&b[0]), "last-position logits");
    assert_eq!((one.len(), two.len()), (700, 700));
}
