//! Chat templates: the model's own Jinja template (`tokenizer.chat_template` in GGUF, or
//! `chat_template` in tokenizer_config.json), rendered with minijinja under the settings that
//! transformers uses (`trim_blocks`, `lstrip_blocks`, Python string methods; see
//! transformers' `chat_template_utils._compile_jinja_template`).
//!
//! A template comes with a model file, so it is untrusted code: rendering runs on a fuel budget
//! (minijinja's instruction count) and its output is capped; it can read nothing but the
//! messages (minijinja has no file or environment access unless given a loader or globals, and
//! this environment gets neither). A template that does not compile does not stop the model from
//! loading: chat prompts then get the compile error, raw completion works.

use std::io;

use minijinja::{Environment, Error as JinjaError, ErrorKind, context};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// One chat turn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// "system", "user" or "assistant".
    pub role: String,
    /// The text of the turn.
    pub content: String,
}

impl Message {
    /// A user turn.
    pub fn user(content: impl Into<String>) -> Self {
        Self {
            role: "user".into(),
            content: content.into(),
        }
    }
}

/// Instructions one rendering may execute (a chat of hundreds of turns needs a few thousand).
pub const TEMPLATE_FUEL: u64 = 1_000_000;
/// Bytes one rendering may produce.
pub const TEMPLATE_OUTPUT_CAP: usize = 4 << 20;
/// Operators in one tag (`{{ … }}` or `{% … %}`): minijinja builds a chain of them as a nested
/// tree and compiles it recursively, so 10,000 of them overflow a thread's stack. The longest
/// tag of the real templates we know has about 40.
pub const TEMPLATE_MAX_OPERATORS: usize = 256;
/// Brackets open at once inside one tag, and blocks (`if`, `for`, `macro`, …) open at once.
pub const TEMPLATE_MAX_NESTING: usize = 64;

/// What makes `source` too deep for minijinja's recursive parser and compiler to handle on a
/// small stack (a wasm worker has 1 MiB), found before it gets there: too many operators in one
/// tag, brackets or blocks nested too deep. A lexical scan (strings and comments skipped).
fn shape_problem(source: &str) -> Option<String> {
    let b = source.as_bytes();
    let line_at = |i: usize| 1 + b[..i].iter().filter(|&&c| c == b'\n').count();
    let mut blocks = 0usize;
    let mut i = 0;
    while i + 1 < b.len() {
        let (open, close) = match (b[i], b[i + 1]) {
            (b'{', b'{') => (i, b"}}"),
            (b'{', b'%') => (i, b"%}"),
            (b'{', b'#') => {
                // A comment: skip to its end.
                i = find(b, i + 2, b"#}").map_or(b.len(), |e| e + 2);
                continue;
            }
            _ => {
                i += 1;
                continue;
            }
        };
        let mut j = open + 2;
        let (mut ops, mut depth) = (0usize, 0usize);
        let mut quote = None;
        let mut word = String::new();
        let mut first_word: Option<String> = None;
        let mut has_eq = false;
        while j < b.len() {
            let c = b[j];
            if let Some(q) = quote {
                if c == b'\\' {
                    j += 1;
                } else if c == q {
                    quote = None;
                }
                j += 1;
                continue;
            }
            if b[j..].starts_with(close) {
                break;
            }
            if c.is_ascii_alphanumeric() || c == b'_' {
                word.push(c as char);
            } else if !word.is_empty() {
                if matches!(
                    word.as_str(),
                    "and" | "or" | "not" | "in" | "is" | "if" | "else"
                ) {
                    ops += 1;
                }
                first_word.get_or_insert_with(|| word.clone());
                word.clear();
            }
            match c {
                b'\'' | b'"' => quote = Some(c),
                b'(' | b'[' | b'{' => {
                    ops += 1;
                    depth += 1;
                    if depth > TEMPLATE_MAX_NESTING {
                        return Some(format!(
                            "the template nests brackets more than {TEMPLATE_MAX_NESTING} deep \
                             (line {})",
                            line_at(j)
                        ));
                    }
                }
                b')' | b']' | b'}' => depth = depth.saturating_sub(1),
                b'+' | b'-' | b'*' | b'/' | b'%' | b'~' | b'|' | b'.' | b'<' | b'>' | b'!' => {
                    ops += 1
                }
                b'=' => {
                    ops += 1;
                    has_eq = true;
                }
                _ => {}
            }
            if ops > TEMPLATE_MAX_OPERATORS {
                return Some(format!(
                    "a tag of the template has more than {TEMPLATE_MAX_OPERATORS} operators \
                     (line {})",
                    line_at(open)
                ));
            }
            j += 1;
        }
        if close == b"%}" {
            let w = first_word.unwrap_or(word);
            let opens = matches!(
                w.as_str(),
                "if" | "for" | "macro" | "call" | "filter" | "with" | "block" | "autoescape"
            ) || (w == "set" && !has_eq);
            if opens {
                blocks += 1;
                if blocks > TEMPLATE_MAX_NESTING {
                    return Some(format!(
                        "the template nests blocks more than {TEMPLATE_MAX_NESTING} deep (line {})",
                        line_at(open)
                    ));
                }
            } else if w.starts_with("end") {
                blocks = blocks.saturating_sub(1);
            }
        }
        i = j + 2;
    }
    None
}

fn find(hay: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    hay.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// A compiled chat template with the special-token texts it may refer to.
#[derive(Debug, Clone)]
pub struct ChatTemplate {
    source: String,
    bos_token: String,
    eos_token: String,
    /// Why the template does not compile, for one made by [`ChatTemplate::lenient`].
    broken: Option<String>,
}

impl ChatTemplate {
    /// Compiles `source` once to report syntax errors at load.
    pub fn new(source: &str, bos_token: &str, eos_token: &str) -> Result<Self> {
        let t = Self {
            source: source.to_string(),
            bos_token: bos_token.to_string(),
            eos_token: eos_token.to_string(),
            broken: None,
        };
        t.env()?;
        Ok(t)
    }

    /// [`ChatTemplate::new`], or, when `source` does not compile, a template that answers every
    /// rendering with that error — what a model file carries: the model still loads for raw
    /// completion.
    pub fn lenient(source: &str, bos_token: &str, eos_token: &str) -> Self {
        Self::new(source, bos_token, eos_token).unwrap_or_else(|e| Self {
            source: source.to_string(),
            bos_token: bos_token.to_string(),
            eos_token: eos_token.to_string(),
            broken: Some(e.to_string()),
        })
    }

    /// Why the template cannot be used, if it cannot.
    pub fn problem(&self) -> Option<&str> {
        self.broken.as_deref()
    }

    /// The template text.
    pub fn source(&self) -> &str {
        &self.source
    }

    fn env(&self) -> Result<Environment<'_>> {
        let mut env = Environment::new();
        env.set_fuel(Some(TEMPLATE_FUEL));
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        // A sequence repeated lazily (`messages * 100000000`) is printed item by item, none of
        // it counted as fuel: printing more items than the output cap could hold is refused.
        env.set_formatter(|out, state, value| {
            if value.len().is_some_and(|n| n > TEMPLATE_OUTPUT_CAP / 2)
                && !matches!(value.kind(), minijinja::value::ValueKind::String)
            {
                return Err(JinjaError::new(
                    ErrorKind::InvalidOperation,
                    format!(
                        "the template prints a sequence of {} items",
                        value.len().unwrap_or(0)
                    ),
                ));
            }
            minijinja::escape_formatter(out, state, value)
        });
        env.add_function(
            "raise_exception",
            |msg: String| -> std::result::Result<String, JinjaError> {
                Err(JinjaError::new(ErrorKind::InvalidOperation, msg))
            },
        );
        if let Some(why) = shape_problem(&self.source) {
            return Err(Error::ChatTemplate(why));
        }
        env.add_template("chat", &self.source)
            .map_err(|e| Error::ChatTemplate(e.to_string()))?;
        Ok(env)
    }

    /// Renders `messages`, ending with the assistant's opening when `add_generation_prompt`.
    pub fn render(&self, messages: &[Message], add_generation_prompt: bool) -> Result<String> {
        if let Some(why) = &self.broken {
            return Err(Error::ChatTemplate(format!(
                "the model's chat template does not compile ({why}); raw prompts still work"
            )));
        }
        let env = self.env()?;
        let t = env
            .get_template("chat")
            .map_err(|e| Error::ChatTemplate(e.to_string()))?;
        let mut out = Capped::default();
        let rendered = t.render_captured_to(
            context! {
                messages => messages,
                add_generation_prompt => add_generation_prompt,
                bos_token => self.bos_token,
                eos_token => self.eos_token,
            },
            &mut out,
        );
        match rendered {
            Ok(_) => String::from_utf8(out.bytes)
                .map_err(|_| Error::ChatTemplate("the template rendered invalid UTF-8".into())),
            Err(_) if out.over => Err(Error::ChatTemplate(format!(
                "the template renders more than {TEMPLATE_OUTPUT_CAP} bytes"
            ))),
            Err(e) if e.kind() == ErrorKind::OutOfFuel => Err(Error::ChatTemplate(format!(
                "the template ran out of its {TEMPLATE_FUEL} steps (a template that loops without end?)"
            ))),
            Err(e) => Err(Error::ChatTemplate(e.to_string())),
        }
    }
}

/// The rendering's output, refused past [`TEMPLATE_OUTPUT_CAP`] bytes.
#[derive(Default)]
struct Capped {
    bytes: Vec<u8>,
    over: bool,
}

impl io::Write for Capped {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        if self.bytes.len() + b.len() > TEMPLATE_OUTPUT_CAP {
            self.over = true;
            return Err(io::Error::other("template output cap"));
        }
        self.bytes.extend_from_slice(b);
        Ok(b.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHATML: &str = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

    /// Found by the fuzzer: 10,000 chained operators in one tag overflowed the stack inside
    /// minijinja (an abort). Now refused before minijinja sees them, with where; at the limits
    /// a template still compiles and renders on a 1 MiB stack (a wasm worker's).
    #[test]
    fn templates_too_deep_for_the_stack_are_refused_by_shape() {
        let chain = format!("{{{{ 1{} }}}}", " * 1".repeat(10_000));
        let e = ChatTemplate::new(&chain, "", "").unwrap_err().to_string();
        assert!(e.contains("more than 256 operators (line 1)"), "{e}");
        let brackets = format!("\n{{{{ {}1{} }}}}", "(".repeat(65), ")".repeat(65));
        let e = ChatTemplate::new(&brackets, "", "")
            .unwrap_err()
            .to_string();
        assert!(e.contains("brackets more than 64 deep (line 2)"), "{e}");
        let ifs = format!(
            "{}x{}",
            "{% if true %}".repeat(65),
            "{% endif %}".repeat(65)
        );
        let e = ChatTemplate::new(&ifs, "", "").unwrap_err().to_string();
        assert!(e.contains("blocks more than 64 deep"), "{e}");
        // Strings and comments do not count.
        let quiet = format!(
            "{{# {} #}}{{{{ '{}' }}}}",
            "+".repeat(1000),
            "*".repeat(1000)
        );
        ChatTemplate::new(&quiet, "", "").unwrap();
        let at_limits = std::thread::Builder::new()
            .stack_size(1 << 20)
            .spawn(|| {
                let ops = format!("{{{{ 1{} }}}}", " + 1".repeat(120));
                let nest = format!("{{{{ {}1{} }}}}", "(".repeat(60), ")".repeat(60));
                let ifs = format!(
                    "{}x{}",
                    "{% if true %}".repeat(64),
                    "{% endif %}".repeat(64)
                );
                [ops, nest, ifs].map(|src| {
                    ChatTemplate::new(&src, "", "")
                        .and_then(|t| t.render(&[Message::user("hi")], false))
                        .map_err(|e| e.to_string())
                })
            })
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(at_limits[0].as_deref(), Ok("121"));
        assert_eq!(at_limits[1].as_deref(), Ok("1"));
        assert_eq!(at_limits[2].as_deref(), Ok("x"));
    }

    /// Found by the fuzzer: a sequence repeated 10^8 times (minijinja repeats lazily, and
    /// prints the result item by item) ran for more than 10 s before the output cap stopped it.
    #[test]
    fn a_repeated_sequence_is_stopped_quickly() {
        let t0 = std::time::Instant::now();
        let t = ChatTemplate::new("{{ messages* 100000000 }}", "", "").unwrap();
        let e = t
            .render(&[Message::user("hi")], false)
            .unwrap_err()
            .to_string();
        eprintln!("{e} after {:?}", t0.elapsed());
        assert!(
            t0.elapsed() < std::time::Duration::from_secs(2),
            "{:?}",
            t0.elapsed()
        );
    }

    #[test]
    fn chatml_renders_with_generation_prompt() {
        let t = ChatTemplate::new(CHATML, "", "<|im_end|>").unwrap();
        let s = t.render(&[Message::user("hi")], true).unwrap();
        assert_eq!(s, "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n");
    }

    #[test]
    fn python_methods_and_raise_exception_work() {
        let src = "{% if messages[0]['role'] != 'user' %}{{ raise_exception('first must be user') }}{% endif %}{{ messages[0]['content'].strip() }}";
        let t = ChatTemplate::new(src, "", "").unwrap();
        assert_eq!(t.render(&[Message::user("  x  ")], false).unwrap(), "x");
        let sys = Message {
            role: "system".into(),
            content: "s".into(),
        };
        let err = t.render(&[sys], false).unwrap_err().to_string();
        assert!(err.contains("first must be user"), "{err}");
    }

    #[test]
    fn a_hostile_template_is_stopped_with_a_clear_error() {
        let endless = ChatTemplate::new(
            "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
            "",
            "",
        )
        .unwrap();
        let e = endless.render(&[Message::user("hi")], true).unwrap_err();
        assert!(
            e.to_string().contains("ran out of its 1000000 steps"),
            "{e}"
        );
        let huge = ChatTemplate::new(
            "{% for i in range(100000) %}{{ messages[0].content }}{% endfor %}",
            "",
            "",
        )
        .unwrap();
        let big = "x".repeat(1000);
        let e = huge.render(&[Message::user(big)], true).unwrap_err();
        assert!(
            e.to_string().contains("renders more than 4194304 bytes"),
            "{e}"
        );
        let broken = ChatTemplate::lenient("{% for %}", "", "");
        assert!(broken.problem().is_some());
        let e = broken.render(&[Message::user("hi")], true).unwrap_err();
        assert!(
            e.to_string().contains("does not compile")
                && e.to_string().contains("raw prompts still work"),
            "{e}"
        );
    }

    #[test]
    fn a_broken_template_is_an_error_at_load() {
        let err = ChatTemplate::new("{% for %}", "", "").unwrap_err();
        assert!(matches!(err, Error::ChatTemplate(_)));
    }
}
