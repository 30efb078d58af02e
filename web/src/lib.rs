//! kiln-web: the browser playground. The engine runs in a Web Worker; the UI thread only talks
//! to it through [`protocol`] messages. What can be plain Rust (the message types, the settings
//! kept in the URL, the view logic) lives here and is tested natively; the Leptos UI and the worker's browser
//! glue build for wasm32.

pub mod logic;
pub mod protocol;
pub mod settings;
#[cfg(target_arch = "wasm32")]
pub mod ui;
#[cfg(target_arch = "wasm32")]
pub mod worker;

pub use kiln_engine::{DeviceChoice, Engine, GenerateRequest, ModelFiles};
