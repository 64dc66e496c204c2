// Measures: page reload → authenticated notes page rendered (silent refresh + notes fetched and
// shown), in headless Chromium against the release server on loopback. A measurement, not a
// test: it prints numbers and asserts nothing. Run by `make bench` (or `node perf/reload.mjs`).
//
// BASELINE_DIST=/path/to/other/dist runs a second server on that client build and alternates
// reloads between the two, printing both and the ratio of medians: the machine is noisy, so
// an A/B comparison of two client builds is only meaningful within one run.
import { chromium } from 'playwright-core';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const ROUNDS = Number(process.env.RELOAD_ROUNDS ?? 30);
const root = resolve(import.meta.dirname, '../..');
const PASSWORD = 'correct horse battery staple';

const freePort = () => new Promise((ok) => {
  const s = createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => ok(p)); });
});

async function startServer(dist) {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const data = mkdtempSync(join(tmpdir(), 'cloakroom-reload-'));
  const proc = spawn(`${root}/target/release/cloakroom`, [], {
    stdio: 'ignore',
    env: { ...process.env, CLOAKROOM_PORT: String(port), CLOAKROOM_DATA_DIR: data, CLOAKROOM_DIST_DIR: dist, CLOAKROOM_LOG: 'warn' },
  });
  const stop = () => { proc.kill('SIGTERM'); rmSync(data, { recursive: true, force: true }); };
  for (let i = 0; ; i++) {
    try { if ((await fetch(`${base}/healthz`)).ok) break; } catch { /* not up yet */ }
    if (i > 100) { stop(); throw new Error(`server for ${dist} did not start`); }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { base, stop };
}

// A logged-in page with one note, that records when the notes list is rendered for a
// logged-in user, relative to the start of the navigation (performance.now() is 0 there).
async function preparePage(browser, base) {
  const page = await browser.newPage();
  await page.request.post(`${base}/api/auth/signup`, { data: { username: 'reload_user', password: PASSWORD } });
  await page.goto(`${base}/login`);
  await page.getByLabel('Username').fill('reload_user');
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByLabel('Title').fill('a note to render');
  await page.getByRole('button', { name: 'Add note' }).click();
  await page.getByTestId('note').first().waitFor();
  await page.addInitScript(() => {
    const done = () => document.querySelector('[data-testid="current-user"]') && document.querySelector('[data-testid="note"]');
    new MutationObserver((_, obs) => {
      if (done()) { window.__renderedAt = performance.now(); obs.disconnect(); }
    }).observe(document, { childList: true, subtree: true });
  });
  return page;
}

async function reloadOnce(page) {
  await page.reload();
  await page.waitForFunction(() => window.__renderedAt !== undefined);
  return page.evaluate(() => window.__renderedAt);
}

function stats(times) {
  const t = [...times].sort((a, b) => a - b);
  const q = (p) => t[Math.min(t.length - 1, Math.floor(p * t.length))];
  return { min: q(0), median: q(0.5), p90: q(0.9), max: t[t.length - 1] };
}

const targets = [{ name: 'this build', dist: `${root}/dist` }];
if (process.env.BASELINE_DIST) targets.push({ name: 'baseline', dist: resolve(process.env.BASELINE_DIST) });
const servers = [];
try {
  for (const t of targets) servers.push(await startServer(t.dist));
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const pages = [];
  for (const s of servers) pages.push(await preparePage(browser, s.base));
  const times = targets.map(() => []);
  for (let i = 0; i < ROUNDS; i++) {
    for (let j = 0; j < pages.length; j++) times[j].push(await reloadOnce(pages[j]));
  }
  await browser.close();
  console.log(`reload → authenticated notes page rendered, ${ROUNDS} reloads (ms since navigation start):`);
  const all = times.map(stats);
  targets.forEach((t, j) => {
    const s = all[j];
    console.log(`  ${t.name.padEnd(10)} min ${s.min.toFixed(0)}  median ${s.median.toFixed(0)}  p90 ${s.p90.toFixed(0)}  max ${s.max.toFixed(0)}   (target < 300)`);
  });
  if (all.length > 1) console.log(`  median ratio, this build / baseline: ${(all[0].median / all[1].median).toFixed(2)}×`);
} finally {
  for (const s of servers) s.stop();
}
