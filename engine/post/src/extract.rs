//! Extract: the code in a chat-style answer is in fenced blocks (```lang … ```); a completion
//! is code already, and re-attaching the prompt makes it whole.

use serde::{Deserialize, Serialize};

use super::Language;

/// Which fenced blocks make up the code when there are several.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExtractMode {
    /// The first matching block.
    #[default]
    First,
    /// The longest matching block.
    Longest,
    /// All matching blocks, joined by a blank line.
    Join,
}

/// The code found in a text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Extracted {
    /// The code.
    pub code: String,
    /// The language named by the chosen block's tag, if any.
    pub language: Option<Language>,
    /// Fenced blocks in the text.
    pub blocks: usize,
    /// Whether the code came from fenced blocks (else the text itself).
    pub fenced: bool,
    /// The chosen block was still open when the text ended.
    pub unterminated: bool,
}

struct Block<'a> {
    tag: &'a str,
    body: String,
    closed: bool,
}

/// Splits `text` into fenced blocks. A fence is a line that starts (after indentation) with
/// three or more backticks or tildes; the block ends at a line with the same character repeated
/// at least as often and nothing else (CommonMark fenced code blocks).
fn blocks(text: &str) -> Vec<Block<'_>> {
    let mut out = Vec::new();
    let mut open: Option<(char, usize, &str, Vec<&str>)> = None;
    for line in text.lines() {
        let t = line.trim_start();
        let fence_char = t.chars().next().filter(|c| *c == '`' || *c == '~');
        let run = fence_char.map_or(0, |c| t.chars().take_while(|&x| x == c).count());
        match &mut open {
            None => {
                if let Some(c) = fence_char.filter(|_| run >= 3) {
                    let tag = t[run..].split_whitespace().next().unwrap_or("");
                    open = Some((c, run, tag, Vec::new()));
                }
            }
            Some((c, n, tag, body)) => {
                if fence_char == Some(*c) && run >= *n && t[run..].trim().is_empty() {
                    out.push(Block {
                        tag,
                        body: body.join("\n"),
                        closed: true,
                    });
                    open = None;
                } else {
                    body.push(line);
                }
            }
        }
    }
    if let Some((_, _, tag, body)) = open {
        out.push(Block {
            tag,
            body: body.join("\n"),
            closed: false,
        });
    }
    out
}

/// Finds the code in `text`. Blocks tagged with `want` are preferred, then untagged blocks,
/// then any block; text without fences is returned as it is (outer blank lines removed).
pub fn extract_code(text: &str, want: Option<Language>, mode: ExtractMode) -> Extracted {
    let all = blocks(text);
    if all.is_empty() {
        let code = text.trim_matches('\n').to_string();
        return Extracted {
            code,
            language: None,
            blocks: 0,
            fenced: false,
            unterminated: false,
        };
    }
    let tagged: Vec<&Block> = match want {
        Some(l) => all
            .iter()
            .filter(|b| Language::from_tag(b.tag) == l)
            .collect(),
        None => Vec::new(),
    };
    let untagged: Vec<&Block> = all.iter().filter(|b| b.tag.is_empty()).collect();
    let chosen = if !tagged.is_empty() {
        tagged
    } else if !untagged.is_empty() {
        untagged
    } else {
        all.iter().collect()
    };
    let (code, first) = match mode {
        ExtractMode::First => (chosen[0].body.clone(), chosen[0]),
        ExtractMode::Longest => {
            let b = chosen
                .iter()
                .copied()
                .max_by_key(|b| b.body.len())
                .unwrap_or(chosen[0]);
            (b.body.clone(), b)
        }
        ExtractMode::Join => (
            chosen
                .iter()
                .map(|b| b.body.as_str())
                .collect::<Vec<_>>()
                .join("\n\n"),
            chosen[chosen.len() - 1],
        ),
    };
    let language = (!first.tag.is_empty()).then(|| Language::from_tag(first.tag));
    let code = if code.is_empty() {
        code
    } else {
        format!("{code}\n")
    };
    Extracted {
        code,
        language,
        blocks: all.len(),
        fenced: true,
        unterminated: !first.closed,
    }
}

/// In completion mode the prompt is the beginning of the code: prepend it, unless the model
/// already repeated it.
pub fn reattach_prompt(prompt: &str, completion: &str) -> String {
    if completion.starts_with(prompt) {
        completion.to_string()
    } else {
        format!("{prompt}{completion}")
    }
}

#[cfg(test)]
mod tests {
    // The same tables run natively and in wasm (wasm-bindgen-test under Node).
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn extract_table() {
        use Language::*;
        // (text, wanted language, mode, code, tag language, blocks, fenced, unterminated)
        type Case = (
            &'static str,
            Option<Language>,
            ExtractMode,
            &'static str,
            Option<Language>,
            usize,
            bool,
            bool,
        );
        let f = ExtractMode::First;
        let cases: [Case; 17] = [
            (
                "def f():\n    pass\n",
                Some(Python),
                f,
                "def f():\n    pass",
                None,
                0,
                false,
                false,
            ),
            ("\n\nx = 1\n\n", None, f, "x = 1", None, 0, false, false),
            (
                "Here:\n```python\ndef f():\n    return 1\n```\nDone.",
                Some(Python),
                f,
                "def f():\n    return 1\n",
                Some(Python),
                1,
                true,
                false,
            ),
            (
                "```py\nx = 1\n```",
                Some(Python),
                f,
                "x = 1\n",
                Some(Python),
                1,
                true,
                false,
            ),
            (
                "```\nx = 1\n```",
                Some(Python),
                f,
                "x = 1\n",
                None,
                1,
                true,
                false,
            ),
            (
                "```js\nlet a;\n```\n```python\nb = 2\n```",
                Some(Python),
                f,
                "b = 2\n",
                Some(Python),
                2,
                true,
                false,
            ),
            (
                "```js\nlet a;\n```\n```python\nb = 2\n```",
                None,
                f,
                "let a;\n",
                Some(JavaScript),
                2,
                true,
                false,
            ),
            (
                "```python\na = 1\n```\ntext\n```python\nb = 2\nc = 3\n```",
                Some(Python),
                ExtractMode::Longest,
                "b = 2\nc = 3\n",
                Some(Python),
                2,
                true,
                false,
            ),
            (
                "```python\na = 1\n```\ntext\n```python\nb = 2\n```",
                Some(Python),
                ExtractMode::Join,
                "a = 1\n\nb = 2\n",
                Some(Python),
                2,
                true,
                false,
            ),
            (
                "Sure!\n```python\ndef f():\n    ret",
                Some(Python),
                f,
                "def f():\n    ret\n",
                Some(Python),
                1,
                true,
                true,
            ),
            (
                "````md\n```py\nx\n```\n````",
                None,
                f,
                "```py\nx\n```\n",
                Some(Other),
                1,
                true,
                false,
            ),
            (
                "~~~rust\nfn main() {}\n~~~",
                Some(Rust),
                f,
                "fn main() {}\n",
                Some(Rust),
                1,
                true,
                false,
            ),
            (
                "  ```ts\n  const a = 1;\n  ```",
                Some(TypeScript),
                f,
                "  const a = 1;\n",
                Some(TypeScript),
                1,
                true,
                false,
            ),
            (
                "```python title=x.py\nx = 1\n```",
                Some(Python),
                f,
                "x = 1\n",
                Some(Python),
                1,
                true,
                false,
            ),
            (
                "```rust\n```",
                Some(Rust),
                f,
                "",
                Some(Rust),
                1,
                true,
                false,
            ),
            (
                "```c\nint x;\n```",
                Some(Python),
                f,
                "int x;\n",
                Some(C),
                1,
                true,
                false,
            ),
            (
                "Use `x = 1` inline.",
                Some(Python),
                f,
                "Use `x = 1` inline.",
                None,
                0,
                false,
                false,
            ),
        ];
        for (text, want, mode, code, lang, n, fenced, open) in cases {
            let e = extract_code(text, want, mode);
            assert_eq!(e.code, code, "{text:?}");
            assert_eq!(e.language, lang, "{text:?}");
            assert_eq!(
                (e.blocks, e.fenced, e.unterminated),
                (n, fenced, open),
                "{text:?}"
            );
        }
    }

    #[test]
    fn reattach_table() {
        let cases = [
            ("def f(x):\n", "    return x\n", "def f(x):\n    return x\n"),
            (
                "def f(x):\n",
                "def f(x):\n    return x\n",
                "def f(x):\n    return x\n",
            ),
            ("fn f() {", "}", "fn f() {}"),
        ];
        for (p, c, want) in cases {
            assert_eq!(reattach_prompt(p, c), want);
        }
    }
}
