// Moving around the app: links are client-side navigations (the access token lives in this
// page's memory, so a real page load would cost a refresh), history behaves as in any site,
// and a login goes on to where the user was going.
import { expect, test } from '@playwright/test';
import { createUser, loginUI, PASSWORD } from './helpers';

test('the login form goes on to the page the user was sent away from', async ({ page, request }) => {
  const username = await createUser(request, 'nextform');
  // A page before, so Back has somewhere to go that is neither the form nor about:blank.
  await page.goto('/inspector');
  await expect(page.getByRole('heading', { name: 'Token inspector' })).toBeVisible();
  await page.goto('/sessions');
  await expect(page).toHaveURL(/\/login\?next=%2Fsessions$/);
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect(page).toHaveURL(/\/sessions$/);
  await expect(page.getByRole('heading', { name: 'Sessions' })).toBeVisible();
  // The login page was replaced, not stacked: Back goes to the page before it, exactly (were it
  // stacked, Back would land on the form, which forwards to /sessions).
  await page.goBack();
  await expect(page).toHaveURL(new URL('/inspector', page.url()).href);
  await expect(page.getByRole('heading', { name: 'Token inspector' })).toBeVisible();
});

test('links move within the page, the same link twice is one step, and Back and Forward follow', async ({ page, request }) => {
  const username = await createUser(request, 'links');
  await loginUI(page, username);
  // A marker on the window: a real page load would lose it (and the in-memory token with it).
  await page.evaluate(() => ((window as any).stillThisPage = true));
  const nav = page.getByRole('navigation', { name: 'Main' });

  await nav.getByRole('link', { name: 'Sessions' }).click();
  await expect(page).toHaveURL(/\/sessions$/);
  // Focus goes to the new content, as after a page load, not stays on the link.
  await expect(page.locator('main')).toBeFocused();
  await expect(nav.getByRole('link', { name: 'Sessions' })).toHaveAttribute('aria-current', 'page');
  await expect(nav.getByRole('link', { name: 'Notes' })).not.toHaveAttribute('aria-current', 'page');
  await nav.getByRole('link', { name: 'Token inspector' }).click();
  await nav.getByRole('link', { name: 'Token inspector' }).click();
  await nav.getByRole('link', { name: 'Token inspector' }).click();
  await expect(page).toHaveURL(/\/inspector$/);

  await page.goBack();
  await expect(page).toHaveURL(/\/sessions$/);
  await expect(page.getByRole('heading', { name: 'Sessions' })).toBeVisible();
  await page.goBack();
  await expect(page).toHaveURL(/\/notes$/);
  await page.goForward();
  await expect(page).toHaveURL(/\/sessions$/);
  expect(await page.evaluate(() => (window as any).stillThisPage)).toBe(true);

  // A modified click is the browser's (a new tab), not the router's.
  const opened = page.context().waitForEvent('page');
  await nav.getByRole('link', { name: 'Notes' }).click({ modifiers: ['ControlOrMeta'] });
  const tab = await opened;
  await expect(tab).toHaveURL(/\/notes$/);
  await expect(page).toHaveURL(/\/sessions$/);

  // An address the app has no page for says so, and links back.
  await page.goto('/nowhere');
  await expect(page.getByRole('heading', { name: 'Page not found' })).toBeVisible();
});

test('the way back keeps the query, Back moves focus to the new content, and _self or shadow-DOM links stay in the page', async ({ page, request }) => {
  const username = await createUser(request, 'waybk');
  // Sent to the login page from an address with a query: the query comes back after login.
  await page.goto('/sessions?view=all');
  await expect(page).toHaveURL(/\/login\?next=%2Fsessions%3Fview%3Dall$/);
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect(page).toHaveURL(/\/sessions\?view=all$/);
  await expect(page.getByRole('heading', { name: 'Sessions' })).toBeVisible();
  await page.evaluate(() => ((window as any).stillThisPage = true));

  const nav = page.getByRole('navigation', { name: 'Main' });
  await nav.getByRole('link', { name: 'Notes' }).click();
  await expect(page).toHaveURL(/\/notes$/);
  // Focus elsewhere, then Back: it moves to the new content, as after a link.
  await nav.getByRole('link', { name: 'Token inspector' }).focus();
  await page.goBack();
  await expect(page).toHaveURL(/\/sessions\?view=all$/);
  await expect(page.locator('main')).toBeFocused();

  // A link that names this browsing context, and one inside a shadow root (its click is
  // retargeted to the host; the router reads the composed path).
  await page.evaluate(() => {
    const self = document.createElement('a');
    self.href = '/inspector';
    self.target = '_self';
    self.textContent = 'self link';
    const host = document.createElement('span');
    const inner = document.createElement('a');
    inner.href = '/notes';
    inner.textContent = 'shadow link';
    host.attachShadow({ mode: 'open' }).append(inner);
    document.querySelector('main')!.prepend(self, host);
  });
  await page.getByRole('link', { name: 'self link' }).click();
  await expect(page).toHaveURL(/\/inspector$/);
  await expect(page.getByRole('heading', { name: 'Token inspector' })).toBeVisible();
  await page.getByRole('link', { name: 'shadow link' }).click();
  await expect(page).toHaveURL(/\/notes$/);
  await expect(page.getByRole('heading', { name: 'Your notes' })).toBeVisible();
  // Neither was a page load.
  expect(await page.evaluate(() => (window as any).stillThisPage)).toBe(true);
});
