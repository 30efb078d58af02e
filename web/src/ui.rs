//! The playground's UI (Leptos, client-side rendered). It never runs the engine: it starts the
//! worker, sends it [`ToWorker`] messages and renders what comes back.

use kiln_engine::post::{PostOptions, PostReport};
use kiln_engine::{Event, GenerateRequest, Message, Prompt};
use leptos::prelude::*;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{MessageEvent, Worker, WorkerOptions, WorkerType};

use crate::protocol::{FromWorker, LoadedModel, ModelSource, ToWorker, decode, encode};
use crate::settings::{Settings, TEMPERATURE_PRESETS};

/// Mounts the app on `<body>`.
pub fn start() {
    mount_to_body(App);
}

/// Everything the view shows, as signals the worker's messages update.
#[derive(Clone, Copy)]
struct Ui {
    status: RwSignal<String>,
    error: RwSignal<String>,
    model: RwSignal<Option<LoadedModel>>,
    progress: RwSignal<Option<(String, u64, Option<u64>)>>,
    output: RwSignal<String>,
    tokens: RwSignal<Vec<(String, f32)>>,
    running: RwSignal<Option<u64>>,
    timing: RwSignal<String>,
    report: RwSignal<Option<PostReport>>,
    started_ms: RwSignal<f64>,
    first_token_ms: RwSignal<Option<f64>>,
}

impl Ui {
    fn new() -> Self {
        Ui {
            status: RwSignal::new("starting the engine worker…".into()),
            error: RwSignal::new(String::new()),
            model: RwSignal::new(None),
            progress: RwSignal::new(None),
            output: RwSignal::new(String::new()),
            tokens: RwSignal::new(Vec::new()),
            running: RwSignal::new(None),
            timing: RwSignal::new(String::new()),
            report: RwSignal::new(None),
            started_ms: RwSignal::new(0.0),
            first_token_ms: RwSignal::new(None),
        }
    }

    /// Applies one message from the worker.
    fn apply(&self, msg: FromWorker, worker: &Worker) {
        match msg {
            FromWorker::Ready { version } => {
                self.status
                    .set(format!("kiln {version}: loading the default model…"));
                send(
                    worker,
                    &ToWorker::Load {
                        source: ModelSource::Default,
                        device: device_from_url(),
                        n_ctx: None,
                    },
                );
            }
            FromWorker::Progress { stage, done, total } => {
                self.progress.set(Some((stage, done, total)));
            }
            FromWorker::Loaded(m) => {
                self.progress.set(None);
                self.status.set(format!(
                    "ready: {} ({}, {:.0} M params) on {} — {}{} in {:.1} s",
                    m.file,
                    m.arch,
                    m.n_params as f64 / 1e6,
                    m.device.name,
                    if m.from_cache {
                        "from the browser cache"
                    } else {
                        "downloaded"
                    },
                    m.device
                        .note
                        .as_deref()
                        .map(|n| format!(" ({n})"))
                        .unwrap_or_default(),
                    m.load_ms / 1000.0
                ));
                self.model.set(Some(m));
            }
            FromWorker::Event { event, piece, .. } => match event {
                Event::Token { prob, .. } => {
                    self.tokens
                        .update(|t| t.push((piece.unwrap_or_default(), prob)));
                }
                Event::Text { text } => {
                    if self.first_token_ms.get_untracked().is_none() {
                        self.first_token_ms
                            .set(Some(js_sys::Date::now() - self.started_ms.get_untracked()));
                    }
                    self.output.update(|o| o.push_str(&text));
                }
                Event::Done { finish, timings } => {
                    self.running.set(None);
                    self.timing.set(format!(
                        "{finish:?}: {} tokens, prefill {:.1} tok/s, decode {:.1} tok/s, first text after {:.0} ms",
                        timings.generated_tokens,
                        timings.prefill_tok_s(),
                        timings.decode_tok_s(),
                        self.first_token_ms.get_untracked().unwrap_or(0.0)
                    ));
                }
            },
            FromWorker::Post { report, .. } => self.report.set(Some(*report)),
            FromWorker::Error { message, .. } => {
                self.running.set(None);
                self.progress.set(None);
                self.error.set(message);
            }
        }
    }
}

fn send(worker: &Worker, msg: &ToWorker) {
    let o = js_sys::Object::new();
    let _ = js_sys::Reflect::set(
        &o,
        &JsValue::from_str("json"),
        &JsValue::from_str(&encode(msg)),
    );
    let _ = worker.post_message(&o);
}

fn location_search() -> String {
    web_sys::window()
        .and_then(|w| w.location().search().ok())
        .unwrap_or_default()
}

/// `?device=cpu|gpu|auto` picks the backend (default auto: WebGPU when there is an adapter).
fn device_from_url() -> kiln_engine::DeviceChoice {
    location_search()
        .trim_start_matches('?')
        .split('&')
        .find_map(|p| p.strip_prefix("device="))
        .and_then(|d| d.parse().ok())
        .unwrap_or_default()
}

/// Starts the worker Trunk built next to the app (a module worker).
fn spawn_worker(ui: Ui) -> Result<Worker, String> {
    let opts = WorkerOptions::new();
    opts.set_type(WorkerType::Module);
    let worker = Worker::new_with_options("./kiln-worker_loader.js", &opts)
        .map_err(|e| format!("cannot start the engine worker: {e:?}"))?;
    let w = worker.clone();
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
        let json = js_sys::Reflect::get(&ev.data(), &JsValue::from_str("json"))
            .ok()
            .and_then(|j| j.as_string())
            .unwrap_or_default();
        match decode::<FromWorker>(&json) {
            Ok(msg) => ui.apply(msg, &w),
            Err(e) => ui.error.set(e),
        }
    });
    worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    on_message.forget();
    let on_error = Closure::<dyn FnMut(JsValue)>::new(move |e: JsValue| {
        ui.running.set(None);
        ui.error.set(format!(
            "the engine worker stopped: {e:?} (reload the page)"
        ));
    });
    worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
    on_error.forget();
    Ok(worker)
}

#[component]
fn App() -> impl IntoView {
    let (initial, problems) = Settings::from_query(&location_search());
    let ui = Ui::new();
    ui.error.set(problems.join("; "));
    let worker = match spawn_worker(ui) {
        Ok(w) => Some(w),
        Err(e) => {
            ui.error.set(e);
            None
        }
    };
    let worker = StoredValue::new_local(worker);
    let prompt = RwSignal::new(initial.prompt.clone());
    let chat = RwSignal::new(initial.chat);
    let temperature = RwSignal::new(initial.sampling.temperature);
    let max_tokens = RwSignal::new(initial.max_tokens);
    let seed = RwSignal::new(initial.sampling.seed);
    let next_id = StoredValue::new(0u64);
    let base = StoredValue::new(initial);

    let generate = move |_| {
        let mut s = base.get_value();
        s.prompt = prompt.get_untracked();
        s.chat = chat.get_untracked();
        s.sampling.temperature = temperature.get_untracked();
        s.sampling.seed = seed.get_untracked();
        s.max_tokens = max_tokens.get_untracked();
        s.model_sha256 = ui.model.get_untracked().map(|m| m.sha256);
        s.version = Some(env!("CARGO_PKG_VERSION").into());
        if let Some(w) = web_sys::window()
            && let Ok(h) = w.history()
        {
            let _ =
                h.replace_state_with_url(&JsValue::NULL, "", Some(&format!("?{}", s.to_query())));
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
        };
        let post = PostOptions {
            chat: s.chat,
            language: Some(s.language),
            prompt: (!s.chat).then(|| s.prompt.clone()),
            ..PostOptions::default()
        };
        ui.output.set(String::new());
        ui.tokens.set(Vec::new());
        ui.report.set(None);
        ui.error.set(String::new());
        ui.timing.set(String::new());
        ui.first_token_ms.set(None);
        ui.started_ms.set(js_sys::Date::now());
        ui.running.set(Some(id));
        worker.with_value(|w| {
            if let Some(w) = w {
                send(
                    w,
                    &ToWorker::Generate {
                        id,
                        request,
                        post: Some(post),
                    },
                );
            }
        });
    };
    let cancel = move |_| {
        if let Some(id) = ui.running.get_untracked() {
            worker.with_value(|w| {
                if let Some(w) = w {
                    send(w, &ToWorker::Cancel { id });
                }
            });
        }
    };
    view! {
        <main>
            <header>
                <h1>"kiln"</h1>
                <p id="status" data-ready=move || ui.model.get().is_some().to_string()>{move || ui.status.get()}</p>
                <p id="progress">{move || ui.progress.get().map(|(stage, done, total)| match total {
                    Some(t) if t > 0 => format!("{stage}: {:.0}% ({done} / {t})", done as f64 * 100.0 / t as f64),
                    _ => format!("{stage}: {done}"),
                })}</p>
                <p id="error" class="error">{move || ui.error.get()}</p>
            </header>
            <section class="controls">
                <textarea id="prompt" rows="6"
                    prop:value=move || prompt.get()
                    on:input=move |ev| prompt.set(event_target_value(&ev))></textarea>
                <label><input type="checkbox" id="chat" prop:checked=move || chat.get()
                    on:change=move |ev| chat.set(event_target_checked(&ev))/>" chat"</label>
                <label>"temperature "
                    <input type="range" id="temperature" min="0" max="2" step="0.05"
                        prop:value=move || temperature.get().to_string()
                        on:input=move |ev| temperature.set(event_target_value(&ev).parse().unwrap_or(0.0))/>
                    {move || format!("{:.2}", temperature.get())}</label>
                <span class="presets">{TEMPERATURE_PRESETS.iter().map(|&t| view! {
                    <button class="preset" on:click=move |_| temperature.set(t)>{t.to_string()}</button>
                }).collect_view()}</span>
                <label>"max tokens "<input type="number" id="max-tokens" min="1"
                    prop:value=move || max_tokens.get().to_string()
                    on:input=move |ev| max_tokens.set(event_target_value(&ev).parse().unwrap_or(256))/></label>
                <label>"seed "<input type="number" id="seed" min="0"
                    prop:value=move || seed.get().to_string()
                    on:input=move |ev| seed.set(event_target_value(&ev).parse().unwrap_or(0))/></label>
                <button id="generate" on:click=generate
                    disabled=move || ui.model.get().is_none() || ui.running.get().is_some()>"Generate"</button>
                <button id="cancel" on:click=cancel disabled=move || ui.running.get().is_none()>"Cancel"</button>
            </section>
            <section>
                <p id="timing">{move || ui.timing.get()}</p>
                <pre id="output" data-done=move || ui.running.get().is_none().to_string()>{move || ui.output.get()}</pre>
                <div id="tokens">{move || ui.tokens.get().into_iter().map(|(text, p)| view! {
                    <span class="token" title=format!("p = {p:.3}")
                        style=format!("opacity: {:.2}", 0.35 + 0.65 * p)>{text}</span>
                }).collect_view()}</div>
            </section>
            <section id="post">{move || ui.report.get().map(|r| view! {
                <h2>"post-processed (" {r.language.name()} ")"</h2>
                <p id="valid">{match r.valid {
                    Some(true) => "parses".to_string(),
                    Some(false) => format!("{} syntax error(s)", r.diagnostics.len()),
                    None => "no parser for this language".to_string(),
                }}</p>
                <ul>{r.diagnostics.iter().map(|d| view! {
                    <li class="error">{format!("{}:{}: {}", d.line, d.column, d.message)}</li>
                }).collect_view()}</ul>
                <pre id="code">{r.code.clone()}</pre>
                <ul>{r.stages.iter().map(|s| view! { <li>{format!("{}: {}", s.stage, s.summary)}</li> }).collect_view()}</ul>
            })}</section>
        </main>
    }
}
