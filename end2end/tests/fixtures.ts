// Reusable fixtures for testing an app built on this pattern (copy them into your own suite):
//
//   test('…', async ({ loggedIn, secondTab, advanceTime, asInjectedScript }) => { … })
//
// - `username`   a fresh account, made through the real API.
// - `loggedIn`   a page logged in as `username` through the real login form.
// - `secondTab`  another tab of the same browser (same cookies, its own memory and key).
// - `advanceTime(secs)`  moves time forward for the server (its test-only clock control,
//   `POST /api/test/clock`) and for every page of the browser context (Playwright's clock),
//   together: token lifetimes, idle timeouts and the client's proactive refresh timer all see
//   the same jump, as after a laptop sleeps. Timers that fell due in the jump fire once.
// - `advanceTimeQuietly(secs)`  the same jump without firing the page's timers (then reload,
//   or act, to make the app notice): for steps that must not race a timer's request.
// - `asInjectedScript(page, fn)`  runs `fn` inside the page, as a script an attacker injected
//   would (it sees what page script sees, nothing more).
//
// The browser's clock is installed before anything loads, so every timer the app sets is
// under the test's control; it still runs at real speed between jumps.
import { expect, test as base, type Page } from '@playwright/test';
import { createUser, loginUI } from './helpers';

type Fixtures = {
  username: string;
  loggedIn: Page;
  secondTab: Page;
  advanceTime: (secs: number) => Promise<void>;
  advanceTimeQuietly: (secs: number) => Promise<void>;
  asInjectedScript: <T>(page: Page, fn: () => T | Promise<T>) => Promise<T>;
};

export const test = base.extend<Fixtures>({
  context: async ({ context }, use) => {
    await context.clock.install();
    // Playwright's clock numbers its timers from 1e12, but HTML's setTimeout returns a `long`
    // (32 bits) and wasm-bindgen reads it as an i32: the app got every id truncated, so each of
    // its clearTimeout calls missed and a cancelled timer fired anyway (the refresh timer of a
    // logged-out tab among them; found 2026-12-06 by `make mutants-browser`: cancelling it or
    // not made no difference to any test). Ids as a browser gives them: small, counted from 1.
    await context.addInitScript(() => {
      const w = window as unknown as Record<string, (...args: unknown[]) => unknown>;
      const real = new Map<number, unknown>();
      let next = 1;
      for (const [set, clear, once] of [['setTimeout', 'clearTimeout', true], ['setInterval', 'clearInterval', false]] as const) {
        const [fakeSet, fakeClear] = [w[set], w[clear]];
        w[set] = (handler: unknown, ...rest: unknown[]) => {
          const id = next++;
          const run =
            once && typeof handler === 'function'
              ? (...args: unknown[]) => {
                  real.delete(id);
                  return (handler as (...a: unknown[]) => unknown)(...args);
                }
              : handler;
          real.set(id, fakeSet(run, ...rest));
          return id;
        };
        w[clear] = (id: unknown) => {
          const inner = real.get(id as number);
          real.delete(id as number);
          return fakeClear(inner);
        };
      }
    });
    await use(context);
  },
  username: async ({ request }, use) => {
    await use(await createUser(request));
  },
  loggedIn: async ({ page, username }, use) => {
    await loginUI(page, username);
    await use(page);
  },
  secondTab: async ({ context }, use) => {
    const tab = await context.newPage();
    await use(tab);
    await tab.close();
  },
  advanceTime: async ({ context, request }, use) => {
    await use(async (secs: number) => {
      const res = await request.post('/api/test/clock', { data: { advance_secs: secs } });
      expect(res.status(), await res.text()).toBe(200);
      await context.clock.fastForward(secs * 1000);
    });
  },
  advanceTimeQuietly: async ({ context, page, request }, use) => {
    await use(async (secs: number) => {
      const res = await request.post('/api/test/clock', { data: { advance_secs: secs } });
      expect(res.status(), await res.text()).toBe(200);
      const browserNow = await page.evaluate(() => Date.now());
      await context.clock.setSystemTime(browserNow + secs * 1000);
    });
  },
  asInjectedScript: async ({}, use) => {
    await use((page, fn) => page.evaluate(fn));
  },
});

export { expect };
