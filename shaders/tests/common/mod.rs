//! The block fixtures written by scripts/make_block_fixtures.py (gguf-py's values).

use std::path::PathBuf;

/// The bytes of `tests/fixtures/blocks/<name>`.
pub fn fixture(name: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/blocks")
        .join(name);
    std::fs::read(&p)
        .unwrap_or_else(|e| panic!("{}: {e} (scripts/make_block_fixtures.py)", p.display()))
}

/// Little-endian f32s.
#[allow(dead_code)] // not every test file reads every kind
pub fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// Little-endian f64s.
#[allow(dead_code)]
pub fn f64s(bytes: &[u8]) -> Vec<f64> {
    bytes
        .chunks_exact(8)
        .map(|b| f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
        .collect()
}
