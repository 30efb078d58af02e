//! The engine thread: it owns the model and one [`Batch`], takes jobs from a bounded queue and
//! decodes every admitted job's lanes together, one forward per step (continuous batching, like
//! llama-server's slots). A job whose client has gone — its update channel closed, while queued,
//! mid-prefill or mid-stream — is dropped at the next step and its lanes leave the batch.

use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures_lite::future::block_on;
use kiln_engine::{Batch, Engine, Event, GenerateRequest, Generation, SamplingParams};
use tokio::sync::mpsc;

/// What a handler asks of the engine.
pub struct Job {
    /// The prompt, limits and stop strings.
    pub request: GenerateRequest,
    /// One entry per lane (`n`), each with its own seed.
    pub lanes: Vec<SamplingParams>,
    /// Send each token's text and alternatives (for `logprobs`).
    pub logprobs: bool,
    /// Where the job's updates go; dropping the receiver cancels the job.
    pub updates: mpsc::UnboundedSender<Update>,
}

/// What the engine tells a handler about its job.
#[derive(Debug)]
pub enum Update {
    /// The prompt is prefilled; its lanes decode from now on.
    Admitted {
        /// Prompt tokens.
        prompt_tokens: usize,
    },
    /// The engine refused the request (the prompt is too long, a parameter is out of range).
    Refused(kiln_engine::Error),
    /// A token of a lane (only with [`Job::logprobs`]).
    Token {
        /// Lane index.
        lane: usize,
        /// The token's own text.
        text: String,
        /// Its natural-log probability under the model.
        logprob: f32,
        /// The most likely tokens at this step, with theirs.
        top: Vec<(String, f32)>,
    },
    /// New text of a lane.
    Text {
        /// Lane index.
        lane: usize,
        /// The text.
        text: String,
    },
    /// A lane ended.
    Finished {
        /// Lane index.
        lane: usize,
        /// What it produced.
        generation: Generation,
    },
    /// The batch failed (a kernel or read-back error); every running job gets this.
    Failed(String),
}

/// What the server reports about its load (`GET /kiln/v1/status`).
#[derive(Debug, Default)]
pub struct Load {
    /// Jobs sent and not yet taken by the engine thread.
    pub queued: AtomicUsize,
    /// Lanes decoding.
    pub lanes: AtomicUsize,
    /// Jobs admitted since start.
    pub admitted: AtomicUsize,
    /// Jobs whose client left before they finished.
    pub abandoned: AtomicUsize,
}

/// A job in the batch.
struct Running {
    tag: u64,
    updates: mpsc::UnboundedSender<Update>,
    logprobs: bool,
    lanes_left: usize,
}

/// Runs until every sender of `jobs` is gone: admits jobs while at most `slots` lanes decode,
/// steps the batch, routes each lane's events to its job.
pub fn run(engine: &Engine, mut jobs: mpsc::Receiver<Job>, slots: usize, load: &Arc<Load>) {
    let mut batch = Batch::new(engine);
    let mut running: Vec<Running> = Vec::new();
    let mut waiting: Option<Job> = None;
    let mut next_tag = 0u64;
    loop {
        // Admit what fits. An empty batch waits for a job; a busy one only looks.
        loop {
            let job = match waiting.take() {
                Some(j) => j,
                None if batch.is_empty() => match jobs.blocking_recv() {
                    Some(j) => j,
                    None => return,
                },
                None => match jobs.try_recv() {
                    Ok(j) => j,
                    Err(_) => break,
                },
            };
            if job.updates.is_closed() {
                load.queued.fetch_sub(1, Ordering::SeqCst);
                load.abandoned.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            if !batch.is_empty() && (batch.len() + job.lanes.len() > slots || !batch.can_join()) {
                // Held here, it still counts as queued.
                waiting = Some(job);
                break;
            }
            load.queued.fetch_sub(1, Ordering::SeqCst);
            let tag = next_tag;
            next_tag += 1;
            match block_on(batch.admit(tag, &job.request, &job.lanes)) {
                Ok(()) => {
                    let prompt_tokens = batch.prompt_len(tag).unwrap_or(0);
                    load.admitted.fetch_add(1, Ordering::Relaxed);
                    let _ = job.updates.send(Update::Admitted { prompt_tokens });
                    running.push(Running {
                        tag,
                        updates: job.updates,
                        logprobs: job.logprobs,
                        lanes_left: job.lanes.len(),
                    });
                }
                Err(e) => {
                    let _ = job.updates.send(Update::Refused(e));
                }
            }
        }
        load.lanes.store(batch.len(), Ordering::Relaxed);
        if batch.is_empty() {
            continue;
        }
        let tok = engine.tokenizer();
        let stepped = block_on(batch.step(&mut |tag, lane, event| {
            let Some(job) = running.iter().find(|r| r.tag == tag) else {
                return ControlFlow::Break(());
            };
            let sent = match event {
                Event::Token { id, prob, top } if job.logprobs => job.updates.send(Update::Token {
                    lane,
                    text: tok.piece(id),
                    logprob: prob.max(f32::MIN_POSITIVE).ln(),
                    top: top
                        .into_iter()
                        .map(|(t, p)| (tok.piece(t), p.max(f32::MIN_POSITIVE).ln()))
                        .collect(),
                }),
                Event::Token { .. } | Event::Done { .. } => {
                    // Nothing to send, but a client that left still ends the lane.
                    if job.updates.is_closed() {
                        return ControlFlow::Break(());
                    }
                    Ok(())
                }
                Event::Text { text } => job.updates.send(Update::Text { lane, text }),
            };
            if sent.is_err() {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        }));
        match stepped {
            Ok(finished) => {
                for f in finished {
                    let Some(i) = running.iter().position(|r| r.tag == f.tag) else {
                        continue;
                    };
                    let job = &mut running[i];
                    let gone = job
                        .updates
                        .send(Update::Finished {
                            lane: f.lane,
                            generation: f.generation,
                        })
                        .is_err();
                    job.lanes_left = job.lanes_left.saturating_sub(1);
                    if gone && job.lanes_left == 0 {
                        load.abandoned.fetch_add(1, Ordering::Relaxed);
                    }
                    if job.lanes_left == 0 {
                        running.swap_remove(i);
                    }
                }
            }
            Err(e) => {
                for job in running.drain(..) {
                    let _ = job.updates.send(Update::Failed(e.to_string()));
                }
                batch = Batch::new(engine);
            }
        }
        load.lanes.store(batch.len(), Ordering::Relaxed);
    }
}
