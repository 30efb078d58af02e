// Starts the playground's UI (crate kiln-web, bin kiln-web), a file of its own rather than an
// inline script so that a Content-Security-Policy without 'unsafe-inline' allows it (the desktop
// app serves the page with one). scripts/web_build.sh puts it beside index.html as kiln-start.js.
import init from './kiln-web.js';
init({ module_or_path: new URL('./kiln-web_bg.wasm', import.meta.url) });
