//! The server's one error type, rendered as OpenAI's error body:
//! `{"error": {"message", "type", "param", "code"}}` with the matching status.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// What went wrong with a request, and the status it gets.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// What to fix, in words.
    pub message: String,
    /// The request parameter at fault, when there is one.
    pub param: Option<String>,
    /// Seconds a client should wait before retrying (429).
    pub retry_after: Option<u32>,
}

impl ApiError {
    /// An error with `status` and `message`.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            param: None,
            retry_after: None,
        }
    }

    /// 400 naming the parameter at fault.
    pub fn param(param: &str, message: impl Into<String>) -> Self {
        Self {
            param: Some(param.to_string()),
            ..Self::new(StatusCode::BAD_REQUEST, message)
        }
    }

    /// 400 for a request the engine refused (a bad parameter, a prompt beyond the context).
    pub fn from_engine(e: &kiln_engine::Error) -> Self {
        match e {
            kiln_engine::Error::Param { name, .. } => Self::param(name, e.to_string()),
            kiln_engine::Error::PromptTooLong { len, max } => Self::param(
                "prompt",
                format!(
                    "the prompt is {len} tokens; this model's context holds {max} (prompt and \
                     completion together): shorten the prompt, or start the server with a \
                     larger --ctx-size if the model allows it"
                ),
            ),
            kiln_engine::Error::EmptyPrompt | kiln_engine::Error::ChatTemplate(_) => {
                Self::param("prompt", e.to_string())
            }
            kiln_engine::Error::Tokenizer { .. } => Self::param("prompt", e.to_string()),
            _ => Self::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        }
    }

    fn kind(&self) -> &'static str {
        match self.status {
            StatusCode::UNAUTHORIZED => "authentication_error",
            StatusCode::FORBIDDEN => "permission_error",
            StatusCode::NOT_FOUND => "not_found_error",
            StatusCode::PAYLOAD_TOO_LARGE => "request_too_large",
            StatusCode::TOO_MANY_REQUESTS => "rate_limit_error",
            s if s.is_server_error() => "server_error",
            _ => "invalid_request_error",
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({
            "error": {
                "message": self.message,
                "type": self.kind(),
                "param": self.param,
                "code": self.status.as_u16(),
            }
        });
        let mut r = (self.status, Json(body)).into_response();
        if let Some(s) = self.retry_after {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        r
    }
}
