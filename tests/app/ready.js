// For scripts/bench_app.sh: evaluated when the UI has connected to the native engine; reports
// once the default model is ready to generate, with the page's own clock (ms since navigation).
(async () => {
  const connected = performance.now();
  const $ = (s) => document.querySelector(s);
  while ($('#status')?.dataset.ready !== 'true' && !$('#error')?.textContent) {
    await new Promise((r) => setTimeout(r, 10));
  }
  window.ipc.postMessage('kiln-drive:' + JSON.stringify({
    connected_ms: connected, ready_ms: performance.now(),
    status: $('#status')?.textContent, error: $('#error')?.textContent,
  }));
})();
