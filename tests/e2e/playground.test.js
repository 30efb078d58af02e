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
const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm',
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

async function generateGreedy(page) {
  await page.fill('#prompt', PROMPT);
  await page.click('button.preset:text-is("0")');
  await page.fill('#max-tokens', String(MAX_TOKENS));
  await page.click('#generate');
  await page.waitForFunction(
    () => document.querySelector('#output')?.dataset.done === 'true' && document.querySelector('#timing')?.textContent,
    null, { timeout: 600_000 });
  return page.textContent('#output');
}

function nativeGreedy() {
  const out = execFileSync(KILN, ['generate', '--chat', '--temp', '0', '-n', String(MAX_TOKENS), '--device', 'cpu',
    '-q', PROMPT], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  return out.replace(/\n$/, '');
}

for (const [name, webgpu, query] of [['webgpu', true, ''], ['cpu', false, '?device=cpu']]) {
  test(`greedy output on ${name} equals the native engine's, and a second visit uses the cache`, async () => {
    const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-e2e-'));
    const { ctx, page, log } = await browser(webgpu, profile);
    try {
      const status = await ready(page, query);
      await page.screenshot({ path: path.join(ART, `${name}-1-loaded.png`) });
      if (name === 'cpu') assert.match(status, /Flex/, status);
      const text = await generateGreedy(page);
      await page.screenshot({ path: path.join(ART, `${name}-2-generated.png`), fullPage: true });
      assert.equal(text, nativeGreedy());
      const fetched = hits.get('/models/SmolLM2-135M-Instruct-Q4_1.gguf') ?? 0;
      const again = await ready(page, query);
      assert.match(again, /from the browser cache/, again);
      assert.equal(hits.get('/models/SmolLM2-135M-Instruct-Q4_1.gguf') ?? 0, fetched, 'the model was fetched again');
    } finally {
      fs.writeFileSync(path.join(ART, `${name}-console.log`), log.join('\n'));
      await ctx.close();
    }
  });
}
