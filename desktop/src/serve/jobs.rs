//! A handler's side of a job: queue it (429 when the queue is full), wait for the engine to admit
//! it, then either collect every choice or stream them as server-sent events. The two endpoints
//! differ only in the JSON they wrap choices in ([`Shape`]).

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::StatusCode;
use axum::response::sse::{Event as SseEvent, Sse};
use axum::response::{IntoResponse, Response};
use kiln_engine::{Finish, GenerateRequest, Generation, SamplingParams};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::error::ApiError;
use super::scheduler::{Job, Load, Update};

/// What every handler shares: the queue to the engine thread and what is served.
#[derive(Clone)]
pub struct AppState {
    /// The bounded job queue.
    pub jobs: mpsc::Sender<Job>,
    /// The engine thread's counters.
    pub load: Arc<Load>,
    /// The model served.
    pub model: Arc<Served>,
}

/// The model being served, as `/v1/models` and the handlers need it.
#[derive(Debug, Clone)]
pub struct Served {
    /// Its name (the file's stem unless `--alias`).
    pub id: String,
    /// The usable context, in tokens.
    pub n_ctx: usize,
    /// Its FIM token texts (prefix, suffix, middle), if it has them.
    pub fim: Option<[&'static str; 3]>,
    /// Whether it has a chat template.
    pub chat: bool,
    /// Where it runs, in words.
    pub engine: String,
    /// Start time (Unix seconds): the model's `created`.
    pub created: u64,
    /// Most lanes decoding at once.
    pub slots: usize,
    /// Most jobs waiting.
    pub queue: usize,
}

/// One generated token with its log-probability and the alternatives.
#[derive(Debug, Clone, Default)]
pub struct TokenLogprob {
    /// Its text.
    pub text: String,
    /// Natural-log probability.
    pub logprob: f32,
    /// The most likely tokens at its step.
    pub top: Vec<(String, f32)>,
}

impl TokenLogprob {
    /// Adds a token of lane `lane` to that lane's list (a lane out of range is ignored).
    fn keep(
        store: &mut [Vec<Self>],
        lane: usize,
        text: String,
        logprob: f32,
        top: Vec<(String, f32)>,
    ) {
        if let Some(l) = store.get_mut(lane) {
            l.push(TokenLogprob { text, logprob, top });
        }
    }
}

/// A finished choice.
#[derive(Debug, Clone)]
pub struct Choice {
    /// What the lane produced: text, tokens, probabilities, how it ended.
    pub generation: Generation,
    /// Per token, when logprobs were asked for.
    pub logprobs: Vec<TokenLogprob>,
}

impl Choice {
    /// OpenAI's `finish_reason`.
    pub fn finish_reason(&self) -> &'static str {
        finish_reason(self.generation.finish)
    }
}

/// How an endpoint wraps its choices.
pub trait Shape: Send + 'static {
    /// `object` of a non-streamed answer and of each chunk.
    fn objects(&self) -> (&'static str, &'static str);
    /// The JSON of a whole choice (non-streamed).
    fn choice(&self, index: usize, c: &Choice) -> Value;
    /// The JSON of one streamed piece of a choice: new `text` with its tokens' logprobs, and on
    /// the last piece the finish reason.
    fn delta(&self, index: usize, text: &str, lp: &[TokenLogprob], finish: Option<&str>) -> Value;
    /// A first chunk per choice, before any text (chat's role).
    fn opening(&self, _index: usize) -> Option<Value> {
        None
    }
}

/// OpenAI's `finish_reason` for how a lane ended.
pub fn finish_reason(f: Finish) -> &'static str {
    match f {
        Finish::MaxTokens | Finish::ContextFull => "length",
        Finish::Eos | Finish::Stop | Finish::Repetition | Finish::Cancelled => "stop",
    }
}

/// Seconds since the Unix epoch (`created`).
pub(super) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `bytes` random bytes from the operating system, as hex (ids and API keys).
pub(super) fn random_hex(bytes: usize) -> Result<String, getrandom::Error> {
    let mut b = vec![0u8; bytes];
    getrandom::fill(&mut b)?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

fn response_id(prefix: &str) -> String {
    format!("{prefix}-{}", random_hex(12).unwrap_or_default())
}

/// Queues a job and waits until the engine has admitted it; the receiver then brings its text.
pub async fn submit(
    state: &AppState,
    request: GenerateRequest,
    lanes: Vec<SamplingParams>,
    logprobs: bool,
) -> Result<(usize, mpsc::UnboundedReceiver<Update>), ApiError> {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let job = Job {
        request,
        lanes,
        logprobs,
        updates: tx,
    };
    // The queue is counted, not the channel's slots: a job the engine thread holds while it
    // waits for free lanes is still waiting, so that at most `--queue` requests ever wait.
    let full = || ApiError {
        retry_after: Some(1),
        ..ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "{} requests are already waiting; retry shortly (--queue sets the limit)",
                state.model.queue
            ),
        )
    };
    if state.load.queued.fetch_add(1, Ordering::SeqCst) >= state.model.queue {
        state.load.queued.fetch_sub(1, Ordering::SeqCst);
        return Err(full());
    }
    if let Err(e) = state.jobs.try_send(job) {
        state.load.queued.fetch_sub(1, Ordering::SeqCst);
        return Err(match e {
            mpsc::error::TrySendError::Full(_) => full(),
            mpsc::error::TrySendError::Closed(_) => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "the engine has stopped")
            }
        });
    }
    match rx.recv().await {
        Some(Update::Admitted { prompt_tokens }) => Ok((prompt_tokens, rx)),
        Some(Update::Refused(e)) => Err(ApiError::from_engine(&e)),
        Some(Update::Failed(m)) => Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, m)),
        Some(_) | None => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the engine stopped before taking the request",
        )),
    }
}

/// Runs a job and answers with every choice at once, or as a stream when `stream`.
pub async fn answer(
    state: AppState,
    (request, lanes): (GenerateRequest, Vec<SamplingParams>),
    logprobs: bool,
    stream: bool,
    include_usage: bool,
    shape: impl Shape,
) -> Result<Response, ApiError> {
    let n = lanes.len();
    let (prompt_tokens, rx) = submit(&state, request, lanes, logprobs).await?;
    let id = response_id(if shape.objects().0 == "chat.completion" {
        "chatcmpl"
    } else {
        "cmpl"
    });
    let head = Head {
        id,
        created: now(),
        model: state.model.id.clone(),
    };
    if stream {
        let (tx, events) = mpsc::channel::<SseEvent>(64);
        tokio::spawn(relay(rx, tx, n, prompt_tokens, include_usage, head, shape));
        let body = futures_lite::stream::unfold(events, |mut events| async move {
            let e = events.recv().await?;
            Some((Ok::<_, Infallible>(e), events))
        });
        return Ok(Sse::new(body).into_response());
    }
    let choices = collect(rx, n).await?;
    let completion: usize = choices.iter().map(|c| c.generation.tokens.len()).sum();
    let (object, _) = shape.objects();
    Ok(axum::Json(json!({
        "id": head.id,
        "object": object,
        "created": head.created,
        "model": head.model,
        "choices": choices.iter().enumerate().map(|(i, c)| shape.choice(i, c)).collect::<Vec<_>>(),
        "usage": usage(prompt_tokens, completion),
    }))
    .into_response())
}

struct Head {
    id: String,
    created: u64,
    model: String,
}

fn usage(prompt: usize, completion: usize) -> Value {
    json!({
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    })
}

/// Waits for all `n` choices.
pub async fn collect(
    mut rx: mpsc::UnboundedReceiver<Update>,
    n: usize,
) -> Result<Vec<Choice>, ApiError> {
    let mut logprobs: Vec<Vec<TokenLogprob>> = vec![Vec::new(); n];
    let mut done: Vec<Option<Choice>> = vec![None; n];
    while done.iter().any(Option::is_none) {
        match rx.recv().await {
            Some(Update::Token {
                lane,
                text,
                logprob,
                top,
            }) => TokenLogprob::keep(&mut logprobs, lane, text, logprob, top),
            Some(Update::Finished { lane, generation }) => {
                if let Some(slot) = done.get_mut(lane) {
                    *slot = Some(Choice {
                        generation,
                        logprobs: std::mem::take(&mut logprobs[lane]),
                    });
                }
            }
            Some(Update::Failed(m)) => {
                return Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, m));
            }
            Some(_) => {}
            None => {
                return Err(ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the engine stopped mid-request",
                ));
            }
        }
    }
    Ok(done.into_iter().flatten().collect())
}

/// Turns a job's updates into chunks: text as it comes (with the logprobs of the tokens it
/// holds), a last chunk per choice with its finish reason, the usage chunk when asked, `[DONE]`.
/// Ends as soon as the client is gone (its event channel closed), which drops the job.
async fn relay(
    mut rx: mpsc::UnboundedReceiver<Update>,
    tx: mpsc::Sender<SseEvent>,
    n: usize,
    prompt_tokens: usize,
    include_usage: bool,
    head: Head,
    shape: impl Shape,
) {
    let (_, chunk_object) = shape.objects();
    let wrap = |choices: Vec<Value>, usage_value: Option<Value>| {
        let mut v = json!({
            "id": head.id,
            "object": chunk_object,
            "created": head.created,
            "model": head.model,
            "choices": choices,
        });
        if include_usage {
            v["usage"] = usage_value.unwrap_or(Value::Null);
        }
        SseEvent::default().data(v.to_string())
    };
    for i in 0..n {
        if let Some(open) = shape.opening(i)
            && tx.send(wrap(vec![open], None)).await.is_err()
        {
            return;
        }
    }
    let mut pending: Vec<Vec<TokenLogprob>> = vec![Vec::new(); n];
    let (mut left, mut completion) = (n, 0usize);
    while left > 0 {
        let chunk = match rx.recv().await {
            Some(Update::Token {
                lane,
                text,
                logprob,
                top,
            }) => {
                TokenLogprob::keep(&mut pending, lane, text, logprob, top);
                continue;
            }
            Some(Update::Text { lane, text }) if lane < n => {
                let lp = std::mem::take(&mut pending[lane]);
                shape.delta(lane, &text, &lp, None)
            }
            Some(Update::Finished { lane, generation }) if lane < n => {
                left -= 1;
                completion += generation.tokens.len();
                let lp = std::mem::take(&mut pending[lane]);
                shape.delta(lane, "", &lp, Some(finish_reason(generation.finish)))
            }
            Some(Update::Failed(m)) => {
                let err = json!({"error": {"message": m, "type": "server_error"}});
                let _ = tx.send(SseEvent::default().data(err.to_string())).await;
                return;
            }
            Some(_) => continue,
            None => return,
        };
        if tx.send(wrap(vec![chunk], None)).await.is_err() {
            return;
        }
    }
    if include_usage
        && tx
            .send(wrap(Vec::new(), Some(usage(prompt_tokens, completion))))
            .await
            .is_err()
    {
        return;
    }
    let _ = tx.send(SseEvent::default().data("[DONE]")).await;
}
