//! The CPU matrix kernel (shaders/src/cpu.rs) against its scalar twin, bit for bit, on every
//! instruction-set level this CPU has, for every block type, ragged row counts and 1–8 (and
//! prefill-sized) activation rows; and the twin against numpy's float64 product of gguf-py's
//! dequantised weights (scripts/make_block_fixtures.py), an independent reference.

mod common;

use common::{f32s, f64s, fixture};
use kiln_shaders::blocks::ALL;
use kiln_shaders::cpu::{Isa, QMatrix, matmul, matmul_on, matmul_twin};

/// Deterministic activations in [-2, 2), with an occasional large value.
fn activations(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..n)
        .map(|i| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let v = (s >> 40) as f32 / (1u64 << 24) as f32 * 4.0 - 2.0;
            if i % 97 == 0 { v * 1000.0 } else { v }
        })
        .collect()
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn the_twin_is_the_float64_product_of_gguf_pys_weights() {
    for ty in ALL {
        let data = fixture(&format!("{}.blocks", ty.name()));
        let x = f32s(&fixture(&format!("{}.x.f32", ty.name())));
        let want = f64s(&fixture(&format!("{}.y.f64", ty.name())));
        let values = f32s(&fixture(&format!("{}.f32", ty.name())));
        let (rows, cols) = (8, values.len() / 8);
        let w = QMatrix::new(ty, rows, cols, &data).unwrap_or_else(|e| panic!("{e}"));
        let mut y = vec![0.0f32; 3 * rows];
        matmul_twin(&w, &x, &mut y).unwrap_or_else(|e| panic!("{e}"));
        for i in 0..3 {
            for r in 0..rows {
                // f32 summation of `cols` products: error within cols · ε · Σ|x·w|.
                let mag: f64 = (0..cols)
                    .map(|c| (f64::from(x[i * cols + c]) * f64::from(values[r * cols + c])).abs())
                    .sum();
                let (got, want) = (f64::from(y[i * rows + r]), want[i * rows + r]);
                assert!(
                    (got - want).abs() <= cols as f64 * f64::from(f32::EPSILON) * mag + 1e-30,
                    "{}: y[{i}][{r}] = {got}, numpy {want} (|x·w| {mag})",
                    ty.name()
                );
            }
        }
        assert!(
            want.iter().any(|&v| v.abs() > 1.0),
            "{}: a trivial product",
            ty.name()
        );
    }
}

#[test]
fn every_level_matches_the_twin_bit_for_bit() {
    let levels = Isa::available();
    println!("instruction-set levels on this CPU: {levels:?}");
    for ty in ALL {
        // Tile the fixture's blocks into taller matrices: ragged row counts (not multiples of
        // the four-row tile), one and several blocks per row.
        let src = fixture(&format!("{}.blocks", ty.name()));
        for (rows, blocks_per_row) in [(1, 1), (3, 2), (7, 1), (13, 3), (64, 2)] {
            let cols = blocks_per_row * ty.values();
            let need = rows * blocks_per_row * ty.bytes();
            let data: Vec<u8> = src.iter().copied().cycle().take(need).collect();
            let w = QMatrix::new(ty, rows, cols, &data).unwrap_or_else(|e| panic!("{e}"));
            for m in [1, 2, 3, 5, 8, 17] {
                let x = activations(m * cols, (rows * 31 + m) as u64);
                let mut want = vec![0.0f32; m * rows];
                matmul_twin(&w, &x, &mut want).unwrap_or_else(|e| panic!("{e}"));
                for &isa in &levels {
                    let mut got = vec![f32::NAN; m * rows];
                    matmul_on(isa, &w, &x, &mut got).unwrap_or_else(|e| panic!("{e}"));
                    assert_eq!(
                        bits(&got),
                        bits(&want),
                        "{} [{rows}x{cols}] × {m} rows on {isa:?}",
                        ty.name()
                    );
                }
                let mut best = vec![f32::NAN; m * rows];
                matmul(&w, &x, &mut best).unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(bits(&best), bits(&want), "{} default path", ty.name());
            }
        }
    }
}
