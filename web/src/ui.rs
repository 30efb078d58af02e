//! The playground's UI (Leptos, client-side rendered). It never runs the engine: it starts the
//! worker, sends it [`ToWorker`] messages and renders what comes back. If the worker dies (a
//! panic, or a cancel it does not answer), a new one is started and the model reloaded from the
//! browser cache.

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Array, Function, Promise, Reflect};
use kiln_engine::post::{Language, PostOptions, PostReport};
use kiln_engine::{DeviceChoice, Event, Finish, GenerateRequest, Message, Prompt};
use leptos::prelude::*;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    Blob, BlobPropertyBag, DragEvent, File, HtmlInputElement, MessageEvent, Url, Worker,
    WorkerOptions, WorkerType,
};

use crate::logic::{
    LANGUAGES, annotate, device_details, diff_lines, format_stops, js_test_script, parse_stops,
    progress_text, py_test_script, rate, split_tests, status_line, token_title,
};
use crate::protocol::{
    FromWorker, LoadedModel, ModelSource, StoreChoice, ToWorker, decode, encode,
};
use crate::settings::{Settings, TEMPERATURE_PRESETS};

/// Mounts the app on `<body>`.
pub fn start() {
    mount_to_body(App);
}

/// How long a cancelled generation may take to stop before the worker is replaced.
const CANCEL_GRACE_MS: i32 = 10_000;
/// Wall-clock limit of one browser test run, from the moment its runtime is ready.
const TEST_TIMEOUT_MS: i32 = 3_000;
/// How long a test worker may take to get ready (Pyodide loads ~13 MB).
const START_TIMEOUT_MS: i32 = 60_000;

/// One generated token for the token view.
#[derive(Clone, PartialEq)]
struct Tok {
    text: String,
    prob: f32,
    top: Vec<(String, f32)>,
}

/// One browser test's verdict.
#[derive(Clone, PartialEq)]
struct TestResult {
    test: String,
    verdict: String,
    message: String,
}

/// Everything the view shows, as signals the worker's messages update.
#[derive(Clone, Copy)]
struct Ui {
    status: RwSignal<String>,
    error: RwSignal<String>,
    notice: RwSignal<String>,
    model: RwSignal<Option<LoadedModel>>,
    loading: RwSignal<bool>,
    progress: RwSignal<Option<(String, u64, Option<u64>)>>,
    output: RwSignal<String>,
    tokens: RwSignal<Vec<Tok>>,
    running: RwSignal<Option<u64>>,
    finish: RwSignal<Option<Finish>>,
    timing: RwSignal<String>,
    speed: RwSignal<String>,
    report: RwSignal<Option<PostReport>>,
    started_ms: RwSignal<f64>,
    first_token_ms: RwSignal<Option<f64>>,
    /// In raw mode the pipeline re-attaches the prompt: the diff's raw side starts with it.
    raw_prefix: RwSignal<String>,
    device: RwSignal<DeviceChoice>,
    /// What to load when a (new) worker says it is ready.
    source: StoredValue<(ModelSource, Vec<File>), LocalStorage>,
    worker: StoredValue<Option<Worker>, LocalStorage>,
    /// The model sha256 a shared link was made with, if any.
    link_model: StoredValue<Option<String>>,
}

impl Ui {
    fn new(device: DeviceChoice) -> Self {
        Ui {
            status: RwSignal::new("starting the engine worker…".into()),
            error: RwSignal::new(String::new()),
            notice: RwSignal::new(String::new()),
            model: RwSignal::new(None),
            loading: RwSignal::new(true),
            progress: RwSignal::new(None),
            output: RwSignal::new(String::new()),
            tokens: RwSignal::new(Vec::new()),
            running: RwSignal::new(None),
            finish: RwSignal::new(None),
            timing: RwSignal::new(String::new()),
            speed: RwSignal::new(String::new()),
            report: RwSignal::new(None),
            started_ms: RwSignal::new(0.0),
            first_token_ms: RwSignal::new(None),
            raw_prefix: RwSignal::new(String::new()),
            device: RwSignal::new(device),
            source: StoredValue::new_local((ModelSource::Default, Vec::new())),
            worker: StoredValue::new_local(None),
            link_model: StoredValue::new(None),
        }
    }

    fn send(&self, msg: &ToWorker, files: &[File]) {
        self.worker.with_value(|w| {
            if let Some(w) = w {
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
                let _ = w.post_message(&o);
            }
        });
    }

    /// Loads a model (the current one stays until the new one is ready).
    fn load(&self, source: ModelSource, files: Vec<File>) {
        self.error.set(String::new());
        self.notice.set(String::new());
        self.loading.set(true);
        self.status.set(match &source {
            ModelSource::Default => "loading the default model…".to_string(),
            ModelSource::Url { url } => format!("loading {url}…"),
            ModelSource::Files { names } => format!("loading {}…", names.join(", ")),
        });
        let msg = ToWorker::Load {
            source: source.clone(),
            device: self.device.get_untracked(),
            n_ctx: None,
            store: store_from_url(),
        };
        self.send(&msg, &files);
        self.source.set_value((source, files));
    }

    /// Replaces a dead or stuck worker and reloads the model into the new one.
    fn restart(&self, why: String) {
        self.worker.update_value(|w| {
            if let Some(w) = w.take() {
                w.terminate();
            }
        });
        self.running.set(None);
        self.progress.set(None);
        self.error
            .set(format!("{why} — restarted the engine worker"));
        match spawn_worker(*self) {
            Ok(w) => self.worker.set_value(Some(w)),
            Err(e) => self.error.set(e),
        }
    }

    /// Applies one message from the worker.
    fn apply(&self, msg: FromWorker) {
        match msg {
            FromWorker::Ready { version } => {
                self.status.set(format!("kiln {version}: worker ready"));
                let (source, files) = self.source.get_value();
                self.load(source, files);
            }
            FromWorker::Progress { stage, done, total } => {
                self.progress.set(Some((stage, done, total)));
            }
            FromWorker::Loaded(m) => {
                self.progress.set(None);
                self.loading.set(false);
                self.status.set(status_line(&m));
                if let Some(want) = self.link_model.get_value()
                    && want != m.sha256
                {
                    self.notice.set(format!(
                        "this link was made with model sha256 {want}; the loaded model is {}: the output may differ",
                        m.sha256
                    ));
                }
                self.model.set(Some(*m));
            }
            FromWorker::Event {
                event,
                piece,
                top_pieces,
                ..
            } => self.apply_event(event, piece, top_pieces),
            FromWorker::Post { report, .. } => self.report.set(Some(*report)),
            FromWorker::Crashed { message } => {
                // A crash on WebGPU (a lost device, typically) is not retried there.
                let on_gpu = self
                    .model
                    .get_untracked()
                    .is_some_and(|m| m.device.backend == "wgpu");
                if on_gpu {
                    self.device.set(DeviceChoice::Cpu);
                }
                let then = if on_gpu {
                    ", continuing on the CPU"
                } else {
                    ""
                };
                self.restart(format!("the engine crashed: {message}{then}"));
            }
            FromWorker::Notice { message } => self.notice.set(message),
            FromWorker::Error { id, message } => {
                if id.is_none() {
                    self.loading.set(false);
                    self.status.set(match self.model.get_untracked() {
                        Some(m) => status_line(&m),
                        None => "no model loaded".into(),
                    });
                }
                self.running.set(None);
                self.progress.set(None);
                self.error.set(message);
            }
        }
    }

    fn apply_event(&self, event: Event, piece: Option<String>, top_pieces: Vec<String>) {
        let now = js_sys::Date::now();
        match event {
            Event::Token { prob, top, .. } => {
                let top = top_pieces
                    .into_iter()
                    .zip(top)
                    .map(|(text, (_, p))| (text, p))
                    .collect();
                self.tokens.update(|t| {
                    t.push(Tok {
                        text: piece.unwrap_or_default(),
                        prob,
                        top,
                    })
                });
                let first = *self.first_token_ms.get_untracked().get_or_insert_with(|| {
                    let ms = now - self.started_ms.get_untracked();
                    self.first_token_ms.set(Some(ms));
                    ms
                });
                let n = self.tokens.with_untracked(Vec::len);
                let since_first = now - self.started_ms.get_untracked() - first;
                self.speed.set(format!(
                    "{n} tokens · {:.1} tok/s · first token after {:.0} ms",
                    rate(n.saturating_sub(1), since_first),
                    first
                ));
            }
            Event::Text { text } => self.output.update(|o| o.push_str(&text)),
            Event::Done { finish, timings } => {
                self.running.set(None);
                self.finish.set(Some(finish));
                self.timing.set(format!(
                    "{}: {} tokens, prefill {:.1} tok/s, decode {:.1} tok/s, first token after {:.0} ms",
                    finish_text(finish),
                    timings.generated_tokens,
                    timings.prefill_tok_s(),
                    timings.decode_tok_s(),
                    self.first_token_ms.get_untracked().unwrap_or(0.0)
                ));
            }
        }
    }
}

fn finish_text(f: Finish) -> &'static str {
    match f {
        Finish::Eos => "end of text",
        Finish::Stop => "stop string",
        Finish::MaxTokens => "max tokens",
        Finish::ContextFull => "context full",
        Finish::Cancelled => "cancelled",
        Finish::Repetition => "stopped repeating itself",
    }
}

/// The app's URL up to its last `/` (Pyodide is served in `pyodide/` beside it).
fn app_base() -> String {
    let href = web_sys::window()
        .and_then(|w| w.location().href().ok())
        .unwrap_or_default();
    let path = href.split(['?', '#']).next().unwrap_or_default();
    match path.rfind('/') {
        Some(i) => path[..=i].to_string(),
        None => path.to_string(),
    }
}

fn location_search() -> String {
    web_sys::window()
        .and_then(|w| w.location().search().ok())
        .unwrap_or_default()
}

/// The value of `name` in the page URL's query, if present.
fn query_param(name: &str) -> Option<String> {
    let search = location_search();
    search
        .trim_start_matches('?')
        .split('&')
        .find_map(|p| p.strip_prefix(name)?.strip_prefix('='))
        .map(str::to_string)
}

/// `?device=cpu|gpu|auto` picks the backend (default auto: WebGPU when there is an adapter).
fn device_from_url() -> DeviceChoice {
    query_param("device")
        .and_then(|d| d.parse().ok())
        .unwrap_or_default()
}

/// `?store=auto|cache-api|memory`: where downloaded models are kept (default: OPFS, else the
/// Cache API, else memory).
fn store_from_url() -> StoreChoice {
    query_param("store")
        .and_then(|s| StoreChoice::from_query(&s))
        .unwrap_or_default()
}

/// Starts the worker that scripts/web_build.sh puts next to the app (a module worker).
fn spawn_worker(ui: Ui) -> Result<Worker, String> {
    let opts = WorkerOptions::new();
    opts.set_type(WorkerType::Module);
    let worker = Worker::new_with_options("./kiln-worker_loader.js", &opts)
        .map_err(|e| format!("cannot start the engine worker: {e:?}"))?;
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
        let json = Reflect::get(&ev.data(), &JsValue::from_str("json"))
            .ok()
            .and_then(|j| j.as_string())
            .unwrap_or_default();
        match decode::<FromWorker>(&json) {
            Ok(msg) => ui.apply(msg),
            Err(e) => ui.error.set(e),
        }
    });
    worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    on_message.forget();
    let on_error = Closure::<dyn FnMut(JsValue)>::new(move |e: JsValue| {
        let message = Reflect::get(&e, &JsValue::from_str("message"))
            .ok()
            .and_then(|m| m.as_string())
            .unwrap_or_else(|| "unknown error".into());
        ui.restart(format!("the engine worker stopped: {message}"));
    });
    worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
    on_error.forget();
    Ok(worker)
}

fn set_timeout(ms: i32, f: impl FnOnce() + 'static) {
    let f = Closure::once_into_js(f);
    if let Some(w) = web_sys::window() {
        let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(f.unchecked_ref(), ms);
    }
}

/// A verdict object, as a test worker would post it.
fn verdict(verdict: &str, message: &str) -> JsValue {
    let o = js_sys::Object::new();
    let _ = Reflect::set(&o, &"verdict".into(), &verdict.into());
    let _ = Reflect::set(&o, &"message".into(), &message.into());
    o.into()
}

/// Runs one test script (see `logic::js_test_script`, `logic::py_test_script`) in a throwaway
/// worker, a module worker when `module`; `(verdict, message)`. The time limit starts when the
/// worker says it is ready (Pyodide takes seconds to load); the worker is always terminated.
async fn run_test(script: String, module: bool) -> (String, String) {
    let opts = BlobPropertyBag::new();
    opts.set_type("text/javascript");
    let parts = Array::of1(&JsValue::from_str(&script));
    let Ok(blob) = Blob::new_with_str_sequence_and_options(&parts, &opts) else {
        return ("error".into(), "cannot make the test script".into());
    };
    let Ok(url) = Url::create_object_url_with_blob(&blob) else {
        return ("error".into(), "cannot make the test script's URL".into());
    };
    let worker_opts = WorkerOptions::new();
    if module {
        worker_opts.set_type(WorkerType::Module);
    }
    let worker = match Worker::new_with_options(&url, &worker_opts) {
        Ok(w) => w,
        Err(e) => return ("error".into(), format!("cannot start a test worker: {e:?}")),
    };
    let resolve: Rc<RefCell<Option<Function>>> = Rc::default();
    let settle = {
        let resolve = resolve.clone();
        move |v: JsValue| {
            if let Some(r) = resolve.borrow_mut().take() {
                let _ = r.call1(&JsValue::UNDEFINED, &v);
            }
        }
    };
    let on_message = {
        let settle = settle.clone();
        Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
            let data = ev.data();
            let phase = Reflect::get(&data, &"phase".into())
                .ok()
                .and_then(|p| p.as_string());
            if phase.as_deref() == Some("ready") {
                let settle = settle.clone();
                set_timeout(TEST_TIMEOUT_MS, move || {
                    let why = format!("no result within {} s", TEST_TIMEOUT_MS / 1000);
                    settle(verdict("timeout", &why));
                });
            } else {
                settle(data);
            }
        })
    };
    let on_error = {
        let settle = settle.clone();
        Closure::<dyn FnMut(JsValue)>::new(move |ev: JsValue| {
            let message = Reflect::get(&ev, &"message".into())
                .ok()
                .and_then(|m| m.as_string())
                .unwrap_or_else(|| "the test worker failed".into());
            settle(verdict("error", &message));
        })
    };
    worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
    let done = Promise::new(&mut |r: Function, _reject: Function| {
        *resolve.borrow_mut() = Some(r);
    });
    {
        let settle = settle.clone();
        set_timeout(START_TIMEOUT_MS, move || {
            let why = format!(
                "the test runtime did not start within {} s",
                START_TIMEOUT_MS / 1000
            );
            settle(verdict("timeout", &why));
        });
    }
    let result = JsFuture::from(done).await.unwrap_or_default();
    worker.terminate();
    // The handlers are dropped below: detach them first.
    worker.set_onmessage(None);
    worker.set_onerror(None);
    let _ = Url::revoke_object_url(&url);
    let field = |k: &str| {
        Reflect::get(&result, &JsValue::from_str(k))
            .ok()
            .and_then(|v| v.as_string())
            .unwrap_or_default()
    };
    (field("verdict"), field("message"))
}

fn set_theme(theme: &str) {
    if let Some(root) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.document_element())
    {
        let _ = root.set_attribute("data-theme", theme);
    }
}

#[component]
fn App() -> impl IntoView {
    let (initial, problems) = Settings::from_query(&location_search());
    let ui = Ui::new(device_from_url());
    ui.error.set(problems.join("; "));
    ui.link_model.set_value(initial.model_sha256.clone());
    match spawn_worker(ui) {
        Ok(w) => ui.worker.set_value(Some(w)),
        Err(e) => ui.error.set(e),
    }
    let prompt = RwSignal::new(initial.prompt.clone());
    let chat = RwSignal::new(initial.chat);
    let language = RwSignal::new(initial.language);
    let temperature = RwSignal::new(initial.sampling.temperature);
    let top_k = RwSignal::new(initial.sampling.top_k);
    let top_p = RwSignal::new(initial.sampling.top_p);
    let min_p = RwSignal::new(initial.sampling.min_p);
    let repeat_penalty = RwSignal::new(initial.sampling.repeat_penalty);
    let max_tokens = RwSignal::new(initial.max_tokens);
    let seed = RwSignal::new(initial.sampling.seed);
    let stops = RwSignal::new(format_stops(&initial.stop));
    let model_url = RwSignal::new(String::new());
    let tests = RwSignal::new(String::new());
    let test_results = RwSignal::new(Vec::<TestResult>::new());
    let testing = RwSignal::new(false);
    let view_tab = RwSignal::new("checked");
    let theme = RwSignal::new("auto");
    let next_id = StoredValue::new(0u64);
    let base = StoredValue::new(initial);

    let generate = move |_| {
        let mut s = base.get_value();
        s.prompt = prompt.get_untracked();
        s.chat = chat.get_untracked();
        s.language = language.get_untracked();
        s.sampling.temperature = temperature.get_untracked();
        s.sampling.top_k = top_k.get_untracked();
        s.sampling.top_p = top_p.get_untracked();
        s.sampling.min_p = min_p.get_untracked();
        s.sampling.repeat_penalty = repeat_penalty.get_untracked();
        s.sampling.seed = seed.get_untracked();
        s.max_tokens = max_tokens.get_untracked();
        s.stop = parse_stops(&stops.get_untracked());
        s.model_sha256 = ui.model.get_untracked().map(|m| m.sha256);
        s.version = Some(env!("CARGO_PKG_VERSION").into());
        if let Err(e) = s.sampling.validate() {
            ui.error.set(e.to_string());
            return;
        }
        if let Some(w) = web_sys::window()
            && let Ok(h) = w.history()
        {
            let device = match ui.device.get_untracked() {
                DeviceChoice::Auto => String::new(),
                d => format!("&device={}", d.name()),
            };
            let query = format!("?{}{device}", s.to_query());
            let _ = h.replace_state_with_url(&JsValue::NULL, "", Some(&query));
        }
        let id = next_id.get_value() + 1;
        next_id.set_value(id);
        let request = GenerateRequest {
            prompt: if s.chat {
                Prompt::Chat(vec![Message::user(s.prompt.clone())])
            } else {
                Prompt::Raw(s.prompt.clone())
            },
            sampling: s.sampling.clone(),
            max_tokens: s.max_tokens,
            stop: s.stop.clone(),
            ignore_eos: false,
            stop_on_repetition: true,
        };
        let post = PostOptions {
            chat: s.chat,
            language: Some(s.language),
            prompt: (!s.chat).then(|| s.prompt.clone()),
            ..PostOptions::default()
        };
        ui.raw_prefix.set(if s.chat {
            String::new()
        } else {
            s.prompt.clone()
        });
        ui.output.set(String::new());
        ui.tokens.set(Vec::new());
        ui.report.set(None);
        ui.error.set(String::new());
        ui.timing.set(String::new());
        ui.speed.set(String::new());
        ui.finish.set(None);
        test_results.set(Vec::new());
        ui.first_token_ms.set(None);
        ui.started_ms.set(js_sys::Date::now());
        ui.running.set(Some(id));
        let msg = ToWorker::Generate {
            id,
            request,
            post: Some(post),
        };
        ui.send(&msg, &[]);
    };
    let cancel = move |_| {
        if let Some(id) = ui.running.get_untracked() {
            ui.send(&ToWorker::Cancel { id }, &[]);
            set_timeout(CANCEL_GRACE_MS, move || {
                if ui.running.get_untracked() == Some(id) {
                    ui.restart("the engine did not stop within 10 s".into());
                }
            });
        }
    };
    let load_files = move |list: Option<web_sys::FileList>| {
        let files: Vec<File> = list
            .map(|l| (0..l.length()).filter_map(|i| l.get(i)).collect())
            .unwrap_or_default();
        if files.is_empty() {
            return;
        }
        let names = files.iter().map(File::name).collect();
        ui.load(ModelSource::Files { names }, files);
    };
    let run_tests = move |_| {
        let Some(report) = ui.report.get_untracked() else {
            return;
        };
        let blocks = split_tests(&tests.get_untracked());
        test_results.set(Vec::new());
        testing.set(true);
        leptos::task::spawn_local(async move {
            for test in blocks {
                let (verdict, message) = if report.language == Language::Python {
                    run_test(py_test_script(&app_base(), &report.code, &test), true).await
                } else {
                    run_test(js_test_script(&report.code, &test), false).await
                };
                test_results.update(|r| {
                    r.push(TestResult {
                        test,
                        verdict,
                        message,
                    })
                });
            }
            testing.set(false);
        });
    };
    let busy = move || ui.loading.get() || ui.running.get().is_some();

    view! {
        <main
            on:dragover=move |ev: DragEvent| ev.prevent_default()
            on:drop=move |ev: DragEvent| {
                ev.prevent_default();
                load_files(ev.data_transfer().and_then(|d| d.files()));
            }>
            <header>
                <h1>"kiln" <small>" local code generation, in your browser"</small></h1>
                <button id="theme" title="colour theme" on:click=move |_| {
                    let next = match theme.get_untracked() { "auto" => "dark", "dark" => "light", _ => "auto" };
                    theme.set(next);
                    set_theme(next);
                }>{move || format!("theme: {}", theme.get())}</button>
            </header>
            <p id="status" data-ready=move || (ui.model.get().is_some() && !ui.loading.get()).to_string()>
                {move || ui.status.get()}</p>
            <p id="progress">{move || ui.progress.get().map(|(stage, done, total)| view! {
                <progress max=total.unwrap_or(0).to_string() value=done.to_string()></progress>
                " " {progress_text(&stage, done, total)}
            })}</p>
            <p id="error" class="error">{move || ui.error.get()}</p>
            <p id="notice" class="notice">{move || ui.notice.get()}</p>
            <div class="columns">
            <div class="left">
            <details class="panel" id="model-panel" open>
                <summary>"model & device"</summary>
                <div class="row">
                    <label>"device "
                        <select id="device" on:change=move |ev| {
                            ui.device.set(event_target_value(&ev).parse().unwrap_or_default());
                            let (source, files) = ui.source.get_value();
                            ui.load(source, files);
                        } prop:value=move || ui.device.get().name() disabled=busy>
                            <option value="auto">"auto (WebGPU, else CPU)"</option>
                            <option value="gpu">"WebGPU"</option>
                            <option value="cpu">"CPU (wasm)"</option>
                        </select></label>
                    <button id="load-default" disabled=busy
                        on:click=move |_| ui.load(ModelSource::Default, Vec::new())>"default model"</button>
                    <button id="clear-cache" disabled=busy on:click=move |_| {
                        ui.send(&ToWorker::ClearCache, &[]);
                        ui.notice.set("cleared the browser's model cache".into());
                    }>"clear cache"</button>
                </div>
                <div class="row">
                    <input id="model-url" type="url" placeholder="URL of a .gguf file"
                        prop:value=move || model_url.get()
                        on:input=move |ev| model_url.set(event_target_value(&ev))/>
                    <button id="load-url" disabled=busy on:click=move |_| {
                        let url = model_url.get_untracked();
                        if !url.trim().is_empty() {
                            ui.load(ModelSource::Url { url: url.trim().to_string() }, Vec::new());
                        }
                    }>"load URL"</button>
                </div>
                <label class="drop">"open a .gguf, or a Hugging Face set (config.json, tokenizer.json, *.safetensors) — or drop files anywhere "
                    <input id="model-file" type="file" multiple accept=".gguf,.json,.safetensors"
                        disabled=busy
                        on:change=move |ev| load_files(event_target::<HtmlInputElement>(&ev).files())/></label>
                <ul id="device-info">{move || ui.model.get().map(|m| device_details(&m)
                    .into_iter().map(|l| view! { <li>{l}</li> }).collect_view())}</ul>
            </details>
            <section class="panel">
                <div class="row">
                    <label><input type="checkbox" id="chat" prop:checked=move || chat.get()
                        on:change=move |ev| chat.set(event_target_checked(&ev))/>" chat template"</label>
                    <label>"language "<select id="lang"
                        on:change=move |ev| language.set(Language::from_tag(&event_target_value(&ev)))
                        prop:value=move || language.get().name().to_string()>
                        {LANGUAGES.iter().map(|l| view! { <option value=l.name()>{l.name()}</option> }).collect_view()}
                    </select></label>
                </div>
                <textarea id="prompt" rows="6" aria-label="prompt"
                    prop:value=move || prompt.get()
                    on:input=move |ev| prompt.set(event_target_value(&ev))></textarea>
                <div class="row">
                    <label>"temperature "
                        <input type="range" id="temperature" min="0" max="2" step="0.05"
                            prop:value=move || temperature.get().to_string()
                            on:input=move |ev| temperature.set(event_target_value(&ev).parse().unwrap_or(0.0))/>
                        <output>{move || format!("{:.2}", temperature.get())}</output></label>
                    <span class="presets">{TEMPERATURE_PRESETS.iter().map(|&t| view! {
                        <button class="preset" class:active=move || temperature.get() == t
                            on:click=move |_| temperature.set(t)>{t.to_string()}</button>
                    }).collect_view()}</span>
                </div>
                <div class="grid">
                    <label>"top-k "<input type="number" id="top-k" min="0"
                        prop:value=move || top_k.get().to_string()
                        on:input=move |ev| top_k.set(event_target_value(&ev).parse().unwrap_or(0))/></label>
                    <label>"top-p "<input type="number" id="top-p" min="0" max="1" step="0.05"
                        prop:value=move || top_p.get().to_string()
                        on:input=move |ev| top_p.set(event_target_value(&ev).parse().unwrap_or(f32::NAN))/></label>
                    <label>"min-p "<input type="number" id="min-p" min="0" max="1" step="0.01"
                        prop:value=move || min_p.get().to_string()
                        on:input=move |ev| min_p.set(event_target_value(&ev).parse().unwrap_or(f32::NAN))/></label>
                    <label>"repeat penalty "<input type="number" id="repeat-penalty" min="0" step="0.05"
                        prop:value=move || repeat_penalty.get().to_string()
                        on:input=move |ev| repeat_penalty.set(event_target_value(&ev).parse().unwrap_or(f32::NAN))/></label>
                    <label>"seed "<input type="number" id="seed" min="0"
                        prop:value=move || seed.get().to_string()
                        on:input=move |ev| seed.set(event_target_value(&ev).parse().unwrap_or(0))/></label>
                    <label>"max tokens "<input type="number" id="max-tokens" min="1"
                        prop:value=move || max_tokens.get().to_string()
                        on:input=move |ev| max_tokens.set(event_target_value(&ev).parse().unwrap_or(256))/></label>
                    <label class="wide">"stop strings "<input type="text" id="stop" placeholder="comma-separated; \\n for a newline"
                        prop:value=move || stops.get()
                        on:input=move |ev| stops.set(event_target_value(&ev))/></label>
                </div>
                <div class="row">
                    <button id="generate" class="primary" on:click=generate
                        disabled=move || ui.model.get().is_none() || busy()>"Generate"</button>
                    <button id="cancel" on:click=cancel disabled=move || ui.running.get().is_none()>"Cancel"</button>
                    <span id="speed">{move || ui.speed.get()}</span>
                </div>
            </section>
            </div>
            <div class="right">
            <section class="panel">
                <p id="timing" data-finish=move || ui.finish.get().map(|f| format!("{f:?}")).unwrap_or_default()>
                    {move || ui.timing.get()}</p>
                <pre id="output" data-done=move || ui.running.get().is_none().to_string()>{move || ui.output.get()}</pre>
                <details id="token-view" open>
                    <summary>"tokens (hover for the alternatives; fainter = less likely)"</summary>
                    <div id="tokens">
                        <For each=move || ui.tokens.get().into_iter().enumerate() key=|(i, _)| *i
                            children=move |(_, t): (usize, Tok)| view! {
                                <span class="token" title=token_title(&t.text, t.prob, &t.top)
                                    data-prob=format!("{:.4}", t.prob)
                                    style=format!("opacity: {:.2}", 0.35 + 0.65 * t.prob)>{t.text.clone()}</span>
                            }/>
                    </div>
                </details>
            </section>
            <section id="post" class="panel">{move || ui.report.get().map(|r| {
                let raw = ui.raw_prefix.get_untracked() + &ui.output.get_untracked();
                let lines = annotate(&r.code, &r.diagnostics);
                let diff = diff_lines(&raw, &r.code);
                let runner = match r.language {
                    Language::JavaScript => Some(("a fresh worker", "assert is Node's", "assert.strictEqual(add(2, 3), 5);")),
                    Language::Python => Some(("a fresh Pyodide (CPython in wasm) worker", "a failed assert is a fail",
                        "assert add(2, 3) == 5")),
                    _ => None,
                };
                let language = r.language.name();
                view! {
                    <h2>"post-processed (" {language} ")"</h2>
                    <p id="valid" class=if r.valid == Some(false) || r.incomplete.is_some() { "error" } else { "" }>
                        {r.verdict()}
                    {(!r.raw_diagnostics.is_empty()).then(|| format!(
                        " · the model's text had {} error(s) before truncation", r.raw_diagnostics.len()))}</p>
                    <div class="tabs">
                        {[("checked", "checked"), ("formatted", "formatted"), ("diff", "raw ↔ cleaned")].into_iter()
                            .map(|(tab, label)| view! {
                                <button class="tab" id=format!("tab-{tab}") class:active=move || view_tab.get() == tab
                                    on:click=move |_| view_tab.set(tab)>{label}</button>
                            }).collect_view()}
                    </div>
                    <div id="view-checked" class="code" hidden=move || view_tab.get() != "checked">
                        {lines.into_iter().map(|l| {
                            let bad = !l.errors.is_empty();
                            view! {
                                <div class="line" class:bad=bad>
                                    <span class="ln">{l.number}</span><span class="src">{l.text}</span>
                                </div>
                                {l.errors.into_iter().map(|(col, msg)| view! {
                                    <div class="marker"><span class="ln"></span>
                                        <span class="src">{format!("{}^ {}:{}: {msg}", " ".repeat(col - 1), l.number, col)}</span></div>
                                }).collect_view()}
                            }
                        }).collect_view()}
                    </div>
                    <pre id="view-formatted" hidden=move || view_tab.get() != "formatted">{r.code.clone()}</pre>
                    <div id="view-diff" class="code" hidden=move || view_tab.get() != "diff">
                        {diff.into_iter().map(|d| view! {
                            <div class=match d.sign { '+' => "line add", '-' => "line del", _ => "line" }>
                                <span class="ln">{d.sign.to_string()}</span><span class="src">{d.text}</span></div>
                        }).collect_view()}
                    </div>
                    <ul class="stages">{r.stages.iter().map(|s| view! {
                        <li class:changed=s.changed>{format!("{}: {}", s.stage, s.summary)}</li>
                    }).collect_view()}</ul>
                    <h3>"tests"</h3>
                    {match runner {
                        Some((runtime, asserts, example)) => view! {
                            <p class="hint">{format!("Each block (separated by a blank line) runs with the code in {runtime}, \
                                with no network or storage, {} s limit; {asserts}.", TEST_TIMEOUT_MS / 1000)}</p>
                            <textarea id="tests" rows="4" placeholder=example
                                prop:value=move || tests.get()
                                on:input=move |ev| tests.set(event_target_value(&ev))></textarea>
                            <button id="run-tests" on:click=run_tests disabled=move || testing.get()>"run tests"</button>
                        }.into_any(),
                        None => view! {
                            <p class="hint">{format!("kiln runs Python and JavaScript tests (here, and natively with \
                                `kiln check --tests`); it has no test runner for {language}.")}</p>
                        }.into_any(),
                    }}
                    <ul id="test-results">
                        <For each=move || test_results.get().into_iter().enumerate() key=|(i, _)| *i
                            children=move |(_, t): (usize, TestResult)| view! {
                                <li class=format!("verdict {}", t.verdict) data-verdict=t.verdict.clone()>
                                    <b>{t.verdict.clone()}</b> " " <code>{t.test.clone()}</code>
                                    {(!t.message.is_empty()).then(|| format!(" — {}", t.message))}</li>
                            }/>
                    </ul>
                }
            })}</section>
            </div>
            </div>
        </main>
    }
}
