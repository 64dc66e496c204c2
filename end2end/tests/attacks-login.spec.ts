// Locking the owner out: an attacker who spends an account's guess budget from elsewhere must
// not keep the owner out of the browser they have logged in from before (device cookies).
import { expect, test } from './fixtures';
import { PASSWORD } from './helpers';

const DEVICE_COOKIE = '__Host-cloakroom_device';

test('an attacker spending the guess budget cannot lock the owner out of their own browser', async ({ loggedIn: page, username, context, browser, playwright, asInjectedScript }) => {
  // The browser now holds a device cookie for the account: HttpOnly, so no script can read it.
  const device = (await context.cookies()).find((c) => c.name === DEVICE_COOKIE);
  expect(device, 'a successful login sets the device cookie').toBeTruthy();
  expect(device!.httpOnly).toBe(true);
  expect(device!.secure).toBe(true);
  expect(device!.sameSite).toBe('Strict');
  expect(await asInjectedScript(page, () => document.cookie)).not.toContain('cloakroom_device');

  // The owner logs out; the device cookie survives the logout (it is no credential).
  await page.getByRole('button', { name: 'Log out' }).click();
  await expect(page).toHaveURL(/\/login/);
  expect((await context.cookies()).some((c) => c.name === DEVICE_COOKIE)).toBe(true);

  // Elsewhere, the attacker spends the account's budget: 5 wrong guesses, then 429.
  const attacker = await playwright.request.newContext({ baseURL: test.info().project.use.baseURL });
  for (let i = 0; i < 6; i++) {
    const r = await attacker.post('/api/auth/login', { data: { username, password: `attacker guess ${i}!` } });
    expect(r.status(), `guess ${i}`).toBe(i < 5 ? 401 : 429);
  }
  await attacker.dispose();

  // A browser that never logged in to this account is locked out, even with the password…
  const stranger = await browser.newContext();
  const other = await stranger.newPage();
  await other.goto('/login');
  await other.getByLabel('Username').fill(username);
  await other.getByLabel('Password').fill(PASSWORD);
  await other.getByRole('button', { name: 'Log in' }).click();
  await expect(other.getByTestId('form-error')).toHaveText(/^Too many attempts\. Try again in 15 minutes\.$/);
  await stranger.close();

  // …while the owner's own browser logs straight in.
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect(page).toHaveURL(/\/notes$/);
  await expect(page.getByTestId('current-user')).toContainText(username);
});
