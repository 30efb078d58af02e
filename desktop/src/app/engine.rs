//! The desktop app's engine: one thread that owns the model and answers the UI's protocol
//! messages as the browser's worker does — generation and lab runs through the same
//! `kiln_web::answer` functions — but natively: models read from disk (the model directory, the
//! file dialog, a drop on the window), the native wgpu adapter or every CPU core.

use std::ops::ControlFlow;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures_lite::future::block_on;
use kiln_engine::{DeviceChoice, Engine, LoadOptions, cpu_threads};
use kiln_web::answer;
use kiln_web::protocol::{AppHost, EngineHost, FromWorker, LoadedModel, ModelSource, ToWorker};

use crate::files;

/// The engine thread's mailbox, and the cancel flag the window sets between two tokens.
#[derive(Clone)]
pub struct NativeEngine {
    tx: Sender<ToWorker>,
    cancelled: Arc<Mutex<Option<u64>>>,
}

impl NativeEngine {
    /// Starts the engine thread; `emit` sends one message to the UI (from that thread).
    pub fn start(emit: impl Fn(FromWorker) + Send + 'static) -> std::io::Result<Self> {
        let (tx, rx) = channel();
        let cancelled = Arc::new(Mutex::new(None));
        let flag = cancelled.clone();
        std::thread::Builder::new()
            .name("kiln-engine".into())
            .spawn(move || serve(&rx, &emit, &flag))?;
        Ok(NativeEngine { tx, cancelled })
    }

    /// Hands one message to the engine; `Cancel` takes effect at once, between two tokens.
    pub fn send(&self, msg: ToWorker) {
        match msg {
            ToWorker::Cancel { id } => set(&self.cancelled, Some(id)),
            other => {
                let _ = self.tx.send(other);
            }
        }
    }
}

fn set(flag: &Mutex<Option<u64>>, v: Option<u64>) {
    if let Ok(mut g) = flag.lock() {
        *g = v;
    }
}

/// The model and what its record needs.
struct Loaded {
    engine: Engine,
    hashes: Vec<(String, String)>,
}

/// Answers messages until the window goes. A panic in the engine (a bug, never input: input gets
/// errors) drops the model and tells the UI, which reconnects and reloads, as it does for a
/// crashed worker.
fn serve(rx: &Receiver<ToWorker>, emit: &dyn Fn(FromWorker), cancelled: &Mutex<Option<u64>>) {
    let mut model: Option<Loaded> = None;
    while let Ok(msg) = rx.recv() {
        let id = match &msg {
            ToWorker::Generate { id, .. } | ToWorker::Lab { id, .. } => Some(*id),
            _ => None,
        };
        match catch_unwind(AssertUnwindSafe(|| {
            handle(&mut model, msg, emit, cancelled)
        })) {
            Ok(Ok(())) => {}
            Ok(Err(message)) => emit(FromWorker::Error { id, message }),
            Err(panic) => {
                model = None;
                let message = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "the engine panicked".into());
                emit(FromWorker::Crashed { message });
            }
        }
    }
}

fn handle(
    model: &mut Option<Loaded>,
    msg: ToWorker,
    emit: &dyn Fn(FromWorker),
    cancelled: &Mutex<Option<u64>>,
) -> Result<(), String> {
    let go_on = |id: u64| {
        if cancelled.lock().is_ok_and(|g| *g == Some(id)) {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    };
    match msg {
        ToWorker::Hello => {
            emit(FromWorker::Ready {
                version: env!("CARGO_PKG_VERSION").into(),
            });
            emit(FromWorker::Host(Box::new(host())));
            Ok(())
        }
        ToWorker::Load {
            source,
            device,
            n_ctx,
            ..
        } => {
            let loaded = load(&source, device, n_ctx, emit)?;
            *model = Some(loaded.0);
            emit(FromWorker::Loaded(Box::new(loaded.1)));
            Ok(())
        }
        ToWorker::Generate { id, request, post } => {
            let m = model.as_ref().ok_or("no model is loaded")?;
            set(cancelled, None);
            let go_on = || go_on(id);
            block_on(answer::generate(
                &m.engine,
                id,
                &request,
                post.as_ref(),
                emit,
                &go_on,
            ))
        }
        ToWorker::Lab { id, request, post } => {
            let m = model.as_ref().ok_or("no model is loaded")?;
            set(cancelled, None);
            let hashes = m.hashes.clone();
            let go_on = || go_on(id);
            block_on(answer::lab(
                &m.engine, hashes, id, &request, &post, emit, &go_on,
            ))
        }
        ToWorker::ClearCache => Err(format!(
            "the desktop app keeps no model cache: its models are the files in {}",
            files::model_dir().display()
        )),
        // The window answers these itself.
        ToWorker::PickModel | ToWorker::Cancel { .. } => Ok(()),
    }
}

/// The model directory and the CPU, for the UI's model panel.
pub fn host() -> AppHost {
    let dir = files::model_dir();
    AppHost {
        cpu_threads: cpu_threads(),
        model_dir: dir.display().to_string(),
        models: files::models_in(&dir)
            .iter()
            .filter_map(|p| p.to_str().map(str::to_string))
            .collect(),
    }
}

/// Reads and loads a model, with progress, as the browser's worker does (the current model stays
/// until the new one is ready).
fn load(
    source: &ModelSource,
    device: DeviceChoice,
    n_ctx: Option<usize>,
    emit: &dyn Fn(FromWorker),
) -> Result<(Loaded, LoadedModel), String> {
    let t0 = Instant::now();
    let path = match source {
        ModelSource::Default => files::resolve(None).map_err(|e| e.to_string())?,
        ModelSource::Path { path } => PathBuf::from(path),
        ModelSource::Url { url } => {
            return Err(format!(
                "{url}: the desktop app works offline and reads models from disk — open a file, drop one on the window, or put it in {}",
                files::model_dir().display()
            ));
        }
        ModelSource::Files { .. } => {
            return Err("files picked in the page cannot reach the native engine: open the model with the app's button, or drop it on the window".into());
        }
    };
    let progress = |stage: &str, done: u64, total: u64| {
        emit(FromWorker::Progress {
            stage: stage.into(),
            done,
            total: Some(total),
        })
    };
    // One message per 16 MiB read, not per 8 MiB chunk boundary alone.
    let mut last = 0u64;
    let model_files = files::read_model_with(&path, &mut |done, total| {
        if done - last >= 16 << 20 || done == total {
            last = done;
            progress("read", done, total);
        }
    })
    .map_err(|e| format!("{e:#}"))?;
    let (sha256, hashes) = answer::model_hashes(&model_files);
    // Headers first: a broken or unsupported file is reported before any device is touched.
    let info = Engine::inspect(&model_files).map_err(|e| e.to_string())?;
    let opts = LoadOptions {
        device,
        n_ctx,
        ..LoadOptions::default()
    };
    let engine = block_on(Engine::load(&model_files, &opts, &mut |done, total| {
        progress("load", done as u64, total as u64)
    }))
    .map_err(|e| format!("{}: {e}", path.display()))?;
    drop(model_files);
    let model = answer::loaded_model(
        &engine,
        sha256,
        "disk",
        info.largest_tensor_bytes,
        t0.elapsed().as_secs_f64() * 1000.0,
        EngineHost::Native {
            cpu_threads: cpu_threads(),
        },
    );
    eprintln!(
        "kiln app: {} on {} [{}] loaded in {:.0} ms",
        path.display(),
        model.device.name,
        model.device.backend,
        model.load_ms
    );
    Ok((Loaded { engine, hashes }, model))
}
