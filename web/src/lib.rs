//! kiln-web: the playground's UI. The engine runs in a Web Worker in the browser, or natively
//! behind the desktop app's window (`kiln app`); the UI only talks to it through [`protocol`]
//! messages, and both engines answer them through [`answer`]. What can be plain Rust (the message types, the settings
//! kept in the URL, the view logic of the generate and lab views) lives here and is tested
//! natively; the Leptos UI and the browser glue build for wasm32.

pub mod answer;
pub mod lab_logic;
pub mod logic;
pub mod protocol;
pub mod settings;

#[cfg(target_arch = "wasm32")]
pub mod components;
#[cfg(target_arch = "wasm32")]
pub mod lab_run;
#[cfg(target_arch = "wasm32")]
pub mod page;
#[cfg(target_arch = "wasm32")]
pub mod sandbox;
#[cfg(target_arch = "wasm32")]
pub mod state;
#[cfg(target_arch = "wasm32")]
pub mod transport;
#[cfg(target_arch = "wasm32")]
pub mod ui;
#[cfg(target_arch = "wasm32")]
pub mod worker;

pub use kiln_engine::{DeviceChoice, Engine, GenerateRequest, ModelFiles};
