//! With the `app` feature: embeds the playground's UI (the wasm build in `dist/`, made by
//! scripts/web_build.sh) in the binary, as a table of (path, bytes) that `kiln app` serves on its
//! custom scheme. Left out: the models (the app reads them from disk) and the engine's worker
//! (the app's engine is native). `KILN_APP_DIST` names another directory. Without a `dist/`, the
//! table is empty and `kiln app` says how to build one.

use std::path::{Path, PathBuf};

fn main() {
    println!("cargo::rerun-if-env-changed=KILN_APP_DIST");
    if std::env::var_os("CARGO_FEATURE_APP").is_none() {
        return;
    }
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let dist = std::env::var_os("KILN_APP_DIST")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("../dist"));
    println!("cargo::rerun-if-changed={}", dist.display());
    let mut files = Vec::new();
    if dist.join("index.html").is_file() {
        collect(&dist, &dist, &mut files);
    } else {
        println!(
            "cargo::warning=kiln app: no UI at {} (run scripts/web_build.sh, then build again)",
            dist.display()
        );
    }
    files.sort();
    let mut table = String::from("/// The UI's files: path under the app's root, bytes.\n");
    table.push_str("pub static ASSETS: &[(&str, &[u8])] = &[\n");
    for (rel, abs) in &files {
        println!("cargo::rerun-if-changed={}", abs.display());
        table.push_str(&format!(
            "    ({rel:?}, include_bytes!({:?})),\n",
            abs.display().to_string()
        ));
    }
    table.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap_or_default()).join("app_assets.rs");
    if let Err(e) = std::fs::write(&out, table) {
        println!("cargo::error=cannot write {}: {e}", out.display());
    }
}

/// Every file under `dir` the app serves, as (path relative to `base` with `/`, absolute path).
fn collect(base: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        let Ok(rel) = path.strip_prefix(base) else {
            continue;
        };
        let rel = rel.to_string_lossy().replace('\\', "/");
        if rel == "models" || rel.starts_with("kiln-worker") {
            continue;
        }
        if path.is_dir() {
            collect(base, &path, out);
        } else if let Ok(abs) = path.canonicalize() {
            out.push((rel, abs));
        }
    }
}
