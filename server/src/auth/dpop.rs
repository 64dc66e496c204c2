//! DPoP proofs (RFC 9449): a JWT the client signs, per request, with a key the page cannot
//! export. An access token bound to that key (`cnf.jkt`) is useless to whoever copies it out of
//! the page: without the key there is no proof, and a captured proof is for one method and URL,
//! one access token, one moment, and one use.
//!
//! The checks of §4.3, in order, each with the reason it exists:
//! - exactly one `DPoP` header (the caller; two would let a proxy and the server disagree),
//! - `typ` is `dpop+jwt` (no other JWT passes as a proof),
//! - `alg` is Ed25519, EdDSA or ES256 (asymmetric only: never `none`, never HMAC); `Ed25519` is
//!   RFC 9864's fully-specified name, `EdDSA` the deprecated polymorphic one that clients still
//!   send. Both mean Ed25519 here: `EdDSA` over Ed448 is refused like any other key type,
//! - `jwk` is a public key of that algorithm, with no private member,
//! - the signature verifies with that `jwk`,
//! - `htm` and `htu` are this request's method and public URL (no query or fragment),
//! - `iat` is within [`IAT_PAST_SECS`] before and [`IAT_FUTURE_SECS`] after now,
//! - `jti` has not been seen with this key within that window (a bounded cache, recorded only
//!   once the request has passed its other gates: see [`ReplayCache::record`]),
//! - `ath` is the hash of the access token presented with it (on resource requests).
//!
//! The thumbprint the caller compares with `cnf.jkt` is RFC 7638's over the required members.
//! The replay cache is per process: with several instances behind one proxy, a proof replayed to
//! another instance within the window is not caught here (docs/security.md says so).

use std::{collections::HashMap, sync::Mutex};

use base64::{engine::general_purpose::URL_SAFE_NO_PAD as B64, Engine};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// How old a proof may be. Short: a proof is made for one request, right before it.
pub const IAT_PAST_SECS: i64 = 60;
/// How far ahead of the server's clock a proof may claim to be made: a few seconds of clock
/// skew, no more (a proof dated later could be made now by an injected script and used after
/// the page is gone).
pub const IAT_FUTURE_SECS: i64 = 5;
/// The algorithms a proof may use, as announced in `WWW-Authenticate: DPoP algs="…"`.
/// `Ed25519` (RFC 9864) first: clients that know it prefer it; `EdDSA` stays for those that
/// do not yet (npm `dpop` 2 writes `Ed25519`; WebCrypto-based code and older libraries `EdDSA`).
pub const ALGS: &str = "Ed25519 EdDSA ES256";
/// Most `jti`s remembered at once. Full of live entries, new proofs are refused (retry in a
/// moment) rather than old ones forgotten: forgetting would reopen replay.
const REPLAY_MAX: usize = 100_000;
/// Most live `jti`s of one key: a client makes one proof per request, so this is a thousand
/// requests a minute from one tab; one key (one attacker) cannot fill the whole cache.
const PER_KEY_MAX: usize = 1_000;
/// Longest accepted `jti` (they are random ids; longer ones only cost memory).
const JTI_MAX: usize = 128;
/// Members of a JWK that only a private key has (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037 §2).
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// Why a proof was refused: said in `error_description`, never more than the client needs.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProofError {
    #[error("{0}")]
    Invalid(&'static str),
    /// The replay cache is full of live entries: try again in a moment.
    #[error("too many DPoP proofs are being checked right now; retry in a moment")]
    Busy,
}

/// A proof whose `jti` was seen within its window (here, or on another instance).
pub const REPLAYED: ProofError = ProofError::Invalid("the DPoP proof was used before (jti)");
const BAD_SIGNATURE: ProofError =
    ProofError::Invalid("the DPoP proof's signature does not verify with its jwk");
const MALFORMED: ProofError = ProofError::Invalid("the DPoP proof is malformed or lacks a claim");

/// What the request says a proof must match.
pub struct Expect<'a> {
    /// The request's method, upper case.
    pub method: &'a str,
    /// The request's URL as the browser sent it: the public origin and the path.
    pub url: &'a str,
    /// The access token presented with the proof (resource requests), hashed into `ath`.
    pub access_token: Option<&'a str>,
    pub now: i64,
}

#[derive(Deserialize)]
struct ProofClaims {
    jti: String,
    htm: String,
    htu: String,
    iat: i64,
    #[serde(default)]
    ath: Option<String>,
    #[serde(default)]
    nonce: Option<String>,
}

/// Server nonces (RFC 9449 §9) for proofs on the API.
///
/// Why: a script injected into the page cannot export the key, but it can use it. Without
/// nonces it could sign proofs dated minutes ahead, for the requests it wants, and take them
/// away with the token: they would be good elsewhere until the token expires, after the page is
/// gone. A proof must carry the current nonce, which nobody knows before its period begins, so
/// a proof made ahead of time is good for at most two periods (the current one and the next,
/// which still accepts the previous nonce so a tab is not bounced at every change).
///
/// The nonce of period `n` is `HMAC-SHA256(key, n)`: no state, and every instance sharing the
/// database (the key is there, like the refresh successor key) hands out and accepts the same
/// nonces. A nonce is no secret: every API answer carries the current one in `DPoP-Nonce`.
/// Login and refresh hand nonces out but do not require them: their proofs are worth nothing
/// without the password or the HttpOnly cookie, and requiring one would cost every page load
/// a round trip.
pub struct Nonces {
    key: [u8; 32],
    period: i64,
    /// The last period asked about, with its nonce and the one before: every API answer hands
    /// the nonce out and every DPoP request checks one, so it is worked out once per period
    /// instead of once or twice per request. Keyed by the period, so a clock that moves back
    /// (a test clock) gets the right one.
    memo: Mutex<Option<Memo>>,
}

struct Memo {
    period: i64,
    current: String,
    previous: String,
    header: axum::http::HeaderValue,
}

impl Nonces {
    /// `period` 0: nonces are off.
    pub fn new(key: [u8; 32], period: std::time::Duration) -> Self {
        Nonces {
            key,
            period: period.as_secs() as i64,
            memo: Mutex::default(),
        }
    }

    /// `f` of period `n`'s memo, worked out if the memo is of another period.
    fn with_memo<T>(&self, n: i64, f: impl FnOnce(&Memo) -> T) -> T {
        let fresh = || {
            let current = self.of(n);
            Memo {
                period: n,
                header: axum::http::HeaderValue::from_str(&current)
                    .expect("base64url is a valid header value"),
                current,
                previous: self.of(n - 1),
            }
        };
        match self.memo.lock() {
            Ok(mut memo) => {
                if memo.as_ref().is_none_or(|m| m.period != n) {
                    *memo = Some(fresh());
                }
                f(memo.as_ref().expect("filled above"))
            }
            // A panic while the lock was held: work it out without the memo.
            Err(_) => f(&fresh()),
        }
    }

    fn of(&self, n: i64) -> String {
        use hmac::{Hmac, Mac};
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(b"dpop-nonce");
        mac.update(&n.to_be_bytes());
        B64.encode(&mac.finalize().into_bytes()[..18])
    }

    /// The nonce to hand out at `now`; `None` when nonces are off.
    pub fn current(&self, now: i64) -> Option<String> {
        (self.period > 0)
            .then(|| self.with_memo(now.div_euclid(self.period), |m| m.current.clone()))
    }

    /// [`Nonces::current`] as the `DPoP-Nonce` header's value.
    pub fn header(&self, now: i64) -> Option<axum::http::HeaderValue> {
        (self.period > 0).then(|| self.with_memo(now.div_euclid(self.period), |m| m.header.clone()))
    }

    /// Whether `presented` is accepted at `now`: the current nonce or the previous period's
    /// (always, when nonces are off).
    pub fn accepts(&self, presented: Option<&str>, now: i64) -> bool {
        if self.period <= 0 {
            return true;
        }
        presented.is_some_and(|p| {
            self.with_memo(now.div_euclid(self.period), |m| {
                p == m.current || p == m.previous
            })
        })
    }
}

/// `jti`s seen recently, per key thumbprint, until their proof's window has passed.
#[derive(Default)]
pub struct ReplayCache {
    inner: Mutex<Seen>,
}

#[derive(Default)]
struct Seen {
    by_key: HashMap<String, HashMap<String, i64>>,
    total: usize,
}

impl ReplayCache {
    /// Records a checked proof's `jti`; refused if it was seen within its window. Call it only
    /// once the request has passed its other gates (rate limits, the token's binding), so
    /// nobody fills the cache with proofs that were going to be refused anyway.
    pub fn record(&self, proof: &Checked, now: i64) -> Result<(), ProofError> {
        let mut seen = self.inner.lock().map_err(|_| ProofError::Busy)?;
        let Seen { by_key, total } = &mut *seen;
        let jtis = by_key.entry(proof.jkt.clone()).or_default();
        if jtis.get(&proof.jti).is_some_and(|&until| until >= now) {
            return Err(REPLAYED);
        }
        if jtis.len() >= PER_KEY_MAX {
            let before = jtis.len();
            jtis.retain(|_, until| *until >= now);
            *total -= before - jtis.len();
            if jtis.len() >= PER_KEY_MAX {
                return Err(ProofError::Busy);
            }
        }
        if *total >= REPLAY_MAX {
            by_key.retain(|_, jtis| {
                jtis.retain(|_, until| *until >= now);
                !jtis.is_empty()
            });
            *total = by_key.values().map(HashMap::len).sum();
            if *total >= REPLAY_MAX {
                return Err(ProofError::Busy);
            }
        }
        let jtis = by_key.entry(proof.jkt.clone()).or_default();
        if jtis
            .insert(proof.jti.clone(), proof.iat + IAT_PAST_SECS)
            .is_none()
        {
            *total += 1;
        }
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.inner.lock().map(|s| s.total).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// `b64url(SHA-256(access token))`, the `ath` claim.
pub fn access_token_hash(token: &str) -> String {
    B64.encode(Sha256::digest(token.as_bytes()))
}

/// A public key taken from a proof's header: its algorithm, verifying key and thumbprint.
struct PublicJwk {
    key: ProofKey,
    thumbprint: String,
}

enum ProofKey {
    /// Ed25519's 32-byte public key, verified by ed25519-dalek directly (see `verify_eddsa`).
    Ed([u8; 32]),
    Es256(DecodingKey),
}

/// Most decompressed Ed25519 keys kept (`verify_eddsa`); past it the cache starts over.
const KEY_CACHE_MAX: usize = 4_096;

/// Decompressed Ed25519 keys by their bytes. A tab signs every request with one key, and
/// decompressing its point on every proof was a sizeable part of the verification's cost
/// (`make bench`, "/api/me (DPoP proof each)"). Only the key's arithmetic form is kept: every
/// signature is still verified.
static ED_KEYS: std::sync::LazyLock<Mutex<HashMap<[u8; 32], ed25519_dalek::VerifyingKey>>> =
    std::sync::LazyLock::new(Mutex::default);

fn ed_key(x: &[u8; 32]) -> Result<ed25519_dalek::VerifyingKey, ProofError> {
    if let Some(k) = ED_KEYS.lock().ok().and_then(|m| m.get(x).copied()) {
        return Ok(k);
    }
    let k = ed25519_dalek::VerifyingKey::from_bytes(x)
        .map_err(|_| ProofError::Invalid("the proof's jwk is not a valid key"))?;
    if let Ok(mut m) = ED_KEYS.lock() {
        if m.len() >= KEY_CACHE_MAX {
            m.clear();
        }
        m.insert(*x, k);
    }
    Ok(k)
}

/// An EdDSA proof's signature, checked with ed25519-dalek's strict verification (no weak keys,
/// no malleable signatures); its claims once it holds.
fn verify_eddsa(proof: &str, x: &[u8; 32]) -> Result<ProofClaims, ProofError> {
    let (input, sig) = proof.rsplit_once('.').ok_or(MALFORMED)?;
    let (_, claims) = input.split_once('.').ok_or(MALFORMED)?;
    let sig: [u8; 64] = B64
        .decode(sig)
        .ok()
        .and_then(|s| s.try_into().ok())
        .ok_or(MALFORMED)?;
    ed_key(x)?
        .verify_strict(
            input.as_bytes(),
            &ed25519_dalek::Signature::from_bytes(&sig),
        )
        .map_err(|_| BAD_SIGNATURE)?;
    B64.decode(claims)
        .ok()
        .and_then(|c| serde_json::from_slice(&c).ok())
        .ok_or(MALFORMED)
}

/// A 32-byte coordinate of the jwk: as sent (for the thumbprint) and decoded.
fn coordinate(jwk: &Value, name: &str) -> Result<(String, [u8; 32]), ProofError> {
    let v = jwk[name]
        .as_str()
        .ok_or(ProofError::Invalid("the proof's jwk lacks a coordinate"))?;
    match B64.decode(v).map(<[u8; 32]>::try_from) {
        Ok(Ok(bytes)) => Ok((v.to_owned(), bytes)),
        _ => Err(ProofError::Invalid(
            "the proof's jwk has a malformed coordinate",
        )),
    }
}

fn public_jwk(alg: &str, jwk: &Value) -> Result<PublicJwk, ProofError> {
    let obj = jwk
        .as_object()
        .ok_or(ProofError::Invalid("the proof has no jwk"))?;
    if PRIVATE_MEMBERS.iter().any(|m| obj.contains_key(*m)) {
        return Err(ProofError::Invalid(
            "the proof's jwk contains private key material",
        ));
    }
    let (kty, crv) = (jwk["kty"].as_str(), jwk["crv"].as_str());
    // RFC 7638 §3.2: the required members only, in lexicographic order, no whitespace.
    match (alg, kty, crv) {
        // RFC 9864 §2.2: `Ed25519` is EdDSA with the Ed25519 curve, fully specified; the
        // polymorphic `EdDSA` is accepted for the same key type only (never Ed448, never
        // another kty), so the two names open no door the other keeps shut.
        ("Ed25519" | "EdDSA", Some("OKP"), Some("Ed25519")) => {
            let (x, bytes) = coordinate(jwk, "x")?;
            // The point is checked here, so a bad key is refused as such, before the signature.
            ed_key(&bytes)?;
            let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
            Ok(PublicJwk {
                key: ProofKey::Ed(bytes),
                thumbprint: B64.encode(Sha256::digest(canonical.as_bytes())),
            })
        }
        ("ES256", Some("EC"), Some("P-256")) => {
            let ((x, _), (y, _)) = (coordinate(jwk, "x")?, coordinate(jwk, "y")?);
            let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
            Ok(PublicJwk {
                key: ProofKey::Es256(DecodingKey::from_ec_components(&x, &y)
                    .map_err(|_| ProofError::Invalid("the proof's jwk is not a valid key"))?),
                thumbprint: B64.encode(Sha256::digest(canonical.as_bytes())),
            })
        }
        _ => Err(ProofError::Invalid(
            "the proof's jwk does not match its alg (Ed25519 or EdDSA with an Ed25519 OKP key, or ES256 with a P-256 EC key)",
        )),
    }
}

/// A proof that passed every stateless check: whose key signed it, and its `jti` (not yet
/// recorded: [`ReplayCache::record`]).
#[derive(Debug)]
pub struct Checked {
    /// The RFC 7638 thumbprint of the signing key.
    pub jkt: String,
    pub jti: String,
    pub iat: i64,
    /// The proof's `nonce`, checked by the caller where one is required ([`Nonces`]).
    pub nonce: Option<String>,
}

/// Checks a proof against this request, without recording it.
pub fn verify(proof: &str, expect: &Expect<'_>) -> Result<Checked, ProofError> {
    let header_b64 = proof
        .split('.')
        .next()
        .ok_or(ProofError::Invalid("the DPoP proof is not a JWT"))?;
    let header: Value = B64
        .decode(header_b64)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(ProofError::Invalid("the DPoP proof is not a JWT"))?;
    if header["typ"] != "dpop+jwt" {
        return Err(ProofError::Invalid("the DPoP proof's typ must be dpop+jwt"));
    }
    // The allow-list first: `none`, HMAC and everything else stop before any key is read.
    let alg = header["alg"].as_str().unwrap_or("");
    if !ALGS.split(' ').any(|a| a == alg) {
        return Err(ProofError::Invalid(
            "the DPoP proof's alg must be Ed25519, EdDSA or ES256",
        ));
    }
    let jwk = public_jwk(alg, &header["jwk"])?;
    let claims = match &jwk.key {
        ProofKey::Ed(x) => verify_eddsa(proof, x)?,
        ProofKey::Es256(key) => {
            let mut v = Validation::new(Algorithm::ES256);
            // A proof is no access token: its freshness is `iat` (below), not `exp`/`aud`.
            v.required_spec_claims.clear();
            v.validate_exp = false;
            v.validate_aud = false;
            jsonwebtoken::decode::<ProofClaims>(proof, key, &v)
                .map_err(|e| match e.kind() {
                    jsonwebtoken::errors::ErrorKind::InvalidSignature => BAD_SIGNATURE,
                    _ => MALFORMED,
                })?
                .claims
        }
    };
    if claims.htm != expect.method {
        return Err(ProofError::Invalid(
            "the DPoP proof is for another method (htm)",
        ));
    }
    // RFC 9449 §4.3 (9): compared without query and fragment.
    let htu = claims.htu.split(['?', '#']).next().unwrap_or("");
    if htu != expect.url {
        return Err(ProofError::Invalid(
            "the DPoP proof is for another URL (htu)",
        ));
    }
    if claims.iat < expect.now - IAT_PAST_SECS {
        return Err(ProofError::Invalid("the DPoP proof is too old (iat)"));
    }
    if claims.iat > expect.now + IAT_FUTURE_SECS {
        return Err(ProofError::Invalid(
            "the DPoP proof is dated in the future (iat)",
        ));
    }
    match (expect.access_token, claims.ath.as_deref()) {
        (Some(token), Some(ath)) if ath == access_token_hash(token) => {}
        (Some(_), Some(_)) => {
            return Err(ProofError::Invalid(
                "the DPoP proof is for another access token (ath)",
            ))
        }
        (Some(_), None) => {
            return Err(ProofError::Invalid(
                "the DPoP proof lacks ath (the access token's hash)",
            ))
        }
        (None, _) => {}
    }
    if claims.jti.is_empty() || claims.jti.len() > JTI_MAX {
        return Err(ProofError::Invalid(
            "the DPoP proof's jti is missing or too long",
        ));
    }
    Ok(Checked {
        jkt: jwk.thumbprint,
        jti: claims.jti,
        iat: claims.iat,
        nonce: claims.nonce,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7638 §3.1's example is RSA; for the key types here the canonical form is checked
    /// directly: required members only, sorted, no whitespace.
    #[test]
    fn the_decompressed_key_cache_keeps_many_keys() {
        // Two keys of this test's own, used in turn: both stay cached (a cache that held one
        // key would decompress on every proof of two tabs taking turns).
        let keys: Vec<[u8; 32]> = [11u8, 12]
            .iter()
            .map(|b| {
                ed25519_dalek::SigningKey::from_bytes(&[*b; 32])
                    .verifying_key()
                    .to_bytes()
            })
            .collect();
        for k in &keys {
            ed_key(k).unwrap();
        }
        let cached = ED_KEYS.lock().unwrap();
        assert!(keys.iter().all(|k| cached.contains_key(k)));
    }

    #[test]
    fn thumbprints_use_the_required_members_in_order() {
        let key = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]).verifying_key();
        let x = B64.encode(key.as_bytes());
        let jwk =
            serde_json::json!({"x": x, "kty": "OKP", "crv": "Ed25519", "use": "sig", "kid": "k"});
        let t = public_jwk("EdDSA", &jwk).unwrap().thumbprint;
        let want = B64.encode(Sha256::digest(
            format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#).as_bytes(),
        ));
        assert_eq!(t, want);
    }

    #[test]
    fn private_members_and_mismatched_keys_are_refused() {
        let x = B64.encode([7u8; 32]);
        let with_d = serde_json::json!({"x": x, "kty": "OKP", "crv": "Ed25519", "d": x});
        assert!(public_jwk("EdDSA", &with_d).is_err());
        let ok = serde_json::json!({"x": x, "kty": "OKP", "crv": "Ed25519"});
        assert!(public_jwk("ES256", &ok).is_err());
        let short = serde_json::json!({"x": "AAAA", "kty": "OKP", "crv": "Ed25519"});
        assert!(public_jwk("EdDSA", &short).is_err());
        // 32 bytes that are no point of the curve: refused as a key, before any signature.
        let not_a_point = (0u8..=255)
            .map(|b| {
                let mut x = [0u8; 32];
                x[0] = b;
                x
            })
            .find(|x| ed25519_dalek::VerifyingKey::from_bytes(x).is_err())
            .map(|x| B64.encode(x))
            .expect("some y has no point");
        let bad = serde_json::json!({"x": not_a_point, "kty": "OKP", "crv": "Ed25519"});
        assert!(matches!(
            public_jwk("EdDSA", &bad),
            Err(ProofError::Invalid("the proof's jwk is not a valid key"))
        ));
    }

    /// RFC 9864's `Ed25519` and the deprecated `EdDSA` name the same key type and give the
    /// same thumbprint; neither opens another curve or key type, and `Ed448` stays refused.
    #[test]
    fn ed25519_and_eddsa_are_one_algorithm_and_nothing_more() {
        let key = ed25519_dalek::SigningKey::from_bytes(&[9u8; 32]);
        let x = B64.encode(key.verifying_key().as_bytes());
        let okp = serde_json::json!({"x": x, "kty": "OKP", "crv": "Ed25519"});
        assert_eq!(
            public_jwk("Ed25519", &okp).unwrap().thumbprint,
            public_jwk("EdDSA", &okp).unwrap().thumbprint
        );
        let ed448 = serde_json::json!({"x": x, "kty": "OKP", "crv": "Ed448"});
        assert!(public_jwk("Ed25519", &ed448).is_err());
        assert!(public_jwk("EdDSA", &ed448).is_err());
        let ec = serde_json::json!({"x": x, "y": x, "kty": "EC", "crv": "P-256"});
        assert!(public_jwk("Ed25519", &ec).is_err());
        // A whole proof under each name verifies; under `Ed448` it is refused before any key.
        let now = 1_000;
        let expect = Expect {
            method: "POST",
            url: "https://c.example/api/auth/login",
            access_token: None,
            now,
        };
        let sign = |alg: &str| {
            use ed25519_dalek::Signer as _;
            let header = serde_json::json!({"typ": "dpop+jwt", "alg": alg, "jwk": okp});
            let claims =
                serde_json::json!({"jti": "j", "htm": "POST", "htu": expect.url, "iat": now});
            let input = format!(
                "{}.{}",
                B64.encode(header.to_string()),
                B64.encode(claims.to_string())
            );
            let sig = key.sign(input.as_bytes()).to_bytes();
            format!("{input}.{}", B64.encode(sig))
        };
        assert!(verify(&sign("Ed25519"), &expect).is_ok());
        assert!(verify(&sign("EdDSA"), &expect).is_ok());
        assert_eq!(
            verify(&sign("Ed448"), &expect).unwrap_err(),
            ProofError::Invalid("the DPoP proof's alg must be Ed25519, EdDSA or ES256")
        );
    }

    /// `jti` must be there and at most JTI_MAX long (exactly JTI_MAX is fine); an ES256 proof
    /// with a signature that does not verify is refused as such, not as "malformed".
    #[test]
    fn jti_bounds_and_an_es256_signature_that_does_not_verify() {
        use ed25519_dalek::Signer as _;
        let key = ed25519_dalek::SigningKey::from_bytes(&[5u8; 32]);
        let x = B64.encode(key.verifying_key().as_bytes());
        let expect = Expect {
            method: "POST",
            url: "https://c.example/api/auth/login",
            access_token: None,
            now: 1_000,
        };
        let with_jti = |jti: &str| {
            let header = serde_json::json!({"typ": "dpop+jwt", "alg": "EdDSA",
                "jwk": {"kty": "OKP", "crv": "Ed25519", "x": x}});
            let claims =
                serde_json::json!({"jti": jti, "htm": "POST", "htu": expect.url, "iat": 1_000});
            let input = format!(
                "{}.{}",
                B64.encode(header.to_string()),
                B64.encode(claims.to_string())
            );
            format!(
                "{input}.{}",
                B64.encode(key.sign(input.as_bytes()).to_bytes())
            )
        };
        let too_long = ProofError::Invalid("the DPoP proof's jti is missing or too long");
        assert_eq!(verify(&with_jti(""), &expect).unwrap_err(), too_long);
        assert_eq!(
            verify(&with_jti(&"j".repeat(JTI_MAX + 1)), &expect).unwrap_err(),
            too_long
        );
        assert!(verify(&with_jti(&"j".repeat(JTI_MAX)), &expect).is_ok());

        let es = p256::ecdsa::SigningKey::from_bytes(&[6u8; 32].into()).unwrap();
        let point = es.verifying_key().to_encoded_point(false);
        let header = serde_json::json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": {"kty": "EC",
            "crv": "P-256", "x": B64.encode(point.x().unwrap()), "y": B64.encode(point.y().unwrap())}});
        let claims =
            serde_json::json!({"jti": "j", "htm": "POST", "htu": expect.url, "iat": 1_000});
        let input = format!(
            "{}.{}",
            B64.encode(header.to_string()),
            B64.encode(claims.to_string())
        );
        let other = p256::ecdsa::SigningKey::from_bytes(&[7u8; 32].into()).unwrap();
        let sig: p256::ecdsa::Signature =
            p256::ecdsa::signature::Signer::sign(&other, input.as_bytes());
        let forged = format!("{input}.{}", B64.encode(sig.to_bytes()));
        assert_eq!(verify(&forged, &expect).unwrap_err(), BAD_SIGNATURE);
        let sig: p256::ecdsa::Signature =
            p256::ecdsa::signature::Signer::sign(&es, input.as_bytes());
        assert!(verify(&format!("{input}.{}", B64.encode(sig.to_bytes())), &expect).is_ok());
    }

    fn checked(jkt: &str, jti: &str, iat: i64) -> Checked {
        Checked {
            jkt: jkt.into(),
            jti: jti.into(),
            iat,
            nonce: None,
        }
    }

    #[test]
    fn nonces_last_two_periods_and_differ_by_key() {
        let n = Nonces::new([7; 32], std::time::Duration::from_secs(30));
        let at = |t: i64| n.current(t).unwrap();
        assert_eq!(at(0), at(29), "one nonce per period");
        assert_ne!(at(29), at(30));
        assert_eq!(at(-1), n.of(-1), "a clock before 1970 still has periods");
        let first = at(0);
        assert!(n.accepts(Some(&first), 0));
        assert!(
            n.accepts(Some(&first), 59),
            "the previous period's nonce is still good"
        );
        assert!(!n.accepts(Some(&first), 60), "two periods later it is not");
        assert!(
            !n.accepts(Some(&at(60)), 59),
            "nor is a nonce of a period yet to come"
        );
        assert!(!n.accepts(None, 0));
        assert!(!n.accepts(Some(""), 0));
        let other = Nonces::new([8; 32], std::time::Duration::from_secs(30));
        assert_ne!(
            other.current(0),
            n.current(0),
            "nobody without the key can work one out"
        );
        assert_eq!(first.len(), 24);
        // The memo is per period: a clock moving back and forth gets each period's own.
        assert_eq!(at(0), n.of(0));
        assert_eq!(at(95), n.of(3));
        assert!(n.accepts(Some(&n.of(2)), 95));
        assert!(
            !n.accepts(Some(&n.of(3)), 59),
            "a later period's nonce, after the memo held it"
        );
        assert_eq!(
            at(10),
            n.of(0),
            "back to period 0 after period 3 was memoised"
        );
        assert_eq!(n.header(40).unwrap(), n.of(1).as_str());
        let off = Nonces::new([7; 32], std::time::Duration::ZERO);
        assert_eq!(off.current(0), None);
        assert_eq!(off.header(0), None);
        assert!(off.accepts(None, 0));
    }

    #[test]
    fn the_replay_cache_forgets_only_what_has_expired() {
        let c = ReplayCache::default();
        assert_eq!(c.record(&checked("k", "a", 40), 40), Ok(()));
        assert!(c.record(&checked("k", "a", 40), 100).is_err());
        // The same jti under another key is another proof.
        assert_eq!(c.record(&checked("k2", "a", 40), 50), Ok(()));
        assert_eq!(c.record(&checked("k", "a", 90), 101), Ok(()));
        assert_eq!(c.len(), 2);
    }

    /// At the total cap the cache forgets only what has expired, keeps every live `jti` (a
    /// replay of one is still refused), and refuses new proofs rather than forget a live one.
    #[test]
    fn the_full_cache_forgets_only_expired_proofs_and_refuses_when_all_are_live() {
        let c = ReplayCache::default();
        assert!(c.is_empty());
        let fill = |prefix: &str, keys: usize, iat: i64| {
            for k in 0..keys {
                for j in 0..PER_KEY_MAX {
                    c.record(&checked(&format!("{prefix}{k}"), &j.to_string(), iat), iat)
                        .unwrap();
                }
            }
        };
        let half = REPLAY_MAX / PER_KEY_MAX / 2;
        fill("old", half, 0); // expire at 60
        fill("live", half, 100); // good until 160
        assert_eq!(c.len(), REPLAY_MAX);
        assert!(!c.is_empty());
        // Full: the expired half goes, the new proof is taken, live ones are still known.
        assert_eq!(c.record(&checked("new", "x", 100), 100), Ok(()));
        assert_eq!(c.len(), REPLAY_MAX / 2 + 1);
        assert_eq!(c.record(&checked("live0", "7", 100), 100), Err(REPLAYED));
        // Full of live proofs only: refused, nothing forgotten.
        let mut n = 0;
        while c.len() < REPLAY_MAX {
            let key = format!("more{}", n / PER_KEY_MAX);
            c.record(&checked(&key, &n.to_string(), 100), 100).unwrap();
            n += 1;
        }
        assert_eq!(
            c.record(&checked("one more", "y", 100), 100),
            Err(ProofError::Busy)
        );
        assert_eq!(c.record(&checked("live1", "3", 100), 100), Err(REPLAYED));
    }

    /// One key (one client, or one attacker with a token of their own) cannot fill the cache
    /// for everyone: past its share it is refused, and other keys go on.
    #[test]
    fn one_key_cannot_fill_the_cache() {
        let c = ReplayCache::default();
        for i in 0..PER_KEY_MAX {
            c.record(&checked("greedy", &i.to_string(), 0), 0).unwrap();
        }
        assert_eq!(
            c.record(&checked("greedy", "one more", 0), 0),
            Err(ProofError::Busy)
        );
        assert_eq!(c.record(&checked("someone", "x", 0), 0), Ok(()));
        // Once its entries have expired, the key has room again.
        assert_eq!(c.record(&checked("greedy", "later", 61), 61), Ok(()));
        assert_eq!(c.len(), 2);
    }
}
