//! The engine's Web Worker (built by scripts/web_build.sh; started as a module worker through
//! web/worker_loader.js).

fn main() {
    #[cfg(target_arch = "wasm32")]
    kiln_web::worker::start();
}
