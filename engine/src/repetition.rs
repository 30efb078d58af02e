//! Ends generation once the output has degenerated into repetition — the same line four times
//! or a block of lines three times in a row (`kiln_post::RepeatRule::STOP`) — instead of
//! spending the token budget on it. Post-processing's trim, which applies the same rule more
//! eagerly, then keeps one copy.

use kiln_post::{RepeatRule, repeated_tail};

/// Complete lines this far back are enough to see any repetition the rule names (a block of
/// up to 32 lines three times, or a line four times).
const WINDOW: usize = 128;

/// Watches the emitted text line by line.
#[derive(Debug, Default)]
pub(crate) struct RepetitionGuard {
    /// The last complete lines (at most `2 * WINDOW`), without their `\r\n` / `\n`.
    lines: Vec<String>,
    /// The line being written.
    partial: String,
}

impl RepetitionGuard {
    /// Feeds emitted text; true once the complete lines end in degenerate repetition.
    pub(crate) fn push(&mut self, text: &str) -> bool {
        let mut completed = false;
        for (i, piece) in text.split('\n').enumerate() {
            if i > 0 {
                let mut line = std::mem::take(&mut self.partial);
                if line.ends_with('\r') {
                    line.pop();
                }
                self.lines.push(line);
                completed = true;
            }
            self.partial.push_str(piece);
        }
        if !completed {
            return false;
        }
        if self.lines.len() > 2 * WINDOW {
            self.lines.drain(..self.lines.len() - WINDOW);
        }
        let start = self.lines.len().saturating_sub(WINDOW);
        let window: Vec<&str> = self.lines[start..].iter().map(String::as_str).collect();
        repeated_tail(&window, RepeatRule::STOP).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::RepetitionGuard;

    /// Feeds `pieces` (as a detokenizer would hand them over) and returns the index of the
    /// piece on which the guard fired.
    fn fires_at(pieces: &[&str]) -> Option<usize> {
        let mut g = RepetitionGuard::default();
        pieces.iter().position(|p| g.push(p))
    }

    #[test]
    fn fires_on_the_fourth_copy_of_a_line_across_token_boundaries() {
        let line = [
            "    if n % 3 == 0",
            " and n % 5 == 0:",
            " return False",
            "\n",
        ];
        let mut pieces = vec!["def f(n):\n"];
        for _ in 0..6 {
            pieces.extend(line);
        }
        // The fourth copy's newline is piece 1 + 4 * 4 - 1.
        assert_eq!(fires_at(&pieces), Some(16));
    }

    #[test]
    fn a_block_fires_on_its_third_copy_and_crlf_counts_as_newline() {
        let pieces = [
            "a = 1\r\n",
            "b\r\nc\r\n",
            "b\r\nc\r\n",
            "b\r\n",
            "c\r\n",
            "d\r\n",
        ];
        assert_eq!(fires_at(&pieces), Some(4));
    }

    #[test]
    fn ordinary_code_and_closing_brackets_never_fire() {
        let code = "fn main() {\n    if a {\n        if b {\n            x();\n        }\n    }\n}\n}\n}\n}\n";
        assert_eq!(fires_at(&[code]), None);
        let asserts = [
            "assert f(1) == 1\n",
            "assert f(1) == 1\n",
            "assert f(2) == 4\n",
        ];
        assert_eq!(fires_at(&asserts), None);
        // A partial line never counts: three copies and a fourth still being written.
        assert_eq!(fires_at(&["x = 1\n", "x = 1\n", "x = 1\n", "x = 1"]), None);
    }

    #[test]
    fn a_long_run_stays_bounded_and_still_fires() {
        let mut g = RepetitionGuard::default();
        for i in 0..10_000 {
            assert!(!g.push(&format!("line {i}\n")));
        }
        assert!(g.lines.len() <= 2 * super::WINDOW);
        for _ in 0..3 {
            assert!(!g.push("same\n"));
        }
        assert!(g.push("same\n"));
    }
}
