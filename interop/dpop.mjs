// A browser-style DPoP client (RFC 9449) against a running Cloakroom: panva's `dpop` makes the
// keys and proofs, `jose` verifies the access tokens with the server's JWKS. Nothing here is
// Cloakroom code, so what passes is what a third-party client really gets.
//
//   node interop/dpop.mjs ORIGIN USERNAME      (password in INTEROP_PASSWORD)
//
// One line per check; exit 1 if any fails. The server runs with its test clock
// (CLOAKROOM_TEST_CLOCK=true): the refresh-reuse checks move it past the grace window
// (INTEROP_REUSE_GRACE_SECS, the server's CLOAKROOM_REUSE_GRACE_SECS) instead of waiting for
// time to pass. So the key types run one after the other, each moving the one shared clock.
import * as DPoP from 'dpop'
import * as jose from 'jose'

const [origin, username] = process.argv.slice(2)
const password = process.env.INTEROP_PASSWORD
const graceSecs = Number(process.env.INTEROP_REUSE_GRACE_SECS ?? 10)
// The JWKS path may be overridden only to prove the JWKS check can fail.
const jwksPath = process.env.INTEROP_JWKS_PATH ?? '/.well-known/jwks.json'
if (!origin || !username || !password) {
  console.error('usage: INTEROP_PASSWORD=… node interop/dpop.mjs ORIGIN USERNAME')
  process.exit(2)
}
// server/src/auth/tokens.rs: iss is the public origin, aud and typ are fixed, alg is EdDSA.
const AUDIENCE = 'cloakroom-api'
const jwks = jose.createRemoteJWKSet(new URL(jwksPath, origin))
const browser = { 'X-Requested-With': 'cloakroom', Origin: origin }
const REFRESH_COOKIE = '__Host-cloakroom_refresh'
const problem = (name) => `/api/problems/${name}`

class CheckFailed extends Error {}
function expect(cond, why) {
  if (!cond) throw new CheckFailed(why)
}

// fetch with a timeout; the body read once, as JSON when it is JSON.
async function call(method, path, { headers = {}, json } = {}) {
  const res = await fetch(new URL(path, origin), {
    method,
    headers: json === undefined ? headers : { 'content-type': 'application/json', ...headers },
    body: json === undefined ? undefined : JSON.stringify(json),
    redirect: 'manual',
    signal: AbortSignal.timeout(10_000),
  })
  const text = await res.text()
  let body = text
  try {
    body = JSON.parse(text)
  } catch {}
  return { status: res.status, headers: res.headers, body }
}

// A response for a failure message; tokens elided (they say nothing and hide the rest).
const show = (r) =>
  `${r.status} ${JSON.stringify(r.body, (k, v) => (k === 'access_token' ? '…' : v)).slice(0, 300)}` +
  (r.headers.get('www-authenticate') ? ` [WWW-Authenticate: ${r.headers.get('www-authenticate')}]` : '')

// The refresh token of a response's Set-Cookie, with the cookie's attributes.
function refreshCookie(r) {
  const line = r.headers.getSetCookie().find((c) => c.startsWith(`${REFRESH_COOKIE}=`))
  if (!line) return undefined
  const [pair, ...attrs] = line.split(';').map((s) => s.trim())
  return { value: pair.slice(REFRESH_COOKIE.length + 1), attrs }
}

// Moves the server's (test) clock forward; `dpop` dates its proofs by this machine's clock, so
// the server is kept ahead of it (never behind: a proof dated after the server's now + 5 s is
// refused as made in advance).
async function advance(secs) {
  const r = await call('POST', '/api/test/clock', { json: { advance_secs: secs } })
  if (r.status !== 200) throw new Error(`moving the test clock: ${show(r)}`)
}
async function keepAhead(secs) {
  const r = await call('GET', '/healthz')
  const behind = Math.ceil(Date.now() / 1000 - Date.parse(r.headers.get('date')) / 1000)
  await advance(Math.max(0, behind) + secs)
}

// The checks for one key type; lines are collected and printed by the caller, in order.
async function suite(alg) {
  const lines = []
  let failed = 0
  const state = {}
  async function check(name, fn) {
    try {
      const note = await fn()
      lines.push(`ok   dpop ${alg}: ${name}${note ? ` (${note})` : ''}`)
    } catch (e) {
      failed++
      const why = e instanceof CheckFailed ? e.message : `${e.name}: ${e.message}`
      lines.push(`FAIL dpop ${alg}: ${name}: ${why}`)
    }
  }
  const need = (...keys) => {
    for (const k of keys) if (state[k] === undefined) throw new CheckFailed(`skipped: an earlier check failed (no ${k})`)
  }

  const kp = await DPoP.generateKeyPair(alg)
  const jkt = await DPoP.calculateThumbprint(kp.publicKey)
  let nonce
  const learn = (r) => {
    nonce = r.headers.get('dpop-nonce') ?? nonce
    return r
  }
  const url = (path) => new URL(path, origin).href
  // `GET /api/me` the way a DPoP client does it, with a fresh proof of `key` for `token`.
  // `n`: the nonce to put in the proof, `null` for none (a default stands for the last one seen).
  const me = async (token, key = kp, n = nonce) =>
    learn(
      await call('GET', '/api/me', {
        headers: {
          Authorization: `DPoP ${token}`,
          DPoP: await DPoP.generateProof(key, url('/api/me'), 'GET', n ?? undefined, token),
        },
      }),
    )
  // The access token verified as any resource server would: JWKS, iss, aud, typ, alg.
  const verify = (token) =>
    jose.jwtVerify(token, jwks, { issuer: origin, audience: AUDIENCE, typ: 'at+jwt', algorithms: ['EdDSA'] })
  const refresh = async (cookie) =>
    learn(
      await call('POST', '/api/auth/refresh', {
        headers: {
          ...browser,
          // The server sets `__Host-…; Secure`: a browser sends it back to http://127.0.0.1 (a
          // secure context); fetch keeps no cookie jar, so it is sent by hand.
          Cookie: `${REFRESH_COOKIE}=${cookie}`,
          DPoP: await DPoP.generateProof(kp, url('/api/auth/refresh'), 'POST', nonce),
        },
      }),
    )

  await check('login with a proof → 200, token_type DPoP, refresh cookie set', async () => {
    const proof = await DPoP.generateProof(kp, url('/api/auth/login'), 'POST')
    const proofAlg = jose.decodeProtectedHeader(proof).alg
    const r = learn(
      await call('POST', '/api/auth/login', { headers: { ...browser, DPoP: proof }, json: { username, password } }),
    )
    expect(r.status === 200, `login: ${show(r)}`)
    expect(r.body.token_type === 'DPoP', `token_type ${r.body.token_type}`)
    state.token = r.body.access_token
    const c = refreshCookie(r)
    expect(c, `no ${REFRESH_COOKIE} in Set-Cookie: ${r.headers.getSetCookie().join(' | ')}`)
    state.cookie = c.value
    for (const a of ['HttpOnly', 'Secure', 'SameSite=Strict', 'Path=/'])
      expect(c.attrs.includes(a), `refresh cookie lacks ${a}: ${c.attrs.join('; ')}`)
    return `proof alg ${proofAlg}`
  })

  await check(`access token verifies with jose against ${jwksPath} (iss, aud ${AUDIENCE}, typ at+jwt, alg EdDSA)`, async () => {
    need('token')
    const { payload, protectedHeader } = await verify(state.token)
    expect(protectedHeader.alg === 'EdDSA', `header alg ${protectedHeader.alg}`)
    expect(payload.preferred_username === username, `preferred_username ${payload.preferred_username}`)
    expect(payload.token_use === 'access', `token_use ${payload.token_use}`)
    state.claims = payload
    return `kid ${protectedHeader.kid}`
  })

  await check("cnf.jkt equals dpop's calculateThumbprint of the public key", async () => {
    need('claims')
    expect(state.claims.cnf?.jkt === jkt, `cnf ${JSON.stringify(state.claims.cnf)} vs thumbprint ${jkt}`)
  })

  await check('GET /api/me without a nonce → 401 use_dpop_nonce with a DPoP-Nonce header', async () => {
    need('token')
    const r = await me(state.token, kp, null)
    expect(r.status === 401, `expected 401: ${show(r)}`)
    expect(/use_dpop_nonce/.test(r.headers.get('www-authenticate') ?? ''), `WWW-Authenticate: ${r.headers.get('www-authenticate')}`)
    expect(r.headers.get('dpop-nonce'), 'no DPoP-Nonce header')
    expect(r.body.type === problem('use-dpop-nonce'), `problem type ${r.body.type}`)
    state.nonce = r.headers.get('dpop-nonce')
  })

  await check('GET /api/me retried with that nonce and ath → 200', async () => {
    need('token', 'nonce')
    const r = await me(state.token, kp, state.nonce)
    expect(r.status === 200, show(r))
    expect(r.body.username === username, `username ${r.body.username}`)
  })

  await check('the bound token as Authorization: Bearer → 401', async () => {
    need('token')
    const r = await call('GET', '/api/me', { headers: { Authorization: `Bearer ${state.token}` } })
    expect(r.status === 401, `expected 401: ${show(r)}`)
    expect(r.body.type === problem('invalid-token'), `problem type ${r.body.type}`)
  })

  await check('a proof signed by a foreign key → 401', async () => {
    need('token')
    const foreign = await DPoP.generateKeyPair(alg)
    const r = await me(state.token, foreign)
    expect(r.status === 401, `expected 401: ${show(r)}`)
    expect(r.body.type === problem('invalid-dpop-proof'), `problem type ${r.body.type}`)
  })

  await check('the same proof twice → 200, then 401 (jti replay)', async () => {
    need('token')
    const proof = await DPoP.generateProof(kp, url('/api/me'), 'GET', nonce, state.token)
    const send = () => call('GET', '/api/me', { headers: { Authorization: `DPoP ${state.token}`, DPoP: proof } })
    const first = await send()
    expect(first.status === 200, `first use: ${show(first)}`)
    const second = await send()
    expect(second.status === 401, `replay: expected 401: ${show(second)}`)
    expect(second.body.type === problem('invalid-dpop-proof'), `problem type ${second.body.type}`)
  })

  // Rotation: R0 (login) → R1 → R2. R0 again while R1 is used: a straggler inside the grace
  // window (an access token, no cookie); after the window: theft, the whole session revoked.
  await check('refresh with the cookie and a proof → 200, new cookie, new token still bound', async () => {
    need('cookie')
    const r = await refresh(state.cookie)
    expect(r.status === 200, show(r))
    expect(r.body.token_type === 'DPoP', `token_type ${r.body.token_type}`)
    expect(r.body.rotation === 'rotated', `rotation ${r.body.rotation}`)
    const c = refreshCookie(r)
    expect(c && c.value && c.value !== state.cookie, 'no new refresh cookie')
    const { payload } = await verify(r.body.access_token)
    expect(payload.cnf?.jkt === jkt, `cnf ${JSON.stringify(payload.cnf)} vs ${jkt}`)
    expect(payload.sid === state.claims?.sid, 'another session')
    state.r1 = c.value
  })

  await check('the successor refreshes too (R1 → R2), its token works on /api/me', async () => {
    need('r1')
    const r = await refresh(state.r1)
    expect(r.status === 200 && r.body.rotation === 'rotated', show(r))
    const c = refreshCookie(r)
    expect(c && c.value !== state.r1, 'no new refresh cookie')
    state.r2 = c.value
    state.a2 = r.body.access_token
    const m = await me(state.a2)
    expect(m.status === 200, `/api/me with the new token: ${show(m)}`)
  })

  await check(`the old cookie R0 again inside the ${graceSecs} s grace window → 200 straggler, no cookie`, async () => {
    need('r2')
    // The server's clock stands still: no time has passed since the rotation.
    const r = await refresh(state.cookie)
    expect(r.status === 200, show(r))
    expect(r.body.rotation === 'successor_used_within_grace', `rotation ${r.body.rotation}`)
    expect(!refreshCookie(r), 'a straggler got a refresh cookie')
  })

  await check('R0 after the grace window → 401 refresh-reused, cookie cleared', async () => {
    need('r2')
    // `now - rotated_at > grace`: one second past the window.
    await advance(graceSecs + 1)
    const r = await refresh(state.cookie)
    expect(r.status === 401, `expected 401: ${show(r)}`)
    expect(r.body.type === problem('refresh-reused'), `problem type ${r.body.type}`)
    const c = refreshCookie(r)
    expect(c && c.value === '', 'the refresh cookie was not cleared')
  })

  await check('the session is revoked: R2 → 401, its access token → 401', async () => {
    need('r2', 'a2')
    const r = await refresh(state.r2)
    expect(r.status === 401, `R2: expected 401: ${show(r)}`)
    const m = await me(state.a2)
    expect(m.status === 401, `/api/me: expected 401: ${show(m)}`)
    expect(m.body.type === problem('invalid-token'), `/api/me: problem type ${m.body.type}`)
    return `R2: ${r.body.type}`
  })

  if (alg === 'Ed25519') {
    await check('a hand-made proof with alg "EdDSA" (jose SignJWT, same key) logs in, same jkt', async () => {
      const proof = await new jose.SignJWT({ htm: 'POST', htu: url('/api/auth/login') })
        .setProtectedHeader({ alg: 'EdDSA', typ: 'dpop+jwt', jwk: await jose.exportJWK(kp.publicKey) })
        .setIssuedAt()
        .setJti(crypto.randomUUID())
        .sign(kp.privateKey)
      expect(jose.decodeProtectedHeader(proof).alg === 'EdDSA', 'not an EdDSA proof')
      const r = learn(
        await call('POST', '/api/auth/login', { headers: { ...browser, DPoP: proof }, json: { username, password } }),
      )
      expect(r.status === 200 && r.body.token_type === 'DPoP', show(r))
      const { payload } = await verify(r.body.access_token)
      expect(payload.cnf?.jkt === jkt, `cnf ${JSON.stringify(payload.cnf)} vs ${jkt}`)
      // The token bound under one name is served to proofs under the other.
      const m = await me(r.body.access_token)
      expect(m.status === 200, `/api/me with an "Ed25519" proof: ${show(m)}`)
    })
  }
  return { lines, failed }
}

await keepAhead(20)
const results = []
for (const alg of ['Ed25519', 'ES256']) results.push(await suite(alg))
let failed = 0
for (const r of results) {
  for (const l of r.lines) console.log(l)
  failed += r.failed
}
process.exit(failed ? 1 : 0)
