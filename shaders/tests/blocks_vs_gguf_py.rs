//! Every block decoder against gguf-py's numpy dequantiser (llama.cpp's own Python package) on
//! random blocks with zero, negative, subnormal and large scales and negative minimums:
//! bit-for-bit equal. The reference files come from scripts/make_block_fixtures.py.

mod common;

use common::{f32s, fixture};
use kiln_shaders::blocks::{ALL, decode};

#[test]
fn every_block_type_decodes_as_gguf_py_does() {
    for ty in ALL {
        let blocks = fixture(&format!("{}.blocks", ty.name()));
        let want = f32s(&fixture(&format!("{}.f32", ty.name())));
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
