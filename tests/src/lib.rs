//! Helpers shared by kiln's cross-crate tests: fixture paths, model loading, a GGUF writer for
//! crafting bad files, and tolerance checks.

// Test support: a failed fixture read should stop the test with its message.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kiln_engine::{DeviceChoice, Engine, LoadOptions, ModelFiles};

pub mod fuzz;

/// `tests/fixtures` of this repository.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// Reads a GGUF file or an HF directory the way the CLI does.
pub fn read_model(path: &Path) -> ModelFiles {
    if path.is_file() {
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        return ModelFiles::Gguf { name, bytes };
    }
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
    {
        let p = entry.expect("dir entry").path();
        if p.is_file() {
            let name = p
                .file_name()
                .expect("file name")
                .to_string_lossy()
                .into_owned();
            files.insert(name, std::fs::read(&p).expect("read file"));
        }
    }
    ModelFiles::HfDir(files)
}

/// Loads a model on `device` (blocking).
pub fn load(files: &ModelFiles, device: DeviceChoice) -> kiln_engine::Result<Engine> {
    futures_lite::future::block_on(Engine::load(
        files,
        &LoadOptions {
            device,
            ..LoadOptions::default()
        },
        &mut |_, _| {},
    ))
}

/// The tiny Llama fixture (GQA, one layer) loaded on the CPU: the quick model of the fuzz and
/// long-run tests.
pub fn tiny_engine() -> Engine {
    load(
        &read_model(&fixtures().join("tiny/llama_gqa/gguf/model-F32.gguf")),
        DeviceChoice::Cpu,
    )
    .expect("the tiny fixture loads")
}

/// The default model's path, if `scripts/fetch_model.sh` has put it in place. When it is
/// missing the caller prints why it skips — unless `KILN_REQUIRE_MODEL=1` (CI), which fails.
pub fn default_model() -> Option<PathBuf> {
    cached(
        "the default model",
        ("KILN_MODEL_DIR", ".cache/kiln/models"),
        "SmolLM2-135M-Instruct-Q4_1.gguf",
        "KILN_REQUIRE_MODEL",
        "scripts/fetch_model.sh",
    )
}

/// HumanEval's problems (`scripts/fetch_humaneval.sh`), if present; as [`default_model`], with
/// `KILN_REQUIRE_DATA=1`.
pub fn humaneval() -> Option<PathBuf> {
    cached(
        "HumanEval",
        ("KILN_DATA_DIR", ".cache/kiln/data"),
        "HumanEval.jsonl",
        "KILN_REQUIRE_DATA",
        "scripts/fetch_humaneval.sh",
    )
}

/// A file a fetch script keeps in kiln's cache: `$ENV_DIR/name`, else `$HOME/default/name`.
fn cached(
    what: &str,
    (env_dir, default_dir): (&str, &str),
    name: &str,
    require: &str,
    script: &str,
) -> Option<PathBuf> {
    let dir = std::env::var_os(env_dir)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(default_dir)
        });
    let p = dir.join(name);
    if p.exists() {
        return Some(p);
    }
    if std::env::var(require).as_deref() == Ok("1") {
        panic!(
            "{require}=1 but {what} is not at {} (run {script})",
            p.display()
        );
    }
    eprintln!(
        "SKIPPED: {what} not at {} — run {script} to enable this check",
        p.display()
    );
    None
}

/// Whether no wgpu adapter can be had. Prints why a GPU check is skipped, or fails when
/// `KILN_REQUIRE_GPU=1` (CI installs Mesa's lavapipe so that it never is).
pub fn gpu_unavailable() -> bool {
    match futures_lite::future::block_on(kiln_engine::init_device(DeviceChoice::Gpu)) {
        Ok(_) => false,
        Err(e) => {
            if std::env::var("KILN_REQUIRE_GPU").as_deref() == Ok("1") {
                panic!("KILN_REQUIRE_GPU=1 but wgpu is unavailable: {e}");
            }
            eprintln!("SKIPPED: wgpu check — {e} (install mesa-vulkan-drivers for lavapipe)");
            true
        }
    }
}

/// Largest |a - b| over two equally long slices.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "length mismatch");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Index of the largest value (first on ties).
pub fn argmax(xs: &[f32]) -> usize {
    let mut best = 0;
    for (i, &x) in xs.iter().enumerate() {
        if x > xs[best] {
            best = i;
        }
    }
    best
}

/// A minimal GGUF v3 writer, for crafting valid and deliberately broken files in tests.
#[derive(Default)]
pub struct GgufWriter {
    kv: Vec<(String, u32, Vec<u8>)>,
    tensors: Vec<(String, Vec<u64>, u32, Vec<u8>)>,
}

fn gguf_str(s: &str) -> Vec<u8> {
    let mut v = (s.len() as u64).to_le_bytes().to_vec();
    v.extend_from_slice(s.as_bytes());
    v
}

impl GgufWriter {
    /// Sets key `k` (a key set twice keeps its place and takes the new value).
    fn put(mut self, k: &str, ty: u32, v: Vec<u8>) -> Self {
        match self.kv.iter_mut().find(|(key, _, _)| key == k) {
            Some(e) => *e = (k.into(), ty, v),
            None => self.kv.push((k.into(), ty, v)),
        }
        self
    }
    /// A second entry for key `k`, as a broken file would have it.
    pub fn duplicate_str(mut self, k: &str, v: &str) -> Self {
        self.kv.push((k.into(), 8, gguf_str(v)));
        self
    }
    /// A string value.
    pub fn str(self, k: &str, v: &str) -> Self {
        self.put(k, 8, gguf_str(v))
    }
    /// A u32 value.
    pub fn u32(self, k: &str, v: u32) -> Self {
        self.put(k, 4, v.to_le_bytes().to_vec())
    }
    /// A u64 value.
    pub fn u64(self, k: &str, v: u64) -> Self {
        self.put(k, 10, v.to_le_bytes().to_vec())
    }
    /// An f32 value.
    pub fn f32(self, k: &str, v: f32) -> Self {
        self.put(k, 6, v.to_le_bytes().to_vec())
    }
    /// A string array.
    pub fn strs(self, k: &str, v: &[&str]) -> Self {
        let mut b = 8u32.to_le_bytes().to_vec();
        b.extend((v.len() as u64).to_le_bytes());
        for s in v {
            b.extend(gguf_str(s));
        }
        self.put(k, 9, b)
    }
    /// An i32 array.
    pub fn i32s(self, k: &str, v: &[i32]) -> Self {
        let mut b = 5u32.to_le_bytes().to_vec();
        b.extend((v.len() as u64).to_le_bytes());
        for x in v {
            b.extend(x.to_le_bytes());
        }
        self.put(k, 9, b)
    }
    /// A tensor with ggml dims `ne` (innermost first), type id and raw data.
    pub fn tensor(mut self, name: &str, ne: &[u64], ty: u32, data: Vec<u8>) -> Self {
        self.tensors.push((name.into(), ne.to_vec(), ty, data));
        self
    }
    /// An F32 tensor of row-major `shape` (outermost first), filled from `f`.
    pub fn f32_tensor(self, name: &str, shape: &[usize], f: impl Fn(usize) -> f32) -> Self {
        let n: usize = shape.iter().product();
        let data = (0..n).flat_map(|i| f(i).to_le_bytes()).collect();
        let ne: Vec<u64> = shape.iter().rev().map(|&d| d as u64).collect();
        self.tensor(name, &ne, 0, data)
    }
    /// The file's bytes (alignment 32).
    pub fn build(&self) -> Vec<u8> {
        let mut out = b"GGUF".to_vec();
        out.extend(3u32.to_le_bytes());
        out.extend((self.tensors.len() as u64).to_le_bytes());
        out.extend((self.kv.len() as u64).to_le_bytes());
        for (k, ty, v) in &self.kv {
            out.extend(gguf_str(k));
            out.extend(ty.to_le_bytes());
            out.extend(v);
        }
        let mut offset = 0u64;
        let mut offsets = Vec::new();
        for (name, ne, ty, data) in &self.tensors {
            out.extend(gguf_str(name));
            out.extend((ne.len() as u32).to_le_bytes());
            for d in ne {
                out.extend(d.to_le_bytes());
            }
            out.extend(ty.to_le_bytes());
            out.extend(offset.to_le_bytes());
            offsets.push(offset);
            offset += (data.len() as u64).div_ceil(32) * 32;
        }
        while !out.len().is_multiple_of(32) {
            out.push(0);
        }
        for (_, _, _, data) in &self.tensors {
            out.extend(data);
            while !out.len().is_multiple_of(32) {
                out.push(0);
            }
        }
        out
    }
}

/// Whether the sandbox for `lang` is missing: its interpreter, or the operating-system jail
/// that every run is in by default. Prints why a check is skipped, or fails when
/// `KILN_REQUIRE_SANDBOX=1` (CI: scripts/setup.sh installs them).
pub fn interpreter_missing(lang: kiln_engine::post::Language) -> bool {
    use kiln_engine::post::sandbox::{interpreter_available, jail};
    let why = if !interpreter_available(lang) {
        format!(
            "no interpreter for {} on PATH (python3 / node)",
            lang.name()
        )
    } else if let Err(why) = jail::status() {
        format!("no operating-system jail: {why}")
    } else {
        return false;
    };
    if std::env::var("KILN_REQUIRE_SANDBOX").as_deref() == Ok("1") {
        panic!("KILN_REQUIRE_SANDBOX=1 but {why}");
    }
    eprintln!("SKIPPED: sandbox check — {why}");
    true
}
