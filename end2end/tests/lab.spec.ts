// The token inspector's attack lab: each step does, from inside the page, what an injected
// script would, and must say plainly what it got. It runs under the page's strict CSP (no eval),
// and each step links to the section of the threat model that explains it (docs.spec.ts).
import { expect, test } from './fixtures';
import { captureAccessTokens } from './helpers';

test('the attack lab runs all five steps under the CSP and reports what a script gets', async ({ page, username }) => {
  const tokens = captureAccessTokens(page);
  const violations: string[] = [];
  page.on('console', (m) => {
    if (/Content Security Policy|Refused to/i.test(m.text())) violations.push(m.text());
  });
  const { loginUI } = await import('./helpers');
  await loginUI(page, username);
  await page.getByRole('link', { name: 'Token inspector' }).click();
  const lab = page.getByTestId('attack-lab');
  const steps = lab.getByTestId('lab-step');
  await expect(steps).toHaveCount(5);
  const result = (i: number) => steps.nth(i).getByTestId('lab-result');

  await steps.nth(0).getByRole('button').click();
  await expect(result(0)).toContainText('Attacker got nothing.');
  await expect(result(0)).not.toContainText('Nothing.');
  await expect(result(0)).toContainText('no token anywhere a script can read');
  await expect(result(0)).toHaveClass(/ok/);
  await steps.nth(1).getByRole('button').click();
  await expect(result(1)).toContainText('HttpOnly');
  await expect(result(1)).not.toContainText('Nothing.');
  await expect(result(1)).toHaveClass(/ok/);

  // Step 3 finds the very token the server handed this tab, and says so.
  await steps.nth(2).getByRole('button').click();
  await expect(result(2)).toContainText('Found the access token');
  await expect(result(2)).toHaveClass(/bad/);
  // The lab shows the token's end, its signature (the start, the header, is alike in every
  // token): it must be the end of a token the server handed this tab.
  const text = (await result(2).textContent())!;
  const [, tail] = text.match(/…([\w-]{24})(?![\w-])/)!;
  await expect.poll(() => tokens.some((t) => t.endsWith(tail))).toBe(true);

  // Step 4 replays it without the key: refused both ways; the key is not exportable.
  await steps.nth(3).getByRole('button').click();
  await expect(result(3)).toContainText('As DPoP without a proof: 401. As Bearer: 401.');
  await expect(result(3)).toContainText('will not export');
  await expect(result(3)).toHaveClass(/ok/);

  // Step 5 gets a token of its own: it works, and the lab says why and what stops it.
  const before = tokens.length;
  await steps.nth(4).getByRole('button').click();
  await expect(result(4)).toContainText('It worked');
  await expect(result(4)).toContainText('CSP');
  await expect.poll(() => tokens.length).toBe(before + 1);

  // The app is none the worse: its next request (after the cookie rotated under it) works.
  await page.getByRole('link', { name: 'Notes' }).click();
  await page.getByLabel('Title').fill('after the lab');
  await page.getByRole('button', { name: 'Add note' }).click();
  await expect(page.getByTestId('note')).toHaveCount(1);
  await page.reload();
  await expect(page.getByTestId('current-user')).toContainText(username);
  expect(violations).toEqual([]);
});
