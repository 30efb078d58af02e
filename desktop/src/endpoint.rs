//! `--endpoint URL`: a lab run decoded by any OpenAI-compatible server (kiln serve,
//! llama-server, vLLM) while post-processing, the sandbox and scoring stay local — the way a
//! user outgrows one machine. Each temperature is one request with `n` = k choices (the server
//! decodes them as it likes: kiln serve as lanes of one prefill), every truncation stage the lab
//! turns off sent off explicitly (`top_p` 1, `top_k` 0, `min_p` 0), and per-token logprobs asked
//! for so that the lab's token metrics have tokens to count.
//!
//! What a server does not say is not made up: token ids are the token texts numbered in order of
//! appearance within the run (the same text, the same number), entropies are absent, and the
//! lane seeds are the server's (choice 0 is sent the lab's lane seed).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use axum::body::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper_util::rt::TokioIo;
use kiln_engine::lab::{LabRequest, LabRun, LaneResult, RecordMeta, lane_seed};
use kiln_engine::{Finish, Generation, Prompt, Timings};
use serde_json::{Value, json};

/// How long one request may take (k long samples on a slow server).
const REQUEST_TIME: Duration = Duration::from_secs(1800);

/// A server to decode on.
pub struct Endpoint {
    host: String,
    port: u16,
    /// The URL's path, e.g. `/v1`.
    base: String,
    key: Option<String>,
    /// The model's name on the server.
    pub model: String,
    rt: tokio::runtime::Runtime,
}

impl Endpoint {
    /// Connects to `url` (`http://HOST:PORT/v1`), and learns the model's name from `/models`
    /// unless `model` names it.
    pub fn connect(url: &str, key: Option<String>, model: Option<String>) -> Result<Self> {
        let Some(rest) = url.strip_prefix("http://") else {
            bail!(
                "--endpoint {url}: only http:// URLs are supported (for https, reach the server \
                 through a local tunnel or proxy)"
            );
        };
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) => (
                h.to_string(),
                p.parse()
                    .with_context(|| format!("--endpoint {url}: bad port {p:?}"))?,
            ),
            None => (authority.to_string(), 80),
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the async runtime")?;
        let mut e = Endpoint {
            host,
            port,
            base: format!("/{}", path.trim_end_matches('/')).replace("//", "/"),
            key,
            model: model.unwrap_or_default(),
            rt,
        };
        if e.model.is_empty() {
            let models = e.call("GET", "/models", None)?;
            e.model = models["data"][0]["id"]
                .as_str()
                .with_context(|| format!("{url}/models lists no model: {models}"))?
                .to_string();
        }
        Ok(e)
    }

    /// The run's meta: the server and model in place of file hashes.
    pub fn meta(&self) -> RecordMeta {
        RecordMeta {
            engine_version: env!("CARGO_PKG_VERSION").into(),
            model_sha256: vec![(format!("endpoint model {}", self.model), String::new())],
            device: format!("endpoint http://{}:{}{}", self.host, self.port, self.base),
            kernels: "decided by the server".into(),
        }
    }

    /// Sends a request; the JSON answer, or an error with the server's message.
    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value> {
        let uri = format!("{}{path}", self.base);
        let fut = async {
            let stream = tokio::net::TcpStream::connect((self.host.as_str(), self.port))
                .await
                .with_context(|| format!("cannot connect to {}:{}", self.host, self.port))?;
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .context("HTTP handshake")?;
            tokio::spawn(conn);
            let mut req = Request::builder()
                .method(method)
                .uri(&uri)
                .header(HOST, format!("{}:{}", self.host, self.port))
                .header(CONTENT_TYPE, "application/json");
            if let Some(k) = &self.key {
                req = req.header(AUTHORIZATION, format!("Bearer {k}"));
            }
            let bytes = body.map(|b| b.to_string()).unwrap_or_default();
            let res = sender
                .send_request(req.body(Full::new(Bytes::from(bytes)))?)
                .await
                .with_context(|| format!("{method} {uri}"))?;
            let status = res.status();
            let body = res.into_body().collect().await?.to_bytes();
            let v: Value = serde_json::from_slice(&body).with_context(|| {
                format!(
                    "{method} {uri}: {status}, not JSON: {}",
                    String::from_utf8_lossy(&body)
                )
            })?;
            if !status.is_success() {
                bail!(
                    "{method} {uri}: {status}: {}",
                    v["error"]["message"].as_str().unwrap_or(&v.to_string())
                );
            }
            anyhow::Ok(v)
        };
        self.rt
            .block_on(async { tokio::time::timeout(REQUEST_TIME, fut).await })
            .with_context(|| format!("{method} {uri}: no answer in {REQUEST_TIME:?}"))?
    }

    /// Decodes `req` on the server: one request per temperature, k choices each.
    pub fn lab(&self, req: &LabRequest, quiet: bool) -> Result<LabRun> {
        let r = &req.request;
        let s = &r.sampling;
        let t0 = Instant::now();
        let mut vocab: HashMap<String, u32> = HashMap::new();
        let mut lanes = Vec::with_capacity(req.temperatures.len() * req.samples);
        for (t, &temperature) in req.temperatures.iter().enumerate() {
            if !quiet {
                eprintln!(
                    "kiln: T={temperature}: {} samples from {}",
                    req.samples, self.model
                );
            }
            let mut body = json!({
                "model": self.model,
                "n": req.samples,
                "max_tokens": r.max_tokens,
                "temperature": temperature,
                "top_p": s.top_p,
                "top_k": s.top_k,
                "min_p": s.min_p,
                "seed": lane_seed(s.seed, t, 0),
                "stop": r.stop,
                "stop_on_repetition": r.stop_on_repetition,
            });
            if s.repeat_penalty != 1.0 {
                body["repeat_penalty"] = json!(s.repeat_penalty);
            }
            let chat = match &r.prompt {
                Prompt::Chat(messages) => {
                    body["messages"] = json!(messages);
                    body["logprobs"] = json!(true);
                    true
                }
                Prompt::Raw(text) => {
                    body["prompt"] = json!(text);
                    body["logprobs"] = json!(1);
                    false
                }
                Prompt::Tokens(ids) => {
                    body["prompt"] = json!(ids);
                    body["logprobs"] = json!(1);
                    false
                }
            };
            let started = Instant::now();
            let path = if chat {
                "/chat/completions"
            } else {
                "/completions"
            };
            let answer = self.call("POST", path, Some(&body))?;
            let wall_ms = started.elapsed().as_secs_f64() * 1000.0;
            let choices = answer["choices"].as_array().cloned().unwrap_or_default();
            if choices.len() != req.samples {
                bail!(
                    "{path}: asked for {} choices, got {} (does the server support n?)",
                    req.samples,
                    choices.len()
                );
            }
            let prompt_tokens = answer["usage"]["prompt_tokens"].as_u64().unwrap_or(0) as usize;
            for c in choices {
                let sample = c["index"].as_u64().unwrap_or(0) as usize;
                let text = if chat {
                    c["message"]["content"].as_str()
                } else {
                    c["text"].as_str()
                }
                .unwrap_or_default()
                .to_string();
                let (pieces, probs) = token_logprobs(&c, chat);
                let tokens: Vec<u32> = pieces
                    .iter()
                    .map(|p| {
                        let id = vocab.len() as u32;
                        *vocab.entry(p.clone()).or_insert(id)
                    })
                    .collect();
                let finish = match c["finish_reason"].as_str() {
                    Some("length") => Finish::MaxTokens,
                    _ => Finish::Eos,
                };
                lanes.push((
                    sample,
                    LaneResult {
                        temperature_index: t,
                        temperature,
                        sample,
                        seed: lane_seed(s.seed, t, sample),
                        generation: Generation {
                            text,
                            timings: Timings {
                                prompt_tokens,
                                prefill_ms: 0.0,
                                generated_tokens: tokens.len(),
                                decode_ms: wall_ms,
                            },
                            tokens,
                            prompt_tokens: Vec::new(),
                            finish,
                            token_probs: probs,
                            token_entropies: Vec::new(),
                        },
                        pieces,
                    },
                ));
            }
        }
        // Temperature-major, samples in index order, as a local run has them.
        lanes.sort_by_key(|(sample, l)| (l.temperature_index, *sample));
        Ok(LabRun {
            request: req.clone(),
            lanes: lanes.into_iter().map(|(_, l)| l).collect(),
            wall_ms: t0.elapsed().as_secs_f64() * 1000.0,
        })
    }
}

/// A choice's token texts and probabilities, from either logprobs shape.
fn token_logprobs(choice: &Value, chat: bool) -> (Vec<String>, Vec<f32>) {
    let lp = &choice["logprobs"];
    let pairs: Vec<(String, f64)> = if chat {
        lp["content"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|t| {
                        (
                            t["token"].as_str().unwrap_or_default().to_string(),
                            t["logprob"].as_f64().unwrap_or(f64::NEG_INFINITY),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    } else {
        let tokens = lp["tokens"].as_array().cloned().unwrap_or_default();
        let lps = lp["token_logprobs"].as_array().cloned().unwrap_or_default();
        tokens
            .iter()
            .zip(lps.iter())
            .map(|(t, l)| {
                (
                    t.as_str().unwrap_or_default().to_string(),
                    l.as_f64().unwrap_or(f64::NEG_INFINITY),
                )
            })
            .collect()
    };
    pairs.into_iter().map(|(t, l)| (t, l.exp() as f32)).unzip()
}
