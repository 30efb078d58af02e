//! kiln-engine: the pipeline shared by the browser and the desktop.
//!
//! bytes → [`Engine::load`] (GGUF or HF safetensors, Llama family) → [`Engine::generate`]
//! (tokenizer → transformer with KV cache → sampler chain → streaming detokenizer → stop strings)
//! → [`Event`]s. The engine reads bytes, not paths, starts no threads, and reads from the device
//! only asynchronously, so the same code runs natively and in wasm.

mod batch;
mod chat;
mod device;
mod error;
mod fim;
pub mod format;
mod generate;
pub mod lab;
mod lane;
pub mod model;
pub use kiln_post as post;
mod repetition;
mod request;
pub mod sampler;
mod settings;
mod stop;
mod tokenizer;

use std::collections::BTreeMap;

use serde::Serialize;

pub use batch::{Batch, Finished};
pub use burn;
pub use chat::{ChatTemplate, Message};
pub use device::{
    DeviceChoice, DeviceInfo, NO_GPU_BUILD, cpu_kernel_level, cpu_threads, has_gpu_backend,
    init as init_device, memory_read_gb_s, now_ms, yield_now,
};
pub use error::{Error, Result};
pub use fim::{fim_prompt, fim_text, fim_tokens};
pub use model::config::ModelConfig;
pub use model::kv_cache::KvCache;
pub use model::load::ModelFiles;
pub use request::{Event, Finish, GenerateRequest, Generation, Prompt, Timings};
pub use sampler::SamplingParams;
pub use settings::{RequestSettings, escape, unescape};
pub use stop::{StopMatcher, StopStep};
pub use tokenizer::{StreamDecoder, Tokenizer};

use model::linear::Target;
pub use model::linear::{Activations, WeightMode};
use model::llama::Llama;
pub use model::llama::WeightStats;
use model::load::Checkpoint;

/// The context used when none is asked for and the model was trained on more (llama.cpp's
/// `-c` default is of the same order): the RoPE table and the cache grow with it.
pub const DEFAULT_MAX_CTX: usize = 8192;

/// Options for [`Engine::load`].
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Where to run.
    pub device: DeviceChoice,
    /// Context window; `None` = the model's trained context, at most [`DEFAULT_MAX_CTX`].
    pub n_ctx: Option<usize>,
    /// Whether quantized matrices stay quantized (the CPU backend only, for now).
    pub weights: WeightMode,
    /// What quantized matrices are multiplied with on the CPU: f32 (default) or 8-bit.
    pub activations: Activations,
}

/// What a loaded model is, for `kiln info` and the UI.
#[derive(Debug, Clone, Serialize)]
pub struct ModelInfo {
    /// File (or directory) name.
    pub file: String,
    /// "GGUF" or "safetensors".
    pub format: String,
    /// Hyper-parameters.
    #[serde(skip)]
    pub config: ModelConfig,
    /// Architecture name.
    pub arch: String,
    /// Weight count.
    pub n_params: usize,
    /// Tensor count per stored type.
    pub tensor_types: BTreeMap<String, usize>,
    /// Vocabulary size of the tokenizer.
    pub vocab_size: usize,
    /// BOS id and whether it is added.
    pub bos: Option<u32>,
    /// Whether BOS is put in front of prompts.
    pub add_bos: bool,
    /// End-of-generation ids.
    pub eog: Vec<u32>,
    /// The chat template, if any.
    pub chat_template: Option<String>,
    /// Usable context.
    pub n_ctx: usize,
    /// Bytes of the largest weight matrix as loaded (f32): the storage buffer a GPU must allow.
    pub largest_tensor_bytes: u64,
}

/// A loaded model on a device, ready to generate.
pub struct Engine {
    model: Llama,
    f32_from_blocks: usize,
    tokenizer: Tokenizer,
    chat: Option<ChatTemplate>,
    info: ModelInfo,
    device: DeviceInfo,
    activations: Activations,
    /// Wall time of [`Engine::load`].
    pub load_ms: f64,
}

impl Engine {
    /// Reads only the headers of `files`: configuration, tokenizer and template, no weights.
    pub fn inspect(files: &ModelFiles) -> Result<ModelInfo> {
        let ck = Checkpoint::open(files)?;
        Ok(Self::describe(
            files,
            &ck,
            ck.config.max_position_embeddings,
        ))
    }

    fn describe(files: &ModelFiles, ck: &Checkpoint<'_>, n_ctx: usize) -> ModelInfo {
        let file = match files {
            ModelFiles::Gguf { name, .. } => name.clone(),
            ModelFiles::HfDir(_) => "model directory".into(),
        };
        ModelInfo {
            file,
            format: ck.format.clone(),
            config: ck.config.clone(),
            arch: ck.config.model_type.clone(),
            n_params: ck.config.n_params(),
            tensor_types: ck.tensor_types.clone(),
            vocab_size: ck.tokenizer.vocab_size(),
            bos: ck.tokenizer.bos,
            add_bos: ck.tokenizer.add_bos,
            eog: ck.tokenizer.eog.clone(),
            chat_template: ck.chat.as_ref().map(|c| c.source().to_string()),
            n_ctx,
            largest_tensor_bytes: ck.config.largest_tensor_bytes(),
        }
    }

    /// Loads a model onto the chosen device; `on_progress(done, total)` counts layers.
    pub async fn load(
        files: &ModelFiles,
        opts: &LoadOptions,
        on_progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Self> {
        let t0 = now_ms();
        // Headers first: a broken file is reported before any device is touched.
        let mut ck = Checkpoint::open(files)?;
        let (device, device_info) = device::init(opts.device).await?;
        let max = ck.config.max_position_embeddings;
        let n_ctx = match opts.n_ctx {
            None => max.min(DEFAULT_MAX_CTX),
            Some(n) if (2..=max).contains(&n) => n,
            Some(n) => {
                return Err(Error::Param {
                    name: "n_ctx",
                    value: n.to_string(),
                    expected: "between 2 and the model's context length",
                });
            }
        };
        let info = Self::describe(files, &ck, n_ctx);
        // wgpu has no quantized kernels yet: its matrices are dequantized at load.
        let mode = if device_info.backend == "cpu" {
            opts.weights
        } else {
            WeightMode::Dense
        };
        let target = Target {
            dev: &device,
            mode,
            activations: opts.activations,
            expanded: 0.into(),
        };
        let model = Llama::load(
            ck.reader.as_mut(),
            &ck.config,
            &ck.inv_freq,
            n_ctx,
            &target,
            on_progress,
        )?;
        let f32_from_blocks = ck.reader.f32_from_blocks() + target.expanded.get();
        Ok(Self {
            model,
            f32_from_blocks,
            tokenizer: ck.tokenizer,
            chat: ck.chat,
            info,
            device: device_info,
            activations: opts.activations,
            load_ms: now_ms() - t0,
        })
    }

    /// Builds only the tokenizer of `files` (no weights are read).
    pub fn load_tokenizer(files: &ModelFiles) -> Result<Tokenizer> {
        Ok(Checkpoint::open(files)?.tokenizer)
    }

    /// What the model is.
    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// Where it runs.
    pub fn device(&self) -> &DeviceInfo {
        &self.device
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// The chat template, if the model has one.
    pub fn chat_template(&self) -> Option<&ChatTemplate> {
        self.chat.as_ref()
    }

    /// Whether the forward runs on host rows through kiln-shaders' kernels (every matrix held as
    /// blocks on the CPU) rather than as burn tensor operations.
    pub fn on_host(&self) -> bool {
        self.model.on_host()
    }

    /// How the weights are multiplied, in words (recorded with every lab run: lanes may part
    /// where the arithmetic differs).
    pub fn kernels(&self) -> String {
        if self.on_host() {
            let acts = match self.activations {
                Activations::F32 => "f32",
                Activations::Q8 => "8-bit",
            };
            format!(
                "GGUF blocks on the host path, {acts} activations, {}",
                cpu_kernel_level()
            )
        } else {
            format!("burn tensors on {}", self.device.backend)
        }
    }

    /// What the loaded model holds (bytes, quantized and dense matrices).
    pub fn weight_stats(&self) -> WeightStats {
        WeightStats {
            f32_from_blocks: self.f32_from_blocks,
            ..self.model.weight_stats()
        }
    }
}
