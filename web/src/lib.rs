//! kiln-web: the browser playground. The engine runs in a Web Worker; the UI thread only talks
//! to it through [`protocol`] messages. What can be plain Rust (the message types, the settings
//! kept in the URL, the view logic of the generate and lab views) lives here and is tested
//! natively; the Leptos UI and the browser glue build for wasm32.

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
