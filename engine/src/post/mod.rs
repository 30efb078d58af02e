//! Post-processing: from raw model output to code. Pure functions on text, identical natively
//! and in wasm. Stages so far: language detection, stop-and-trim, code extraction, syntax check.

mod extract;
mod language;
mod syntax;
mod trim;

pub use extract::{ExtractMode, Extracted, extract_code, reattach_prompt};
pub use language::Language;
pub use syntax::{Diagnostic, check};
pub use trim::{TrimReport, drop_repeated_tail, stop_sequences, trim};
