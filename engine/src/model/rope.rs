//! Rotary position embedding tables (Su et al., "RoFormer", 2021), Hugging Face's convention:
//! each frequency twice, once for the first half of a head and once for the second
//! (`rotate_half` in modeling_llama.py). Built once per model for the usable context; the device
//! path uploads them ([`super::llama`]), the host path reads them in place ([`super::host`]).

use crate::error::{Error, Result};

/// The cos and sin tables, `[max_pos, d]` each: every frequency twice, once for the first half
/// of a head and once for the second.
pub(super) fn tables(inv_freq: &[f64], max_pos: usize) -> (Vec<f32>, Vec<f32>) {
    let d = inv_freq.len() * 2;
    let mut cos = Vec::with_capacity(max_pos * d);
    let mut sin = Vec::with_capacity(max_pos * d);
    for p in 0..max_pos {
        for _ in 0..2 {
            cos.extend(inv_freq.iter().map(|f| (p as f64 * f).cos() as f32));
            sin.extend(inv_freq.iter().map(|f| (p as f64 * f).sin() as f32));
        }
    }
    (cos, sin)
}

/// RoPE tables on the host. `[max_pos, d]` each.
#[derive(Debug, Clone)]
pub(crate) struct HostRope {
    cos: Vec<f32>,
    sin: Vec<f32>,
    d: usize,
}

impl HostRope {
    pub(super) fn new(inv_freq: &[f64], max_pos: usize) -> Self {
        let (cos, sin) = tables(inv_freq, max_pos);
        Self {
            cos,
            sin,
            d: inv_freq.len() * 2,
        }
    }

    /// Positions covered.
    pub(super) fn max_positions(&self) -> usize {
        self.cos.len() / self.d.max(1)
    }

    /// Bytes of the two tables.
    pub(super) fn bytes(&self) -> usize {
        (self.cos.len() + self.sin.len()) * 4
    }

    /// The cos and sin rows of position `p` (`< max_positions`, checked by the caller).
    pub(super) fn at(&self, p: usize) -> Result<(&[f32], &[f32])> {
        let r = p * self.d..(p + 1) * self.d;
        match (self.cos.get(r.clone()), self.sin.get(r)) {
            (Some(c), Some(s)) => Ok((c, s)),
            _ => Err(Error::PromptTooLong {
                len: p + 1,
                max: self.max_positions(),
            }),
        }
    }
}
