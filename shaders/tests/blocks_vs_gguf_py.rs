//! Every block decoder against gguf-py's numpy dequantiser (llama.cpp's own Python package) on
//! random blocks with zero, negative, subnormal and large scales and negative minimums:
//! bit-for-bit equal. The reference files come from scripts/make_block_fixtures.py.

use std::path::PathBuf;

use kiln_shaders::blocks::{ALL, decode};

fn fixture(name: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/blocks")
        .join(name);
    std::fs::read(&p)
        .unwrap_or_else(|e| panic!("{}: {e} (scripts/make_block_fixtures.py)", p.display()))
}

#[test]
fn every_block_type_decodes_as_gguf_py_does() {
    for ty in ALL {
        let blocks = fixture(&format!("{}.blocks", ty.name()));
        let want: Vec<f32> = fixture(&format!("{}.f32", ty.name()))
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        assert_eq!(
            blocks.len() / ty.bytes() * ty.values(),
            want.len(),
            "{ty:?}"
        );
        let mut got = vec![f32::NAN; want.len()];
        decode(ty, &blocks, &mut got).unwrap_or_else(|e| panic!("{e}"));
        let bad: Vec<usize> = (0..want.len())
            .filter(|&i| got[i].to_bits() != want[i].to_bits())
            .collect();
        assert!(
            bad.is_empty(),
            "{}: {} of {} values differ; first at {} (block {}): kiln {} vs gguf-py {}",
            ty.name(),
            bad.len(),
            want.len(),
            bad[0],
            bad[0] / ty.values(),
            got[bad[0]],
            want[bad[0]]
        );
        // The cases the fixtures were made to cover are really there.
        assert!(want.iter().any(|&x| x < 0.0), "{ty:?}: no negative values");
        assert!(
            want[..ty.values()]
                .iter()
                .all(|&x| x == 0.0 || ty.name().ends_with("_1") || ty.name().ends_with("_K")),
            "{ty:?}: block 0 has scale 0"
        );
    }
}
