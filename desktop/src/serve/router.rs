//! The routes, in one function: OpenAI's endpoints, kiln's status, a health check, and the
//! guard (Host, Origin, key) and the body limit around all of them.

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router, middleware};
use serde_json::json;

use super::error::ApiError;
use super::guard::{Guard, guard};
use super::jobs::AppState;
use super::{chat, completions, lab, models};

/// The application.
pub fn router(state: AppState, rules: Arc<Guard>, max_body: usize) -> Router {
    Router::new()
        .route("/v1/models", get(models::models))
        .route("/v1/completions", post(completions::completions))
        .route("/v1/chat/completions", post(chat::chat_completions))
        .route("/kiln/v1/status", get(models::status))
        .route("/kiln/v1/lab", post(lab::lab))
        .route("/health", get(|| async { Json(json!({"status": "ok"})) }))
        .fallback(|| async {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "no such endpoint: kiln serve has /v1/models, /v1/completions, \
                 /v1/chat/completions, /kiln/v1/lab, /kiln/v1/status and /health",
            )
        })
        .with_state(state)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(middleware::from_fn_with_state(rules, guard))
}
