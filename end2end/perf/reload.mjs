// Measures: page reload → authenticated notes page rendered (silent refresh + notes fetched and
// shown), in headless Chromium against the release server on loopback. A measurement, not a
// test: it prints numbers and asserts nothing. Run by `make bench` (or `node perf/reload.mjs`).
import { chromium } from 'playwright-core';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const ROUNDS = Number(process.env.RELOAD_ROUNDS ?? 30);
const root = resolve(import.meta.dirname, '../..');
const port = await new Promise((ok) => {
  const s = createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => ok(p)); });
});
const base = `http://127.0.0.1:${port}`;
const data = mkdtempSync(join(tmpdir(), 'cloakroom-reload-'));
const server = spawn(`${root}/target/release/cloakroom`, [], {
  stdio: 'ignore',
  env: { ...process.env, CLOAKROOM_PORT: String(port), CLOAKROOM_DATA_DIR: data, CLOAKROOM_DIST_DIR: `${root}/dist`, CLOAKROOM_LOG: 'warn' },
});
try {
  for (let i = 0; ; i++) {
    try { if ((await fetch(`${base}/healthz`)).ok) break; } catch { /* not up yet */ }
    if (i > 100) throw new Error('server did not start');
    await new Promise((r) => setTimeout(r, 100));
  }
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const page = await browser.newPage();
  const password = 'correct horse battery staple';
  await page.request.post(`${base}/api/auth/signup`, { data: { username: 'reload_user', password } });
  await page.goto(`${base}/login`);
  await page.getByLabel('Username').fill('reload_user');
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByLabel('Title').fill('a note to render');
  await page.getByRole('button', { name: 'Add note' }).click();
  await page.getByTestId('note').first().waitFor();

  // In the page: the moment the notes list is rendered for a logged-in user, relative to the
  // start of the navigation (performance.now() is 0 at navigation start).
  await page.addInitScript(() => {
    const done = () => document.querySelector('[data-testid="current-user"]') && document.querySelector('[data-testid="note"]');
    new MutationObserver((_, obs) => {
      if (done()) { window.__renderedAt = performance.now(); obs.disconnect(); }
    }).observe(document, { childList: true, subtree: true });
  });
  const times = [];
  for (let i = 0; i < ROUNDS; i++) {
    await page.reload();
    await page.waitForFunction(() => window.__renderedAt !== undefined);
    times.push(await page.evaluate(() => window.__renderedAt));
  }
  await browser.close();
  times.sort((a, b) => a - b);
  const q = (p) => times[Math.min(times.length - 1, Math.floor(p * times.length))];
  console.log(`reload → authenticated notes page rendered, ${ROUNDS} reloads (ms since navigation start):`);
  console.log(`  min ${q(0).toFixed(0)}  median ${q(0.5).toFixed(0)}  p90 ${q(0.9).toFixed(0)}  max ${times[times.length - 1].toFixed(0)}   (target < 300)`);
} finally {
  server.kill('SIGTERM');
  rmSync(data, { recursive: true, force: true });
}
