//! Post-processing: from raw model output to code. Pure functions on text, identical natively
//! and in wasm: language detection, stop-and-trim, code extraction, syntax check, syntax-aware
//! truncation, formatting, integration into a file, and ([`sandbox`]) test runs. [`process`]
//! runs them in order.

mod complete;
mod error;
mod extract;
mod format;
mod imports;
mod integrate;
mod language;
mod lex;
mod process;
pub mod sandbox;
mod structure;
mod syntax;
mod trim;
mod truncate;

pub use complete::{Incomplete, incompleteness};
pub use error::{Error, Result};
pub use extract::{ExtractMode, Extracted, extract_code, reattach_prompt};
pub use format::{Formatted, format};
pub use integrate::{Clash, Context, Integration, Naming, integrate};
pub use language::Language;
pub use process::{PostOptions, PostReport, StageNote, process};
pub use structure::structure;
pub use syntax::{Diagnostic, check};
pub use trim::{RepeatRule, TrimReport, drop_repeated_tail, repeated_tail, stop_sequences, trim};
pub use truncate::{Scope, TruncateReport, truncate};
