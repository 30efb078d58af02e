//! The one entry point: raw model output in, a [`PostReport`] out. The stages run in order:
//! extract (chat) or stop-and-trim + prompt re-attachment (completion) → syntax check →
//! syntax-aware truncation (only when the code does not parse) → format → integrate. Test runs
//! are added by the caller where a sandbox exists ([`super::sandbox`]); the report is plain
//! serde data, passed unchanged between worker, server and CLI.

use serde::{Deserialize, Serialize};

use super::{
    Context, Diagnostic, ExtractMode, Formatted, Incomplete, Integration, Language, Scope,
    TrimReport, TruncateReport, check, extract_code, format, incompleteness, integrate,
    reattach_prompt, trim, truncate,
};
use crate::sandbox::Verdict;

/// What [`process`] should do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PostOptions {
    /// The language; `None` takes it from the fence tag (chat), else "other".
    pub language: Option<Language>,
    /// A chat answer (code in fenced blocks) rather than a raw completion.
    pub chat: bool,
    /// Completion mode: the prompt, re-attached when it is the start of the code.
    pub prompt: Option<String>,
    /// Generation ended on the token limit (the tail may be incomplete).
    pub hit_max_tokens: bool,
    /// Completion mode: cut at the language's stop sequences (HumanEval's `\ndef`, …). Off
    /// for text that is a whole file.
    pub stop_sequences: bool,
    /// Which fenced blocks to take.
    pub extract: ExtractMode,
    /// Where the code lives, for truncation.
    pub scope: Scope,
    /// Cut back to a parseable prefix when the code does not parse.
    pub truncate: bool,
    /// Format the result.
    pub format: bool,
    /// The surrounding file, to integrate into.
    pub context: Option<Context>,
}

impl Default for PostOptions {
    fn default() -> Self {
        PostOptions {
            language: None,
            chat: false,
            prompt: None,
            hit_max_tokens: false,
            stop_sequences: true,
            extract: ExtractMode::First,
            scope: Scope::TopLevel,
            truncate: true,
            format: true,
            context: None,
        }
    }
}

/// One stage's effect, in words (for people; the typed details are in the report's fields).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageNote {
    /// The stage: extract, trim, check, truncate, format, integrate.
    pub stage: String,
    /// Whether it changed the code.
    pub changed: bool,
    /// What it did.
    pub summary: String,
}

/// Everything post-processing found and did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostReport {
    /// The language the code was treated as.
    pub language: Language,
    /// The final code.
    pub code: String,
    /// Whether the final code parses; `None` when kiln has no parser for the language.
    pub valid: Option<bool>,
    /// Syntax errors in the final code.
    pub diagnostics: Vec<Diagnostic>,
    /// Syntax errors before truncation (what the model actually wrote).
    pub raw_diagnostics: Vec<Diagnostic>,
    /// What each stage did, in order.
    pub stages: Vec<StageNote>,
    /// Stop-and-trim details.
    pub trim: TrimReport,
    /// Truncation details, when it ran.
    pub truncate: Option<TruncateReport>,
    /// Formatting details, when asked.
    pub format: Option<Formatted>,
    /// Integration details, when a context was given.
    pub integration: Option<Integration>,
    /// Test verdicts, when a sandbox ran them.
    pub tests: Option<Vec<Verdict>>,
    /// Set when the final code is not a usable program (nothing left, a function without a
    /// body, a block closed by truncation), even if it parses.
    #[serde(default)]
    pub incomplete: Option<Incomplete>,
}

impl PostReport {
    /// The verdict in one line, for people (the CLI and the playground both show it).
    pub fn verdict(&self) -> String {
        if let Some(i) = &self.incomplete {
            let fix = if i.hit_max_tokens {
                "; the token limit cut the answer: raise max tokens"
            } else {
                ""
            };
            return format!("incomplete: {}{fix}", i.reason);
        }
        match self.valid {
            Some(true) => format!("{} syntax OK", self.language.name()),
            Some(false) => match self.diagnostics.first() {
                Some(d) => format!(
                    "{} syntax error(s); first at {}:{}: {}",
                    self.diagnostics.len(),
                    d.line,
                    d.column,
                    d.message
                ),
                None => "syntax errors".into(),
            },
            None => format!("no syntax checker for {}", self.language.name()),
        }
    }
}

/// Runs the pipeline on `raw` (see the module docs).
pub fn process(raw: &str, opts: &PostOptions) -> PostReport {
    let mut stages = Vec::new();
    let mut note = |stage: &str, changed: bool, summary: String| {
        stages.push(StageNote {
            stage: stage.into(),
            changed,
            summary,
        })
    };
    let (code, lang, trim_report) = if opts.chat {
        let ex = extract_code(raw, opts.language, opts.extract);
        let lang = opts.language.or(ex.language).unwrap_or(Language::Other);
        let summary = if ex.fenced {
            format!(
                "took {} of {} fenced block(s){}",
                if opts.extract == ExtractMode::Join {
                    "all"
                } else {
                    "one"
                },
                ex.blocks,
                if ex.unterminated {
                    " (unterminated)"
                } else {
                    ""
                }
            )
        } else {
            "no fenced block: the whole answer is the code".into()
        };
        note("extract", ex.code != raw, summary);
        // A fenced block is a whole program: no stop sequences, only the generic clean-ups.
        // A block still open when the token limit hit ends mid-line, whatever newline the
        // extraction put after it.
        let cut_tail = opts.hit_max_tokens && ex.unterminated;
        let body = if cut_tail {
            ex.code.trim_end_matches('\n')
        } else {
            ex.code.as_str()
        };
        let (code, rep) = trim(body, Language::Other, cut_tail);
        (code, lang, rep)
    } else {
        let lang = opts.language.unwrap_or(Language::Other);
        let stops = if opts.stop_sequences {
            lang
        } else {
            Language::Other
        };
        let (mut code, rep) = trim(raw, stops, opts.hit_max_tokens);
        if let Some(prompt) = &opts.prompt {
            code = reattach_prompt(prompt, &code);
            note("extract", true, "re-attached the prompt".into());
        }
        (code, lang, rep)
    };
    note(
        "trim",
        trim_changed(&trim_report),
        trim_summary(&trim_report),
    );
    // Blank lines left before a stop sequence or a closing fence are not code.
    let code = match code.trim_end() {
        "" => String::new(),
        kept => format!("{kept}\n"),
    };

    let raw_diagnostics = check(&code, lang);
    let mut code = code;
    let mut truncate_report = None;
    match &raw_diagnostics {
        None => note("check", false, format!("no parser for {}", lang.name())),
        Some(d) if d.is_empty() => note("check", false, "parses".into()),
        Some(d) => {
            let first = &d[0];
            let summary = format!(
                "{} error(s); first at {}:{}: {}",
                d.len(),
                first.line,
                first.column,
                first.message
            );
            note("check", false, summary);
            if opts.truncate {
                let (cut, rep) = truncate(&code, lang, opts.scope);
                let summary = format!(
                    "cut {} line(s){}{}",
                    rep.cut_lines,
                    if rep.closed.is_empty() {
                        String::new()
                    } else {
                        format!(", closed `{}`", rep.closed)
                    },
                    if rep.parses {
                        "; now parses"
                    } else {
                        "; still does not parse"
                    }
                );
                note("truncate", cut != code, summary);
                code = cut;
                truncate_report = Some(rep);
            }
        }
    }
    let formatted = opts.format.then(|| format(&code, lang));
    if let Some(f) = &formatted {
        let summary = match &f.note {
            Some(n) => format!("{}: {n}", f.formatter),
            None => f.formatter.clone(),
        };
        note("format", f.changed, summary);
        code = f.code.clone();
    }
    let integration = opts.context.as_ref().map(|ctx| integrate(&code, lang, ctx));
    if let Some(i) = &integration {
        let summary = format!(
            "indent {:?}; {} import(s) added; {} clash(es); naming file {:?} / code {:?}",
            i.indent,
            i.added_imports.len(),
            i.clashes.len(),
            i.file_naming,
            i.code_naming
        );
        note(
            "integrate",
            i.code != code || !i.added_imports.is_empty(),
            summary,
        );
    }
    let diagnostics = check(&code, lang);
    let incomplete = incompleteness(
        &code,
        lang,
        &trim_report,
        truncate_report.as_ref(),
        opts.hit_max_tokens,
    );
    if let Some(i) = &incomplete {
        let why = if i.hit_max_tokens {
            " (generation hit its token limit)"
        } else {
            ""
        };
        note("complete", false, format!("incomplete: {}{why}", i.reason));
    }
    PostReport {
        language: lang,
        valid: diagnostics.as_ref().map(|d| d.is_empty()),
        diagnostics: diagnostics.unwrap_or_default(),
        raw_diagnostics: raw_diagnostics.unwrap_or_default(),
        code,
        stages,
        trim: trim_report,
        truncate: truncate_report,
        format: formatted,
        integration,
        tests: None,
        incomplete,
    }
}

fn trim_changed(r: &TrimReport) -> bool {
    r.stopped_at.is_some()
        || r.cut_incomplete_line.is_some()
        || r.dropped_repeated_lines > 0
        || r.dropped_replacement_chars > 0
}

fn trim_summary(r: &TrimReport) -> String {
    let mut parts = Vec::new();
    if let Some(s) = &r.stopped_at {
        parts.push(format!("stopped at {s:?}"));
    }
    if let Some(t) = &r.cut_incomplete_line {
        parts.push(format!("cut the incomplete last line {t:?}"));
    }
    if r.dropped_repeated_lines > 0 {
        parts.push(format!(
            "dropped {} repeated line(s)",
            r.dropped_repeated_lines
        ));
    }
    if r.dropped_replacement_chars > 0 {
        parts.push(format!(
            "dropped {} broken character(s)",
            r.dropped_replacement_chars
        ));
    }
    if parts.is_empty() {
        "nothing to trim".into()
    } else {
        parts.join("; ")
    }
}

#[cfg(test)]
mod tests {
    // The same tables run natively and in wasm (wasm-bindgen-test under Node).
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn chat_answer_end_to_end() {
        let raw =
            "Here you go:\n\n```python\ndef add(a,b):\n  return a+b\n\ndef bad(:\n```\nEnjoy!";
        let opts = PostOptions {
            chat: true,
            ..PostOptions::default()
        };
        let r = process(raw, &opts);
        assert_eq!(r.language, Language::Python);
        assert_eq!(r.code, "def add(a, b):\n    return a + b\n");
        assert_eq!(r.valid, Some(true));
        assert_eq!(r.incomplete, None);
        assert_eq!(r.verdict(), "python syntax OK");
        assert_eq!(r.raw_diagnostics[0].line, 4);
        let stages: Vec<&str> = r.stages.iter().map(|s| s.stage.as_str()).collect();
        assert_eq!(stages, ["extract", "trim", "check", "truncate", "format"]);
        let back: PostReport = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn completion_reattaches_the_prompt_and_stops() {
        let prompt = "def inc(x):\n    \"\"\"Add one.\"\"\"\n";
        let raw = "    return x + 1\n\n\ndef unrelated():\n    pass\n";
        let opts = PostOptions {
            language: Some(Language::Python),
            prompt: Some(prompt.into()),
            format: false,
            scope: Scope::Function,
            ..PostOptions::default()
        };
        let r = process(raw, &opts);
        assert_eq!(r.code, format!("{prompt}    return x + 1\n"));
        assert_eq!(r.trim.stopped_at.as_deref(), Some("\ndef"));
        assert_eq!(r.valid, Some(true));
    }

    #[test]
    fn an_open_block_cut_by_the_token_limit_loses_its_last_line() {
        let raw = "```python\ndef square(n):\n    return";
        let opts = PostOptions {
            chat: true,
            hit_max_tokens: true,
            format: false,
            ..PostOptions::default()
        };
        let r = process(raw, &opts);
        assert_eq!(r.trim.cut_incomplete_line.as_deref(), Some("    return"));
        assert_eq!(r.raw_diagnostics[0].line, 1);
        assert_eq!(r.code, "");
        // Nothing left is not a success: the report says so, what was cut, and why.
        let i = r.incomplete.clone().expect("an empty result is incomplete");
        assert_eq!(i.reason, "no code is left");
        assert!(i.hit_max_tokens);
        assert_eq!(i.cut, "def square(n):\n    return");
        assert_eq!(r.stages.last().map(|s| s.stage.as_str()), Some("complete"));
        assert_eq!(
            r.verdict(),
            "incomplete: no code is left; the token limit cut the answer: raise max tokens"
        );
    }

    #[test]
    fn a_whole_file_keeps_all_its_functions() {
        let code = "def a():\n    return 1\n\n\ndef b():\n    return 2\n";
        let opts = PostOptions {
            language: Some(Language::Python),
            stop_sequences: false,
            ..PostOptions::default()
        };
        let r = process(code, &opts);
        assert_eq!(r.code, code);
        assert_eq!(r.valid, Some(true));
    }

    #[test]
    fn no_input_makes_any_stage_panic() {
        // Code-shaped noise: fragments that open and close strings, comments, brackets and
        // fences, multi-byte characters, tabs and CRLF, in random order (seeded, so a failure
        // reproduces).
        const BITS: &[&str] = &[
            "def f(",
            "):\n",
            "    ",
            "\t",
            "return ",
            "'",
            "\"",
            "'''",
            "`",
            "${",
            "}",
            "{",
            "(",
            ")",
            "[",
            "]",
            "#",
            "//",
            "/*",
            "*/",
            "\\",
            "\n",
            "\r\n",
            "```python\n",
            "```\n",
            "fn ",
            "'a",
            "r#\"",
            "\"#",
            "é",
            "日本",
            "🦀",
            "\u{FFFD}",
            "import math\n",
            "x = ",
            "1",
            ":",
            ";",
            "=>",
            "let ",
            "class A:",
            "\0",
        ];
        let langs = [
            Language::Python,
            Language::JavaScript,
            Language::TypeScript,
            Language::Rust,
            Language::Json,
            Language::Go,
            Language::Other,
        ];
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for case in 0..3000 {
            let len = (next() % 40) as usize;
            let raw: String = (0..len)
                .map(|_| BITS[(next() % BITS.len() as u64) as usize])
                .collect();
            let lang = langs[case % langs.len()];
            let opts = PostOptions {
                language: Some(lang),
                chat: case % 2 == 0,
                hit_max_tokens: case % 3 == 0,
                scope: if case % 4 < 2 {
                    Scope::TopLevel
                } else {
                    Scope::Function
                },
                prompt: (case % 5 == 0).then(|| "def g():\n".to_string()),
                context: (case % 7 == 0).then(|| Context {
                    prefix: raw.chars().rev().collect(),
                    suffix: "}\n".into(),
                }),
                ..PostOptions::default()
            };
            let r = process(&raw, &opts);
            if r.valid == Some(true) {
                assert!(r.diagnostics.is_empty(), "{raw:?}");
            }
        }
    }

    #[test]
    fn unknown_language_passes_through() {
        let r = process("SELECT 1;", &PostOptions::default());
        assert_eq!((r.code.as_str(), r.valid), ("SELECT 1;\n", None));
    }
}
