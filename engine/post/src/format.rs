//! Formatting to each language's conventions, never changing what the code means:
//! - Python: ruff's formatter (Black-compatible), target the latest Python;
//! - Rust: prettyplease (rustfmt-like), unless the code has ordinary `//`/`/* */` comments,
//!   which syn does not keep; then the whitespace normalisation below;
//! - JavaScript, TypeScript, JSON, Go, C: whitespace normalisation (no maintained formatter
//!   crate builds for wasm32 at our toolchain): line endings to `\n`, trailing whitespace
//!   dropped, leading tabs to the language's indent unit (Go keeps tabs: gofmt uses them), at
//!   most one blank line in a row, exactly one final newline. Text inside multi-line string
//!   literals is left byte for byte.
//!
//! Every result is checked before it is returned: Python by comparing ruff ASTs (docstrings
//! compared with whitespace ignored, since formatters re-indent them), Rust by comparing token
//! streams, normalised text by comparing its tokens. If the check fails, the original is kept.

use serde::{Deserialize, Serialize};

use super::lex::{Kind, lex, multiline_strings};
use super::{Language, check};

/// The outcome of formatting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Formatted {
    /// The formatted code (the input when nothing could be done).
    pub code: String,
    /// Which formatter ran: `ruff`, `prettyplease`, `whitespace`, or `none`.
    pub formatter: String,
    /// Whether the code changed.
    pub changed: bool,
    /// Why the preferred formatter did not run, if it did not.
    pub note: Option<String>,
}

/// Formats `code` (see the module docs); code with syntax errors is returned unchanged.
pub fn format(code: &str, lang: Language) -> Formatted {
    let keep = |note: &str| Formatted {
        code: code.to_string(),
        formatter: "none".into(),
        changed: false,
        note: Some(note.into()),
    };
    match check(code, lang) {
        Some(d) if !d.is_empty() => return keep("not formatted: the code has syntax errors"),
        None if lang == Language::Other => return keep("no formatter for this language"),
        _ => {}
    }
    let (formatter, result, mut note) = match lang {
        Language::Python => ("ruff", python(code), None),
        Language::Rust if has_plain_comments(code) => (
            "whitespace",
            normalise(code, lang),
            Some("prettyplease drops ordinary comments: whitespace normalised instead".into()),
        ),
        Language::Rust => ("prettyplease", rust(code), None),
        _ => ("whitespace", normalise(code, lang), None),
    };
    let result = result.and_then(|out| {
        if same_meaning(code, &out, lang) {
            Ok(out)
        } else {
            Err(format!(
                "{formatter} changed the code's meaning; kept the original"
            ))
        }
    });
    match result {
        Ok(out) => Formatted {
            changed: out != code,
            code: out,
            formatter: formatter.into(),
            note,
        },
        Err(e) => {
            note = Some(e);
            Formatted {
                code: code.to_string(),
                formatter: "none".into(),
                changed: false,
                note,
            }
        }
    }
}

fn python(code: &str) -> Result<String, String> {
    use ruff_python_ast::{PySourceType, PythonVersion};
    use ruff_python_formatter::{PyFormatOptions, format_module_source};
    let opts = PyFormatOptions::from_source_type(PySourceType::Python)
        .with_target_version(PythonVersion::latest());
    format_module_source(code, opts)
        .map(|p| p.into_code())
        .map_err(|e| format!("ruff format: {e}"))
}

fn rust(code: &str) -> Result<String, String> {
    let file = syn::parse_file(code).map_err(|e| e.to_string())?;
    let out = prettyplease::unparse(&file);
    proc_macro2::extra::invalidate_current_thread_spans();
    Ok(out)
}

/// True when Rust code has comments that are not doc comments.
fn has_plain_comments(code: &str) -> bool {
    lex(code, Language::Rust).iter().any(|t| {
        let text = &code[t.start..t.end];
        matches!(t.kind, Kind::Comment { .. })
            && !["///", "//!", "/**", "/*!"]
                .iter()
                .any(|p| text.starts_with(p))
    })
}

/// The whitespace normalisation described in the module docs.
fn normalise(code: &str, lang: Language) -> Result<String, String> {
    let code = code.replace("\r\n", "\n");
    let tokens = lex(&code, lang);
    let strings = multiline_strings(&code, &tokens);
    let inside_string = |pos: usize| strings.iter().any(|&(s, e)| s < pos && pos < e);
    let unit = match lang {
        Language::JavaScript | Language::TypeScript | Language::Json => "  ",
        _ => "    ",
    };
    let mut out = String::with_capacity(code.len());
    let mut blank_run = 0;
    let mut offset = 0;
    for line in code.split_inclusive('\n') {
        let start = offset;
        offset += line.len();
        let body = line.strip_suffix('\n').unwrap_or(line);
        if inside_string(start) {
            out.push_str(body);
            out.push('\n');
            blank_run = 0;
            continue;
        }
        let body = if inside_string(start + body.len()) {
            body
        } else {
            body.trim_end()
        };
        if body.is_empty() {
            blank_run += 1;
            if blank_run > 1 || out.is_empty() {
                continue;
            }
        } else {
            blank_run = 0;
        }
        let rest = body.trim_start_matches([' ', '\t']);
        let indent = &body[..body.len() - rest.len()];
        if lang == Language::Go {
            out.push_str(indent);
        } else {
            for c in indent.chars() {
                out.push_str(if c == '\t' { unit } else { " " });
            }
        }
        out.push_str(rest);
        out.push('\n');
    }
    while out.ends_with("\n\n") {
        out.pop();
    }
    Ok(out)
}

/// Whether `a` and `b` mean the same program (see the module docs).
fn same_meaning(a: &str, b: &str, lang: Language) -> bool {
    match lang {
        Language::Python => python_ast_eq(a, b),
        Language::Rust if !has_plain_comments(a) => rust_tokens_eq(a, b),
        _ => code_tokens(a, lang) == code_tokens(b, lang),
    }
}

/// The non-comment tokens' texts, and the comments with whitespace removed.
fn code_tokens(code: &str, lang: Language) -> Vec<String> {
    lex(code, lang)
        .iter()
        .map(|t| {
            let text = &code[t.start..t.end];
            match t.kind {
                Kind::Comment { .. } => text.split_whitespace().collect(),
                _ => text.replace("\r\n", "\n"),
            }
        })
        .collect()
}

fn rust_tokens_eq(a: &str, b: &str) -> bool {
    use quote::ToTokens;
    let tokens = |s: &str| {
        syn::parse_file(s)
            .ok()
            .map(|f| f.to_token_stream().to_string())
    };
    let same = matches!((tokens(a), tokens(b)), (Some(x), Some(y)) if x == y);
    proc_macro2::extra::invalidate_current_thread_spans();
    same
}

fn python_ast_eq(a: &str, b: &str) -> bool {
    use ruff_python_ast::comparable::ComparableMod;
    use ruff_python_ast::{Mod, PythonVersion};
    use ruff_python_parser::{Mode, ParseOptions, parse_unchecked};
    let parse = |s: &str| {
        let opts = ParseOptions::from(Mode::Module).with_target_version(PythonVersion::latest());
        let parsed = parse_unchecked(s, opts);
        if !parsed.errors().is_empty() {
            return None;
        }
        let mut module = parsed.into_syntax();
        let mut docs = Vec::new();
        if let Mod::Module(m) = &mut module {
            take_docstrings(&mut m.body, &mut docs);
        }
        Some((module, docs))
    };
    match (parse(a), parse(b)) {
        (Some((ma, da)), Some((mb, db))) => {
            da == db && ComparableMod::from(&ma) == ComparableMod::from(&mb)
        }
        _ => false,
    }
}

/// Replaces every docstring in `body` (recursively) with `pass`, collecting its text with
/// whitespace collapsed: formatters re-indent docstrings, which is not a change in meaning.
fn take_docstrings(body: &mut [ruff_python_ast::Stmt], docs: &mut Vec<String>) {
    use ruff_python_ast::{Expr, Stmt, StmtPass};
    if let Some(Stmt::Expr(e)) = body.first()
        && let Expr::StringLiteral(s) = &*e.value
    {
        docs.push(
            s.value
                .to_str()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" "),
        );
        body[0] = Stmt::Pass(StmtPass {
            node_index: Default::default(),
            range: e.range,
        });
    }
    for stmt in body.iter_mut() {
        match stmt {
            Stmt::FunctionDef(f) => take_docstrings(&mut f.body, docs),
            Stmt::ClassDef(c) => take_docstrings(&mut c.body, docs),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    // The same tables run natively and in wasm (wasm-bindgen-test under Node).
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    /// (language, input, expected formatter, expected output or None to only check properties)
    type Case = (Language, &'static str, &'static str, Option<&'static str>);
    const CASES: &[Case] = &[
        (
            Language::Python,
            "def f(a,b):\n  return a+b\n",
            "ruff",
            Some("def f(a, b):\n    return a + b\n"),
        ),
        (
            Language::Python,
            "def f(x):\n        '''Doc.\n\n        More.\n        '''\n        return {'a':x}\n",
            "ruff",
            Some("def f(x):\n    \"\"\"Doc.\n\n    More.\n    \"\"\"\n    return {\"a\": x}\n"),
        ),
        (
            Language::Python,
            "s = '''keep\n   this  \n'''\n",
            "ruff",
            Some("s = \"\"\"keep\n   this  \n\"\"\"\n"),
        ),
        (
            Language::Rust,
            "fn main(){let x=1;println!(\"{}\",x);}",
            "prettyplease",
            Some("fn main() {\n    let x = 1;\n    println!(\"{}\", x);\n}\n"),
        ),
        (
            Language::Rust,
            "/// Adds.\nfn add(a:i32,b:i32)->i32{a+b}\n",
            "prettyplease",
            Some("/// Adds.\nfn add(a: i32, b: i32) -> i32 {\n    a + b\n}\n"),
        ),
        (
            Language::Rust,
            "fn f() {\r\n\t// keep me   \r\n\tlet s = \"a  \n\tb\";\r\n}\r\n\r\n\r\n",
            "whitespace",
            Some("fn f() {\n    // keep me\n    let s = \"a  \n\tb\";\n}\n"),
        ),
        (
            Language::JavaScript,
            "\n\nfunction f(a) {\t\n\treturn `x  \n\ty`;\n}\n\n\n\nf(1);",
            "whitespace",
            Some("function f(a) {\n  return `x  \n\ty`;\n}\n\nf(1);\n"),
        ),
        (
            Language::TypeScript,
            "const x: number = 1;   \n",
            "whitespace",
            Some("const x: number = 1;\n"),
        ),
        (
            Language::Json,
            "{\n\t\"a\": 1\n}",
            "whitespace",
            Some("{\n  \"a\": 1\n}\n"),
        ),
        (Language::Python, "def f(:\n", "none", None),
        (Language::Other, "anything  \n", "none", None),
    ];

    #[test]
    fn formatting_table_is_idempotent_and_keeps_meaning() {
        let mut wrong = Vec::new();
        for &(lang, input, formatter, want) in CASES {
            let got = format(input, lang);
            if got.formatter != formatter || want.is_some_and(|w| w != got.code) {
                wrong.push(format!(
                    "{lang:?} {input:?}\n  got {got:?}\n  want {want:?}"
                ));
                continue;
            }
            if formatter == "none" {
                assert_eq!(got.code, input);
                continue;
            }
            assert_eq!(check(&got.code, lang), Some(vec![]), "{got:?} must parse");
            assert!(same_meaning(input, &got.code, lang), "{got:?}");
            let again = format(&got.code, lang);
            assert_eq!(again.code, got.code, "not idempotent: {lang:?} {input:?}");
            assert!(!again.changed);
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    #[test]
    fn the_meaning_check_catches_real_changes() {
        assert!(!same_meaning("x = 1\n", "x = 2\n", Language::Python));
        assert!(!same_meaning(
            "def f():\n    '''a b'''\n",
            "def f():\n    '''a c'''\n",
            Language::Python
        ));
        assert!(!same_meaning(
            "fn f() { g(1) }",
            "fn f() { g(2) }",
            Language::Rust
        ));
        assert!(!same_meaning(
            "let s = `a\n b`;",
            "let s = `a\nb`;",
            Language::JavaScript
        ));
        assert!(same_meaning(
            "let s = 'a' ;",
            "let s = 'a';\n",
            Language::JavaScript
        ));
    }
}
