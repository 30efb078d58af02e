//! The block decoders (`kiln_shaders::blocks`, the loader's) on every quantized tensor of the
//! real default model, against gguf-py's dequantisation of the same file: a checksum of all
//! values (`scripts/make_block_fixtures.py --model`, committed in tests/fixtures/blocks/).

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests stop on a failed fixture read

use std::collections::BTreeMap;

use kiln_engine::format::gguf::Gguf;
use kiln_tests::{default_model, fixtures};
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
