//! The Web Worker that owns the engine. It answers [`ToWorker`] messages with [`FromWorker`]
//! ones: it fetches a model (with progress), verifies its sha256, keeps it in the Origin Private
//! File System keyed by that hash (so a second visit loads offline), loads the engine on WebGPU
//! or the CPU, streams generation events, and post-processes the result.

use std::cell::{Cell, RefCell};
use std::ops::ControlFlow;
use std::rc::Rc;

use js_sys::{Object, Reflect, Uint8Array};
use kiln_engine::post::process;
use kiln_engine::{DeviceChoice, Engine, Event, GenerateRequest, LoadOptions, ModelFiles, now_ms};
use sha2::{Digest, Sha256};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    DedicatedWorkerGlobalScope, File, FileSystemDirectoryHandle, FileSystemFileHandle,
    FileSystemGetFileOptions, FileSystemWritableFileStream, MessageEvent,
    ReadableStreamDefaultReader, Response,
};

use crate::protocol::{FromWorker, LoadedModel, ModelSource, ToWorker, decode, encode};

/// The default model, copied next to the app by `scripts/web_build.sh`.
pub const DEFAULT_MODEL_URL: &str = "models/SmolLM2-135M-Instruct-Q4_1.gguf";
/// Its sha256 (the same pin as `scripts/fetch_model.sh`).
pub const DEFAULT_MODEL_SHA256: &str =
    "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53";

#[derive(Default)]
struct State {
    engine: RefCell<Option<Rc<Engine>>>,
    /// The id of a generation the UI asked to stop.
    cancelled: Cell<Option<u64>>,
    busy: Cell<bool>,
}

/// Installs the message handler and tells the UI the worker is listening.
pub fn start() {
    let scope: DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
    let state = Rc::new(State::default());
    let s = scope.clone();
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
        let data = ev.data();
        let json = Reflect::get(&data, &JsValue::from_str("json"))
            .ok()
            .and_then(|j| j.as_string())
            .unwrap_or_default();
        let file = Reflect::get(&data, &JsValue::from_str("file"))
            .ok()
            .and_then(|f| f.dyn_into::<File>().ok());
        match decode::<ToWorker>(&json) {
            // Handled at once, between two tokens of a running generation.
            Ok(ToWorker::Cancel { id }) => state.cancelled.set(Some(id)),
            Ok(msg) => {
                let (state, s) = (state.clone(), s.clone());
                wasm_bindgen_futures::spawn_local(
                    async move { handle(&state, &s, msg, file).await },
                );
            }
            Err(message) => post(&s, &FromWorker::Error { id: None, message }),
        }
    });
    scope.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    on_message.forget();
    post(
        &scope,
        &FromWorker::Ready {
            version: env!("CARGO_PKG_VERSION").into(),
        },
    );
}

fn post(scope: &DedicatedWorkerGlobalScope, msg: &FromWorker) {
    let o = Object::new();
    let _ = Reflect::set(
        &o,
        &JsValue::from_str("json"),
        &JsValue::from_str(&encode(msg)),
    );
    let _ = scope.post_message(&o);
}

async fn handle(
    state: &State,
    scope: &DedicatedWorkerGlobalScope,
    msg: ToWorker,
    file: Option<File>,
) {
    let id = match &msg {
        ToWorker::Generate { id, .. } => Some(*id),
        _ => None,
    };
    if state.busy.replace(true) {
        let message = "the engine is busy: cancel the running generation or wait".to_string();
        post(scope, &FromWorker::Error { id, message });
        return;
    }
    let result = match msg {
        ToWorker::Load {
            source,
            device,
            n_ctx,
        } => load(state, scope, source, file, device, n_ctx)
            .await
            .map(|m| post(scope, &FromWorker::Loaded(m))),
        ToWorker::Generate { id, request, post } => {
            generate(state, scope, id, &request, post.as_ref()).await
        }
        ToWorker::ClearCache => clear_cache(scope).await,
        ToWorker::Cancel { .. } => Ok(()),
    };
    state.busy.set(false);
    if let Err(message) = result {
        post(scope, &FromWorker::Error { id, message });
    }
}

async fn load(
    state: &State,
    scope: &DedicatedWorkerGlobalScope,
    source: ModelSource,
    file: Option<File>,
    device: DeviceChoice,
    n_ctx: Option<usize>,
) -> Result<LoadedModel, String> {
    let t0 = now_ms();
    let (name, bytes, from_cache, storage) = match source {
        ModelSource::Default => {
            cached_or_fetched(scope, DEFAULT_MODEL_URL, Some(DEFAULT_MODEL_SHA256)).await?
        }
        ModelSource::Url { url } => cached_or_fetched(scope, &url, None).await?,
        ModelSource::File { name } => {
            let f = file.ok_or("the file did not come with the message")?;
            (name, read_blob(&f).await?, false, "memory".to_string())
        }
    };
    let sha256 = hex(&Sha256::digest(&bytes));
    // Free the previous model before the new one's weights are built.
    *state.engine.borrow_mut() = None;
    let files = ModelFiles::Gguf {
        name: name.clone(),
        bytes,
    };
    let mut on_progress = |done: usize, total: usize| {
        post(
            scope,
            &FromWorker::Progress {
                stage: "load".into(),
                done: done as u64,
                total: Some(total as u64),
            },
        )
    };
    let engine = Engine::load(&files, &LoadOptions { device, n_ctx }, &mut on_progress)
        .await
        .map_err(|e| e.to_string())?;
    drop(files);
    let info = engine.info();
    let model = LoadedModel {
        file: name,
        arch: info.arch.clone(),
        n_params: info.n_params,
        vocab_size: info.vocab_size,
        has_chat_template: info.chat_template.is_some(),
        sha256,
        from_cache,
        storage,
        device: engine.device().clone(),
        load_ms: now_ms() - t0,
    };
    *state.engine.borrow_mut() = Some(Rc::new(engine));
    Ok(model)
}

async fn generate(
    state: &State,
    scope: &DedicatedWorkerGlobalScope,
    id: u64,
    request: &GenerateRequest,
    post_opts: Option<&kiln_engine::post::PostOptions>,
) -> Result<(), String> {
    let engine = state.engine.borrow().clone().ok_or("no model is loaded")?;
    state.cancelled.set(None);
    let mut on_event = |event: Event| {
        let piece = match &event {
            // The token's own text (a byte-level piece of a multi-byte character shows as
            // U+FFFD: the token view shows tokens, the output shows text).
            Event::Token { id, .. } => engine
                .tokenizer()
                .decode(&[*id])
                .ok()
                .or_else(|| engine.tokenizer().token_text(*id)),
            _ => None,
        };
        post(scope, &FromWorker::Event { id, event, piece });
        if state.cancelled.get() == Some(id) {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    };
    let generation = engine
        .generate(request, &mut on_event)
        .await
        .map_err(|e| e.to_string())?;
    if let Some(opts) = post_opts {
        let mut opts = opts.clone();
        opts.hit_max_tokens = generation.finish == kiln_engine::Finish::MaxTokens;
        let report = Box::new(process(&generation.text, &opts));
        post(scope, &FromWorker::Post { id, report });
    }
    Ok(())
}

/// The model's bytes: from OPFS when a verified copy is there, else fetched (with progress),
/// verified against `expected` when given, and stored for next time.
async fn cached_or_fetched(
    scope: &DedicatedWorkerGlobalScope,
    url: &str,
    expected: Option<&str>,
) -> Result<(String, Vec<u8>, bool, String), String> {
    let name = url.rsplit('/').next().unwrap_or(url).to_string();
    let dir = opfs_dir(scope).await.ok();
    // URLs without a pinned hash are indexed by the hash of the URL.
    let key = match expected {
        Some(h) => format!("{h}.gguf"),
        None => format!("url-{}.gguf", hex(&Sha256::digest(url.as_bytes()))),
    };
    if let Some(dir) = &dir
        && let Some(bytes) = opfs_read(dir, &key).await
    {
        let sha = hex(&Sha256::digest(&bytes));
        if expected.is_none_or(|h| h == sha) {
            return Ok((name, bytes, true, "opfs".into()));
        }
        // A partial or damaged copy: drop it and fetch again.
        let _ = JsFuture::from(dir.remove_entry(&key)).await;
    }
    let bytes = fetch_with_progress(scope, url).await?;
    let sha = hex(&Sha256::digest(&bytes));
    if let Some(h) = expected
        && h != sha
    {
        return Err(format!(
            "{url}: sha256 mismatch (got {sha}, expected {h}): the download is corrupt or not the default model"
        ));
    }
    let storage = match &dir {
        Some(dir) => match opfs_write(dir, &key, &bytes).await {
            Ok(()) => "opfs".to_string(),
            Err(e) => {
                post(
                    scope,
                    &FromWorker::Error {
                        id: None,
                        message: format!("cannot cache the model ({e}); keeping it in memory only"),
                    },
                );
                "memory".to_string()
            }
        },
        None => "memory".to_string(),
    };
    Ok((name, bytes, false, storage))
}

async fn fetch_with_progress(
    scope: &DedicatedWorkerGlobalScope,
    url: &str,
) -> Result<Vec<u8>, String> {
    let resp: Response = JsFuture::from(scope.fetch_with_str(url))
        .await
        .map_err(|e| format!("{url}: {}", js_error(&e)))?
        .dyn_into()
        .map_err(|_| format!("{url}: not a response"))?;
    if !resp.ok() {
        return Err(format!(
            "{url}: HTTP {} {}",
            resp.status(),
            resp.status_text()
        ));
    }
    let total = resp
        .headers()
        .get("content-length")
        .ok()
        .flatten()
        .and_then(|v| v.parse::<u64>().ok());
    let body = resp.body().ok_or_else(|| format!("{url}: empty body"))?;
    let reader: ReadableStreamDefaultReader = body.get_reader().unchecked_into();
    let mut bytes = Vec::with_capacity(total.unwrap_or(0) as usize);
    let mut last_report = 0u64;
    loop {
        let chunk = JsFuture::from(reader.read())
            .await
            .map_err(|e| format!("{url}: {}", js_error(&e)))?;
        let done = Reflect::get(&chunk, &JsValue::from_str("done"))
            .ok()
            .and_then(|d| d.as_bool())
            .unwrap_or(true);
        if done {
            break;
        }
        if let Ok(value) = Reflect::get(&chunk, &JsValue::from_str("value")) {
            bytes.extend(Uint8Array::new(&value).to_vec());
        }
        let n = bytes.len() as u64;
        if n - last_report >= 1 << 20 || Some(n) == total {
            last_report = n;
            post(
                scope,
                &FromWorker::Progress {
                    stage: "download".into(),
                    done: n,
                    total,
                },
            );
        }
    }
    Ok(bytes)
}

async fn opfs_dir(scope: &DedicatedWorkerGlobalScope) -> Result<FileSystemDirectoryHandle, String> {
    JsFuture::from(scope.navigator().storage().get_directory())
        .await
        .map_err(|e| js_error(&e))?
        .dyn_into()
        .map_err(|_| "the origin private file system is not available".to_string())
}

async fn opfs_read(dir: &FileSystemDirectoryHandle, name: &str) -> Option<Vec<u8>> {
    let handle: FileSystemFileHandle = JsFuture::from(dir.get_file_handle(name))
        .await
        .ok()?
        .dyn_into()
        .ok()?;
    let file: File = JsFuture::from(handle.get_file())
        .await
        .ok()?
        .dyn_into()
        .ok()?;
    read_blob(&file).await.ok()
}

async fn opfs_write(
    dir: &FileSystemDirectoryHandle,
    name: &str,
    bytes: &[u8],
) -> Result<(), String> {
    let opts = FileSystemGetFileOptions::new();
    opts.set_create(true);
    let handle: FileSystemFileHandle =
        JsFuture::from(dir.get_file_handle_with_options(name, &opts))
            .await
            .map_err(|e| js_error(&e))?
            .dyn_into()
            .map_err(|_| "not a file handle".to_string())?;
    let stream: FileSystemWritableFileStream = JsFuture::from(handle.create_writable())
        .await
        .map_err(|e| js_error(&e))?
        .dyn_into()
        .map_err(|_| "not a writable stream".to_string())?;
    let write = stream
        .write_with_u8_array(bytes)
        .map_err(|e| js_error(&e))?;
    JsFuture::from(write).await.map_err(|e| js_error(&e))?;
    JsFuture::from(stream.close())
        .await
        .map_err(|e| js_error(&e))?;
    Ok(())
}

async fn clear_cache(scope: &DedicatedWorkerGlobalScope) -> Result<(), String> {
    let dir = opfs_dir(scope).await?;
    let names: Vec<String> = vec![format!("{DEFAULT_MODEL_SHA256}.gguf")];
    for n in names {
        let _ = JsFuture::from(dir.remove_entry(&n)).await;
    }
    Ok(())
}

async fn read_blob(blob: &web_sys::Blob) -> Result<Vec<u8>, String> {
    let buf = JsFuture::from(blob.array_buffer())
        .await
        .map_err(|e| js_error(&e))?;
    Ok(Uint8Array::new(&buf).to_vec())
}

fn js_error(e: &JsValue) -> String {
    e.as_string()
        .or_else(|| {
            Reflect::get(e, &JsValue::from_str("message"))
                .ok()
                .and_then(|m| m.as_string())
        })
        .unwrap_or_else(|| format!("{e:?}"))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
