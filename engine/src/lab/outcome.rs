//! What became of one sample: exactly one outcome, from the post-processing verdict and, when the
//! run has tests, the sandbox's verdicts (natively kiln-post's sandbox, in the browser the
//! playground's worker — the classification is the same).

use kiln_post::sandbox::{Outcome as TestOutcome, Verdict};
use serde::{Deserialize, Serialize};

/// The outcome of one sample, worst first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The code does not parse, or nothing usable was left (an empty program or a function
    /// without a body, typically cut by the token limit).
    SyntaxError,
    /// A test raised something other than an assertion, hit a resource limit, or tried what the
    /// sandbox refuses.
    RuntimeError,
    /// A test ran past the wall-clock limit.
    Timeout,
    /// An assertion failed.
    WrongAnswer,
    /// Every test passed.
    Passed,
    /// The code parses and there were no tests to run.
    Parses,
}

impl Outcome {
    /// Every outcome, in the order reports list them.
    pub const ALL: [Outcome; 6] = [
        Outcome::SyntaxError,
        Outcome::RuntimeError,
        Outcome::Timeout,
        Outcome::WrongAnswer,
        Outcome::Passed,
        Outcome::Parses,
    ];

    /// A short name for tables ("syntax error", …).
    pub fn name(self) -> &'static str {
        match self {
            Outcome::SyntaxError => "syntax error",
            Outcome::RuntimeError => "runtime error",
            Outcome::Timeout => "timeout",
            Outcome::WrongAnswer => "wrong answer",
            Outcome::Passed => "passed",
            Outcome::Parses => "parses",
        }
    }
}

/// Classifies a sample: `usable` is post-processing's verdict that the code parses and is a
/// complete program; `tests` the sandbox's verdicts (`None` when the run has no tests). With
/// tests, the first test that did not pass decides (tests run in their given order); an empty
/// list of verdicts for a run with tests counts as a runtime error — nothing ran.
pub fn classify(usable: bool, tests: Option<&[Verdict]>) -> Outcome {
    if !usable {
        return Outcome::SyntaxError;
    }
    let Some(verdicts) = tests else {
        return Outcome::Parses;
    };
    if verdicts.is_empty() {
        return Outcome::RuntimeError;
    }
    verdicts
        .iter()
        .find_map(|v| match v.outcome {
            TestOutcome::Pass => None,
            TestOutcome::Fail => Some(Outcome::WrongAnswer),
            TestOutcome::Timeout => Some(Outcome::Timeout),
            TestOutcome::Error | TestOutcome::ResourceLimit | TestOutcome::Forbidden => {
                Some(Outcome::RuntimeError)
            }
        })
        .unwrap_or(Outcome::Passed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(outcome: TestOutcome) -> Verdict {
        Verdict {
            test: "t".into(),
            outcome,
            kind: None,
            message: String::new(),
            line: None,
            output: String::new(),
            wall_ms: 1,
        }
    }

    #[test]
    fn every_crafted_sample_gets_exactly_its_outcome() {
        use TestOutcome::*;
        let cases: &[(bool, Option<&[TestOutcome]>, Outcome)] = &[
            (false, None, Outcome::SyntaxError),
            (false, Some(&[Pass]), Outcome::SyntaxError),
            (true, None, Outcome::Parses),
            (true, Some(&[]), Outcome::RuntimeError),
            (true, Some(&[Pass, Pass]), Outcome::Passed),
            (true, Some(&[Pass, Fail]), Outcome::WrongAnswer),
            (true, Some(&[Timeout, Fail]), Outcome::Timeout),
            (true, Some(&[Fail, Timeout]), Outcome::WrongAnswer),
            (true, Some(&[Error]), Outcome::RuntimeError),
            (true, Some(&[Pass, ResourceLimit]), Outcome::RuntimeError),
            (true, Some(&[Forbidden]), Outcome::RuntimeError),
        ];
        for (usable, tests, want) in cases {
            let verdicts: Option<Vec<Verdict>> =
                tests.map(|t| t.iter().map(|&o| verdict(o)).collect());
            assert_eq!(
                classify(*usable, verdicts.as_deref()),
                *want,
                "{usable} {tests:?}"
            );
        }
        assert_eq!(Outcome::ALL.len(), 6);
    }
}
