//! Running generated code against tests, with a verdict per test.
//!
//! The types here are shared by every target. Natively ([`run_tests`]) each program runs in its
//! own interpreter process, inside an operating-system jail (`jail`: bubblewrap's namespaces,
//! Landlock, seccomp; Linux), with the harness as the inner layer:
//! - Python: a real CPython (`python3 -I`) under `harness.py`, which sets CPU-time, memory,
//!   file-size and open-file limits (hard limits, so the code cannot raise them), installs an
//!   audit hook (PEP 578) that refuses process creation, signals, sockets, ctypes and file access
//!   outside the empty temp directory, and disables the functions HumanEval's
//!   `reliability_guard` disables. A test is a split run: solution and test in two processes
//!   that exchange plain data only, the verdict the test process's (see `native`);
//! - JavaScript: Node under its permission model (file system limited to the temp directory, no
//!   child processes or workers) with `harness.js`, which also refuses sockets and signals.
//!
//! The parent enforces what the child cannot be trusted with: a wall-clock timeout and an
//! output cap, both by killing the whole process group (and with it the jail's PID namespace),
//! which it also kills after every run so that nothing is left behind. docs/SANDBOX.md says
//! what each layer guarantees and what it does not.
//!
//! In the browser the same verdicts come from an isolated worker (the playground).

use serde::{Deserialize, Serialize};

#[cfg(not(target_arch = "wasm32"))]
pub mod jail;
#[cfg(not(target_arch = "wasm32"))]
mod native;
#[cfg(not(target_arch = "wasm32"))]
pub use native::{interpreter_available, run_program, run_tests};

/// Resource limits for one test run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Wall-clock time, in milliseconds.
    pub wall_ms: u64,
    /// CPU time, in seconds.
    pub cpu_seconds: u64,
    /// Address space (Python) or heap (JavaScript), in bytes.
    pub memory_bytes: u64,
    /// Largest file the code may write, in bytes.
    pub file_bytes: u64,
    /// Open file descriptors.
    pub open_files: u64,
    /// Output (stdout + stderr) before the run is stopped, in bytes.
    pub output_bytes: u64,
    /// Whether each run is confined by the operating system ([`jail`], natively on Linux).
    /// With it on and no jail to be had, a run is an error that says what to install; off
    /// (`--no-jail`) the harness alone contains the code, which is said once per process.
    #[serde(default = "jailed")]
    pub jail: bool,
}

fn jailed() -> bool {
    true
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            wall_ms: 10_000,
            cpu_seconds: 5,
            memory_bytes: 1 << 30,
            file_bytes: 1 << 20,
            open_files: 64,
            output_bytes: 1 << 20,
            jail: true,
        }
    }
}

/// One test: code appended to the solution (e.g. HumanEval's `check` and its call).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestCase {
    /// A name for reports.
    pub name: String,
    /// The test code.
    pub code: String,
}

/// How a test ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Ran to the end without an exception.
    Pass,
    /// An assertion failed.
    Fail,
    /// Another exception, a syntax error, or the interpreter died.
    Error,
    /// Over the wall-clock limit.
    Timeout,
    /// Over a resource limit (`kind` says which: cpu, memory, recursion, stack, output, file).
    ResourceLimit,
    /// The code tried something the sandbox refuses (`message` says what).
    Forbidden,
}

/// The verdict for one test.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    /// The test's name.
    pub test: String,
    /// How it ended.
    pub outcome: Outcome,
    /// Which limit, for `ResourceLimit`.
    pub kind: Option<String>,
    /// The assertion or exception message, or what was refused.
    pub message: String,
    /// 1-based line in the program (solution + test) where it happened, when known.
    pub line: Option<usize>,
    /// The start of what the program printed (stdout then stderr, at most 4 KiB).
    pub output: String,
    /// Wall-clock time of the run, in milliseconds.
    pub wall_ms: u64,
}
