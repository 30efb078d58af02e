//! Model configuration: plain data mirroring Hugging Face `config.json` keys, read either from
//! that file or from GGUF metadata (`{arch}.*` keys), and validated once at load.

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::format::gguf::Gguf;

/// The architectures of the Llama family that kiln runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    /// Llama 2/3, SmolLM/SmolLM2, TinyLlama.
    Llama,
    /// Mistral (full attention; no sliding window yet).
    Mistral,
    /// Qwen2 / Qwen2.5(-Coder): q/k/v projections carry a bias.
    Qwen2,
}

impl Arch {
    fn parse(file: &str, name: &str) -> Result<Self> {
        match name {
            "llama" => Ok(Arch::Llama),
            "mistral" => Ok(Arch::Mistral),
            "qwen2" => Ok(Arch::Qwen2),
            other => Err(Error::UnsupportedArchitecture {
                file: file.to_string(),
                arch: other.to_string(),
            }),
        }
    }

    /// The name used in config.json's `model_type` and GGUF's `general.architecture`.
    pub fn name(self) -> &'static str {
        match self {
            Arch::Llama => "llama",
            Arch::Mistral => "mistral",
            Arch::Qwen2 => "qwen2",
        }
    }
}

/// `rope_scaling` of config.json (only the "llama3" rule changes the frequencies).
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct RopeScaling {
    /// "llama3" (also spelled `type` in older configs).
    #[serde(alias = "type")]
    pub rope_type: String,
    /// Overall factor.
    pub factor: f64,
    /// llama3: wavelengths above original_max / low_freq_factor are scaled fully.
    #[serde(default = "one")]
    pub low_freq_factor: f64,
    /// llama3: wavelengths below original_max / high_freq_factor are kept.
    #[serde(default = "four")]
    pub high_freq_factor: f64,
    /// llama3: the context the model was pre-trained with.
    #[serde(default)]
    pub original_max_position_embeddings: usize,
}

fn one() -> f64 {
    1.0
}
fn four() -> f64 {
    4.0
}
fn rope_theta_default() -> f64 {
    10_000.0
}

/// Hyper-parameters of a Llama-family transformer (names are config.json's).
#[derive(Debug, Clone, Deserialize)]
pub struct ModelConfig {
    /// "llama", "mistral" or "qwen2".
    pub model_type: String,
    /// Width of the residual stream.
    pub hidden_size: usize,
    /// Width of the SwiGLU hidden layer.
    pub intermediate_size: usize,
    /// Query heads.
    pub num_attention_heads: usize,
    /// Key/value heads (GQA); defaults to `num_attention_heads`.
    #[serde(default)]
    pub num_key_value_heads: Option<usize>,
    /// Transformer blocks.
    pub num_hidden_layers: usize,
    /// RMSNorm epsilon.
    pub rms_norm_eps: f64,
    /// RoPE base.
    #[serde(default = "rope_theta_default")]
    pub rope_theta: f64,
    /// Optional RoPE scaling rule.
    #[serde(default)]
    pub rope_scaling: Option<RopeScaling>,
    /// Vocabulary size (rows of the embedding).
    pub vocab_size: usize,
    /// Trained context length.
    pub max_position_embeddings: usize,
    /// Output head shares the embedding matrix.
    #[serde(default)]
    pub tie_word_embeddings: bool,
    /// Per-head width when it is not hidden_size / heads.
    #[serde(default)]
    pub head_dim: Option<usize>,
    /// Whether q/k/v (and o for Llama) carry a bias; Qwen2 always has q/k/v bias.
    #[serde(default)]
    pub attention_bias: bool,
}

/// The widest attention head accepted (the widest in use, Gemma's and Llama-4's, are 256).
pub const MAX_HEAD_DIM: usize = 1024;

impl ModelConfig {
    /// Parses and validates config.json.
    pub fn from_json(file: &str, bytes: &[u8]) -> Result<Self> {
        let config: ModelConfig = serde_json::from_slice(bytes).map_err(|e| Error::Config {
            file: file.to_string(),
            reason: e.to_string(),
        })?;
        config.validate(file)?;
        Ok(config)
    }

    /// Reads the `{arch}.*` metadata of a GGUF file (as written by llama.cpp's converter).
    pub fn from_gguf(g: &Gguf) -> Result<Self> {
        let arch = g.str("general.architecture")?.to_string();
        Arch::parse(&g.file, &arch)?;
        let key = |k: &str| format!("{arch}.{k}");
        let usize_of = |k: &str| -> Result<usize> { Ok(g.u64(&key(k))? as usize) };
        let n_heads = usize_of("attention.head_count")?;
        let hidden = usize_of("embedding_length")?;
        let vocab_size = match g.get(&key("vocab_size")).and_then(|v| v.as_u64()) {
            Some(v) => v as usize,
            None => match g.get("tokenizer.ggml.tokens").and_then(|v| v.as_array()) {
                Some(t) => t.len(),
                None => g.tensor("token_embd.weight").map_or(0, |t| t.shape[0]),
            },
        };
        let config = ModelConfig {
            model_type: arch.clone(),
            hidden_size: hidden,
            intermediate_size: usize_of("feed_forward_length")?,
            num_attention_heads: n_heads,
            num_key_value_heads: Some(
                g.get(&key("attention.head_count_kv"))
                    .and_then(|v| v.as_u64())
                    .map_or(n_heads, |v| v as usize),
            ),
            num_hidden_layers: usize_of("block_count")?,
            rms_norm_eps: g.f64(&key("attention.layer_norm_rms_epsilon"))?,
            rope_theta: g
                .get(&key("rope.freq_base"))
                .and_then(|v| v.as_f64())
                .unwrap_or(10_000.0),
            // llama.cpp's converter stores llama3 scaling as the `rope_freqs.weight` tensor.
            rope_scaling: None,
            vocab_size,
            max_position_embeddings: usize_of("context_length")?,
            tie_word_embeddings: g.tensor("output.weight").is_none(),
            head_dim: g
                .get(&key("attention.key_length"))
                .and_then(|v| v.as_u64())
                .map(|v| v as usize),
            attention_bias: g.tensor("blk.0.attn_q.bias").is_some(),
        };
        // What the engine assumes of every head, said by the file in up to three places: they
        // must agree, or the file contradicts itself.
        let d = config.head_dim();
        for k in ["attention.value_length", "rope.dimension_count"] {
            if let Some(v) = g.get(&key(k)).and_then(|v| v.as_u64())
                && v != d as u64
            {
                let whence = if config.head_dim.is_some() {
                    format!("{arch}.attention.key_length")
                } else {
                    format!("{arch}.embedding_length / {arch}.attention.head_count")
                };
                return Err(Error::Config {
                    file: g.file.clone(),
                    reason: format!(
                        "{arch}.{k} = {v} disagrees with the head size {d} ({whence}); kiln supports heads whose keys, values and rotary part all have one size"
                    ),
                });
            }
        }
        config.validate(&g.file)?;
        Ok(config)
    }

    fn validate(&self, file: &str) -> Result<()> {
        Arch::parse(file, &self.model_type)?;
        let bad = |reason: String| {
            Err(Error::Config {
                file: file.to_string(),
                reason,
            })
        };
        let sizes = [
            ("hidden_size", self.hidden_size),
            ("intermediate_size", self.intermediate_size),
            ("num_attention_heads", self.num_attention_heads),
            ("num_hidden_layers", self.num_hidden_layers),
            ("vocab_size", self.vocab_size),
            ("max_position_embeddings", self.max_position_embeddings),
        ];
        for (name, v) in sizes {
            if v == 0 || v > 1 << 24 {
                return bad(format!("{name} = {v} is out of range (1..=16777216)"));
            }
        }
        let kv = self.n_kv_heads();
        if kv == 0 || !self.num_attention_heads.is_multiple_of(kv) {
            return bad(format!(
                "num_attention_heads {} is not a multiple of num_key_value_heads {kv}",
                self.num_attention_heads
            ));
        }
        if self.head_dim.is_none() && !self.hidden_size.is_multiple_of(self.num_attention_heads) {
            return bad(format!(
                "hidden_size {} is not divisible by num_attention_heads {}",
                self.hidden_size, self.num_attention_heads
            ));
        }
        let d = self.head_dim();
        if !d.is_multiple_of(2) || d == 0 || d > MAX_HEAD_DIM {
            return bad(format!(
                "head_dim {d} must be even and in 2..={MAX_HEAD_DIM} (RoPE pairs; no model has wider heads)"
            ));
        }
        // The query projection's width, and with it every per-head table, stays in range.
        if self
            .num_attention_heads
            .checked_mul(d)
            .is_none_or(|w| w > 1 << 24)
        {
            return bad(format!(
                "num_attention_heads {} × head_dim {d} is out of range (at most 16777216)",
                self.num_attention_heads
            ));
        }
        if !(self.rms_norm_eps > 0.0 && self.rms_norm_eps < 1.0) {
            return bad(format!(
                "rms_norm_eps {} must be in (0, 1)",
                self.rms_norm_eps
            ));
        }
        if !(self.rope_theta.is_finite() && self.rope_theta > 1.0) {
            return bad(format!(
                "rope_theta {} must be a finite number > 1",
                self.rope_theta
            ));
        }
        if let Some(s) = &self.rope_scaling {
            let known = ["llama3", "default", "linear"];
            if !known.contains(&s.rope_type.as_str()) {
                return bad(format!(
                    "rope_scaling type `{}` is not supported (supported: {known:?})",
                    s.rope_type
                ));
            }
            if !(s.factor.is_finite() && s.factor >= 1.0) {
                return bad(format!("rope_scaling factor {} must be >= 1", s.factor));
            }
        }
        Ok(())
    }

    /// The architecture (`model_type` was checked when the config was read).
    pub fn arch(&self) -> Arch {
        Arch::parse("", &self.model_type).unwrap_or(Arch::Llama)
    }

    /// Key/value heads.
    pub fn n_kv_heads(&self) -> usize {
        self.num_key_value_heads.unwrap_or(self.num_attention_heads)
    }

    /// Per-head width.
    pub fn head_dim(&self) -> usize {
        self.head_dim
            .unwrap_or(self.hidden_size / self.num_attention_heads.max(1))
    }

    /// Whether q/k/v projections have biases.
    pub fn qkv_bias(&self) -> bool {
        self.arch() == Arch::Qwen2 || self.attention_bias
    }

    /// Parameter count (weights only), for `kiln info`.
    pub fn n_params(&self) -> usize {
        let (h, i, d) = (self.hidden_size, self.intermediate_size, self.head_dim());
        let attn = h * self.num_attention_heads * d * 2 + h * self.n_kv_heads() * d * 2;
        let block = attn + 3 * h * i + 2 * h;
        let head = if self.tie_word_embeddings {
            0
        } else {
            self.vocab_size * h
        };
        self.vocab_size * h + self.num_hidden_layers * block + h + head
    }

    /// Bytes of the largest weight matrix once loaded as f32 (the embedding table or an MLP
    /// matrix): a GPU must allow a storage buffer this large to hold it.
    pub fn largest_tensor_bytes(&self) -> u64 {
        let h = self.hidden_size as u64;
        let widest = (self.vocab_size as u64).max(self.intermediate_size as u64);
        h * widest * 4
    }

    /// RoPE inverse frequencies (length head_dim / 2), with HF's rope_scaling rules applied.
    /// (modeling_rope_utils.py: `_compute_default_rope_parameters`, `_compute_llama3_parameters`)
    pub fn inv_freq(&self) -> Vec<f64> {
        let d = self.head_dim();
        let base: Vec<f64> = (0..d / 2)
            .map(|i| 1.0 / self.rope_theta.powf((2 * i) as f64 / d as f64))
            .collect();
        let Some(s) = &self.rope_scaling else {
            return base;
        };
        match s.rope_type.as_str() {
            "linear" => base.iter().map(|f| f / s.factor).collect(),
            "llama3" => {
                let old = s.original_max_position_embeddings as f64;
                let low_wavelen = old / s.low_freq_factor;
                let high_wavelen = old / s.high_freq_factor;
                base.iter()
                    .map(|&f| {
                        let wavelen = 2.0 * std::f64::consts::PI / f;
                        if wavelen < high_wavelen {
                            f
                        } else if wavelen > low_wavelen {
                            f / s.factor
                        } else {
                            let smooth = (old / wavelen - s.low_freq_factor)
                                / (s.high_freq_factor - s.low_freq_factor);
                            (1.0 - smooth) * f / s.factor + smooth * f
                        }
                    })
                    .collect()
            }
            _ => base,
        }
    }
}
