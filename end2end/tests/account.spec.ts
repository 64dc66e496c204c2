// Account self-service through the UI: a new password ends the account's other sessions (another
// browser lands on the login page at its next request and its old password is dead), and a
// deleted account is gone.
import { expect, test } from '@playwright/test';
import { PASSWORD, createUser, loginUI } from './helpers';

const NEW_PASSWORD = 'an entirely new passphrase';

test('a new password logs the other browser out, and its old password no longer works', async ({ browser, request }) => {
  const username = await createUser(request, 'chpw');
  const a = await browser.newContext();
  const b = await browser.newContext();
  const pageA = await a.newPage();
  const pageB = await b.newPage();
  await loginUI(pageA, username);
  await loginUI(pageB, username);

  await pageA.getByRole('link', { name: 'Account' }).click();
  await expect(pageA).toHaveURL(/\/account$/);
  const form = pageA.getByTestId('change-password');
  await form.getByLabel('Current password').fill('not the password');
  await form.getByLabel('New password', { exact: true }).fill(NEW_PASSWORD);
  await form.getByLabel('Repeat new password').fill(NEW_PASSWORD);
  await form.getByRole('button', { name: 'Change password' }).click();
  await expect(pageA.getByTestId('change-error')).toHaveText('That is not your current password. Nothing was changed.');
  await form.getByLabel('Current password').fill(PASSWORD);
  await form.getByRole('button', { name: 'Change password' }).click();
  await expect(pageA.getByTestId('change-done')).toContainText('Password changed');
  await expect(pageA.getByTestId('change-error')).toBeEmpty();

  // A carries on: its next request works, and a reload keeps it logged in (its new cookie).
  await pageA.getByRole('link', { name: 'Notes' }).click();
  await expect(pageA.getByTestId('notes-empty')).toBeVisible();
  await pageA.reload();
  await expect(pageA.getByTestId('current-user')).toContainText(username);

  // B's next request: its session is over, and it lands on the login page.
  await pageB.getByRole('link', { name: 'Sessions' }).click();
  const relogin = pageB.getByRole('dialog', { name: 'Log in again to carry on' });
  await expect(relogin.getByText(/password changed/)).toBeVisible();
  await relogin.getByLabel('Password').fill(PASSWORD);
  await relogin.getByRole('button', { name: 'Log in' }).click();
  await expect(relogin.getByRole('alert')).toHaveText('Wrong username or password.');
  await relogin.getByLabel('Password').fill(NEW_PASSWORD);
  await relogin.getByRole('button', { name: 'Log in' }).click();
  // Still on the page it was on.
  await expect(relogin).toHaveCount(0);
  await expect(pageB).toHaveURL(/\/sessions$/);
  await expect(pageB.getByTestId('current-user')).toContainText(username);
  await a.close();
  await b.close();
});

test('a deleted account is gone: logged out, cookies cleared, its login refused', async ({ page, request }) => {
  const username = await createUser(request, 'delete');
  await loginUI(page, username);
  // Another tab of the same browser, on the notes page.
  const other = await page.context().newPage();
  await other.goto('/notes');
  await expect(other.getByTestId('current-user')).toContainText(username);
  await page.goto('/account');
  const form = page.getByTestId('delete-account');
  await form.getByLabel('Password').fill(PASSWORD);
  await form.getByRole('button', { name: 'Delete my account' }).click();
  await expect(page.getByTestId('delete-error')).toContainText('Tick the box');
  await form.getByLabel(/I understand/).check();
  await form.getByRole('button', { name: 'Delete my account' }).click();
  await expect(page).toHaveURL(/\/login/);
  await expect(page.getByText('Your account and its notes have been deleted.')).toBeVisible();
  // The other tab goes to the login page too, without a dialog asking for the password of an
  // account that no longer exists.
  await expect(other).toHaveURL(/\/login/);
  await expect(other.getByRole('dialog')).toHaveCount(0);
  const cookies = await page.context().cookies();
  expect(cookies.filter((c) => c.name.startsWith('__Host-cloakroom'))).toEqual([]);
  const res = await request.post('/api/auth/login', { data: { username, password: PASSWORD } });
  expect(res.status()).toBe(401);
});
