//! The playground's UI thread (built by scripts/web_build.sh; started by index.html).

fn main() {
    #[cfg(target_arch = "wasm32")]
    kiln_web::ui::start();
}
