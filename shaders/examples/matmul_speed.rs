//! Times the CPU matrix kernel on the default model's shapes, per instruction-set level:
//! `cargo run --release -p kiln-shaders --features threads --example matmul_speed`.
//! Prints GB/s of weight bytes read and GFLOP/s; not a test.

use std::time::Instant;

use kiln_shaders::blocks::BlockType;
use kiln_shaders::cpu::{Isa, QMatrix, matmul_on};
use kiln_shaders::q8::matmul_q8_on;

fn main() {
    let shapes = [
        (BlockType::Q4_1, 1536, 576),
        (BlockType::Q4_1, 576, 1536),
        (BlockType::Q8_0, 49152, 576),
        (BlockType::Q4_K, 576, 1536),
        (BlockType::Q6_K, 576, 1536),
    ];
    // `matmul_speed N` times only shape N, `matmul_speed N M REPS` only M rows, REPS times
    // (for instruction counts under valgrind).
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    for (n, (ty, rows, cols)) in shapes.into_iter().enumerate() {
        if args.first().is_some_and(|&a| a != n) {
            continue;
        }
        // Valid blocks: small f16 scales, arbitrary quant bytes.
        let mut data = vec![0x5au8; rows * cols / ty.values() * ty.bytes()];
        for (i, b) in data.iter_mut().enumerate() {
            *b = (i as u32).wrapping_mul(2_654_435_761).rotate_right(13) as u8 & 0x3b;
        }
        let Ok(w) = QMatrix::new(ty, rows, cols, &data) else {
            return;
        };
        for m in [1, 4, 64] {
            if args.get(1).is_some_and(|&a| a != m) {
                continue;
            }
            let x = vec![0.5f32; m * cols];
            let mut y = vec![0.0f32; m * rows];
            // KILN_ISA=AVX2 (or scalar, SIMD128) times only that level; KILN_Q8=1 the 8-bit
            // activation path.
            let only = std::env::var("KILN_ISA").ok();
            let kernel = if std::env::var("KILN_Q8").is_ok_and(|v| v == "1") {
                matmul_q8_on
            } else {
                matmul_on
            };
            for isa in Isa::available() {
                if only.as_deref().is_some_and(|o| o != isa.name()) {
                    continue;
                }
                let reps = args
                    .get(2)
                    .copied()
                    .unwrap_or((200_000_000 / (rows * cols * m)).max(3));
                let _ = kernel(isa, &w, &x, &mut y);
                let t = Instant::now();
                for _ in 0..reps {
                    let _ = kernel(isa, &w, &x, &mut y);
                }
                let s = t.elapsed().as_secs_f64() / reps as f64;
                println!(
                    "{:5} [{rows:5}x{cols:4}] m={m:3} {:7}: {:8.1} µs  {:6.2} GB/s  {:6.1} GFLOP/s",
                    ty.name(),
                    isa.name(),
                    s * 1e6,
                    data.len() as f64 / s / 1e9,
                    2.0 * (rows * cols * m) as f64 / s / 1e9
                );
            }
        }
    }
}
