//! Messages between the playground's UI and the engine that answers it: the Web Worker in the
//! browser, the `kiln` process behind the desktop app's window. They travel as JSON strings
//! (every engine type is serde already); in the browser the bytes of a picked or dropped model
//! file travel beside the JSON as the browser's `File` object, which is not copied, and in the
//! app a model is a path the native side chose (its file dialog, a drop on the window, the
//! model directory).

use kiln_engine::lab::{BatchInvariance, LabRequest, LabRun, RecordMeta};
use kiln_engine::post::{PostOptions, PostReport};
use kiln_engine::{DeviceChoice, DeviceInfo, Event, GenerateRequest};
use serde::{Deserialize, Serialize};

/// Where the model comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ModelSource {
    /// The default model served next to the app (`models/…gguf`).
    Default,
    /// Any URL the page may fetch.
    Url {
        /// The address.
        url: String,
    },
    /// Files the user picked or dropped (their bytes come with the message as `File`s, in the
    /// same order): one GGUF, or a Hugging Face set (`config.json`, `tokenizer.json`,
    /// `model.safetensors` or its index and shards, …).
    Files {
        /// The files' names.
        names: Vec<String>,
    },
    /// A GGUF file or a Hugging Face directory on the desktop app's disk (the app only: a page
    /// cannot name files).
    Path {
        /// The path.
        path: String,
    },
}

/// Where downloaded models are kept between visits (`?store=` in the page URL).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StoreChoice {
    /// The Origin Private File System, else the Cache API, else memory.
    #[default]
    Auto,
    /// The Cache API (what browsers without OPFS get).
    CacheApi,
    /// Nothing is stored: every visit downloads again.
    Memory,
}

impl StoreChoice {
    /// From the URL's value; `None` for anything else.
    pub fn from_query(v: &str) -> Option<Self> {
        match v {
            "auto" | "opfs" => Some(Self::Auto),
            "cache-api" => Some(Self::CacheApi),
            "memory" => Some(Self::Memory),
            _ => None,
        }
    }
}

/// UI → worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToWorker {
    /// Fetch (or read from the browser cache), verify and load a model.
    Load {
        /// Where from.
        source: ModelSource,
        /// Which backend.
        device: DeviceChoice,
        /// Context window, if smaller than the model's.
        n_ctx: Option<usize>,
        /// Where to keep downloaded models.
        #[serde(default)]
        store: StoreChoice,
    },
    /// Generate; the worker answers with `Event`s and, if asked, a `Post` report.
    Generate {
        /// The request's id (echoed in every answer).
        id: u64,
        /// What to generate.
        request: GenerateRequest,
        /// Post-process the text when generation ends.
        post: Option<PostOptions>,
    },
    /// Run the temperature lab: every lane decoded together; the worker answers with `Lane`
    /// events and, when the lanes end, `LabDone`.
    Lab {
        /// The run's id (echoed in every answer).
        id: u64,
        /// The prompt, temperatures and samples.
        request: LabRequest,
        /// How every lane's text is post-processed.
        post: PostOptions,
    },
    /// Stop generation or lab run `id` (the worker yields to its event loop once per token).
    Cancel {
        /// The request to stop.
        id: u64,
    },
    /// Remove every cached model.
    ClearCache,
    /// The UI is listening: answer `Ready` (an engine that was already running before the UI,
    /// the desktop app's, waits for this).
    Hello,
    /// The desktop app: open the native file dialog; the answer is `ModelChosen`, or nothing if
    /// the user closes it.
    PickModel,
}

/// What the worker knows about the loaded model, for the UI.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadedModel {
    /// File name.
    pub file: String,
    /// Architecture.
    pub arch: String,
    /// Weight count.
    pub n_params: usize,
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Whether it has a chat template (instruct models: chat mode by default).
    pub has_chat_template: bool,
    /// sha256 of the file, hex: the cache key, and part of a reproducible link.
    pub sha256: String,
    /// Whether the bytes came from the browser cache (no download).
    pub from_cache: bool,
    /// Where the cache is: "opfs", "cache-api", or "memory" (quota errors end up here).
    pub storage: String,
    /// Backend and adapter.
    pub device: DeviceInfo,
    /// What the browser said about its WebGPU adapter (`None`: no WebGPU at all).
    pub webgpu: Option<WebGpuAdapter>,
    /// Bytes of the largest weight matrix as loaded (checked against the GPU's buffer limits).
    pub largest_tensor_bytes: u64,
    /// Time from the request to a ready engine, ms.
    pub load_ms: f64,
    /// Which engine answers: the page's worker, or the native process.
    #[serde(default)]
    pub engine: EngineHost,
}

/// Where the engine runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EngineHost {
    /// In wasm, in the page's Web Worker.
    #[default]
    Worker,
    /// Natively, in the `kiln` process behind the desktop app's window.
    Native {
        /// The CPU backend's threads.
        cpu_threads: usize,
    },
}

/// What the desktop app's native side tells the UI when it connects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppHost {
    /// The CPU backend's threads.
    pub cpu_threads: usize,
    /// The model directory (`$KILN_MODEL_DIR`, else `~/.cache/kiln/models`).
    pub model_dir: String,
    /// The models found there (GGUF files and Hugging Face directories), by path.
    pub models: Vec<String>,
}

/// The browser's WebGPU adapter, as `navigator.gpu.requestAdapter()` describes it (wgpu does not
/// pass these on in the browser).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WebGpuAdapter {
    /// `GPUAdapterInfo.vendor` ("google" for SwiftShader).
    pub vendor: String,
    /// `GPUAdapterInfo.architecture` ("swiftshader").
    pub architecture: String,
    /// `GPUAdapterInfo.description` (often empty).
    pub description: String,
    /// A software or otherwise fallback adapter.
    pub is_fallback: bool,
    /// Whether the adapter offers `shader-f16`.
    pub shader_f16: bool,
    /// `limits.maxBufferSize`, bytes.
    pub max_buffer_size: u64,
    /// `limits.maxStorageBufferBindingSize`, bytes.
    pub max_storage_buffer_binding_size: u64,
}

impl WebGpuAdapter {
    /// Whether a weight matrix of `bytes` fits this adapter's buffers; `Err` says which limit.
    pub fn fits(&self, bytes: u64) -> Result<(), String> {
        let limit = self
            .max_buffer_size
            .min(self.max_storage_buffer_binding_size);
        if bytes <= limit {
            return Ok(());
        }
        Err(format!(
            "the model's largest weight matrix needs a {:.0} MiB GPU buffer, but this adapter allows {:.0} MiB \
             (maxBufferSize {}, maxStorageBufferBindingSize {})",
            bytes as f64 / MIB,
            limit as f64 / MIB,
            self.max_buffer_size,
            self.max_storage_buffer_binding_size
        ))
    }
}

const MIB: f64 = 1024.0 * 1024.0;

/// Worker → UI.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FromWorker {
    /// The worker is listening (messages sent before this are lost).
    Ready {
        /// kiln's version, for reproducible links.
        version: String,
    },
    /// The desktop app's native side: where models are and what the CPU offers.
    Host(Box<AppHost>),
    /// The desktop app: the user chose a model (the file dialog, or a drop on the window).
    ModelChosen {
        /// A GGUF file or a Hugging Face directory.
        path: String,
    },
    /// Progress of a long step.
    Progress {
        /// "download", "hash", "cache", "load".
        stage: String,
        /// Units done (bytes, or tensors for "load").
        done: u64,
        /// Units in all, when known.
        total: Option<u64>,
    },
    /// A model is ready.
    Loaded(Box<LoadedModel>),
    /// A generation event, with the token's text for the token view.
    Event {
        /// The request's id.
        id: u64,
        /// The engine's event.
        event: Event,
        /// For `Token` events: the token's text.
        piece: Option<String>,
        /// For `Token` events: the texts of the event's `top` alternatives, in their order.
        #[serde(default)]
        top_pieces: Vec<String>,
    },
    /// One lane's event in a lab run (`Token` events carry no alternatives here; the tokens'
    /// texts come with the finished run).
    Lane {
        /// The run's id.
        id: u64,
        /// The lane (temperature-major).
        lane: usize,
        /// The engine's event.
        event: Event,
    },
    /// A lab run ended (all lanes finished or were cancelled): every lane, each lane's
    /// post-processing report, and the batch-invariance check when the run has T = 0 and was not
    /// cancelled. Tests, if any, are the UI's to run.
    LabDone {
        /// The run's id.
        id: u64,
        /// The request and every lane.
        run: Box<LabRun>,
        /// Each lane's report, temperature-major.
        reports: Vec<PostReport>,
        /// The greedy lane alone against the same lane in a batch as wide as the run.
        invariance: Option<BatchInvariance>,
        /// Where and with what the run was made, for its record.
        meta: RecordMeta,
    },
    /// The post-processing report of a finished generation.
    Post {
        /// The request's id.
        id: u64,
        /// The report.
        report: Box<PostReport>,
    },
    /// The worker's Rust code panicked: the worker cannot be trusted any more and the UI starts a
    /// new one.
    Crashed {
        /// The panic message.
        message: String,
    },
    /// Something the user should know that did not stop the request (e.g. the browser refused
    /// to cache the model: it is used from memory).
    Notice {
        /// What happened.
        message: String,
    },
    /// Something failed; the worker is still usable.
    Error {
        /// The request it concerns, if any.
        id: Option<u64>,
        /// The engine's message (it names the file, tensor, sizes or parameter).
        message: String,
    },
}

/// Encodes a message for `postMessage`.
pub fn encode<T: Serialize>(msg: &T) -> String {
    // These types hold only strings, numbers and enums: serialisation cannot fail.
    serde_json::to_string(msg).unwrap_or_default()
}

/// Decodes a message; a malformed one is an error, never a panic.
pub fn decode<T: for<'de> Deserialize<'de>>(json: &str) -> Result<T, String> {
    serde_json::from_str(json).map_err(|e| format!("malformed message: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_engine::{Finish, Prompt, SamplingParams, Timings};

    #[test]
    fn every_message_round_trips() {
        let to = [
            ToWorker::Load {
                source: ModelSource::Url {
                    url: "http://127.0.0.1/m.gguf".into(),
                },
                device: DeviceChoice::Auto,
                n_ctx: Some(2048),
                store: StoreChoice::CacheApi,
            },
            ToWorker::Generate {
                id: 7,
                request: GenerateRequest {
                    prompt: Prompt::Raw("def f(".into()),
                    sampling: SamplingParams::default(),
                    max_tokens: 16,
                    stop: vec!["\n\n".into()],
                    ignore_eos: false,
                    stop_on_repetition: false,
                },
                post: Some(PostOptions::default()),
            },
            ToWorker::Lab {
                id: 8,
                request: LabRequest {
                    request: GenerateRequest {
                        prompt: Prompt::Raw("def f(".into()),
                        sampling: kiln_engine::lab::isolated_sampling(3),
                        max_tokens: 16,
                        stop: vec![],
                        ignore_eos: false,
                        stop_on_repetition: true,
                    },
                    temperatures: vec![0.0, 0.7],
                    samples: 2,
                },
                post: PostOptions::default(),
            },
            ToWorker::Cancel { id: 7 },
            ToWorker::ClearCache,
            ToWorker::Hello,
            ToWorker::PickModel,
            ToWorker::Load {
                source: ModelSource::Path {
                    path: "/models/m.gguf".into(),
                },
                device: DeviceChoice::Cpu,
                n_ctx: None,
                store: StoreChoice::Auto,
            },
        ];
        for m in to {
            assert_eq!(decode::<ToWorker>(&encode(&m)), Ok(m));
        }
        let from = [
            FromWorker::Ready {
                version: "0.1.0".into(),
            },
            FromWorker::Progress {
                stage: "download".into(),
                done: 10,
                total: None,
            },
            FromWorker::Event {
                id: 7,
                event: Event::Done {
                    finish: Finish::Cancelled,
                    timings: Timings::default(),
                },
                piece: None,
                top_pieces: Vec::new(),
            },
            FromWorker::Event {
                id: 7,
                event: Event::Token {
                    id: 3,
                    prob: 0.5,
                    top: vec![(3, 0.5), (9, 0.25)],
                },
                piece: Some("def".into()),
                top_pieces: vec!["def".into(), "import".into()],
            },
            FromWorker::Lane {
                id: 8,
                lane: 3,
                event: Event::Text { text: "x".into() },
            },
            FromWorker::Error {
                id: None,
                message: "bad".into(),
            },
            FromWorker::Crashed {
                message: "index out of bounds".into(),
            },
            FromWorker::Notice {
                message: "cannot cache the model".into(),
            },
            FromWorker::Host(Box::new(AppHost {
                cpu_threads: 2,
                model_dir: "/m".into(),
                models: vec!["/m/a.gguf".into()],
            })),
            FromWorker::ModelChosen {
                path: "/m/a.gguf".into(),
            },
        ];
        for m in from {
            assert_eq!(decode::<FromWorker>(&encode(&m)), Ok(m));
        }
    }

    #[test]
    fn gpu_buffer_limits_are_checked() {
        let a = WebGpuAdapter {
            max_buffer_size: 256 << 20,
            max_storage_buffer_binding_size: 128 << 20,
            ..WebGpuAdapter::default()
        };
        assert_eq!(a.fits(113_246_208), Ok(()));
        let e = a.fits(600 << 20).unwrap_err();
        assert!(e.contains("600 MiB") && e.contains("128 MiB"), "{e}");
    }

    #[test]
    fn malformed_messages_are_errors() {
        assert!(decode::<ToWorker>("{\"type\":\"launch\"}").is_err());
        assert!(decode::<ToWorker>("not json").is_err());
    }
}
