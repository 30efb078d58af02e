//! `kiln`: generate code with a local model, inspect model files, benchmark, fetch the default
//! model. Everything runs through kiln-engine's async API; this binary `block_on`s at the top.

mod bench;
mod files;
mod post;

use std::io::{Read, Write};
use std::ops::ControlFlow;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use futures_lite::future::block_on;
use kiln_engine::{
    DeviceChoice, Engine, Event, GenerateRequest, LoadOptions, Message, ModelFiles, Prompt,
    SamplingParams,
};

/// Local code generation: real models, on the CPU or any GPU.
#[derive(Parser)]
#[command(name = "kiln", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate text from a prompt (argument or stdin), streamed to stdout.
    Generate(GenerateArgs),
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
    /// No progress bars.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Args)]
struct GenerateArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// The prompt; read from stdin when absent.
    prompt: Option<String>,
    /// Render the prompt as a user turn with the model's chat template.
    #[arg(long)]
    chat: bool,
    /// Maximum new tokens.
    #[arg(long = "max-tokens", short = 'n', default_value_t = 256)]
    max_tokens: usize,
    /// Stop string (repeatable; `\n` and `\t` are unescaped).
    #[arg(long)]
    stop: Vec<String>,
    /// Print one JSON event per line instead of plain text.
    #[arg(long)]
    json: bool,
    /// Post-process the output: extract, trim, check, truncate, format (see `kiln check`).
    #[arg(long)]
    post: bool,
    #[command(flatten)]
    post_args: post::PostArgs,
    #[command(flatten)]
    sampling: SamplingArgs,
}

/// Sampling flags (llama.cpp's names and defaults).
#[derive(Args, Clone)]
pub struct SamplingArgs {
    /// Temperature; 0 = greedy.
    #[arg(long = "temp", allow_negative_numbers = true, default_value_t = 0.8)]
    pub temperature: f32,
    /// Top-k (0 = off).
    #[arg(long = "top-k", default_value_t = 40)]
    pub top_k: usize,
    /// Top-p (1 = off).
    #[arg(long = "top-p", allow_negative_numbers = true, default_value_t = 0.95)]
    pub top_p: f32,
    /// Min-p (0 = off).
    #[arg(long = "min-p", allow_negative_numbers = true, default_value_t = 0.05)]
    pub min_p: f32,
    /// Repetition penalty (1 = off).
    #[arg(
        long = "repeat-penalty",
        allow_negative_numbers = true,
        default_value_t = 1.0
    )]
    pub repeat_penalty: f32,
    /// Tokens the penalties look back over.
    #[arg(long = "repeat-last-n", default_value_t = 64)]
    pub repeat_last_n: usize,
    /// Frequency penalty.
    #[arg(
        long = "frequency-penalty",
        allow_negative_numbers = true,
        default_value_t = 0.0
    )]
    pub frequency_penalty: f32,
    /// Presence penalty.
    #[arg(
        long = "presence-penalty",
        allow_negative_numbers = true,
        default_value_t = 0.0
    )]
    pub presence_penalty: f32,
    /// Seed of the random draw.
    #[arg(long, short, default_value_t = 0)]
    pub seed: u64,
}

impl SamplingArgs {
    fn params(&self) -> SamplingParams {
        SamplingParams {
            temperature: self.temperature,
            top_k: self.top_k,
            top_p: self.top_p,
            min_p: self.min_p,
            repeat_penalty: self.repeat_penalty,
            repeat_last_n: self.repeat_last_n,
            frequency_penalty: self.frequency_penalty,
            presence_penalty: self.presence_penalty,
            seed: self.seed,
        }
    }
}

/// Reads and loads the model with progress bars; returns the engine and the bytes' size.
pub fn load(args: &ModelArgs) -> Result<(Engine, u64)> {
    let path = files::resolve(args.model.as_deref())?;
    let device: DeviceChoice = args.device.parse()?;
    let t0 = std::time::Instant::now();
    let model_files = files::read_model(&path, args.quiet)?;
    let size = match &model_files {
        ModelFiles::Gguf { bytes, .. } => bytes.len() as u64,
        ModelFiles::HfDir(m) => m.values().map(|b| b.len() as u64).sum(),
    };
    let pb = files::load_bar(args.quiet);
    let opts = LoadOptions {
        device,
        n_ctx: args.ctx_size,
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
    Ok((engine, size))
}

fn read_stdin() -> Result<String> {
    let mut s = String::new();
    std::io::stdin()
        .read_to_string(&mut s)
        .context("cannot read the prompt from stdin")?;
    Ok(s)
}

fn generate(args: GenerateArgs) -> Result<()> {
    let text = match args.prompt.clone() {
        Some(p) => p,
        None => read_stdin()?,
    };
    let prompt = if args.chat {
        Prompt::Chat(vec![Message::user(text.clone())])
    } else {
        Prompt::Raw(text.clone())
    };
    let req = GenerateRequest {
        prompt,
        sampling: args.sampling.params(),
        max_tokens: args.max_tokens,
        stop: stop_strings(&args)?,
        ignore_eos: false,
    };
    req.sampling.validate()?;
    let (engine, _) = load(&args.model)?;
    let mut out = std::io::stdout().lock();
    let json = args.json;
    let result = block_on(engine.generate(&req, &mut |ev| {
        let written = if json {
            serde_json::to_string(&ev)
                .map_err(std::io::Error::other)
                .and_then(|line| writeln!(out, "{line}"))
        } else {
            match &ev {
                Event::Text { text } => write!(out, "{text}").and_then(|()| out.flush()),
                _ => Ok(()),
            }
        };
        // A closed pipe (e.g. `| head`) cancels generation.
        if written.is_err() {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }))?;
    if !json {
        let _ = writeln!(out);
    }
    let t = &result.timings;
    eprintln!(
        "kiln: finish={:?} prompt={} tok prefill={:.1} tok/s | generated={} tok decode={:.1} tok/s",
        result.finish,
        t.prompt_tokens,
        t.prefill_tok_s(),
        t.generated_tokens,
        t.decode_tok_s()
    );
    if !args.post {
        return Ok(());
    }
    let hit_max = result.finish == kiln_engine::Finish::MaxTokens;
    let opts = post::generate_options(&args.post_args, args.chat, &text, hit_max)?;
    let mut report = kiln_engine::post::process(&result.text, &opts);
    if report.valid != Some(false) {
        args.post_args.run_tests(&mut report)?;
    }
    if !json {
        println!("----- post-processed ({}) -----", report.language.name());
    }
    post::print_report("generated", &report, json, true)
}

/// The user's stop strings, plus — for a raw completion with `--post --lang` — the language's
/// stop sequences, so that generation ends where the function does (held back while streaming).
fn stop_strings(args: &GenerateArgs) -> Result<Vec<String>> {
    let mut stop: Vec<String> = args.stop.iter().map(|s| unescape(s)).collect();
    if args.post
        && !args.chat
        && let Some(lang) = args.post_args.language()?
    {
        stop.extend(
            kiln_engine::post::stop_sequences(lang)
                .iter()
                .map(|s| s.to_string()),
        );
    }
    Ok(stop)
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
        None => read_stdin()?,
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

/// `\n`, `\t`, `\\` in stop strings as typed on a command line (as llama.cpp's `--escape`).
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('\\') => out.push('\\'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

fn run() -> Result<()> {
    match Cli::parse().command {
        Command::Generate(a) => generate(a),
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
