// Developer aid: open the built page once and save a screenshot (not part of the test layer).
import { chromium } from 'playwright-core';
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
const dir = path.resolve(process.argv[2] ?? 'dist');
const out = process.argv[3] ?? '/tmp/peek/page.png';
const query = process.argv[4] ?? '';
const webgpu = process.argv[5] === 'webgpu';
const server = http.createServer((q, r) => {
  let f = path.join(dir, new URL(q.url, 'http://x').pathname);
  if (fs.existsSync(f) && fs.statSync(f).isDirectory()) f = path.join(f, 'index.html');
  fs.readFile(f, (e, b) => { if (e) { r.writeHead(404).end(); return; }
    r.writeHead(200, { 'content-type': f.endsWith('.wasm') ? 'application/wasm' : f.endsWith('.js') ? 'text/javascript' : f.endsWith('.css') ? 'text/css' : 'text/html' }).end(b); });
});
await new Promise((res) => server.listen(0, '127.0.0.1', res));
const args = ['--no-sandbox', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
if (webgpu) args.push('--enable-unsafe-webgpu');
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args });
const page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
page.on('console', (m) => console.log(`console.${m.type()}: ${m.text()}`));
page.on('pageerror', (e) => console.log(`pageerror: ${e.message}`));
await page.goto(`http://127.0.0.1:${server.address().port}/${query}`);
const probe = () => page.evaluate(() => new Promise((done) => {
  let n = 0, last = performance.now(), worst = 0; const t0 = last;
  const f = () => { const now = performance.now(); worst = Math.max(worst, now - last); last = now; n++;
    if (now - t0 < 2000) requestAnimationFrame(f); else done(`frames ${n} in 2 s, worst gap ${worst.toFixed(0)} ms`); };
  requestAnimationFrame(f);
}));
const wait = Number(process.env.WAIT ?? 8000);
for (let t = 0; t < wait; t += 5000) {
  console.log(`t=${t / 1000}s`, await probe(), await page.evaluate(() => [...document.querySelectorAll('[data-testid=panel-status]')].map((e) => e.innerText).join(' | ')));
  await page.waitForTimeout(3000);
}
await page.screenshot({ path: out, fullPage: true });
console.log(await page.evaluate(() => document.querySelector('[data-testid="metrics-table"]')?.innerText));
await browser.close();
server.close();
