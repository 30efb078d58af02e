//! Problem sets in HumanEval's JSONL shape (`task_id`, `prompt`, `canonical_solution`, `test`,
//! `entry_point`; openai/human-eval `data.py`): HumanEval itself (fetched by
//! scripts/fetch_humaneval.sh), kiln's easy set (`problems/easy.jsonl`, written and checked by
//! scripts/make_easy_set.py, built in), and any user set in the same shape.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use kiln_post::sandbox::TestCase;

/// The easy set, built in: 20 small Python functions a 135M model partly solves.
pub const EASY_JSONL: &str = include_str!("problems/easy.jsonl");

/// At most this many problems in one set, and bytes in one line: a set is read whole.
const MAX_PROBLEMS: usize = 100_000;
const MAX_LINE: usize = 1 << 20;

/// One problem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// Its name ("HumanEval/0").
    pub task_id: String,
    /// The function's signature and docstring: what a completion model continues.
    pub prompt: String,
    /// A known solution's body (not given to the model; for checking the set).
    #[serde(default)]
    pub canonical_solution: String,
    /// Test code defining `check(candidate)`.
    pub test: String,
    /// The function `check` is called with.
    pub entry_point: String,
}

impl Problem {
    /// The sandbox test: the problem's test code and the call of `check` on the function.
    pub fn test_case(&self) -> TestCase {
        TestCase {
            name: self.task_id.clone(),
            code: format!("{}\n\ncheck({})\n", self.test, self.entry_point),
        }
    }

    /// The prompt's import lines (`import …`, `from … import …` at the top level), each ending
    /// in a newline: what a chat answer's code needs before it to run as the prompt would.
    pub fn imports(&self) -> String {
        self.prompt
            .lines()
            .filter(|l| l.starts_with("import ") || l.starts_with("from "))
            .map(|l| format!("{l}\n"))
            .collect()
    }

    /// The user turn an instruct model gets: the function to complete, in a fenced block, and
    /// the request to answer with the whole function in one.
    pub fn chat_prompt(&self) -> String {
        format!(
            "Complete the following Python function. Answer with the whole function in one \
             ```python code block.\n\n```python\n{}```",
            self.prompt
        )
    }
}

/// Reads a JSONL problem set; an error names the line and what is wrong with it.
pub fn parse_jsonl(name: &str, text: &str) -> Result<Vec<Problem>> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |reason: String| Error::Param {
            name: "problems",
            value: format!("{name}:{}: {reason}", i + 1),
            expected: "one JSON object per line with task_id, prompt, test and entry_point",
        };
        if line.len() > MAX_LINE {
            return Err(bad(format!("a line of {} bytes", line.len())));
        }
        if out.len() == MAX_PROBLEMS {
            return Err(bad(format!("more than {MAX_PROBLEMS} problems")));
        }
        let p: Problem = serde_json::from_str(line).map_err(|e| bad(e.to_string()))?;
        let ident = |s: &str| {
            s.chars()
                .next()
                .is_some_and(|c| c.is_alphabetic() || c == '_')
                && s.chars().all(|c| c.is_alphanumeric() || c == '_')
        };
        if !ident(&p.entry_point) {
            return Err(bad(format!(
                "entry_point {:?} is not a function name",
                p.entry_point
            )));
        }
        out.push(p);
    }
    if out.is_empty() {
        return Err(Error::Param {
            name: "problems",
            value: format!("{name}: no problems"),
            expected: "one JSON object per line with task_id, prompt, test and entry_point",
        });
    }
    Ok(out)
}

/// The built-in easy set.
pub fn easy() -> Result<Vec<Problem>> {
    parse_jsonl("easy.jsonl", EASY_JSONL)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_easy_set_reads_whole() {
        let set = easy().expect("easy set");
        assert_eq!(set.len(), 20);
        assert_eq!(set[2].entry_point, "factorial");
        assert!(
            set.iter()
                .all(|p| p.prompt.starts_with(&format!("def {}(", p.entry_point)))
        );
        let t = set[2].test_case();
        assert!(t.code.ends_with("\n\ncheck(factorial)\n"), "{}", t.code);
        assert!(
            set[2]
                .chat_prompt()
                .contains("```python\ndef factorial(n):")
        );
        assert_eq!(set[2].imports(), "");
        let he = Problem {
            prompt: "from typing import List\nimport math\n\n\ndef f(x: List[int]):\n    \"\"\"from a doc\"\"\"\n".into(),
            ..set[2].clone()
        };
        assert_eq!(he.imports(), "from typing import List\nimport math\n");
    }

    #[test]
    fn bad_sets_name_the_line() {
        let err = |text: &str| parse_jsonl("s.jsonl", text).expect_err("bad").to_string();
        assert!(err("").contains("no problems"));
        assert!(err("{\"task_id\": 1}").contains("s.jsonl:1:"));
        let ok = r#"{"task_id": "a", "prompt": "def f():\n", "test": "def check(c): pass", "entry_point": "f"}"#;
        assert!(parse_jsonl("s.jsonl", ok).is_ok());
        let bad_entry = ok.replace("\"f\"}", "\"f); import os; (\"}");
        assert!(err(&format!("{ok}\n\n{bad_entry}")).contains("s.jsonl:3: entry_point"));
        assert!(err("not json").contains("s.jsonl:1:"));
    }
}
