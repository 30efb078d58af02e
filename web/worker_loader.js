// The engine's module worker: loads the wasm-bindgen output of the kiln-worker program, whose
// `main` (kiln_web::worker::start) installs the message handler. Copied to
// dist/kiln-worker_loader.js by scripts/web_build.sh; started by the UI (web/src/ui.rs).
import init from './kiln-worker.js';

await init({ module_or_path: new URL('./kiln-worker_bg.wasm', import.meta.url) });
