// Playwright configuration for Cloakroom's end-to-end suite.
//
// The suite runs against the real release server (not a mock) with a fresh temporary SQLite
// database and short lifetimes, in Debian's Chromium: this machine class cannot download
// Playwright's own browser builds, and a closed network needs the flags below.
import { defineConfig } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
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
  process.env.E2E_DATA_DIR = mkdtempSync(join(tmpdir(), 'cloakroom-e2e-'));
}
const port = process.env.E2E_PORT;
const baseURL = `http://127.0.0.1:${port}`;
const root = resolve(__dirname, '..');

export const ACCESS_TTL_SECS = 5;
export const REUSE_GRACE_SECS = 2;

export default defineConfig({
  testDir: './tests',
  outputDir: './test-results',
  timeout: 45_000,
  expect: { timeout: 10_000 },
  // One server, one database; tests make their own users, but the expiry tests are about
  // wall-clock seconds, so they run one at a time on a 2-core machine.
  workers: 1,
  fullyParallel: false,
  retries: process.env.CI ? 1 : 0,
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
      CLOAKROOM_ACCESS_TTL_SECS: String(ACCESS_TTL_SECS),
      CLOAKROOM_REUSE_GRACE_SECS: String(REUSE_GRACE_SECS),
      // Many logins from one IP in a short suite; the per-username lock stays at its default.
      CLOAKROOM_AUTH_RATE_PER_MINUTE: '1000',
      CLOAKROOM_REFRESH_RATE_PER_MINUTE: '10000',
      CLOAKROOM_LOG: 'warn',
    },
  },
});
