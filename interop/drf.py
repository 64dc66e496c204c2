"""A Django REST framework backend and a simplejwt client against a running Cloakroom.

PyJWT verifies Cloakroom's access tokens the way a DRF service next to it would (PyJWKClient on
the JWKS, pinned algorithm, audience and issuer); requests calls the simplejwt-compatible routes
the way djangorestframework-simplejwt clients do (JSON bodies, trailing slashes).

    python interop/drf.py ORIGIN USERNAME      (password in INTEROP_PASSWORD)

One line per check; exit 1 if any fails.
"""

import base64
import json
import os
import sys

import jwt
import requests

ORIGIN, USERNAME = sys.argv[1], sys.argv[2]
PASSWORD = os.environ["INTEROP_PASSWORD"]
# server/src/auth/tokens.rs: iss is the public origin, aud and typ are fixed.
AUDIENCE = "cloakroom-api"
JWKS_URL = ORIGIN + os.environ.get("INTEROP_JWKS_PATH", "/.well-known/jwks.json")
# PyJWT's name for Ed25519 signatures; RFC 9864's "Ed25519" only if this PyJWT knows it.
ALGORITHMS = ["EdDSA"]
TIMEOUT = 10

failed = 0
state = {}


class CheckFailed(Exception):
    pass


def expect(cond, why):
    if not cond:
        raise CheckFailed(why)


def check(name):
    """Runs the decorated function as one check and prints its line."""

    def run(fn):
        global failed
        try:
            note = fn()
            print(f"ok   drf: {name}" + (f" ({note})" if note else ""))
        except Exception as e:  # noqa: BLE001 - every failure is reported, none stops the run
            failed += 1
            why = str(e) if isinstance(e, CheckFailed) else f"{type(e).__name__}: {e}"
            print(f"FAIL drf: {name}: {why}")
        return fn

    return run


def need(*keys):
    for k in keys:
        if k not in state:
            raise CheckFailed(f"skipped: an earlier check failed (no {k})")


def show(r):
    return f"{r.status_code} {r.text[:300]}"


def post(path, body):
    return requests.post(ORIGIN + path, json=body, timeout=TIMEOUT)


jwks_client = jwt.PyJWKClient(JWKS_URL)


def decode(token):
    key = jwks_client.get_signing_key_from_jwt(token)
    return jwt.decode(token, key, algorithms=ALGORITHMS, audience=AUDIENCE, issuer=ORIGIN)


def tampered(token):
    """The token with one claim changed in its payload and the original signature."""
    header, payload, sig = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["roles"] = ["admin"]
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{payload}.{sig}"


@check("POST /api/token/ {username, password} → 200 {access, refresh}, no cookie")
def obtain():
    r = post("/api/token/", {"username": USERNAME, "password": PASSWORD})
    expect(r.status_code == 200, show(r))
    body = r.json()
    expect(isinstance(body.get("access"), str) and isinstance(body.get("refresh"), str), f"body {body}")
    expect("set-cookie" not in r.headers, f"Set-Cookie: {r.headers.get('set-cookie')}")
    state["access"], state["refresh"] = body["access"], body["refresh"]


@check("the same as an HTML form (requests' data=, which DRF parses as readily as JSON) → 200, and the pair verifies")
def obtain_by_form():
    r = requests.post(ORIGIN + "/api/token/", data={"username": USERNAME, "password": PASSWORD}, timeout=TIMEOUT)
    expect(r.status_code == 200, show(r))
    body = r.json()
    v = requests.post(ORIGIN + "/api/token/verify/", data={"token": body["access"]}, timeout=TIMEOUT)
    expect(v.status_code == 200, show(v))


@check("wrong password → 401 with a `detail`, as DRF answers")
def wrong_password():
    r = post("/api/token/", {"username": USERNAME, "password": PASSWORD + "x"})
    expect(r.status_code == 401, show(r))
    expect(isinstance(r.json().get("detail"), str), f"no detail: {r.text[:300]}")


@check(f"PyJWKClient + jwt.decode(algorithms={ALGORITHMS}, audience, issuer) verifies the access token")
def verify_with_pyjwt():
    need("access")
    token = state["access"]
    header = jwt.get_unverified_header(token)
    expect(header.get("alg") == "EdDSA" and header.get("typ") == "at+jwt", f"header {header}")
    claims = decode(token)
    expect(claims["preferred_username"] == USERNAME, f"preferred_username {claims['preferred_username']}")
    expect(claims["token_use"] == "access" and "cnf" not in claims, f"claims {claims}")
    state["claims"] = claims
    return f"kid {header.get('kid')}"


@check("the same token with a tampered payload fails jwt.decode")
def tampered_fails():
    need("access")
    bad = tampered(state["access"])
    try:
        decode(bad)
    except jwt.InvalidSignatureError:
        return None
    raise CheckFailed("a tampered token verified")


@check("a token for another audience or issuer fails jwt.decode")
def wrong_audience_or_issuer_fails():
    need("access")
    token = state["access"]
    key = jwks_client.get_signing_key_from_jwt(token)
    for kwargs, error in (
        ({"audience": "another-api", "issuer": ORIGIN}, jwt.InvalidAudienceError),
        ({"audience": AUDIENCE, "issuer": "https://elsewhere.example"}, jwt.InvalidIssuerError),
    ):
        try:
            jwt.decode(token, key, algorithms=ALGORITHMS, **kwargs)
        except error:
            continue
        raise CheckFailed(f"verified with {kwargs}")


@check("POST /api/token/verify/ {token: access} → 200")
def verify_good():
    need("access")
    r = post("/api/token/verify/", {"token": state["access"]})
    expect(r.status_code == 200, show(r))


@check("POST /api/token/verify/ with a tampered token → 401, with the refresh token → 401")
def verify_bad():
    need("access", "refresh")
    r = post("/api/token/verify/", {"token": tampered(state["access"])})
    expect(r.status_code == 401, f"tampered: {show(r)}")
    # Unlike simplejwt, which answers 200: Cloakroom checks refresh tokens only by rotating them.
    r = post("/api/token/verify/", {"token": state["refresh"]})
    expect(r.status_code == 401, f"refresh token: {show(r)}")


@check("GET /api/me with Authorization: Bearer <access> → 200")
def me_bearer():
    need("access")
    r = requests.get(ORIGIN + "/api/me", headers={"Authorization": "Bearer " + state["access"]}, timeout=TIMEOUT)
    expect(r.status_code == 200, show(r))
    expect(r.json().get("username") == USERNAME, f"body {r.text[:300]}")


@check("POST /api/token/refresh/ {refresh} → 200, new access and rotated refresh; both work")
def refresh():
    need("refresh", "claims")
    r = post("/api/token/refresh/", {"refresh": state["refresh"]})
    expect(r.status_code == 200, show(r))
    body = r.json()
    expect(isinstance(body.get("access"), str), f"no access: {body}")
    expect(isinstance(body.get("refresh"), str) and body["refresh"] != state["refresh"], "refresh not rotated")
    claims = decode(body["access"])
    expect(claims["sid"] == state["claims"]["sid"], "another session")
    me = requests.get(ORIGIN + "/api/me", headers={"Authorization": "Bearer " + body["access"]}, timeout=TIMEOUT)
    expect(me.status_code == 200, f"/api/me with the new access: {show(me)}")
    r = post("/api/token/refresh/", {"refresh": body["refresh"]})
    expect(r.status_code == 200 and r.json().get("refresh"), f"the rotated refresh: {show(r)}")


names = jwt.algorithms.get_default_algorithms()
print(
    f"info drf: PyJWT {jwt.__version__}: Ed25519 signatures are algorithm "
    + " and ".join(repr(a) for a in ("EdDSA", "Ed25519") if a in names)
    + ("" if "Ed25519" in names else "; it does not know RFC 9864's 'Ed25519'")
)
sys.exit(1 if failed else 0)
