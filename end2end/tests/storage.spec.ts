// Where the tokens are (memory and an HttpOnly cookie) and where they are not (anywhere script
// can read).
import { expect, test } from '@playwright/test';
import {
  REFRESH_COOKIE,
  captureAccessTokens,
  createUser,
  loginUI,
  refreshCookie,
  scriptReadableStorage,
  sessionId,
} from './helpers';

test('no token value is in localStorage, sessionStorage, IndexedDB or document.cookie', async ({ page, context, request }) => {
  const username = await createUser(request, 'storage');
  const tokens = captureAccessTokens(page);
  await loginUI(page, username, { remember: true });
  // Leave a preference behind too: the audit must tell it apart from a credential.
  await page.getByRole('button', { name: 'Dark theme' }).click();

  const check = async () => {
    const secrets = [...tokens, (await refreshCookie(context))!.value];
    expect(secrets.length).toBeGreaterThanOrEqual(2);
    const readable = await scriptReadableStorage(page);
    expect(readable).toContain('cloakroom.theme');
    for (const secret of secrets) {
      expect(secret.length).toBeGreaterThan(40);
      expect(readable).not.toContain(secret);
      // Parts of a JWT (its signature) must not be stored either.
      for (const part of secret.split('.')) expect(readable).not.toContain(part);
    }
  };
  await check();

  // A refresh (the silent one on reload) mints new values: check again with those.
  const before = tokens.length;
  await page.reload();
  await expect(page.getByTestId('current-user')).toContainText(username);
  await expect.poll(() => tokens.length).toBe(before + 1);
  await check();
});

test('the refresh cookie is HttpOnly, Secure, SameSite=Strict, Path=/; remember decides its life', async ({ browser, request }) => {
  const username = await createUser(request, 'cookie');
  for (const remember of [false, true]) {
    const context = await browser.newContext();
    const page = await context.newPage();
    await loginUI(page, username, { remember });
    const cookie = await refreshCookie(context);
    expect(cookie, `${REFRESH_COOKIE} is set`).toBeDefined();
    expect(cookie!.httpOnly).toBe(true);
    expect(cookie!.secure).toBe(true);
    expect(cookie!.sameSite).toBe('Strict');
    expect(cookie!.path).toBe('/');
    if (remember) {
      expect(cookie!.expires).toBeGreaterThan(Date.now() / 1000 + 3600);
    } else {
      expect(cookie!.expires).toBe(-1); // a browser-session cookie
    }
    // And script cannot see it.
    expect(await page.evaluate(() => document.cookie)).not.toContain(REFRESH_COOKIE);
    await context.close();
  }
});

test('the token inspector shows the current token and an all-clear storage audit', async ({ page, request }) => {
  const username = await createUser(request, 'inspect');
  const tokens = captureAccessTokens(page);
  await loginUI(page, username);
  await page.getByRole('link', { name: 'Token inspector' }).click();
  await expect(page.getByRole('heading', { name: 'Token inspector' })).toBeVisible();

  const claims = page.getByTestId('token-claims');
  await expect(claims).toContainText(`"preferred_username": "${username}"`);
  await expect(claims).toContainText(`"sid": "${sessionId(tokens[tokens.length - 1])}"`);
  await expect(claims).toContainText('"token_use": "access"');
  await expect(page.getByTestId('token-header')).toContainText('"alg": "EdDSA"');
  // Never more than the lifetime, even in the second the token arrived.
  await expect(page.getByTestId('countdown')).toContainText(/Expires in (300|299|298) s/);
  // At a desktop width the claims wrap inside their panel: nothing runs past its edge.
  await page.setViewportSize({ width: 1280, height: 900 });
  for (const id of ['token-claims', 'token-header']) {
    const overflow = await page.getByTestId(id).evaluate((el) => el.scrollWidth - el.clientWidth);
    expect(overflow, id).toBeLessThanOrEqual(0);
    const panel = await page.getByTestId(id).evaluate((el) => {
      const p = el.closest('.panel')!.getBoundingClientRect();
      const r = el.getBoundingClientRect();
      return p.right - r.right;
    });
    expect(panel, `${id} stays inside its panel`).toBeGreaterThanOrEqual(0);
  }
  await expect(page.getByTestId('timeline')).toContainText('login');

  await expect(page.getByTestId('audit-verdict')).toHaveText(/^All clear/);
  await expect(page.getByTestId('audit-row').and(page.locator('[data-credential="true"]'))).toHaveCount(0);
  await expect(page.getByTestId('audit-idb')).toContainText('no databases');

  await page.screenshot({ path: test.info().outputPath('inspector.png'), fullPage: true });

  // The audit is live: what another script writes shows up within its one-second re-read,
  // and goes away again when removed.
  await page.evaluate(() => localStorage.setItem('auth_token', 'planted by a test'));
  await expect(page.getByTestId('audit-verdict')).toHaveText(/^Danger/);
  const planted = page.getByTestId('audit-row').filter({ hasText: 'auth_token' });
  await expect(planted).toHaveAttribute('data-credential', 'true');
  await expect(planted).toContainText('key is named like a credential');
  await page.evaluate(() => localStorage.removeItem('auth_token'));
  await expect(page.getByTestId('audit-verdict')).toHaveText(/^All clear/);
  await expect(planted).toHaveCount(0);
  await test.info().attach('inspector', { path: test.info().outputPath('inspector.png'), contentType: 'image/png' });
});
