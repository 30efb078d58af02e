// Drives `kiln app`'s window for desktop/tests/app.rs through the UI's own controls, as a person
// would: wait for the default model, ask for a greedy generation of the same prompt as the
// browser e2e test, and report what the page shows through the app's IPC (`kiln-drive:<json>`),
// which the app prints on stdout before it takes a screenshot and exits. Then, where the test
// put a listening address in PROBE, it tries to leave the app: a fetch, an image, a new window
// and a navigation to that address, none of which may reach it.
(async () => {
  const PROMPT = 'Write a Python function that returns the square of a number.';
  const PROBE = '__PROBE__';
  const report = (r) => window.ipc.postMessage('kiln-drive:' + JSON.stringify(r));
  const $ = (s) => document.querySelector(s);
  const text = (s) => $(s)?.textContent ?? '';
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const until = async (ok, ms, what) => {
    const t0 = Date.now();
    while (!ok()) {
      if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
      await sleep(50);
    }
  };
  const set = (sel, value, type = 'input') => {
    const el = $(sel);
    if (!el) throw new Error(`no ${sel} on the page`);
    el.value = value;
    el.dispatchEvent(new Event(type, { bubbles: true }));
  };
  try {
    await until(() => $('#status')?.dataset.ready === 'true' || text('#error'), 300_000, 'the default model');
    if (text('#error')) throw new Error(`the page reported: ${text('#error')}`);
    const status = text('#status');
    const device = text('#device-info');
    const models = [...document.querySelectorAll('#model-dir option')].map((o) => o.textContent);
    // The model directory's list: load the test's second name for the default model by path,
    // the way the file dialog and a drop hand a model to the engine.
    const other = [...document.querySelectorAll('#model-dir option')].find((o) => o.textContent === 'copy-of-default.gguf');
    let picked = '';
    if (other) {
      set('#model-dir', other.value, 'change');
      await until(() => $('#status')?.dataset.ready === 'false' || text('#error'), 10_000, 'the load to start');
      await until(() => $('#status')?.dataset.ready === 'true' || text('#error'), 300_000, 'the picked model');
      if (text('#error')) throw new Error(`the page reported: ${text('#error')}`);
      picked = text('#status');
    }
    set('#prompt', PROMPT);
    set('#lang', 'python', 'change');
    const greedy = [...document.querySelectorAll('button.preset')].find((b) => b.textContent === '0');
    if (!greedy) throw new Error('no T=0 preset button');
    greedy.click();
    set('#max-tokens', '12');
    const t0 = Date.now();
    $('#generate').click();
    await until(() => $('#output')?.dataset.done === 'true' && text('#timing'), 300_000, 'the generation');
    const ms = Date.now() - t0;
    const probes = {};
    if (!PROBE.startsWith('__')) {
      probes.fetch = await fetch(`${PROBE}/fetch`).then(() => 'reached', (e) => `refused: ${e}`);
      probes.image = await new Promise((r) => {
        const img = new Image();
        img.onload = () => r('loaded');
        img.onerror = () => r('refused');
        img.src = `${PROBE}/image`;
      });
      probes.window_open = window.open(`${PROBE}/window`) === null ? 'denied' : 'opened';
      location.href = `${PROBE}/navigate`;
      await sleep(1500);
      probes.location = location.href;
    }
    report({
      ok: !text('#error'), status, device, models, picked, prompt: PROMPT, text: text('#output'),
      timing: text('#timing'), speed: text('#speed'), error: text('#error'), ms, probes, browser_only_controls: !!$('#model-url') || !!$('#model-file'),
    });
  } catch (e) {
    report({ ok: false, error: String(e), page: document.body.innerText.slice(0, 4000) });
  }
})();
