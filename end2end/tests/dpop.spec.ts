// The access token is sender-constrained (DPoP, RFC 9449): bound to a WebCrypto key the page
// can use but not export. Played as the attacker: an injected script scans the wasm memory,
// finds the token, takes it away, and replays it — and a captured proof — from outside.
import type { Page, Request } from '@playwright/test';
import { expect, test } from './fixtures';
import { attackerKey, dpopProof, serverNow } from './helpers';

function claims(jwt: string) {
  return JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString());
}

/** Every API request the page sends, with its headers. */
function apiRequests(page: Page): Request[] {
  const seen: Request[] = [];
  page.on('request', (r) => {
    if (new URL(r.url()).pathname.startsWith('/api/')) seen.push(r);
  });
  return seen;
}

test('a token lifted out of wasm memory, and a captured proof, are useless outside the page', async ({ loggedIn: page, asInjectedScript, request }) => {
  const sent = apiRequests(page);
  await page.getByLabel('Title').fill('before the attack');
  await page.getByRole('button', { name: 'Add note' }).click();
  await expect(page.getByTestId('note')).toHaveCount(1);

  // The injected script: the wasm-bindgen glue is reachable from the page, its initSync()
  // hands back the live exports, and the memory holds the access token in plain text.
  const found: string[] = await asInjectedScript(page, () => {
    const exports = (window as any).wasmBindings.initSync();
    const text = new TextDecoder('latin1').decode(new Uint8Array(exports.memory.buffer));
    // An EdDSA or ES256 signature is 86 characters: the heap block's slack after the token can
    // still hold older base64, so the pattern stops there.
    return [...new Set(text.match(/eyJ[\w-]+\.eyJ[\w-]+\.[\w-]{86}/g) ?? [])];
  });
  // The token the page is using right now (its last request said so). Memory also holds stale
  // copies, some partly overwritten, so the scan is checked for this exact one.
  const captured = sent.find((r) => r.method() === 'POST' && r.url().endsWith('/api/notes'))!;
  const headers = await captured.allHeaders();
  expect(headers.authorization).toMatch(/^DPoP /);
  const live = headers.authorization.slice('DPoP '.length);
  const stolen = found.find((t) => t === live);
  expect(stolen, 'the memory scan finds the access token: in-memory storage does not hide it').toBeTruthy();
  expect(claims(stolen!).cnf?.jkt).toBeTruthy();

  // Taken elsewhere (Playwright's request context: no page, no key).
  const me = (authorization: string, dpop?: string) =>
    request.get('/api/me', { headers: dpop ? { authorization, dpop } : { authorization } });
  const bearer = await me(`Bearer ${stolen}`);
  expect(bearer.status()).toBe(401);
  expect((await bearer.json()).detail).toContain('DPoP-bound');
  const proofless = await me(`DPoP ${stolen}`);
  expect(proofless.status()).toBe(401);
  expect(proofless.headers()['www-authenticate']).toContain('invalid_dpop_proof');
  // A proof by a key of the attacker's own does not match the token's `cnf.jkt`.
  const url = `${test.info().project.use.baseURL}/api/me`;
  const own = await me(`DPoP ${stolen}`, dpopProof(attackerKey(), 'GET', url, await serverNow(request), stolen));
  expect(own.status()).toBe(401);

  // A proof captured on the way (with its token), replayed as it was: its jti is spent, and it
  // names one method and URL only.
  const replay = await request.post('/api/notes', {
    headers: { authorization: headers.authorization, dpop: headers.dpop },
    data: { title: 'written by the attacker', body: '' },
  });
  expect(replay.status()).toBe(401);
  expect(replay.headers()['www-authenticate']).toContain('invalid_dpop_proof');
  const elsewhere = await request.get('/api/notes', { headers: { authorization: headers.authorization, dpop: headers.dpop } });
  expect(elsewhere.status()).toBe(401);

  // Meanwhile the page itself works on, and nothing was written by the replays.
  await page.getByLabel('Title').fill('after the attack');
  await page.getByRole('button', { name: 'Add note' }).click();
  await expect(page.getByTestId('note')).toHaveCount(2);
  await expect(page.getByText('written by the attacker')).toHaveCount(0);
});

test('every request carries a fresh proof of its own tab\'s key, across reload and a second tab', async ({ loggedIn: page, secondTab, username }) => {
  const first = apiRequests(page);
  await page.reload();
  await expect(page.getByTestId('current-user')).toContainText(username);
  const second = apiRequests(secondTab);
  await secondTab.goto('/notes');
  await expect(secondTab.getByTestId('current-user')).toContainText(username);

  const keysOf = async (reqs: Request[]) => {
    const jkts = new Set<string>();
    const jtis = new Set<string>();
    for (const r of reqs) {
      const h = await r.allHeaders();
      // Signup has nothing to prove; everything else carries exactly one proof.
      expect(h.dpop, `${r.method()} ${r.url()} carries a proof`).toBeTruthy();
      const proof = h.dpop.split('.');
      const header = JSON.parse(Buffer.from(proof[0], 'base64url').toString());
      const body = JSON.parse(Buffer.from(proof[1], 'base64url').toString());
      expect(header.typ).toBe('dpop+jwt');
      expect(['EdDSA', 'ES256']).toContain(header.alg);
      expect(Object.keys(header.jwk).sort(), 'public members only').toEqual(header.jwk.y ? ['crv', 'kty', 'x', 'y'] : ['crv', 'kty', 'x']);
      expect(body.htm).toBe(r.method());
      expect(body.htu).toBe(r.url().split('?')[0]);
      jtis.add(body.jti);
      jkts.add(JSON.stringify(header.jwk));
      if (h.authorization) {
        expect(h.authorization).toMatch(/^DPoP /);
        expect(body.ath).toBeTruthy();
      }
    }
    expect(jtis.size, 'a fresh jti per request').toBe(reqs.length);
    return jkts;
  };
  expect(first.some((r) => r.url().endsWith('/api/auth/refresh'))).toBe(true);
  const a = await keysOf(first);
  const b = await keysOf(second);
  expect(a.size, 'one key per tab, kept across its requests').toBe(1);
  expect(b.size).toBe(1);
  expect([...a][0], 'each tab has its own key').not.toBe([...b][0]);
});
