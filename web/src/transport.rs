//! How the UI reaches an engine: one small trait, [`Transport`], that carries the
//! [`ToWorker`]/[`FromWorker`] messages of protocol.rs — so that one UI build can talk to any
//! engine that speaks them. Two carriers: in a browser, a module Web Worker
//! (`kiln-worker_loader.js`, put next to the app by scripts/web_build.sh), JSON with any picked
//! files beside it as `File` objects (which are not copied); in the desktop app's window
//! (`kiln app`), the webview's IPC to the native `kiln` process: JSON through
//! `window.ipc.postMessage`, answers through `window.__kilnReceive` (the app's window defines the
//! first, this module the second). Which one is there decides; the UI is the same build.

use js_sys::{Array, Function, Reflect};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{File, MessageEvent, Worker, WorkerOptions, WorkerType};

use crate::protocol::{FromWorker, ToWorker, decode, encode};

/// A carrier of protocol messages to an engine.
pub trait Transport {
    /// Sends one message, with `files` beside it.
    fn send(&self, msg: &ToWorker, files: &[File]);
    /// Stops the engine behind it (a dead or stuck one; the caller starts a replacement).
    fn stop(&self);
}

/// The engine in a module Web Worker.
pub struct WorkerTransport(Worker);

impl Transport for WorkerTransport {
    fn send(&self, msg: &ToWorker, files: &[File]) {
        send(&self.0, msg, files);
    }

    fn stop(&self) {
        self.0.terminate();
    }
}

/// The native engine behind the desktop app's window.
pub struct IpcTransport {
    /// `window.ipc`.
    ipc: JsValue,
    /// Its `postMessage`.
    post: Function,
}

impl Transport for IpcTransport {
    fn send(&self, msg: &ToWorker, _files: &[File]) {
        // No `File` crosses to the native side: the app's model panel sends paths instead.
        let _ = self.post.call1(&self.ipc, &JsValue::from_str(&encode(msg)));
    }

    fn stop(&self) {
        // The native engine outlives the page; a stuck one is the process's to deal with, and
        // the next `Hello` reconnects.
    }
}

/// Whether the page runs in the desktop app's window (the webview's IPC is there).
pub fn in_app() -> bool {
    app_ipc().is_some()
}

/// `window.ipc` and its `postMessage`, where the desktop app's webview put them.
fn app_ipc() -> Option<(JsValue, Function)> {
    let window = web_sys::window()?;
    let ipc = Reflect::get(&window, &JsValue::from_str("ipc"))
        .ok()
        .filter(|v| v.is_object())?;
    let post = Reflect::get(&ipc, &JsValue::from_str("postMessage"))
        .ok()?
        .dyn_into::<Function>()
        .ok()?;
    Some((ipc, post))
}

/// Starts an engine. `on_message` gets every message it sends (or why one could not be read);
/// `on_error` is called when the engine itself fails (the worker's wasm trapped or did not load).
pub fn spawn(
    on_message: impl Fn(Result<FromWorker, String>) + 'static,
    on_error: impl Fn(String) + 'static,
) -> Result<Box<dyn Transport>, String> {
    if let Some((ipc, post)) = app_ipc() {
        let window = web_sys::window().ok_or("no window")?;
        let receive = Closure::<dyn FnMut(String)>::new(move |json: String| {
            on_message(decode::<FromWorker>(&json));
        });
        Reflect::set(
            &window,
            &JsValue::from_str("__kilnReceive"),
            receive.as_ref(),
        )
        .map_err(|_| "cannot install the app's message handler".to_string())?;
        receive.forget();
        // The native engine is already running: tell it the UI listens — once the page has
        // mounted (this runs inside the mount), so that its answer finds a UI to update and the
        // app's "window ready" is the moment the window is usable.
        let hello = IpcTransport {
            ipc: ipc.clone(),
            post: post.clone(),
        };
        crate::page::set_timeout(0, move || hello.send(&ToWorker::Hello, &[]));
        return Ok(Box::new(IpcTransport { ipc, post }));
    }
    spawn_worker(on_message, on_error).map(|w| Box::new(WorkerTransport(w)) as Box<dyn Transport>)
}

/// Starts the Web Worker.
fn spawn_worker(
    on_message: impl Fn(Result<FromWorker, String>) + 'static,
    on_error: impl Fn(String) + 'static,
) -> Result<Worker, String> {
    let opts = WorkerOptions::new();
    opts.set_type(WorkerType::Module);
    let worker = Worker::new_with_options("./kiln-worker_loader.js", &opts)
        .map_err(|e| format!("cannot start the engine worker: {e:?}"))?;
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
        let json = Reflect::get(&ev.data(), &JsValue::from_str("json"))
            .ok()
            .and_then(|j| j.as_string())
            .unwrap_or_default();
        on_message(decode::<FromWorker>(&json));
    });
    worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    on_message.forget();
    let on_error = Closure::<dyn FnMut(JsValue)>::new(move |e: JsValue| {
        let message = Reflect::get(&e, &JsValue::from_str("message"))
            .ok()
            .and_then(|m| m.as_string())
            .unwrap_or_else(|| "unknown error".into());
        on_error(message);
    });
    worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
    on_error.forget();
    Ok(worker)
}

/// Sends one message to the worker, with `files` beside it.
fn send(worker: &Worker, msg: &ToWorker, files: &[File]) {
    let o = js_sys::Object::new();
    let _ = Reflect::set(
        &o,
        &JsValue::from_str("json"),
        &JsValue::from_str(&encode(msg)),
    );
    let list = Array::new();
    for f in files {
        list.push(f);
    }
    let _ = Reflect::set(&o, &JsValue::from_str("files"), &list);
    let _ = worker.post_message(&o);
}
