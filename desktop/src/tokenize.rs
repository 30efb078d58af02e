//! `kiln tokenize`: a text's token ids under a model's tokenizer, as JSON.

use std::path::PathBuf;

use anyhow::{Context, Result};
use kiln_engine::Engine;

use crate::{files, generate};

/// Prints the ids of `file`'s text (default: stdin) under `model`'s tokenizer.
pub fn tokenize(model: Option<PathBuf>, file: Option<PathBuf>) -> Result<()> {
    let text = match file {
        Some(f) => {
            std::fs::read_to_string(&f).with_context(|| format!("cannot read {}", f.display()))?
        }
        None => generate::read_stdin()?,
    };
    let path = files::resolve(model.as_deref())?;
    let f = files::read_model(&path, true)?;
    let ids = Engine::load_tokenizer(&f)?.encode_plain(&text)?;
    println!("{}", serde_json::to_string(&ids)?);
    Ok(())
}
