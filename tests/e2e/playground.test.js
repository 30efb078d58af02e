// Browser end-to-end tests of the playground (docs/TESTING.md): the built dist/ is served on
// 127.0.0.1 by a tiny server that counts requests, and the system Chromium is driven headless.
// Run by scripts/e2e.sh (builds dist/ first). Screenshots and console logs go to $KILN_ARTIFACTS.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { chromium } from 'playwright-core';

const ROOT = path.resolve(import.meta.dirname, '../..');
const DIST = path.join(ROOT, 'dist');
const ART = process.env.KILN_ARTIFACTS ?? path.join(ROOT, 'target/e2e');
const KILN = process.env.KILN_BIN ?? path.join(os.homedir(), '.cache/kiln/target/debug/kiln');
const PROMPT = 'Write a Python function that returns the square of a number.';
const MAX_TOKENS = 12;
const LAB_TOKENS = 32;
const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm',
  '.css': 'text/css', '.gguf': 'application/octet-stream' };

let server, base;
const hits = new Map();

before(async () => {
  fs.mkdirSync(ART, { recursive: true });
  server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    hits.set(url.pathname, (hits.get(url.pathname) ?? 0) + 1);
    const file = path.join(DIST, url.pathname === '/' ? 'index.html' : decodeURIComponent(url.pathname));
    if (!file.startsWith(DIST) || !fs.existsSync(file) || fs.statSync(file).isDirectory()) {
      res.writeHead(404).end('not found');
      return;
    }
    const headers = { 'Content-Type': TYPES[path.extname(file)] ?? 'application/octet-stream',
      'Cache-Control': 'no-store', 'Content-Length': fs.statSync(file).size };
    res.writeHead(200, headers);
    fs.createReadStream(file).pipe(res);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${server.address().port}/`;
});

after(() => server?.close());

async function browser(webgpu, profile) {
  const args = ['--disable-gpu-sandbox', '--disable-background-networking', '--disable-component-update',
    '--disable-sync', '--no-first-run'];
  if (webgpu) args.push('--enable-unsafe-webgpu');
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/lib/chromium/chromium', headless: true, args, viewport: { width: 1280, height: 800 },
  });
  const page = ctx.pages()[0] ?? await ctx.newPage();
  const log = [];
  page.on('console', (m) => log.push(`[${m.type()}] ${m.text()}`));
  page.on('pageerror', (e) => log.push(`pageerror ${e.message}`));
  return { ctx, page, log };
}

async function ready(page, query = '') {
  await page.goto(base + query);
  await page.waitForFunction(
    () => document.querySelector('#status')?.dataset.ready === 'true' || document.querySelector('#error')?.textContent,
    null, { timeout: 600_000 });
  const error = await page.textContent('#error');
  assert.equal(error, '', `the page reported: ${error}`);
  return page.textContent('#status');
}

async function generate(page, { prompt = PROMPT, preset = '0', maxTokens = MAX_TOKENS, lang = 'python' } = {}) {
  await page.fill('#prompt', prompt);
  await page.selectOption('#lang', lang);
  await page.click(`button.preset:text-is("${preset}")`);
  await page.fill('#max-tokens', String(maxTokens));
  await page.click('#generate');
  await finished(page);
  return page.textContent('#output');
}

async function finished(page) {
  await page.waitForFunction(
    () => document.querySelector('#output')?.dataset.done === 'true' && document.querySelector('#timing')?.textContent,
    null, { timeout: 600_000 });
}

let native;
function nativeGreedy() {
  native ??= execFileSync(KILN, ['generate', '--raw', '--chat', '--temp', '0', '-n', String(MAX_TOKENS), '--device', 'cpu',
    '-q', PROMPT], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).replace(/\n$/, '');
  return native;
}

const MODEL_PATH = '/models/SmolLM2-135M-Instruct-Q4_1.gguf';

// 1 and 3: WebGPU (SwiftShader) matches the native engine; the second visit reads the browser cache.
// 2: without --enable-unsafe-webgpu Chromium offers no adapter: `auto` falls back to the CPU and says so.
for (const [name, webgpu] of [['webgpu', true], ['fallback', false]]) {
  test(`${name}: greedy output equals the native engine's, and a second visit uses the cache`, async () => {
    const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-e2e-'));
    const { ctx, page, log } = await browser(webgpu, profile);
    try {
      const status = await ready(page);
      await page.screenshot({ path: path.join(ART, `${name}-1-loaded.png`) });
      const device = await page.textContent('#device-info');
      if (webgpu) {
        assert.match(status, /on WebGPU: google swiftshader/, status);
        assert.match(device, /maxStorageBufferBindingSize \d+ MiB/, device);
      } else {
        assert.match(status, /on CPU \(wasm, Flex\)/, status);
        assert.match(device, /note: WebGPU offers no adapter here .*using the CPU backend/, device);
      }
      const text = await generate(page);
      await page.screenshot({ path: path.join(ART, `${name}-2-generated.png`), fullPage: true });
      assert.equal(text, nativeGreedy());
      // 12 tokens cut the function mid-line: what is left is reported as incomplete, not as code that parses.
      assert.match(await page.textContent('#valid'), /^incomplete: .*raise max tokens/);
      const fetched = hits.get(MODEL_PATH) ?? 0;
      const again = await ready(page);
      assert.match(again, /from the browser cache/, again);
      assert.equal(hits.get(MODEL_PATH) ?? 0, fetched, 'the model was fetched again');
      if (!webgpu) await cpuExtras(page);
    } finally {
      fs.writeFileSync(path.join(ART, `${name}-console.log`), log.join('\n'));
      await ctx.close();
    }
  });
}

// 5: the temperature lab, 3 temperatures × 2 samples on the CPU path, tested in Pyodide: the
// columns, metrics and charts render, every lane is the native engine's lane (the same run in wasm
// and natively: same seeds, same arithmetic), and a record made by `kiln lab --json` imports and
// replays in the browser with identical lanes.
test('lab: columns, charts, native lanes, and a native record replayed in the browser', async () => {
  const temps = '0,0.7,1.5';
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-lab-'));
  const testFile = path.join(tmp, 'square.py');
  fs.writeFileSync(testFile, 'assert square_number(3) == 9\n');
  const nativeFile = path.join(tmp, 'native.json');
  fs.writeFileSync(nativeFile, execFileSync(KILN, ['lab', '--chat', '--temps', temps, '-k', '2', '-n', String(LAB_TOKENS),
    '--device', 'cpu', '-q', '--json', '--tests', testFile, PROMPT],
  { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 64 << 20 }));
  const native = JSON.parse(fs.readFileSync(nativeFile, 'utf8'));
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-e2e-'));
  const { ctx, page, log } = await browser(false, profile);
  try {
    await ready(page, '?device=cpu&view=lab');
    await page.fill('#prompt', PROMPT);
    await page.fill('#max-tokens', String(LAB_TOKENS));
    await page.fill('#lab-temps', temps);
    await page.fill('#lab-k', '2');
    await page.fill('#lab-tests', 'assert square_number(3) == 9');
    await page.click('#lab-run');
    // The lanes stream into their columns while they decode.
    await page.waitForFunction(() => document.querySelectorAll('#lab-columns .live-lane').length === 6, null,
      { timeout: 60_000 });
    await labDone(page);
    await page.screenshot({ path: path.join(ART, 'lab-1-run.png'), fullPage: true });
    assert.equal(await page.locator('#lab-columns .lab-column').count(), 3);
    assert.equal(await page.locator('#lab-columns .lane').count(), 6);
    assert.equal(await page.locator('#lab-columns table.metrics').count(), 3);
    const charts = await page.innerHTML('#lab-charts');
    assert.match(charts, /^<svg/);
    assert.match(charts, /pass@1/);
    assert.match(charts, /outcomes/);
    const status = await page.textContent('#lab-status');
    assert.match(status, /6 lanes decoded together/);
    assert.match(status, /batch invariance at T=0: the greedy lane alone and in a 6-lane batch, \d+ steps: the same tokens, max \|Δlogit\| 0\.0e0/);
    // The record, exported: the same lanes as the native run's.
    const [dl] = await Promise.all([page.waitForEvent('download'), page.click('#lab-export')]);
    const browserRecord = JSON.parse(fs.readFileSync(await dl.path(), 'utf8'));
    assert.deepEqual(browserRecord.run.request, native.run.request);
    assert.equal(browserRecord.run.lanes.length, 6);
    for (const [i, lane] of browserRecord.run.lanes.entries()) {
      const want = native.run.lanes[i];
      assert.equal(lane.seed, want.seed, `lane ${i} seed`);
      assert.deepEqual(lane.generation.tokens, want.generation.tokens, `lane ${i} (T=${lane.temperature}) tokens`);
      assert.equal(lane.generation.text, want.generation.text, `lane ${i} text`);
    }
    assert.deepEqual(browserRecord.outcomes, native.outcomes, 'the browser judged every sample as the CLI did');
    // The greedy lanes passed the test, in Pyodide as natively.
    assert.equal(browserRecord.outcomes[0], 'passed');
    assert.equal(await page.getAttribute('.lane[data-lane="0"] .lane-tests li', 'data-verdict'), 'pass');

    // The native record imported, then run again here: every lane the same.
    await page.setInputFiles('#lab-import', nativeFile);
    await page.waitForFunction(() => /6 lanes recorded on cpu/.test(document.querySelector('#lab-status')?.textContent ?? ''),
      null, { timeout: 30_000 });
    assert.equal(await page.locator('#lab-columns .lane').count(), 6);
    await page.click('#lab-replay');
    await page.waitForFunction(() => document.querySelector('#lab-status')?.dataset.done === 'false', null,
      { timeout: 10_000 }).catch(() => {});
    await labDone(page);
    assert.match(await page.textContent('#lab-status'), /^replay: all 6 lanes gave the recorded tokens and text/);
    await page.screenshot({ path: path.join(ART, 'lab-2-replayed.png'), fullPage: true });
  } finally {
    fs.writeFileSync(path.join(ART, 'lab-console.log'), log.join('\n'));
    await ctx.close();
  }
});

/** Waits until the lab run has been judged and its record shown. */
async function labDone(page) {
  await page.waitForFunction(
    () => document.querySelector('#lab-status')?.dataset.done === 'true' || document.querySelector('#error')?.textContent,
    null, { timeout: 600_000 });
  assert.equal(await page.textContent('#error'), '');
}

// 4 and the rest of the UI, on the (fast) CPU path: corrupt files, cancel, browser test runs, views.
async function cpuExtras(page) {
  // A download cut short: the header is intact, the first tensor runs past the end.
  const real = fs.readFileSync(path.join(DIST, MODEL_PATH));
  await page.setInputFiles('#model-file', { name: 'truncated.gguf', mimeType: 'application/octet-stream',
    buffer: real.subarray(0, 5_000_000) });
  await page.waitForFunction(() => document.querySelector('#error')?.textContent, null, { timeout: 60_000 });
  assert.match(await page.textContent('#error'),
    /truncated\.gguf: tensor `token_embd\.weight` data \[\d+, \d+\) lies past the end of the file \(5000000 bytes\)/);
  await page.screenshot({ path: path.join(ART, 'fallback-3-corrupt.png') });
  // Nothing is lost: the default model is still loaded.
  assert.equal(await page.getAttribute('#status', 'data-ready'), 'true');
  assert.match(await page.textContent('#status'), /SmolLM2-135M-Instruct-Q4_1\.gguf/);
  await page.setInputFiles('#model-file', { name: 'notes.gguf', mimeType: 'text/plain', buffer: Buffer.from('hello\n') });
  await page.waitForFunction(() => /magic/.test(document.querySelector('#error')?.textContent ?? ''), null,
    { timeout: 60_000 });
  assert.match(await page.textContent('#error'), /notes\.gguf: not a GGUF file: wrong magic \[68, 65, 6c, 6c\]/);

  // Cancel mid-generation, then generate again.
  await page.fill('#prompt', 'Write a long essay about the history of programming languages.');
  await page.click('button.preset:text-is("0.7")');
  await page.fill('#max-tokens', '400');
  await page.click('#generate');
  await page.waitForFunction(() => document.querySelectorAll('#tokens .token').length >= 8, null, { timeout: 120_000 });
  // The UI thread stays responsive while tokens stream: typing lands at once.
  const t0 = Date.now();
  await page.fill('#seed', '7');
  assert.ok(Date.now() - t0 < 2000, `typing took ${Date.now() - t0} ms during generation`);
  await page.click('#cancel');
  await finished(page);
  assert.equal(await page.getAttribute('#timing', 'data-finish'), 'Cancelled');
  const n = await page.locator('#tokens .token').count();
  assert.ok(n < 400, `${n} tokens after cancel`);
  await page.screenshot({ path: path.join(ART, 'fallback-4-cancelled.png') });
  assert.equal(await generate(page), nativeGreedy(), 'after a cancel, greedy output is still the native one');

  // Python tests, each in a fresh Pyodide worker: pass, fail (with its line), a hang, a refused
  // network call, runaway recursion.
  await generate(page, { maxTokens: 24 });
  await page.waitForSelector('#run-tests');
  assert.equal(await page.textContent('#view-formatted'), 'def square_number(num):\n    return num**2\n');
  await page.fill('#tests', 'assert square_number(3) == 9\n\nassert square_number(2) == 5\n\nwhile True:\n    pass\n\n' +
    'import js\njs.fetch("/models/")\n\ndef f(n):\n    return f(n + 1)\nf(0)');
  await page.click('#run-tests');
  await page.waitForFunction(() => document.querySelectorAll('#test-results li').length === 5, null,
    { timeout: 180_000 });
  assert.deepEqual(await page.$$eval('#test-results li', (l) => l.map((x) => x.dataset.verdict)),
    ['pass', 'fail', 'timeout', 'error', 'error']);
  const py = await page.textContent('#test-results');
  assert.match(py, /AssertionError at test\.py:1: assert square_number\(2\) == 5/);
  assert.match(py, /RecursionError: maximum recursion depth exceeded/);
  await page.screenshot({ path: path.join(ART, 'fallback-5-python-tests.png'), fullPage: true });

  // JavaScript tests in throwaway workers: pass, fail, a hang, and a refused network call.
  await generate(page, { prompt: 'Write a JavaScript function add(a, b) that returns the sum of a and b.',
    lang: 'javascript', maxTokens: 30 });
  await page.waitForSelector('#run-tests');
  assert.equal(await page.textContent('#valid'), 'javascript syntax OK');
  assert.match(await page.textContent('#view-formatted'), /function add\(a, b\) \{\n {2}return a \+ b;\n\}/);
  await page.fill('#tests', 'assert.strictEqual(add(2, 3), 5);\n\nassert.strictEqual(add(1, 1), 3);\n\n' +
    'while (true) {}\n\nfetch("/models/")');
  await page.click('#run-tests');
  await page.waitForFunction(() => document.querySelectorAll('#test-results li').length === 4, null,
    { timeout: 60_000 });
  const verdicts = await page.$$eval('#test-results li', (l) => l.map((x) => x.dataset.verdict));
  assert.deepEqual(verdicts, ['pass', 'fail', 'timeout', 'error']);
  assert.match(await page.textContent('#test-results'), /AssertionError: 2 !== 3/);
  await page.screenshot({ path: path.join(ART, 'fallback-5-js-tests.png'), fullPage: true });
  await page.click('#tab-diff');
  assert.ok(await page.locator('#view-diff .line.del').count() > 0, 'the diff shows the removed fence');
  await page.click('#theme');
  await page.screenshot({ path: path.join(ART, 'fallback-6-diff-dark.png'), fullPage: true });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.screenshot({ path: path.join(ART, 'fallback-7-phone.png'), fullPage: true });
  await page.setViewportSize({ width: 1280, height: 800 });

  // A model by URL: downloaded once, then served from the browser cache.
  const before = hits.get(MODEL_PATH) ?? 0;
  for (const whence of ['downloaded', 'from the browser cache']) {
    await page.fill('#model-url', `${base}${MODEL_PATH.slice(1)}`);
    await page.click('#load-url');
    await loaded(page);
    assert.match(await page.textContent('#status'), new RegExp(`SmolLM2-135M-Instruct-Q4_1\\.gguf .* — ${whence}`));
  }
  assert.equal(hits.get(MODEL_PATH) ?? 0, before + 1, 'the URL model is fetched once');

  // A Hugging Face set (sharded safetensors) by the file picker: its greedy output is the native engine's.
  const dir = path.join(ROOT, 'tests/fixtures/tiny/llama_gqa/hf_sharded');
  await page.setInputFiles('#model-file', fs.readdirSync(dir).map((f) => path.join(dir, f)));
  await loaded(page);
  assert.match(await page.textContent('#status'), /ready: model directory \(llama,/);
  await page.uncheck('#chat');
  // Language "other": a raw completion in a known language would also stop at that language's
  // stop sequences (as the CLI's `--lang` does); the native side is `--raw`, with none.
  const tiny = await generate(page, { prompt: 'hello world', maxTokens: 8, lang: 'other' });
  const native = execFileSync(KILN, ['generate', '--raw', '--model', dir, '--temp', '0', '-n', '8', '--device', 'cpu', '-q',
    'hello world'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).replace(/\n$/, '');
  assert.equal(tiny, native);
  await page.screenshot({ path: path.join(ART, 'fallback-8-hf-files.png') });

  // "clear cache" empties it: the next visit downloads again. With ?store=cache-api the Cache API
  // (what browsers without OPFS get) keeps the model instead.
  await page.click('#clear-cache');
  await page.waitForFunction(() => /cleared/.test(document.querySelector('#notice')?.textContent ?? ''));
  await page.waitForTimeout(500);
  for (const [query, whence, fetches] of [['', 'downloaded', 1], ['?store=cache-api', 'downloaded', 1],
    ['?store=cache-api', 'from the browser cache', 0]]) {
    const n = hits.get(MODEL_PATH) ?? 0;
    const status = await ready(page, query);
    assert.match(status, new RegExp(`— ${whence}`), `${query}: ${status}`);
    assert.equal((hits.get(MODEL_PATH) ?? 0) - n, fetches, `${query}: model requests`);
  }
  assert.match(await page.textContent('#device-info'), /cache: cache-api/);
}

/** Waits until a load that was just started has finished, without an error. */
async function loaded(page) {
  await page.waitForFunction(() => document.querySelector('#status')?.dataset.ready === 'false', null,
    { timeout: 10_000 }).catch(() => {});
  await page.waitForFunction(
    () => document.querySelector('#status')?.dataset.ready === 'true' || document.querySelector('#error')?.textContent,
    null, { timeout: 300_000 });
  assert.equal(await page.textContent('#error'), '');
}
