//! The languages the pipeline knows, named the way fenced code blocks and editors name them.

use serde::{Deserialize, Serialize};

/// A programming language (or "other").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    /// Python 3.
    Python,
    /// JavaScript (ES2022+).
    JavaScript,
    /// TypeScript.
    TypeScript,
    /// Rust.
    Rust,
    /// Go.
    Go,
    /// C.
    C,
    /// JSON.
    Json,
    /// Anything else: no language-specific rules apply.
    Other,
}

impl Language {
    /// From a fence tag or a name (`py`, `python3`, `js`, `ts`, `rs`, `golang`, …); unknown
    /// tags give `Other`.
    pub fn from_tag(tag: &str) -> Self {
        match tag.trim().to_ascii_lowercase().as_str() {
            "py" | "python" | "python3" | "py3" => Language::Python,
            "js" | "javascript" | "node" | "jsx" | "mjs" | "cjs" => Language::JavaScript,
            "ts" | "typescript" | "tsx" => Language::TypeScript,
            "rs" | "rust" => Language::Rust,
            "go" | "golang" => Language::Go,
            "c" | "h" => Language::C,
            "json" => Language::Json,
            _ => Language::Other,
        }
    }

    /// From a file name's extension (`main.rs`, `app.tsx`, …).
    pub fn from_path(path: &str) -> Self {
        match path.rsplit_once('.') {
            Some((_, ext)) => Self::from_tag(ext),
            None => Language::Other,
        }
    }

    /// The canonical name.
    pub fn name(self) -> &'static str {
        match self {
            Language::Python => "python",
            Language::JavaScript => "javascript",
            Language::TypeScript => "typescript",
            Language::Rust => "rust",
            Language::Go => "go",
            Language::C => "c",
            Language::Json => "json",
            Language::Other => "other",
        }
    }
}

#[cfg(test)]
mod tests {
    // The same tables run natively and in wasm (wasm-bindgen-test under Node).
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn tags_table() {
        let cases = [
            ("py", Language::Python),
            ("Python3", Language::Python),
            (" js ", Language::JavaScript),
            ("tsx", Language::TypeScript),
            ("rs", Language::Rust),
            ("golang", Language::Go),
            ("h", Language::C),
            ("json", Language::Json),
            ("", Language::Other),
            ("bash", Language::Other),
        ];
        for (tag, want) in cases {
            assert_eq!(Language::from_tag(tag), want, "{tag:?}");
        }
    }
}
