//! Whether post-processing left a program worth the name. Cutting an answer back until it parses
//! can leave nothing, or a function without its body: "the code parses" would then call nothing a
//! success. Such a result is reported as incomplete, with what was cut and why.

use serde::{Deserialize, Serialize};

use super::lex::{Kind, lex};
use super::{Language, TrimReport, TruncateReport};

/// Why the final code is not a usable program.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incomplete {
    /// What is missing, in words ("no code is left", "`square` has no body").
    pub reason: String,
    /// Generation ended on its token limit (raising max tokens is the fix).
    pub hit_max_tokens: bool,
    /// The text post-processing cut to get here (an unfinished last line, truncated lines).
    pub cut: String,
}

/// Nesting deeper than this is not searched for body-less functions (generated code is not
/// trusted to be shallow).
const MAX_DEPTH: usize = 16;

/// `None` when `code` is a usable program; otherwise why not. `trim` and `truncate` say what was
/// removed on the way, `hit_max_tokens` why.
pub fn incompleteness(
    code: &str,
    lang: Language,
    trim: &TrimReport,
    truncate: Option<&TruncateReport>,
    hit_max_tokens: bool,
) -> Option<Incomplete> {
    let mut cut = trim.cut_incomplete_line.clone().unwrap_or_default();
    if let Some(t) = truncate {
        cut = format!("{}{cut}", t.cut);
    }
    let reason = if !has_code(code, lang) {
        Some("no code is left".to_string())
    } else if let Some(name) = (lang == Language::Python)
        .then(|| bodyless_python_function(code))
        .flatten()
    {
        Some(format!("`{name}` has no body"))
    } else {
        truncate.filter(|t| !t.closed.is_empty()).map(|t| {
            format!(
                "an open block was cut and closed with `{}`",
                t.closed.trim()
            )
        })
    }?;
    Some(Incomplete {
        reason,
        hit_max_tokens,
        cut,
    })
}

/// Whether `code` has anything besides whitespace and comments.
fn has_code(code: &str, lang: Language) -> bool {
    let non_space = |s: &str| s.bytes().filter(|b| !b.is_ascii_whitespace()).count();
    let total = non_space(code);
    if total == 0 || matches!(lang, Language::Other | Language::Json) {
        return total > 0;
    }
    let in_comments: usize = lex(code, lang)
        .iter()
        .filter(|t| matches!(t.kind, Kind::Comment { .. }))
        .filter_map(|t| code.get(t.start..t.end))
        .map(non_space)
        .sum();
    total > in_comments
}

/// The first function whose body is only `pass`, `...` or a docstring.
fn bodyless_python_function(code: &str) -> Option<String> {
    let parsed = ruff_python_parser::parse_module(code).ok()?;
    find_bodyless(&parsed.syntax().body, 0)
}

fn find_bodyless(body: &[ruff_python_ast::Stmt], depth: usize) -> Option<String> {
    use ruff_python_ast::Stmt;
    if depth > MAX_DEPTH {
        return None;
    }
    body.iter().find_map(|s| match s {
        Stmt::FunctionDef(f) => {
            if f.body.iter().all(is_placeholder) {
                Some(f.name.id.to_string())
            } else {
                find_bodyless(&f.body, depth + 1)
            }
        }
        Stmt::ClassDef(c) => find_bodyless(&c.body, depth + 1),
        _ => None,
    })
}

/// `pass`, `...` or a bare string (a docstring).
fn is_placeholder(s: &ruff_python_ast::Stmt) -> bool {
    use ruff_python_ast::{Expr, Stmt};
    match s {
        Stmt::Pass(_) => true,
        Stmt::Expr(e) => matches!(*e.value, Expr::EllipsisLiteral(_) | Expr::StringLiteral(_)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    // The same tables run natively and in wasm (wasm-bindgen-test under Node).
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn incompleteness_table() {
        use Language::*;
        // (code, language, closed by truncation, expected reason)
        let cases: [(&str, Language, &str, Option<&str>); 12] = [
            ("def add(a, b):\n    return a + b\n", Python, "", None),
            ("", Python, "", Some("no code is left")),
            ("\n  \n", Rust, "", Some("no code is left")),
            (
                "# a comment\n# another\n",
                Python,
                "",
                Some("no code is left"),
            ),
            (
                "// only a comment\n/* and this */\n",
                JavaScript,
                "",
                Some("no code is left"),
            ),
            (
                "def square(n):\n    pass\n",
                Python,
                "",
                Some("`square` has no body"),
            ),
            (
                "def f():\n    \"\"\"Doc.\"\"\"\n    ...\n",
                Python,
                "",
                Some("`f` has no body"),
            ),
            (
                "class A:\n    def m(self):\n        pass\n",
                Python,
                "",
                Some("`m` has no body"),
            ),
            ("class Error(Exception):\n    pass\n", Python, "", None),
            (
                "function f(a) {\n  if (a) {\n  }\n}\n",
                JavaScript,
                "}\n}\n",
                Some("an open block was cut and closed with `}\n}`"),
            ),
            ("x = 1  # set\n", Python, "", None),
            ("SELECT 1;\n", Other, "", None),
        ];
        for (code, lang, closed, want) in cases {
            let trunc = TruncateReport {
                closed: closed.into(),
                ..TruncateReport::default()
            };
            let got = incompleteness(code, lang, &TrimReport::default(), Some(&trunc), true);
            assert_eq!(got.as_ref().map(|i| i.reason.as_str()), want, "{code:?}");
            if let Some(i) = got {
                assert!(i.hit_max_tokens);
            }
        }
    }

    #[test]
    fn reports_what_was_cut() {
        let trim = TrimReport {
            cut_incomplete_line: Some("    return".into()),
            ..TrimReport::default()
        };
        let trunc = TruncateReport {
            cut: "def square_number(num):\n".into(),
            ..TruncateReport::default()
        };
        let i = incompleteness("", Language::Python, &trim, Some(&trunc), true);
        assert_eq!(
            i.map(|i| i.cut).as_deref(),
            Some("def square_number(num):\n    return")
        );
    }
}
