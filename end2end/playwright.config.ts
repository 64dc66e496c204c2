// Playwright configuration for Cloakroom's end-to-end suite.
//
// The suite runs against the real release server (not a mock) with a fresh temporary SQLite
// database and the production lifetimes, in Debian's Chromium: this machine class cannot
// download Playwright's own browser builds, and a closed network needs the flags below. Time
// moves only when a test moves it (`advanceTime` in tests/fixtures.ts): the server runs with its
// test-only clock control, which keeps its clock still between moves.
import { defineConfig } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

// Chosen once in the main process and inherited by workers through the environment.
if (!process.env.E2E_PORT) {
  process.env.E2E_PORT = execFileSync(process.execPath, [
    '-e',
    "const s=require('net').createServer();s.listen(0,'127.0.0.1',()=>{process.stdout.write(String(s.address().port));s.close()})",
  ]).toString();
}
if (!process.env.E2E_DATA_DIR) {
  const dir = mkdtempSync(join(tmpdir(), 'cloakroom-e2e-'));
  process.env.E2E_DATA_DIR = dir;
  // The process that made the database removes it when the run is over (workers inherit the
  // variable and leave it alone).
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
}
const port = process.env.E2E_PORT;
const baseURL = `http://127.0.0.1:${port}`;
const root = resolve(__dirname, '..');

// The production defaults, which the tests check exactly (they are not set below).
export const ACCESS_TTL_SECS = 300;
export const REFRESH_IDLE_TTL_SECS = 86_400;
export const SESSION_MAX_TTL_SECS = 7 * 86_400;
export const REUSE_GRACE_SECS = 10;

export default defineConfig({
  testDir: './tests',
  outputDir: './test-results',
  timeout: 45_000,
  expect: { timeout: 10_000 },
  // One server, one database, one clock: a test that moves the server's clock moves it for
  // everyone, so tests run one at a time (each makes its own users and sessions).
  workers: 1,
  fullyParallel: false,
  // No retries anywhere: a retry hides exactly the flakes a test must not have.
  retries: 0,
  forbidOnly: !!process.env.CI,
  reporter: [['list'], ['html', { open: 'never', outputFolder: 'playwright-report' }]],
  use: {
    baseURL,
    trace: 'retain-on-failure',
    screenshot: 'only-on-failure',
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    },
  },
  webServer: {
    command: `${root}/target/release/cloakroom`,
    url: `${baseURL}/healthz`,
    reuseExistingServer: false,
    timeout: 30_000,
    stdout: 'ignore',
    stderr: 'pipe',
    env: {
      CLOAKROOM_PORT: port!,
      CLOAKROOM_DATA_DIR: process.env.E2E_DATA_DIR!,
      CLOAKROOM_DIST_DIR: `${root}/dist`,
      CLOAKROOM_PUBLIC_ORIGIN: baseURL,
      CLOAKROOM_TEST_CLOCK: 'true',
      // Many logins from one IP in a short suite; the per-username lock stays at its default.
      CLOAKROOM_AUTH_RATE_PER_MINUTE: '1000',
      CLOAKROOM_REFRESH_RATE_PER_MINUTE: '10000',
      CLOAKROOM_LOG: 'warn',
    },
  },
});
