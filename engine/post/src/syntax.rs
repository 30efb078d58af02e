//! Syntax check with precise locations, by each language's own front end rather than a
//! tolerant grammar (tree-sitter accepts `def f():` with no body):
//! - Python: ruff's parser (error-tolerant, reports every error; target: the latest Python),
//! - JavaScript / TypeScript: oxc's parser,
//! - Rust: syn (stops at the first error),
//! - JSON: serde_json.
//!
//! Diagnostics come sorted by position, so the first one is the first real error.

use serde::{Deserialize, Serialize};

use super::Language;
use super::lex::{lex, open_brackets};

/// One syntax error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnostic {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// Byte range in the checked text.
    pub start: usize,
    /// End of the byte range (exclusive).
    pub end: usize,
    /// What the parser said.
    pub message: String,
}

/// Checks `code`; `None` when kiln has no parser for `lang`, else the errors (empty = valid).
/// A bracket never closed is reported at the bracket, as CPython's tokenizer does ("'(' was
/// never closed" at the opener, the innermost one left open), not where the parser gave up —
/// typically the next statement, lines later: when the parser's first error comes after that
/// bracket, the bracket's diagnostic goes first.
pub fn check(code: &str, lang: Language) -> Option<Vec<Diagnostic>> {
    let mut out = parser_errors(code, lang)?;
    if let Some(first) = out.first()
        && let Some(open) = open_brackets(&lex(code, lang))
        && let Some(&(c, at)) = open.last()
        && at <= first.start
    {
        out.insert(
            0,
            locate(code, at, at + 1, format!("'{c}' was never closed")),
        );
    }
    Some(out)
}

/// What the language's parser itself reports, where it gave up (truncation needs that place:
/// it closes open brackets itself).
pub(crate) fn parser_errors(code: &str, lang: Language) -> Option<Vec<Diagnostic>> {
    let raw = match lang {
        Language::Python => python(code),
        Language::JavaScript => javascript(code, oxc_span::SourceType::mjs()),
        Language::TypeScript => javascript(code, oxc_span::SourceType::ts()),
        Language::Rust => rust(code),
        Language::Json => json(code),
        Language::Go | Language::C | Language::Other => return None,
    };
    let mut out: Vec<Diagnostic> = raw
        .into_iter()
        .map(|(s, e, m)| locate(code, s, e, m))
        .collect();
    out.sort_by_key(|d| (d.start, d.end));
    out.dedup();
    Some(out)
}

/// A byte range and message → line/column (the range is clamped to the text and to characters).
fn locate(code: &str, start: usize, end: usize, message: String) -> Diagnostic {
    let clamp = |mut i: usize| {
        i = i.min(code.len());
        while !code.is_char_boundary(i) {
            i -= 1;
        }
        i
    };
    let (start, end) = (clamp(start), clamp(end.max(start)));
    let before = &code[..start];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = code[line_start..start].chars().count() + 1;
    Diagnostic {
        line,
        column,
        start,
        end,
        message,
    }
}

type Raw = Vec<(usize, usize, String)>;

fn python(code: &str) -> Raw {
    use ruff_python_ast::PythonVersion;
    use ruff_python_parser::{Mode, ParseOptions, parse_unchecked};
    let opts = ParseOptions::from(Mode::Module).with_target_version(PythonVersion::latest());
    let parsed = parse_unchecked(code, opts);
    let mut out: Raw = parsed
        .errors()
        .iter()
        .map(|e| {
            (
                e.location.start().to_usize(),
                e.location.end().to_usize(),
                e.error.to_string(),
            )
        })
        .collect();
    out.extend(parsed.unsupported_syntax_errors().iter().map(|u| {
        (
            u.range.start().to_usize(),
            u.range.end().to_usize(),
            u.to_string(),
        )
    }));
    out
}

fn javascript(code: &str, source_type: oxc_span::SourceType) -> Raw {
    let allocator = oxc_allocator::Allocator::default();
    let ret = oxc_parser::Parser::new(&allocator, code, source_type).parse();
    ret.diagnostics
        .iter()
        .map(|d| {
            let label = d
                .labels
                .iter()
                .find(|l| l.primary())
                .or_else(|| d.labels.first());
            let (s, e) = label.map_or((code.len(), code.len()), |l| {
                (l.span().start as usize, l.span().end as usize)
            });
            let mut message = d.message.to_string();
            if let Some(help) = &d.help {
                message.push_str(&format!(" ({help})"));
            }
            (s, e, message)
        })
        .collect()
}

fn rust(code: &str) -> Raw {
    let Err(err) = syn::parse_file(code) else {
        return Vec::new();
    };
    // syn strips a BOM and a `#!` line before lexing; its spans are relative to what is left.
    let body = code.strip_prefix('\u{feff}').unwrap_or(code);
    let mut prefix = code.len() - body.len();
    if body.starts_with("#!") && !body[2..].trim_start().starts_with('[') {
        prefix += body.find('\n').unwrap_or(body.len());
    }
    let mut message = err.to_string();
    if message == "cannot parse string into token stream" {
        // proc-macro2's lexer error: say what it usually means.
        message = "cannot tokenize: unbalanced delimiter or invalid literal".into();
    }
    let r = err.span().byte_range();
    // A top-level "unexpected end of input" has no real span: it is at the end.
    let (s, e) = if r == (0..0) && message.starts_with("unexpected end of input") {
        (code.len(), code.len())
    } else {
        (r.start + prefix, r.end + prefix)
    };
    // proc-macro2 keeps every parsed source for span lookups; release it.
    proc_macro2::extra::invalidate_current_thread_spans();
    vec![(s, e, message)]
}

fn json(code: &str) -> Raw {
    let Err(e) = serde_json::from_str::<serde_json::Value>(code) else {
        return Vec::new();
    };
    // serde_json counts the column in bytes, 1-based (0 when the error is at a line's start).
    let line_start: usize = code
        .split_inclusive('\n')
        .take(e.line().saturating_sub(1))
        .map(str::len)
        .sum();
    let at = line_start + e.column().saturating_sub(1);
    let message = e.to_string();
    let message = message
        .split(" at line ")
        .next()
        .unwrap_or(&message)
        .to_string();
    vec![(at, at + 1, message)]
}

#[cfg(test)]
mod tests {
    // The same tables run natively and in wasm (wasm-bindgen-test under Node).
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    /// (language, code, first error's (line, column), or None when valid)
    type Case = (Language, &'static str, Option<(usize, usize)>);
    const CASES: &[Case] = &[
        (Language::Python, "def f(x):\n    return x\n", None),
        (
            Language::Python,
            "match x:\n    case 1:\n        pass\n",
            None,
        ),
        (Language::Python, "def f(x)\n    return x\n", Some((1, 9))),
        (Language::Python, "x = 1 +\n", Some((1, 8))),
        (Language::Python, "  x = 1\n", Some((1, 1))),
        (Language::Python, "def f():\n", Some((1, 9))),
        (
            Language::Python,
            "if x:\n    y = 1\n   z = 2\n",
            Some((3, 1)),
        ),
        // CPython: "'(' was never closed" at 1:6, not at the next statement (2:1).
        (Language::Python, "print('a'\nx = 2\n", Some((1, 6))),
        (
            Language::Python,
            "def f(n):\n    return max([n, 1, (2\n\ny = 3\n",
            Some((2, 23)),
        ),
        (Language::JavaScript, "function f(a) { return a; }\n", None),
        (
            Language::JavaScript,
            "const f = async (a) => { await a; };\n",
            None,
        ),
        (
            Language::JavaScript,
            "function f(a { return a; }\n",
            Some((1, 11)),
        ),
        (Language::JavaScript, "const x = ;\n", Some((1, 11))),
        (Language::JavaScript, "let a = [1, 2;\n", Some((1, 9))),
        (
            Language::TypeScript,
            "function f(a: number): number { return a; }\n",
            None,
        ),
        (Language::TypeScript, "let x: = 5;\n", Some((1, 8))),
        (Language::Rust, "fn main() {\n    let x = 1;\n}\n", None),
        (Language::Rust, "fn main() { let x = ; }\n", Some((1, 21))),
        (
            Language::Rust,
            "fn f() -> i32 { 1 }\nfn g( {}\n",
            Some((2, 5)),
        ),
        (Language::Json, "{\"a\": [1, 2]}", None),
        (Language::Json, "{\"a\": [1, 2}", Some((1, 12))),
    ];

    #[test]
    fn first_error_table() {
        let mut wrong = Vec::new();
        for &(lang, code, want) in CASES {
            let diags = check(code, lang).expect("supported");
            let got = diags.first().map(|d| (d.line, d.column));
            if got != want {
                wrong.push(format!(
                    "{lang:?} {code:?}: got {got:?} want {want:?}: {diags:?}"
                ));
            }
            for d in &diags {
                assert!(
                    d.start <= d.end && d.end <= code.len() && !d.message.is_empty(),
                    "{d:?}"
                );
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    #[test]
    fn unsupported_languages_say_so() {
        assert_eq!(check("int main() {}", Language::C), None);
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        let d = check("s = 'é' +\n", Language::Python).expect("supported");
        assert_eq!((d[0].line, d[0].column), (1, 10));
        assert_eq!(d[0].start, 10);
    }
}
