// The admin role: granted only by the `cloakroom` CLI, shown only to admins, enforced by the
// server whatever the client shows.
import { expect, test } from '@playwright/test';
import { cliCreateAdmin, createUser, loginUI, PASSWORD } from './helpers';

test('an admin ends another user’s sessions; that user is logged out at their next request', async ({ browser, request }) => {
  const adminName = cliCreateAdmin();
  const userName = await createUser(request, 'managed');
  const adminCtx = await browser.newContext();
  const userCtx = await browser.newContext();
  const admin = await adminCtx.newPage();
  const user = await userCtx.newPage();
  await loginUI(admin, adminName);
  await loginUI(user, userName);

  await admin.getByRole('link', { name: 'Admin' }).click();
  const row = admin.getByTestId('admin-user-row').filter({ hasText: userName });
  await expect(row).toContainText('1');
  admin.once('dialog', (d) => d.accept());
  await row.getByRole('button', { name: 'End sessions' }).click();
  await expect(row.getByRole('button', { name: 'End sessions' })).toHaveCount(0);

  await user.getByRole('link', { name: 'Sessions' }).click();
  // The page stays, behind the dialog that logs the same account in again.
  const relogin = user.getByRole('dialog', { name: 'Log in again to carry on' });
  await expect(relogin.getByTestId('login-notice')).toContainText('Your session has ended');
  await expect(user).toHaveURL(/\/sessions$/);
  await adminCtx.close();
  await userCtx.close();
});

test('a non-admin sees no Admin link and the server refuses the admin API', async ({ page, request }) => {
  const username = await createUser(request, 'plain');
  await loginUI(page, username);
  await expect(page.getByRole('link', { name: 'Admin' })).toHaveCount(0);
  await page.goto('/admin');
  // A plain "no access" page: no server error text, no empty table.
  await expect(page.getByRole('heading', { name: 'No access' })).toBeVisible();
  await expect(page.getByTestId('no-access')).toContainText('does not have the admin role');
  await expect(page.locator('table')).toHaveCount(0);
  await expect(page.getByRole('alert')).toHaveCount(0);
  await expect(page).toHaveTitle('Admin · Cloakroom');
});

test('an admin sees who is locked out and since when they last logged in, unlocks them, and finds it in the event log', async ({ browser, request }) => {
  const adminName = cliCreateAdmin();
  const victim = await createUser(request, 'locked');
  // Someone spends the victim's guess budget from elsewhere.
  for (let i = 0; i < 5; i++) {
    expect((await request.post('/api/auth/login', { data: { username: victim, password: 'wrong guess, wrong' } })).status()).toBe(401);
  }
  expect((await request.post('/api/auth/login', { data: { username: victim, password: PASSWORD } })).status()).toBe(429);

  const ctx = await browser.newContext();
  const admin = await ctx.newPage();
  await loginUI(admin, adminName);
  await admin.getByRole('link', { name: 'Admin' }).click();
  await expect(admin).toHaveTitle('Admin · Cloakroom');
  const row = admin.getByTestId('admin-user-row').filter({ hasText: victim });
  const mine = admin.getByTestId('admin-user-row').filter({ hasText: adminName });
  await expect(mine.locator('td').nth(3).locator('time')).toHaveAttribute('title', /UTC$/);
  await expect(row.locator('td').nth(5).locator('time')).toHaveCount(1);
  // The admin's own row says what ending its sessions means.
  await expect(mine.getByRole('button', { name: 'End my sessions' })).toBeVisible();
  await row.getByRole('button', { name: 'Unlock' }).click();
  await expect(row.getByRole('button', { name: 'Unlock' })).toHaveCount(0);
  await expect(row.locator('td').nth(5)).toBeEmpty();
  expect((await request.post('/api/auth/login', { data: { username: victim, password: PASSWORD } })).status()).toBe(200);

  // The event log, filtered to the victim and the kind.
  const events = admin.getByTestId('admin-events');
  await admin.getByLabel('User', { exact: true }).selectOption({ label: victim });
  await admin.getByLabel('Kind').fill('account_unlocked');
  await admin.getByRole('button', { name: 'Show' }).click();
  await expect(events.getByTestId('admin-event-row')).toHaveCount(1);
  await expect(events.getByTestId('admin-event-row')).toContainText('admin_unlock');
  await expect(events.getByTestId('admin-event-row')).toContainText(victim);
  await admin.getByLabel('Kind').fill('refresh_token_reuse');
  await admin.getByRole('button', { name: 'Show' }).click();
  await expect(events.getByTestId('admin-event-row')).toHaveCount(0);
  await ctx.close();
});

test('at phone width, stacked table rows still say what each value is', async ({ page }) => {
  await page.setViewportSize({ width: 390, height: 900 });
  await loginUI(page, cliCreateAdmin());
  await page.getByRole('link', { name: 'Sessions' }).click();
  const cell = page.getByTestId('session-row').locator('td').nth(2);
  expect(await cell.evaluate((td) => getComputedStyle(td, '::before').content)).toBe('"Signed in: "');
  await expect(page.getByTestId('session-row').locator('td').first()).toContainText('Linux this device');
  await page.getByRole('link', { name: 'Admin' }).click();
  const live = page.getByTestId('admin-user-row').first().locator('td').nth(4);
  expect(await live.evaluate((td) => getComputedStyle(td, '::before').content)).toBe('"Live sessions: "');
  // Nothing runs past the screen's edge.
  expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
});
