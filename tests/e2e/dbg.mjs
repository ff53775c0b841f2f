import { chromium } from 'playwright-core';
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--enable-unsafe-webgpu', '--window-size=1280,800', '--enable-logging=stderr', '--v=0'] });
const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
const t0 = Date.now();
page.on('console', (m) => console.log(((Date.now() - t0) / 1000).toFixed(1), m.type(), m.text().slice(0, 400)));
page.on('pageerror', (e) => console.log('pageerror', e.message));
await page.goto(process.argv[2]);
await page.getByTestId('gpu-opt-in').click({ timeout: 60000 });
await page.waitForFunction(() => document.querySelector('[data-testid="notice-banner"]')?.textContent.includes('now run on the GPU'), null, { timeout: 180_000 });
console.log('gpu ready', (Date.now() - t0) / 1000);
await page.getByTestId('run-samplers').click();
for (let i = 0; i < 3; i++) {
  await page.waitForTimeout(10000);
  const st = await page.$$eval('[data-testid="panel-status"]', (s) => s.map((e) => e.textContent));
  const banner = await page.locator('.error-banner').allTextContents().catch(() => []);
  console.log((Date.now() - t0) / 1000, st.join(' | '), banner.join(' ').slice(0, 300));
}
await page.screenshot({ path: '/tmp/dbg.png' });
await browser.close();
