//! What the playground shows, as signals: [`Ui`] holds the engine's side (status, model, the
//! running generation, its tokens and report, the lab's run) and is updated by the worker's
//! messages ([`Ui::apply`]); [`Form`] holds the prompt panel's fields and turns them into the
//! [`Settings`] the request is built from. If the worker dies (a panic, or a cancel it does not
//! answer), a new one is started and the model reloaded from the browser cache.

use kiln_engine::lab::{LabRecord, LabRun};
use kiln_engine::post::{Language, PostReport};
use kiln_engine::{DeviceChoice, Event, Finish};
use leptos::prelude::*;
use web_sys::File;

use crate::logic::{format_stops, parse_stops, rate, status_line};
use crate::page::store_from_url;
use crate::protocol::{AppHost, FromWorker, LoadedModel, ModelSource, ToWorker};
use crate::settings::{LabSettings, Settings, View, format_temperatures, parse_temperatures};
use crate::transport;

/// How long a cancelled generation may take to stop before the worker is replaced.
pub const CANCEL_GRACE_MS: i32 = 10_000;

/// One generated token for the token view.
#[derive(Clone, PartialEq)]
pub struct Tok {
    /// The token's text.
    pub text: String,
    /// Its probability.
    pub prob: f32,
    /// The alternatives the model gave, with their probabilities.
    pub top: Vec<(String, f32)>,
}

/// One browser test's verdict.
#[derive(Clone, PartialEq)]
pub struct TestResult {
    /// The test block.
    pub test: String,
    /// "pass", "fail", "timeout" or "error".
    pub verdict: String,
    /// What it said.
    pub message: String,
}

/// Everything the view shows of the engine, as signals the worker's messages update.
#[derive(Clone, Copy)]
pub struct Ui {
    /// The status line.
    pub status: RwSignal<String>,
    /// The last error (empty: none).
    pub error: RwSignal<String>,
    /// Something worth knowing that did not stop anything.
    pub notice: RwSignal<String>,
    /// The loaded model.
    pub model: RwSignal<Option<LoadedModel>>,
    /// A model is loading.
    pub loading: RwSignal<bool>,
    /// Progress of a long step: (stage, done, total).
    pub progress: RwSignal<Option<(String, u64, Option<u64>)>>,
    /// The generation's text so far.
    pub output: RwSignal<String>,
    /// Its tokens so far.
    pub tokens: RwSignal<Vec<Tok>>,
    /// The id of the running generation.
    pub running: RwSignal<Option<u64>>,
    /// Why the last generation ended.
    pub finish: RwSignal<Option<Finish>>,
    /// The last generation's timings, in words.
    pub timing: RwSignal<String>,
    /// Tokens per second while it runs.
    pub speed: RwSignal<String>,
    /// The post-processing report of the last generation.
    pub report: RwSignal<Option<PostReport>>,
    /// When the running generation was sent (ms since the epoch).
    pub started_ms: RwSignal<f64>,
    /// Time to its first token.
    pub first_token_ms: RwSignal<Option<f64>>,
    /// In raw mode the pipeline re-attaches the prompt: the diff's raw side starts with it.
    pub raw_prefix: RwSignal<String>,
    /// The backend asked for.
    pub device: RwSignal<DeviceChoice>,
    /// In the desktop app: what its native side said (model directory, CPU threads).
    pub host: RwSignal<Option<AppHost>>,
    /// The lab's run.
    pub lab: LabState,
    /// The next request id.
    next_id: StoredValue<u64>,
    /// What to load when a (new) worker says it is ready.
    source: StoredValue<(ModelSource, Vec<File>), LocalStorage>,
    worker: StoredValue<Option<Box<dyn transport::Transport>>, LocalStorage>,
    /// The model sha256 a shared link was made with, if any.
    link_model: StoredValue<Option<String>>,
}

impl Ui {
    /// The state before the worker has started.
    pub fn new(device: DeviceChoice, link_model: Option<String>) -> Self {
        Ui {
            status: RwSignal::new("starting the engine…".into()),
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
            host: RwSignal::new(None),
            lab: LabState::new(),
            next_id: StoredValue::new(0),
            source: StoredValue::new_local((ModelSource::Default, Vec::new())),
            worker: StoredValue::new_local(None),
            link_model: StoredValue::new(link_model),
        }
    }

    /// Starts the engine worker (the first, or a replacement).
    pub fn start_worker(&self) {
        let ui = *self;
        let spawned = transport::spawn(
            move |msg| match msg {
                Ok(msg) => ui.apply(msg),
                Err(e) => ui.error.set(e),
            },
            move |message| ui.restart(format!("the engine worker stopped: {message}")),
        );
        match spawned {
            Ok(w) => self.worker.set_value(Some(w)),
            Err(e) => self.error.set(e),
        }
    }

    /// A fresh request id.
    pub fn next_id(&self) -> u64 {
        let id = self.next_id.get_value() + 1;
        self.next_id.set_value(id);
        id
    }

    /// Whether a model is loading or a generation or lab run is going on.
    pub fn busy(&self) -> bool {
        self.loading.get() || self.running.get().is_some() || self.lab.running.get().is_some()
    }

    /// Sends a message to the worker, with `files` beside it.
    pub fn send(&self, msg: &ToWorker, files: &[File]) {
        self.worker.with_value(|w| {
            if let Some(w) = w {
                w.send(msg, files);
            }
        });
    }

    /// Asks the worker to stop request `id`; if it has not stopped within the grace time, the
    /// worker is replaced.
    pub fn cancel(&self, id: u64) {
        let ui = *self;
        self.send(&ToWorker::Cancel { id }, &[]);
        crate::page::set_timeout(CANCEL_GRACE_MS, move || {
            let still = ui.running.get_untracked() == Some(id)
                || ui.lab.running.get_untracked() == Some(id);
            if still {
                ui.restart("the engine did not stop within 10 s".into());
            }
        });
    }

    /// Loads a model (the current one stays until the new one is ready).
    pub fn load(&self, source: ModelSource, files: Vec<File>) {
        self.error.set(String::new());
        self.notice.set(String::new());
        self.loading.set(true);
        self.status.set(match &source {
            ModelSource::Default => "loading the default model…".to_string(),
            ModelSource::Url { url } => format!("loading {url}…"),
            ModelSource::Files { names } => format!("loading {}…", names.join(", ")),
            ModelSource::Path { path } => format!("loading {path}…"),
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

    /// Loads again what was loaded last (after a device change).
    pub fn reload(&self) {
        let (source, files) = self.source.get_value();
        self.load(source, files);
    }

    /// Replaces a dead or stuck worker and reloads the model into the new one.
    pub fn restart(&self, why: String) {
        self.worker.update_value(|w| {
            if let Some(w) = w.take() {
                w.stop();
            }
        });
        self.running.set(None);
        self.lab.running.set(None);
        self.progress.set(None);
        self.error
            .set(format!("{why} — restarted the engine worker"));
        self.start_worker();
    }

    /// Clears the last generation's output before a new one starts.
    pub fn begin_generation(&self, id: u64, raw_prefix: String) {
        self.raw_prefix.set(raw_prefix);
        self.output.set(String::new());
        self.tokens.set(Vec::new());
        self.report.set(None);
        self.error.set(String::new());
        self.timing.set(String::new());
        self.speed.set(String::new());
        self.finish.set(None);
        self.first_token_ms.set(None);
        self.started_ms.set(js_sys::Date::now());
        self.running.set(Some(id));
    }

    /// Applies one message from the worker.
    pub fn apply(&self, msg: FromWorker) {
        match msg {
            FromWorker::Ready { version } => {
                self.status.set(format!("kiln {version}: engine ready"));
                self.reload();
            }
            FromWorker::Host(host) => self.host.set(Some(*host)),
            FromWorker::ModelChosen { path } => self.load(ModelSource::Path { path }, Vec::new()),
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
            FromWorker::Lane { id, lane, event } => self.lab.apply_lane(id, lane, event),
            FromWorker::LabDone {
                id,
                run,
                reports,
                invariance,
                meta,
            } => self.lab.finish(id, *run, reports, invariance, meta),
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
                self.lab.running.set(None);
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

/// One lane while it streams.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LiveLane {
    /// Its text so far.
    pub text: String,
    /// Tokens so far.
    pub tokens: usize,
    /// Why it ended, once it has.
    pub finish: Option<Finish>,
}

/// The lab's signals.
#[derive(Clone, Copy)]
pub struct LabState {
    /// The id of the running lab run.
    pub running: RwSignal<Option<u64>>,
    /// The lanes of the running (or last) run as they stream, temperature-major.
    pub live: RwSignal<Vec<LiveLane>>,
    /// Temperatures of the running run (the live columns' headings).
    pub live_temps: RwSignal<Vec<f32>>,
    /// Samples per temperature of the running run.
    pub live_samples: RwSignal<usize>,
    /// The finished run's record (or an imported one).
    pub record: RwSignal<Option<LabRecord>>,
    /// What the lab is doing or did, in words.
    pub status: RwSignal<String>,
    /// Test blocks as typed (blank-line separated, as in the generate view).
    pub tests: RwSignal<String>,
    /// When the running run was sent.
    pub(crate) started_ms: StoredValue<f64>,
    /// The run a replay is compared with.
    pub(crate) replay_of: StoredValue<Option<LabRun>>,
}

impl LabState {
    /// No run yet.
    pub fn new() -> Self {
        LabState {
            running: RwSignal::new(None),
            live: RwSignal::new(Vec::new()),
            live_temps: RwSignal::new(Vec::new()),
            live_samples: RwSignal::new(0),
            record: RwSignal::new(None),
            status: RwSignal::new(String::new()),
            tests: RwSignal::new(String::new()),
            started_ms: StoredValue::new(0.0),
            replay_of: StoredValue::new(None),
        }
    }
}

impl Default for LabState {
    fn default() -> Self {
        Self::new()
    }
}

/// Why a generation ended, in a few words.
pub fn finish_text(f: Finish) -> &'static str {
    match f {
        Finish::Eos => "end of text",
        Finish::Stop => "stop string",
        Finish::MaxTokens => "max tokens",
        Finish::ContextFull => "context full",
        Finish::Cancelled => "cancelled",
        Finish::Repetition => "stopped repeating itself",
    }
}

/// The prompt panel's and the lab's fields, as signals.
#[derive(Clone, Copy)]
pub struct Form {
    /// The prompt.
    pub prompt: RwSignal<String>,
    /// Chat template on.
    pub chat: RwSignal<bool>,
    /// The expected code's language.
    pub language: RwSignal<Language>,
    /// Temperature.
    pub temperature: RwSignal<f32>,
    /// Top-k.
    pub top_k: RwSignal<usize>,
    /// Top-p.
    pub top_p: RwSignal<f32>,
    /// Min-p.
    pub min_p: RwSignal<f32>,
    /// Repetition penalty.
    pub repeat_penalty: RwSignal<f32>,
    /// Maximum new tokens.
    pub max_tokens: RwSignal<usize>,
    /// Seed.
    pub seed: RwSignal<u64>,
    /// Stop strings as typed.
    pub stops: RwSignal<String>,
    /// The lab's temperatures as typed.
    pub lab_temps: RwSignal<String>,
    /// The lab's samples per temperature.
    pub lab_samples: RwSignal<usize>,
    /// The lab's "published settings" preset (top-p 0.95).
    pub lab_published: RwSignal<bool>,
    /// The view shown.
    pub view: RwSignal<View>,
    /// The settings the page was opened with (what the fields do not hold is kept from them).
    base: StoredValue<Settings>,
}

impl Form {
    /// The fields holding `initial`.
    pub fn new(initial: Settings) -> Self {
        let r = &initial.request;
        Form {
            prompt: RwSignal::new(r.prompt.clone()),
            chat: RwSignal::new(r.chat),
            language: RwSignal::new(r.language.unwrap_or(Language::Python)),
            temperature: RwSignal::new(r.sampling.temperature),
            top_k: RwSignal::new(r.sampling.top_k),
            top_p: RwSignal::new(r.sampling.top_p),
            min_p: RwSignal::new(r.sampling.min_p),
            repeat_penalty: RwSignal::new(r.sampling.repeat_penalty),
            max_tokens: RwSignal::new(r.max_tokens),
            seed: RwSignal::new(r.sampling.seed),
            stops: RwSignal::new(format_stops(&r.stop)),
            lab_temps: RwSignal::new(format_temperatures(&initial.lab.temperatures)),
            lab_samples: RwSignal::new(initial.lab.samples),
            lab_published: RwSignal::new(initial.lab.published),
            view: RwSignal::new(initial.view),
            base: StoredValue::new(initial),
        }
    }

    /// The settings as the fields hold them now; `Err` names a lab field that does not parse.
    pub fn settings(&self) -> Result<Settings, String> {
        let mut s = self.base.get_value();
        let r = &mut s.request;
        r.prompt = self.prompt.get_untracked();
        r.chat = self.chat.get_untracked();
        r.language = Some(self.language.get_untracked());
        r.sampling.temperature = self.temperature.get_untracked();
        r.sampling.top_k = self.top_k.get_untracked();
        r.sampling.top_p = self.top_p.get_untracked();
        r.sampling.min_p = self.min_p.get_untracked();
        r.sampling.repeat_penalty = self.repeat_penalty.get_untracked();
        r.sampling.seed = self.seed.get_untracked();
        r.max_tokens = self.max_tokens.get_untracked();
        r.stop = parse_stops(&self.stops.get_untracked());
        let temps = self.lab_temps.get_untracked();
        s.lab = LabSettings {
            temperatures: parse_temperatures(&temps)
                .filter(|t| !t.is_empty())
                .ok_or_else(|| {
                    format!("lab temperatures: cannot read {temps:?} (e.g. 0,0.7,1.5)")
                })?,
            samples: self.lab_samples.get_untracked(),
            published: self.lab_published.get_untracked(),
        };
        s.view = self.view.get_untracked();
        s.version = Some(env!("CARGO_PKG_VERSION").into());
        Ok(s)
    }
}
