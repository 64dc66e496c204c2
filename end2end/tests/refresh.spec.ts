// Silent refresh: before expiry, after a 401, across tabs, and logout propagation.
// The server runs with 5-second access tokens, so expiry happens within a test.
import { expect, test } from '@playwright/test';
import { createUser, loginUI } from './helpers';

test('an idle tab refreshes before expiry and the next action just works', async ({ page, request }) => {
  const username = await createUser(request, 'idle');
  await loginUI(page, username);
  await page.getByRole('link', { name: 'Token inspector' }).click();
  // 80% of a 5 s token: the proactive refresh lands on its own.
  await expect(page.getByTestId('timeline')).toContainText('proactive, before expiry');

  await page.getByRole('link', { name: 'Notes' }).click();
  await page.getByLabel('Title').fill('after idling');
  await page.getByRole('button', { name: 'Add note' }).click();
  await expect(page.getByTestId('note').filter({ hasText: 'after idling' })).toBeVisible();
  await expect(page.getByTestId('notes-error')).toBeEmpty();
});

test('an expired token is refreshed after a 401 and the request retried, invisibly', async ({ page, request }) => {
  const username = await createUser(request, 'expired');
  await loginUI(page, username);
  // Simulate a tab whose timer never fired (frozen background tab, sleeping laptop): the
  // proactive refreshes fail at the network level, so the in-memory token expires.
  let blockRefresh = true;
  await page.route('**/api/auth/refresh', (route) => (blockRefresh ? route.abort('failed') : route.continue()));
  await page.getByRole('link', { name: 'Token inspector' }).click();
  await expect(page.getByTestId('countdown')).toContainText('Expires in 0 s');
  blockRefresh = false;

  const statuses: number[] = [];
  page.on('response', (r) => {
    if (r.url().endsWith('/api/notes')) statuses.push(r.status());
  });
  await page.getByRole('link', { name: 'Notes' }).click();
  await expect(page.getByTestId('notes-empty')).toBeVisible();
  expect(statuses).toEqual([401, 200]);
  await expect(page.getByTestId('notes-error')).toBeEmpty();
  await page.getByRole('link', { name: 'Token inspector' }).click();
  await expect(page.getByTestId('timeline')).toContainText('after a 401');
});

test('two tabs refreshing at the same moment never log the user out', async ({ context, request }) => {
  const username = await createUser(request, 'twotabs');
  const a = await context.newPage();
  const b = await context.newPage();
  await loginUI(a, username);
  await b.goto('/notes');
  await expect(b.getByTestId('current-user')).toContainText(username);

  for (let round = 0; round < 5; round++) {
    // Both tabs start a silent refresh together (a reload refreshes on load).
    await Promise.all([a.reload(), b.reload()]);
    await expect(a.getByTestId('current-user')).toContainText(username);
    await expect(b.getByTestId('current-user')).toContainText(username);
  }
  // Still one live session, and both tabs can use it.
  await a.getByRole('link', { name: 'Sessions' }).click();
  await expect(a.getByTestId('session-row')).toHaveCount(1);
  await b.getByLabel('Title').fill('from tab b');
  await b.getByRole('button', { name: 'Add note' }).click();
  await expect(b.getByTestId('note').filter({ hasText: 'from tab b' })).toBeVisible();
});

test('logging out in one tab drops the other tab to the login page without a reload', async ({ context, request }) => {
  const username = await createUser(request, 'logout');
  const a = await context.newPage();
  const b = await context.newPage();
  await loginUI(a, username);
  await b.goto('/sessions');
  await expect(b.getByTestId('session-row')).toHaveCount(1);
  let bReloaded = false;
  b.on('load', () => (bReloaded = true));

  await a.getByTestId('logout').click();
  await expect(a).toHaveURL(/\/login/);
  await expect(b).toHaveURL(/\/login\?next=%2Fsessions/);
  await expect(b.getByTestId('login-notice')).toContainText('logged out in another tab');
  expect(bReloaded).toBe(false);
});

test('logging in in one tab logs the other tab in too, without a reload', async ({ context, request }) => {
  const username = await createUser(request, 'loginsync');
  const a = await context.newPage();
  const b = await context.newPage();
  await b.goto('/sessions');
  await expect(b).toHaveURL(/\/login\?next=%2Fsessions/);
  let bReloaded = false;
  b.on('load', () => (bReloaded = true));

  await loginUI(a, username);
  // Tab b hears "login" on the BroadcastChannel, refreshes with the shared cookie, and goes on
  // to where it was heading.
  await expect(b).toHaveURL(/\/sessions$/);
  await expect(b.getByTestId('current-user')).toContainText(username);
  await expect(b.getByTestId('session-row')).toHaveCount(1);
  expect(bReloaded).toBe(false);
});
