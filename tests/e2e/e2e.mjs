// Test layer (e): the built page (dist/, from `trunk build`) served on 127.0.0.1 and driven in
// headless Debian Chromium by playwright-core. Each case prints PASS or FAIL; the last line
// gives the counts, and the exit status is non-zero when any case failed.
//
// Usage: node tests/e2e/e2e.mjs [dist-dir] [screenshot-dir]

import { chromium } from 'playwright-core';
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';

const repoRoot = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
const distDir = path.resolve(process.argv[2] ?? path.join(repoRoot, 'dist'));
const shotDir = path.resolve(process.argv[3] ?? path.join(repoRoot, 'target', 'e2e'));
const chromiumPath = process.env.CHROMIUM ?? '/usr/bin/chromium';

// Flags this machine's headless Chromium needs (see README); WebGPU is added per case.
const baseArgs = [
  '--no-sandbox',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
];

const mimeTypes = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript',
  '.wasm': 'application/wasm',
  '.css': 'text/css',
  '.svg': 'image/svg+xml',
  '.json': 'application/json',
  '.png': 'image/png',
};

function serve(dir) {
  const server = http.createServer((request, response) => {
    const urlPath = decodeURIComponent(new URL(request.url, 'http://x').pathname);
    let file = path.join(dir, urlPath);
    if (!file.startsWith(dir)) {
      response.writeHead(403).end();
      return;
    }
    if (fs.existsSync(file) && fs.statSync(file).isDirectory()) file = path.join(file, 'index.html');
    fs.readFile(file, (error, body) => {
      if (error) {
        response.writeHead(404).end('not found');
        return;
      }
      response.writeHead(200, { 'content-type': mimeTypes[path.extname(file)] ?? 'application/octet-stream' });
      response.end(body);
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

const results = [];
function record(name, ok, detail) {
  results.push({ name, ok });
  console.log(`${ok ? 'PASS' : 'FAIL'} ${name}${detail ? ` — ${detail}` : ''}`);
}

// Opens the page in a fresh browser; returns the page and the console errors seen so far.
async function openPage(browser, url) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  const errors = [];
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });
  page.on('pageerror', (error) => errors.push(`uncaught: ${error.message}`));
  await page.goto(url, { waitUntil: 'load' });
  return { page, errors, context };
}

async function badgeCase(baseUrl, { name, webgpu, expected }) {
  const browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: webgpu ? [...baseArgs, '--enable-unsafe-webgpu'] : baseArgs,
  });
  try {
    const { page, errors } = await openPage(browser, baseUrl);
    const badge = page.getByTestId('backend-badge');
    await badge.waitFor({ timeout: 30_000 });
    // The badge starts at "Detecting…" and settles once the adapter question is answered.
    await page.waitForFunction(
      () => document.querySelector('[data-testid="backend-badge"]')?.dataset.backend !== 'detecting',
      null,
      { timeout: 30_000 },
    );
    const text = (await badge.textContent()).trim();
    record(`${name}: badge reads ${expected}`, expected.test(text), `badge: "${text}"`);
    const columns = await page.locator('section.column').count();
    record(`${name}: three-column shell`, columns === 3, `${columns} columns`);
    // With WebGPU the GPU render pipeline redraws the canvas; without, plotters' drawing stays.
    const wantRenderer = webgpu ? 'webgpu' : 'canvas2d';
    let renderer = 'unknown';
    try {
      await page.waitForFunction(
        (want) => document.querySelector('[data-testid="main-canvas"]')?.dataset.renderer === want,
        wantRenderer,
        { timeout: 60_000 },
      );
      renderer = wantRenderer;
    } catch (error) {
      renderer = await page.getByTestId('main-canvas').evaluate((c) => c.dataset.renderer ?? 'none');
    }
    record(`${name}: canvas drawn by ${wantRenderer}`, renderer === wantRenderer, `renderer: ${renderer}`);
    const canvasInk = await page.getByTestId('main-canvas').evaluate((canvas) => {
      const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
      let inked = 0;
      for (let i = 0; i < data.length; i += 4) if (data[i] < 200) inked += 1;
      return inked;
    });
    record(`${name}: canvas shows the RNG sample`, canvasInk > 1000, `${canvasInk} dark pixels`);
    fs.mkdirSync(shotDir, { recursive: true });
    const shot = path.join(shotDir, `shell-${name}.png`);
    await page.screenshot({ path: shot });
    console.log(`screenshot: ${path.relative(repoRoot, shot)}`);
    record(`${name}: no console errors`, errors.length === 0, errors.join(' | '));
  } finally {
    await browser.close();
  }
}

async function panicCase(baseUrl) {
  const browser = await chromium.launch({ executablePath: chromiumPath, headless: true, args: baseArgs });
  try {
    const { page } = await openPage(browser, `${baseUrl}?debug-panic`);
    const panel = page.getByTestId('fatal-error');
    let text = '';
    try {
      await panel.waitFor({ state: 'visible', timeout: 30_000 });
      text = (await panel.textContent()) ?? '';
    } catch (error) {
      text = `no error panel: ${error.message}`;
    }
    record('a panic shows a readable message, not a blank page', text.includes('deliberate panic') && text.includes('Reload'), text.slice(0, 120));
    await page.screenshot({ path: path.join(shotDir, 'panic-message.png') });
  } finally {
    await browser.close();
  }
}

async function main() {
  if (!fs.existsSync(path.join(distDir, 'index.html'))) {
    console.error(`error: ${distDir}/index.html is missing: build the page first (trunk build --release --offline)`);
    process.exit(2);
  }
  const server = await serve(distDir);
  const baseUrl = `http://127.0.0.1:${server.address().port}/`;
  console.log(`serving ${path.relative(repoRoot, distDir) || distDir} at ${baseUrl}`);
  try {
    await badgeCase(baseUrl, { name: 'webgpu', webgpu: true, expected: /^WebGPU: \S.*/ });
    await badgeCase(baseUrl, { name: 'cpu-fallback', webgpu: false, expected: /^CPU \(no WebGPU: .+\)$/ });
    await panicCase(baseUrl);
  } catch (error) {
    record('e2e run finished without an exception', false, error.stack);
  } finally {
    server.close();
  }
  const passed = results.filter((r) => r.ok).length;
  const failed = results.length - passed;
  console.log(`e2e result: ${passed} passed; ${failed} failed`);
  process.exit(failed === 0 && passed > 0 ? 0 : 1);
}

main();
