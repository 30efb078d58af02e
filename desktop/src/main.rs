//! `kiln`: generate code with a local model, inspect model files, benchmark, fetch the default
//! model. Everything runs through kiln-engine's async API; this binary `block_on`s at the top.

mod bench;
mod eval;
mod files;
mod generate;
mod lab;
mod post;

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use futures_lite::future::block_on;
use kiln_engine::{Activations, DeviceChoice, Engine, LoadOptions, ModelFiles, WeightMode};

/// Local code generation: real models, on the CPU or any GPU.
#[derive(Parser)]
#[command(name = "kiln", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate code from a prompt (argument or stdin): the post-processed answer on stdout
    /// (`--raw`: the model's text as it streams).
    Generate(generate::GenerateArgs),
    /// The temperature lab: one prompt at several temperatures, k samples each, decoded
    /// together; a table of determinism, diversity, syntax errors and pass@k per temperature.
    Lab(lab::LabArgs),
    /// Evaluate a problem set (the built-in easy set, HumanEval, or a JSONL file) over
    /// temperatures: pass@k per temperature with bootstrap intervals; resumable with --out.
    Eval(eval::EvalArgs),
    /// Describe a model file: architecture, sizes, tensor types, tokenizer, template.
    Info {
        /// GGUF file or Hugging Face directory (default: the default model).
        model: Option<PathBuf>,
    },
    /// Measure load time, prefill and decode speed and peak memory.
    Bench(bench::BenchArgs),
    /// Print the token ids of a text (file or stdin) as JSON.
    Tokenize {
        /// GGUF file or Hugging Face directory (default: the default model).
        #[arg(long, short)]
        model: Option<PathBuf>,
        /// Text file (default: stdin).
        file: Option<PathBuf>,
    },
    /// Fetch the default model (SmolLM2-135M-Instruct Q4_1) into the model directory.
    Pull,
    /// Syntax-check a source file (Python, JavaScript, TypeScript, Rust, JSON), optionally
    /// format it, integrate it into a context and run tests on it; exit code 1 on syntax
    /// errors or failed tests.
    Check {
        /// The file.
        file: PathBuf,
        /// Print the formatted code.
        #[arg(long)]
        format: bool,
        /// Print the whole post-processing report as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        post: post::PostArgs,
    },
}

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

fn info(model: Option<PathBuf>) -> Result<()> {
    let path = files::resolve(model.as_deref())?;
    let f = files::read_model(&path, true)?;
    let i = Engine::inspect(&f).with_context(|| format!("cannot read {}", path.display()))?;
    let c = &i.config;
    println!("file            {}", path.display());
    println!("format          {}", i.format);
    println!("architecture    {}", i.arch);
    println!("parameters      {:.1} M", i.n_params as f64 / 1e6);
    println!("layers          {}", c.num_hidden_layers);
    println!(
        "hidden          {} (ffn {})",
        c.hidden_size, c.intermediate_size
    );
    println!(
        "heads           {} query, {} key/value, head dim {}",
        c.num_attention_heads,
        c.n_kv_heads(),
        c.head_dim()
    );
    println!("context         {}", c.max_position_embeddings);
    println!(
        "rope            theta {} scaling {:?}",
        c.rope_theta,
        c.rope_scaling.as_ref().map(|s| &s.rope_type)
    );
    println!(
        "output head     {}",
        if c.tie_word_embeddings {
            "tied to the embedding"
        } else {
            "separate"
        }
    );
    println!(
        "tensor types    {}",
        i.tensor_types
            .iter()
            .map(|(k, v)| format!("{k}×{v}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "vocabulary      {} (bos {:?}, add bos {}, end-of-generation {:?})",
        i.vocab_size, i.bos, i.add_bos, i.eog
    );
    match &i.chat_template {
        Some(t) => println!("chat template\n{t}"),
        None => println!("chat template   none (raw completion only)"),
    }
    Ok(())
}

fn tokenize(model: Option<PathBuf>, file: Option<PathBuf>) -> Result<()> {
    let text = match file {
        Some(f) => {
            std::fs::read_to_string(&f).with_context(|| format!("cannot read {}", f.display()))?
        }
        None => generate::read_stdin()?,
    };
    let path = files::resolve(model.as_deref())?;
    let f = files::read_model(&path, true)?;
    let ids = Engine::load_tokenizer(&f)?.encode_plain(&text)?;
    println!("{}", serde_json::to_string(&ids)?);
    Ok(())
}

fn pull() -> Result<()> {
    let script = include_str!("../../scripts/fetch_model.sh");
    let status = std::process::Command::new("bash")
        .arg("-c")
        .arg(script)
        .env("KILN_MODEL_DIR", files::model_dir())
        .status()
        .context("cannot run bash to fetch the model")?;
    if !status.success() {
        bail!("fetching the default model failed ({status})");
    }
    Ok(())
}

fn run() -> Result<()> {
    match Cli::parse().command {
        Command::Generate(a) => generate::run(a),
        Command::Lab(a) => lab::run(a),
        Command::Eval(a) => eval::run(a),
        Command::Info { model } => info(model),
        Command::Bench(a) => bench::run(a),
        Command::Tokenize { model, file } => tokenize(model, file),
        Command::Pull => pull(),
        Command::Check {
            file,
            format,
            json,
            post,
        } => post::check(&file, &post, json, format),
    }
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kiln: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
