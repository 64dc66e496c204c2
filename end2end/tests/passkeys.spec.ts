// Passkeys against a real authenticator nobody here wrote: Chromium's virtual one (CTAP2,
// internal, resident keys, user verification), driven through the DevTools protocol. The app's
// passkey pages are not built yet, so the page plays the client with the browser's own WebAuthn
// Level 3 JSON helpers (`parseCreationOptionsFromJSON`, `parseRequestOptionsFromJSON`,
// `toJSON`): what the server hands out and takes back must be exactly what a browser speaks.
//
// Browsers allow no passkeys on an IP address, and the suite's server lives at 127.0.0.1, so
// this file starts a server of its own at http://localhost:<port>.
import { expect, test, type Page } from '@playwright/test';
import { PASSWORD, freePort, ownServer } from './helpers';

let stop: () => void;
let base: string;

test.beforeAll(async () => {
  ({ base, stop } = await ownServer(await freePort()));
});

test.afterAll(() => stop?.());

async function withAuthenticator(page: Page) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      transport: 'internal',
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
  return { cdp, authenticatorId };
}

/** Signs up and logs in by the API, in the page: the access token. */
async function account(page: Page, username: string): Promise<string> {
  return page.evaluate(async ([username, password]) => {
    const post = (path: string, body: object) =>
      fetch(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    await post('/api/auth/signup', { username, password });
    return (await (await post('/api/auth/login', { username, password })).json()).access_token;
  }, [username, PASSWORD]);
}

/** Adds a passkey as a browser client would; the finish answer's status and body. */
function addPasskey(page: Page, access: string) {
  return page.evaluate(async (access) => {
    const auth = { authorization: `Bearer ${access}`, 'content-type': 'application/json' };
    const start = await fetch('/api/passkeys/register/start', { method: 'POST', headers: auth, body: '{}' });
    const options = await start.json();
    const publicKey = PublicKeyCredential.parseCreationOptionsFromJSON(options.publicKey);
    const credential = (await navigator.credentials.create({ publicKey })) as PublicKeyCredential;
    const finish = await fetch('/api/passkeys/register/finish', {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ name: 'Virtual', credential: credential.toJSON() }),
    });
    return { status: finish.status, body: await finish.json() };
  }, access);
}

/** Signs in with a passkey and no username; the finish answer's status and body. */
function signIn(page: Page) {
  return page.evaluate(async () => {
    const csrf = { 'x-requested-with': 'cloakroom', 'content-type': 'application/json' };
    const start = await fetch('/api/auth/passkey/start', { method: 'POST', headers: csrf });
    const options = await start.json();
    const publicKey = PublicKeyCredential.parseRequestOptionsFromJSON(options.publicKey);
    // A button's sign-in, not the autofill one the options suggest (`mediation`).
    const credential = (await navigator.credentials.get({ publicKey })) as PublicKeyCredential;
    const finish = await fetch('/api/auth/passkey/finish', {
      method: 'POST',
      headers: csrf,
      body: JSON.stringify({ credential: credential.toJSON() }),
    });
    return { status: finish.status, body: await finish.json() };
  });
}

test("Chromium's authenticator adds a passkey and signs in with it, no username; a deleted one signs in no more", async ({ page }) => {
  const username = `pk_${Date.now().toString(36)}`;
  await page.goto(`${base}/login`);
  const { cdp, authenticatorId } = await withAuthenticator(page);
  const access = await account(page, username);

  const added = await addPasskey(page, access);
  expect(added.status, JSON.stringify(added.body)).toBe(201);
  // The authenticator keeps a discoverable credential, with the account's user handle.
  const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
  expect(credentials).toHaveLength(1);
  expect(credentials[0].isResidentCredential).toBe(true);

  const signedIn = await signIn(page);
  expect(signedIn.status, JSON.stringify(signedIn.body)).toBe(200);
  const me = await page.evaluate(async (token) => (await fetch('/api/me', { headers: { authorization: `Bearer ${token}` } })).json(), signedIn.body.access_token);
  expect(me.username).toBe(username);
  // The refresh cookie it set is HttpOnly: no script sees it.
  expect(await page.evaluate(() => document.cookie)).not.toContain('cloakroom_refresh');
  const cookies = await page.context().cookies(base);
  expect(cookies.find((c) => c.name === '__Host-cloakroom_refresh')?.httpOnly).toBe(true);

  // Deleted on the server (the authenticator still holds it): the next sign-in is refused.
  const list = await page.evaluate(async (token) => (await fetch('/api/passkeys', { headers: { authorization: `Bearer ${token}` } })).json(), access);
  const gone = await page.evaluate(async ([token, id]) => (await fetch(`/api/passkeys/${id}`, { method: 'DELETE', headers: { authorization: `Bearer ${token}` } })).status, [access, list[0].id]);
  expect(gone).toBe(204);
  const refused = await signIn(page);
  expect(refused.status).toBe(401);
  expect(refused.body.type).toBe('/api/problems/passkey-refused');
});
