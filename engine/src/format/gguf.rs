//! GGUF reader: header, metadata, tensor table and decoding of F32, F16, BF16 and the quantized
//! block types Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K (their one decoder each lives in
//! `kiln_shaders::blocks`). Reference: ggml/docs/gguf.md.
//!
//! The reader works on bytes and checks every count, length and offset against what is left in
//! the file before it allocates anything, so a corrupt or hostile file gives an [`Error`] and
//! never a huge allocation or a panic.

use std::collections::BTreeMap;

use half::{bf16, f16};
use kiln_shaders::blocks::{self, BlockType};

use crate::error::{Error, Result};

const MAGIC: &[u8; 4] = b"GGUF";
const DEFAULT_ALIGNMENT: u64 = 32;
/// ggml tensors have at most four dimensions.
const MAX_DIMS: u32 = 4;

/// One metadata value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Any of the integer types (u8 … i64), widened.
    Int(i64),
    /// u64 values above `i64::MAX` keep their own variant.
    UInt(u64),
    /// f32 or f64.
    Float(f64),
    /// bool.
    Bool(bool),
    /// UTF-8 string (invalid UTF-8 is replaced, never rejected: names are informational).
    Str(String),
    /// Array of values.
    Array(Vec<Value>),
}

impl Value {
    /// The value as an unsigned integer, if it is a non-negative integer.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::Int(i) if i >= 0 => Some(i as u64),
            Value::UInt(u) => Some(u),
            _ => None,
        }
    }

    /// The value as a float, if it is numeric.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::Float(f) => Some(f),
            Value::Int(i) => Some(i as f64),
            Value::UInt(u) => Some(u as f64),
            _ => None,
        }
    }

    /// The value as a string slice, if it is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The value as a bool, if it is one.
    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }

    /// The value as an array, if it is one.
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }
}

/// The tensor element/block types kiln decodes (ggml_type ids).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TensorType {
    /// 32-bit float.
    F32,
    /// IEEE half.
    F16,
    /// bfloat16.
    BF16,
    /// One of GGUF's quantized block types (Q4_0 … Q6_K).
    Block(BlockType),
}

impl TensorType {
    fn from_ggml(id: u32) -> Option<Self> {
        Some(match id {
            0 => Self::F32,
            1 => Self::F16,
            30 => Self::BF16,
            _ => return BlockType::from_ggml(id).map(Self::Block),
        })
    }

    /// (elements per block, bytes per block)
    fn block(self) -> (u64, u64) {
        match self {
            Self::F32 => (1, 4),
            Self::F16 | Self::BF16 => (1, 2),
            Self::Block(b) => (b.values() as u64, b.bytes() as u64),
        }
    }

    /// The name llama.cpp uses.
    pub fn name(self) -> &'static str {
        match self {
            Self::F32 => "F32",
            Self::F16 => "F16",
            Self::BF16 => "BF16",
            Self::Block(b) => b.name(),
        }
    }
}

/// The ggml name of a type id, for error messages about types we do not decode.
fn ggml_type_name(id: u32) -> String {
    const NAMES: [&str; 40] = [
        "F32",
        "F16",
        "Q4_0",
        "Q4_1",
        "Q4_2",
        "Q4_3",
        "Q5_0",
        "Q5_1",
        "Q8_0",
        "Q8_1",
        "Q2_K",
        "Q3_K",
        "Q4_K",
        "Q5_K",
        "Q6_K",
        "Q8_K",
        "IQ2_XXS",
        "IQ2_XS",
        "IQ3_XXS",
        "IQ1_S",
        "IQ4_NL",
        "IQ3_S",
        "IQ2_S",
        "IQ4_XS",
        "I8",
        "I16",
        "I32",
        "I64",
        "F64",
        "IQ1_M",
        "BF16",
        "Q4_0_4_4",
        "Q4_0_4_8",
        "Q4_0_8_8",
        "TQ1_0",
        "TQ2_0",
        "IQ4_NL_4_4",
        "IQ4_NL_4_8",
        "IQ4_NL_8_8",
        "MXFP4",
    ];
    NAMES
        .get(id as usize)
        .map_or_else(|| "unknown".to_string(), |n| n.to_string())
}

/// One entry of the tensor table.
#[derive(Debug, Clone)]
pub struct TensorInfo {
    /// Tensor name as stored (llama.cpp naming, e.g. `blk.0.attn_q.weight`).
    pub name: String,
    /// Shape in row-major order (outermost first): ggml's `ne` reversed. A weight stored with
    /// `ne = [in, out]` is `[out, in]` here, as in PyTorch.
    pub shape: Vec<usize>,
    /// Element/block type.
    pub ty: TensorType,
    /// Byte range inside the file.
    pub start: usize,
    /// End of the byte range (exclusive).
    pub end: usize,
}

impl TensorInfo {
    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
}

/// A parsed GGUF file: metadata and tensor table. Tensor data stays in the caller's bytes.
#[derive(Debug, Clone)]
pub struct Gguf {
    /// File name used in error messages.
    pub file: String,
    /// GGUF version (2 or 3).
    pub version: u32,
    /// All metadata key/values.
    pub metadata: BTreeMap<String, Value>,
    /// Tensors in file order.
    pub tensors: Vec<TensorInfo>,
}

struct Cursor<'a> {
    file: &'a str,
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        let Some(end) = end else {
            return Err(Error::Truncated {
                file: self.file.to_string(),
                offset: self.pos,
                needed: n,
                len: self.bytes.len(),
            });
        };
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// A count of items that each take at least `min_item_bytes`: rejected if the rest of the
    /// file cannot hold that many, so that no allocation is sized by a hostile number.
    fn count(&mut self, what: &str, min_item_bytes: usize) -> Result<usize> {
        let at = self.pos;
        let n = self.u64()?;
        let fits = usize::try_from(n)
            .ok()
            .and_then(|n| n.checked_mul(min_item_bytes))
            .is_some_and(|b| b <= self.remaining());
        if !fits {
            return Err(Error::BadGguf {
                file: self.file.to_string(),
                reason: format!(
                    "{what} count {n} at offset {at} cannot fit in the {} bytes left",
                    self.remaining()
                ),
            });
        }
        Ok(n as usize)
    }

    fn string(&mut self) -> Result<String> {
        let n = self.count("string length", 1)?;
        Ok(String::from_utf8_lossy(self.take(n)?).into_owned())
    }

    fn value(&mut self, ty: u32, depth: u32) -> Result<Value> {
        Ok(match ty {
            0 => Value::Int(i64::from(self.array::<1>()?[0])),
            1 => Value::Int(i64::from(self.array::<1>()?[0] as i8)),
            2 => Value::Int(i64::from(u16::from_le_bytes(self.array()?))),
            3 => Value::Int(i64::from(i16::from_le_bytes(self.array()?))),
            4 => Value::Int(i64::from(self.u32()?)),
            5 => Value::Int(i64::from(i32::from_le_bytes(self.array()?))),
            6 => Value::Float(f64::from(f32::from_le_bytes(self.array()?))),
            7 => Value::Bool(self.array::<1>()?[0] != 0),
            8 => Value::Str(self.string()?),
            9 => {
                if depth > 2 {
                    return Err(self.bad(format!("arrays nested deeper than {depth}")));
                }
                let item = self.u32()?;
                let n = self.count("array length", value_min_size(item))?;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(self.value(item, depth + 1)?);
                }
                Value::Array(items)
            }
            10 => {
                let u = self.u64()?;
                i64::try_from(u).map_or(Value::UInt(u), Value::Int)
            }
            11 => Value::Int(i64::from_le_bytes(self.array()?)),
            12 => Value::Float(f64::from_le_bytes(self.array()?)),
            other => return Err(self.bad(format!("unknown metadata value type {other}"))),
        })
    }

    fn bad(&self, reason: String) -> Error {
        Error::BadGguf {
            file: self.file.to_string(),
            reason: format!("{reason} (offset {})", self.pos),
        }
    }
}

/// The fewest bytes a metadata value of this type occupies (for bounding array lengths).
fn value_min_size(ty: u32) -> usize {
    match ty {
        0 | 1 | 7 => 1,
        2 | 3 => 2,
        4..=6 => 4,
        _ => 8,
    }
}

impl Gguf {
    /// Parses the header, metadata and tensor table of a GGUF v2/v3 file.
    pub fn parse(file: &str, bytes: &[u8]) -> Result<Self> {
        let mut c = Cursor {
            file,
            bytes,
            pos: 0,
        };
        let magic = c.take(4)?;
        if magic != MAGIC {
            return Err(Error::BadGguf {
                file: file.to_string(),
                reason: format!("wrong magic {magic:02x?}, expected \"GGUF\""),
            });
        }
        let version = c.u32()?;
        if !(2..=3).contains(&version) {
            return Err(Error::BadGguf {
                file: file.to_string(),
                reason: format!("version {version} is not supported (supported: 2, 3)"),
            });
        }
        // A tensor entry is at least: name length (8) + n_dims (4) + type (4) + offset (8).
        let n_tensors = c.count("tensor", 24)?;
        // A metadata entry is at least: key length (8) + value type (4) + 1 byte of value.
        let n_kv = c.count("metadata", 13)?;

        let mut metadata = BTreeMap::new();
        for _ in 0..n_kv {
            let key = c.string()?;
            let ty = c.u32()?;
            let value = c.value(ty, 0)?;
            // Two values for one key: which one the writer meant is a guess kiln does not make.
            if metadata.contains_key(&key) {
                return Err(c.bad(format!("metadata key `{key}` appears twice")));
            }
            metadata.insert(key, value);
        }

        let mut raw = Vec::with_capacity(n_tensors);
        for _ in 0..n_tensors {
            let name = c.string()?;
            let n_dims = c.u32()?;
            if n_dims == 0 || n_dims > MAX_DIMS {
                return Err(c.bad(format!(
                    "tensor `{name}` has {n_dims} dimensions (1..=4 allowed)"
                )));
            }
            let mut ne = Vec::with_capacity(n_dims as usize);
            for _ in 0..n_dims {
                ne.push(c.u64()?);
            }
            let ty = c.u32()?;
            let offset = c.u64()?;
            raw.push((name, ne, ty, offset));
        }

        let alignment = match metadata.get("general.alignment") {
            None => DEFAULT_ALIGNMENT,
            Some(v) => match v.as_u64() {
                Some(a) if a > 0 && a.is_power_of_two() => a,
                _ => return Err(c.bad(format!("general.alignment {v:?} is not a power of two"))),
            },
        };
        let data_start = (c.pos as u64).div_ceil(alignment) * alignment;

        let mut tensors: Vec<TensorInfo> = Vec::with_capacity(raw.len());
        let mut names = std::collections::BTreeSet::new();
        for (name, ne, ty_id, offset) in raw {
            if !names.insert(name.clone()) {
                return Err(c.bad(format!("tensor `{name}` appears twice in the tensor table")));
            }
            // GGUF places every tensor at a multiple of general.alignment; an offset off it means
            // the table and the data disagree (reading it would shift every weight).
            if !offset.is_multiple_of(alignment) {
                return Err(c.bad(format!(
                    "tensor `{name}` has offset {offset}, not a multiple of general.alignment {alignment}"
                )));
            }
            let Some(ty) = TensorType::from_ggml(ty_id) else {
                return Err(Error::UnsupportedTensorType {
                    file: file.to_string(),
                    name,
                    ggml_type: ty_id,
                    type_name: ggml_type_name(ty_id),
                });
            };
            let numel = ne.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d));
            let (block_elems, block_bytes) = ty.block();
            let size = numel.and_then(|n| {
                (n % block_elems == 0 && ne[0] % block_elems == 0)
                    .then(|| n / block_elems * block_bytes)
            });
            let Some(size) = size else {
                return Err(c.bad(format!(
                    "tensor `{name}` has dimensions {ne:?} that overflow or do not fit {} blocks",
                    ty.name()
                )));
            };
            let start = data_start.checked_add(offset);
            let end = start.and_then(|s| s.checked_add(size));
            let (start, end) = match (start, end) {
                (Some(s), Some(e)) if e <= bytes.len() as u64 => (s as usize, e as usize),
                _ => {
                    return Err(Error::TensorOutOfBounds {
                        file: file.to_string(),
                        name,
                        start: start.unwrap_or(u64::MAX),
                        end: end.unwrap_or(u64::MAX),
                        len: bytes.len(),
                    });
                }
            };
            let shape = ne.iter().rev().map(|&d| d as usize).collect();
            tensors.push(TensorInfo {
                name,
                shape,
                ty,
                start,
                end,
            });
        }
        Ok(Self {
            file: file.to_string(),
            version,
            metadata,
            tensors,
        })
    }

    /// The tensor called `name`, if present.
    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.tensors.iter().find(|t| t.name == name)
    }

    /// A metadata value.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.metadata.get(key)
    }

    /// A required string value.
    pub fn str(&self, key: &str) -> Result<&str> {
        self.get(key)
            .and_then(Value::as_str)
            .ok_or_else(|| self.missing(key, "a string"))
    }

    /// A required unsigned integer value.
    pub fn u64(&self, key: &str) -> Result<u64> {
        self.get(key)
            .and_then(Value::as_u64)
            .ok_or_else(|| self.missing(key, "an unsigned integer"))
    }

    /// A required float value.
    pub fn f64(&self, key: &str) -> Result<f64> {
        self.get(key)
            .and_then(Value::as_f64)
            .ok_or_else(|| self.missing(key, "a number"))
    }

    fn missing(&self, key: &str, what: &str) -> Error {
        Error::Config {
            file: self.file.clone(),
            reason: format!("metadata `{key}` missing or not {what}"),
        }
    }

    /// Decodes a tensor to f32, row-major in [`TensorInfo::shape`] order.
    pub fn dequantize(&self, bytes: &[u8], t: &TensorInfo) -> Result<Vec<f32>> {
        let data = bytes
            .get(t.start..t.end)
            .ok_or_else(|| Error::TensorOutOfBounds {
                file: self.file.clone(),
                name: t.name.clone(),
                start: t.start as u64,
                end: t.end as u64,
                len: bytes.len(),
            })?;
        dequantize(t.ty, data, t.numel()).map_err(|e| self.bad_tensor(t, e))
    }

    fn bad_tensor(&self, t: &TensorInfo, e: blocks::LengthError) -> Error {
        Error::BadGguf {
            file: self.file.clone(),
            reason: format!("tensor `{}`: {e}", t.name),
        }
    }
}

/// Decodes `n` elements of type `ty` from `data` (whose length the tensor table has checked).
pub fn dequantize(
    ty: TensorType,
    data: &[u8],
    n: usize,
) -> std::result::Result<Vec<f32>, blocks::LengthError> {
    Ok(match ty {
        TensorType::F32 => data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        TensorType::F16 => data
            .chunks_exact(2)
            .map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        TensorType::BF16 => data
            .chunks_exact(2)
            .map(|b| bf16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        TensorType::Block(b) => {
            let mut out = vec![0.0; n];
            blocks::decode(b, data, &mut out)?;
            out
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f16_and_bf16_decode() {
        let h: Vec<u8> = [1.5f32, -2.0]
            .iter()
            .flat_map(|&x| f16::from_f32(x).to_le_bytes())
            .collect();
        assert_eq!(
            dequantize(TensorType::F16, &h, 2).ok(),
            Some(vec![1.5, -2.0])
        );
        let b: Vec<u8> = [0.15625f32, -3.0]
            .iter()
            .flat_map(|&x| bf16::from_f32(x).to_le_bytes())
            .collect();
        assert_eq!(
            dequantize(TensorType::BF16, &b, 2).ok(),
            Some(vec![0.15625, -3.0])
        );
    }
}
