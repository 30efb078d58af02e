//! `kiln serve`: an OpenAI-compatible HTTP API on the loopback interface, for editors, the
//! `openai` client and scripts, with concurrent requests decoded together as lanes.

mod chat;
mod completions;
mod error;
mod extract;
mod guard;
mod jobs;
mod lab;
mod models;
mod params;
mod router;
mod scheduler;
mod start;

pub use start::{ServeArgs, run};
