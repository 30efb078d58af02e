//! The engine's Web Worker (built by Trunk as a module worker; see index.html).

fn main() {
    #[cfg(target_arch = "wasm32")]
    kiln_web::worker::start();
}
