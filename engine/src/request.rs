//! What a generation is asked and what it reports: the prompt, the request, the events the loop
//! streams, why it ended, how fast it ran, and the finished generation. Plain data (serde), shared
//! by the loop (generate.rs), each lane (lane.rs), the lab and every front end.

use serde::{Deserialize, Serialize};

use crate::chat::Message;
use crate::sampler::SamplingParams;

/// The prompt, raw or as chat turns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Prompt {
    /// Completion of the text as given; no template.
    Raw(String),
    /// Chat turns rendered with the model's template, ending with the assistant's opening.
    Chat(Vec<Message>),
    /// Token ids as they are (benchmarks, tests).
    Tokens(Vec<u32>),
}

/// One generation request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerateRequest {
    /// What to continue.
    pub prompt: Prompt,
    /// Sampling settings (including the seed).
    #[serde(default)]
    pub sampling: SamplingParams,
    /// At most this many new tokens.
    pub max_tokens: usize,
    /// Stop strings (not included in the output).
    #[serde(default)]
    pub stop: Vec<String>,
    /// Keep going past end-of-generation tokens (benchmarks).
    #[serde(default)]
    pub ignore_eos: bool,
    /// End with [`Finish::Repetition`] once the output repeats a line four times or a block
    /// of lines three times (off for parity with llama.cpp and for benchmarks).
    #[serde(default)]
    pub stop_on_repetition: bool,
}

/// Why generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Finish {
    /// The model produced an end-of-generation token.
    Eos,
    /// A stop string appeared.
    Stop,
    /// `max_tokens` were generated.
    MaxTokens,
    /// The context window is full.
    ContextFull,
    /// The caller cancelled.
    Cancelled,
    /// The output degenerated into repetition ([`GenerateRequest::stop_on_repetition`]).
    Repetition,
}

/// Timings of one request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Timings {
    /// Prompt tokens.
    pub prompt_tokens: usize,
    /// Prefill wall time.
    pub prefill_ms: f64,
    /// Generated tokens.
    pub generated_tokens: usize,
    /// Decode wall time (all tokens after the first).
    pub decode_ms: f64,
}

impl Timings {
    /// Prompt tokens per second.
    pub fn prefill_tok_s(&self) -> f64 {
        rate(self.prompt_tokens, self.prefill_ms)
    }

    /// Generated tokens per second after the first.
    pub fn decode_tok_s(&self) -> f64 {
        rate(self.generated_tokens.saturating_sub(1), self.decode_ms)
    }
}

fn rate(n: usize, ms: f64) -> f64 {
    if ms > 0.0 {
        n as f64 * 1000.0 / ms
    } else {
        0.0
    }
}

/// What the loop reports while it runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A token was chosen; `prob` is its probability under the model (softmax of the raw logits).
    Token {
        /// Token id.
        id: u32,
        /// Model probability.
        prob: f32,
        /// The model's most likely tokens at this step, most likely first, with their
        /// probabilities (the chosen one among them when it ranks high enough).
        #[serde(default)]
        top: Vec<(u32, f32)>,
    },
    /// New text (complete UTF-8, never part of a stop string).
    Text {
        /// The text.
        text: String,
    },
    /// Generation ended.
    Done {
        /// Why.
        finish: Finish,
        /// How fast.
        timings: Timings,
    },
}

/// The outcome of a request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Generation {
    /// The generated text.
    pub text: String,
    /// The generated token ids (EOS excluded).
    pub tokens: Vec<u32>,
    /// The prompt's token ids.
    pub prompt_tokens: Vec<u32>,
    /// Why it ended.
    pub finish: Finish,
    /// How fast.
    pub timings: Timings,
    /// Each generated token's probability under the model (softmax of the raw logits, before
    /// any sampling stage), one per entry of `tokens`.
    #[serde(default)]
    pub token_probs: Vec<f32>,
    /// The entropy (nats) of the model's raw next-token distribution at each generated token.
    #[serde(default)]
    pub token_entropies: Vec<f32>,
}
