//! Continuous batching: requests with prompts of their own join a running batch of lanes and
//! leave it when they finish, and every step decodes one token for all of them in one forward —
//! the weights are read once per step, not once per request (llama.cpp's server slots, vLLM's
//! iteration-level scheduling). [`Engine::generate_lanes`] is one request in a batch of its own.
//!
//! A request is prefilled alone (one lane), widened into its `n` lanes, and its cache
//! [joined](KvCache::join) behind the lanes already decoding; its lanes then advance with the
//! others, each at its own position. On the host path each output row of a forward is computed
//! the same way whatever else is in the batch, so a request gets the tokens it would get alone.
//! The device path's lanes share one cache length: there a batch takes a request only when empty.

use std::ops::ControlFlow;

use crate::Engine;
use crate::device::now_ms;
use crate::error::{Error, Result};
use crate::lane::{Lane, Step};
use crate::model::kv_cache::KvCache;
use crate::request::{Event, Finish, GenerateRequest, Generation, Timings};
use crate::sampler::{Rng, SamplingParams};

/// The most lanes one request decodes together (the lab's temperatures × samples).
pub(crate) const MAX_LANES: usize = 256;

/// A running batch of lanes on one engine.
pub struct Batch<'e> {
    engine: &'e Engine,
    /// One cache lane per entry of `seqs`, in the same order.
    cache: KvCache,
    seqs: Vec<Seq>,
}

/// One lane of one request.
struct Seq {
    tag: u64,
    lane: usize,
    state: Lane,
    /// The model's scores after the lane's last token: what its next advance samples from.
    logits: Vec<f32>,
    prompt: Vec<u32>,
    prefill_ms: f64,
    /// When its decoding began (after the prefill).
    decode_from: f64,
}

/// A lane that ended during a [`Batch::step`].
#[derive(Debug, Clone)]
pub struct Finished {
    /// The tag its request was admitted with.
    pub tag: u64,
    /// Its index among its request's lanes.
    pub lane: usize,
    /// What it produced.
    pub generation: Generation,
}

impl<'e> Batch<'e> {
    /// An empty batch on `engine`.
    pub fn new(engine: &'e Engine) -> Self {
        Self {
            engine,
            cache: engine.new_cache(),
            seqs: Vec::new(),
        }
    }

    /// Live lanes.
    pub fn len(&self) -> usize {
        self.seqs.len()
    }

    /// Whether no lane is decoding.
    pub fn is_empty(&self) -> bool {
        self.seqs.is_empty()
    }

    /// Prompt tokens of the request admitted with `tag`, while any of its lanes decodes.
    pub fn prompt_len(&self, tag: u64) -> Option<usize> {
        self.seqs
            .iter()
            .find(|s| s.tag == tag)
            .map(|s| s.prompt.len())
    }

    /// Whether a request can join now: always on the host path, only into an empty batch on the
    /// device path (whose lanes share one cache length).
    pub fn can_join(&self) -> bool {
        self.seqs.is_empty() || self.engine.on_host()
    }

    /// Prefills `req` and adds one lane per entry of `lanes` (each with its own sampling settings
    /// and its own rng seeded from them), tagged `tag`; they decode from the next
    /// [`step`](Self::step). Nothing changes when the request is refused (empty or too long a
    /// prompt, a bad lane count or sampling parameter, a batch that cannot take it).
    pub async fn admit(
        &mut self,
        tag: u64,
        req: &GenerateRequest,
        lanes: &[SamplingParams],
    ) -> Result<()> {
        let engine = self.engine;
        if !self.can_join() {
            return Err(Error::Param {
                name: "lanes",
                value: format!("a request joining {} running lanes", self.seqs.len()),
                expected: "an empty batch on the device path (its lanes share one length)",
            });
        }
        if lanes.is_empty() || lanes.len() > MAX_LANES {
            return Err(Error::Param {
                name: "lanes",
                value: lanes.len().to_string(),
                expected: "1 to 256 lanes",
            });
        }
        let prompt = engine.prompt_tokens(&req.prompt)?;
        let n_ctx = engine.max_positions();
        if prompt.is_empty() {
            return Err(Error::EmptyPrompt);
        }
        if prompt.len() >= n_ctx {
            return Err(Error::PromptTooLong {
                len: prompt.len(),
                max: n_ctx,
            });
        }
        let states = lanes
            .iter()
            .map(|sampling| Lane::new(req, sampling, &prompt, Rng::new(sampling.seed)))
            .collect::<Result<Vec<_>>>()?;

        let mut cache = engine.new_cache();
        let t0 = now_ms();
        let first = engine.step_one(&prompt, &mut cache).await?;
        let prefill_ms = now_ms() - t0;
        if lanes.len() > 1 {
            cache.widen(lanes.len())?;
        }
        self.cache.join(cache)?;
        let decode_from = now_ms();
        self.seqs
            .extend(states.into_iter().enumerate().map(|(lane, state)| Seq {
                tag,
                lane,
                state,
                logits: first.clone(),
                prompt: prompt.clone(),
                prefill_ms,
                decode_from,
            }));
        Ok(())
    }

    /// One step of every live lane: each samples its next token from its scores, reporting to
    /// `on_event(tag, lane, event)` (returning `ControlFlow::Break` ends that lane); the lanes
    /// that end leave the batch and are returned; the rest go through the model together.
    pub async fn step(
        &mut self,
        on_event: &mut dyn FnMut(u64, usize, Event) -> ControlFlow<()>,
    ) -> Result<Vec<Finished>> {
        let tok = self.engine.tokenizer();
        let n_ctx = self.engine.max_positions();
        let lens = self.cache.lane_lens();
        let mut next = Vec::with_capacity(self.seqs.len());
        let mut keep = Vec::with_capacity(self.seqs.len());
        let mut finished = Vec::new();
        for (i, seq) in self.seqs.iter_mut().enumerate() {
            let (tag, lane) = (seq.tag, seq.lane);
            let step = seq
                .state
                .advance(tok, &seq.logits, &mut |e| on_event(tag, lane, e))?;
            let done = match step {
                Step::Next(_) if lens.get(i).is_none_or(|&n| n >= n_ctx) => {
                    Some(Finish::ContextFull)
                }
                Step::Next(id) => {
                    next.push(vec![id]);
                    None
                }
                Step::Done(finish) => Some(finish),
            };
            keep.push(done.is_none());
            if let Some(finish) = done {
                seq.state
                    .finish(tok, finish, &mut |e| on_event(tag, lane, e))?;
                let decode_ms = if seq.state.tokens.len() > 1 {
                    now_ms() - seq.decode_from
                } else {
                    0.0
                };
                let timings = Timings {
                    prompt_tokens: seq.prompt.len(),
                    prefill_ms: seq.prefill_ms,
                    generated_tokens: seq.state.tokens.len(),
                    decode_ms,
                };
                let _ = on_event(
                    tag,
                    lane,
                    Event::Done {
                        finish,
                        timings: timings.clone(),
                    },
                );
                finished.push(Finished {
                    tag,
                    lane,
                    generation: Generation {
                        text: std::mem::take(&mut seq.state.text),
                        tokens: std::mem::take(&mut seq.state.tokens),
                        prompt_tokens: std::mem::take(&mut seq.prompt),
                        finish,
                        timings,
                        token_probs: std::mem::take(&mut seq.state.probs),
                        token_entropies: std::mem::take(&mut seq.state.entropies),
                    },
                });
            }
        }
        if next.is_empty() {
            self.seqs.clear();
            self.cache = self.engine.new_cache();
            return Ok(finished);
        }
        if keep.contains(&false) {
            self.cache.retain(&keep)?;
            let mut flags = keep.iter();
            self.seqs.retain(|_| flags.next().copied().unwrap_or(false));
        }
        // In a browser worker this is where a Cancel message gets delivered.
        crate::device::yield_now().await;
        let rows = self.engine.step(&next, &mut self.cache).await?;
        for (seq, row) in self.seqs.iter_mut().zip(rows) {
            seq.logits = row;
        }
        Ok(finished)
    }
}
