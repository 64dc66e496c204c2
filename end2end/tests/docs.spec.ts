// The threat model and the API reference as pages people read: docs/*.md rendered by the server
// at /docs/…, in the app's look, with no script and under the same strict CSP; the attack lab's
// "why?" links land on their sections; the picture of where each credential lives has a name.
import type { Page } from '@playwright/test';
import { expect, test } from './fixtures';

/** CSP violations the browser reports on a page (it logs each one to the console). */
function cspViolations(page: Page): string[] {
  const seen: string[] = [];
  page.on('console', (m) => {
    if (/Content Security Policy|Refused to/i.test(m.text())) seen.push(m.text());
  });
  return seen;
}

test('each lab "why?" link opens the rendered threat model at its step, in view', async ({ page, context }) => {
  await page.goto('/inspector');
  const links = page.getByTestId('lab-step').getByRole('link', { name: 'why?' });
  await expect(links).toHaveCount(5);
  for (let i = 1; i <= 5; i++) {
    const [doc] = await Promise.all([context.waitForEvent('page'), links.nth(i - 1).click()]);
    const violations = cspViolations(doc);
    await expect(doc).toHaveURL(new RegExp(`/docs/security#lab-step-${i}$`));
    const heading = doc.getByRole('heading', { name: `Lab step ${i}`, exact: true });
    await expect(heading).toBeInViewport();
    await expect(heading).toHaveAttribute('id', `lab-step-${i}`);
    expect(violations).toEqual([]);
    await doc.close();
  }
});

for (const { path, heading } of [
  { path: '/docs/security', heading: 'Cloakroom threat model' },
  { path: '/docs/api', heading: 'Cloakroom HTTP API' },
]) {
  test(`${path} is the markdown rendered as a page: headings, tables and code, no script, no CSP violation`, async ({ page }) => {
    const violations = cspViolations(page);
    const res = await page.goto(path);
    expect(res!.headers()['content-type']).toBe('text/html; charset=utf-8');
    expect(res!.headers()['content-security-policy']).toContain("script-src 'self'");
    await expect(page.getByRole('heading', { level: 1, name: heading })).toBeVisible();
    await expect(page).toHaveTitle(/· Cloakroom$/);
    // Rendered, not shown as written: tables are tables, `code` is code, no markdown syntax.
    await expect(page.locator('main table').first()).toBeVisible();
    await expect(page.locator('main code').first()).toBeVisible();
    expect(await page.locator('main').innerText()).not.toMatch(/^#+ |\*\*|\|---/m);
    // The app's stylesheet (its content-hashed name, read from the built index.html) applies.
    const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    expect(bg).toBe('rgb(246, 247, 251)');
    await expect(page.locator('script')).toHaveCount(0);
    // Every link between the pages goes to a page that exists.
    for (const href of await page.locator('main a[href^="/docs/"]').evaluateAll((as) => as.map((a) => a.getAttribute('href')!))) {
      expect((await page.request.get(href.split('#')[0])).status(), href).toBe(200);
    }
    expect(violations).toEqual([]);
  });
}

test('the picture of where each credential lives has a name, on the security page and in the inspector', async ({ page }) => {
  for (const path of ['/docs/security', '/inspector']) {
    await page.goto(path);
    const picture = page.getByRole('img', { name: /Where each credential lives and how it moves/ });
    await expect(picture).toBeVisible();
    // Loaded, not a broken image.
    expect(await picture.evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth > 0)).toBe(true);
  }
  const svg = await page.request.get('/docs/credentials.svg');
  expect(svg.headers()['content-type']).toBe('image/svg+xml');
  const text = await svg.text();
  expect(text).toContain('<title id="t">Where each credential lives and how it moves</title>');
  expect(text).not.toContain('<script');
});

test('the old /security.md address leads to the page, and the top bar links it', async ({ page }) => {
  await page.goto('/security.md#lab-step-2');
  await expect(page).toHaveURL(/\/docs\/security#lab-step-2$/);
  await page.goto('/inspector');
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Security model' }).click();
  await expect(page).toHaveURL(/\/docs\/security$/);
  await expect(page.getByRole('heading', { level: 1, name: 'Cloakroom threat model' })).toBeVisible();
  // From the page back to the app.
  await page.getByRole('link', { name: 'Token inspector' }).click();
  await expect(page.getByRole('heading', { name: 'Token inspector' })).toBeVisible();
});

test('the docs pages follow the system theme: there is no script to set one', async ({ page }) => {
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.goto('/docs/api');
  expect(await page.evaluate(() => getComputedStyle(document.body).backgroundColor)).toBe('rgb(18, 19, 26)');
});
