//! The Web Worker that owns the engine. It answers [`ToWorker`] messages with [`FromWorker`]
//! ones: it fetches a model (with progress), verifies its sha256, keeps it in the Origin Private
//! File System keyed by that hash (the Cache API where there is no OPFS, memory when storage is
//! refused) so that a second visit loads offline, asks the browser for a WebGPU adapter and checks
//! its buffer limits, loads the engine on WebGPU or the CPU, streams generation events (of one
//! request, or of every lane of a lab run), and post-processes the result.

use std::cell::{Cell, RefCell};
use std::ops::ControlFlow;
use std::rc::Rc;

use js_sys::{Array, Function, Object, Promise, Reflect, Uint8Array};
use kiln_engine::lab::LabRequest;
use kiln_engine::post::PostOptions;
use kiln_engine::{DeviceChoice, Engine, GenerateRequest, LoadOptions, ModelFiles, now_ms};
use sha2::{Digest, Sha256};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    Blob, Cache, DedicatedWorkerGlobalScope, File, FileSystemDirectoryHandle, FileSystemFileHandle,
    FileSystemGetFileOptions, FileSystemWritableFileStream, MessageEvent,
    ReadableStreamDefaultReader, Response,
};

use crate::answer::{self, hex};
use crate::protocol::{
    EngineHost, FromWorker, LoadedModel, ModelSource, StoreChoice, ToWorker, WebGpuAdapter, decode,
    encode,
};

/// The default model, copied next to the app by `scripts/web_build.sh`.
pub const DEFAULT_MODEL_URL: &str = "models/SmolLM2-135M-Instruct-Q4_1.gguf";
/// Its sha256 (the same pin as `scripts/fetch_model.sh`).
pub const DEFAULT_MODEL_SHA256: &str =
    "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53";

#[derive(Default)]
struct State {
    engine: RefCell<Option<Rc<Engine>>>,
    /// The loaded model's files and the sha256 of each, for lab records (as the CLI's).
    hashes: RefCell<Vec<(String, String)>>,
    /// The id of a generation the UI asked to stop.
    cancelled: Cell<Option<u64>>,
    busy: Cell<bool>,
}

impl State {
    /// Whether request `id` goes on after this token: not once the UI has cancelled it.
    fn go_on(&self, id: u64) -> ControlFlow<()> {
        if self.cancelled.get() == Some(id) {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }
}

/// Installs the message handler and tells the UI the worker is listening.
pub fn start() {
    let scope: DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
    // A panic aborts the wasm instance: say so, and the UI starts a fresh worker.
    std::panic::set_hook(Box::new(|info| {
        let scope: DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
        post(
            &scope,
            &FromWorker::Crashed {
                message: info.to_string(),
            },
        );
    }));
    let state = Rc::new(State::default());
    let s = scope.clone();
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
        let data = ev.data();
        let json = Reflect::get(&data, &JsValue::from_str("json"))
            .ok()
            .and_then(|j| j.as_string())
            .unwrap_or_default();
        let files: Vec<File> = Reflect::get(&data, &JsValue::from_str("files"))
            .ok()
            .and_then(|f| f.dyn_into::<Array>().ok())
            .map(|a| a.iter().filter_map(|f| f.dyn_into::<File>().ok()).collect())
            .unwrap_or_default();
        match decode::<ToWorker>(&json) {
            // Handled at once, between two tokens of a running generation.
            Ok(ToWorker::Cancel { id }) => state.cancelled.set(Some(id)),
            Ok(msg) => {
                let (state, s) = (state.clone(), s.clone());
                wasm_bindgen_futures::spawn_local(
                    async move { handle(&state, &s, msg, files).await },
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
    files: Vec<File>,
) {
    let id = match &msg {
        ToWorker::Generate { id, .. } | ToWorker::Lab { id, .. } => Some(*id),
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
            store,
        } => load(state, scope, source, files, device, n_ctx, store)
            .await
            .map(|m| post(scope, &FromWorker::Loaded(Box::new(m)))),
        ToWorker::Generate { id, request, post } => {
            generate(state, scope, id, &request, post.as_ref()).await
        }
        ToWorker::Lab { id, request, post } => lab(state, scope, id, &request, &post).await,
        ToWorker::ClearCache => clear_cache(scope).await,
        ToWorker::Hello => {
            post(
                scope,
                &FromWorker::Ready {
                    version: env!("CARGO_PKG_VERSION").into(),
                },
            );
            Ok(())
        }
        ToWorker::PickModel => {
            Err("the browser picks files in the page: use the file button".into())
        }
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
    files: Vec<File>,
    device: DeviceChoice,
    n_ctx: Option<usize>,
    store: StoreChoice,
) -> Result<LoadedModel, String> {
    let t0 = now_ms();
    let store = Store::open(scope, store).await;
    let (files, from_cache, storage) = match source {
        ModelSource::Default => {
            let (name, bytes, hit, storage) = cached_or_fetched(
                scope,
                store.as_ref(),
                DEFAULT_MODEL_URL,
                Some(DEFAULT_MODEL_SHA256),
            )
            .await?;
            (ModelFiles::Gguf { name, bytes }, hit, storage)
        }
        ModelSource::Url { url } => {
            let (name, bytes, hit, storage) =
                cached_or_fetched(scope, store.as_ref(), &url, None).await?;
            (ModelFiles::Gguf { name, bytes }, hit, storage)
        }
        ModelSource::Files { names } => (
            read_files(scope, &names, &files).await?,
            false,
            "memory".into(),
        ),
        ModelSource::Path { path } => {
            return Err(format!(
                "{path}: a page cannot open files by path; pick or drop the file instead"
            ));
        }
    };
    let (sha256, hashes) = crate::answer::model_hashes(&files);
    // Headers first: a broken or unsupported file is reported before any device is touched,
    // and the model that is loaded now stays loaded.
    let info = Engine::inspect(&files).map_err(|e| e.to_string())?;
    let file_bytes = match &files {
        ModelFiles::Gguf { bytes, .. } => bytes.len() as u64,
        ModelFiles::HfDir(map) => map.values().map(|b| b.len() as u64).sum(),
    };
    let largest = info.largest_tensor_bytes;
    let webgpu = probe_webgpu(scope).await;
    let (choice, note) = match (device, &webgpu) {
        (DeviceChoice::Cpu, _) => (DeviceChoice::Cpu, None),
        (DeviceChoice::Gpu, Err(why)) => return Err(why.clone()),
        (DeviceChoice::Gpu, Ok(a)) => {
            a.fits(largest)?;
            (DeviceChoice::Gpu, None)
        }
        (DeviceChoice::Auto, Err(why)) => (
            DeviceChoice::Cpu,
            Some(format!("{why}: using the CPU backend")),
        ),
        (DeviceChoice::Auto, Ok(a)) => match a.fits(largest) {
            Ok(()) => (DeviceChoice::Auto, None),
            Err(why) => (
                DeviceChoice::Cpu,
                Some(format!("{why}: using the CPU backend")),
            ),
        },
    };
    // On the CPU a GGUF's blocks stay blocks (about the file's size); on WebGPU, and for
    // safetensors, the weights are f32 while they load.
    let held = match (&files, choice) {
        (ModelFiles::Gguf { .. }, DeviceChoice::Cpu) => file_bytes,
        _ => info.n_params as u64 * 4,
    };
    crate::logic::fits_wasm_memory(held, file_bytes)?;
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
    let opts = LoadOptions {
        device: choice,
        n_ctx,
        ..LoadOptions::default()
    };
    let engine = Engine::load(&files, &opts, &mut on_progress)
        .await
        .map_err(|e| e.to_string())?;
    drop(files);
    let mut model = answer::loaded_model(
        &engine,
        sha256,
        &storage,
        largest,
        now_ms() - t0,
        EngineHost::Worker,
    );
    model.from_cache = from_cache;
    model.webgpu = webgpu.ok();
    if model.device.note.is_none() {
        model.device.note = note;
    }
    *state.engine.borrow_mut() = Some(Rc::new(engine));
    *state.hashes.borrow_mut() = hashes;
    Ok(model)
}

/// Reads picked or dropped files: one GGUF, or a Hugging Face set.
async fn read_files(
    scope: &DedicatedWorkerGlobalScope,
    names: &[String],
    files: &[File],
) -> Result<ModelFiles, String> {
    if files.is_empty() || files.len() != names.len() {
        return Err("the files did not come with the message".into());
    }
    let total: f64 = files.iter().map(|f| f.size()).sum();
    let mut done = 0.0;
    let mut read = Vec::with_capacity(files.len());
    for (name, file) in names.iter().zip(files) {
        let bytes = read_blob(file).await?;
        done += file.size();
        post(
            scope,
            &FromWorker::Progress {
                stage: "read".into(),
                done: done as u64,
                total: Some(total as u64),
            },
        );
        read.push((name.clone(), bytes));
    }
    if read.len() == 1 && !read[0].0.ends_with(".json") && !read[0].0.ends_with(".safetensors") {
        let (name, bytes) = read.remove(0);
        return Ok(ModelFiles::Gguf { name, bytes });
    }
    Ok(ModelFiles::HfDir(read.into_iter().collect()))
}

/// Asks the browser for a WebGPU adapter and reads what wgpu does not pass on: the adapter's
/// vendor and architecture, f16 support and buffer limits. `Err` says why there is no WebGPU.
async fn probe_webgpu(scope: &DedicatedWorkerGlobalScope) -> Result<WebGpuAdapter, String> {
    let get = |o: &JsValue, k: &str| Reflect::get(o, &JsValue::from_str(k)).ok();
    let gpu = get(scope.navigator().as_ref(), "gpu")
        .filter(|g| g.is_object())
        .ok_or("this browser has no WebGPU (navigator.gpu is missing)")?;
    let request: Function = get(&gpu, "requestAdapter")
        .and_then(|f| f.dyn_into().ok())
        .ok_or("navigator.gpu.requestAdapter is missing")?;
    let promise: Promise = request
        .call0(&gpu)
        .map_err(|e| format!("WebGPU: {}", js_error(&e)))?
        .dyn_into()
        .map_err(|_| "WebGPU: requestAdapter() returned no promise")?;
    let adapter = JsFuture::from(promise)
        .await
        .map_err(|e| format!("WebGPU: {}", js_error(&e)))?;
    if !adapter.is_object() {
        return Err("WebGPU offers no adapter here (requestAdapter() returned null)".into());
    }
    let info = get(&adapter, "info").unwrap_or(JsValue::UNDEFINED);
    let text = |k: &str| {
        get(&info, k)
            .and_then(|v| v.as_string())
            .unwrap_or_default()
    };
    let flag = |o: &JsValue, k: &str| get(o, k).and_then(|v| v.as_bool()).unwrap_or(false);
    let limits = get(&adapter, "limits").unwrap_or(JsValue::UNDEFINED);
    let limit = |k: &str| get(&limits, k).and_then(|v| v.as_f64()).unwrap_or(0.0) as u64;
    let features = get(&adapter, "features").unwrap_or(JsValue::UNDEFINED);
    let shader_f16 = get(&features, "has")
        .and_then(|f| f.dyn_into::<Function>().ok())
        .and_then(|has| has.call1(&features, &JsValue::from_str("shader-f16")).ok())
        .and_then(|v| v.as_bool())
        .unwrap_or(false);
    Ok(WebGpuAdapter {
        vendor: text("vendor"),
        architecture: text("architecture"),
        description: text("description"),
        is_fallback: flag(&info, "isFallbackAdapter") || flag(&adapter, "isFallbackAdapter"),
        shader_f16,
        max_buffer_size: limit("maxBufferSize"),
        max_storage_buffer_binding_size: limit("maxStorageBufferBindingSize"),
    })
}

async fn generate(
    state: &State,
    scope: &DedicatedWorkerGlobalScope,
    id: u64,
    request: &GenerateRequest,
    post_opts: Option<&PostOptions>,
) -> Result<(), String> {
    let engine = state.engine.borrow().clone().ok_or("no model is loaded")?;
    state.cancelled.set(None);
    let emit = |msg: FromWorker| post(scope, &msg);
    answer::generate(&engine, id, request, post_opts, &emit, &|| state.go_on(id)).await
}

/// A lab run (answer::lab), with the loaded model's hashes for its record.
async fn lab(
    state: &State,
    scope: &DedicatedWorkerGlobalScope,
    id: u64,
    request: &LabRequest,
    post_opts: &PostOptions,
) -> Result<(), String> {
    let engine = state.engine.borrow().clone().ok_or("no model is loaded")?;
    state.cancelled.set(None);
    let emit = |msg: FromWorker| post(scope, &msg);
    let hashes = state.hashes.borrow().clone();
    answer::lab(&engine, hashes, id, request, post_opts, &emit, &|| {
        state.go_on(id)
    })
    .await
}

/// Where models are kept between visits.
enum Store {
    /// The Origin Private File System.
    Opfs(FileSystemDirectoryHandle),
    /// The Cache API (browsers without OPFS).
    CacheApi(Cache),
}

/// The name of the Cache API cache.
const CACHE_NAME: &str = "kiln-models";

impl Store {
    async fn open(scope: &DedicatedWorkerGlobalScope, choice: StoreChoice) -> Option<Store> {
        if choice == StoreChoice::Memory {
            return None;
        }
        if choice == StoreChoice::Auto
            && let Ok(dir) = opfs_dir(scope).await
        {
            return Some(Store::Opfs(dir));
        }
        let caches = scope.caches().ok()?;
        let cache = JsFuture::from(caches.open(CACHE_NAME)).await.ok()?;
        cache.dyn_into().ok().map(Store::CacheApi)
    }

    fn label(&self) -> &'static str {
        match self {
            Store::Opfs(_) => "opfs",
            Store::CacheApi(_) => "cache-api",
        }
    }

    async fn read(&self, key: &str) -> Option<Vec<u8>> {
        match self {
            Store::Opfs(dir) => opfs_read(dir, key).await,
            Store::CacheApi(cache) => {
                let hit = JsFuture::from(cache.match_with_str(&cache_url(key)))
                    .await
                    .ok()?;
                let resp: Response = hit.dyn_into().ok()?;
                let buf = JsFuture::from(resp.array_buffer().ok()?).await.ok()?;
                Some(Uint8Array::new(&buf).to_vec())
            }
        }
    }

    /// The stored size of `key`, without reading it (OPFS); the Cache API reads the body.
    async fn read_len(&self, key: &str) -> Option<u64> {
        match self {
            Store::Opfs(dir) => opfs_file(dir, key).await.map(|f| f.size() as u64),
            Store::CacheApi(_) => self.read(key).await.map(|b| b.len() as u64),
        }
    }

    async fn write(&self, key: &str, bytes: &[u8]) -> Result<(), String> {
        match self {
            Store::Opfs(dir) => opfs_write(dir, key, bytes).await,
            Store::CacheApi(cache) => {
                let parts = Array::of1(&Uint8Array::from(bytes));
                let blob = Blob::new_with_u8_array_sequence(&parts).map_err(|e| js_error(&e))?;
                let resp = Response::new_with_opt_blob(Some(&blob)).map_err(|e| js_error(&e))?;
                JsFuture::from(cache.put_with_str(&cache_url(key), &resp))
                    .await
                    .map_err(|e| js_error(&e))?;
                Ok(())
            }
        }
    }

    async fn remove(&self, key: &str) {
        let done = match self {
            Store::Opfs(dir) => dir.remove_entry(key),
            Store::CacheApi(cache) => cache.delete_with_str(&cache_url(key)),
        };
        let _ = JsFuture::from(done).await;
    }
}

/// Cache API keys are URLs; this one resolves under the app's own path and is never fetched.
fn cache_url(key: &str) -> String {
    format!("kiln-cache/{key}")
}

/// The model's bytes: from the browser cache when a verified copy is there, else fetched (with
/// progress), verified against `expected` when given, and stored for next time. Models are stored
/// under their sha256 (`<sha256>.gguf`); a URL without a pinned hash also gets a small index entry
/// (`url-<sha256 of the URL>.sha256`) naming the hash its download had.
async fn cached_or_fetched(
    scope: &DedicatedWorkerGlobalScope,
    store: Option<&Store>,
    url: &str,
    expected: Option<&str>,
) -> Result<(String, Vec<u8>, bool, String), String> {
    let name = url.rsplit('/').next().unwrap_or(url).to_string();
    let index = format!("url-{}.sha256", hex(&Sha256::digest(url.as_bytes())));
    if let Some(store) = store {
        let known = match expected {
            Some(h) => Some(h.to_string()),
            None => store
                .read(&index)
                .await
                .and_then(|b| String::from_utf8(b).ok()),
        };
        if let Some(sha) = known {
            let key = format!("{sha}.gguf");
            if let Some(bytes) = store.read(&key).await {
                if hex(&Sha256::digest(&bytes)) == sha {
                    return Ok((name, bytes, true, store.label().into()));
                }
                // A partial or damaged copy: drop it and fetch again.
                store.remove(&key).await;
            }
        }
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
    let Some(store) = store else {
        return Ok((name, bytes, false, "memory".into()));
    };
    let key = format!("{sha}.gguf");
    let stored = match store.read_len(&key).await {
        // Already there (another URL, or the default model, with the same bytes).
        Some(n) if n == bytes.len() as u64 => Ok(()),
        _ => store.write(&key, &bytes).await,
    };
    let stored = match stored {
        Ok(()) if expected.is_none() => store.write(&index, sha.as_bytes()).await,
        other => other,
    };
    match stored {
        Ok(()) => Ok((name, bytes, false, store.label().into())),
        Err(e) => {
            // A quota error, typically: the model still loads, from memory.
            store.remove(&key).await;
            post(
                scope,
                &FromWorker::Notice {
                    message: format!("cannot cache the model ({e}); keeping it in memory only"),
                },
            );
            Ok((name, bytes, false, "memory".into()))
        }
    }
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

/// The file `name` in `dir`, if it exists.
async fn opfs_file(dir: &FileSystemDirectoryHandle, name: &str) -> Option<File> {
    let handle: FileSystemFileHandle = JsFuture::from(dir.get_file_handle(name))
        .await
        .ok()?
        .dyn_into()
        .ok()?;
    JsFuture::from(handle.get_file())
        .await
        .ok()?
        .dyn_into()
        .ok()
}

async fn opfs_read(dir: &FileSystemDirectoryHandle, name: &str) -> Option<Vec<u8>> {
    let file = opfs_file(dir, name).await?;
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

/// Removes every cached model: all `.gguf` (and URL index `.sha256`) entries in OPFS and the
/// whole Cache API cache.
async fn clear_cache(scope: &DedicatedWorkerGlobalScope) -> Result<(), String> {
    if let Ok(dir) = opfs_dir(scope).await {
        for name in opfs_names(&dir).await? {
            if name.ends_with(".gguf") || name.ends_with(".sha256") {
                JsFuture::from(dir.remove_entry(&name))
                    .await
                    .map_err(|e| format!("cannot remove {name}: {}", js_error(&e)))?;
            }
        }
    }
    if let Ok(caches) = scope.caches() {
        let _ = JsFuture::from(caches.delete(CACHE_NAME)).await;
    }
    Ok(())
}

/// The names in an OPFS directory (its `keys()` async iterator, walked through Reflect).
async fn opfs_names(dir: &FileSystemDirectoryHandle) -> Result<Vec<String>, String> {
    let call = |o: &JsValue, k: &str| -> Result<JsValue, String> {
        Reflect::get(o, &JsValue::from_str(k))
            .ok()
            .and_then(|f| f.dyn_into::<Function>().ok())
            .ok_or_else(|| format!("OPFS: no {k}()"))?
            .call0(o)
            .map_err(|e| js_error(&e))
    };
    let keys = call(dir.as_ref(), "keys")?;
    let mut names = Vec::new();
    loop {
        let step: Promise = call(&keys, "next")?
            .dyn_into()
            .map_err(|_| "OPFS: next() returned no promise".to_string())?;
        let step = JsFuture::from(step).await.map_err(|e| js_error(&e))?;
        if Reflect::get(&step, &JsValue::from_str("done"))
            .ok()
            .and_then(|d| d.as_bool())
            .unwrap_or(true)
        {
            return Ok(names);
        }
        if let Some(n) = Reflect::get(&step, &JsValue::from_str("value"))
            .ok()
            .and_then(|v| v.as_string())
        {
            names.push(n);
        }
    }
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
