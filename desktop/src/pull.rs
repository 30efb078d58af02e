//! `kiln pull`: fetches the default model with the project's own script (pip, pinned by
//! sha256), into the model directory.

use anyhow::{Context, Result, bail};

use crate::files;

/// Runs scripts/fetch_model.sh (built into the binary) into the model directory.
pub fn pull() -> Result<()> {
    let script = include_str!("../../scripts/fetch_model.sh");
    let status = std::process::Command::new("bash")
        .arg("-c")
        .arg(script)
        .env("KILN_MODEL_DIR", files::model_dir())
        .status()
        .context("cannot run bash to fetch the model")?;
    if !status.success() {
        bail!("fetching the default model failed ({status})");
    }
    Ok(())
}
