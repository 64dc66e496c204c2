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

test('proofs an injected script signs ahead of time die with the server nonce, long before the token', async ({ loggedIn: page, asInjectedScript, advanceTime, request }) => {
  // To the start of a nonce period (30 s), so the test knows which period each second is in.
  const now = await serverNow(request);
  await advanceTime(30 - (now % 30));

  // The script cannot export the key, but it can wrap WebCrypto's sign and the page's fetch:
  // the next request the app makes hands it the key handle and the token, and its answer the
  // current nonce.
  await asInjectedScript(page, () => {
    const w = window as any;
    const sign = crypto.subtle.sign.bind(crypto.subtle);
    crypto.subtle.sign = (alg: any, key: CryptoKey, data: BufferSource) => {
      w.loot = { alg, key, data: new Uint8Array(data as ArrayBuffer).slice() };
      return sign(alg, key, data);
    };
    const fetch0 = window.fetch.bind(window);
    window.fetch = (input: any, init?: any) => {
      const auth = input instanceof Request ? input.headers.get('authorization') : null;
      if (auth?.startsWith('DPoP ')) w.token = auth.slice(5);
      return fetch0(input, init).then((res: Response) => {
        w.nonce = res.headers.get('dpop-nonce') ?? w.nonce;
        return res;
      });
    };
  });
  await page.getByLabel('Title').fill('the app signs a proof');
  await page.getByRole('button', { name: 'Add note' }).click();
  await expect(page.getByTestId('note')).toHaveCount(1);

  // Signed now, in the page, for later: 40 s ahead (the next period) and 70 s ahead.
  const loot = await asInjectedScript(page, async () => {
    const w = window as any;
    const text = new TextDecoder().decode(w.loot.data);
    const [header, body] = text.split('.');
    const seen = JSON.parse(atob(body.replace(/-/g, '+').replace(/_/g, '/')));
    const b64 = (b: ArrayBuffer | Uint8Array) =>
      btoa(String.fromCharCode(...new Uint8Array(b))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
    const ath = b64(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(w.token)));
    const proofs: string[] = [];
    for (const ahead of [40, 70]) {
      const claims = { jti: crypto.randomUUID(), htm: 'GET', htu: `${location.origin}/api/me`, iat: seen.iat + ahead, ath, nonce: w.nonce };
      const input = `${header}.${b64(new TextEncoder().encode(JSON.stringify(claims)))}`;
      proofs.push(`${input}.${b64(await crypto.subtle.sign(w.loot.alg, w.loot.key, new TextEncoder().encode(input)))}`);
    }
    return { token: w.token as string, nonce: w.nonce as string | undefined, sent: seen.nonce as string | undefined, proofs };
  });
  expect(loot.sent, 'the app\'s proofs carry the server nonce').toBeTruthy();
  expect(loot.nonce, 'and every answer hands out the current one').toBeTruthy();
  await page.close(); // The tab is gone; the attacker has the token and the proofs.

  const me = (proof: string) => request.get('/api/me', { headers: { authorization: `DPoP ${loot.token}`, dpop: proof } });
  await advanceTime(40);
  // Within the next period the nonce is still good: this is the window nonces leave (≤ 60 s).
  const early = await me(loot.proofs[0]);
  expect(early.status(), await early.text()).toBe(200);
  await advanceTime(30);
  // Two periods on, the proof is dead though the token (300 s) is not.
  const late = await me(loot.proofs[1]);
  expect(late.status()).toBe(401);
  expect(late.headers()['www-authenticate']).toContain('use_dpop_nonce');
  expect((await late.json()).type).toBe('/api/problems/use-dpop-nonce');
});

test('a tab idle past two nonce periods retries once with the new nonce and goes on', async ({ loggedIn: page, advanceTimeQuietly }) => {
  const answers: { path: string; status: number; challenge?: string }[] = [];
  page.on('response', (r) => {
    const path = new URL(r.url()).pathname;
    if (path.startsWith('/api/')) answers.push({ path: `${r.request().method()} ${path}`, status: r.status(), challenge: r.headers()['www-authenticate'] });
  });
  await advanceTimeQuietly(90);
  await page.getByLabel('Title').fill('after a pause');
  await page.getByRole('button', { name: 'Add note' }).click();
  await expect(page.getByTestId('note')).toHaveCount(1);
  const notes = answers.filter((a) => a.path === 'POST /api/notes');
  expect(notes.map((a) => a.status)).toEqual([401, 201]);
  expect(notes[0].challenge).toContain('use_dpop_nonce');
  expect(answers.filter((a) => a.path === 'POST /api/auth/refresh'), 'a nonce is no reason to refresh').toHaveLength(0);
});
