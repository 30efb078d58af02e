//! `kiln info`: what a model file is — architecture, sizes, tensor types, tokenizer, template —
//! from its headers alone.

use std::path::PathBuf;

use anyhow::{Context, Result};
use kiln_engine::Engine;

use crate::files;

/// Prints the description of `model` (default: the default model).
pub fn info(model: Option<PathBuf>) -> Result<()> {
    let path = files::resolve(model.as_deref())?;
    let f = files::read_model(&path, true)?;
    let i = Engine::inspect(&f).with_context(|| format!("cannot read {}", path.display()))?;
    let c = &i.config;
    println!("file            {}", path.display());
    println!("format          {}", i.format);
    println!("architecture    {}", i.arch);
    println!("parameters      {:.1} M", i.n_params as f64 / 1e6);
    println!("layers          {}", c.num_hidden_layers);
    println!(
        "hidden          {} (ffn {})",
        c.hidden_size, c.intermediate_size
    );
    println!(
        "heads           {} query, {} key/value, head dim {}",
        c.num_attention_heads,
        c.n_kv_heads(),
        c.head_dim()
    );
    println!("context         {}", c.max_position_embeddings);
    println!(
        "rope            theta {} scaling {:?}",
        c.rope_theta,
        c.rope_scaling.as_ref().map(|s| &s.rope_type)
    );
    println!(
        "output head     {}",
        if c.tie_word_embeddings {
            "tied to the embedding"
        } else {
            "separate"
        }
    );
    println!(
        "tensor types    {}",
        i.tensor_types
            .iter()
            .map(|(k, v)| format!("{k}×{v}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "vocabulary      {} (bos {:?}, add bos {}, end-of-generation {:?})",
        i.vocab_size, i.bos, i.add_bos, i.eog
    );
    match &i.chat_template {
        Some(t) => println!("chat template\n{t}"),
        None => println!("chat template   none (raw completion only)"),
    }
    Ok(())
}
