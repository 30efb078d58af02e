//! From checkpoint bytes to configuration, tokenizer, chat template and weights.
//!
//! The model code asks for weights by their Hugging Face names; this file holds the one table that
//! maps them to llama.cpp's GGUF names, and undoes the Q/K row permutation that llama.cpp's
//! converter applies to Llama checkpoints (convert_hf_to_gguf.py, `LlamaModel.permute`), so that
//! both formats run with HF's rotate-half RoPE.

use std::collections::BTreeMap;

use serde_json::Value as Json;

use super::config::{Arch, ModelConfig};
use super::linear::{HostMatrix, QuantWeight};
use super::llama::WeightReader;
use crate::chat::ChatTemplate;
use crate::error::{Error, Result};
use crate::format::gguf::{Gguf, TensorInfo, TensorType, Value};
use crate::format::safetensors::{SafeTensors, ShardIndex};
use crate::tokenizer::{Specials, Tokenizer};

/// The bytes of a model, as files.
#[derive(Debug, Clone)]
pub enum ModelFiles {
    /// One GGUF file.
    Gguf {
        /// File name (for messages).
        name: String,
        /// Its contents.
        bytes: Vec<u8>,
    },
    /// A Hugging Face directory: file name → contents. Needs `config.json`, `tokenizer.json` and
    /// `model.safetensors` or `model.safetensors.index.json` with its shards.
    HfDir(BTreeMap<String, Vec<u8>>),
}

/// Everything a checkpoint says before any weight is read.
pub(crate) struct Checkpoint<'a> {
    pub config: ModelConfig,
    pub tokenizer: Tokenizer,
    pub chat: Option<ChatTemplate>,
    pub inv_freq: Vec<f64>,
    pub reader: Box<dyn WeightReader + 'a>,
    pub format: String,
    pub tensor_types: BTreeMap<String, usize>,
}

impl<'a> Checkpoint<'a> {
    pub(crate) fn open(files: &'a ModelFiles) -> Result<Self> {
        match files {
            ModelFiles::Gguf { name, bytes } => Self::gguf(name, bytes),
            ModelFiles::HfDir(map) => Self::hf(map),
        }
    }

    fn gguf(name: &str, bytes: &'a [u8]) -> Result<Self> {
        let g = Gguf::parse(name, bytes)?;
        let config = ModelConfig::from_gguf(&g)?;
        let tokenizer = Tokenizer::from_gguf(&g)?;
        let token = |id: Option<u32>| id.and_then(|i| tokenizer.token_text(i)).unwrap_or_default();
        let eos = g
            .get("tokenizer.ggml.eos_token_id")
            .and_then(Value::as_u64)
            .map(|v| v as u32);
        let chat = match g.get("tokenizer.chat_template").and_then(Value::as_str) {
            Some(src) => Some(ChatTemplate::lenient(
                src,
                &token(tokenizer.bos),
                &token(eos),
            )),
            None => None,
        };
        let mut inv_freq = config.inv_freq();
        // llama.cpp's converter stores llama3-style scaling as per-frequency divisors.
        if let Some(t) = g.tensor("rope_freqs.weight") {
            let factors = g.dequantize(bytes, t)?;
            if factors.len() != inv_freq.len() {
                return Err(Error::Shape {
                    file: name.to_string(),
                    name: t.name.clone(),
                    found: t.shape.clone(),
                    expected: vec![inv_freq.len()],
                });
            }
            for (f, d) in inv_freq.iter_mut().zip(factors) {
                *f /= f64::from(d);
            }
        }
        let mut tensor_types = BTreeMap::new();
        for t in &g.tensors {
            *tensor_types.entry(t.ty.name().to_string()).or_insert(0) += 1;
        }
        let permuted = matches!(config.arch(), Arch::Llama | Arch::Mistral);
        let (n_heads, n_kv) = (config.num_attention_heads, config.n_kv_heads());
        let reader = Box::new(GgufReader {
            g,
            bytes,
            permuted,
            n_heads,
            n_kv,
            f32_from_blocks: 0,
        });
        Ok(Self {
            config,
            tokenizer,
            chat,
            inv_freq,
            reader,
            format: "GGUF".into(),
            tensor_types,
        })
    }

    fn hf(map: &'a BTreeMap<String, Vec<u8>>) -> Result<Self> {
        let need = |name: &str| {
            map.get(name).ok_or_else(|| Error::Config {
                file: name.to_string(),
                reason: "file is missing from the model directory".into(),
            })
        };
        let config = ModelConfig::from_json("config.json", need("config.json")?)?;
        let config_json: Json = serde_json::from_slice(need("config.json")?).unwrap_or(Json::Null);
        let tok_config: Json = match map.get("tokenizer_config.json") {
            Some(b) => serde_json::from_slice(b).map_err(|e| Error::Config {
                file: "tokenizer_config.json".into(),
                reason: e.to_string(),
            })?,
            None => Json::Null,
        };
        let gen_config: Json = match map.get("generation_config.json") {
            Some(b) => serde_json::from_slice(b).map_err(|e| Error::Config {
                file: "generation_config.json".into(),
                reason: e.to_string(),
            })?,
            None => Json::Null,
        };
        let ids = |v: &Json| -> Vec<u32> {
            match v {
                Json::Number(n) => n.as_u64().map(|n| vec![n as u32]).unwrap_or_default(),
                Json::Array(a) => a
                    .iter()
                    .filter_map(Json::as_u64)
                    .map(|n| n as u32)
                    .collect(),
                _ => Vec::new(),
            }
        };
        let mut eos = ids(&gen_config["eos_token_id"]);
        eos.extend(ids(&config_json["eos_token_id"]));
        let bos = ids(&gen_config["bos_token_id"])
            .first()
            .or(ids(&config_json["bos_token_id"]).first())
            .copied();
        // tokenizer.json's post-processor is not run (the chat template places special tokens);
        // tokenizer_config.json says whether prompts start with BOS.
        let add_bos = tok_config["add_bos_token"].as_bool().unwrap_or(false);
        let specials = Specials { bos, add_bos, eos };
        let tokenizer = Tokenizer::from_json("tokenizer.json", need("tokenizer.json")?, specials)?;

        let text_of = |v: &Json| {
            v.as_str()
                .or_else(|| v["content"].as_str())
                .unwrap_or_default()
                .to_string()
        };
        let template = match &tok_config["chat_template"] {
            Json::String(s) => Some(s.clone()),
            Json::Array(list) => list
                .iter()
                .find(|t| t["name"] == "default")
                .and_then(|t| t["template"].as_str())
                .map(String::from),
            _ => None,
        };
        let chat = template.map(|src| {
            ChatTemplate::lenient(
                &src,
                &text_of(&tok_config["bos_token"]),
                &text_of(&tok_config["eos_token"]),
            )
        });

        let shard_names = match map.get("model.safetensors.index.json") {
            Some(idx) => ShardIndex::parse("model.safetensors.index.json", idx)?.shards(),
            None => vec!["model.safetensors".to_string()],
        };
        let mut shards = Vec::new();
        let mut tensor_types = BTreeMap::new();
        for name in shard_names {
            let bytes = need(&name)?;
            let st = SafeTensors::parse(&name, bytes)?;
            for info in st.tensors.values() {
                *tensor_types.entry(format!("{:?}", info.dtype)).or_insert(0) += 1;
            }
            shards.push((st, bytes.as_slice()));
        }
        let inv_freq = config.inv_freq();
        let reader = Box::new(StReader { shards });
        Ok(Self {
            config,
            tokenizer,
            chat,
            inv_freq,
            reader,
            format: "safetensors".into(),
            tensor_types,
        })
    }
}

/// HF key → GGUF key (llama.cpp's tensor naming, gguf-py/gguf/tensor_mapping.py).
fn gguf_name(hf: &str) -> Option<String> {
    const TOP: [(&str, &str); 3] = [
        ("model.embed_tokens.weight", "token_embd.weight"),
        ("model.norm.weight", "output_norm.weight"),
        ("lm_head.weight", "output.weight"),
    ];
    const LAYER: [(&str, &str); 9] = [
        ("self_attn.q_proj", "attn_q"),
        ("self_attn.k_proj", "attn_k"),
        ("self_attn.v_proj", "attn_v"),
        ("self_attn.o_proj", "attn_output"),
        ("mlp.gate_proj", "ffn_gate"),
        ("mlp.up_proj", "ffn_up"),
        ("mlp.down_proj", "ffn_down"),
        ("input_layernorm", "attn_norm"),
        ("post_attention_layernorm", "ffn_norm"),
    ];
    if let Some((_, g)) = TOP.iter().find(|(h, _)| *h == hf) {
        return Some((*g).to_string());
    }
    let rest = hf.strip_prefix("model.layers.")?;
    let (layer, rest) = rest.split_once('.')?;
    let (module, suffix) = rest.rsplit_once('.')?;
    let (_, g) = LAYER.iter().find(|(h, _)| *h == module)?;
    Some(format!("blk.{layer}.{g}.{suffix}"))
}

struct GgufReader<'a> {
    g: Gguf,
    bytes: &'a [u8],
    permuted: bool,
    n_heads: usize,
    n_kv: usize,
    f32_from_blocks: usize,
}

impl GgufReader<'_> {
    /// The tensor for HF name `name`, checked against `shape`, and the head count whose Q/K row
    /// permutation must be undone (0 for none).
    fn find(&self, name: &str, shape: &[usize]) -> Result<(&TensorInfo, usize)> {
        let key = gguf_name(name).unwrap_or_else(|| name.to_string());
        let t = self.g.tensor(&key).ok_or_else(|| Error::MissingTensor {
            file: self.g.file.clone(),
            name: key.clone(),
        })?;
        if t.shape != shape {
            return Err(Error::Shape {
                file: self.g.file.clone(),
                name: key,
                found: t.shape.clone(),
                expected: shape.to_vec(),
            });
        }
        let heads = if !self.permuted {
            0
        } else if key.contains(".attn_q.") {
            self.n_heads
        } else if key.contains(".attn_k.") {
            self.n_kv
        } else {
            0
        };
        Ok((t, heads))
    }
}

impl WeightReader for GgufReader<'_> {
    fn read(&mut self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        let (t, heads) = self.find(name, shape)?;
        let data = self.g.dequantize(self.bytes, t)?;
        if matches!(t.ty, TensorType::Block(_)) && shape.len() >= 2 {
            self.f32_from_blocks += data.len();
        }
        Ok(if heads > 0 {
            unpermute_rows(&data, shape[0], heads)
        } else {
            data
        })
    }

    fn read_matrix(&mut self, name: &str, shape: &[usize]) -> Result<HostMatrix> {
        let (t, heads) = self.find(name, shape)?;
        let TensorType::Block(ty) = t.ty else {
            return self.read(name, shape).map(HostMatrix::F32);
        };
        let raw = self
            .bytes
            .get(t.start..t.end)
            .ok_or_else(|| Error::TensorOutOfBounds {
                file: self.g.file.clone(),
                name: t.name.clone(),
                start: t.start as u64,
                end: t.end as u64,
                len: self.bytes.len(),
            })?;
        // Rows are whole blocks, so the permutation moves byte ranges.
        let data = if heads > 0 {
            unpermute_rows(raw, shape[0], heads)
        } else {
            raw.to_vec()
        };
        let (rows, cols) = (shape[0], shape[1..].iter().product());
        QuantWeight::new(ty, rows, cols, data)
            .map(HostMatrix::Blocks)
            .map_err(|reason| Error::BadGguf {
                file: self.g.file.clone(),
                reason: format!("tensor `{}`: {reason}", t.name),
            })
    }

    fn has(&self, name: &str) -> bool {
        self.g
            .tensor(&gguf_name(name).unwrap_or_else(|| name.to_string()))
            .is_some()
    }

    fn f32_from_blocks(&self) -> usize {
        self.f32_from_blocks
    }
}

/// Undoes llama.cpp's `permute(w, n_head)`: within each head, rows stored as interleaved
/// (pair-major) go back to HF's half-major order. Works for 2-D weights and 1-D biases.
pub(crate) fn unpermute_rows<T: Copy + Default>(data: &[T], rows: usize, n_head: usize) -> Vec<T> {
    let cols = data.len() / rows.max(1);
    let d = rows / n_head.max(1);
    let mut out = vec![T::default(); data.len()];
    for h in 0..n_head {
        for i in 0..d / 2 {
            for j in 0..2 {
                let src = h * d + 2 * i + j;
                let dst = h * d + j * (d / 2) + i;
                out[dst * cols..(dst + 1) * cols]
                    .copy_from_slice(&data[src * cols..(src + 1) * cols]);
            }
        }
    }
    out
}

struct StReader<'a> {
    shards: Vec<(SafeTensors, &'a [u8])>,
}

impl WeightReader for StReader<'_> {
    fn read(&mut self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        for (st, bytes) in &self.shards {
            if let Some(info) = st.tensors.get(name) {
                if info.shape != shape {
                    return Err(Error::Shape {
                        file: st.file.clone(),
                        name: name.to_string(),
                        found: info.shape.clone(),
                        expected: shape.to_vec(),
                    });
                }
                return st.to_f32(bytes, name, info);
            }
        }
        let file = self
            .shards
            .first()
            .map_or_else(|| "model.safetensors".to_string(), |(s, _)| s.file.clone());
        Err(Error::MissingTensor {
            file,
            name: name.to_string(),
        })
    }

    fn has(&self, name: &str) -> bool {
        self.shards
            .iter()
            .any(|(st, _)| st.tensors.contains_key(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_to_llama_cpp() {
        assert_eq!(
            gguf_name("model.layers.11.self_attn.k_proj.bias").as_deref(),
            Some("blk.11.attn_k.bias")
        );
        assert_eq!(
            gguf_name("model.layers.0.post_attention_layernorm.weight").as_deref(),
            Some("blk.0.ffn_norm.weight")
        );
        assert_eq!(
            gguf_name("lm_head.weight").as_deref(),
            Some("output.weight")
        );
        assert_eq!(gguf_name("model.layers.0.unknown.weight"), None);
    }

    #[test]
    fn unpermute_inverts_llama_cpp_permute() {
        // permute(w) = w.reshape(n_head, 2, d/2, cols).swapaxes(1, 2).reshape(rows, cols)
        let (n_head, d, cols) = (2, 4, 3);
        let rows = n_head * d;
        let w: Vec<f32> = (0..rows * cols).map(|x| x as f32).collect();
        let mut permuted = vec![0.0; w.len()];
        for h in 0..n_head {
            for two in 0..2 {
                for i in 0..d / 2 {
                    let src = h * d + two * (d / 2) + i;
                    let dst = h * d + i * 2 + two;
                    permuted[dst * cols..(dst + 1) * cols]
                        .copy_from_slice(&w[src * cols..(src + 1) * cols]);
                }
            }
        }
        assert_eq!(unpermute_rows(&permuted, rows, n_head), w);
    }
}
