//! Reading a model from disk (a GGUF file or a Hugging Face directory) with a progress bar.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use kiln_engine::ModelFiles;
use kiln_engine::format::safetensors::ShardIndex;

/// The default model's file name, as `scripts/fetch_model.sh` stores it.
pub const DEFAULT_MODEL: &str = "SmolLM2-135M-Instruct-Q4_1.gguf";

/// Where models are kept: `$KILN_MODEL_DIR`, else `~/.cache/kiln/models`.
pub fn model_dir() -> PathBuf {
    cache_dir("KILN_MODEL_DIR", "models")
}

/// Where the fetch scripts put data (HumanEval): `$KILN_DATA_DIR`, else `~/.cache/kiln/data`.
pub fn data_dir() -> PathBuf {
    cache_dir("KILN_DATA_DIR", "data")
}

/// `$var` if set, else `~/.cache/kiln/<sub>` (the scripts' layout).
fn cache_dir(var: &str, sub: &str) -> PathBuf {
    if let Some(d) = std::env::var_os(var) {
        return PathBuf::from(d);
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
    home.join(".cache/kiln").join(sub)
}

/// The model path the user gave, or the default model (with a hint when it is missing).
pub fn resolve(model: Option<&Path>) -> Result<PathBuf> {
    if let Some(m) = model {
        return Ok(m.to_path_buf());
    }
    let p = model_dir().join(DEFAULT_MODEL);
    if !p.exists() {
        let others: Vec<String> = models_in(&model_dir())
            .iter()
            .map(|m| m.display().to_string())
            .collect();
        let others = if others.is_empty() {
            String::new()
        } else {
            format!("; or pass --model one of: {}", others.join(", "))
        };
        bail!(
            "the default model is not at {} — run `kiln pull` (or scripts/fetch_model.sh) first{others}",
            p.display()
        );
    }
    Ok(p)
}

fn bar(len: u64, what: &str) -> ProgressBar {
    let pb = ProgressBar::new(len);
    let style = ProgressStyle::with_template(
        "{msg:>12} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec})",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ");
    pb.set_style(style);
    pb.set_message(what.to_string());
    pb
}

/// Reads one file, telling `read` of each chunk's length.
fn read_with_progress(path: &Path, read: &mut dyn FnMut(u64)) -> Result<Vec<u8>> {
    let mut f =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let mut out = Vec::with_capacity(len as usize);
    let mut buf = vec![0u8; 8 << 20];
    loop {
        let n = f
            .read(&mut buf)
            .with_context(|| format!("cannot read {}", path.display()))?;
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
        read(n as u64);
    }
    Ok(out)
}

/// Reads a GGUF file or an HF directory into memory, with a progress bar unless `quiet`.
pub fn read_model(path: &Path, quiet: bool) -> Result<ModelFiles> {
    let pb = if quiet {
        ProgressBar::hidden()
    } else {
        bar(0, "reading")
    };
    let files = read_model_with(path, &mut |done, total| {
        pb.set_length(total);
        pb.set_position(done);
    })?;
    pb.finish_and_clear();
    Ok(files)
}

/// Reads a GGUF file or an HF directory into memory; `progress(bytes read, bytes in all)`.
pub fn read_model_with(path: &Path, progress: &mut dyn FnMut(u64, u64)) -> Result<ModelFiles> {
    let meta =
        std::fs::metadata(path).with_context(|| format!("cannot open model {}", path.display()))?;
    let name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let mut done = 0u64;
    if meta.is_file() {
        let total = meta.len();
        let bytes = read_with_progress(path, &mut |n| {
            done += n;
            progress(done, total);
        })?;
        return Ok(ModelFiles::Gguf { name, bytes });
    }
    let mut names: Vec<String> = [
        "config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "generation_config.json",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let index = path.join("model.safetensors.index.json");
    if index.exists() {
        names.push("model.safetensors.index.json".into());
        let idx = ShardIndex::parse("model.safetensors.index.json", &std::fs::read(&index)?)?;
        names.extend(idx.shards());
    } else {
        names.push("model.safetensors".into());
    }
    let total: u64 = names
        .iter()
        .filter_map(|n| std::fs::metadata(path.join(n)).ok())
        .map(|m| m.len())
        .sum();
    let mut files = BTreeMap::new();
    for n in names {
        let p = path.join(&n);
        if p.exists() {
            let bytes = read_with_progress(&p, &mut |k| {
                done += k;
                progress(done, total);
            })?;
            files.insert(n, bytes);
        }
    }
    Ok(ModelFiles::HfDir(files))
}

/// A layer-count progress bar for loading onto the device.
pub fn load_bar(quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(1);
    let style = ProgressStyle::with_template("{msg:>12} [{bar:30}] {pos}/{len} layers")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    pb.set_style(style);
    pb.set_message("loading");
    pb
}

/// Each file of a model by name, with its sha256 in hex.
pub type Digests = Vec<(String, String)>;

/// The sha256 (hex) of each file of a model, by file name (a GGUF: its one file).
pub fn sha256s(files: &ModelFiles) -> Digests {
    use sha2::{Digest, Sha256};
    let hex = |bytes: &[u8]| -> String {
        Sha256::digest(bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    match files {
        ModelFiles::Gguf { name, bytes } => vec![(name.clone(), hex(bytes))],
        ModelFiles::HfDir(m) => m.iter().map(|(n, b)| (n.clone(), hex(b))).collect(),
    }
}

/// The models in `dir`: its GGUF files and the folders in it with a `config.json` (Hugging Face
/// sets), sorted by name; nothing if it cannot be read.
pub fn models_in(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            (p.is_file() && p.extension().is_some_and(|x| x == "gguf"))
                || p.join("config.json").is_file()
        })
        .collect();
    found.sort();
    found
}
