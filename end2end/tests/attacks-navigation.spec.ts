// An attacker's links and a flaky network: `?next=` can only ever lead to a page of this app,
// and a logout that did not happen is never reported as done.
import { expect, test } from '@playwright/test';
import { createUser, loginUI } from './helpers';

test('?next= that a URL parser would read as another host leads to the notes page', async ({ page, request }) => {
  const username = await createUser(request, 'next');
  await loginUI(page, username);
  // Logged in: the login page forwards at once. Backslash, tab and newline tricks included.
  // And paths that the browser reads as the login page itself (dot segments), where a
  // logged-in user would be left looking at the form.
  for (const evil of ['/%5Cevil.example', '/%09/evil.example', '/%0A/evil.example', '//evil.example', 'https://evil.example/', '/./login', '/%252e/login']) {
    await page.goto(`/login?next=${evil}`);
    await expect(page, evil).toHaveURL(/^http:\/\/127\.0\.0\.1:\d+\/notes$/);
    await expect(page.getByTestId('current-user')).toContainText(username);
  }
  // A real path of the app is still honoured.
  await page.goto('/login?next=%2Fsessions');
  await expect(page).toHaveURL(/\/sessions$/);
});

test('a failed logout says so, keeps the session, and can be retried', async ({ page, request }) => {
  const username = await createUser(request, 'logout');
  await loginUI(page, username);
  const logout = page.getByTestId('logout');

  for (const failure of ['503', '403', 'network'] as const) {
    await page.route('**/api/auth/logout', (route) =>
      failure === 'network'
        ? route.abort('connectionreset')
        : route.fulfill({ status: Number(failure), contentType: 'application/problem+json', body: '{"title":"nope","status":' + failure + '}' }),
    );
    await logout.click();
    await expect(page.getByTestId('logout-error')).toContainText('Logging out failed');
    await expect(page.getByTestId('logout-error')).toContainText('still logged in');
    // And which failure it was: nothing reached the server, or it answered and refused.
    await expect(page.getByTestId('logout-error')).toContainText(
      failure === 'network' ? 'the server could not be reached' : `the server answered ${failure}`,
    );
    await expect(page).toHaveURL(/\/notes$/);
    await expect(page.getByTestId('current-user')).toContainText(username);
    await page.unroute('**/api/auth/logout');
  }
  // The session really is still alive: the app can still use the API.
  await page.getByRole('link', { name: 'Sessions' }).click();
  await expect(page.getByTestId('session-row')).toHaveCount(1);

  // Retry with the network back: logged out for real.
  await expect(logout).toHaveText('Retry log out');
  await logout.click();
  await expect(page).toHaveURL(/\/login$/);
  await expect(page.getByTestId('login-notice')).toContainText('You have been logged out');
});
