//! The engine's one error type. Every public function returns `Result<T, Error>`; each variant
//! names the file, tensor or parameter at fault so that the message tells the user what to fix.

/// Everything that can go wrong between model bytes and generated text.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file ended before a structure that its header promised.
    #[error("{file}: truncated: needed {needed} bytes at offset {offset}, file has {len}")]
    Truncated {
        file: String,
        offset: usize,
        needed: usize,
        len: usize,
    },

    /// The file is not a GGUF file (or not the version we read).
    #[error("{file}: not a GGUF file: {reason}")]
    BadGguf { file: String, reason: String },

    /// A GGUF tensor type we cannot decode.
    #[error(
        "{file}: tensor `{name}` has GGUF tensor type {type_name} ({ggml_type}), which is not supported (supported: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K)"
    )]
    UnsupportedTensorType {
        file: String,
        name: String,
        ggml_type: u32,
        type_name: String,
    },

    /// A tensor's data lies (partly) outside the file.
    #[error(
        "{file}: tensor `{name}` data [{start}, {end}) lies past the end of the file ({len} bytes)"
    )]
    TensorOutOfBounds {
        file: String,
        name: String,
        start: u64,
        end: u64,
        len: usize,
    },

    /// A tensor the architecture needs is not in the checkpoint.
    #[error("{file}: missing tensor `{name}`")]
    MissingTensor { file: String, name: String },

    /// A tensor has the wrong shape for the configuration.
    #[error("{file}: tensor `{name}` has shape {found:?}, expected {expected:?}")]
    Shape {
        file: String,
        name: String,
        found: Vec<usize>,
        expected: Vec<usize>,
    },

    /// A safetensors file is malformed.
    #[error("{file}: invalid safetensors file: {reason}")]
    BadSafetensors { file: String, reason: String },

    /// config.json (or GGUF metadata) is missing a key, has a wrong value, or does not parse.
    #[error("{file}: invalid model configuration: {reason}")]
    Config { file: String, reason: String },

    /// The architecture is not one kiln runs.
    #[error("{file}: architecture `{arch}` is not supported (supported: llama, mistral, qwen2)")]
    UnsupportedArchitecture { file: String, arch: String },

    /// The tokenizer could not be built or used.
    #[error("{file}: tokenizer: {reason}")]
    Tokenizer { file: String, reason: String },

    /// The chat template could not be compiled or rendered.
    #[error("chat template: {0}")]
    ChatTemplate(String),

    /// The prompt does not fit in the context window.
    #[error(
        "prompt is {len} tokens; the context is {max} tokens (at least one must be left to generate)"
    )]
    PromptTooLong { len: usize, max: usize },

    /// The prompt tokenized to nothing.
    #[error("prompt is empty")]
    EmptyPrompt,

    /// A sampling or generation parameter is out of range.
    #[error("invalid parameter `{name}` = {value}: {expected}")]
    Param {
        name: &'static str,
        value: String,
        expected: &'static str,
    },

    /// The requested device could not be initialised.
    #[error("device: {0}")]
    Device(String),

    /// Reading a tensor back from the device failed.
    #[error("reading back from the device failed: {0}")]
    Readback(String),

    /// A CPU kernel refused the shapes it was given: a bug in kiln, reported rather than panicking.
    #[error("CPU kernel: {0}")]
    Kernel(String),

    /// Post-processing failed (the sandbox could not run).
    #[error(transparent)]
    Post(#[from] kiln_post::Error),
}

/// Shorthand used throughout the engine.
pub type Result<T> = std::result::Result<T, Error>;
