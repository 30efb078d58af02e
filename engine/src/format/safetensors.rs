//! safetensors reader (Hugging Face checkpoints): an 8-byte little-endian header length, a JSON
//! header `{name: {dtype, shape, data_offsets}}`, then the data. Reference: the safetensors
//! format description in huggingface/safetensors README. F32, F16 and BF16 are decoded.

use std::collections::BTreeMap;

use half::{bf16, f16};
use serde::Deserialize;

use crate::error::{Error, Result};

/// Headers larger than this are rejected (the format's own reference implementation uses 100 MB).
const MAX_HEADER: u64 = 100_000_000;

/// Element type of a safetensors tensor that kiln decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dtype {
    /// 32-bit float.
    F32,
    /// IEEE half.
    F16,
    /// bfloat16.
    BF16,
}

impl Dtype {
    fn size(self) -> usize {
        match self {
            Dtype::F32 => 4,
            Dtype::F16 | Dtype::BF16 => 2,
        }
    }
}

/// One tensor of a safetensors file.
#[derive(Debug, Clone)]
pub struct StInfo {
    /// Shape, row-major.
    pub shape: Vec<usize>,
    /// Element type.
    pub dtype: Dtype,
    /// Absolute byte range in the file.
    pub start: usize,
    /// End of the range (exclusive).
    pub end: usize,
}

#[derive(Deserialize)]
struct RawInfo {
    dtype: String,
    shape: Vec<u64>,
    data_offsets: [u64; 2],
}

/// A parsed safetensors header.
#[derive(Debug, Clone)]
pub struct SafeTensors {
    /// File name for error messages.
    pub file: String,
    /// Tensors by name.
    pub tensors: BTreeMap<String, StInfo>,
}

impl SafeTensors {
    /// Parses and checks the header of one safetensors file.
    pub fn parse(file: &str, bytes: &[u8]) -> Result<Self> {
        let bad = |reason: String| Error::BadSafetensors {
            file: file.to_string(),
            reason,
        };
        let Some(len) = bytes.get(..8) else {
            return Err(Error::Truncated {
                file: file.to_string(),
                offset: 0,
                needed: 8,
                len: bytes.len(),
            });
        };
        let n = u64::from_le_bytes([
            len[0], len[1], len[2], len[3], len[4], len[5], len[6], len[7],
        ]);
        if n > MAX_HEADER || 8 + n > bytes.len() as u64 {
            return Err(bad(format!(
                "header length {n} does not fit in the {} bytes of the file",
                bytes.len()
            )));
        }
        let data_start = 8 + n as usize;
        let header: BTreeMap<String, serde_json::Value> =
            serde_json::from_slice(&bytes[8..data_start])
                .map_err(|e| bad(format!("header is not a JSON object: {e}")))?;
        let data_len = (bytes.len() - data_start) as u64;
        let mut tensors = BTreeMap::new();
        for (name, value) in header {
            if name == "__metadata__" {
                continue;
            }
            let raw: RawInfo =
                serde_json::from_value(value).map_err(|e| bad(format!("tensor `{name}`: {e}")))?;
            let dtype = match raw.dtype.as_str() {
                "F32" => Dtype::F32,
                "F16" => Dtype::F16,
                "BF16" => Dtype::BF16,
                other => {
                    return Err(bad(format!(
                        "tensor `{name}` has dtype {other}, which is not supported (supported: F32, F16, BF16)"
                    )));
                }
            };
            let numel = raw.shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d));
            let [begin, end] = raw.data_offsets;
            let expected = numel.and_then(|n| n.checked_mul(dtype.size() as u64));
            if end < begin {
                return Err(bad(format!(
                    "tensor `{name}` has data_offsets [{begin}, {end}): its end precedes its begin"
                )));
            }
            let Some(expected) = expected else {
                return Err(bad(format!(
                    "tensor `{name}` has shape {:?}, whose size overflows",
                    raw.shape
                )));
            };
            if expected != end - begin {
                return Err(bad(format!(
                    "tensor `{name}` of shape {:?} {} needs {expected} bytes but its offsets [{begin}, {end}) span {}",
                    raw.shape,
                    raw.dtype,
                    end - begin
                )));
            }
            if end > data_len {
                return Err(Error::TensorOutOfBounds {
                    file: file.to_string(),
                    name,
                    start: begin,
                    end,
                    len: bytes.len(),
                });
            }
            let shape = raw.shape.iter().map(|&d| d as usize).collect();
            let info = StInfo {
                shape,
                dtype,
                start: data_start + begin as usize,
                end: data_start + end as usize,
            };
            tensors.insert(name, info);
        }
        Ok(Self {
            file: file.to_string(),
            tensors,
        })
    }

    /// Decodes a tensor to f32.
    pub fn to_f32(&self, bytes: &[u8], name: &str, info: &StInfo) -> Result<Vec<f32>> {
        let data = bytes
            .get(info.start..info.end)
            .ok_or_else(|| Error::TensorOutOfBounds {
                file: self.file.clone(),
                name: name.to_string(),
                start: info.start as u64,
                end: info.end as u64,
                len: bytes.len(),
            })?;
        Ok(match info.dtype {
            Dtype::F32 => data
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            Dtype::F16 => data
                .chunks_exact(2)
                .map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            Dtype::BF16 => data
                .chunks_exact(2)
                .map(|b| bf16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
        })
    }
}

/// The shard list of a sharded checkpoint (`model.safetensors.index.json`).
#[derive(Debug, Clone, Deserialize)]
pub struct ShardIndex {
    /// Tensor name → shard file name.
    pub weight_map: BTreeMap<String, String>,
}

impl ShardIndex {
    /// Parses an index file.
    pub fn parse(file: &str, bytes: &[u8]) -> Result<Self> {
        serde_json::from_slice(bytes).map_err(|e| Error::BadSafetensors {
            file: file.to_string(),
            reason: format!("invalid index: {e}"),
        })
    }

    /// The shard files, each once, in a stable order.
    pub fn shards(&self) -> Vec<String> {
        let mut s: Vec<String> = self.weight_map.values().cloned().collect();
        s.sort();
        s.dedup();
        s
    }
}
