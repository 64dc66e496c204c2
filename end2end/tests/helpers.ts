// Shared helpers: users made through the real API, logins through the real UI, and the
// token values captured from the network (so storage can be searched for the values
// themselves, not just for suspicious key names).
import { expect, type APIRequestContext, type BrowserContext, type Page } from '@playwright/test';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { createHash, generateKeyPairSync, randomUUID, sign } from 'node:crypto';
import { join, resolve } from 'node:path';

export const PASSWORD = 'correct horse battery staple';
export const REFRESH_COOKIE = '__Host-cloakroom_refresh';

let counter = 0;
export function uniqueName(prefix = 'e2e'): string {
  counter += 1;
  return `${prefix}_${Date.now().toString(36)}_${counter}`;
}

/** Creates an account through the API and returns its username. */
export async function createUser(request: APIRequestContext, prefix?: string): Promise<string> {
  const username = uniqueName(prefix);
  const res = await request.post('/api/auth/signup', { data: { username, password: PASSWORD } });
  expect(res.status(), await res.text()).toBe(201);
  return username;
}

/** Creates an admin the only way there is: the `cloakroom` CLI, on the suite's database. */
export function cliCreateAdmin(): string {
  const username = uniqueName('admin');
  execFileSync(resolve(__dirname, '../../target/release/cloakroom'), ['user', 'create', username, '--admin', '--password-stdin'], {
    input: `${PASSWORD}\n`,
    env: { ...process.env, CLOAKROOM_DATA_DIR: process.env.E2E_DATA_DIR!, CLOAKROOM_LOG: 'warn' },
  });
  return username;
}

/** Logs in through the login form and waits for the notes page. */
export async function loginUI(page: Page, username: string, opts: { remember?: boolean } = {}) {
  await page.goto('/login');
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(PASSWORD);
  if (opts.remember) await page.getByLabel('Remember me on this device').check();
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect(page).toHaveURL(/\/notes$/);
  await expect(page.getByTestId('current-user')).toContainText(username);
}

/** Records every access token the server hands this page (login and refresh answers). */
export function captureAccessTokens(page: Page): string[] {
  const tokens: string[] = [];
  page.on('response', async (res) => {
    const url = res.url();
    if (res.ok() && (url.endsWith('/api/auth/login') || url.endsWith('/api/auth/refresh'))) {
      try {
        const body = await res.json();
        if (typeof body.access_token === 'string') tokens.push(body.access_token);
      } catch {
        /* not JSON: nothing to capture */
      }
    }
  });
  return tokens;
}

export async function refreshCookie(context: BrowserContext) {
  const cookies = await context.cookies();
  return cookies.find((c) => c.name === REFRESH_COOKIE);
}

/** Everything script on the page can read: web storage, cookies, IndexedDB contents. */
export async function scriptReadableStorage(page: Page): Promise<string> {
  return page.evaluate(async () => {
    const dump: Record<string, unknown> = {
      local: Object.fromEntries(Object.entries(localStorage)),
      session: Object.fromEntries(Object.entries(sessionStorage)),
      cookie: document.cookie,
    };
    const dbs = (await indexedDB.databases?.()) ?? [];
    const idb: Record<string, unknown> = {};
    for (const info of dbs) {
      if (!info.name) continue;
      const db: IDBDatabase = await new Promise((ok, fail) => {
        const r = indexedDB.open(info.name!);
        r.onsuccess = () => ok(r.result);
        r.onerror = () => fail(r.error);
      });
      for (const store of Array.from(db.objectStoreNames)) {
        idb[`${info.name}/${store}`] = await new Promise((ok) => {
          const r = db.transaction(store).objectStore(store).getAll();
          r.onsuccess = () => ok(r.result);
        });
      }
      db.close();
    }
    dump.indexedDB = idb;
    return JSON.stringify(dump);
  });
}

/** The `sid` claim of an access token (decoded for assertions only). */
export function sessionId(accessToken: string): string {
  const payload = accessToken.split('.')[1];
  return JSON.parse(Buffer.from(payload, 'base64url').toString()).sid;
}

/** `POST /api/auth/refresh` with an explicit cookie value, as an attacker replaying it would. */
export async function replayRefresh(request: APIRequestContext, cookieValue: string, proof?: string) {
  const headers: Record<string, string> = { 'x-requested-with': 'cloakroom', cookie: `${REFRESH_COOKIE}=${cookieValue}` };
  if (proof) headers.dpop = proof;
  return request.post('/api/auth/refresh', { headers });
}

/** A DPoP key of the attacker's own, outside the browser (Node's crypto, Ed25519). */
export function attackerKey() {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const jwk = publicKey.export({ format: 'jwk' });
  return { privateKey, jwk: { crv: jwk.crv, kty: jwk.kty, x: jwk.x } };
}

/** A DPoP proof (RFC 9449) of `key` for `htm` on `htu`, dated `iat`, bound to `token` if given. */
export function dpopProof(key: ReturnType<typeof attackerKey>, htm: string, htu: string, iat: number, token?: string): string {
  const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64url');
  const claims: Record<string, unknown> = { jti: randomUUID(), htm, htu, iat };
  if (token) claims.ath = createHash('sha256').update(token).digest('base64url');
  const input = `${b64(JSON.stringify({ typ: 'dpop+jwt', alg: 'EdDSA', jwk: key.jwk }))}.${b64(JSON.stringify(claims))}`;
  return `${input}.${b64(sign(null, Buffer.from(input), key.privateKey))}`;
}

/** The server's clock (test servers: the moved one), Unix seconds. */
export async function serverNow(request: APIRequestContext): Promise<number> {
  const res = await request.post('/api/test/clock', { data: { advance_secs: 0 } });
  return (await res.json()).now;
}

/** A loopback port free at this moment (for a process that must be told its port up front). */
export function freePort(): Promise<number> {
  return new Promise((ok) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => ok(p));
    });
  });
}

/**
 * A server of a test file's own: the release binary at http://localhost:`port` (browsers allow
 * passkeys there, and count it as another site than 127.0.0.1), a throwaway database, `env`
 * added. Resolves once /healthz answers; `stop` ends it and removes its data.
 */
export async function ownServer(port: number, env: Record<string, string> = {}) {
  const root = resolve(__dirname, '../..');
  const base = `http://localhost:${port}`;
  const data = mkdtempSync(join(tmpdir(), 'cloakroom-own-'));
  const server = spawn(`${root}/target/release/cloakroom`, [], {
    stdio: 'ignore',
    env: {
      ...process.env,
      CLOAKROOM_PORT: String(port),
      CLOAKROOM_DATA_DIR: data,
      CLOAKROOM_DIST_DIR: `${root}/dist`,
      CLOAKROOM_PUBLIC_ORIGIN: base,
      CLOAKROOM_LOG: 'warn',
      ...env,
    },
  });
  // Ready when /healthz answers (a bounded wait for a process to start, not for time to pass).
  await expect
    .poll(async () => (await fetch(`${base}/healthz`).catch(() => null))?.status, { timeout: 20_000 })
    .toBe(200);
  return {
    base,
    stop: () => {
      server.kill('SIGTERM');
      rmSync(data, { recursive: true, force: true });
    },
  };
}
