//! `kiln app`: the playground as a native window, offline. The UI is the playground's own wasm
//! build, embedded in the binary and served on the app's scheme ([`assets`]); inference runs
//! natively in this process ([`engine`]), reached through the same protocol messages as the
//! browser's worker; [`window`] wires the two together.

mod assets;
mod engine;
#[cfg(target_os = "linux")]
mod linux;
mod window;

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;

/// `kiln app` flags.
#[derive(Args)]
pub struct AppArgs {
    /// Backend the UI starts with: auto, cpu or gpu (it can change it).
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// For tests: a JavaScript file evaluated in the page once its UI is listening; it reports
    /// by posting `kiln-drive:<json>` through `window.ipc`, and the app prints the JSON and exits.
    #[arg(long, hide = true)]
    pub drive: Option<PathBuf>,
    /// For tests: a PNG of the window, saved when the drive script has reported.
    #[arg(long, hide = true)]
    pub screenshot: Option<PathBuf>,
}

/// Opens the window, or says why it cannot and what to use instead.
pub fn run(args: AppArgs) -> Result<()> {
    let device: kiln_engine::DeviceChoice = args.device.parse()?;
    if !assets::embedded() {
        bail!(
            "this kiln was built without the UI: run scripts/web_build.sh, then build again with --features app"
        );
    }
    #[cfg(target_os = "linux")]
    if let Err(why) = linux::display() {
        bail!(
            "kiln app cannot open a window: {why}.\n\
             On a headless machine, serve the model instead: `kiln serve` (an OpenAI-compatible \
             API on 127.0.0.1 for editors and scripts), or open the playground in a browser \
             (`bash scripts/web_build.sh serve`)."
        );
    }
    let drive = match &args.drive {
        Some(p) => Some(
            std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?,
        ),
        None => None,
    };
    window::run(window::WindowOptions {
        drive,
        screenshot: args.screenshot,
        query: format!("?device={}", device.name()),
    })
}
