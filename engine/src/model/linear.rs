//! Weight matrices as the model holds them: dense tensors on the device, or the checkpoint's own
//! quantized blocks on the host, multiplied by kiln-shaders' CPU kernel without an f32 copy.
//!
//! On the CPU backend a GGUF block tensor stays as blocks ([`Linear::Quant`], and the token
//! embedding as [`Embedding::Blocks`], rows decoded on lookup; a tied output head shares the
//! embedding's blocks). On wgpu (until its own quantized kernels exist) and with
//! [`WeightMode::Dense`] every matrix is dequantized to an f32 tensor, the reference path.

use std::cell::Cell;
use std::sync::Arc;

use burn::prelude::*;
use kiln_shaders::blocks::{self, BlockType};
use kiln_shaders::cpu::{self, QMatrix};
use kiln_shaders::q8;

use crate::error::{Error, Result};

/// How weight matrices are held.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum WeightMode {
    /// Quantized blocks stay blocks on the CPU backend (the default).
    #[default]
    Quantized,
    /// Every matrix dequantized to f32 (the reference path; always so on wgpu for now).
    Dense,
}

/// What the CPU kernels multiply quantized matrices with.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Activations {
    /// f32 activations against the decoded weights (the default).
    #[default]
    F32,
    /// Activations quantized to 8 bits per block of 32 and integer dot products (llama.cpp's
    /// design; faster, and it moves the logits: `docs/PERFORMANCE.md`).
    Q8,
}

/// A weight matrix as read from a checkpoint, `[rows, cols]` row-major.
pub(crate) enum HostMatrix {
    /// f32 values.
    F32(Vec<f32>),
    /// GGUF blocks, each row `cols / ty.values()` blocks.
    Blocks(QuantWeight),
}

/// A quantized matrix on the host.
#[derive(Debug, Clone)]
pub struct QuantWeight {
    ty: BlockType,
    rows: usize,
    cols: usize,
    data: Vec<u8>,
}

impl QuantWeight {
    /// Checks that `data` holds `rows` rows of `cols` values of `ty`; `Err` says why not.
    pub(crate) fn new(
        ty: BlockType,
        rows: usize,
        cols: usize,
        data: Vec<u8>,
    ) -> std::result::Result<Self, String> {
        QMatrix::new(ty, rows, cols, &data).map_err(|e| e.to_string())?;
        Ok(Self {
            ty,
            rows,
            cols,
            data,
        })
    }

    fn matrix(&self) -> QMatrix<'_> {
        QMatrix {
            ty: self.ty,
            rows: self.rows,
            cols: self.cols,
            data: &self.data,
        }
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.data.len()
    }

    /// All rows as f32 (only for the dense path).
    fn to_f32(&self) -> Vec<f32> {
        let mut out = vec![0.0; self.rows * self.cols];
        // Lengths were checked in `new`.
        let _ = blocks::decode(self.ty, &self.data, &mut out);
        out
    }
}

impl HostMatrix {
    /// f32 values (decoding blocks, counted in `expanded`).
    pub(crate) fn into_f32(self, expanded: &Cell<usize>) -> Vec<f32> {
        match self {
            Self::F32(v) => v,
            Self::Blocks(q) => {
                expanded.set(expanded.get() + q.rows * q.cols);
                q.to_f32()
            }
        }
    }
}

/// Where weights go: the device, whether matrices stay quantized, and how many values of
/// quantized matrices were expanded to f32 on the way.
pub(crate) struct Target<'a> {
    pub dev: &'a Device,
    pub mode: WeightMode,
    pub activations: Activations,
    pub expanded: Cell<usize>,
}

/// Uploads host data as a tensor.
pub(crate) fn upload<const D: usize>(
    data: Vec<f32>,
    shape: [usize; D],
    device: &Device,
) -> Tensor<D> {
    Tensor::from_data(TensorData::new(data, shape), device)
}

/// Transposes a row-major `[rows, cols]` matrix on the host.
fn transpose(data: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0; data.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = data[r * cols + c];
        }
    }
    out
}

/// `y = x Wᵀ + b`.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)] // a few hundred layers per model: size does not matter
pub(crate) enum Linear {
    /// W stored transposed (`[in, out]`) on the device, so that it is a plain matmul.
    Dense {
        weight: Tensor<2>,
        bias: Option<Tensor<2>>, // [1, out]
    },
    /// The checkpoint's blocks on the host (`[out, in]`), CPU backend only.
    Quant {
        weight: Arc<QuantWeight>,
        bias: Option<Vec<f32>>,
        activations: Activations,
        device: Device,
    },
}

impl Linear {
    /// A layer from a host matrix `[out, inp]`: blocks stay blocks when `mode` allows it.
    pub(crate) fn new(
        m: HostMatrix,
        out: usize,
        inp: usize,
        bias: Option<Vec<f32>>,
        t: &Target<'_>,
    ) -> Self {
        match (m, t.mode) {
            (HostMatrix::Blocks(q), WeightMode::Quantized) => Self::Quant {
                weight: Arc::new(q),
                bias,
                activations: t.activations,
                device: t.dev.clone(),
            },
            (m, _) => Self::Dense {
                weight: upload(
                    transpose(&m.into_f32(&t.expanded), out, inp),
                    [inp, out],
                    t.dev,
                ),
                bias: bias.map(|b| upload(b, [1, out], t.dev)),
            },
        }
    }

    /// A layer sharing the embedding's blocks (tied output head).
    pub(crate) fn shared(weight: Arc<QuantWeight>, t: &Target<'_>) -> Self {
        Self::Quant {
            weight,
            bias: None,
            activations: t.activations,
            device: t.dev.clone(),
        }
    }

    /// Whether the layer holds blocks (and so runs on the host path).
    pub(crate) fn is_quant(&self) -> bool {
        matches!(self, Self::Quant { .. })
    }

    /// Output features.
    fn out_features(&self) -> usize {
        match self {
            Self::Dense { weight, .. } => weight.dims()[1],
            Self::Quant { weight, .. } => weight.rows,
        }
    }

    /// # Shapes
    /// - `x`: `[b, s, in]` → `[b, s, out]`
    pub(crate) async fn forward(&self, x: Tensor<3>) -> Result<Tensor<3>> {
        let [b, s, inp] = x.dims();
        let out = self.out_features();
        match self {
            Self::Dense { weight, bias } => {
                let y = x.reshape([b * s, inp]).matmul(weight.clone()); // [b*s, out]
                let y = match bias {
                    Some(bias) => y + bias.clone(),
                    None => y,
                };
                Ok(y.reshape([b, s, out]))
            }
            Self::Quant { device, .. } => {
                // Asynchronous like every read in the engine: in wasm nothing may block.
                let xs = x
                    .into_data_async()
                    .await
                    .map_err(|e| Error::Readback(format!("{e:?}")))?
                    .try_into_vec::<f32>()
                    .map_err(|e| Error::Readback(format!("{e:?}")))?;
                let y = cpu::on_pool(|| self.apply_host(&xs))?;
                Ok(upload(y, [b, s, out], device))
            }
        }
    }

    /// `y = x Wᵀ + b` over host rows with kiln-shaders' kernel (the CPU path; blocks only).
    ///
    /// # Shapes
    /// - `x`: `[m, in]` → `[m, out]`
    pub(crate) fn apply_host(&self, x: &[f32]) -> Result<Vec<f32>> {
        let Self::Quant {
            weight,
            bias,
            activations,
            ..
        } = self
        else {
            return Err(Error::Kernel("a dense layer on the host path".into()));
        };
        let out = weight.rows;
        let mut y = vec![0.0f32; x.len() / weight.cols.max(1) * out];
        match activations {
            Activations::F32 => cpu::matmul(&weight.matrix(), x, &mut y),
            Activations::Q8 => q8::matmul_q8(&weight.matrix(), x, &mut y),
        }
        .map_err(|e| Error::Kernel(e.to_string()))?;
        if let Some(bias) = bias {
            for row in y.chunks_exact_mut(out) {
                for (v, b) in row.iter_mut().zip(bias) {
                    *v += b;
                }
            }
        }
        Ok(y)
    }

    /// What the layer holds: (bytes, whether it is blocks).
    pub(crate) fn held(&self) -> (usize, bool) {
        match self {
            Self::Dense { weight, bias } => {
                let n = weight.dims().iter().product::<usize>()
                    + bias.as_ref().map_or(0, |b| b.dims()[1]);
                (n * 4, false)
            }
            Self::Quant { weight, bias, .. } => (
                weight.bytes() + bias.as_ref().map_or(0, |b| b.len() * 4),
                true,
            ),
        }
    }
}

/// The token embedding, on the host: a lookup is a row copy (or a row decoded from blocks).
#[derive(Debug, Clone)]
pub(crate) enum Embedding {
    /// `[vocab, hidden]` f32.
    F32(Vec<f32>),
    /// The checkpoint's blocks.
    Blocks(Arc<QuantWeight>),
}

impl Embedding {
    pub(crate) fn new(m: HostMatrix, t: &Target<'_>) -> Self {
        match (m, t.mode) {
            (HostMatrix::Blocks(q), WeightMode::Quantized) => Self::Blocks(Arc::new(q)),
            (m, _) => Self::F32(m.into_f32(&t.expanded)),
        }
    }

    /// Appends row `t` (`< vocab`, checked by the caller) to `out`.
    pub(crate) fn push_row(&self, t: usize, hidden: usize, out: &mut Vec<f32>) {
        match self {
            Self::F32(v) => out.extend_from_slice(&v[t * hidden..(t + 1) * hidden]),
            Self::Blocks(q) => {
                let at = out.len();
                out.resize(at + hidden, 0.0);
                q.matrix().decode_row(t, &mut out[at..]);
            }
        }
    }

    /// Bytes held.
    pub(crate) fn bytes(&self) -> usize {
        match self {
            Self::F32(v) => v.len() * 4,
            Self::Blocks(q) => q.bytes(),
        }
    }
}
