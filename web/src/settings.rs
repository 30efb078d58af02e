//! The playground's settings, kept in the page URL's query so that a link reproduces a run:
//! prompt, mode, language, sampling parameters, seed, limits, the lab's temperatures and
//! samples, the view, model hash and engine version.
//! Plain Rust (no browser API), so it is tested natively.

use kiln_engine::post::Language;
use kiln_engine::{RequestSettings, SamplingParams};

/// The explainer's temperature table: quick presets under the slider, and the lab's default.
pub const TEMPERATURE_PRESETS: [f32; 5] = [0.0, 0.3, 0.7, 1.0, 1.5];

/// Which view the page shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// One generation, post-processed.
    Generate,
    /// The temperature lab.
    Lab,
}

/// The lab's settings beside the request's.
#[derive(Debug, Clone, PartialEq)]
pub struct LabSettings {
    /// Temperatures compared.
    pub temperatures: Vec<f32>,
    /// Samples per temperature.
    pub samples: usize,
    /// Top-p 0.95 beside the temperature (the "published settings" preset) instead of the
    /// temperature alone.
    pub published: bool,
}

impl Default for LabSettings {
    fn default() -> Self {
        LabSettings {
            temperatures: TEMPERATURE_PRESETS.to_vec(),
            samples: 3,
            published: false,
        }
    }
}

/// Everything a run depends on.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// The request (prompt, mode, language, sampling, limits, stop strings): the engine's one
    /// builder makes the generation request from it, as for the CLI.
    pub request: RequestSettings,
    /// The lab's temperatures, samples and preset.
    pub lab: LabSettings,
    /// The view shown.
    pub view: View,
    /// sha256 of the model used, if one was loaded.
    pub model_sha256: Option<String>,
    /// Engine version the link was made with.
    pub version: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            request: RequestSettings {
                prompt: "Write a Python function that checks whether a number is prime.".into(),
                chat: true,
                language: Some(Language::Python),
                ..RequestSettings::default()
            },
            lab: LabSettings::default(),
            view: View::Generate,
            model_sha256: None,
            version: None,
        }
    }
}

/// Temperatures as a field shows them: `0,0.3,0.7`.
pub fn format_temperatures(t: &[f32]) -> String {
    t.iter().map(f32::to_string).collect::<Vec<_>>().join(",")
}

/// The inverse of [`format_temperatures`]; `None` when an entry is not a number.
pub fn parse_temperatures(field: &str) -> Option<Vec<f32>> {
    field
        .split(',')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(|x| x.parse().ok())
        .collect()
}

impl Settings {
    /// The query string (without `?`).
    pub fn to_query(&self) -> String {
        let r = &self.request;
        let s = &r.sampling;
        let mut pairs = vec![
            ("prompt", r.prompt.clone()),
            ("mode", if r.chat { "chat" } else { "raw" }.to_string()),
            (
                "lang",
                r.language.unwrap_or(Language::Other).name().to_string(),
            ),
            ("temp", s.temperature.to_string()),
            ("top_k", s.top_k.to_string()),
            ("top_p", s.top_p.to_string()),
            ("min_p", s.min_p.to_string()),
            ("repeat_penalty", s.repeat_penalty.to_string()),
            ("seed", s.seed.to_string()),
            ("max_tokens", r.max_tokens.to_string()),
        ];
        pairs.extend(r.stop.iter().map(|x| ("stop", x.clone())));
        if self.view == View::Lab {
            pairs.push(("view", "lab".into()));
        }
        if self.lab != LabSettings::default() {
            pairs.push(("lab_temps", format_temperatures(&self.lab.temperatures)));
            pairs.push(("k", self.lab.samples.to_string()));
            if self.lab.published {
                pairs.push(("preset", "published".into()));
            }
        }
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
            let r = &mut out.request;
            let s = &mut r.sampling;
            let ok = match k {
                "prompt" => set(&mut r.prompt, Some(v)),
                "mode" => set(
                    &mut r.chat,
                    match v.as_str() {
                        "chat" => Some(true),
                        "raw" => Some(false),
                        _ => None,
                    },
                ),
                "lang" => set(&mut r.language, Some(Some(Language::from_tag(&v)))),
                "temp" => set(&mut s.temperature, v.parse().ok()),
                "top_k" => set(&mut s.top_k, v.parse().ok()),
                "top_p" => set(&mut s.top_p, v.parse().ok()),
                "min_p" => set(&mut s.min_p, v.parse().ok()),
                "repeat_penalty" => set(&mut s.repeat_penalty, v.parse().ok()),
                "seed" => set(&mut s.seed, v.parse().ok()),
                "max_tokens" => set(
                    &mut r.max_tokens,
                    v.parse::<usize>().ok().filter(|&n| n > 0),
                ),
                "stop" => {
                    stops.push(v);
                    true
                }
                "view" => set(&mut out.view, (v == "lab").then_some(View::Lab)),
                "lab_temps" => set(
                    &mut out.lab.temperatures,
                    parse_temperatures(&v).filter(|t| !t.is_empty()),
                ),
                "k" => set(
                    &mut out.lab.samples,
                    v.parse::<usize>().ok().filter(|&n| n > 0),
                ),
                "preset" => set(
                    &mut out.lab.published,
                    match v.as_str() {
                        "published" => Some(true),
                        "isolated" => Some(false),
                        _ => None,
                    },
                ),
                "model" => set(&mut out.model_sha256, Some(Some(v))),
                "v" => set(&mut out.version, Some(Some(v))),
                _ => true,
            };
            if !ok {
                problems.push(format!("{k}: cannot use {pair:?}"));
            }
        }
        out.request.stop = stops;
        if let Err(e) = out.request.sampling.validate() {
            problems.push(e.to_string());
            out.request.sampling = SamplingParams::default();
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
            request: RequestSettings {
                prompt: "def f(x):\n    # ünïcode & = ? %\n".into(),
                chat: false,
                language: Some(Language::Rust),
                max_tokens: 64,
                stop: vec!["\n\n".into(), "```".into()],
                ..RequestSettings::default()
            },
            lab: LabSettings {
                temperatures: vec![0.0, 0.5],
                samples: 4,
                published: true,
            },
            view: View::Lab,
            model_sha256: Some("b179c952".into()),
            version: Some("0.1.0".into()),
        };
        s.request.sampling.temperature = 0.3;
        s.request.sampling.seed = 42;
        s.request.sampling.top_k = 0;
        let (back, problems) = Settings::from_query(&format!("?{}", s.to_query()));
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(back, s);
    }

    #[test]
    fn bad_values_are_reported_not_fatal() {
        let (s, problems) =
            Settings::from_query("temp=hot&top_k=-1&seed=7&bogus=1&prompt=%ZZ&k=0&lab_temps=a");
        let default = SamplingParams::default();
        assert_eq!(s.request.sampling.seed, 7);
        assert_eq!(s.request.sampling.temperature, default.temperature);
        assert_eq!(s.lab, LabSettings::default());
        assert_eq!(problems.len(), 5, "{problems:?}");
        let (s, problems) = Settings::from_query("temp=-2");
        assert_eq!(s.request.sampling, default);
        assert_eq!(problems.len(), 1, "{problems:?}");
    }

    #[test]
    fn temperatures_read_as_typed() {
        assert_eq!(parse_temperatures(" 0, 0.3 ,1,"), Some(vec![0.0, 0.3, 1.0]));
        assert_eq!(parse_temperatures("0,hot"), None);
        assert_eq!(format_temperatures(&[0.0, 0.7, 1.5]), "0,0.7,1.5");
    }
}
