//! `POST /kiln/v1/lab`: the temperature lab as a request — one prompt at several temperatures,
//! `k` samples each, decoded as lanes of one prefill alongside the server's other requests; every
//! sample post-processed (syntax check, structure) and the whole run answered as the record
//! `kiln lab --json` writes (request, lanes, reports, outcomes, one summary row per temperature).
//!
//! Tests are not run here: running code that a request supplies would make the API a remote
//! code runner. `kiln lab --endpoint` runs them on the client, against this server's lanes.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use kiln_engine::lab::{
    LabRecord, LabRequest, LabRun, LaneResult, RecordMeta, isolated_sampling, post_process,
    published_sampling,
};
use kiln_engine::post::Language;
use kiln_engine::{RequestSettings, unescape};
use serde::Deserialize;
use serde_json::Value;

use super::error::ApiError;
use super::extract::ApiJson;
use super::jobs::{AppState, collect, submit};

/// The request body (the fields of `kiln lab`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct LabBody {
    /// The prompt.
    pub prompt: String,
    /// Render it as a user turn with the model's chat template.
    pub chat: bool,
    /// The expected code's language (`python`, `rust`, …).
    pub language: Option<String>,
    /// Temperatures compared.
    pub temperatures: Vec<f32>,
    /// Samples per temperature.
    pub k: usize,
    /// New tokens per sample.
    pub max_tokens: usize,
    /// Base seed.
    pub seed: u64,
    /// `isolated` (temperature alone) or `published` (top-p 0.95).
    pub preset: String,
    /// Stop strings (`\n`, `\t`, `\r`, `\\` unescaped, as the CLI does).
    pub stop: Vec<String>,
}

impl Default for LabBody {
    fn default() -> Self {
        LabBody {
            prompt: String::new(),
            chat: false,
            language: None,
            temperatures: vec![0.0, 0.3, 0.7, 1.0, 1.5],
            k: 5,
            max_tokens: 256,
            seed: 0,
            preset: "isolated".into(),
            stop: Vec::new(),
        }
    }
}

/// The handler.
pub async fn lab(
    State(state): State<AppState>,
    ApiJson(body, _): ApiJson<LabBody>,
) -> Result<Json<Value>, ApiError> {
    let sampling = match body.preset.as_str() {
        "isolated" => isolated_sampling(body.seed),
        "published" => published_sampling(body.seed),
        other => {
            return Err(ApiError::param(
                "preset",
                format!("preset {other:?}: isolated or published"),
            ));
        }
    };
    if body.chat && !state.model.chat {
        return Err(ApiError::param(
            "chat",
            format!("{} has no chat template", state.model.id),
        ));
    }
    let settings = RequestSettings {
        prompt: body.prompt,
        chat: body.chat,
        language: body.language.as_deref().map(Language::from_tag),
        sampling,
        max_tokens: body.max_tokens,
        stop: body.stop.iter().map(|s| unescape(s)).collect(),
        ..RequestSettings::default()
    };
    let req = LabRequest::new(&settings, body.temperatures, body.k)
        .map_err(|e| ApiError::from_engine(&e))?;
    let lanes = req.lanes();
    let n = lanes.len();
    let t0 = std::time::Instant::now();
    let (_, rx) = submit(&state, req.request.clone(), lanes.clone(), true).await?;
    let choices = collect(rx, n).await?;
    let wall_ms = t0.elapsed().as_secs_f64() * 1000.0;
    let k = req.samples;
    let run = LabRun {
        lanes: choices
            .into_iter()
            .zip(&lanes)
            .enumerate()
            .map(|(i, (c, sampling))| LaneResult {
                temperature_index: i / k,
                temperature: sampling.temperature,
                sample: i % k,
                seed: sampling.seed,
                pieces: c.logprobs.into_iter().map(|t| t.text).collect(),
                generation: c.generation,
            })
            .collect(),
        request: req,
        wall_ms,
    };
    let post = settings.post_options().unwrap_or_default();
    let meta = RecordMeta {
        engine_version: env!("CARGO_PKG_VERSION").into(),
        model_sha256: vec![(state.model.id.clone(), String::new())],
        device: state.model.engine.clone(),
        kernels: state.model.engine.clone(),
    };
    // Parsing and formatting every sample is CPU work: off the async thread.
    let record = tokio::task::spawn_blocking(move || {
        let reports: Vec<_> = run.lanes.iter().map(|l| post_process(l, &post)).collect();
        LabRecord::new(meta, run, &reports, false, None)
    })
    .await
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    serde_json::to_value(record)
        .map(Json)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
}
