//! A program's structure with its names and literals anonymised: what the temperature lab counts
//! as "structurally distinct programs" (docs/LAB.md). Two programs have the same structure when
//! their parser's tokens are the same kinds in the same order once every identifier is `N`,
//! every literal `L`, and comments and layout are dropped: `def is_prime(n): return n > 1` and
//! `def f(x): return x > 2` share one; a loop where the other recurses is another, and so is an
//! added docstring. For Python the tokens are the ruff parser's (the program must parse); for
//! Rust, syn's. Other languages have none here.

use proc_macro2::{Delimiter, TokenStream, TokenTree};
use quote::ToTokens;
use ruff_python_ast::token::TokenKind;

use super::Language;

/// The structure of `code` (see the module docs); `None` when it does not parse or kiln has no
/// parser to take it from for `lang`.
pub fn structure(code: &str, lang: Language) -> Option<String> {
    match lang {
        Language::Python => python(code),
        Language::Rust => rust(code),
        _ => None,
    }
}

fn python(code: &str) -> Option<String> {
    let parsed = ruff_python_parser::parse_module(code).ok()?;
    let kinds: Vec<String> = parsed
        .tokens()
        .iter()
        .map(|t| t.kind())
        .filter(|k| !k.is_trivia())
        .map(|k| match k {
            TokenKind::Name => "N".to_string(),
            TokenKind::Int
            | TokenKind::Float
            | TokenKind::Complex
            | TokenKind::String
            | TokenKind::FStringMiddle
            | TokenKind::TStringMiddle => "L".to_string(),
            k => format!("{k:?}"),
        })
        .collect();
    Some(kinds.join(" "))
}

/// Rust's strict and reserved keywords (the Reference, "Keywords"): kept, not anonymised.
const RUST_KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern",
    "false", "fn", "for", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub",
    "ref", "return", "self", "Self", "static", "struct", "super", "trait", "true", "type",
    "unsafe", "use", "where", "while",
];

fn rust(code: &str) -> Option<String> {
    let file = syn::parse_file(code).ok()?;
    let mut out = Vec::new();
    walk(file.into_token_stream(), &mut out);
    Some(out.join(" "))
}

fn walk(tokens: TokenStream, out: &mut Vec<String>) {
    for t in tokens {
        match t {
            TokenTree::Ident(i) => {
                let s = i.to_string();
                out.push(if RUST_KEYWORDS.contains(&s.as_str()) {
                    s
                } else {
                    "N".into()
                });
            }
            TokenTree::Literal(_) => out.push("L".into()),
            TokenTree::Punct(p) => out.push(p.as_char().to_string()),
            TokenTree::Group(g) => {
                let (open, close) = match g.delimiter() {
                    Delimiter::Parenthesis => ("(", ")"),
                    Delimiter::Brace => ("{", "}"),
                    Delimiter::Bracket => ("[", "]"),
                    Delimiter::None => ("", ""),
                };
                out.push(open.into());
                walk(g.stream(), out);
                out.push(close.into());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_literals_do_not_count_the_shape_does() {
        let py = |s: &str| structure(s, Language::Python);
        let a = py("def is_prime(n):\n    # small\n    return n > 1\n");
        assert!(a.is_some());
        assert_eq!(a, py("def f(x):\n    return x > 2.5\n"));
        assert_ne!(a, py("def f(x):\n    return x >= 2\n"));
        assert_ne!(a, py("def f(x):\n    \"\"\"Doc.\"\"\"\n    return x > 2\n"));
        let looped = py("def f(n):\n    for i in range(n):\n        n += i\n    return n\n");
        assert_ne!(a, looped);
        assert_eq!(py("def f(:\n"), None);
        let rs = |s: &str| structure(s, Language::Rust);
        assert_eq!(
            rs("fn add(a: i32, b: i32) -> i32 { a + b }"),
            rs("fn plus(x: u8, y: u8) -> u8 {\n    x + y\n}")
        );
        assert_ne!(
            rs("fn f(a: i32) -> i32 { a }"),
            rs("fn f(a: i32) -> i32 { return a; }")
        );
        assert_eq!(rs("fn ("), None);
        assert_eq!(structure("let x = 1;", Language::JavaScript), None);
    }
}
