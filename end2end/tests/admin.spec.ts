// The admin role: granted only by the `cloakroom` CLI, shown only to admins, enforced by the
// server whatever the client shows.
import { expect, test } from '@playwright/test';
import { cliCreateAdmin, createUser, loginUI } from './helpers';

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
  await expect(user).toHaveURL(/\/login/);
  await expect(user.getByTestId('login-notice')).toContainText('Your session has ended');
  await adminCtx.close();
  await userCtx.close();
});

test('a non-admin sees no Admin link and the server refuses the admin API', async ({ page, request }) => {
  const username = await createUser(request, 'plain');
  await loginUI(page, username);
  await expect(page.getByRole('link', { name: 'Admin' })).toHaveCount(0);
  await page.goto('/admin');
  await expect(page.getByText('This page is for administrators.')).toBeVisible();
  await expect(page.getByRole('alert').filter({ hasText: 'admin role' })).toBeVisible();
  await expect(page.getByTestId('admin-user-row')).toHaveCount(0);
});
