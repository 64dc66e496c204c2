// Silent refresh on the production lifetimes (300 s access tokens, 24 h idle, 7 d cap),
// checked exactly: the tests move the server's and the browser's clocks together
// (`advanceTime`, tests/fixtures.ts) instead of waiting.
import { ACCESS_TTL_SECS, REFRESH_IDLE_TTL_SECS, SESSION_MAX_TTL_SECS } from '../playwright.config';
import { createUser, loginUI } from './helpers';
import { expect, test } from './fixtures';

test('the proactive refresh fires at 80% of the lifetime, not before, and the next action just works', async ({ loggedIn: page, advanceTime }) => {
  await page.getByRole('link', { name: 'Token inspector' }).click();
  const timeline = page.getByTestId('timeline');
  await expect(timeline).toContainText('login');
  // The server's clock stands still between jumps, the browser's runs at real speed (the app's
  // own timers need it), so the client's side is checked to within the few seconds a step
  // takes; the server's boundaries (below, and in the idle and cap tests) are exact.
  const margin = 3;
  await advanceTime(ACCESS_TTL_SECS * 0.8 - margin);
  // The jump happened (the countdown shows what is left) and no refresh went out. A refresh the
  // jump had set off would hold the cross-tab refresh lock until its answer is recorded: taking
  // that lock here waits for it, so the check below comes after it, not before it could land.
  await expect(page.getByTestId('countdown')).toContainText(/Expires in 6\d s/);
  await page.evaluate(() => navigator.locks.request('cloakroom-refresh', () => {}));
  await expect(timeline).not.toContainText('proactive');
  await advanceTime(margin);
  await expect(timeline).toContainText('proactive, before expiry');
  await expect(page.getByTestId('countdown')).toContainText(`Expires in ${ACCESS_TTL_SECS} s`);

  await page.getByRole('link', { name: 'Notes' }).click();
  await page.getByLabel('Title').fill('after idling');
  await page.getByRole('button', { name: 'Add note' }).click();
  await expect(page.getByTestId('note').filter({ hasText: 'after idling' })).toBeVisible();
  await expect(page.getByTestId('notes-error')).toBeEmpty();
});

test('an expired token is refreshed after a 401 and the request retried, invisibly', async ({ loggedIn: page, advanceTime }) => {
  // A tab whose timer never got through (frozen background tab, sleeping laptop): the
  // proactive refreshes fail at the network level, so the in-memory token expires.
  let blockRefresh = true;
  await page.route('**/api/auth/refresh', (route) => (blockRefresh ? route.abort('failed') : route.continue()));
  await page.getByRole('link', { name: 'Token inspector' }).click();
  await advanceTime(ACCESS_TTL_SECS);
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

test('a session unused for the idle lifetime ends; a second less and it lives on', async ({ loggedIn: page, advanceTimeQuietly }) => {
  // The refresh on load is the session's use: a reload after each step.
  await advanceTimeQuietly(REFRESH_IDLE_TTL_SECS - 1);
  await page.reload();
  await expect(page.getByTestId('current-user')).toBeVisible();
  await expect(page).toHaveURL(/\/notes$/);
  // Counted from that refresh: exactly the idle lifetime later the refresh token is dead.
  await advanceTimeQuietly(REFRESH_IDLE_TTL_SECS);
  await page.reload();
  await expect(page).toHaveURL(/\/login/);
  // A cookie the server refused at load is news, unlike a first visit with no cookie at all.
  await expect(page.getByTestId('login-notice')).toContainText('Your session has ended');
});

test('a server error on a refresh keeps the tab logged in; on the refresh at load it says the server is unavailable', async ({ loggedIn: page, advanceTime }) => {
  await page.route('**/api/auth/refresh', (route) =>
    route.fulfill({ status: 503, contentType: 'application/problem+json', body: '{"title":"Service Unavailable","status":503}' }),
  );
  // The proactive refresh fails with the server's 503: the token in memory still has a fifth
  // of its life, so the tab carries on and says why in its timeline.
  await page.getByRole('link', { name: 'Token inspector' }).click();
  await advanceTime(ACCESS_TTL_SECS * 0.8);
  await expect(page.getByTestId('timeline')).toContainText('proactive, before expiry: server error 503');
  await expect(page.getByTestId('current-user')).toBeVisible();
  await expect(page).toHaveURL(/\/inspector$/);
  // A reload of a page that needs the session has nothing in memory: the login page says the
  // server is unavailable (and nothing about the session ending: it has not).
  await page.getByRole('link', { name: 'Notes' }).click();
  await expect(page.getByTestId('notes-empty')).toBeVisible();
  await page.reload();
  await expect(page.getByTestId('login-notice')).toHaveText('The server is unavailable (503). Try again shortly.');
  await expect(page.getByTestId('current-user')).toHaveCount(0);
});

test('rotation never extends a session past its absolute lifetime', async ({ loggedIn: page, advanceTimeQuietly }) => {
  // A day of use at a time (within the idle lifetime), up to one second before the cap: still
  // logged in. The refresh on each reload is the day's use, finished before the next step.
  const day = REFRESH_IDLE_TTL_SECS - 400;
  let moved = 0;
  while (moved + day < SESSION_MAX_TTL_SECS) {
    await advanceTimeQuietly(day);
    moved += day;
    await page.reload();
    await expect(page.getByTestId('current-user')).toBeVisible();
  }
  await advanceTimeQuietly(SESSION_MAX_TTL_SECS - 1 - moved);
  await page.reload();
  await expect(page.getByTestId('current-user')).toBeVisible();
  await expect(page).toHaveURL(/\/notes$/);
  // On the cap itself, the refresh on load is refused.
  await advanceTimeQuietly(1);
  await page.reload();
  await expect(page).toHaveURL(/\/login/);
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
  // The device in words, the full User-Agent on hover.
  const device = a.getByTestId('session-row').locator('td').first();
  await expect(device).toContainText(/^Chrome( \(headless\))? \d+ on Linux/);
  await expect(device).not.toContainText('Mozilla');
  await expect(device).toHaveAttribute('title', /^Mozilla\/5\.0 /);
  await b.getByLabel('Title').fill('from tab b');
  await b.getByRole('button', { name: 'Add note' }).click();
  await expect(b.getByTestId('note').filter({ hasText: 'from tab b' })).toBeVisible();
});

test('logging out in one tab drops the other tab to the login page without a reload', async ({ loggedIn: a, secondTab: b }) => {
  await b.goto('/sessions');
  await expect(b.getByTestId('session-row')).toHaveCount(1);
  let bReloaded = false;
  b.on('load', () => (bReloaded = true));

  await a.getByTestId('logout').click();
  await expect(a).toHaveURL(/\/login/);
  // A logout someone chose takes the other tab's page with it (no re-login dialog over it,
  // unlike a session that ended by itself): the login page, saying why.
  await expect(b).toHaveURL(/\/login\?next=%2Fsessions/);
  await expect(b.getByTestId('login-notice')).toContainText('logged out in another tab');
  await expect(b.getByTestId('session-row')).toHaveCount(0);
  await expect(b.getByRole('dialog')).toHaveCount(0);
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

// The cross-tab glue of `app/src/auth/tabs.rs`: each test below is what `make mutants-browser`
// found no test for (the lock, the visibility handler, the timer's cancel, two listener arms).

test('two tabs whose tokens fall due together refresh one at a time, under the Web Lock', async ({ loggedIn: a, secondTab: b, context, advanceTime }) => {
  await b.goto('/notes');
  await expect(b.getByTestId('current-user')).toBeVisible();
  // Every refresh answer is held until the test lets it go; counted while in flight.
  let inFlight = 0;
  let most = 0;
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  await context.route('**/api/auth/refresh', async (route) => {
    inFlight += 1;
    most = Math.max(most, inFlight);
    await held;
    inFlight -= 1;
    await route.fulfill({ response: await route.fetch() });
  });
  const waiting = () =>
    a.evaluate(async () => (await navigator.locks.query()).pending?.filter((l) => l.name === 'cloakroom-refresh').length ?? 0);
  // Both proactive timers fire in one jump. One tab's refresh goes out and is held; the other's
  // must wait for the lock rather than go out beside it (unserialized, the server's duplicate
  // handling would hide the overlap from every other test).
  await advanceTime(0.9 * ACCESS_TTL_SECS);
  await expect.poll(async () => inFlight >= 2 || (inFlight === 1 && (await waiting()) === 1)).toBe(true);
  expect(inFlight).toBe(1);
  release();
  for (const tab of [a, b]) {
    await tab.getByRole('link', { name: 'Token inspector' }).click();
    await expect(tab.getByTestId('timeline')).toContainText('proactive, before expiry');
    await expect(tab.getByTestId('current-user')).toBeVisible();
  }
  expect(most).toBe(1);
});

test('a tab coming back into view refreshes a token that fell due while it was hidden, and only then', async ({ loggedIn: page, advanceTimeQuietly }) => {
  await page.getByRole('link', { name: 'Token inspector' }).click();
  const timeline = page.getByTestId('timeline');
  await expect(timeline).toContainText('login');
  // Past the refresh point with no timer fired: a background tab's throttled timer.
  await advanceTimeQuietly(0.9 * ACCESS_TTL_SECS);
  const show = (state: 'hidden' | 'visible') =>
    page.evaluate((state) => {
      Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => state });
      document.dispatchEvent(new Event('visibilitychange'));
    }, state);
  await show('hidden');
  // A refresh set off would hold the lock until its answer is recorded: this waits for it.
  await page.evaluate(() => navigator.locks.request('cloakroom-refresh', () => {}));
  await expect(timeline).not.toContainText('tab became visible');
  await show('visible');
  await expect(timeline).toContainText('tab became visible');
  await expect(page.getByTestId('countdown')).toContainText(`Expires in ${ACCESS_TTL_SECS} s`);
});

test('a logout leaves no refresh timer behind: time passing after it sends no refresh', async ({ loggedIn: page, advanceTime }) => {
  // Counted where each request must pass before it can go out (the page's own resource
  // timings are the clock's fakes, always empty).
  let refreshes = 0;
  await page.route('**/api/auth/refresh', (route) => {
    refreshes += 1;
    return route.continue();
  });
  await page.getByTestId('logout').click();
  await expect(page).toHaveURL(/\/login/);
  const notice = await page.getByTestId('login-notice').textContent();
  // The logged-in token's timer would have fired in this jump; a refresh it set off would hold
  // the lock until its answer is recorded: taking the lock waits for that.
  await advanceTime(ACCESS_TTL_SECS);
  await page.evaluate(() => navigator.locks.request('cloakroom-refresh', () => {}));
  expect(refreshes).toBe(0);
  await expect(page.getByTestId('login-notice')).toHaveText(notice!);
});

test("another tab's refresh is noted here, and its refusal ends the session here at once", async ({ loggedIn: a, secondTab: b, advanceTime }) => {
  await b.goto('/inspector');
  await expect(b.getByTestId('timeline')).toContainText('silent, on page load');
  await a.reload();
  await expect(a.getByTestId('current-user')).toBeVisible();
  await expect(b.getByTestId('timeline')).toContainText('another tab refreshed its token');
  // Tab b's own refreshes never reach the server: it learns of the end only from tab a.
  await b.route('**/api/auth/refresh', (route) => route.abort('failed'));
  await b.getByRole('link', { name: 'Notes' }).click();
  await b.getByLabel('Title').fill('typed in tab b');
  await advanceTime(REFRESH_IDLE_TTL_SECS);
  await expect(a).toHaveURL(/\/notes$/);
  await expect(a.getByTestId('relogin')).toBeVisible();
  await expect(b.getByTestId('relogin')).toContainText('noticed in another tab');
  await expect(b.getByLabel('Title')).toHaveValue('typed in tab b');
});
