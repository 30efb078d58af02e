//! The playground's UI thread (built by Trunk; see index.html).

fn main() {
    #[cfg(target_arch = "wasm32")]
    kiln_web::ui::start();
}
