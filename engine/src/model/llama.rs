//! The Llama family decoder: Llama 2/3, SmolLM/SmolLM2, TinyLlama, Mistral and Qwen2 (q/k/v bias).
//!
//! Paper: Touvron et al., "LLaMA" (2023). Reference implementation: Hugging Face transformers
//! `models/llama/modeling_llama.py` and `models/qwen2/modeling_qwen2.py`. RMSNorm → attention with
//! grouped-query heads and RoPE (HF's rotate-half convention) → RMSNorm → SwiGLU MLP, each with a
//! residual; final RMSNorm; output head (tied to the embedding or separate).
//!
//! Weights are loaded through [`super::load`], which walks the checkpoint's HF key names. Two
//! forward paths share these modules: burn tensors on the device (wgpu, and the dense f32
//! reference), and, when every matrix is held as blocks on the CPU, [`super::host`] over host rows.

use burn::prelude::*;
use burn::tensor::activation::silu;
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;

use super::config::ModelConfig;
use super::kv_cache::{KvCache, LayerCache};
use super::linear::{Embedding, HostMatrix, Linear, Target, upload};
use super::rope::{self, HostRope};
use crate::error::Result;

/// Reads one weight by its HF name, with the shape config.json implies (checked by the loader).
pub(crate) trait WeightReader {
    /// Host data of `name`, row-major in `shape`.
    fn read(&mut self, name: &str, shape: &[usize]) -> crate::Result<Vec<f32>>;
    /// Whether the checkpoint has `name`.
    fn has(&self, name: &str) -> bool;
    /// A weight matrix `[rows, cols]` as stored: blocks where the checkpoint has blocks.
    fn read_matrix(&mut self, name: &str, shape: &[usize]) -> crate::Result<HostMatrix> {
        self.read(name, shape).map(HostMatrix::F32)
    }
    /// Values of quantized matrices (2-D block tensors) that [`WeightReader::read`] expanded to
    /// f32 so far: 0 on the quantized path.
    fn f32_from_blocks(&self) -> usize {
        0
    }
}

/// Reads `{prefix}.weight` (`[out, inp]`) and, with `bias`, `{prefix}.bias` as a layer.
fn linear(
    r: &mut dyn WeightReader,
    prefix: &str,
    out: usize,
    inp: usize,
    bias: bool,
    t: &Target<'_>,
) -> Result<Linear> {
    let w = r.read_matrix(&format!("{prefix}.weight"), &[out, inp])?;
    let b = if bias {
        Some(r.read(&format!("{prefix}.bias"), &[out])?)
    } else {
        None
    };
    Ok(Linear::new(w, out, inp, b, t))
}

/// Root-mean-square normalisation with a learnt scale (Zhang & Sennrich, 2019).
#[derive(Debug, Clone)]
pub(crate) struct RmsNorm {
    weight: Tensor<3>, // [1, 1, hidden]
    /// The same scale on the host, for the host path. `[hidden]`
    pub(super) host: Vec<f32>,
    pub(super) eps: f64,
}

impl RmsNorm {
    fn load(
        r: &mut dyn WeightReader,
        name: &str,
        hidden: usize,
        eps: f64,
        dev: &Device,
    ) -> crate::Result<Self> {
        let host = r.read(name, &[hidden])?;
        Ok(Self {
            weight: upload(host.clone(), [1, 1, hidden], dev),
            host,
            eps,
        })
    }

    /// Values held.
    fn len(&self) -> usize {
        self.host.len()
    }

    /// # Shapes
    /// - `x`: `[b, s, hidden]` → `[b, s, hidden]`
    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let rms = (x.clone().square().mean_dim(2) + self.eps).sqrt().recip(); // [b, s, 1]
        x * rms * self.weight.clone()
    }
}

/// Rotary position embedding tables, HF convention: the two halves of each head are rotated
/// against each other (`rotate_half` in modeling_llama.py).
#[derive(Debug, Clone)]
pub(crate) struct Rope {
    cos: Tensor<2>, // [max_pos, d]
    sin: Tensor<2>, // [max_pos, d]
}

impl Rope {
    fn new(inv_freq: &[f64], max_pos: usize, dev: &Device) -> Self {
        let d = inv_freq.len() * 2;
        let (cos, sin) = rope::tables(inv_freq, max_pos);
        Self {
            cos: upload(cos, [max_pos, d], dev),
            sin: upload(sin, [max_pos, d], dev),
        }
    }

    /// # Shapes
    /// - `x`: `[b, h, s, d]` → `[b, h, s, d]`, positions `start..start + s`
    fn apply(&self, x: Tensor<4>, start: usize) -> Tensor<4> {
        let [_, _, s, d] = x.dims();
        let cos = self.cos.clone().slice(start..start + s).unsqueeze::<4>(); // [1, 1, s, d]
        let sin = self.sin.clone().slice(start..start + s).unsqueeze::<4>();
        let x1 = x.clone().narrow(3, 0, d / 2);
        let x2 = x.clone().narrow(3, d / 2, d / 2);
        let rotated = Tensor::cat(vec![x2.neg(), x1], 3); // rotate_half(x)
        x * cos + rotated * sin
    }

    fn max_positions(&self) -> usize {
        self.cos.dims()[0]
    }

    /// Bytes of the two tables.
    fn bytes(&self) -> usize {
        2 * 4 * self.cos.dims().iter().product::<usize>()
    }
}

/// Multi-head attention with grouped key/value heads.
#[derive(Debug, Clone)]
pub(crate) struct Attention {
    pub(super) q_proj: Linear,
    pub(super) k_proj: Linear,
    pub(super) v_proj: Linear,
    pub(super) o_proj: Linear,
    pub(super) n_heads: usize,
    pub(super) n_kv: usize,
    pub(super) head_dim: usize,
}

impl Attention {
    fn load(
        r: &mut dyn WeightReader,
        prefix: &str,
        c: &ModelConfig,
        t: &Target<'_>,
    ) -> crate::Result<Self> {
        let (h, d, nh, nkv) = (
            c.hidden_size,
            c.head_dim(),
            c.num_attention_heads,
            c.n_kv_heads(),
        );
        let bias = c.qkv_bias();
        let o_bias = c.attention_bias && r.has(&format!("{prefix}.o_proj.bias"));
        Ok(Self {
            q_proj: linear(r, &format!("{prefix}.q_proj"), nh * d, h, bias, t)?,
            k_proj: linear(r, &format!("{prefix}.k_proj"), nkv * d, h, bias, t)?,
            v_proj: linear(r, &format!("{prefix}.v_proj"), nkv * d, h, bias, t)?,
            o_proj: linear(r, &format!("{prefix}.o_proj"), h, nh * d, o_bias, t)?,
            n_heads: nh,
            n_kv: nkv,
            head_dim: d,
        })
    }

    /// Splits the last axis into heads. `[b, s, n*d]` → `[b, n, s, d]`
    fn heads(&self, x: Tensor<3>, n: usize) -> Tensor<4> {
        let [b, s, _] = x.dims();
        x.reshape([b, s, n, self.head_dim]).swap_dims(1, 2)
    }

    /// Repeats each key/value head for the query heads that share it (HF `repeat_kv`).
    /// `[b, kv, t, d]` → `[b, kv * groups, t, d]`
    fn repeat_kv(&self, x: Tensor<4>) -> Tensor<4> {
        let groups = self.n_heads / self.n_kv;
        if groups == 1 {
            return x;
        }
        let [b, kv, t, d] = x.dims();
        x.unsqueeze_dim::<5>(2)
            .expand([b, kv, groups, t, d])
            .reshape([b, kv * groups, t, d])
    }

    /// # Shapes
    /// - `x`: `[b, s, hidden]` → `[b, s, hidden]`
    async fn forward(
        &self,
        x: Tensor<3>,
        rope: &Rope,
        cache: &mut LayerCache,
    ) -> Result<Tensor<3>> {
        let [b, s, _] = x.dims();
        let start = cache.len();
        let q = rope.apply(
            self.heads(self.q_proj.forward(x.clone()).await?, self.n_heads),
            start,
        ); // [b, h, s, d]
        let k = rope.apply(
            self.heads(self.k_proj.forward(x.clone()).await?, self.n_kv),
            start,
        ); // [b, kv, s, d]
        let v = self.heads(self.v_proj.forward(x).await?, self.n_kv); // [b, kv, s, d]
        let (k, v) = cache.append(k, v); // [b, kv, start + s, d]
        // Causal mask aligned bottom-right, so it also holds with a cache (burn's attention docs).
        let opts = AttentionModuleOptions {
            is_causal: s > 1,
            ..Default::default()
        };
        let y = attention(q, self.repeat_kv(k), self.repeat_kv(v), None, None, opts); // [b, h, s, d]
        self.o_proj
            .forward(
                y.swap_dims(1, 2)
                    .reshape([b, s, self.n_heads * self.head_dim]),
            )
            .await
    }
}

/// SwiGLU feed-forward: `down(silu(gate(x)) * up(x))`.
#[derive(Debug, Clone)]
pub(crate) struct Mlp {
    pub(super) gate_proj: Linear,
    pub(super) up_proj: Linear,
    pub(super) down_proj: Linear,
}

impl Mlp {
    fn load(
        r: &mut dyn WeightReader,
        prefix: &str,
        c: &ModelConfig,
        t: &Target<'_>,
    ) -> crate::Result<Self> {
        let (h, i) = (c.hidden_size, c.intermediate_size);
        Ok(Self {
            gate_proj: linear(r, &format!("{prefix}.gate_proj"), i, h, false, t)?,
            up_proj: linear(r, &format!("{prefix}.up_proj"), i, h, false, t)?,
            down_proj: linear(r, &format!("{prefix}.down_proj"), h, i, false, t)?,
        })
    }

    /// # Shapes
    /// - `x`: `[b, s, hidden]` → `[b, s, hidden]`
    async fn forward(&self, x: Tensor<3>) -> Result<Tensor<3>> {
        let gate = silu(self.gate_proj.forward(x.clone()).await?);
        let up = self.up_proj.forward(x).await?;
        self.down_proj.forward(gate * up).await
    }
}

/// One decoder layer.
#[derive(Debug, Clone)]
pub(crate) struct Block {
    pub(super) input_layernorm: RmsNorm,
    pub(super) self_attn: Attention,
    pub(super) post_attention_layernorm: RmsNorm,
    pub(super) mlp: Mlp,
}

impl Block {
    /// The block's seven matrices.
    pub(super) fn linears(&self) -> [&Linear; 7] {
        let (a, m) = (&self.self_attn, &self.mlp);
        [
            &a.q_proj,
            &a.k_proj,
            &a.v_proj,
            &a.o_proj,
            &m.gate_proj,
            &m.up_proj,
            &m.down_proj,
        ]
    }

    fn load(
        r: &mut dyn WeightReader,
        i: usize,
        c: &ModelConfig,
        t: &Target<'_>,
    ) -> crate::Result<Self> {
        let dev = t.dev;
        let p = format!("model.layers.{i}");
        let (h, eps) = (c.hidden_size, c.rms_norm_eps);
        Ok(Self {
            input_layernorm: RmsNorm::load(r, &format!("{p}.input_layernorm.weight"), h, eps, dev)?,
            self_attn: Attention::load(r, &format!("{p}.self_attn"), c, t)?,
            post_attention_layernorm: RmsNorm::load(
                r,
                &format!("{p}.post_attention_layernorm.weight"),
                h,
                eps,
                dev,
            )?,
            mlp: Mlp::load(r, &format!("{p}.mlp"), c, t)?,
        })
    }

    /// # Shapes
    /// - `x`: `[b, s, hidden]` → `[b, s, hidden]`
    async fn forward(
        &self,
        x: Tensor<3>,
        rope: &Rope,
        cache: &mut LayerCache,
    ) -> Result<Tensor<3>> {
        let attn = self
            .self_attn
            .forward(self.input_layernorm.forward(x.clone()), rope, cache)
            .await?;
        let x = x + attn;
        let mlp = self
            .mlp
            .forward(self.post_attention_layernorm.forward(x.clone()))
            .await?;
        Ok(x + mlp)
    }
}

/// What a loaded model holds, by the engine's own accounting.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct WeightStats {
    /// Bytes of every weight, norm and table the model keeps (host and device).
    pub bytes: usize,
    /// Matrices (and the embedding) held as the checkpoint's blocks.
    pub quantized: usize,
    /// Matrices (and the embedding) held as dense f32.
    pub dense: usize,
    /// Values of quantized matrices the loader expanded to f32 (0 on the quantized path).
    pub f32_from_blocks: usize,
}

/// The whole decoder.
#[derive(Debug, Clone)]
pub struct Llama {
    /// The embedding table stays on the host: a lookup is a row copy (or a decoded row of
    /// blocks), and the device keeps only what it multiplies with. `[vocab, hidden]`
    pub(super) embed_tokens: Embedding,
    pub(super) layers: Vec<Block>,
    pub(super) norm: RmsNorm,
    lm_head: Linear, // [vocab, hidden] as blocks, or [hidden, vocab] dense
    path: Path,
    pub(super) hidden: usize,
    vocab: usize,
    device: Device,
}

/// Which forward runs, with the RoPE tables it reads.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)] // one per model
enum Path {
    /// burn tensors on the device.
    Device(Rope),
    /// Host rows through kiln-shaders' kernels: every matrix is blocks on the CPU.
    Host(HostRope),
}

impl Llama {
    /// Loads every weight through `r` (HF names) onto `device`; `max_pos` sizes the RoPE table.
    /// `on_layer(done, total)` reports progress.
    pub(crate) fn load(
        r: &mut dyn WeightReader,
        c: &ModelConfig,
        inv_freq: &[f64],
        max_pos: usize,
        t: &Target<'_>,
        on_layer: &mut dyn FnMut(usize, usize),
    ) -> crate::Result<Self> {
        let device = t.dev;
        let (h, v) = (c.hidden_size, c.vocab_size);
        let total = c.num_hidden_layers + 2;
        let embed = r.read_matrix("model.embed_tokens.weight", &[v, h])?;
        on_layer(1, total);
        let mut layers = Vec::with_capacity(c.num_hidden_layers);
        for i in 0..c.num_hidden_layers {
            layers.push(Block::load(r, i, c, t)?);
            on_layer(i + 2, total);
        }
        let norm = RmsNorm::load(r, "model.norm.weight", h, c.rms_norm_eps, device)?;
        let tied = c.tie_word_embeddings || !r.has("lm_head.weight");
        let embed_tokens = Embedding::new(embed, t);
        let lm_head = match (&embed_tokens, tied) {
            (Embedding::Blocks(q), true) => Linear::shared(q.clone(), t),
            (Embedding::F32(e), true) => Linear::new(HostMatrix::F32(e.clone()), v, h, None, t),
            (_, false) => {
                let m = r.read_matrix("lm_head.weight", &[v, h])?;
                Linear::new(m, v, h, None, t)
            }
        };
        on_layer(total, total);
        // The host path needs every matrix as blocks; a checkpoint with dense matrices (or the
        // dense reference mode, or wgpu) runs on burn tensors.
        let all_blocks = matches!(embed_tokens, Embedding::Blocks(_))
            && lm_head.is_quant()
            && layers
                .iter()
                .all(|b| b.linears().iter().all(|l| l.is_quant()));
        let path = if all_blocks {
            Path::Host(HostRope::new(inv_freq, max_pos))
        } else {
            Path::Device(Rope::new(inv_freq, max_pos, device))
        };
        Ok(Self {
            embed_tokens,
            layers,
            norm,
            lm_head,
            path,
            hidden: h,
            vocab: v,
            device: device.clone(),
        })
    }

    /// What the model holds. A tied output head that shares the embedding's blocks is counted
    /// once; a dense copy of it is counted as what it is.
    pub fn weight_stats(&self) -> WeightStats {
        let mut st = WeightStats::default();
        let mut norms = self.norm.len();
        let mut add = |(bytes, quant): (usize, bool)| {
            st.bytes += bytes;
            if quant {
                st.quantized += 1;
            } else {
                st.dense += 1;
            }
        };
        add((
            self.embed_tokens.bytes(),
            matches!(self.embed_tokens, Embedding::Blocks(_)),
        ));
        for b in &self.layers {
            for l in b.linears() {
                add(l.held());
            }
            norms += b.input_layernorm.len() + b.post_attention_layernorm.len();
        }
        match (&self.lm_head, &self.embed_tokens) {
            (Linear::Quant { weight, .. }, Embedding::Blocks(e))
                if std::sync::Arc::ptr_eq(weight, e) => {}
            (head, _) => add(head.held()),
        }
        st.bytes += norms * 4
            + match &self.path {
                Path::Device(rope) => rope.bytes(),
                Path::Host(rope) => rope.bytes(),
            };
        st
    }

    /// Positions the RoPE table covers (the usable context).
    pub fn max_positions(&self) -> usize {
        match &self.path {
            Path::Device(rope) => rope.max_positions(),
            Path::Host(rope) => rope.max_positions(),
        }
    }

    /// Whether the forward runs on host rows (every matrix blocks on the CPU).
    pub fn on_host(&self) -> bool {
        matches!(self.path, Path::Host(_))
    }

    /// The host path's RoPE tables, when the model runs on host rows.
    pub(crate) fn host_rope(&self) -> Option<&HostRope> {
        match &self.path {
            Path::Host(rope) => Some(rope),
            Path::Device(_) => None,
        }
    }

    /// The embedding rows of `tokens` (ids checked by the caller). `[b, s, hidden]`
    pub(crate) fn embed(&self, tokens: &[Vec<u32>]) -> Vec<f32> {
        let mut rows = Vec::with_capacity(tokens.iter().map(Vec::len).sum::<usize>() * self.hidden);
        for &t in tokens.iter().flatten() {
            self.embed_tokens
                .push_row(t as usize, self.hidden, &mut rows);
        }
        rows
    }

    /// Hidden rows `[b, s, hidden]` as a tensor on the model's device.
    pub(crate) fn to_device(&self, rows: Vec<f32>, b: usize, s: usize) -> Tensor<3> {
        upload(rows, [b, s, self.hidden], &self.device)
    }

    /// Vocabulary size (columns of the logits).
    pub fn vocab_size(&self) -> usize {
        self.vocab
    }

    /// Runs the decoder on burn tensors (the device path; a model on the host path runs
    /// [`super::host::forward`]) over `tokens` (each lane the same length), appending to
    /// `cache`, and returns the final-norm hidden states. Token ids must be `< vocab_size` and positions must
    /// fit the RoPE table (the caller checks both).
    ///
    /// # Shapes
    /// - `tokens`: `b` lanes of `s` ids → `[b, s, hidden]`
    pub async fn forward(&self, tokens: &[Vec<u32>], cache: &mut KvCache) -> Result<Tensor<3>> {
        let (b, s) = (tokens.len(), tokens.first().map_or(0, Vec::len));
        let Path::Device(rope) = &self.path else {
            return Err(crate::Error::Kernel(
                "the device forward on a model loaded for the host path".into(),
            ));
        };
        let rows = self.embed(tokens);
        let mut x = upload(rows, [b, s, self.hidden], &self.device); // [b, s, hidden]
        for (block, layer_cache) in self.layers.iter().zip(cache.layers.iter_mut()) {
            x = block.forward(x, rope, layer_cache).await?;
        }
        Ok(self.norm.forward(x))
    }

    /// Output head.
    ///
    /// # Shapes
    /// - `h`: `[b, s, hidden]` → `[b, s, vocab]`
    pub async fn logits(&self, h: Tensor<3>) -> Result<Tensor<3>> {
        self.lm_head.forward(h).await
    }
}
