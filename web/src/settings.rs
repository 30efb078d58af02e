//! The playground's settings, kept in the page URL's query so that a link reproduces a run:
//! prompt, mode, language, sampling parameters, seed, limits, model hash and engine version.
//! Plain Rust (no browser API), so it is tested natively.

use kiln_engine::SamplingParams;
use kiln_engine::post::Language;

/// The explainer's temperature table: quick presets under the slider.
pub const TEMPERATURE_PRESETS: [f32; 5] = [0.0, 0.3, 0.7, 1.0, 1.5];

/// Everything a run depends on.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// The prompt text.
    pub prompt: String,
    /// Chat (the model's template) or raw completion.
    pub chat: bool,
    /// Language of the expected code.
    pub language: Language,
    /// Sampling parameters, seed included.
    pub sampling: SamplingParams,
    /// Maximum new tokens.
    pub max_tokens: usize,
    /// Stop strings.
    pub stop: Vec<String>,
    /// sha256 of the model used, if one was loaded.
    pub model_sha256: Option<String>,
    /// Engine version the link was made with.
    pub version: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            prompt: "Write a Python function that checks whether a number is prime.".into(),
            chat: true,
            language: Language::Python,
            sampling: SamplingParams::default(),
            max_tokens: 256,
            stop: Vec::new(),
            model_sha256: None,
            version: None,
        }
    }
}

impl Settings {
    /// The query string (without `?`).
    pub fn to_query(&self) -> String {
        let s = &self.sampling;
        let mut pairs = vec![
            ("prompt", self.prompt.clone()),
            ("mode", if self.chat { "chat" } else { "raw" }.to_string()),
            ("lang", self.language.name().to_string()),
            ("temp", s.temperature.to_string()),
            ("top_k", s.top_k.to_string()),
            ("top_p", s.top_p.to_string()),
            ("min_p", s.min_p.to_string()),
            ("repeat_penalty", s.repeat_penalty.to_string()),
            ("seed", s.seed.to_string()),
            ("max_tokens", self.max_tokens.to_string()),
        ];
        pairs.extend(self.stop.iter().map(|x| ("stop", x.clone())));
        if let Some(h) = &self.model_sha256 {
            pairs.push(("model", h.clone()));
        }
        if let Some(v) = &self.version {
            pairs.push(("v", v.clone()));
        }
        pairs
            .iter()
            .map(|(k, v)| format!("{k}={}", percent_encode(v)))
            .collect::<Vec<_>>()
            .join("&")
    }

    /// Reads a query string (with or without `?`) over the defaults. Unknown keys are ignored;
    /// values that do not parse are left at their default and reported.
    pub fn from_query(query: &str) -> (Settings, Vec<String>) {
        let mut out = Settings::default();
        let mut problems = Vec::new();
        let mut stops = Vec::new();
        for pair in query
            .trim_start_matches('?')
            .split('&')
            .filter(|p| !p.is_empty())
        {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let Some(v) = percent_decode(v) else {
                problems.push(format!("{k}: not valid percent-encoded UTF-8"));
                continue;
            };
            let s = &mut out.sampling;
            let ok = match k {
                "prompt" => set(&mut out.prompt, Some(v)),
                "mode" => set(
                    &mut out.chat,
                    match v.as_str() {
                        "chat" => Some(true),
                        "raw" => Some(false),
                        _ => None,
                    },
                ),
                "lang" => set(&mut out.language, Some(Language::from_tag(&v))),
                "temp" => set(&mut s.temperature, v.parse().ok()),
                "top_k" => set(&mut s.top_k, v.parse().ok()),
                "top_p" => set(&mut s.top_p, v.parse().ok()),
                "min_p" => set(&mut s.min_p, v.parse().ok()),
                "repeat_penalty" => set(&mut s.repeat_penalty, v.parse().ok()),
                "seed" => set(&mut s.seed, v.parse().ok()),
                "max_tokens" => set(&mut out.max_tokens, v.parse().ok()),
                "stop" => {
                    stops.push(v);
                    true
                }
                "model" => set(&mut out.model_sha256, Some(Some(v))),
                "v" => set(&mut out.version, Some(Some(v))),
                _ => true,
            };
            if !ok {
                problems.push(format!("{k}: cannot use {pair:?}"));
            }
        }
        out.stop = stops;
        if let Err(e) = out.sampling.validate() {
            problems.push(e.to_string());
            out.sampling = SamplingParams::default();
        }
        (out, problems)
    }
}

fn set<T>(slot: &mut T, value: Option<T>) -> bool {
    match value {
        Some(v) => {
            *slot = v;
            true
        }
        None => false,
    }
}

/// RFC 3986: everything but unreserved characters is `%XX`-encoded (UTF-8 bytes).
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Inverse of [`percent_encode`] (`+` is a space, as forms send it); `None` for a bad escape or
/// bytes that are not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_reproduces_the_settings() {
        let mut s = Settings {
            prompt: "def f(x):\n    # ünïcode & = ? %\n".into(),
            chat: false,
            language: Language::Rust,
            max_tokens: 64,
            stop: vec!["\n\n".into(), "```".into()],
            model_sha256: Some("b179c952".into()),
            version: Some("0.1.0".into()),
            ..Settings::default()
        };
        s.sampling.temperature = 0.3;
        s.sampling.seed = 42;
        s.sampling.top_k = 0;
        let (back, problems) = Settings::from_query(&format!("?{}", s.to_query()));
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(back, s);
    }

    #[test]
    fn bad_values_are_reported_not_fatal() {
        let (s, problems) = Settings::from_query("temp=hot&top_k=-1&seed=7&bogus=1&prompt=%ZZ");
        assert_eq!(s.sampling.seed, 7);
        assert_eq!(
            s.sampling.temperature,
            SamplingParams::default().temperature
        );
        assert_eq!(problems.len(), 3, "{problems:?}");
        let (s, problems) = Settings::from_query("temp=-2");
        assert_eq!(s.sampling, SamplingParams::default());
        assert_eq!(problems.len(), 1, "{problems:?}");
    }
}
