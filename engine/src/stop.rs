//! User stop strings, matched across token boundaries. Text that could still be the start of a
//! stop string is held back, so nothing after (or part of) a stop string is ever emitted.

/// Streaming matcher for a set of stop strings.
#[derive(Debug, Clone, Default)]
pub struct StopMatcher {
    stops: Vec<String>,
    pending: String,
}

/// What to do with newly arrived text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopStep {
    /// Emit this (possibly empty) text and go on.
    Emit(String),
    /// Emit this text, then stop: a stop string was found (it is not included).
    Stop(String),
}

impl StopMatcher {
    /// A matcher for `stops` (empty strings are ignored).
    pub fn new(stops: &[String]) -> Self {
        Self {
            stops: stops.iter().filter(|s| !s.is_empty()).cloned().collect(),
            pending: String::new(),
        }
    }

    /// Feeds decoded text.
    pub fn push(&mut self, text: &str) -> StopStep {
        self.pending.push_str(text);
        // The earliest stop string wins.
        if let Some(at) = self
            .stops
            .iter()
            .filter_map(|s| self.pending.find(s.as_str()))
            .min()
        {
            let out = self.pending[..at].to_string();
            self.pending.clear();
            return StopStep::Stop(out);
        }
        let hold = self.held_suffix();
        let cut = self.pending.len() - hold;
        let out = self.pending[..cut].to_string();
        self.pending.drain(..cut);
        StopStep::Emit(out)
    }

    /// Releases held-back text at the end of generation.
    pub fn finish(&mut self) -> String {
        std::mem::take(&mut self.pending)
    }

    /// Length of the longest suffix of `pending` that is a proper prefix of some stop string.
    fn held_suffix(&self) -> usize {
        let p = &self.pending;
        let mut best = 0;
        for s in &self.stops {
            for (i, _) in p.char_indices() {
                let tail = &p[i..];
                if tail.len() > best && tail.len() < s.len() && s.starts_with(tail) {
                    best = tail.len();
                    break;
                }
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(stops: &[&str], chunks: &[&str]) -> (Vec<String>, bool) {
        let stops: Vec<String> = stops.iter().map(|s| s.to_string()).collect();
        let mut m = StopMatcher::new(&stops);
        let mut out = Vec::new();
        for c in chunks {
            match m.push(c) {
                StopStep::Emit(t) => out.push(t),
                StopStep::Stop(t) => {
                    out.push(t);
                    return (out, true);
                }
            }
        }
        out.push(m.finish());
        (out, false)
    }

    #[test]
    fn stop_table() {
        type Case<'a> = (&'a [&'a str], &'a [&'a str], &'a [&'a str], bool);
        let cases: [Case; 7] = [
            (&[], &["a", "b"], &["a", "b", ""], false),
            (&["END"], &["abc", "EN", "D", "x"], &["abc", "", ""], true),
            (&["END"], &["abcEND"], &["abc"], true),
            (&["END"], &["abE", "Nx"], &["ab", "ENx", ""], false),
            (&["\n\n"], &["x\n", "\n"], &["x", ""], true),
            (&["ab", "b"], &["cab"], &["c"], true),
            (&["é!"], &["caf", "é", "!"], &["caf", "", ""], true),
        ];
        for (stops, chunks, want, stopped) in cases {
            let (out, s) = run(stops, chunks);
            assert_eq!(out, want, "stops {stops:?} chunks {chunks:?}");
            assert_eq!(s, stopped, "stops {stops:?} chunks {chunks:?}");
        }
    }

    #[test]
    fn language_stop_sequences_hold_back_across_tokens() {
        // Python completion streamed token by token: "\n" + "def" arrive separately, and the
        // newline must not be emitted before we know whether a new top-level `def` starts.
        let stops: Vec<&str> = crate::post::stop_sequences(crate::post::Language::Python).to_vec();
        let (out, stopped) = run(&stops, &["    return x", "\n", "\n", "de", "f g():"]);
        // The first newline is held until the second shows it cannot start a stop sequence.
        assert_eq!(out, ["    return x", "", "\n", "", ""]);
        assert!(stopped);
        let (out, stopped) = run(&stops, &["    y = 1", "\n", "    return y", "\n"]);
        assert_eq!(out.concat(), "    y = 1\n    return y\n");
        assert!(!stopped);
    }
}
