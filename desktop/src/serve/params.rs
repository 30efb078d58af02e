//! The request fields OpenAI's completion and chat endpoints share, with kiln's extensions, turned
//! into a job through the engine's one request builder ([`RequestSettings`]): the same checks
//! and stop handling as `kiln generate` and the playground. The text is returned untouched (no
//! post-processing), as every OpenAI-compatible server does.

use kiln_engine::sampler::Rng;
use kiln_engine::{Prompt, RequestSettings, SamplingParams};
use serde::Deserialize;

use super::error::ApiError;

/// At most this many choices (`n`) per request.
pub const MAX_CHOICES: usize = 16;

/// The most alternatives `logprobs` / `top_logprobs` can ask for (what the engine reports).
pub const MAX_TOP: usize = 5;

/// A string or a list of strings (`stop`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    /// One.
    One(String),
    /// Several.
    Many(Vec<String>),
}

/// `stream_options`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct StreamOptions {
    /// Send a last chunk with the token counts.
    #[serde(default)]
    pub include_usage: bool,
}

/// Fields both endpoints take. Unknown fields are ignored, as OpenAI's clients send many.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Common {
    /// The model name (any value: the server holds one model).
    pub model: Option<String>,
    /// At most this many new tokens.
    pub max_tokens: Option<usize>,
    /// The chat endpoint's newer name for `max_tokens`.
    pub max_completion_tokens: Option<usize>,
    /// 0 = greedy; OpenAI's default is 1.
    pub temperature: Option<f32>,
    /// Nucleus mass (default 1: off).
    pub top_p: Option<f32>,
    /// Choices, decoded as lanes of one prefilled prompt.
    pub n: Option<usize>,
    /// Stream server-sent events.
    pub stream: bool,
    /// Streaming options.
    pub stream_options: Option<StreamOptions>,
    /// Stop strings (any number).
    pub stop: Option<OneOrMany>,
    /// Seed of the draw (default: a fresh random one).
    pub seed: Option<u64>,
    /// OpenAI's penalties.
    pub presence_penalty: Option<f32>,
    /// OpenAI's penalties.
    pub frequency_penalty: Option<f32>,
    /// Token biases: not supported (a non-empty map is refused).
    pub logit_bias: Option<serde_json::Map<String, serde_json::Value>>,
    /// kiln: keep the k most likely tokens (0 = off).
    pub top_k: Option<usize>,
    /// kiln: minimum probability relative to the best token (0 = off).
    pub min_p: Option<f32>,
    /// kiln: repetition penalty (1 = off).
    pub repeat_penalty: Option<f32>,
    /// kiln: tokens the penalties look back over.
    pub repeat_last_n: Option<usize>,
    /// kiln: end a choice once its text degenerates into repetition (`finish_reason` "stop").
    pub stop_on_repetition: bool,
    /// kiln (and llama-server): keep going past end-of-generation tokens (benchmarks).
    pub ignore_eos: bool,
}

impl Common {
    /// The sampling settings of choice 0 (its seed the request's).
    pub fn sampling(&self) -> Result<SamplingParams, ApiError> {
        if self.logit_bias.as_ref().is_some_and(|m| !m.is_empty()) {
            return Err(ApiError::param(
                "logit_bias",
                "logit_bias is not supported by kiln serve",
            ));
        }
        let seed = match self.seed {
            Some(s) => s,
            None => {
                let mut b = [0u8; 8];
                getrandom::fill(&mut b).map_err(|e| {
                    ApiError::new(
                        axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                        format!("no random seed: {e}"),
                    )
                })?;
                u64::from_le_bytes(b)
            }
        };
        let off = SamplingParams::greedy();
        Ok(SamplingParams {
            temperature: self.temperature.unwrap_or(1.0),
            top_p: self.top_p.unwrap_or(off.top_p),
            top_k: self.top_k.unwrap_or(off.top_k),
            min_p: self.min_p.unwrap_or(off.min_p),
            repeat_penalty: self.repeat_penalty.unwrap_or(1.0),
            repeat_last_n: self.repeat_last_n.unwrap_or(off.repeat_last_n),
            presence_penalty: self.presence_penalty.unwrap_or(0.0),
            frequency_penalty: self.frequency_penalty.unwrap_or(0.0),
            seed,
        })
    }

    /// Choices asked for, checked.
    pub fn choices(&self) -> Result<usize, ApiError> {
        match self.n.unwrap_or(1) {
            n @ 1..=MAX_CHOICES => Ok(n),
            n => Err(ApiError::param(
                "n",
                format!("n is {n}; kiln serve gives 1 to {MAX_CHOICES} choices per request"),
            )),
        }
    }

    /// The stop strings as given.
    pub fn stops(&self) -> Vec<String> {
        match &self.stop {
            None => Vec::new(),
            Some(OneOrMany::One(s)) => vec![s.clone()],
            Some(OneOrMany::Many(v)) => v.clone(),
        }
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect()
    }

    /// Whether the stream ends with a usage chunk.
    pub fn include_usage(&self) -> bool {
        self.stream_options
            .as_ref()
            .is_some_and(|o| o.include_usage)
    }

    /// The job's request and its lanes: `prompt` with these settings, `max_tokens` when the
    /// request gives none; choice 0 has the request's seed, choice `i` one derived from it.
    pub fn job(
        &self,
        prompt: Prompt,
        default_max_tokens: usize,
    ) -> Result<(kiln_engine::GenerateRequest, Vec<SamplingParams>), ApiError> {
        let sampling = self.sampling()?;
        let n = self.choices()?;
        let max_tokens = self
            .max_completion_tokens
            .or(self.max_tokens)
            .unwrap_or(default_max_tokens);
        let settings = RequestSettings {
            sampling: sampling.clone(),
            max_tokens,
            stop: self.stops(),
            raw: true,
            allow_repetition: !self.stop_on_repetition,
            ..RequestSettings::default()
        };
        let mut request = settings
            .request_with(prompt)
            .map_err(|e| ApiError::from_engine(&e))?;
        request.ignore_eos = self.ignore_eos;
        let lanes = (0..n)
            .map(|i| SamplingParams {
                seed: if i == 0 {
                    sampling.seed
                } else {
                    Rng::for_lane(sampling.seed, i as u64).next_u64()
                },
                ..sampling.clone()
            })
            .collect();
        Ok((request, lanes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn common(json: &str) -> Common {
        serde_json::from_str(json).expect("json")
    }

    #[test]
    fn openai_defaults_and_kiln_extensions() {
        let c = common(r#"{"seed": 5, "stop": "\n", "n": 3, "top_k": 40, "user": "x"}"#);
        let (req, lanes) = c.job(Prompt::Raw("a".into()), 16).expect("job");
        assert_eq!(req.max_tokens, 16);
        assert_eq!(req.stop, ["\n"]);
        assert!(!req.stop_on_repetition);
        assert_eq!(lanes.len(), 3);
        assert_eq!((lanes[0].temperature, lanes[0].top_p), (1.0, 1.0));
        assert_eq!((lanes[0].top_k, lanes[0].seed), (40, 5));
        assert_ne!(lanes[1].seed, lanes[2].seed);
        let c = common(r#"{"max_tokens": 4, "max_completion_tokens": 9, "stop": ["a", "", "b"]}"#);
        assert_eq!(c.stops(), ["a", "b"]);
        let (req, _) = c.job(Prompt::Raw("a".into()), 16).expect("job");
        assert_eq!(req.max_tokens, 9);
    }

    #[test]
    fn bad_values_name_their_parameter() {
        let param = |json: &str| {
            common(json)
                .job(Prompt::Raw("a".into()), 16)
                .err()
                .and_then(|e| e.param)
        };
        assert_eq!(
            param(r#"{"temperature": -1}"#).as_deref(),
            Some("temperature")
        );
        assert_eq!(param(r#"{"top_p": 2}"#).as_deref(), Some("top_p"));
        assert_eq!(param(r#"{"n": 0}"#).as_deref(), Some("n"));
        assert_eq!(param(r#"{"n": 17}"#).as_deref(), Some("n"));
        assert_eq!(param(r#"{"max_tokens": 0}"#).as_deref(), Some("max_tokens"));
        assert_eq!(
            param(r#"{"logit_bias": {"1": 5}}"#).as_deref(),
            Some("logit_bias")
        );
        assert_eq!(param(r#"{"logit_bias": {}}"#), None);
    }
}
