// Sign-in through the organisation's OpenID provider, in a real browser against a real provider
// nobody here wrote: panva's oidc-provider (interop/oidc-provider.mjs, its development login and
// consent pages). The provider lives at 127.0.0.1 and this file's own Cloakroom at localhost, so
// the way back from the provider is a cross-site navigation, as it is in production: what the
// browser sends on it (the Lax sign-in cookie, none of the Strict ones) is checked, not assumed.
import { type ChildProcess, spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { expect, test, type Page } from '@playwright/test';
import { PASSWORD, freePort, ownServer, scriptReadableStorage, uniqueName } from './helpers';

const root = resolve(__dirname, '../..');
let idp: ChildProcess;
let stop: () => void;
let base: string;
let issuer: string;

test.beforeAll(async () => {
  // The provider must know the redirect URI, so Cloakroom's port is chosen first.
  const port = await freePort();
  base = `http://localhost:${port}`;
  idp = spawn(
    process.execPath,
    [
      `${root}/interop/oidc-provider.mjs`,
      '--port', '0',
      '--client-id', 'cloakroom-e2e',
      '--client-secret', 'e2e-only-secret',
      '--redirect-uri', `${base}/api/auth/oidc/callback`,
      '--backchannel-logout-uri', `${base}/api/auth/oidc/backchannel-logout`,
    ],
    { stdio: ['ignore', 'pipe', 'ignore'] },
  );
  issuer = await new Promise<string>((ok, fail) => {
    idp.stdout!.once('data', (line: Buffer) => ok(JSON.parse(line.toString()).issuer));
    idp.once('exit', () => fail(new Error('the provider did not start (make setup-interop?)')));
  });
  idp.stdout!.resume();
  ({ stop } = await ownServer(port, {
    CLOAKROOM_OIDC_ISSUER: issuer,
    CLOAKROOM_OIDC_CLIENT_ID: 'cloakroom-e2e',
    CLOAKROOM_OIDC_CLIENT_SECRET: 'e2e-only-secret',
    CLOAKROOM_OIDC_NAME: 'Test SSO',
  }));
});

test.afterAll(() => {
  stop?.();
  idp?.kill('SIGTERM');
});

/** From the login page's button (or, for a browser already signed in here, whose login page
 * moves on, from a bookmark of the sign-in's start) through the provider's login and consent
 * pages. */
async function signInAtProvider(
  page: Page,
  name: string,
  next = '/notes',
  how: 'button' | 'button, remember me' | 'bookmark' = 'button',
) {
  if (how === 'bookmark') {
    await page.goto(`${base}/api/auth/oidc/start?next=${encodeURIComponent(next)}`);
  } else {
    await page.goto(`${base}/login?next=${encodeURIComponent(next)}`);
    if (how === 'button, remember me') await page.getByLabel('Remember me on this device').check();
    await page.getByRole('link', { name: 'Sign in with Test SSO' }).click();
  }
  await atProvider(page, name);
}

/** The provider's login page, then its consent page unless this account consented already,
 * and back here. */
async function atProvider(page: Page, name: string) {
  await expect(page).toHaveURL(new RegExp(`^${issuer}/interaction/`));
  await page.locator('input[name=login]').fill(name);
  await page.locator('input[name=password]').fill('anything');
  await page.getByRole('button', { name: 'Sign-in' }).click();
  const back = new RegExp(`^${base}/`);
  const consent = page.getByRole('button', { name: 'Continue' });
  // (`#main`: any page of the app's, signed in or not.)
  await expect(consent.or(page.locator('#main'))).toBeVisible();
  if (await consent.isVisible()) await consent.click();
  await expect(page).toHaveURL(back);
}

test('signing in with the organisation’s provider lands signed in where the person was going', async ({ page, context }) => {
  await signInAtProvider(page, 'ada', '/sessions');
  await expect(page).toHaveURL(`${base}/sessions`);
  await expect(page.getByTestId('current-user')).toHaveText('Signed in as ada');
  const cookies = await context.cookies(base);
  const refresh = cookies.find((c) => c.name === '__Host-cloakroom_refresh');
  expect(refresh?.sameSite).toBe('Strict');
  expect(refresh?.httpOnly).toBe(true);
  // A browser-session cookie: the provider's own session is what a new browser signs in with.
  expect(refresh!.expires).toBe(-1);
  expect(cookies.find((c) => c.name === '__Host-cloakroom_oidc')).toBeUndefined();
  // The access token lives in the tab: a reload keeps the person signed in (silent refresh).
  await page.reload();
  await expect(page.getByTestId('current-user')).toHaveText('Signed in as ada');
});

test('the way back from the provider carries the Lax sign-in cookie and none of the Strict ones', async ({ page, context }) => {
  await signInAtProvider(page, 'grace');
  await expect(page.getByTestId('current-user')).toHaveText('Signed in as grace');
  // Signed in, with Strict refresh and device cookies. The provider forgets grace, so signing
  // in again passes through its login form: the way back is a navigation the provider's page
  // starts, cross-site, as in production.
  await context.clearCookies({ domain: '127.0.0.1' });
  const sent: string[] = [];
  page.on('request', async (r) => {
    if (r.url().startsWith(`${base}/api/auth/oidc/callback`)) sent.push((await r.allHeaders()).cookie ?? '');
  });
  await signInAtProvider(page, 'grace', '/notes', 'bookmark');
  await expect(page).toHaveURL(`${base}/notes`);
  await expect.poll(() => sent.length).toBe(1);
  expect(sent[0]).toContain('__Host-cloakroom_oidc=');
  expect(sent[0]).not.toContain('__Host-cloakroom_refresh=');
  expect(sent[0]).not.toContain('__Host-cloakroom_device=');
  const names = (await context.cookies(base)).map((c) => c.name);
  expect(names).toContain('__Host-cloakroom_refresh');
  expect(names).not.toContain('__Host-cloakroom_oidc');
  await expect(page.getByTestId('current-user')).toHaveText('Signed in as grace');
});

test('“Remember me” ticked on the login page goes with the provider button', async ({ page, context }) => {
  await signInAtProvider(page, 'hopper', '/notes', 'button, remember me');
  await expect(page.getByTestId('current-user')).toHaveText('Signed in as hopper');
  const refresh = (await context.cookies(base)).find((c) => c.name === '__Host-cloakroom_refresh');
  // A persistent cookie (the idle limit ahead), not a browser-session one (-1).
  expect(refresh!.expires).toBeGreaterThan(Date.now() / 1000 + 3600);
});

test('cancelling at the provider comes back to the login page, saying so, still going where it was', async ({ page, context }) => {
  await page.goto(`${base}/login?next=%2Fsessions`);
  await page.getByRole('link', { name: 'Sign in with Test SSO' }).click();
  await page.getByRole('link', { name: '[ Cancel ]' }).click();
  await expect(page).toHaveURL(`${base}/login?sso=denied&next=%2Fsessions`);
  await expect(page.getByTestId('login-notice')).toHaveText(
    'The sign-in was cancelled at Test SSO, so you are not signed in.',
  );
  // The button is there to try again, still going to /sessions.
  await expect(page.getByRole('link', { name: 'Sign in with Test SSO' })).toHaveAttribute(
    'href',
    '/api/auth/oidc/start?next=%2Fsessions',
  );
  const names = (await context.cookies(base)).map((c) => c.name);
  expect(names).not.toContain('__Host-cloakroom_refresh');
  expect(names).not.toContain('__Host-cloakroom_oidc');
});

test('a link from another site (a portal) asks for one click here, then signs in', async ({ page }) => {
  // A page of another site (a portal, at the provider's origin) links to the sign-in.
  await page.route(`${issuer}/portal`, (r) =>
    r.fulfill({
      contentType: 'text/html',
      body: `<a href="${base}/api/auth/oidc/start?next=%2Fsessions">Cloakroom</a>`,
    }),
  );
  await page.goto(`${issuer}/portal`);
  await page.getByRole('link', { name: 'Cloakroom' }).click();
  // Nothing began: this site's page, with its button.
  await expect(page).toHaveURL(`${base}/api/auth/oidc/start?next=%2Fsessions`);
  await expect(page.getByRole('heading', { name: 'Sign in with Test SSO' })).toBeVisible();
  await page.getByRole('link', { name: 'Sign in with Test SSO' }).click();
  await expect(page).toHaveURL(new RegExp(`^${issuer}/interaction/`));
  await page.locator('input[name=login]').fill('linus');
  await page.locator('input[name=password]').fill('anything');
  await page.getByRole('button', { name: 'Sign-in' }).click();
  await page.getByRole('button', { name: 'Continue' }).click();
  await expect(page).toHaveURL(`${base}/sessions`);
  await expect(page.getByTestId('current-user')).toHaveText('Signed in as linus');
});

test('the provider’s tokens never reach the page, and signing out at the provider ends the open tab’s session at its next request', async ({ page, context }) => {
  // Every answer script on the page could read (fetches), kept to look through afterwards.
  const readable: string[] = [];
  page.on('response', async (r) => {
    if (['fetch', 'xhr'].includes(r.request().resourceType())) readable.push(await r.text().catch(() => ''));
  });
  await signInAtProvider(page, 'turing');
  await expect(page.getByTestId('current-user')).toHaveText('Signed in as turing');
  await expect.poll(() => readable.some((b) => b.includes('access_token'))).toBe(true);
  // The page's access token is Cloakroom's (its issuer, bound to the tab's key); no JWT the
  // provider issued (an ID, access or refresh token of its own) is in anything it was sent.
  const jwts = readable.flatMap((b) => b.match(/eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+/g) ?? []);
  expect(jwts.length).toBeGreaterThan(0);
  for (const jwt of jwts) {
    const claims = JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString());
    expect(claims.iss).toBe(base);
    expect(claims.cnf?.jkt).toBeTruthy();
  }
  // Nor any member named for one of them.
  expect(readable.join('\n')).not.toMatch(/"(id_token|refresh_token)"/);
  // Nothing of either kind is kept where script can read it.
  const stored = await scriptReadableStorage(page);
  expect(stored).not.toMatch(/eyJ[\w-]+\.eyJ/);

  // Signing out at the provider, in another tab: its logout page, then "yes". The provider
  // tells Cloakroom by a back-channel logout token, server to server.
  const other = await context.newPage();
  await other.goto(`${issuer}/session/end?client_id=cloakroom-e2e`);
  await other.getByRole('button', { name: /Yes, sign me out/ }).click();
  await expect(other).not.toHaveURL(/\/session\/end$/);
  await other.close();
  // The open tab's next request finds its session over.
  await page.getByRole('link', { name: 'Sessions' }).click();
  const relogin = page.getByRole('dialog', { name: 'Log in again to carry on' });
  await expect(relogin.getByTestId('login-notice')).toContainText('Your session has ended');
});

test('a provider account whose session ends mid-edit signs in again in a new tab, and its draft is saved', async ({ page, context }) => {
  await signInAtProvider(page, 'hopper');
  await expect(page.getByTestId('current-user')).toHaveText('Signed in as hopper');
  // The session ends under the page: the person signs out at the provider, in another tab.
  const other = await context.newPage();
  await other.goto(`${issuer}/session/end?client_id=cloakroom-e2e`);
  await other.getByRole('button', { name: /Yes, sign me out/ }).click();
  await expect(other).not.toHaveURL(/\/session\/end$/);
  await other.close();
  await page.getByLabel('Title').fill('typed before the session ended');
  await page.getByRole('button', { name: 'Add note' }).click();
  const relogin = page.getByRole('dialog', { name: 'Log in again to carry on' });
  await expect(relogin).toContainText('hopper');

  // No password to type here: the provider, in a new tab, and this tab carries on.
  const [tab] = await Promise.all([
    context.waitForEvent('page'),
    relogin.getByRole('link', { name: 'Sign in with Test SSO' }).click(),
  ]);
  await atProvider(tab, 'hopper');
  await expect(tab.getByTestId('current-user')).toHaveText('Signed in as hopper');
  await tab.close();

  await expect(relogin).toHaveCount(0);
  await expect(page.getByLabel('Title')).toHaveValue('typed before the session ended');
  await page.getByRole('button', { name: 'Add note' }).click();
  await expect(page.locator('.note-title', { hasText: 'typed before the session ended' })).toBeVisible();
});

test('a provider account deletes itself by signing in at the provider again', async ({ page }) => {
  await signInAtProvider(page, 'knuth');
  await expect(page.getByTestId('current-user')).toHaveText('Signed in as knuth');
  await page.getByRole('link', { name: 'Account' }).click();
  const form = page.getByTestId('delete-account');
  // Offered once the person has ticked that they understand.
  await expect(form.getByRole('link', { name: 'Delete my account with Test SSO' })).toHaveCount(0);
  await form.getByLabel('I understand that my notes will be deleted for good').check();
  await form.getByRole('link', { name: 'Delete my account with Test SSO' }).click();
  // The provider asks again, though its own session lives.
  await atProvider(page, 'knuth');
  await expect(page).toHaveURL(/\/login\?sso=deleted/);
  await expect(page.getByTestId('login-notice')).toHaveText('Your account and its notes have been deleted.');
  expect(await page.context().cookies(base)).toEqual([]);
});

test('a local account links itself to the provider from the account page, then signs in through it', async ({ page }) => {
  const username = uniqueName('linked');
  expect((await page.request.post(`${base}/api/auth/signup`, { data: { username, password: PASSWORD } })).status()).toBe(201);
  await page.goto(`${base}/login`);
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect(page.getByTestId('current-user')).toContainText(username);
  await page.getByRole('link', { name: 'Account' }).click();
  await page.getByRole('button', { name: 'Link this account to Test SSO' }).click();
  await atProvider(page, 'lovelace');
  await expect(page).toHaveURL(/\/account\?sso=linked$/);
  await expect(page.getByTestId('account-notice')).toHaveText('Your account is linked to Test SSO: you can sign in with it too.');

  // Logged out here, signed in there still: the provider's button signs in to this account.
  await page.getByTestId('logout').click();
  await page.getByRole('link', { name: 'Sign in with Test SSO' }).click();
  await expect(page.getByTestId('current-user')).toHaveText(`Signed in as ${username}`);
});

test('after logging out here, “Also sign out of” the provider ends the provider’s session too', async ({ page }) => {
  await signInAtProvider(page, 'hamming');
  await expect(page.getByTestId('current-user')).toHaveText('Signed in as hamming');
  await page.getByTestId('logout').click();
  await expect(page).toHaveURL(/\/login/);
  await expect(page.getByTestId('login-notice')).toBeVisible();
  // The provider asks the person to confirm (no ID token is kept here to hint with).
  await page.getByRole('link', { name: 'Also sign out of Test SSO' }).click();
  await expect(page).toHaveURL(new RegExp(`^${issuer}/session/end`));
  await page.getByRole('button', { name: /Yes, sign me out/ }).click();
  await expect(page).not.toHaveURL(/\/session\/end$/);
  // Signed out there too: the next sign-in asks for the provider's login again.
  await page.goto(`${base}/login`);
  await page.getByRole('link', { name: 'Sign in with Test SSO' }).click();
  await expect(page.locator('input[name=login]')).toBeVisible();
});

test('the login page offers no provider sign-out to someone who has not just logged out', async ({ page }) => {
  const asked = page.waitForResponse((r) => new URL(r.url()).pathname === '/api/auth/oidc');
  await page.goto(`${base}/login`);
  await asked;
  await expect(page.getByRole('link', { name: 'Sign in with Test SSO' })).toBeVisible();
  await expect(page.getByRole('link', { name: /Also sign out/ })).toHaveCount(0);
});
