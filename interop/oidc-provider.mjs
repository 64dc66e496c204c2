// A real OpenID provider for the tests: panva's `oidc-provider` (OpenID Certified), on loopback.
// Cloakroom's OIDC sign-in is tested against it, never against a mock of the protocol.
//
//   node interop/oidc-provider.mjs --port 0 --client-id ID --client-secret S \
//     --redirect-uri URI [--backchannel-logout-uri URI] [--key-seed N]
//
// Prints one JSON line, {"issuer": "http://127.0.0.1:PORT"}, once it listens, and runs until
// killed. Its development interactions are on: any login name and password sign in as that name
// (the name is also the subject and `preferred_username`), then a consent page. `--key-seed`
// picks which of a few fixed signing keys it uses, so a test can restart it with another key
// (a key rotation at the provider) on the same port. `--key-jwk` (a private JWK, with
// `--alg EdDSA`) makes it sign with a key the test also holds, so the test can mint tokens the
// provider never would (a logout token with a nonce, say) that are signed exactly as its own.
// `--clock-offset-secs N` runs the provider's clock N seconds ahead (or behind) of this machine's,
// as a provider whose clock drifts: its tokens' `iat` and `exp` move with it.
// `--shared-email ADDR` gives every account that verified email address (released with the
// `profile` scope the relying party asks for): two people whom only an email would confuse.
// `--log-requests` prints one JSON line per request it receives after the first line,
// {"request": "/jwks"}, so a test can count what the relying party asks of it.
// `--name-only` releases no `preferred_username`, only a `name` (the login name with its dots as
// spaces), as Google does.
import { generateKeyPairSync } from 'node:crypto';
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';

import Provider from 'oidc-provider';

const { values: args } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    'client-id': { type: 'string' },
    'client-secret': { type: 'string' },
    'redirect-uri': { type: 'string' },
    'backchannel-logout-uri': { type: 'string' },
    'key-seed': { type: 'string', default: '1' },
    'key-jwk': { type: 'string' },
    alg: { type: 'string', default: 'RS256' },
    'shared-email': { type: 'string' },
    'clock-offset-secs': { type: 'string', default: '0' },
    'log-requests': { type: 'boolean', default: false },
    'name-only': { type: 'boolean', default: false },
  },
});
{
  const offset = Number(args['clock-offset-secs']) * 1000;
  const now = Date.now.bind(Date);
  if (offset) Date.now = () => now() + offset;
}
for (const required of ['client-id', 'client-secret', 'redirect-uri']) {
  if (!args[required]) {
    console.error(`--${required} is required`);
    process.exit(2);
  }
}

// A fresh key each start, with a kid that names the seed: a restart with another seed is a key
// the relying party has not seen.
const kid = `test-key-${args['key-seed']}`;
const signing = args['key-jwk'] ? JSON.parse(args['key-jwk']) : args.alg === 'EdDSA'
  ? generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' })
  : args.alg === 'ES256'
    ? generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' })
    : generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });

const server = await new Promise((resolve) => {
  const s = createServer();
  s.listen(Number(args.port), '127.0.0.1', () => resolve(s));
});
const issuer = `http://127.0.0.1:${server.address().port}`;

const client = {
  client_id: args['client-id'],
  client_secret: args['client-secret'],
  redirect_uris: [args['redirect-uri']],
  response_types: ['code'],
  grant_types: ['authorization_code'],
  id_token_signed_response_alg: args.alg,
};
if (args['backchannel-logout-uri']) {
  client.backchannel_logout_uri = args['backchannel-logout-uri'];
  client.backchannel_logout_session_required = true;
}

const provider = new Provider(issuer, {
  clients: [client],
  jwks: { keys: [{ ...signing, kid, use: 'sig', alg: args.alg }] },
  enabledJWA: { idTokenSigningAlgValues: [args.alg] },
  features: {
    devInteractions: { enabled: true },
    backchannelLogout: { enabled: true },
    rpInitiatedLogout: { enabled: true },
  },
  pkce: { required: () => true },
  // Its guard against server-side request forgery refuses loopback addresses, and the relying
  // party under test (its back-channel logout URI) is on loopback: that guard is dropped here.
  fetch: (url, options) => {
    const { dispatcher, ...rest } = options;
    return globalThis.fetch(url, rest);
  },
  claims: {
    openid: ['sub'],
    profile: [
      args['name-only'] ? 'name' : 'preferred_username',
      ...(args['shared-email'] ? ['email', 'email_verified'] : []),
    ],
  },
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        const email = args['shared-email'];
        const named = args['name-only'] ? { name: id.replaceAll('.', ' ') } : { preferred_username: id };
        return { sub: id, ...named, ...(email && { email, email_verified: true }) };
      },
    };
  },
});
provider.on('server_error', (ctx, err) => console.error('server_error', err));
provider.on('backchannel.error', (ctx, err) => console.error('backchannel.error', err.message, err.cause));
provider.on('end_session.error', (ctx, err) => console.error('end_session.error', err.message));
if (args['log-requests']) {
  server.on('request', (req) => console.log(JSON.stringify({ request: req.url.split('?')[0] })));
}
server.on('request', provider.callback());
console.log(JSON.stringify({ issuer }));
