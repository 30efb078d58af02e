//! `POST /v1/chat/completions`: a conversation rendered with the model's own chat template;
//! chat-shaped `logprobs` (`content[]` with `bytes` and `top_logprobs`).

use axum::extract::State;
use axum::response::Response;
use kiln_engine::{Message, Prompt};
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::ApiError;
use super::extract::ApiJson;
use super::jobs::{AppState, Choice, Shape, TokenLogprob, answer};
use super::params::MAX_TOP;

/// A message's content: text, or a list of parts of which only text is understood.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Content {
    /// Plain text.
    Text(String),
    /// Parts (`{"type": "text", "text": …}`).
    Parts(Vec<Part>),
}

/// One content part.
#[derive(Debug, Clone, Deserialize)]
pub struct Part {
    /// "text" (other kinds are refused).
    #[serde(rename = "type")]
    pub kind: String,
    /// The text of a text part.
    #[serde(default)]
    pub text: Option<String>,
}

/// One turn.
#[derive(Debug, Clone, Deserialize)]
pub struct ChatMessage {
    /// system, developer, user or assistant.
    pub role: String,
    /// What was said (absent or null for an empty turn).
    #[serde(default)]
    pub content: Option<Content>,
}

/// The request body.
#[derive(Debug, Clone, Deserialize)]
pub struct ChatRequest {
    /// The conversation.
    pub messages: Vec<ChatMessage>,
    /// Report each token's logprob.
    #[serde(default)]
    pub logprobs: bool,
    /// Alternatives per token (0 to 5).
    #[serde(default)]
    pub top_logprobs: Option<usize>,
    /// Tools: not supported (a non-empty list is refused).
    #[serde(default)]
    pub tools: Option<Vec<Value>>,
}

/// The handler.
pub async fn chat_completions(
    State(state): State<AppState>,
    ApiJson(req, common): ApiJson<ChatRequest>,
) -> Result<Response, ApiError> {
    if !state.model.chat {
        return Err(ApiError::param(
            "messages",
            format!(
                "{} has no chat template; use /v1/completions with a raw prompt",
                state.model.id
            ),
        ));
    }
    if req.tools.as_ref().is_some_and(|t| !t.is_empty()) {
        return Err(ApiError::param(
            "tools",
            "tools are not supported by kiln serve",
        ));
    }
    let top = req.top_logprobs.unwrap_or(0);
    if top > MAX_TOP {
        return Err(ApiError::param(
            "top_logprobs",
            format!("top_logprobs is {top}; at most {MAX_TOP} alternatives are reported"),
        ));
    }
    if req.top_logprobs.is_some() && !req.logprobs {
        return Err(ApiError::param(
            "top_logprobs",
            "top_logprobs needs logprobs: true",
        ));
    }
    let messages = messages(req.messages)?;
    let n_ctx = state.model.n_ctx;
    let job = common.job(Prompt::Chat(messages), n_ctx)?;
    answer(
        state,
        job,
        req.logprobs,
        common.stream,
        common.include_usage(),
        ChatShape { top },
    )
    .await
}

fn messages(turns: Vec<ChatMessage>) -> Result<Vec<Message>, ApiError> {
    if turns.is_empty() {
        return Err(ApiError::param("messages", "messages is empty"));
    }
    turns
        .into_iter()
        .enumerate()
        .map(|(i, m)| {
            let role = match m.role.as_str() {
                "system" | "developer" => "system",
                "user" => "user",
                "assistant" => "assistant",
                other => {
                    return Err(ApiError::param(
                        &format!("messages[{i}].role"),
                        format!("role {other:?} is not supported (system, user, assistant)"),
                    ));
                }
            };
            let content = match m.content {
                None => String::new(),
                Some(Content::Text(t)) => t,
                Some(Content::Parts(parts)) => {
                    let mut text = String::new();
                    for (j, p) in parts.into_iter().enumerate() {
                        match (p.kind.as_str(), p.text) {
                            ("text", Some(t)) => text.push_str(&t),
                            (kind, _) => {
                                return Err(ApiError::param(
                                    &format!("messages[{i}].content[{j}]"),
                                    format!("a {kind:?} part: only text parts are understood"),
                                ));
                            }
                        }
                    }
                    text
                }
            };
            Ok(Message {
                role: role.into(),
                content,
            })
        })
        .collect()
}

/// The chat shape.
struct ChatShape {
    top: usize,
}

impl ChatShape {
    fn logprobs(&self, lp: &[TokenLogprob]) -> Value {
        let entry = |text: &str, logprob: f32| json!({"token": text, "logprob": logprob, "bytes": text.as_bytes()});
        json!({
            "content": lp.iter().map(|t| {
                let mut e = entry(&t.text, t.logprob);
                e["top_logprobs"] = t.top.iter().take(self.top).map(|(s, l)| entry(s, *l)).collect();
                e
            }).collect::<Vec<_>>(),
        })
    }
}

impl Shape for ChatShape {
    fn objects(&self) -> (&'static str, &'static str) {
        ("chat.completion", "chat.completion.chunk")
    }

    fn choice(&self, index: usize, c: &Choice) -> Value {
        json!({
            "index": index,
            "message": {"role": "assistant", "content": c.generation.text},
            "logprobs": if c.logprobs.is_empty() { Value::Null } else { self.logprobs(&c.logprobs) },
            "finish_reason": c.finish_reason(),
        })
    }

    fn delta(&self, index: usize, text: &str, lp: &[TokenLogprob], finish: Option<&str>) -> Value {
        let delta = if finish.is_some() && text.is_empty() {
            json!({})
        } else {
            json!({"content": text})
        };
        json!({
            "index": index,
            "delta": delta,
            "logprobs": if lp.is_empty() { Value::Null } else { self.logprobs(lp) },
            "finish_reason": finish,
        })
    }

    fn opening(&self, index: usize) -> Option<Value> {
        Some(json!({
            "index": index,
            "delta": {"role": "assistant", "content": ""},
            "logprobs": null,
            "finish_reason": null,
        }))
    }
}
