//! `kiln`: generate code with a local model, inspect model files, benchmark, fetch the default
//! model. Everything runs through kiln-engine's async API; this binary `block_on`s at the top.

#[cfg(feature = "app")]
mod app;
mod bench;
#[cfg(feature = "serve")]
mod endpoint;
mod eval;
mod files;
mod generate;
mod info;
mod lab;
mod load;
mod post;
mod pull;
#[cfg(feature = "serve")]
mod serve;
mod source;
mod tokenize;

use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};

pub use load::{ModelArgs, load, load_hashed};

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
    /// Serve the model over an OpenAI-compatible HTTP API on 127.0.0.1 (/v1/models,
    /// /v1/completions, /v1/chat/completions; streaming, n, logprobs, suffix), concurrent
    /// requests decoded together.
    #[cfg(feature = "serve")]
    Serve(serve::ServeArgs),
    /// Open the playground as a native window, offline: the same UI, with inference in this
    /// process (native GPU or every CPU core); models from the model directory, a file dialog or
    /// a drop on the window.
    #[cfg(feature = "app")]
    App(app::AppArgs),
    /// (This kiln was built without the desktop app: it says how to get it.)
    #[cfg(not(feature = "app"))]
    App,
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

fn run() -> Result<()> {
    match Cli::parse().command {
        Command::Generate(a) => generate::run(a),
        Command::Lab(a) => lab::run(a),
        Command::Eval(a) => eval::run(a),
        Command::Info { model } => info::info(model),
        Command::Bench(a) => bench::run(a),
        Command::Tokenize { model, file } => tokenize::tokenize(model, file),
        Command::Pull => pull::pull(),
        #[cfg(feature = "app")]
        Command::App(a) => app::run(a),
        #[cfg(not(feature = "app"))]
        Command::App => anyhow::bail!(
            "this kiln was built without the desktop app: build it with `--features app` \
             (WebKitGTK needed on Linux: apt install libwebkit2gtk-4.1-dev; see the README), or \
             use `kiln serve` or the browser playground"
        ),
        #[cfg(feature = "serve")]
        Command::Serve(a) => serve::run(a),
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
