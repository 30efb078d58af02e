//! `GET /v1/models` (the one model served, with its context length) and kiln's
//! `GET /kiln/v1/status` (queue and lanes, for people and load tests).

use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use super::jobs::AppState;

/// The model list.
pub async fn models(State(state): State<AppState>) -> Json<Value> {
    let m = &state.model;
    Json(json!({
        "object": "list",
        "data": [{
            "id": m.id,
            "object": "model",
            "created": m.created,
            "owned_by": "kiln",
            "context_length": m.n_ctx,
            "meta": {
                "n_ctx": m.n_ctx,
                "chat_template": m.chat,
                "fill_in_the_middle": m.fim.is_some(),
                "engine": m.engine,
            },
        }],
    }))
}

/// What the engine is doing.
pub async fn status(State(state): State<AppState>) -> Json<Value> {
    let l = &state.load;
    Json(json!({
        "model": state.model.id,
        "engine": state.model.engine,
        "slots": state.model.slots,
        "queue_limit": state.model.queue,
        "queued": l.queued.load(Ordering::Relaxed),
        "lanes": l.lanes.load(Ordering::Relaxed),
        "admitted": l.admitted.load(Ordering::Relaxed),
        "abandoned": l.abandoned.load(Ordering::Relaxed),
    }))
}
