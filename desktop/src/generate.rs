//! `kiln generate`: one request to the model, streamed, then post-processed. By default the
//! answer is turned into checked code — extracted from the chat answer's fenced block, a
//! degenerate tail cut, its syntax checked (with the location of any error), formatted — printed
//! on stdout, with one line on stderr saying what post-processing did and how fast the model ran.
//! `--raw` prints the model's text untouched as it streams.

use std::io::{Read, Write};
use std::ops::ControlFlow;

use anyhow::{Context, Result, bail};
use clap::Args;
use futures_lite::future::block_on;
use indicatif::{ProgressBar, ProgressStyle};
use kiln_engine::{Event, Finish, RequestSettings, SamplingParams};

use crate::{ModelArgs, load, post};

/// `kiln generate` flags.
#[derive(Args)]
pub struct GenerateArgs {
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
    /// Stop string (repeatable; `\n`, `\t`, `\r` and `\\` are unescaped).
    #[arg(long)]
    stop: Vec<String>,
    /// Print one JSON event per line (then the post-processing report) instead of plain text.
    #[arg(long)]
    json: bool,
    /// Print the model's text untouched, as it streams (no extraction, checks or formatting).
    #[arg(long)]
    raw: bool,
    /// Say what every post-processing stage did, one line each.
    #[arg(long, short)]
    verbose: bool,
    /// Let the output repeat itself (by default generation ends once it repeats a line four
    /// times or a block of lines three times).
    #[arg(long = "allow-repetition")]
    allow_repetition: bool,
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
    /// The engine's sampling parameters.
    pub fn params(&self) -> SamplingParams {
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

/// The whole of stdin as text.
pub fn read_stdin() -> Result<String> {
    let mut s = String::new();
    std::io::stdin()
        .read_to_string(&mut s)
        .context("cannot read the prompt from stdin")?;
    Ok(s)
}

/// The prompt's text: the argument, else stdin.
pub fn prompt_text(arg: Option<String>) -> Result<String> {
    match arg {
        Some(p) => Ok(p),
        None => read_stdin(),
    }
}

/// Stop strings as typed on the command line, escapes resolved.
pub fn typed_stops(stop: &[String]) -> Vec<String> {
    stop.iter().map(|s| kiln_engine::unescape(s)).collect()
}

/// `kiln generate`: streams the model's answer, then prints it post-processed (see the module
/// docs); fails when the code does not parse, is incomplete, or a test did not pass.
pub fn run(args: GenerateArgs) -> Result<()> {
    let settings = RequestSettings {
        prompt: prompt_text(args.prompt.clone())?,
        chat: args.chat,
        sampling: args.sampling.params(),
        max_tokens: args.max_tokens,
        stop: typed_stops(&args.stop),
        raw: args.raw,
        allow_repetition: args.allow_repetition,
        ..args.post_args.settings()?
    };
    // The request and the post-processing options are checked before the model is loaded.
    let req = settings.request()?;
    let post_opts = settings.post_options();
    let (engine, _) = load(&args.model)?;
    let mut out = std::io::stdout().lock();
    let json = args.json;
    let stream = args.raw && !json;
    let progress = progress_bar(args.model.quiet || stream);
    let mut n = 0usize;
    let t0 = std::time::Instant::now();
    let result = block_on(engine.generate(&req, &mut |ev| {
        let written = if json {
            serde_json::to_string(&ev)
                .map_err(std::io::Error::other)
                .and_then(|line| writeln!(out, "{line}"))
        } else if stream {
            match &ev {
                Event::Text { text } => write!(out, "{text}").and_then(|()| out.flush()),
                _ => Ok(()),
            }
        } else {
            if matches!(ev, Event::Token { .. }) {
                n += 1;
                let secs = t0.elapsed().as_secs_f64().max(1e-3);
                progress.set_message(format!("{n} tokens, {:.1} tok/s", n as f64 / secs));
            }
            Ok(())
        };
        // A closed pipe (e.g. `| head`) cancels generation.
        if written.is_err() {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }))?;
    progress.finish_and_clear();
    if stream {
        let _ = writeln!(out);
    }
    let t = &result.timings;
    let speed = format!(
        "{} tokens at {:.1} tok/s (prompt {} at {:.1} tok/s), finish: {}",
        t.generated_tokens,
        t.decode_tok_s(),
        t.prompt_tokens,
        t.prefill_tok_s(),
        finish_text(result.finish, args.max_tokens)
    );
    let Some(mut opts) = post_opts else {
        eprintln!("kiln: {speed}");
        return Ok(());
    };
    opts.hit_max_tokens = result.finish == Finish::MaxTokens;
    let mut report = kiln_engine::post::process(&result.text, &opts);
    if report.valid != Some(false) && report.incomplete.is_none() {
        args.post_args.run_tests(&mut report)?;
    }
    drop(out);
    if json {
        post::print_report("generated", &report, true, true)?;
    } else {
        if args.verbose {
            for s in &report.stages {
                eprintln!("kiln: {:<9} {}", s.stage, s.summary);
            }
        }
        // The code first, then the one line that says what happened: the last thing on screen.
        let printed = post::print_report("generated", &report, false, true);
        let _ = std::io::stdout().flush();
        eprintln!(
            "kiln: {} · {} · {speed}",
            report.verdict(),
            post::what_it_did(&report)
        );
        printed?;
    }
    if report.incomplete.is_some() {
        bail!("the answer is incomplete (--raw shows the model's text)");
    }
    Ok(())
}

/// A spinner on stderr while the answer is generated (hidden when stderr is not a terminal).
fn progress_bar(hidden: bool) -> ProgressBar {
    if hidden {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new_spinner();
    pb.set_style(
        ProgressStyle::with_template("{spinner} generating: {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    pb.enable_steady_tick(std::time::Duration::from_millis(120));
    pb
}

/// Why generation ended, in words.
pub fn finish_text(f: Finish, max_tokens: usize) -> String {
    match f {
        Finish::Eos => "end of answer".into(),
        Finish::Stop => "stop string".into(),
        Finish::MaxTokens => format!("token limit ({max_tokens}; raise it with -n)"),
        Finish::ContextFull => "context full".into(),
        Finish::Cancelled => "cancelled".into(),
        Finish::Repetition => "the output began repeating itself".into(),
    }
}
