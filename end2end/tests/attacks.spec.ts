// What an attacker can try, and what they get: a replayed refresh token, a revoked device,
// a cross-site request, an injected script.
import { REUSE_GRACE_SECS } from '../playwright.config';
import { expect, test } from './fixtures';
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PASSWORD, attackerKey, captureAccessTokens, createUser, dpopProof, loginUI, refreshCookie, replayRefresh, serverNow, sessionId } from './helpers';

test('replaying a rotated refresh token after the grace window revokes the session', async ({ page, context, playwright, request, advanceTime }) => {
  const username = await createUser(request, 'reuse');
  const tokens = captureAccessTokens(page);
  await loginUI(page, username, { remember: true });
  const stolen = (await refreshCookie(context))!.value;
  const victimSession = sessionId(tokens[0]);

  // The app rotates the cookie (the silent refresh on reload), then uses its successor (the
  // next reload): the stolen value is now an ancestor of a used token.
  await page.reload();
  await expect(page.getByTestId('current-user')).toContainText(username);
  const successor = (await refreshCookie(context))!.value;
  expect(successor).not.toBe(stolen);
  await page.reload();
  await expect(page.getByTestId('current-user')).toContainText(username);
  expect((await refreshCookie(context))!.value).not.toBe(successor);

  // The attacker, elsewhere, replays the stolen value. The session began with a DPoP proof, so
  // a proofless replay gets nothing at all; with a proof of a key of the attacker's own, up to
  // the last second of the grace window the server treats it as a straggler of the victim's own
  // refresh (an access token bound to that key, no refresh cookie); one second later, as theft.
  const attacker = await playwright.request.newContext({ baseURL: test.info().project.use.baseURL });
  const refreshUrl = `${test.info().project.use.baseURL}/api/auth/refresh`;
  const key = attackerKey();
  await advanceTime(REUSE_GRACE_SECS);
  expect((await replayRefresh(attacker, stolen)).status()).toBe(401);
  const straggler = await replayRefresh(attacker, stolen, dpopProof(key, 'POST', refreshUrl, await serverNow(request)));
  expect(straggler.status()).toBe(200);
  expect((await straggler.json()).token_type).toBe('DPoP');
  expect(straggler.headers()['set-cookie'] ?? '').not.toContain('cloakroom_refresh=');
  await advanceTime(1);
  const rejected = await replayRefresh(attacker, stolen, dpopProof(key, 'POST', refreshUrl, await serverNow(request)));
  expect(rejected.status()).toBe(401);
  expect(await rejected.text()).not.toContain('access_token');
  await attacker.dispose();

  // The victim's tab is logged out at its next request (its access token died with the session).
  await page.getByRole('link', { name: 'Sessions' }).click();
  const relogin = page.getByRole('dialog', { name: 'Log in again to carry on' });
  await expect(relogin.getByTestId('login-notice')).toContainText('Your session has ended');
  await expect(relogin.getByTestId('login-notice')).toContainText('ended elsewhere (refresh token reuse). Log in again');

  // Logging in again: the revoked session is gone from the list.
  await relogin.getByLabel('Password').fill(PASSWORD);
  await relogin.getByRole('button', { name: 'Log in' }).click();
  await expect(relogin).toHaveCount(0);
  await page.getByRole('link', { name: 'Notes' }).click();
  await page.getByRole('link', { name: 'Sessions' }).click();
  await expect(page.getByTestId('session-row')).toHaveCount(1);
  // (The page's tokens are DPoP-bound: useless out here. A plain API login lists the sessions.)
  const login = await (await request.post('/api/auth/login', { data: { username, password: PASSWORD } })).json();
  const sessions = await (await request.get('/api/auth/sessions', {
    headers: { authorization: `Bearer ${login.access_token}` },
  })).json();
  expect(sessions.map((s: { id: string }) => s.id)).not.toContain(victimSession);
});

test('revoking another device logs it out at its next request', async ({ browser, request }) => {
  const username = await createUser(request, 'devices');
  const laptop = await browser.newContext();
  const phone = await browser.newContext();
  const a = await laptop.newPage();
  const b = await phone.newPage();
  await loginUI(a, username);
  await loginUI(b, username);

  await a.getByRole('link', { name: 'Sessions' }).click();
  await expect(a.getByTestId('session-row')).toHaveCount(2);
  await a.getByTestId('session-row').and(a.locator('[data-current="false"]')).getByRole('button', { name: 'End session' }).click();
  await expect(a.getByTestId('session-row')).toHaveCount(1);
  await expect(a.getByTestId('session-row')).toHaveAttribute('data-current', 'true');

  await b.getByLabel('Title').fill('written after revocation');
  await b.getByRole('button', { name: 'Add note' }).click();
  const relogin = b.getByRole('dialog', { name: 'Log in again to carry on' });
  await expect(relogin.getByTestId('login-notice')).toContainText('Your session has ended');
  // Nothing typed is lost (#27): the page stays behind the dialog, inert, with the title in it;
  // after logging in again the same account saves it.
  await expect(b).toHaveURL(/\/notes$/);
  await expect(b.locator('[inert]')).toHaveCount(1);
  await expect(b.locator('#note-title')).toHaveValue('written after revocation');
  await relogin.getByLabel('Password').fill('not the password at all');
  await relogin.getByRole('button', { name: 'Log in' }).click();
  await expect(relogin.getByRole('alert')).toHaveText('Wrong username or password.');
  await relogin.getByLabel('Password').fill(PASSWORD);
  await relogin.getByRole('button', { name: 'Log in' }).click();
  await expect(relogin).toHaveCount(0);
  await expect(b.locator('[inert]')).toHaveCount(0);
  await b.getByRole('button', { name: 'Add note' }).click();
  await expect(b.locator('.note-title', { hasText: 'written after revocation' })).toBeVisible();
  // The draft was never written to web storage on the way.
  expect(await b.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }))).not.toContain('written after revocation');
  await laptop.close();
  await phone.close();
});

test('a page kept for re-login is never handed to another account: a login as someone else in another tab rebuilds it', async ({ browser, request }) => {
  const owner = await createUser(request, 'ownerx');
  const other = await createUser(request, 'othery');
  const shared = await browser.newContext();
  const a = await shared.newPage();
  await loginUI(a, owner);
  await a.getByLabel('Title').fill("owner's saved note");
  await a.getByRole('button', { name: 'Add note' }).click();
  await expect(a.locator('.note-title', { hasText: "owner's saved note" })).toBeVisible();

  // The owner's session is ended from elsewhere (an API client of theirs ends it by id).
  const api = await (await request.post('/api/auth/login', { data: { username: owner, password: PASSWORD } })).json();
  const auth = { authorization: `Bearer ${api.access_token}` };
  const sessions: { id: string; current: boolean }[] = await (await request.get('/api/auth/sessions', { headers: auth })).json();
  const browserSession = sessions.find((s) => !s.current)!;
  expect((await request.delete(`/api/auth/sessions/${browserSession.id}`, { headers: auth })).status()).toBe(204);
  await a.getByLabel('Title').fill("owner's unsaved draft");
  await a.getByRole('button', { name: 'Add note' }).click();
  await expect(a.getByRole('dialog', { name: 'Log in again to carry on' })).toContainText(owner);

  // Someone else logs in in another tab of the same browser: the kept page hears it and takes
  // the shared cookie's session, but what it shows is built again for that account.
  const b = await shared.newPage();
  await loginUI(b, other);
  await expect(a.getByTestId('current-user')).toContainText(other);
  await expect(a.getByRole('dialog')).toHaveCount(0);
  await expect(a.locator('[inert]')).toHaveCount(0);
  await expect(a.getByTestId('notes-empty')).toBeVisible();
  await expect(a.getByText("owner's saved note")).toHaveCount(0);
  await expect(a.locator('#note-title')).toHaveValue('');
  await shared.close();
});

test('a request refused mid-flight is never retried as the account another tab logged in meanwhile', async ({ browser, request }) => {
  const owner = await createUser(request, 'holdera');
  const other = await createUser(request, 'holderb');
  const shared = await browser.newContext();
  const a = await shared.newPage();
  await loginUI(a, owner);
  // Every note tab A sends, in order. The owner's first is held on its way, as on a slow
  // network, and its token is refused when it arrives (as when it expired in flight).
  const sent: string[] = [];
  let release!: () => void;
  const released = new Promise<void>((ok) => (release = ok));
  await a.route('**/api/notes', async (route) => {
    if (route.request().method() !== 'POST') return route.continue();
    sent.push(route.request().postDataJSON().title);
    if (sent.length > 1) return route.continue();
    await released;
    await route.fulfill({
      status: 401,
      headers: { 'content-type': 'application/problem+json', 'www-authenticate': 'Bearer error="invalid_token"' },
      body: JSON.stringify({ type: '/api/problems/invalid-token', title: 'Invalid access token', status: 401, detail: 'expired' }),
    });
  });
  await a.getByLabel('Title').fill("the owner's private note");
  await a.getByRole('button', { name: 'Add note' }).click();
  await expect.poll(() => sent.length).toBe(1);

  // Meanwhile someone else logs in with this browser (the request shares its cookie jar, as
  // another tab would, without telling tab A): the refresh cookie is now theirs.
  const login = await shared.request.post('/api/auth/login', { data: { username: other, password: PASSWORD } });
  expect(login.status()).toBe(200);
  const refused = a.waitForResponse((r) => r.url().endsWith('/api/notes') && r.status() === 401);
  release();
  await refused;
  // Tab A refreshes after the 401 and gets the other account's token: its page is rebuilt for
  // that account (never handed over).
  await expect(a.getByTestId('current-user')).toContainText(other);

  // Then the other account adds a note in tab A. Had the refused request been retried with the
  // token tab A now holds, the owner's note would have gone before it, into the other account.
  await a.getByLabel('Title').fill('marker');
  await a.getByRole('button', { name: 'Add note' }).click();
  await expect(a.locator('.note-title', { hasText: 'marker' })).toBeVisible();
  expect(sent).toEqual(["the owner's private note", 'marker']);
  const api = await (await request.post('/api/auth/login', { data: { username: other, password: PASSWORD } })).json();
  const notes: { title: string }[] = await (await request.get('/api/notes', { headers: { authorization: `Bearer ${api.access_token}` } })).json();
  expect(notes.map((n) => n.title)).toEqual(['marker']);
  await shared.close();
});

test('a page on another site cannot get a token from the refresh endpoint', async ({ page, request }) => {
  const username = await createUser(request, 'csrf');
  await loginUI(page, username, { remember: true });
  const target = new URL(page.url()).origin;

  // The attacker's site: another origin and another site (localhost vs 127.0.0.1).
  const evil = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(`<!doctype html><pre id="out">running</pre><script>
      const out = [];
      const attempt = async (label, init) => {
        try {
          const r = await fetch('${target}/api/auth/refresh', { method: 'POST', credentials: 'include', ...init });
          out.push(label + ': status ' + r.status + ' ' + (await r.text()));
        } catch (e) { out.push(label + ': blocked ' + e.name); }
      };
      (async () => {
        await attempt('simple', {});
        await attempt('no-cors', { mode: 'no-cors' });
        await attempt('with-header', { headers: { 'X-Requested-With': 'cloakroom' } });
        document.getElementById('out').textContent = out.join('\\n');
      })();
    </script>`);
  });
  await new Promise<void>((ok) => evil.listen(0, 'localhost', ok));
  const evilUrl = `http://localhost:${(evil.address() as AddressInfo).port}/`;
  const evilPage = await page.context().newPage();
  await evilPage.goto(evilUrl);
  const out = evilPage.locator('#out');
  await expect(out).not.toHaveText('running');
  const text = await out.textContent();
  expect(text).not.toContain('access_token');
  expect(text).toContain('simple: blocked');
  expect(text).toContain('with-header: blocked');
  evil.close();

  // The victim is untouched: still logged in, cookie not rotated away from them.
  await page.reload();
  await expect(page.getByTestId('current-user')).toContainText(username);
});

test('an injected inline script does not run, the CSP violation is reported, note text stays text', async ({ page, request }) => {
  const username = await createUser(request, 'xss');
  await loginUI(page, username);
  const payload = `<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">`;
  await page.getByLabel('Title').fill('xss attempt');
  await page.getByRole('textbox', { name: 'Text' }).fill(payload);
  await page.getByRole('button', { name: 'Add note' }).click();
  const body = page.getByTestId('note').filter({ hasText: 'xss attempt' }).getByTestId('note-body');
  await expect(body).toHaveText(payload);
  expect(await page.evaluate(() => (window as any).__pwned)).toBeUndefined();

  // Now inject for real, the way an XSS bug would: an inline script element in the DOM.
  const report = page.waitForRequest((r) => r.url().endsWith('/api/csp-report') && r.method() === 'POST');
  const violation = await page.evaluate(
    () =>
      new Promise<string>((resolve) => {
        document.addEventListener('securitypolicyviolation', (e) => resolve(e.violatedDirective), { once: true });
        const s = document.createElement('script');
        s.textContent = 'window.__pwned = 3';
        document.body.append(s);
      }),
  );
  expect(violation).toMatch(/^script-src/);
  expect(await page.evaluate(() => (window as any).__pwned)).toBeUndefined();
  const sent = await report;
  expect(sent.postData()).toContain('script-src');
});

// Subresource Integrity: no hash in the page may be stale. The build rewrites the glue after
// Trunk hashed it (.ci/minify-js.mjs), so this is where a stale one would show; the page would
// still start (the loader's import and fetch do not check the preloads' hashes: security.md,
// "Other headers"), so nothing else would notice.
test('every integrity hash in the page is the hash of the file the server sends', async ({ request }) => {
  const html = await (await request.get('/')).text();
  const linked = [...html.matchAll(/<link\b[^>]*>/g)]
    .map((m) => m[0])
    .filter((tag) => tag.includes('integrity='))
    .map((tag) => ({
      href: /href="?([^" >]+)/.exec(tag)![1],
      integrity: /integrity="?([^" >]+)/.exec(tag)![1],
    }));
  // Not vacuous: the glue, the wasm and the stylesheet each carry one.
  expect(linked.map((l) => l.href.replace(/-[0-9a-f]+(_bg)?\./, '$1.')).sort()).toEqual(['/app.js', '/app_bg.wasm', '/main.css']);
  for (const { href, integrity } of linked) {
    const body = await (await request.get(href)).body();
    expect(integrity, href).toBe('sha384-' + createHash('sha384').update(body).digest('base64'));
  }
});
