//! Syntax-aware truncation: when generation stopped mid-statement, cut back to the longest
//! prefix that parses, so the user gets complete code and is told what was dropped.
//!
//! Two scopes:
//! - [`Scope::TopLevel`]: keep only whole top-level statements/items (cut points are line
//!   ends followed by an unindented line, at bracket depth 0);
//! - [`Scope::Function`]: the prompt opened a function and the model was writing its body: cut
//!   at the last line end whose prefix parses; in brace languages the blocks still open there
//!   are closed (`}` at the opening line's indentation), so the function ends cleanly.
//!
//! Whether a prefix parses is decided by the same real front ends as [`super::check`].

use serde::{Deserialize, Serialize};

use super::lex::{closer, lex, open_brackets};
use super::syntax::parser_errors;
use super::{Language, check};

/// Where the generated code lives (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Whole top-level statements only.
    #[default]
    TopLevel,
    /// The body of a function the prompt opened.
    Function,
}

/// What truncation did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct TruncateReport {
    /// False when kiln has no parser for the language (the text is returned unchanged).
    pub checked: bool,
    /// The text that was cut off the end.
    pub cut: String,
    /// How many lines (complete or partial) were cut.
    pub cut_lines: usize,
    /// Closing brackets appended to end the open blocks (`Scope::Function`, brace languages).
    pub closed: String,
    /// Whether the result parses.
    pub parses: bool,
}

/// At most this many cut points are tried (each is one parse of the prefix).
const MAX_TRIES: usize = 400;

/// Cuts `code` back to its longest prefix that parses, in `scope`; unchanged when it already
/// parses or the language has no parser.
pub fn truncate(code: &str, lang: Language, scope: Scope) -> (String, TruncateReport) {
    let Some(diags) = parser_errors(code, lang) else {
        return (code.to_string(), TruncateReport::default());
    };
    let Some(first) = diags.first() else {
        return (
            code.to_string(),
            report(code, code.len(), String::new(), true),
        );
    };
    if lang == Language::Json {
        // JSON has no statements to keep: report the error, cut nothing.
        return (
            code.to_string(),
            report(code, code.len(), String::new(), false),
        );
    }
    // A prefix that contains the first error's line still has that error (the parsers are
    // deterministic left to right): start the search at the end of that line. Not for Rust:
    // syn places lexer errors (an unclosed delimiter) where the lexer gave up, not at the cause.
    let limit = match lang {
        Language::Rust => code.len(),
        _ => code[first.start..]
            .find('\n')
            .map_or(code.len(), |i| first.start + i + 1),
    };
    let tokens = lex(code, lang);
    let braces = lang != Language::Python;
    // Cut points are line ends: a last line without its newline is incomplete by definition.
    let candidates = code[..limit].match_indices('\n').map(|(i, _)| i + 1).rev();
    let mut tried = 0;
    for p in candidates {
        let prefix = &code[..p];
        if prefix.trim().is_empty() || tried == MAX_TRIES {
            break;
        }
        let before: Vec<_> = tokens.iter().copied().filter(|t| t.end <= p).collect();
        let Some(open) = open_brackets(&before) else {
            continue;
        };
        if tokens.iter().any(|t| t.start < p && t.end > p) {
            continue; // the cut would split a string or comment
        }
        let closed = match scope {
            Scope::TopLevel => {
                let next = &code[p..];
                let unindented = next.is_empty() || !next.starts_with([' ', '\t', '\n', '\r']);
                if !open.is_empty() || !unindented {
                    continue;
                }
                String::new()
            }
            Scope::Function if !braces && !open.is_empty() => continue,
            Scope::Function => open.iter().rev().map(|&(c, _)| closer(c)).collect(),
        };
        tried += 1;
        let mut text = prefix.trim_end().to_string();
        for &(c, at) in open.iter().rev() {
            text.push('\n');
            text.push_str(indentation_of_line(code, at));
            text.push(closer(c));
        }
        text.push('\n');
        if check(&text, lang).is_some_and(|d| d.is_empty()) {
            return (text, report(code, p, closed, true));
        }
    }
    (String::new(), report(code, 0, String::new(), true))
}

fn report(code: &str, kept: usize, closed: String, parses: bool) -> TruncateReport {
    let cut = &code[kept..];
    TruncateReport {
        checked: true,
        cut: cut.to_string(),
        cut_lines: cut.lines().filter(|l| !l.trim().is_empty()).count(),
        closed,
        parses,
    }
}

/// The leading whitespace of the line that contains byte `at`.
fn indentation_of_line(code: &str, at: usize) -> &str {
    let start = code[..at].rfind('\n').map_or(0, |i| i + 1);
    let line = &code[start..];
    &line[..line.len() - line.trim_start_matches([' ', '\t']).len()]
}

#[cfg(test)]
mod tests {
    // The same tables run natively and in wasm (wasm-bindgen-test under Node).
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    /// (language, scope, input, expected output, expected closers)
    type Case = (Language, Scope, &'static str, &'static str, &'static str);
    const CASES: &[Case] = &[
        // Already valid: unchanged.
        (Language::Python, Scope::TopLevel, "x = 1\n", "x = 1\n", ""),
        // Python, top level: drop the incomplete last statement.
        (
            Language::Python,
            Scope::TopLevel,
            "def f():\n    return 1\n\ndef g(x):\n    return (x +\n",
            "def f():\n    return 1\n",
            "",
        ),
        (
            Language::Python,
            Scope::TopLevel,
            "import os\nx = [1,\n 2,\n",
            "import os\n",
            "",
        ),
        (
            Language::Python,
            Scope::TopLevel,
            "a = 1\nb = 2\nif a:\n    print(a)\n    print(",
            "a = 1\nb = 2\n",
            "",
        ),
        // Python, function body: keep the statements that are complete.
        (
            Language::Python,
            Scope::Function,
            "def f(xs):\n    total = 0\n    for x in xs:\n        total += x\n    return tot(",
            "def f(xs):\n    total = 0\n    for x in xs:\n        total += x\n",
            "",
        ),
        (
            Language::Python,
            Scope::Function,
            "def f(s):\n    out = s.upper()\n    if out:\n",
            "def f(s):\n    out = s.upper()\n",
            "",
        ),
        (
            Language::Python,
            Scope::Function,
            "def f():\n    s = '''doc\n    more\n    '''\n    return s +\n",
            "def f():\n    s = '''doc\n    more\n    '''\n",
            "",
        ),
        // Nothing complete: everything is cut.
        (Language::Python, Scope::TopLevel, "def f(:\n", "", ""),
        // JavaScript, top level.
        (
            Language::JavaScript,
            Scope::TopLevel,
            "function a() {\n  return 1;\n}\nfunction b() {\n  return [1,\n",
            "function a() {\n  return 1;\n}\n",
            "",
        ),
        (
            Language::JavaScript,
            Scope::TopLevel,
            "const x = 1;\nconst y = {\n  a: 1,\n",
            "const x = 1;\n",
            "",
        ),
        // JavaScript, function body: close the open blocks.
        (
            Language::JavaScript,
            Scope::Function,
            "function f(a) {\n  let s = 0;\n  for (const x of a) {\n    s += x;\n    if (s >",
            "function f(a) {\n  let s = 0;\n  for (const x of a) {\n    s += x;\n  }\n}\n",
            "}}",
        ),
        (
            Language::TypeScript,
            Scope::Function,
            "function f(a: number[]): number {\n  const m = new Map<string, number>();\n  return a.len",
            "function f(a: number[]): number {\n  const m = new Map<string, number>();\n}\n",
            "}",
        ),
        (
            Language::TypeScript,
            Scope::TopLevel,
            "interface P { x: number }\nexport function f(p: P) {\n  return p.x *",
            "interface P { x: number }\n",
            "",
        ),
        // Rust.
        (
            Language::Rust,
            Scope::TopLevel,
            "use std::fmt;\n\nfn a() -> u8 {\n    1\n}\n\nfn b() {\n    let v = vec![1,\n",
            "use std::fmt;\n\nfn a() -> u8 {\n    1\n}\n",
            "",
        ),
        (
            Language::Rust,
            Scope::Function,
            "fn sum(v: &[i32]) -> i32 {\n    let mut s = 0;\n    for x in v {\n        s += x;\n    }\n    s +",
            "fn sum(v: &[i32]) -> i32 {\n    let mut s = 0;\n    for x in v {\n        s += x;\n    }\n}\n",
            "}",
        ),
        (
            Language::Rust,
            Scope::Function,
            "fn f() -> &'static str {\n    let s = \"a\nb\";\n    let t = r#\"{\"#;\n    if s.is_empty() {\n        return \"{",
            "fn f() -> &'static str {\n    let s = \"a\nb\";\n    let t = r#\"{\"#;\n    if s.is_empty() {\n    }\n}\n",
            "}}",
        ),
    ];

    #[test]
    fn truncation_table() {
        let mut wrong = Vec::new();
        for &(lang, scope, input, want, closers) in CASES {
            let (got, rep) = truncate(input, lang, scope);
            if got != want || rep.closed != closers || !rep.parses {
                wrong.push(format!(
                    "{lang:?} {scope:?} {input:?}\n  got  {got:?} {rep:?}\n  want {want:?} {closers:?}"
                ));
            }
            assert_eq!(check(&got, lang), Some(vec![]), "{got:?} must parse");
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    #[test]
    fn reports_what_was_cut() {
        let (_, rep) = truncate("x = 1\ny = (2,\n 3", Language::Python, Scope::TopLevel);
        assert_eq!(rep.cut, "y = (2,\n 3");
        assert_eq!(rep.cut_lines, 2);
    }

    #[test]
    fn unsupported_and_json_are_left_alone() {
        let (out, rep) = truncate("int main( {", Language::C, Scope::TopLevel);
        assert_eq!((out.as_str(), rep.checked), ("int main( {", false));
        let (out, rep) = truncate("{\"a\": [1,", Language::Json, Scope::TopLevel);
        assert_eq!((out.as_str(), rep.parses), ("{\"a\": [1,", false));
    }
}
