//! kiln-web: the browser playground. For now it re-exports the engine facade so that the
//! workspace proves the engine links into a browser crate; the Leptos UI and the Web Worker that
//! owns the engine come with the playground.

pub use kiln_engine::{DeviceChoice, Engine, GenerateRequest, ModelFiles};
