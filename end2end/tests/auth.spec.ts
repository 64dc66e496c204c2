// Signing up, logging in, reloading, and the login form's error messages.
import { expect, test } from '@playwright/test';
import { PASSWORD, createUser, loginUI, uniqueName } from './helpers';

test('sign up, log in, create a note, see it listed', async ({ page }) => {
  const username = uniqueName('signup');
  await page.goto('/signup');
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await page.getByLabel('Repeat password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign up' }).click();
  await expect(page).toHaveURL(/\/notes$/);
  await expect(page.getByTestId('notes-empty')).toBeVisible();

  await page.getByTestId('logout').click();
  await expect(page).toHaveURL(/\/login/);
  await loginUI(page, username);

  await page.getByLabel('Title').fill('Cloakroom ticket');
  await page.getByRole('textbox', { name: 'Text' }).fill('Blue coat, hook 42');
  await page.getByRole('button', { name: 'Add note' }).click();
  const note = page.getByTestId('note').filter({ hasText: 'Cloakroom ticket' });
  await expect(note).toBeVisible();
  await expect(note.getByTestId('note-body')).toHaveText('Blue coat, hook 42');
  await expect(page.getByTestId('notes-error')).toBeEmpty();

  await page.screenshot({ path: test.info().outputPath('notes-page.png'), fullPage: true });
  await test.info().attach('notes-page', { path: test.info().outputPath('notes-page.png'), contentType: 'image/png' });
});

test('reload keeps the user logged in with exactly one silent refresh and no login page', async ({ page, request }) => {
  const username = await createUser(request, 'reload');
  await loginUI(page, username, { remember: true });

  // Watch from the very first byte of the reloaded document for the login form appearing.
  await page.addInitScript(() => {
    (window as any).__sawLogin = false;
    new MutationObserver(() => {
      if (document.getElementById('login-username')) (window as any).__sawLogin = true;
    }).observe(document, { childList: true, subtree: true });
  });
  const refreshes: string[] = [];
  page.on('request', (r) => {
    if (r.url().endsWith('/api/auth/refresh')) refreshes.push(r.url());
  });
  const visited: string[] = [];
  page.on('framenavigated', (f) => {
    if (f === page.mainFrame()) visited.push(new URL(f.url()).pathname);
  });

  await page.reload();
  await expect(page.getByTestId('current-user')).toContainText(username);
  await expect(page.getByTestId('notes-empty')).toBeVisible();
  expect(await page.evaluate(() => (window as any).__sawLogin)).toBe(false);
  expect(visited.filter((p) => p.startsWith('/login'))).toEqual([]);
  expect(refreshes).toHaveLength(1);
});

test('login form: generic error on a wrong password, retry-after message when throttled', async ({ page, request }) => {
  const username = await createUser(request, 'throttle');
  await page.goto('/login');
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill('not the right password');
  await page.getByRole('button', { name: 'Log in' }).click();
  const error = page.getByTestId('form-error');
  await expect(error).toHaveText('Wrong username or password.');

  // An unknown user gets exactly the same message.
  await page.getByLabel('Username').fill('nobody_by_this_name');
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect(error).toHaveText('Wrong username or password.');

  // Four more failures for the real user lock it (5 within 15 minutes).
  await page.getByLabel('Username').fill(username);
  for (let i = 0; i < 4; i++) {
    const answered = page.waitForResponse((r) => r.url().endsWith('/api/auth/login'));
    await page.getByRole('button', { name: 'Log in' }).click();
    expect((await answered).status()).toBe(401);
  }
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect(error).toHaveText(/^Too many attempts\. Try again in 15 minutes\.$/);
  await expect(page).toHaveURL(/\/login/);
});

test('a first visit lands on the login page with no notice: a missing refresh cookie is not news', async ({ page }) => {
  // The client tells this case from an ended session by the problem's type
  // (/api/problems/no-refresh-cookie), not by its wording.
  const refresh = page.waitForResponse((r) => r.url().endsWith('/api/auth/refresh'));
  await page.goto('/notes');
  const answer = await refresh;
  expect(answer.status()).toBe(401);
  expect((await answer.json()).type).toBe('/api/problems/no-refresh-cookie');
  // The guard redirects only once the refresh has been handled, so the notice (or its absence)
  // is settled by then.
  await expect(page).toHaveURL(/\/login\?next=%2Fnotes$/);
  await expect(page.getByLabel('Username')).toBeVisible();
  await expect(page.getByTestId('login-notice')).toHaveCount(0);
  await expect(page).toHaveTitle('Log in · Cloakroom');
  // Nor is it a failure in the inspector's timeline: it says "not logged in", not in red.
  await page.getByRole('link', { name: 'Token inspector' }).click();
  await expect(page.getByTestId('timeline')).toContainText('not logged in');
  await expect(page.getByTestId('timeline').locator('li.bad')).toHaveCount(0);
});

test('a logged-in user who opens the signup page goes on to the notes, as from the login page', async ({ page, request }) => {
  const username = await createUser(request, 'signedin');
  await loginUI(page, username);
  await page.goto('/signup');
  await expect(page).toHaveURL(/\/notes$/);
  await expect(page).toHaveTitle('Your notes · Cloakroom');
  await page.goto('/nowhere');
  await expect(page).toHaveTitle('Page not found · Cloakroom');
});

test('opened at localhost, the app moves to its public address, where signing up logs in', async ({ page }) => {
  // What many people type after `make run`: another name for the same server. Cookies, DPoP
  // proofs and the CSRF defence belong to the public origin, so the page must move there first.
  const port = process.env.E2E_PORT;
  await page.goto(`http://localhost:${port}/signup?from=typed`);
  await expect(page).toHaveURL(`http://127.0.0.1:${port}/signup?from=typed`);
  const username = uniqueName('localhost');
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await page.getByLabel('Repeat password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign up' }).click();
  await expect(page).toHaveURL(`http://127.0.0.1:${port}/notes`);
  await expect(page.getByTestId('current-user')).toContainText(username);
});

test('without an OpenID provider configured, the login page offers no provider button and says nothing of ?sso=', async ({ page }) => {
  // The page asks the server which provider it has; this server has none (404). Waiting for that
  // answer makes the missing button a fact, not a race.
  const asked = page.waitForResponse((r) => new URL(r.url()).pathname === '/api/auth/oidc');
  await page.goto('/login?sso=denied');
  expect((await asked).status()).toBe(404);
  await expect(page.getByRole('button', { name: 'Log in' })).toBeVisible();
  await expect(page.getByRole('link', { name: /Sign in with/ })).toHaveCount(0);
  await expect(page.getByTestId('login-notice')).toHaveCount(0);
});
