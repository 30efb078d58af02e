//! Where a lab or eval run is decoded: the model loaded here, or an OpenAI-compatible server
//! (`--endpoint`, [`crate::endpoint`]). Post-processing, the sandbox and scoring stay local
//! either way.

use std::ops::ControlFlow;

use anyhow::{Result, bail};
use clap::Args;
use futures_lite::future::block_on;
use indicatif::{ProgressBar, ProgressStyle};
use kiln_engine::lab::{LabRequest, LabRun, RecordMeta};
use kiln_engine::{Engine, Event};

use crate::{ModelArgs, load_hashed};

/// `--endpoint` flags.
#[derive(Args, Clone, Default)]
pub struct EndpointArgs {
    /// Decode on this OpenAI-compatible server (`http://HOST:PORT/v1`: kiln serve,
    /// llama-server, vLLM) instead of a local model; tests and scoring still run here.
    #[arg(long)]
    pub endpoint: Option<String>,
    /// The server's API key (default: KILN_API_KEY, then OPENAI_API_KEY).
    #[arg(long = "api-key")]
    pub api_key: Option<String>,
    /// The model's name on the server (default: the first one /v1/models lists).
    #[arg(long = "endpoint-model")]
    pub endpoint_model: Option<String>,
}

/// A model to decode with.
pub enum Source {
    /// Loaded in this process.
    Local(Box<Engine>),
    /// On a server.
    #[cfg(feature = "serve")]
    Remote(crate::endpoint::Endpoint),
}

impl Source {
    /// The endpoint when one is given, else the model of `model` loaded (with its files'
    /// sha256 when `hash`).
    pub fn open(
        model: &ModelArgs,
        endpoint: &EndpointArgs,
        hash: bool,
    ) -> Result<(Source, Vec<(String, String)>)> {
        let Some(url) = &endpoint.endpoint else {
            let (engine, _, hashes) = load_hashed(model, hash)?;
            return Ok((Source::Local(Box::new(engine)), hashes));
        };
        #[cfg(feature = "serve")]
        {
            let key = endpoint
                .api_key
                .clone()
                .or_else(|| std::env::var("KILN_API_KEY").ok())
                .or_else(|| std::env::var("OPENAI_API_KEY").ok());
            let e = crate::endpoint::Endpoint::connect(url, key, endpoint.endpoint_model.clone())?;
            if !model.quiet {
                eprintln!("kiln: decoding on {url} (model {})", e.model);
            }
            let hashes = e.meta().model_sha256;
            Ok((Source::Remote(e), hashes))
        }
        #[cfg(not(feature = "serve"))]
        bail!("--endpoint {url}: this kiln was built without the `serve` feature (the HTTP stack)")
    }

    /// The local engine, if the run is decoded here.
    pub fn local(&self) -> Option<&Engine> {
        match self {
            Source::Local(e) => Some(e),
            #[cfg(feature = "serve")]
            Source::Remote(_) => None,
        }
    }

    /// Whether prompts can be chat turns (a server is taken to have a chat endpoint).
    pub fn has_chat(&self) -> bool {
        self.local().is_none_or(|e| e.chat_template().is_some())
    }

    /// Decodes a lab request.
    pub fn lab(&self, req: &LabRequest, quiet: bool) -> Result<LabRun> {
        match self {
            Source::Local(e) => decode(e, req, quiet),
            #[cfg(feature = "serve")]
            Source::Remote(r) => r.lab(req, quiet),
        }
    }

    /// The record's meta.
    pub fn meta(&self, hashes: Vec<(String, String)>) -> RecordMeta {
        match self {
            Source::Local(e) => RecordMeta::new(e, hashes),
            #[cfg(feature = "serve")]
            Source::Remote(r) => r.meta(),
        }
    }

    /// Refuses what only a local model can do.
    pub fn require_local(&self, what: &str) -> Result<&Engine> {
        match self.local() {
            Some(e) => Ok(e),
            None => bail!("{what} needs a local model, not --endpoint"),
        }
    }
}

/// Decodes every lane of `req` together, with a progress bar over the lanes.
pub fn decode(engine: &Engine, req: &LabRequest, quiet: bool) -> Result<LabRun> {
    let lanes = req.temperatures.len() * req.samples;
    let progress = progress_bar(quiet, lanes);
    let (mut tokens, mut done) = (0usize, 0u64);
    let t0 = std::time::Instant::now();
    let run = block_on(engine.lab(req, &mut |_, ev| {
        match ev {
            Event::Token { .. } => tokens += 1,
            Event::Done { .. } => {
                done += 1;
                progress.set_position(done);
            }
            Event::Text { .. } => {}
        }
        let secs = t0.elapsed().as_secs_f64().max(1e-3);
        progress.set_message(format!(
            "{tokens} tokens, {:.1} tok/s",
            tokens as f64 / secs
        ));
        ControlFlow::Continue(())
    }))?;
    progress.finish_and_clear();
    Ok(run)
}

/// A bar over the lanes (hidden when asked or when stderr is not a terminal).
pub fn progress_bar(hidden: bool, lanes: usize) -> ProgressBar {
    if hidden {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(lanes as u64);
    pb.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} lanes done · {msg} · {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    pb.enable_steady_tick(std::time::Duration::from_millis(200));
    pb
}
