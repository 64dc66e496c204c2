// Accessibility: axe-core's WCAG 2.1 A/AA rules on every page, logged out and logged in, at a
// desktop and a phone width, in the light and the dark theme (the system's setting, which the
// app follows when no theme was chosen). A serious or critical violation fails the test.
//
// axe is injected through Playwright (DevTools evaluation, which the page's CSP does not
// govern), never by loosening the app's policy: the strict CSP stays on for everything else.
import { createRequire } from 'node:module';
import type { Page } from '@playwright/test';
import { cliCreateAdmin, loginUI } from './helpers';
import { expect, test } from './fixtures';

const axeSource: string = require('node:fs').readFileSync(createRequire(__filename).resolve('axe-core/axe.min.js'), 'utf8');

type Violation = { id: string; impact: string | null; help: string; nodes: { target: string[] }[] };

async function seriousViolations(page: Page): Promise<Violation[]> {
  await page.evaluate(axeSource);
  const violations: Violation[] = await page.evaluate(async () => {
    // @ts-expect-error: injected above
    const result = await window.axe.run(document, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] },
    });
    return result.violations.map((v: Violation) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.map((n) => ({ target: n.target })),
    }));
  });
  return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

const WIDTHS = [1280, 390];
const LOGGED_OUT = [
  { path: '/login', ready: 'Log in' },
  { path: '/signup', ready: 'Create an account' },
  { path: '/inspector', ready: 'Token inspector' },
];
const LOGGED_IN = [
  { path: '/notes', ready: 'Notes' },
  { path: '/sessions', ready: 'Sessions' },
  { path: '/account', ready: 'Account' },
  { path: '/inspector', ready: 'Token inspector' },
  { path: '/admin', ready: 'Admin' },
];

for (const scheme of ['light', 'dark'] as const) for (const width of WIDTHS) {
  test(`no serious accessibility violation on any page, logged out, at ${width} px, ${scheme}`, async ({ page }) => {
    await page.emulateMedia({ colorScheme: scheme });
    await page.setViewportSize({ width, height: 900 });
    for (const { path, ready } of LOGGED_OUT) {
      await page.goto(path);
      await expect(page.getByRole('heading', { name: ready, exact: true }).first()).toBeVisible();
      await expect(page.locator('html')).toHaveAttribute('data-theme', scheme);
      expect(await seriousViolations(page), `${path} at ${width} px, ${scheme}`).toEqual([]);
    }
  });

  test(`no serious accessibility violation on any page, logged in, at ${width} px, ${scheme}`, async ({ page }) => {
    await page.emulateMedia({ colorScheme: scheme });
    await page.setViewportSize({ width, height: 900 });
    // An admin, so the admin page shows its table too.
    await loginUI(page, cliCreateAdmin());
    // Content on every page, so the checks see filled lists, not only empty states.
    await page.getByLabel('Title').fill('A note for the accessibility check');
    await page.getByRole('button', { name: 'Add note' }).click();
    await expect(page.getByTestId('note')).toHaveCount(1);
    for (const { path, ready } of LOGGED_IN) {
      // In-app navigation (a reload would work too: the refresh cookie brings the session back).
      await page.locator(`a[href="${path}"]`).first().click();
      await expect(page).toHaveURL(new RegExp(`${path}$`));
      await expect(page.getByRole('heading', { name: ready }).first()).toBeVisible();
      await expect(page.locator('html')).toHaveAttribute('data-theme', scheme);
      expect(await seriousViolations(page), `${path} at ${width} px, ${scheme}`).toEqual([]);
    }
  });
}

// The /docs pages (no script: the system's theme applies directly).
for (const scheme of ['light', 'dark'] as const) for (const width of WIDTHS) {
  test(`no serious accessibility violation on the docs pages at ${width} px, ${scheme}`, async ({ page }) => {
    await page.emulateMedia({ colorScheme: scheme });
    await page.setViewportSize({ width, height: 900 });
    for (const path of ['/docs/security', '/docs/api']) {
      await page.goto(path);
      await expect(page.getByRole('heading', { level: 1 })).toBeVisible();
      expect(await seriousViolations(page), `${path} at ${width} px, ${scheme}`).toEqual([]);
    }
  });
}
