//! The generation loop: prompt → prefill → (sample → decode text → stop checks → next token)*.
//! One async path for native and wasm: the only await is the logits read-back.

use std::ops::ControlFlow;

use burn::prelude::*;

use crate::Engine;
use crate::batch::Batch;
use crate::error::{Error, Result};
use crate::model::host;
use crate::model::kv_cache::KvCache;
use crate::request::{Event, GenerateRequest, Generation, Prompt};
use crate::sampler::SamplingParams;

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
        let mut batch = Batch::new(self);
        batch.admit(0, req, lanes).await?;
        let mut done: Vec<Option<Generation>> = vec![None; lanes.len()];
        while !batch.is_empty() {
            for f in batch.step(&mut |_, lane, e| on_event(lane, e)).await? {
                if let Some(slot) = done.get_mut(f.lane) {
                    *slot = Some(f.generation);
                }
            }
        }
        done.into_iter()
            .map(|g| g.ok_or_else(|| Error::Readback("a lane ended without a finish".into())))
            .collect()
    }

    /// Positions the model can hold (the usable context).
    pub(crate) fn max_positions(&self) -> usize {
        self.model.max_positions()
    }

    /// [`Engine::step`] for a single lane.
    pub(crate) async fn step_one(&self, tokens: &[u32], cache: &mut KvCache) -> Result<Vec<f32>> {
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
        let longest = cache.lane_lens().into_iter().max().unwrap_or(0);
        if longest + s > max {
            return Err(Error::PromptTooLong {
                len: longest + s,
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
