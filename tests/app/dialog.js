// Drives `kiln app`'s window for desktop/tests/app.rs: once the default model is ready, asks for
// the native file dialog ("open a model…"), which the test answers with xdotool, and reports the
// status line once the chosen model is loaded.
(async () => {
  const report = (r) => window.ipc.postMessage('kiln-drive:' + JSON.stringify(r));
  const $ = (s) => document.querySelector(s);
  const text = (s) => $(s)?.textContent ?? '';
  const until = async (ok, ms, what) => {
    const t0 = Date.now();
    while (!ok()) {
      if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  try {
    await until(() => $('#status')?.dataset.ready === 'true' || text('#error'), 300_000, 'the default model');
    if (text('#error')) throw new Error(`the page reported: ${text('#error')}`);
    $('#open-model').click();
    await until(() => /^ready: dialog-pick\.gguf/.test(text('#status')) || text('#error'), 120_000,
      'the model chosen in the dialog');
    report({ ok: !text('#error'), status: text('#status'), error: text('#error') });
  } catch (e) {
    report({ ok: false, error: String(e), status: text('#status') });
  }
})();
