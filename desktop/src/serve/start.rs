//! Starting the server: flags, the API key, the engine thread (the model is loaded there and
//! stays there), the listener and the connection loop (HTTP/1.1 with a header-read time limit).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::sync::mpsc;

use super::guard::Guard;
use super::jobs::{AppState, Served, now, random_hex};
use super::router::router;
use super::scheduler::{self, Load};
use crate::{ModelArgs, files};

/// `kiln serve` flags.
#[derive(Args)]
pub struct ServeArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Address to listen on. Anything but a loopback address needs --public.
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// Port (0: any free one, printed at start).
    #[arg(long, default_value_t = 8088)]
    port: u16,
    /// Allow a non-loopback --host: the API is then reachable from the network (the key still
    /// guards it; traffic is plain HTTP).
    #[arg(long)]
    public: bool,
    /// Another Host header value to answer to, as NAME:PORT (repeatable), e.g. a machine name
    /// with --public. Compared whole: no wildcards.
    #[arg(long = "allow-host")]
    allow_hosts: Vec<String>,
    /// Read the API key from this file (else KILN_API_KEY, else a random key printed at start).
    #[arg(long = "api-key-file")]
    api_key_file: Option<PathBuf>,
    /// Most lanes decoding at once (all requests' choices together).
    #[arg(long, default_value_t = 16)]
    parallel: usize,
    /// Most requests waiting for a lane; beyond it a request gets 429 with Retry-After.
    #[arg(long, default_value_t = 64)]
    queue: usize,
    /// Largest request body in bytes.
    #[arg(long = "max-body", default_value_t = 1 << 20)]
    max_body: usize,
    /// The model's name in /v1/models and answers (default: the file's name without extension).
    #[arg(long)]
    alias: Option<String>,
}

/// How long a client may take to send its request headers.
const HEADER_TIME: Duration = Duration::from_secs(10);

/// Runs `kiln serve` until interrupted.
pub fn run(args: ServeArgs) -> Result<()> {
    if !args.host.is_loopback() && !args.public {
        bail!(
            "{} is not a loopback address: pass --public to serve the network (the API key \
             still applies; traffic is unencrypted HTTP)",
            args.host
        );
    }
    if args.parallel == 0 || args.queue == 0 {
        bail!("--parallel and --queue must be at least 1");
    }
    let (key, key_source) = api_key(args.api_key_file.as_deref())?;
    let path = files::resolve(args.model.model.as_deref())?;
    let id = args.alias.clone().unwrap_or_else(|| {
        path.file_stem()
            .map_or_else(|| "model".into(), |s| s.to_string_lossy().into_owned())
    });

    // The engine thread: loads the model, says what it serves, then runs the batch.
    let (jobs_tx, jobs_rx) = mpsc::channel(args.queue);
    let load = Arc::new(Load::default());
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (margs, engine_load, slots) = (args.model.clone(), load.clone(), args.parallel);
    std::thread::Builder::new()
        .name("kiln-engine".into())
        .spawn(move || {
            let engine = match crate::load(&margs) {
                Ok((engine, _)) => engine,
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            let info = engine.info();
            let d = engine.device();
            let served = (
                info.n_ctx,
                kiln_engine::fim_tokens(engine.tokenizer()),
                engine.chat_template().is_some(),
                format!("{} [{}], {}", d.name, d.backend, engine.kernels()),
            );
            let _ = ready_tx.send(Ok(served));
            scheduler::run(&engine, jobs_rx, slots, &engine_load);
        })
        .context("cannot start the engine thread")?;
    let (n_ctx, fim, chat, engine) = ready_rx
        .recv()
        .context("the engine thread ended while loading")??;
    let model = Arc::new(Served {
        id,
        n_ctx,
        fim,
        chat,
        engine,
        created: now(),
        slots: args.parallel,
        queue: args.queue,
    });

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(SocketAddr::new(args.host, args.port))
            .await
            .with_context(|| format!("cannot listen on {}:{}", args.host, args.port))?;
        let addr = listener.local_addr()?;
        let rules = Arc::new(Guard {
            hosts: hosts(addr, &args.allow_hosts),
            key,
        });
        let app = router(
            AppState {
                jobs: jobs_tx,
                load,
                model: model.clone(),
            },
            rules,
            args.max_body,
        );
        if args.public {
            eprintln!(
                "kiln serve: WARNING: listening on {addr}, reachable from the network \
                 (plain HTTP; the API key is the only guard)"
            );
        }
        eprintln!(
            "kiln serve: {} (context {}, {} lanes at once, {} waiting at most) on {}",
            model.id, model.n_ctx, model.slots, model.queue, model.engine
        );
        eprintln!("kiln serve: API key: {key_source}");
        // The URL last, on a line of its own: scripts and tests wait for it.
        eprintln!("kiln serve: listening on http://{addr}/v1");
        loop {
            let (stream, _) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        eprintln!("kiln serve: accept failed: {e}");
                        continue;
                    }
                },
                _ = tokio::signal::ctrl_c() => break,
            };
            let service = TowerToHyperService::new(app.clone());
            tokio::spawn(async move {
                let mut http = hyper::server::conn::http1::Builder::new();
                http.timer(TokioTimer::new())
                    .header_read_timeout(HEADER_TIME);
                let _ = http.serve_connection(TokioIo::new(stream), service).await;
            });
        }
        eprintln!("kiln serve: stopped");
        anyhow::Ok(())
    })
}

/// The Host values a server bound to `addr` answers to.
fn hosts(addr: SocketAddr, extra: &[String]) -> Vec<String> {
    let port = addr.port();
    let mut hosts = vec![format!("localhost:{port}"), addr.to_string()];
    if addr.ip().is_unspecified() {
        hosts.push(format!("127.0.0.1:{port}"));
        hosts.push(format!("[::1]:{port}"));
    }
    hosts.extend(extra.iter().map(|h| h.to_ascii_lowercase()));
    hosts
}

/// The key and, in words, where it came from (the printed line shows a generated key once: it
/// is the only way to learn it; a key from a file or the environment is not repeated).
fn api_key(file: Option<&std::path::Path>) -> Result<(String, String)> {
    if let Some(f) = file {
        let key = std::fs::read_to_string(f)
            .with_context(|| format!("cannot read the API key file {}", f.display()))?
            .trim()
            .to_string();
        if key.len() < 16 {
            bail!(
                "the API key in {} is shorter than 16 characters",
                f.display()
            );
        }
        return Ok((key, format!("from {}", f.display())));
    }
    if let Ok(key) = std::env::var("KILN_API_KEY") {
        let key = key.trim().to_string();
        if key.len() < 16 {
            bail!("KILN_API_KEY is shorter than 16 characters");
        }
        return Ok((key, "from KILN_API_KEY".into()));
    }
    let key = random_hex(24).map_err(|e| anyhow::anyhow!("no random key: {e}"))?;
    let shown = format!("{key} (random for this start; send Authorization: Bearer KEY)");
    Ok((key, shown))
}
