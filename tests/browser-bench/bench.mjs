// Browser performance comparison (docs/PERFORMANCE.md; a measurement, not a test): kiln's
// playground (dist/, as built by scripts/web_build.sh) next to wllama 3.8.1 (llama.cpp compiled
// to wasm) on the same GGUF, prompt and token count, in the same headless Chromium.
// Usage: node bench.mjs [--tokens N] [--gpu-tokens N]; prints a Markdown table.
import http from 'node:http';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

const ROOT = path.resolve(import.meta.dirname, '../..');
const DIST = path.join(ROOT, 'dist');
const WLLAMA = path.join(import.meta.dirname, 'node_modules/@wllama/wllama/esm');
const MODEL = '/models/SmolLM2-135M-Instruct-Q4_1.gguf';
const arg = (name, dflt) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const TOKENS = arg('--tokens', 64);
const GPU_TOKENS = arg('--gpu-tokens', 8);
const PROMPT = 'def quicksort(items):\n    """Sort a list of numbers with quicksort and return a new list."""\n';
const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm', '.css': 'text/css' };

// Cross-origin isolation lets wllama use threads; kiln's wasm has none and ignores it.
const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  let p = decodeURIComponent(url.pathname);
  let file;
  if (p === '/wllama.html') file = path.join(import.meta.dirname, 'wllama.html');
  else if (p.startsWith('/wllama/esm/')) file = path.join(WLLAMA, p.slice('/wllama/esm/'.length));
  else file = path.join(DIST, p === '/' ? 'index.html' : p);
  if (!fs.existsSync(file) || fs.statSync(file).isDirectory()) {
    res.writeHead(404).end();
    return;
  }
  res.writeHead(200, { 'Content-Type': TYPES[path.extname(file)] ?? 'application/octet-stream',
    'Content-Length': fs.statSync(file).size, 'Cache-Control': 'no-store',
    'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' });
  fs.createReadStream(file).pipe(res);
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const base = `http://127.0.0.1:${server.address().port}`;

async function withPage(webgpu, f) {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-bench-'));
  const args = ['--disable-gpu-sandbox', '--no-first-run'];
  if (webgpu) args.push('--enable-unsafe-webgpu');
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/lib/chromium/chromium', headless: true, args, viewport: { width: 1280, height: 800 } });
  try {
    return await f(ctx.pages()[0] ?? await ctx.newPage());
  } finally {
    await ctx.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

async function kiln(webgpu, tokens) {
  return withPage(webgpu, async (page) => {
    await page.goto(`${base}/?device=${webgpu ? 'gpu' : 'cpu'}`);
    const readyAt = await page.waitForFunction(() => {
      if (document.querySelector('#error')?.textContent) throw new Error(document.querySelector('#error').textContent);
      return document.querySelector('#status')?.dataset.ready === 'true' && performance.now();
    }, null, { timeout: 600_000, polling: 50 }).then((h) => h.jsonValue());
    await page.uncheck('#chat');
    await page.fill('#prompt', PROMPT);
    await page.click('button.preset:text-is("0")');
    await page.fill('#max-tokens', String(tokens));
    await page.click('#generate');
    const clickAt = await page.evaluate(() => performance.now());
    const firstAt = await page.waitForFunction(() => document.querySelector('#tokens .token') && performance.now(),
      null, { timeout: 600_000, polling: 20 }).then((h) => h.jsonValue());
    await page.waitForFunction(() => document.querySelector('#timing')?.textContent, null, { timeout: 900_000 });
    const timing = await page.textContent('#timing');
    const num = (re) => Number(timing.match(re)?.[1] ?? NaN);
    return { engine: 'kiln', device: webgpu ? 'WebGPU (SwiftShader)' : 'CPU wasm, 1 thread', tokens,
      ready: readyAt, firstToken: readyAt + (firstAt - clickAt),
      prefill: num(/prefill ([\d.]+) tok\/s/), decode: num(/decode ([\d.]+) tok\/s/),
      text: await page.textContent('#output') };
  });
}

async function wllama(webgpu, threads, tokens) {
  return withPage(webgpu, async (page) => {
    await page.goto(`${base}/wllama.html`);
    await page.waitForFunction(() => window.benchReady);
    const r = await page.evaluate((o) => window.runWllama(o),
      { url: MODEL, prompt: PROMPT, maxTokens: tokens, gpu: webgpu, threads });
    const t = r.timings;
    return { engine: 'wllama 3.8.1', tokens,
      device: webgpu ? 'WebGPU (SwiftShader)' : `CPU wasm, ${threads} thread${threads > 1 ? 's' : ''}`,
      ready: r.loadedAt, firstToken: r.loadedAt + (t.prompt_ms ?? NaN) + (t.predicted_per_token_ms ?? NaN),
      prefill: t.prompt_per_second, decode: t.predicted_per_second, text: r.text, isolated: r.isolated };
  });
}

const runs = [
  () => kiln(false, TOKENS),
  () => wllama(false, 1, TOKENS),
  () => wllama(false, 2, TOKENS),
  () => kiln(true, GPU_TOKENS),
  () => wllama(true, 1, GPU_TOKENS),
];
const rows = [];
for (const run of runs) {
  try {
    const r = await run();
    rows.push(r);
    console.error(`${r.engine} ${r.device}: ${JSON.stringify(r.text.slice(0, 60))}`);
  } catch (e) {
    console.error(`run failed: ${e.message}`);
  }
}
const f = (x, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');
console.log(`| engine | device | page load → model ready | → first token | prefill tok/s | decode tok/s | tokens |`);
console.log(`|---|---|---|---|---|---|---|`);
for (const r of rows) {
  console.log(`| ${r.engine} | ${r.device} | ${f(r.ready / 1000)} s | ${f(r.firstToken / 1000)} s | ${f(r.prefill)} | ${f(r.decode)} | ${r.tokens} |`);
}
server.close();
