//! One `tokenizers::Tokenizer`, built from a Hugging Face `tokenizer.json` or from a GGUF file's
//! vocabulary (`tokenizer.ggml.model = gpt2`: byte-level BPE), plus a streaming decoder that never
//! emits broken UTF-8.
//!
//! The GGUF path writes the equivalent tokenizer.json and hands it to `tokenizers`, so both paths
//! share one implementation. Pre-tokenizer regexes are llama.cpp's (src/llama-vocab.cpp,
//! `llm_tokenizer_bpe`), chosen by `tokenizer.ggml.pre`.

use serde_json::{Value as Json, json};

use crate::error::{Error, Result};
use crate::format::gguf::{Gguf, Value};

/// GPT-2's pre-tokenizer split (also the second half of the StarCoder/SmolLM rule).
const GPT2_SPLIT: &str =
    r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";
const LLAMA3_SPLIT: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const QWEN2_SPLIT: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// Token texts that llama.cpp treats as end-of-generation when the vocabulary has them as
/// control tokens (llama-vocab.cpp, the `special_eog_ids` scan).
/// FIM padding / repository / file-separator tokens are included, as llama.cpp does.
const EOG_TEXTS: [&str; 20] = [
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "<|eom_id|>",
    "<EOT>",
    "<|end_of_text|>",
    "<end_of_utterance>",
    "<|return|>",
    "<|fim_pad|>",
    "<fim-pad>",
    "<fim_pad>",
    "<|fim_repo|>",
    "<|repo_name|>",
    "<fim-repo>",
    "<REPO>",
    "<reponame>",
    "<|file_sep|>",
    "<｜end▁of▁sentence｜>",
];

/// A tokenizer with the model's special ids.
#[derive(Clone)]
pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
    /// Beginning-of-sequence id, if the model has one.
    pub bos: Option<u32>,
    /// Whether a BOS is put in front of every prompt.
    pub add_bos: bool,
    /// Ids that end generation (EOS, EOT and friends).
    pub eog: Vec<u32>,
    file: String,
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokenizer")
            .field("vocab", &self.vocab_size())
            .field("bos", &self.bos)
            .field("add_bos", &self.add_bos)
            .field("eog", &self.eog)
            .finish()
    }
}

/// Special-token settings that come from outside tokenizer.json (config files or GGUF keys).
#[derive(Debug, Clone, Default)]
pub struct Specials {
    /// BOS id.
    pub bos: Option<u32>,
    /// Whether to add BOS.
    pub add_bos: bool,
    /// EOS/EOT ids.
    pub eos: Vec<u32>,
}

/// Every `Precompiled` normalizer in `normalizer` (also inside a `Sequence`) parses.
fn check_precompiled(normalizer: &serde_json::Value) -> std::result::Result<(), String> {
    match normalizer["type"].as_str() {
        Some("Precompiled") => {
            serde_json::from_value::<tokenizers::normalizers::Precompiled>(normalizer.clone())
                .map(|_| ())
                .map_err(|e| format!("the Precompiled normalizer: {e}"))
        }
        Some("Sequence") => normalizer["normalizers"]
            .as_array()
            .map_or(Ok(()), |list| list.iter().try_for_each(check_precompiled)),
        _ => Ok(()),
    }
}

impl Tokenizer {
    /// From tokenizer.json bytes, with special ids taken from the model's config files.
    pub fn from_json(file: &str, bytes: &[u8], specials: Specials) -> Result<Self> {
        let bad = |reason: String| Error::Tokenizer {
            file: file.to_string(),
            reason: format!("invalid tokenizer.json: {reason}"),
        };
        // `tokenizers` panics (`expect`) on two kinds of bad input instead of returning an
        // error: JSON that breaks off inside the decoder, and a `Precompiled` normalizer whose
        // fields do not parse. Found by fuzzing; both are refused here first — the syntax by
        // parsing the whole file (serde_json bounds its nesting), the normalizers by parsing
        // each one the way `tokenizers` would.
        let json: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
        check_precompiled(&json["normalizer"]).map_err(bad)?;
        let inner = tokenizers::Tokenizer::from_bytes(bytes).map_err(|e| bad(e.to_string()))?;
        Ok(Self::with_specials(file, inner, specials))
    }

    /// From the vocabulary stored in a GGUF file.
    pub fn from_gguf(g: &Gguf) -> Result<Self> {
        let file = g.file.as_str();
        let bad = |reason: String| Error::Tokenizer {
            file: file.to_string(),
            reason,
        };
        let model = g.str("tokenizer.ggml.model")?;
        if model != "gpt2" {
            return Err(bad(format!(
                "tokenizer.ggml.model `{model}` is not supported (supported: gpt2, i.e. byte-level BPE)"
            )));
        }
        let strings = |key: &str| -> Result<Vec<&str>> {
            let arr = g
                .get(key)
                .and_then(Value::as_array)
                .ok_or_else(|| bad(format!("`{key}` missing")))?;
            arr.iter()
                .map(|v| {
                    v.as_str()
                        .ok_or_else(|| bad(format!("`{key}` holds a non-string")))
                })
                .collect()
        };
        let tokens = strings("tokenizer.ggml.tokens")?;
        let merges = strings("tokenizer.ggml.merges")?;
        let types: Vec<i64> = match g.get("tokenizer.ggml.token_type").and_then(Value::as_array) {
            Some(a) => a
                .iter()
                .map(|v| v.as_u64().map_or(1, |t| t as i64))
                .collect(),
            None => vec![1; tokens.len()],
        };
        let pre = g
            .get("tokenizer.ggml.pre")
            .and_then(Value::as_str)
            .unwrap_or("default");
        let (splits, ignore_merges): (&[&str], bool) = match pre {
            "default" | "gpt2" | "gpt-2" => (&[GPT2_SPLIT], false),
            "smollm" | "starcoder" | "refact" | "command-r" | "codeshell" | "exaone"
            | "minerva" => (&[r"\p{N}", GPT2_SPLIT], false),
            "llama3" | "llama-v3" | "llama-bpe" | "falcon3" => (&[LLAMA3_SPLIT], true),
            "qwen2" | "deepseek-r1-qwen" => (&[QWEN2_SPLIT], false),
            other => {
                return Err(bad(format!(
                    "pre-tokenizer `{other}` is not supported (supported: gpt2, smollm/starcoder, llama3, qwen2)"
                )));
            }
        };

        let mut vocab = serde_json::Map::new();
        let mut added = Vec::new();
        for (id, tok) in tokens.iter().enumerate() {
            vocab.insert((*tok).to_string(), json!(id));
            // 3 = control, 4 = user-defined: matched whole in the text, never split by BPE.
            let ty = types.get(id).copied().unwrap_or(1);
            if ty == 3 || ty == 4 {
                added.push(json!({
                    "id": id, "content": tok, "single_word": false, "lstrip": false, "rstrip": false,
                    "normalized": false, "special": ty == 3,
                }));
            }
        }
        let mut pretok: Vec<Json> = splits
            .iter()
            .map(|r| json!({"type": "Split", "pattern": {"Regex": r}, "behavior": "Isolated", "invert": false}))
            .collect();
        pretok.push(json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false}));
        let spec = json!({
            "version": "1.0",
            "truncation": null,
            "padding": null,
            "added_tokens": added,
            "normalizer": null,
            "pre_tokenizer": {"type": "Sequence", "pretokenizers": pretok},
            "post_processor": null,
            "decoder": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false},
            "model": {
                "type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
                "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false,
                "ignore_merges": ignore_merges, "vocab": vocab, "merges": merges,
            },
        });
        let inner =
            tokenizers::Tokenizer::from_bytes(spec.to_string().as_bytes()).map_err(|e| {
                bad(format!(
                    "cannot build a tokenizer from the GGUF vocabulary: {e}"
                ))
            })?;

        let id = |key: &str| g.get(key).and_then(Value::as_u64).map(|v| v as u32);
        let mut eos: Vec<u32> = [
            "tokenizer.ggml.eos_token_id",
            "tokenizer.ggml.eot_token_id",
            "tokenizer.ggml.eom_token_id",
        ]
        .iter()
        .filter_map(|k| id(k))
        .collect();
        for (i, tok) in tokens.iter().enumerate() {
            if types.get(i) == Some(&3) && EOG_TEXTS.contains(tok) {
                eos.push(i as u32);
            }
        }
        let specials = Specials {
            bos: id("tokenizer.ggml.bos_token_id"),
            // llama.cpp's default for BPE vocabularies without the key is to add no BOS.
            add_bos: g
                .get("tokenizer.ggml.add_bos_token")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            eos,
        };
        Ok(Self::with_specials(file, inner, specials))
    }

    fn with_specials(file: &str, inner: tokenizers::Tokenizer, s: Specials) -> Self {
        let mut eog = s.eos;
        for t in EOG_TEXTS {
            if let Some(id) = inner.token_to_id(t)
                && inner.get_added_vocabulary().is_special_token(t)
            {
                eog.push(id);
            }
        }
        eog.sort_unstable();
        eog.dedup();
        Self {
            inner,
            bos: s.bos,
            add_bos: s.add_bos,
            eog,
            file: file.to_string(),
        }
    }

    /// Token ids of `text` (special-token texts in it become their ids), with BOS in front when
    /// the model asks for it and the text does not already start with it.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let enc = self.inner.encode(text, false).map_err(|e| self.err(e))?;
        let mut ids = Vec::with_capacity(enc.len() + 1);
        if let Some(bos) = self.bos.filter(|_| self.add_bos)
            && enc.get_ids().first() != Some(&bos)
        {
            ids.push(bos);
        }
        ids.extend_from_slice(enc.get_ids());
        Ok(ids)
    }

    /// Ids of `text` exactly as the vocabulary splits it, no BOS.
    pub fn encode_plain(&self, text: &str) -> Result<Vec<u32>> {
        Ok(self
            .inner
            .encode(text, false)
            .map_err(|e| self.err(e))?
            .get_ids()
            .to_vec())
    }

    /// Text of `ids`, special tokens skipped.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.inner.decode(ids, true).map_err(|e| self.err(e))
    }

    /// The stored text of one token (e.g. `Ġthe`), if the id exists.
    pub fn token_text(&self, id: u32) -> Option<String> {
        self.inner.id_to_token(id)
    }

    /// One token's own text, for token views: decoded alone (a byte-level piece of a
    /// multi-byte character shows as U+FFFD), else the vocabulary entry, else empty.
    pub fn piece(&self, id: u32) -> String {
        self.decode(&[id])
            .ok()
            .or_else(|| self.token_text(id))
            .unwrap_or_default()
    }

    /// The id of a token text.
    pub fn token_id(&self, text: &str) -> Option<u32> {
        self.inner.token_to_id(text)
    }

    /// Vocabulary size including added tokens.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// Whether `id` ends generation.
    pub fn is_eog(&self, id: u32) -> bool {
        self.eog.contains(&id)
    }

    fn err(&self, e: impl std::fmt::Display) -> Error {
        Error::Tokenizer {
            file: self.file.clone(),
            reason: e.to_string(),
        }
    }
}

/// Incremental detokenizer: feeds ids one at a time and returns text only once it is complete
/// UTF-8. Works for any decoder by re-decoding a short window (the approach of
/// text-generation-inference's `decode_token`).
#[derive(Debug, Default, Clone)]
pub struct StreamDecoder {
    ids: Vec<u32>,
    prefix: usize,
    read: usize,
}

impl StreamDecoder {
    /// Adds `id`; returns the new text, if a complete piece became available.
    pub fn push(&mut self, tok: &Tokenizer, id: u32) -> Result<Option<String>> {
        let before = tok.decode(&self.ids[self.prefix..self.read])?;
        self.ids.push(id);
        let now = tok.decode(&self.ids[self.prefix..])?;
        if now.len() > before.len() && !now.ends_with('\u{FFFD}') && now.starts_with(&before) {
            let piece = now[before.len()..].to_string();
            self.prefix = self.read;
            self.read = self.ids.len();
            Ok(Some(piece))
        } else {
            Ok(None)
        }
    }

    /// Whatever is still held back (an incomplete UTF-8 sequence decodes to U+FFFD).
    pub fn flush(&mut self, tok: &Tokenizer) -> Result<String> {
        let before = tok.decode(&self.ids[self.prefix..self.read])?;
        let now = tok.decode(&self.ids[self.prefix..])?;
        self.prefix = self.ids.len();
        self.read = self.ids.len();
        // A sequence cut off mid-character decodes to U+FFFD: it is dropped, never emitted.
        Ok(now
            .get(before.len()..)
            .unwrap_or_default()
            .trim_end_matches('\u{FFFD}')
            .to_string())
    }
}
