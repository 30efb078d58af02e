//! Plain settings → a generation request and its post-processing options. The one builder the
//! CLI (`kiln generate`, `kiln lab`), the playground and the server call, so that a prompt with
//! the same settings is asked the same way everywhere: the same stop strings (the language's stop
//! sequences for a raw completion), the same truncation scope, the same escapes.

use serde::{Deserialize, Serialize};

use crate::chat::Message;
use crate::error::Result;
use crate::post::{Context, Language, PostOptions, Scope, stop_sequences};
use crate::request::{GenerateRequest, Prompt};
use crate::sampler::SamplingParams;

/// What a person sets for one generation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestSettings {
    /// The prompt text.
    pub prompt: String,
    /// Render the prompt as a user turn with the model's chat template (else a raw completion).
    pub chat: bool,
    /// The expected code's language (`None`: a chat answer's fence tag, else unknown).
    pub language: Option<Language>,
    /// Sampling parameters, seed included.
    pub sampling: SamplingParams,
    /// At most this many new tokens.
    pub max_tokens: usize,
    /// Stop strings as the person typed them (escapes resolved by [`unescape`]).
    pub stop: Vec<String>,
    /// The text is wanted untouched: no post-processing and no language stop sequences.
    pub raw: bool,
    /// Let the output repeat itself (by default generation ends once it degenerates).
    pub allow_repetition: bool,
    /// Do not format the code.
    pub no_format: bool,
    /// The file the code goes into, to integrate with.
    pub context: Option<Context>,
}

impl Default for RequestSettings {
    fn default() -> Self {
        RequestSettings {
            prompt: String::new(),
            chat: false,
            language: None,
            sampling: SamplingParams::default(),
            max_tokens: 256,
            stop: Vec::new(),
            raw: false,
            allow_repetition: false,
            no_format: false,
            context: None,
        }
    }
}

impl RequestSettings {
    /// The prompt the engine is given: a user turn for the chat template, or the raw text.
    pub fn prompt(&self) -> Prompt {
        if self.chat {
            Prompt::Chat(vec![Message::user(self.prompt.clone())])
        } else {
            Prompt::Raw(self.prompt.clone())
        }
    }

    /// The stop strings: the typed ones, plus — for a raw completion in a known language — that
    /// language's stop sequences (HumanEval's `\ndef`, …), so that generation ends where the
    /// function does.
    pub fn stop_strings(&self) -> Vec<String> {
        let mut stop: Vec<String> = self.stop.clone();
        if !self.raw
            && !self.chat
            && let Some(lang) = self.language
        {
            for s in stop_sequences(lang) {
                if !stop.iter().any(|t| t == s) {
                    stop.push(s.to_string());
                }
            }
        }
        stop
    }

    /// The generation request, checked (sampling parameters, token limit).
    pub fn request(&self) -> Result<GenerateRequest> {
        self.request_with(self.prompt())
    }

    /// [`request`](Self::request) for a prompt given whole (a conversation, token ids, a
    /// fill-in-the-middle prompt: the server's requests) instead of [`prompt`](Self::prompt).
    pub fn request_with(&self, prompt: Prompt) -> Result<GenerateRequest> {
        self.sampling.validate()?;
        if self.max_tokens == 0 {
            return Err(crate::Error::Param {
                name: "max_tokens",
                value: "0".into(),
                expected: "at least 1",
            });
        }
        Ok(GenerateRequest {
            prompt,
            sampling: self.sampling.clone(),
            max_tokens: self.max_tokens,
            stop: self.stop_strings(),
            ignore_eos: false,
            stop_on_repetition: !self.allow_repetition,
        })
    }

    /// How the finished text is post-processed (`None` when [`raw`](Self::raw)): a chat answer's
    /// code comes from its fenced block; a raw completion gets the prompt re-attached and is cut
    /// back inside the function it continues.
    pub fn post_options(&self) -> Option<PostOptions> {
        if self.raw {
            return None;
        }
        let mut opts = PostOptions {
            language: self.language,
            chat: self.chat,
            format: !self.no_format,
            context: self.context.clone(),
            ..PostOptions::default()
        };
        if !self.chat {
            opts.prompt = Some(self.prompt.clone());
            opts.scope = Scope::Function;
        }
        Some(opts)
    }
}

/// `\n`, `\t`, `\r` and `\\` in a stop string as typed (llama.cpp's `--escape`); any other
/// backslash stays as it is.
pub fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('\\') => out.push('\\'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// Inverse of [`unescape`]: the string as a person would type it.
pub fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('\n', "\\n")
        .replace('\t', "\\t")
        .replace('\r', "\\r")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_round_trip_and_unknown_ones_stay() {
        for s in ["a\nb", "\t\r\\", "plain", "\\x", ""] {
            assert_eq!(unescape(&escape(s)), s, "{s:?}");
        }
        assert_eq!(unescape("\\n\\t\\r\\\\"), "\n\t\r\\");
        assert_eq!(unescape("\\d+\\"), "\\d+\\");
    }

    #[test]
    fn a_raw_completion_in_a_known_language_stops_where_the_function_ends() {
        let mut s = RequestSettings {
            prompt: "def f(x):\n".into(),
            language: Some(Language::Python),
            stop: vec!["END".into()],
            ..RequestSettings::default()
        };
        let stop = s.stop_strings();
        assert_eq!(stop[0], "END");
        assert!(stop.iter().any(|x| x == "\ndef"), "{stop:?}");
        let post = s.post_options().unwrap();
        assert_eq!(post.scope, Scope::Function);
        assert_eq!(post.prompt.as_deref(), Some("def f(x):\n"));
        // Chat answers end at end-of-turn; raw text is not touched.
        s.chat = true;
        assert_eq!(s.stop_strings(), ["END"]);
        assert_eq!(s.post_options().unwrap().scope, Scope::TopLevel);
        s.chat = false;
        s.raw = true;
        assert_eq!(s.stop_strings(), ["END"]);
        assert!(s.post_options().is_none());
    }

    #[test]
    fn bad_settings_are_refused_by_name() {
        let mut s = RequestSettings::default();
        s.sampling.temperature = -1.0;
        assert!(s.request().unwrap_err().to_string().contains("temperature"));
        let s = RequestSettings {
            max_tokens: 0,
            ..RequestSettings::default()
        };
        assert!(s.request().unwrap_err().to_string().contains("max_tokens"));
        let r = RequestSettings::default().request().unwrap();
        assert!(r.stop_on_repetition);
    }
}
