//! Integration into the surrounding file: given the text before and after the insertion point
//! (what an editor sends) and the generated code,
//! - re-indent the code to the insertion point, in the file's indent unit;
//! - add the imports the code uses and the file lacks (a table of standard-library names per
//!   language; only names the file and the code do not define or import themselves);
//! - flag definitions in the code whose names the file already defines;
//! - report the file's naming convention (snake_case / camelCase) and the code's.
//!
//! This reads tokens (strings and comments skipped), not a full AST: it works on the partial
//! files an editor has while typing.

use serde::{Deserialize, Serialize};

use super::Language;
use super::imports::{import_line, import_position, stdlib_table};
use super::lex::{Kind, Token, lex, multiline_strings};

/// The file around the insertion point.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Context {
    /// Text before the insertion point.
    pub prefix: String,
    /// Text after the insertion point.
    pub suffix: String,
}

/// A naming convention.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Naming {
    /// `snake_case` names dominate.
    Snake,
    /// `camelCase` names dominate.
    Camel,
    /// Both are common.
    Mixed,
    /// Too few multi-word names to tell.
    Unknown,
}

/// A definition in the generated code whose name the file already defines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Clash {
    /// The name.
    pub name: String,
    /// 1-based line of the existing definition in the file (prefix + suffix as one text).
    pub file_line: usize,
    /// 1-based line of the new definition in the generated code.
    pub code_line: usize,
}

/// What integration produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Integration {
    /// The generated code, re-indented to the insertion point.
    pub code: String,
    /// The whole file: prefix (with added imports) + code + suffix.
    pub file: String,
    /// The indentation used at the insertion point.
    pub indent: String,
    /// Import lines added to the file.
    pub added_imports: Vec<String>,
    /// Definitions that clash with the file's.
    pub clashes: Vec<Clash>,
    /// The file's naming convention for functions and variables.
    pub file_naming: Naming,
    /// The generated code's.
    pub code_naming: Naming,
}

/// Integrates `code` into the file described by `ctx` (see the module docs).
pub fn integrate(code: &str, lang: Language, ctx: &Context) -> Integration {
    let file_text = format!("{}{}", ctx.prefix, ctx.suffix);
    let file = Scan::new(&file_text, lang);
    let generated = Scan::new(code, lang);
    let unit = indent_unit(&file_text, lang);
    let (prefix, indent) = insertion_indent(&ctx.prefix, lang, &unit);
    let code_out = reindent(code, lang, &indent, &unit);

    let defined_anywhere = |name: &str| file.binds(name) || generated.binds(name);
    let mut added_imports: Vec<String> = Vec::new();
    for (name, import) in generated.stdlib_uses() {
        let line = import_line(lang, name, import, &file_text);
        if !defined_anywhere(name) && !added_imports.contains(&line) {
            added_imports.push(line);
        }
    }
    let mut prefix = prefix.to_string();
    if !added_imports.is_empty() {
        let at = import_position(&prefix, lang);
        let block: String = added_imports.iter().map(|l| format!("{l}\n")).collect();
        prefix.insert_str(at, &block);
    }
    let clashes = generated
        .definitions(true)
        .into_iter()
        .filter_map(|(name, code_line)| {
            let (_, file_line) = file
                .definitions(false)
                .into_iter()
                .find(|(n, _)| *n == name)?;
            Some(Clash {
                name: name.to_string(),
                file_line,
                code_line,
            })
        })
        .collect();
    let mut joined = prefix.clone();
    if !joined.is_empty() && !joined.ends_with('\n') {
        joined.push('\n');
    }
    joined.push_str(&code_out);
    if !ctx.suffix.is_empty() && !joined.ends_with('\n') {
        joined.push('\n');
    }
    joined.push_str(&ctx.suffix);
    Integration {
        code: code_out,
        file: joined,
        indent,
        added_imports,
        clashes,
        file_naming: naming(&file),
        code_naming: naming(&generated),
    }
}

/// Tokens of a text with helpers to read names from them.
struct Scan<'a> {
    text: &'a str,
    lang: Language,
    tokens: Vec<Token>,
    /// Byte offset of every line's start: a token's line and column by binary search, not by
    /// scanning the text before it (which made a long one-line answer quadratic: 2 s for 40 KB,
    /// found by fuzzing).
    line_starts: Vec<usize>,
    /// Per line: whether it is an import statement (`import …`, `from … import …`, `use …;`,
    /// `require(…)`).
    import_lines: Vec<bool>,
}

impl<'a> Scan<'a> {
    fn new(text: &'a str, lang: Language) -> Self {
        let tokens = lex(text, lang)
            .into_iter()
            .filter(|t| !matches!(t.kind, Kind::Comment { .. }))
            .collect();
        let line_starts: Vec<usize> = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        let import_lines = line_starts
            .iter()
            .map(|&at| {
                let line = text[at..].lines().next().unwrap_or("").trim_start();
                match lang {
                    Language::Python => line.starts_with("import ") || line.starts_with("from "),
                    Language::Rust => line.starts_with("use ") || line.starts_with("pub use "),
                    _ => line.starts_with("import ") || line.contains("require("),
                }
            })
            .collect();
        Scan {
            text,
            lang,
            tokens,
            line_starts,
            import_lines,
        }
    }

    /// 0-based line index of token `i`.
    fn line_index(&self, i: usize) -> usize {
        let start = self.tokens[i].start;
        self.line_starts.partition_point(|&s| s <= start) - 1
    }

    fn tok(&self, i: usize) -> &'a str {
        self.tokens
            .get(i)
            .map_or("", |t| &self.text[t.start..t.end])
    }

    fn line(&self, i: usize) -> usize {
        self.line_index(i) + 1
    }

    fn column(&self, i: usize) -> usize {
        self.tokens[i].start - self.line_starts[self.line_index(i)]
    }

    fn is_ident(&self, i: usize) -> bool {
        self.tokens.get(i).is_some_and(|t| t.kind == Kind::Ident)
    }

    /// Whether the text imports or defines `name` (import, def/class/fn/…, assignment, `for`,
    /// `as`, parameter).
    fn binds(&self, name: &str) -> bool {
        (0..self.tokens.len()).any(|i| {
            self.tok(i) == name
                && (self.in_import(i)
                    || DEFINERS.contains(&self.tok(i.wrapping_sub(1)))
                    || matches!(self.tok(i.wrapping_sub(1)), "for" | "as" | "let" | "mut")
                    || (self.tok(i + 1) == "=" && self.tok(i + 2) != "="))
        })
    }

    /// Whether token `i` is inside an import statement (`import …`, `from … import …`,
    /// `use …;`, `require(…)`).
    fn in_import(&self, i: usize) -> bool {
        self.import_lines[self.line_index(i)]
    }

    /// Standard-library names the text uses without a path: (name, table entry).
    fn stdlib_uses(&self) -> Vec<(&'static str, &'static str)> {
        let table = stdlib_table(self.lang);
        let mut out = Vec::new();
        for i in 0..self.tokens.len() {
            if !self.is_ident(i) || self.in_import(i) {
                continue;
            }
            let prev = self.tok(i.wrapping_sub(1));
            if prev == "." || prev == "::" || (prev == ":" && self.tok(i.wrapping_sub(2)) == ":") {
                continue;
            }
            let name = self.tok(i);
            for &(n, module, as_module) in table {
                let used = n == name && (!as_module || matches!(self.tok(i + 1), "." | ":"));
                if used && !out.iter().any(|&(o, _)| o == n) {
                    out.push((n, module));
                }
            }
        }
        out
    }

    /// Definitions (name, 1-based line): functions, classes, types, and variables at the
    /// text's outermost indentation (only with `top_vars`, else at column 0).
    fn definitions(&self, top_vars: bool) -> Vec<(&'a str, usize)> {
        let base = (0..self.tokens.len())
            .map(|i| self.column(i))
            .min()
            .unwrap_or(0);
        let var_col = if top_vars { base } else { 0 };
        let mut out = Vec::new();
        for i in 0..self.tokens.len() {
            let prev = self.tok(i.wrapping_sub(1));
            let is_def = DEFINERS.contains(&prev);
            let is_var = VAR_DEFINERS.contains(&prev) && self.column(i - 1) == var_col
                || self.lang == Language::Python
                    && self.column(i) == var_col
                    && self.tok(i + 1) == "="
                    && self.tok(i + 2) != "=";
            if self.is_ident(i) && (is_def || is_var) {
                out.push((self.tok(i), self.line(i)));
            }
        }
        out
    }

    /// Names of functions and variables the text defines (for the naming convention).
    fn value_names(&self) -> Vec<&'a str> {
        (0..self.tokens.len())
            .filter(|&i| {
                let prev = self.tok(i.wrapping_sub(1));
                self.is_ident(i)
                    && (matches!(
                        prev,
                        "def" | "function" | "fn" | "let" | "const" | "var" | "mut"
                    ) || self.tok(i + 1) == "=" && self.tok(i + 2) != "=")
            })
            .map(|i| self.tok(i))
            .collect()
    }
}

/// Keywords followed by the name of a function, class or type.
const DEFINERS: &[&str] = &[
    "def",
    "class",
    "function",
    "interface",
    "type",
    "enum",
    "fn",
    "struct",
    "trait",
    "mod",
    "static",
];
/// Keywords followed by a variable name.
const VAR_DEFINERS: &[&str] = &["const", "let", "var"];

/// The file's indentation unit: its smallest indentation step (a tab if it indents with tabs),
/// else the language's default.
fn indent_unit(file: &str, lang: Language) -> String {
    if file.lines().any(|l| l.starts_with('\t')) {
        return "\t".into();
    }
    let step = file
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start_matches(' ').len())
        .filter(|&n| n > 0)
        .min();
    let default = match lang {
        Language::JavaScript | Language::TypeScript | Language::Json => 2,
        _ => 4,
    };
    " ".repeat(step.unwrap_or(default))
}

/// The prefix to keep (a whitespace-only last line is dropped: the code brings its own
/// indentation) and the indentation the code's first level goes to.
fn insertion_indent<'p>(prefix: &'p str, lang: Language, unit: &str) -> (&'p str, String) {
    let last_line_start = prefix.rfind('\n').map_or(0, |i| i + 1);
    let last = &prefix[last_line_start..];
    if !last.is_empty() && last.trim().is_empty() {
        return (&prefix[..last_line_start], last.to_string());
    }
    let Some(prev) = prefix.lines().rev().find(|l| !l.trim().is_empty()) else {
        return (prefix, String::new());
    };
    let own = &prev[..prev.len() - prev.trim_start().len()];
    let opens = match lang {
        Language::Python => prev.trim_end().ends_with(':'),
        _ => prev.trim_end().ends_with(['{', '(', '[']),
    };
    (
        prefix,
        if opens {
            format!("{own}{unit}")
        } else {
            own.to_string()
        },
    )
}

/// Moves `code`'s outermost level to `indent`, each further level one `unit` deeper; lines
/// inside multi-line strings are kept as they are.
fn reindent(code: &str, lang: Language, indent: &str, unit: &str) -> String {
    let strings = multiline_strings(code, &lex(code, lang));
    let inside_string = |pos: usize| strings.iter().any(|&(s, e)| s < pos && pos < e);
    let width = |ws: &str| {
        ws.chars()
            .map(|c| if c == '\t' { 4 } else { 1 })
            .sum::<usize>()
    };
    let mut lines = Vec::new();
    let mut offset = 0;
    for line in code.split_inclusive('\n') {
        let body = line.trim_end_matches(['\n', '\r']);
        let ws = &body[..body.len() - body.trim_start().len()];
        let keep = inside_string(offset) || body.trim().is_empty();
        lines.push((body, ws, keep));
        offset += line.len();
    }
    let base = lines
        .iter()
        .filter(|l| !l.2)
        .map(|l| width(l.1))
        .min()
        .unwrap_or(0);
    let steps: Vec<usize> = lines
        .iter()
        .filter(|l| !l.2)
        .map(|l| width(l.1) - base)
        .filter(|&w| w > 0)
        .collect();
    let step = steps.iter().copied().min().unwrap_or(4);
    let mut out = String::new();
    for (body, ws, keep) in lines {
        if keep {
            out.push_str(if body.trim().is_empty() { "" } else { body });
        } else {
            let rel = width(ws) - base;
            out.push_str(indent);
            out.push_str(&unit.repeat(rel / step));
            out.push_str(&" ".repeat(rel % step));
            out.push_str(body.trim_start());
        }
        out.push('\n');
    }
    out
}

fn naming(scan: &Scan) -> Naming {
    let (mut snake, mut camel) = (0, 0);
    for name in scan.value_names() {
        let has_lower = name.chars().any(|c| c.is_ascii_lowercase());
        let has_upper = name.chars().any(|c| c.is_ascii_uppercase());
        let starts_lower = name.starts_with(|c: char| c.is_ascii_lowercase());
        if name.trim_matches('_').contains('_') && has_lower && !has_upper {
            snake += 1;
        } else if starts_lower && has_upper && !name.contains('_') {
            camel += 1;
        }
    }
    match (snake, camel) {
        (0, 0) => Naming::Unknown,
        (s, c) if s >= 2 * c.max(1) || c == 0 => Naming::Snake,
        (s, c) if c >= 2 * s.max(1) || s == 0 => Naming::Camel,
        _ => Naming::Mixed,
    }
}

#[cfg(test)]
mod tests {
    // The same tables run natively and in wasm (wasm-bindgen-test under Node).
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;
    use crate::check;

    fn ctx(prefix: &str, suffix: &str) -> Context {
        Context {
            prefix: prefix.into(),
            suffix: suffix.into(),
        }
    }

    #[test]
    fn python_method_into_a_class_with_imports() {
        let c = ctx(
            "import os\n\nclass Stats:\n    def mean_value(self, xs):\n        return sum(xs) / len(xs)\n\n    ",
            "\nprint(os.getcwd())\n",
        );
        let code =
            "def spread(self, xs):\n  counts = Counter(xs)\n  return math.sqrt(len(counts))\n";
        let r = integrate(code, Language::Python, &c);
        assert_eq!(r.indent, "    ");
        assert_eq!(
            r.code,
            "    def spread(self, xs):\n        counts = Counter(xs)\n        return math.sqrt(len(counts))\n"
        );
        assert_eq!(
            r.added_imports,
            ["from collections import Counter", "import math"]
        );
        assert!(r.file.starts_with(
            "import os\nfrom collections import Counter\nimport math\n\nclass Stats:"
        ));
        assert!(
            r.file
                .ends_with("return math.sqrt(len(counts))\n\nprint(os.getcwd())\n")
        );
        assert!(r.clashes.is_empty());
        assert_eq!(
            (r.file_naming, r.code_naming),
            (Naming::Snake, Naming::Unknown)
        );
        assert_eq!(check(&r.file, Language::Python), Some(vec![]));
    }

    #[test]
    fn python_clash_and_known_imports_are_not_repeated() {
        let c = ctx(
            "from collections import Counter\n\ndef solve(x):\n    return x\n\n",
            "",
        );
        let code = "def solve(y):\n    return Counter(y)\n";
        let r = integrate(code, Language::Python, &c);
        assert!(r.added_imports.is_empty(), "{:?}", r.added_imports);
        let want = Clash {
            name: "solve".into(),
            file_line: 3,
            code_line: 1,
        };
        assert_eq!(r.clashes, [want]);
    }

    #[test]
    fn javascript_require_style_and_block_indent() {
        let c = ctx(
            "const fs = require(\"fs\");\n\nfunction main(a, b) {\n",
            "}\n",
        );
        let code = "const data = readFileSync(a);\nreturn path.join(a, b) + fs.sep;\n";
        let r = integrate(code, Language::JavaScript, &c);
        assert_eq!(
            r.added_imports,
            [
                "const { readFileSync } = require(\"node:fs\");",
                "const path = require(\"node:path\");"
            ]
        );
        assert_eq!(
            r.code,
            "  const data = readFileSync(a);\n  return path.join(a, b) + fs.sep;\n"
        );
        assert_eq!(check(&r.file, Language::JavaScript), Some(vec![]));
    }

    #[test]
    fn typescript_naming_mismatch_is_reported() {
        let c = ctx(
            "import * as fs from \"node:fs\";\nconst maxCount = 3;\nfunction readAll(filePath: string) {}\n",
            "",
        );
        let code = "function read_lines(file_path: string): string[] {\n  const line_list = fs.readFileSync(file_path, \"utf8\").split(\"\\n\");\n  return line_list;\n}\n";
        let r = integrate(code, Language::TypeScript, &c);
        assert!(r.added_imports.is_empty(), "{:?}", r.added_imports);
        assert_eq!(
            (r.file_naming, r.code_naming),
            (Naming::Camel, Naming::Snake)
        );
    }

    #[test]
    fn rust_use_lines_go_after_the_existing_ones() {
        let c = ctx("//! Tool.\nuse std::fmt;\n\nfn main() {\n", "}\n");
        let code = "let mut m = HashMap::new();\nm.insert(1, std::cmp::max(1, 2));\nprintln!(\"{m:?}\");\n";
        let r = integrate(code, Language::Rust, &c);
        assert_eq!(r.added_imports, ["use std::collections::HashMap;"]);
        assert!(r.file.starts_with(
            "//! Tool.\nuse std::fmt;\nuse std::collections::HashMap;\n\nfn main() {\n    let mut m"
        ));
        assert_eq!(check(&r.file, Language::Rust), Some(vec![]));
    }

    #[test]
    fn tabs_in_the_file_win_and_strings_keep_their_lines() {
        let c = ctx("def f():\n\tif True:\n", "");
        let code = "x = 1\nif x:\n  s = '''a\n  b'''\n";
        let r = integrate(code, Language::Python, &c);
        assert_eq!(r.code, "\t\tx = 1\n\t\tif x:\n\t\t\ts = '''a\n  b'''\n");
    }
}
