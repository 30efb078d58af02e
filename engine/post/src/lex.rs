//! A small lexer shared by the text-level stages (truncation, formatting, integration): it
//! knows where strings and comments are in Python, JavaScript/TypeScript and Rust, so that
//! bracket depth, indentation and identifiers are read from code only.
//!
//! It is deliberately not a parser: JavaScript regex literals are read as punctuation, and
//! template literals as one string (with `${…}` inside). The syntax check uses real parsers.

use super::Language;

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// An identifier or keyword.
    Ident,
    /// A number literal.
    Number,
    /// A string, byte string, f-string, template or char literal; `closed` is false when the
    /// text ends inside it.
    Str { closed: bool },
    /// A comment (`closed` is false for an unterminated block comment).
    Comment { closed: bool },
    /// One punctuation character.
    Punct(char),
}

/// One token, with its byte range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Token {
    pub kind: Kind,
    pub start: usize,
    pub end: usize,
}

/// Splits `code` into tokens (whitespace is skipped).
pub(crate) fn lex(code: &str, lang: Language) -> Vec<Token> {
    let b = code.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let start = i;
        let kind = if c.is_ascii_whitespace() {
            i += 1;
            continue;
        } else if let Some((end, closed)) = comment(b, i, lang) {
            i = end;
            Kind::Comment { closed }
        } else if let Some((end, closed)) = string(b, i, lang) {
            i = end;
            Kind::Str { closed }
        } else if c.is_ascii_digit() {
            i = scan_while(b, i, |c| {
                c.is_ascii_alphanumeric() || c == b'_' || c == b'.'
            });
            Kind::Number
        } else if c.is_ascii_alphabetic() || c == b'_' || c == b'$' || c >= 0x80 {
            i = scan_while(b, i, |c| {
                c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80
            });
            Kind::Ident
        } else {
            i += 1;
            Kind::Punct(c as char)
        };
        out.push(Token {
            kind,
            start,
            end: i,
        });
    }
    out
}

fn scan_while(b: &[u8], mut i: usize, f: impl Fn(u8) -> bool) -> usize {
    while i < b.len() && f(b[i]) {
        i += 1;
    }
    i
}

/// A comment starting at `i`: (end, closed).
fn comment(b: &[u8], i: usize, lang: Language) -> Option<(usize, bool)> {
    let rest = &b[i..];
    let line_end = |from: usize| {
        b[from..]
            .iter()
            .position(|&c| c == b'\n')
            .map_or(b.len(), |p| from + p)
    };
    match lang {
        Language::Python => (rest[0] == b'#').then(|| (line_end(i), true)),
        _ if rest.starts_with(b"//") => Some((line_end(i), true)),
        _ if rest.starts_with(b"/*") => {
            // Rust block comments nest; JavaScript's do not.
            let nests = lang == Language::Rust;
            let (mut depth, mut j) = (1, i + 2);
            while j < b.len() {
                if b[j..].starts_with(b"*/") {
                    depth -= 1;
                    j += 2;
                    if depth == 0 {
                        return Some((j, true));
                    }
                } else if nests && b[j..].starts_with(b"/*") {
                    depth += 1;
                    j += 2;
                } else {
                    j += 1;
                }
            }
            Some((b.len(), false))
        }
        _ => None,
    }
}

/// A string literal starting at `i`: (end, closed).
fn string(b: &[u8], i: usize, lang: Language) -> Option<(usize, bool)> {
    match lang {
        Language::Python => python_string(b, i),
        Language::Rust => rust_string(b, i),
        _ => match b[i] {
            q @ (b'"' | b'\'' | b'`') => Some(quoted(b, i + 1, q, q == b'`')),
            _ => None,
        },
    }
}

/// Scans to the closing `q` (backslash escapes), from just after the opening quote.
fn quoted(b: &[u8], mut j: usize, q: u8, multiline: bool) -> (usize, bool) {
    while j < b.len() {
        match b[j] {
            b'\\' => j += 2,
            b'\n' if !multiline => return (j, false),
            c if c == q => return (j + 1, true),
            _ => j += 1,
        }
    }
    (b.len(), false)
}

fn python_string(b: &[u8], i: usize) -> Option<(usize, bool)> {
    // Optional prefix of up to two letters from r, b, f, u (any case), then a quote.
    let mut j = i;
    while j < b.len() && j - i < 2 && b"rRbBfFuU".contains(&b[j]) {
        j += 1;
    }
    let q = *b.get(j).filter(|&&c| c == b'"' || c == b'\'')?;
    if j > i && i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_') {
        return None;
    }
    let raw = b[i..j].iter().any(|c| c.eq_ignore_ascii_case(&b'r'));
    let triple = b[j..].starts_with(&[q, q, q]);
    if !triple {
        return Some(quoted(b, j + 1, q, false));
    }
    let mut k = j + 3;
    while k < b.len() {
        if b[k] == b'\\' && !raw {
            k += 2;
        } else if b[k..].starts_with(&[q, q, q]) {
            return Some((k + 3, true));
        } else {
            k += 1;
        }
    }
    Some((b.len(), false))
}

fn rust_string(b: &[u8], i: usize) -> Option<(usize, bool)> {
    if i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_') {
        return None;
    }
    let mut j = i;
    if b[j] == b'b' || b[j] == b'c' {
        j += 1;
    }
    if b.get(j) == Some(&b'r') && matches!(b.get(j + 1), Some(b'"' | b'#')) {
        // Raw string: r#"…"# with the same number of hashes.
        let hashes = b[j + 1..].iter().take_while(|&&c| c == b'#').count();
        let open = j + 1 + hashes;
        if b.get(open) != Some(&b'"') {
            return None;
        }
        let mut close = vec![b'"'];
        close.extend(std::iter::repeat_n(b'#', hashes));
        return Some(
            b[open + 1..]
                .windows(close.len())
                .position(|w| w == close.as_slice())
                .map_or((b.len(), false), |p| (open + 1 + p + close.len(), true)),
        );
    }
    match b.get(j)? {
        b'"' => Some(quoted(b, j + 1, b'"', true)),
        b'\'' => {
            // A char literal ('a', '\n', '\u{1F600}', 'é') or a lifetime ('a): a lifetime has no
            // closing quote right after its first character.
            let rest = &b[j + 1..];
            if rest.first() == Some(&b'\\') {
                return Some(quoted(b, j + 1, b'\'', false));
            }
            let head = &rest[..rest.len().min(4)];
            let valid = match std::str::from_utf8(head) {
                Ok(s) => s,
                Err(e) => std::str::from_utf8(&head[..e.valid_up_to()]).unwrap_or_default(),
            };
            let ch_len = valid.chars().next().map_or(1, char::len_utf8);
            (rest.get(ch_len) == Some(&b'\'')).then_some((j + 1 + ch_len + 1, true))
        }
        _ => None,
    }
}

/// The brackets left open at the end of `tokens` with their byte offsets, innermost last;
/// `None` when a closer does not match or the text ends inside a string or comment.
pub(crate) fn open_brackets(tokens: &[Token]) -> Option<Vec<(char, usize)>> {
    let mut stack = Vec::new();
    for t in tokens {
        match t.kind {
            Kind::Str { closed: false } | Kind::Comment { closed: false } => return None,
            Kind::Punct(c @ ('(' | '[' | '{')) => stack.push((c, t.start)),
            Kind::Punct(c @ (')' | ']' | '}')) => {
                let (open, _) = stack.pop()?;
                if closer(open) != c {
                    return None;
                }
            }
            _ => {}
        }
    }
    Some(stack)
}

/// The closing bracket for an opening one.
pub(crate) fn closer(open: char) -> char {
    match open {
        '(' => ')',
        '[' => ']',
        _ => '}',
    }
}

/// Byte ranges of string literals that span lines: text inside them must not be re-indented.
pub(crate) fn multiline_strings(code: &str, tokens: &[Token]) -> Vec<(usize, usize)> {
    tokens
        .iter()
        .filter(|t| matches!(t.kind, Kind::Str { .. }) && code[t.start..t.end].contains('\n'))
        .map(|t| (t.start, t.end))
        .collect()
}

#[cfg(test)]
mod tests {
    // The same tables run natively and in wasm (wasm-bindgen-test under Node).
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    fn kinds(code: &str, lang: Language) -> Vec<(Kind, &str)> {
        lex(code, lang)
            .into_iter()
            .map(|t| (t.kind, &code[t.start..t.end]))
            .collect()
    }

    #[test]
    fn python_strings_and_comments_hide_brackets() {
        let code = "x = f'({y}' # (\ns = '''a\n(b'''\n";
        let toks = lex(code, Language::Python);
        assert_eq!(open_brackets(&toks), Some(vec![]));
        assert_eq!(multiline_strings(code, &toks).len(), 1);
        assert_eq!(
            kinds("rb'x'", Language::Python)[0].0,
            Kind::Str { closed: true }
        );
    }

    #[test]
    fn rust_lifetimes_chars_and_raw_strings() {
        let code = "fn f<'a>(x: &'a str) -> char { let _ = r#\"}\"#; '{' }";
        let toks = lex(code, Language::Rust);
        assert_eq!(open_brackets(&toks), Some(vec![]));
        let k = kinds("'\\n' 'é' 'a '日'", Language::Rust);
        assert_eq!(k[0], (Kind::Str { closed: true }, "'\\n'"));
        assert_eq!(k[1], (Kind::Str { closed: true }, "'é'"));
        assert_eq!(k[2], (Kind::Punct('\''), "'"));
        assert_eq!(k[4], (Kind::Str { closed: true }, "'日'"));
    }

    #[test]
    fn unclosed_things_are_reported() {
        let code = "function f() {\n  if (a) {\n    g([1, ";
        let toks = lex(code, Language::JavaScript);
        let open: Vec<char> = open_brackets(&toks)
            .unwrap_or_default()
            .iter()
            .map(|o| o.0)
            .collect();
        assert_eq!(open, ['{', '{', '(', '[']);
        let code = "const s = `abc";
        assert_eq!(open_brackets(&lex(code, Language::JavaScript)), None);
        let code = "/* a /* b */ c";
        assert_eq!(
            kinds(code, Language::Rust)[0].0,
            Kind::Comment { closed: false }
        );
        assert_eq!(open_brackets(&lex("f(]", Language::Rust)), None);
    }
}
