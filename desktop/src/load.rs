//! Loading a model for a command: the shared model and device flags, the file read with a
//! progress bar, the engine loaded with another, and a line saying where it runs.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use futures_lite::future::block_on;
use kiln_engine::{Activations, DeviceChoice, Engine, LoadOptions, ModelFiles, WeightMode};

use crate::files;

/// Model and device flags shared by the commands that load a model.
#[derive(Args, Clone)]
pub struct ModelArgs {
    /// GGUF file or Hugging Face directory (default: the default model).
    #[arg(long, short)]
    pub model: Option<PathBuf>,
    /// auto, cpu or gpu.
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// Context window (default: the model's).
    #[arg(long = "ctx-size", short = 'c')]
    pub ctx_size: Option<usize>,
    /// Dequantize every weight matrix to f32 at load (the reference path; slower, 8× the memory).
    /// By default a GGUF's quantized blocks stay blocks on the CPU backend.
    #[arg(long = "f32-weights")]
    pub f32_weights: bool,
    /// Quantize activations to 8 bits for the quantized matrices (llama.cpp's design: integer
    /// dot products, 1.4–1.8 × the decode speed; the logits move slightly, see
    /// docs/PERFORMANCE.md). CPU backend, GGUF blocks only.
    #[arg(long = "q8-activations")]
    pub q8_activations: bool,
    /// No progress bars.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Reads and loads the model with progress bars; returns the engine and the bytes' size.
pub fn load(args: &ModelArgs) -> Result<(Engine, u64)> {
    let (engine, size, _) = load_hashed(args, false)?;
    Ok((engine, size))
}

/// [`load`], and with `hash` the sha256 (hex) of each model file, by name (for run records).
pub fn load_hashed(args: &ModelArgs, hash: bool) -> Result<(Engine, u64, files::Digests)> {
    let path = files::resolve(args.model.as_deref())?;
    let device: DeviceChoice = args.device.parse()?;
    let t0 = std::time::Instant::now();
    let model_files = files::read_model(&path, args.quiet)?;
    let size = match &model_files {
        ModelFiles::Gguf { bytes, .. } => bytes.len() as u64,
        ModelFiles::HfDir(m) => m.values().map(|b| b.len() as u64).sum(),
    };
    let hashes = if hash {
        files::sha256s(&model_files)
    } else {
        Vec::new()
    };
    let pb = files::load_bar(args.quiet);
    let opts = LoadOptions {
        device,
        n_ctx: args.ctx_size,
        weights: if args.f32_weights {
            WeightMode::Dense
        } else {
            WeightMode::Quantized
        },
        activations: if args.q8_activations {
            Activations::Q8
        } else {
            Activations::F32
        },
    };
    let engine = block_on(Engine::load(&model_files, &opts, &mut |done, total| {
        pb.set_length(total as u64);
        pb.set_position(done as u64);
    }))
    .with_context(|| format!("cannot load {}", path.display()))?;
    pb.finish_and_clear();
    let d = engine.device();
    if !args.quiet {
        eprintln!(
            "kiln: {} on {} [{}] loaded in {:.0} ms",
            path.display(),
            d.name,
            d.backend,
            t0.elapsed().as_secs_f64() * 1000.0
        );
        if let Some(note) = &d.note {
            eprintln!("kiln: {note}");
        }
    }
    Ok((engine, size, hashes))
}
