//! The generation loop: prompt → prefill → (sample → decode text → stop checks → next token)*.
//! One async path for native and wasm: the only await is the logits read-back.

use std::ops::ControlFlow;

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::Engine;
use crate::chat::Message;
use crate::device::now_ms;
use crate::error::{Error, Result};
use crate::lane::{Lane, Step};
use crate::model::host;
use crate::model::kv_cache::KvCache;
use crate::sampler::{Rng, SamplingParams};

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

impl Engine {
    /// The prompt's token ids (chat prompts are rendered with the model's template first).
    pub fn prompt_tokens(&self, prompt: &Prompt) -> Result<Vec<u32>> {
        let text = match prompt {
            Prompt::Tokens(ids) => return Ok(ids.clone()),
            Prompt::Raw(t) => t.clone(),
            Prompt::Chat(messages) => {
                let t = self.chat.as_ref().ok_or_else(|| {
                    Error::ChatTemplate("the model has no chat template; use a raw prompt".into())
                })?;
                t.render(messages, true)?
            }
        };
        self.tokenizer.encode(&text)
    }

    /// Runs `req`, reporting progress to `on_event`; returning `ControlFlow::Break` cancels.
    pub async fn generate(
        &self,
        req: &GenerateRequest,
        on_event: &mut dyn FnMut(Event) -> ControlFlow<()>,
    ) -> Result<Generation> {
        let mut gens = self
            .generate_lanes(req, std::slice::from_ref(&req.sampling), &mut |_, e| {
                on_event(e)
            })
            .await?;
        gens.pop()
            .ok_or_else(|| Error::Readback("no generation".into()))
    }

    /// Runs `req` as one lane per entry of `lanes` — the same prompt, each lane with its own
    /// sampling settings and its own rng seeded from them — reporting each lane's events to
    /// `on_event` with its index; returning `ControlFlow::Break` ends that lane.
    ///
    /// The prompt is prefilled once; the lanes share its cache (llama.cpp's `batched` example)
    /// and decode together, one forward for all live lanes per step; a finished lane leaves the
    /// batch. A lane's tokens are those it would get alone when the forward is batch-invariant
    /// (the CPU path is: each output row is computed the same way whatever the batch).
    pub async fn generate_lanes(
        &self,
        req: &GenerateRequest,
        lanes: &[SamplingParams],
        on_event: &mut dyn FnMut(usize, Event) -> ControlFlow<()>,
    ) -> Result<Vec<Generation>> {
        let prompt = self.prompt_tokens(&req.prompt)?;
        let n_ctx = self.model.max_positions();
        if prompt.is_empty() {
            return Err(Error::EmptyPrompt);
        }
        if prompt.len() >= n_ctx {
            return Err(Error::PromptTooLong {
                len: prompt.len(),
                max: n_ctx,
            });
        }
        if lanes.is_empty() || lanes.len() > MAX_LANES {
            return Err(Error::Param {
                name: "lanes",
                value: lanes.len().to_string(),
                expected: "1 to 256 lanes",
            });
        }
        let mut state = lanes
            .iter()
            .map(|sampling| Lane::new(req, sampling, &prompt, Rng::new(sampling.seed)))
            .collect::<Result<Vec<_>>>()?;

        let mut cache = self.new_cache();
        let t0 = now_ms();
        let first = self.step_one(&prompt, &mut cache).await?;
        let prefill_ms = now_ms() - t0;
        if lanes.len() > 1 {
            cache.widen(lanes.len())?;
        }

        let t1 = now_ms();
        let mut finishes: Vec<Option<(Finish, f64)>> = vec![None; lanes.len()];
        // The lanes in the batch, in batch order, and the logits row of each.
        let mut live: Vec<usize> = (0..lanes.len()).collect();
        let mut logits: Vec<Vec<f32>> = vec![first; lanes.len()];
        while !live.is_empty() {
            let mut next = Vec::with_capacity(live.len());
            let mut keep = Vec::with_capacity(live.len());
            for (&l, row) in live.iter().zip(&logits) {
                let step = state[l].advance(&self.tokenizer, row, &mut |e| on_event(l, e))?;
                let done = match step {
                    Step::Next(_) if cache.len() >= n_ctx => Some(Finish::ContextFull),
                    Step::Next(id) => {
                        next.push(vec![id]);
                        None
                    }
                    Step::Done(finish) => Some(finish),
                };
                if let Some(finish) = done {
                    state[l].finish(&self.tokenizer, finish, &mut |e| on_event(l, e))?;
                    let decode_ms = if state[l].tokens.len() > 1 {
                        now_ms() - t1
                    } else {
                        0.0
                    };
                    let _ = on_event(
                        l,
                        Event::Done {
                            finish,
                            timings: lane_timings(&prompt, prefill_ms, &state[l].tokens, decode_ms),
                        },
                    );
                    finishes[l] = Some((finish, decode_ms));
                }
                keep.push(done.is_none());
            }
            if next.is_empty() {
                break;
            }
            if keep.contains(&false) {
                cache.retain(&keep)?;
                let mut flags = keep.iter();
                live.retain(|_| flags.next().copied().unwrap_or(false));
            }
            // In a browser worker this is where a Cancel message gets delivered.
            crate::device::yield_now().await;
            logits = self.step(&next, &mut cache).await?;
        }
        state
            .into_iter()
            .zip(finishes)
            .map(|(lane, done)| {
                let (finish, decode_ms) =
                    done.ok_or_else(|| Error::Readback("a lane ended without a finish".into()))?;
                Ok(Generation {
                    timings: lane_timings(&prompt, prefill_ms, &lane.tokens, decode_ms),
                    text: lane.text,
                    tokens: lane.tokens,
                    prompt_tokens: prompt.clone(),
                    finish,
                    token_probs: lane.probs,
                    token_entropies: lane.entropies,
                })
            })
            .collect()
    }

    /// [`Engine::step`] for a single lane.
    async fn step_one(&self, tokens: &[u32], cache: &mut KvCache) -> Result<Vec<f32>> {
        let mut rows = self.step(&[tokens.to_vec()], cache).await?;
        rows.pop()
            .ok_or_else(|| Error::Readback("no logits row".into()))
    }

    /// The decoder's final-norm hidden states for `lanes`, on whichever path the model was
    /// loaded for: host rows through kiln-shaders, or burn tensors on the device.
    ///
    /// # Shapes
    /// - `lanes`: `b` lanes of `s` ids → `[b, s, hidden]`
    async fn hidden(&self, lanes: &[Vec<u32>], cache: &mut KvCache) -> Result<Tensor<3>> {
        match self.model.host_rope() {
            Some(rope) => host::hidden(&self.model, rope, lanes, cache),
            None => self.model.forward(lanes, cache).await,
        }
    }

    /// An empty KV cache for this model.
    pub fn new_cache(&self) -> KvCache {
        KvCache::new(self.info.config.num_hidden_layers)
    }

    /// Feeds `lanes` (each lane the same number of new tokens) through the model, appending to
    /// `cache`, and returns each lane's last-position logits, read back asynchronously. Lanes
    /// share positions: fork one prefilled cache and step the forks, or step a batch at once.
    ///
    /// # Shapes
    /// - `lanes`: `b` lanes of `s` ids → `b` rows of `vocab` logits
    pub async fn step(&self, lanes: &[Vec<u32>], cache: &mut KvCache) -> Result<Vec<Vec<f32>>> {
        let s = lanes.first().map_or(0, Vec::len);
        if s == 0 || lanes.iter().any(|l| l.len() != s) {
            return Err(Error::Param {
                name: "lanes",
                value: format!("{} lanes", lanes.len()),
                expected: "at least one lane, all of the same non-zero length",
            });
        }
        if cache.batch().is_some_and(|b| b != lanes.len()) {
            return Err(Error::Param {
                name: "lanes",
                value: lanes.len().to_string(),
                expected: "as many lanes as the cache was filled with",
            });
        }
        let vocab = self.model.vocab_size();
        if let Some(&bad) = lanes.iter().flatten().find(|&&t| t as usize >= vocab) {
            return Err(Error::Tokenizer {
                file: self.info.file.clone(),
                reason: format!("token id {bad} is outside the model's vocabulary of {vocab}"),
            });
        }
        let max = self.model.max_positions();
        if cache.len() + s > max {
            return Err(Error::PromptTooLong {
                len: cache.len() + s,
                max,
            });
        }
        let h = self.hidden(lanes, cache).await?; // [b, s, hidden]
        let [b, s, hidden] = h.dims();
        let last = h.slice([0..b, s - 1..s, 0..hidden]); // [b, 1, hidden]
        let flat = read_f32(self.model.logits(last).await?).await?; // [b, 1, vocab]
        Ok(flat.chunks(vocab).map(<[f32]>::to_vec).collect())
    }

    /// Logits for every position of `tokens` (one lane, empty cache): for parity tests.
    ///
    /// # Shapes
    /// - returns `s` rows of `vocab` logits
    pub async fn all_logits(&self, tokens: &[u32]) -> Result<Vec<Vec<f32>>> {
        if tokens.is_empty() || tokens.len() > self.model.max_positions() {
            return Err(Error::PromptTooLong {
                len: tokens.len(),
                max: self.model.max_positions(),
            });
        }
        let vocab = self.model.vocab_size();
        if let Some(&bad) = tokens.iter().find(|&&t| t as usize >= vocab) {
            return Err(Error::Tokenizer {
                file: self.info.file.clone(),
                reason: format!("token id {bad} is outside the model's vocabulary of {vocab}"),
            });
        }
        let h = self
            .hidden(&[tokens.to_vec()], &mut self.new_cache())
            .await?;
        let flat = read_f32(self.model.logits(h).await?).await?;
        Ok(flat
            .chunks(self.model.vocab_size())
            .map(<[f32]>::to_vec)
            .collect())
    }
}

impl Engine {
    /// Last-position logits after prefilling `prompt`, then after each token of `then` fed one
    /// at a time through the KV cache — the decode path, for parity tests.
    pub async fn decode_logits(&self, prompt: &[u32], then: &[u32]) -> Result<Vec<Vec<f32>>> {
        if prompt.is_empty() || prompt.len() + then.len() > self.model.max_positions() {
            return Err(Error::PromptTooLong {
                len: prompt.len() + then.len(),
                max: self.model.max_positions(),
            });
        }
        let mut cache = self.new_cache();
        let mut rows = self.step(&[prompt.to_vec()], &mut cache).await?;
        for &t in then {
            rows.extend(self.step(&[vec![t]], &mut cache).await?);
        }
        Ok(rows)
    }
}

async fn read_f32<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>> {
    let data = t
        .into_data_async()
        .await
        .map_err(|e| Error::Readback(e.to_string()))?;
    data.try_into_vec::<f32>()
        .map_err(|e| Error::Readback(format!("{e:?}")))
}

/// The most lanes one call decodes together (the lab's temperatures × samples).
pub(crate) const MAX_LANES: usize = 256;

fn lane_timings(prompt: &[u32], prefill_ms: f64, tokens: &[u32], decode_ms: f64) -> Timings {
    Timings {
        prompt_tokens: prompt.len(),
        prefill_ms,
        generated_tokens: tokens.len(),
        decode_ms,
    }
}

/// How many alternatives each `Token` event lists (the playground's token view shows them).
pub(crate) const TOP_ALTERNATIVES: usize = 5;

/// Softmax probability of `id` in `logits`, the `k` most likely ids with theirs (most likely
/// first; ties keep the lower id first), and the distribution's entropy in nats.
pub(crate) fn probabilities(logits: &[f32], id: u32, k: usize) -> (f32, Vec<(u32, f32)>, f32) {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    // Z = Σ e^(l − max) and Σ e^(l − max)·(l − max), so that H = ln Z − (Σ e·(l − max)) / Z;
    // −∞ logits (masked tokens) contribute nothing to either.
    let (mut sum, mut weighted) = (0.0f64, 0.0f64);
    for &l in logits {
        let x = f64::from(l - max);
        if x.is_finite() {
            let e = x.exp();
            sum += e;
            weighted += e * x;
        }
    }
    let entropy = if sum > 0.0 {
        (sum.ln() - weighted / sum).max(0.0) as f32
    } else {
        0.0
    };
    let p = |l: f32| (f64::from(l - max).exp() / sum) as f32;
    let mut best: Vec<(u32, f32)> = Vec::with_capacity(k + 1);
    for (i, &l) in logits.iter().enumerate() {
        if best.len() == k && best.last().is_some_and(|&(_, b)| l <= b) {
            continue;
        }
        let at = best.partition_point(|&(_, b)| b >= l);
        best.insert(at, (i as u32, l));
        best.truncate(k);
    }
    let top = best.into_iter().map(|(i, l)| (i, p(l))).collect();
    (logits.get(id as usize).map_or(0.0, |&l| p(l)), top, entropy)
}

#[cfg(test)]
mod tests {
    use super::probabilities;

    #[test]
    fn top_alternatives_are_the_most_likely_in_order() {
        let logits = [0.5, 3.0, -1.0, 3.0, 2.0, f32::NEG_INFINITY, 1.0];
        let (p, top, _) = probabilities(&logits, 4, 3);
        let ids: Vec<u32> = top.iter().map(|&(i, _)| i).collect();
        assert_eq!(ids, [1, 3, 4]);
        let z: f32 = logits.iter().map(|&l| (l - 3.0).exp()).sum();
        assert!((p - (-1.0f32).exp() / z).abs() < 1e-6);
        assert!((top[0].1 - 1.0 / z).abs() < 1e-6);
        assert_eq!(top[2].1, p);
        let (_, all, _) = probabilities(&logits, 0, 10);
        assert_eq!(all.len(), logits.len());
        assert!((all.iter().map(|&(_, p)| p).sum::<f32>() - 1.0).abs() < 1e-5);
    }

    #[test]
    fn entropy_is_that_of_the_softmax_and_ignores_masked_tokens() {
        // Four equal logits and a masked one: ln 4.
        let (_, _, h) = probabilities(&[1.0, 1.0, 1.0, 1.0, f32::NEG_INFINITY], 0, 2);
        assert!((h - 4f32.ln()).abs() < 1e-6, "{h}");
        // One certain token: 0.
        let (_, _, h) = probabilities(&[0.0, 100.0, f32::NEG_INFINITY], 1, 1);
        assert!(h.abs() < 1e-6, "{h}");
        // Against the definition on an uneven distribution.
        let l = [0.3f32, -1.2, 2.5, 0.0];
        let z: f64 = l.iter().map(|&x| f64::from(x).exp()).sum();
        let want: f64 = l
            .iter()
            .map(|&x| {
                let p = f64::from(x).exp() / z;
                -p * p.ln()
            })
            .sum();
        let (_, _, h) = probabilities(&l, 0, 1);
        assert!((f64::from(h) - want).abs() < 1e-6, "{h} vs {want}");
    }
}
