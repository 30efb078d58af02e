//! `POST /v1/completions`: OpenAI's legacy completion endpoint, the one editors' code completion
//! speaks — a raw prompt (text or token ids), `suffix` for fill-in-the-middle in the model's own
//! FIM tokens, legacy-shaped `logprobs`.

use axum::extract::State;
use axum::response::Response;
use kiln_engine::Prompt;
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::ApiError;
use super::extract::ApiJson;
use super::jobs::{AppState, Choice, Shape, TokenLogprob, answer};
use super::params::MAX_TOP;

/// The prompt: text, or token ids; a list of one of either.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum PromptField {
    /// Text.
    Text(String),
    /// Several texts (only one is served per request).
    Texts(Vec<String>),
    /// Token ids.
    Tokens(Vec<u32>),
    /// Several token lists (only one is served per request).
    TokenLists(Vec<Vec<u32>>),
}

/// The request body.
#[derive(Debug, Clone, Deserialize)]
pub struct CompletionRequest {
    /// What to continue.
    pub prompt: PromptField,
    /// Text after the gap: the model fills the middle (needs FIM tokens).
    #[serde(default)]
    pub suffix: Option<String>,
    /// Alternatives per token to report (0 to 5); absent = no logprobs.
    #[serde(default)]
    pub logprobs: Option<usize>,
    /// Echo the prompt (not supported).
    #[serde(default)]
    pub echo: bool,
    /// Candidates to choose among (only `best_of` = `n` is supported).
    #[serde(default)]
    pub best_of: Option<usize>,
}

/// OpenAI's completions default.
const DEFAULT_MAX_TOKENS: usize = 16;

/// The handler.
pub async fn completions(
    State(state): State<AppState>,
    ApiJson(req, common): ApiJson<CompletionRequest>,
) -> Result<Response, ApiError> {
    if req.echo {
        return Err(ApiError::param(
            "echo",
            "echo is not supported by kiln serve",
        ));
    }
    let n = common.choices()?;
    if req.best_of.is_some_and(|b| b != n) {
        return Err(ApiError::param(
            "best_of",
            "best_of must equal n (kiln serve returns every choice it samples)",
        ));
    }
    let top = match req.logprobs {
        Some(k) if k > MAX_TOP => {
            return Err(ApiError::param(
                "logprobs",
                format!("logprobs is {k}; at most {MAX_TOP} alternatives are reported"),
            ));
        }
        other => other,
    };
    let prompt = prompt(&state, req.prompt, req.suffix.as_deref())?;
    let job = common.job(prompt, DEFAULT_MAX_TOKENS)?;
    answer(
        state,
        job,
        top.is_some(),
        common.stream,
        common.include_usage(),
        Legacy {
            top: top.unwrap_or(0),
        },
    )
    .await
}

fn prompt(state: &AppState, p: PromptField, suffix: Option<&str>) -> Result<Prompt, ApiError> {
    let one = |n: usize| {
        ApiError::param(
            "prompt",
            format!("{n} prompts in one request; kiln serve takes one per request"),
        )
    };
    let prompt = match p {
        PromptField::Text(t) => Prompt::Raw(t),
        PromptField::Texts(mut v) if v.len() == 1 => Prompt::Raw(v.remove(0)),
        PromptField::Texts(v) => return Err(one(v.len())),
        PromptField::Tokens(ids) => Prompt::Tokens(ids),
        PromptField::TokenLists(mut v) if v.len() == 1 => Prompt::Tokens(v.remove(0)),
        PromptField::TokenLists(v) => return Err(one(v.len())),
    };
    let Some(suffix) = suffix.filter(|s| !s.is_empty()) else {
        return Ok(prompt);
    };
    let Prompt::Raw(prefix) = prompt else {
        return Err(ApiError::param(
            "suffix",
            "suffix needs a text prompt, not token ids",
        ));
    };
    let Some(fim) = state.model.fim else {
        return Err(ApiError::param(
            "suffix",
            format!(
                "{} has no fill-in-the-middle tokens, so it cannot complete between a prefix \
                 and a suffix; send the prompt without suffix, or serve a model that has them \
                 (Qwen2.5-Coder, StarCoder2, DeepSeek-Coder)",
                state.model.id
            ),
        ));
    };
    Ok(Prompt::Raw(kiln_engine::fim_text(fim, &prefix, suffix)))
}

/// The legacy completion shape.
struct Legacy {
    top: usize,
}

impl Legacy {
    fn logprobs(&self, lp: &[TokenLogprob], offset: usize) -> Value {
        let mut at = offset;
        let offsets: Vec<usize> = lp
            .iter()
            .map(|t| {
                let o = at;
                at += t.text.chars().count();
                o
            })
            .collect();
        json!({
            "tokens": lp.iter().map(|t| t.text.clone()).collect::<Vec<_>>(),
            "token_logprobs": lp.iter().map(|t| t.logprob).collect::<Vec<_>>(),
            "top_logprobs": lp.iter().map(|t| {
                t.top.iter().take(self.top).map(|(s, l)| (s.clone(), json!(l))).collect::<serde_json::Map<_, _>>()
            }).collect::<Vec<_>>(),
            "text_offset": offsets,
        })
    }
}

impl Shape for Legacy {
    fn objects(&self) -> (&'static str, &'static str) {
        ("text_completion", "text_completion")
    }

    fn choice(&self, index: usize, c: &Choice) -> Value {
        json!({
            "index": index,
            "text": c.generation.text,
            "logprobs": if c.logprobs.is_empty() { Value::Null } else { self.logprobs(&c.logprobs, 0) },
            "finish_reason": c.finish_reason(),
        })
    }

    fn delta(&self, index: usize, text: &str, lp: &[TokenLogprob], finish: Option<&str>) -> Value {
        json!({
            "index": index,
            "text": text,
            "logprobs": if lp.is_empty() { Value::Null } else { self.logprobs(lp, 0) },
            "finish_reason": finish,
        })
    }
}
