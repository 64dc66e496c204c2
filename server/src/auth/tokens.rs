//! Access tokens: Ed25519-signed JWTs (RFC 9068 style), verified with a pinned algorithm.
//!
//! Why Ed25519: small keys and signatures, no parameter choices to get wrong, and an asymmetric
//! key means anything that only verifies (another service, the JWKS consumer) can't mint tokens.
//! Several verification keys may be live at once (key rotation): each token names its key in
//! `kid`, and an unknown `kid` is refused rather than tried against every key.

use std::{
    collections::HashMap,
    sync::{Mutex, RwLock},
};

use anyhow::Context;
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use ed25519_dalek::SigningKey;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::store::{keys::KeyRow, Db};

/// Audience of every access token: this API and nothing else.
pub const AUDIENCE: &str = "cloakroom-api";
/// JOSE `typ` of access tokens (RFC 9068); a token with another `typ` is refused.
pub const ACCESS_TYP: &str = "at+jwt";
/// Claim marking the token kind, so an ID token or any other JWT signed by the same key
/// can never pass as an access token.
pub const TOKEN_USE_ACCESS: &str = "access";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    /// Session id: what revocation is keyed on.
    pub sid: String,
    pub jti: String,
    pub iat: i64,
    pub exp: i64,
    pub roles: Vec<String>,
    pub preferred_username: String,
    pub token_use: String,
    /// RFC 9449 §6: the token is bound to the DPoP key with this RFC 7638 thumbprint, and is
    /// accepted only with a proof signed by that key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Confirmation>,
}

/// The `cnf` claim of a DPoP-bound access token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Confirmation {
    pub jkt: String,
}

/// PKCS#8 v1 wrapping of a raw Ed25519 seed (RFC 8410): fixed prefix + 32 bytes.
pub fn pkcs8_from_seed(seed: &[u8; 32]) -> Vec<u8> {
    let mut der = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    der.extend_from_slice(seed);
    der
}

struct VerifyKey {
    kid: String,
    key: DecodingKey,
    x: String,
}

struct KeySet {
    signing_kid: String,
    signing: EncodingKey,
    verifying: Vec<VerifyKey>,
    /// (kid, retired_at, revoked_at) of the rows this set was built from: a reload rebuilds
    /// only on change.
    fingerprint: Vec<(String, Option<i64>, Option<i64>)>,
    /// Bumped by every reload that changed the set; a cached verification is trusted only under
    /// the generation it was made in.
    generation: u64,
}

/// The signer and verifiers, plus a bounded cache of already-verified tokens.
pub struct Keys {
    set: RwLock<KeySet>,
    issuer: String,
    /// A retired key keeps verifying (and stays in JWKS) this long: the longest any token it
    /// signed can still be alive.
    access_ttl: i64,
    /// Verified tokens by their exact string: an Ed25519 verification costs tens of µs, a map
    /// lookup well under one. Entries carry the token's own `exp` and are never trusted past
    /// it; revocation is still checked on every request by the caller.
    cache: Mutex<HashMap<String, (u64, AccessClaims)>>,
    /// How many verified tokens the cache holds at most ([`CACHE_MAX`]; tests use fewer).
    cache_max: usize,
}

const CACHE_MAX: usize = 10_000;

impl Keys {
    /// Loads the persisted keys, generating and persisting the first one on first start.
    pub async fn load_or_create(
        db: &Db,
        issuer: &str,
        access_ttl: i64,
        now: i64,
    ) -> anyhow::Result<Self> {
        // Before the first token is signed: jsonwebtoken with Ed25519 keys parsed once.
        if !super::jwt_crypto::install() {
            tracing::warn!("another jsonwebtoken crypto provider was installed first: tokens are signed and checked alike, only slower");
        }
        let mut rows = crate::store::keys::all(db).await?;
        if !rows.iter().any(|r| r.retired_at.is_none()) {
            let row = generate_key(now);
            if crate::store::keys::insert_first_signer(db, &row)
                .await
                .context("persisting signing key")?
            {
                tracing::info!(kid = %row.kid, "generated a new access-token signing key");
            }
            // Ours, or the one another instance starting at the same moment made first.
            rows = crate::store::keys::all(db).await?;
        }
        let set = key_set(&rows, now, access_ttl)?;
        Ok(Self {
            set: RwLock::new(set),
            issuer: issuer.to_owned(),
            access_ttl,
            cache: Mutex::new(HashMap::new()),
            cache_max: CACHE_MAX,
        })
    }

    /// Re-reads the keys (a `cloakroom keys rotate` from another process, or a retired key
    /// whose tokens have all expired). Returns whether anything changed.
    pub async fn reload(&self, db: &Db, now: i64) -> anyhow::Result<bool> {
        let rows = crate::store::keys::all(db).await?;
        self.install(key_set(&rows, now, self.access_ttl)?)
    }

    /// Makes `next` the key set if it differs from the current one.
    fn install(&self, next: KeySet) -> anyhow::Result<bool> {
        let mut set = self
            .set
            .write()
            .map_err(|_| anyhow::anyhow!("key set poisoned"))?;
        let changed =
            set.fingerprint != next.fingerprint || set.verifying.len() != next.verifying.len();
        if changed {
            tracing::info!(signing = %next.signing_kid, verifying = next.verifying.len(), "signing keys reloaded");
            let generation = set.generation + 1;
            *set = KeySet { generation, ..next };
            // Tokens of a key that dropped out must not survive in the cache (entries of the old
            // generation would be refused anyway; this frees them).
            if let Ok(mut cache) = self.cache.lock() {
                cache.clear();
            }
        }
        Ok(changed)
    }

    /// Key id of the current signer.
    pub fn signing_kid(&self) -> String {
        self.set
            .read()
            .map(|s| s.signing_kid.clone())
            .unwrap_or_default()
    }

    /// Signs an access token for a session (not bound to a key).
    pub fn issue(
        &self,
        user_id: &str,
        username: &str,
        session_id: &str,
        roles: &[String],
        now: i64,
        ttl_secs: i64,
    ) -> anyhow::Result<String> {
        self.issue_bound(user_id, username, session_id, roles, now, ttl_secs, None)
    }

    /// Signs an access token for a session, bound to the DPoP key with thumbprint `jkt` if any.
    #[allow(clippy::too_many_arguments)]
    pub fn issue_bound(
        &self,
        user_id: &str,
        username: &str,
        session_id: &str,
        roles: &[String],
        now: i64,
        ttl_secs: i64,
        jkt: Option<&str>,
    ) -> anyhow::Result<String> {
        let set = self
            .set
            .read()
            .map_err(|_| anyhow::anyhow!("key set poisoned"))?;
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(set.signing_kid.clone());
        header.typ = Some(ACCESS_TYP.to_owned());
        let claims = AccessClaims {
            iss: self.issuer.clone(),
            aud: AUDIENCE.to_owned(),
            sub: user_id.to_owned(),
            sid: session_id.to_owned(),
            jti: uuid::Uuid::new_v4().to_string(),
            iat: now,
            exp: now + ttl_secs,
            roles: roles.to_vec(),
            preferred_username: username.to_owned(),
            token_use: TOKEN_USE_ACCESS.to_owned(),
            cnf: jkt.map(|jkt| Confirmation {
                jkt: jkt.to_owned(),
            }),
        };
        Ok(jsonwebtoken::encode(&header, &claims, &set.signing)?)
    }

    /// Verifies signature, algorithm, kid, typ, iss, aud, exp and token kind. Does not check
    /// revocation (see `revocation::RevokedSessions`).
    pub fn verify(&self, token: &str, now: i64) -> Result<AccessClaims, &'static str> {
        let generation = self.generation();
        if let Ok(cache) = self.cache.lock() {
            if let Some((g, c)) = cache.get(token) {
                if *g == generation && c.exp > now {
                    return Ok(c.clone());
                }
            }
        }
        // The entry is tagged with the generation of the key set that verified it, read under
        // the same lock as the key: a reload that revokes the key between this verification and
        // the insert below leaves an entry no lookup will accept.
        let (generation, claims) = self.verify_uncached(token, now)?;
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= self.cache_max {
                cache.retain(|_, (g, c)| *g == generation && c.exp > now);
                if cache.len() >= self.cache_max {
                    cache.clear();
                }
            }
            cache.insert(token.to_owned(), (generation, claims.clone()));
        }
        Ok(claims)
    }

    fn generation(&self) -> u64 {
        self.set.read().map(|s| s.generation).unwrap_or(u64::MAX)
    }

    fn verify_uncached(&self, token: &str, now: i64) -> Result<(u64, AccessClaims), &'static str> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| "malformed token")?;
        // Pin the algorithm before looking at anything else: alg:none, HS256-with-the-public-key
        // and every other algorithm confusion stop here.
        if header.alg != Algorithm::EdDSA {
            return Err("unexpected token algorithm");
        }
        if header.typ.as_deref() != Some(ACCESS_TYP) {
            return Err("not an access token");
        }
        let kid = header.kid.ok_or("token has no key id")?;
        let set = self.set.read().map_err(|_| "key set unavailable")?;
        let key = set
            .verifying
            .iter()
            .find(|k| k.kid == kid)
            .ok_or("unknown signing key")?;
        let mut v = Validation::new(Algorithm::EdDSA);
        v.set_audience(&[AUDIENCE]);
        v.set_issuer(&[&self.issuer]);
        v.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        // Signer and verifier are the same process: no clock skew to forgive, and a leeway
        // would silently stretch every token's life.
        v.leeway = 0;
        let data =
            jsonwebtoken::decode::<AccessClaims>(token, &key.key, &v).map_err(|e| {
                match e.kind() {
                    jsonwebtoken::errors::ErrorKind::ExpiredSignature => "token expired",
                    jsonwebtoken::errors::ErrorKind::InvalidAudience => {
                        "token is for another audience"
                    }
                    jsonwebtoken::errors::ErrorKind::InvalidIssuer => {
                        "token is from another issuer"
                    }
                    jsonwebtoken::errors::ErrorKind::InvalidSignature => "bad token signature",
                    _ => "invalid token",
                }
            })?;
        let claims = data.claims;
        if claims.token_use != TOKEN_USE_ACCESS {
            return Err("not an access token");
        }
        if claims.exp <= now {
            return Err("token expired");
        }
        // We never issue a token that expires further ahead than one access lifetime from now;
        // one that does was minted elsewhere (with a leaked key) and is refused however valid its
        // signature. (`exp` against the clock, not against `iat`, which its author also picks.)
        if claims.exp > now.saturating_add(self.access_ttl) {
            return Err("token lives longer than this server issues");
        }
        Ok((set.generation, claims))
    }

    /// The public keys as a JWKS document.
    pub fn jwks(&self) -> serde_json::Value {
        let set = match self.set.read() {
            Ok(s) => s,
            Err(_) => return serde_json::json!({ "keys": [] }),
        };
        let keys: Vec<_> = set
            .verifying
            .iter()
            .map(|k| {
                serde_json::json!({
                    "kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig",
                    "kid": k.kid, "x": k.x,
                })
            })
            .collect();
        serde_json::json!({ "keys": keys })
    }
}

/// A fresh random signing key.
pub fn generate_key(now: i64) -> KeyRow {
    let mut seed = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut seed);
    let public = SigningKey::from_bytes(&seed).verifying_key().to_bytes();
    let mut kid_bytes = [0u8; 12];
    rand::rngs::OsRng.fill_bytes(&mut kid_bytes);
    KeyRow {
        kid: URL_SAFE_NO_PAD.encode(kid_bytes),
        seed: seed.to_vec(),
        public_key: public.to_vec(),
        created_at: now,
        retired_at: None,
        revoked_at: None,
    }
}

/// The signer is the newest unretired key; a key verifies while unretired or for one access
/// lifetime after its retirement.
fn key_set(rows: &[KeyRow], now: i64, access_ttl: i64) -> anyhow::Result<KeySet> {
    let signer = rows
        .iter()
        .find(|r| r.retired_at.is_none())
        .context("no active signing key")?;
    let seed: [u8; 32] = signer
        .seed
        .as_slice()
        .try_into()
        .context("signing key seed is not 32 bytes")?;
    let verifying = rows
        .iter()
        // A revoked key verifies nothing, whatever its tokens' `exp` says.
        .filter(|r| r.revoked_at.is_none() && r.retired_at.is_none_or(|at| at + access_ttl > now))
        .map(|r| {
            let x = URL_SAFE_NO_PAD.encode(&r.public_key);
            let key = DecodingKey::from_ed_components(&x)?;
            Ok(VerifyKey {
                kid: r.kid.clone(),
                key,
                x,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(KeySet {
        generation: 0,
        fingerprint: rows
            .iter()
            .map(|r| (r.kid.clone(), r.retired_at, r.revoked_at))
            .collect(),
        signing_kid: signer.kid.clone(),
        signing: EncodingKey::from_ed_der(&pkcs8_from_seed(&seed)),
        verifying,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(rows: &[KeyRow]) -> Keys {
        Keys {
            set: RwLock::new(key_set(rows, crate::now(), 300).unwrap()),
            issuer: "http://test".into(),
            access_ttl: 300,
            cache: Mutex::new(HashMap::new()),
            cache_max: CACHE_MAX,
        }
    }

    #[test]
    fn issued_tokens_verify_and_carry_claims() {
        let k = keys(&[generate_key(0)]);
        let now = crate::now();
        let t = k
            .issue("u1", "alice", "s1", &["admin".into()], now, 300)
            .unwrap();
        let c = k.verify(&t, now).unwrap();
        assert_eq!(
            (c.sub.as_str(), c.sid.as_str(), c.exp),
            ("u1", "s1", now + 300)
        );
        assert_eq!(c.roles, vec!["admin".to_string()]);
        let header = jsonwebtoken::decode_header(&t).unwrap();
        assert_eq!(header.kid.as_deref(), Some(k.signing_kid().as_str()));
    }

    /// A token verified once (and so cached) is still refused once it expires: the cache
    /// answers only for tokens that are still within their lifetime.
    #[test]
    fn a_cached_token_is_refused_once_it_expires() {
        let k = keys(&[generate_key(0)]);
        let now = crate::now();
        let t = k.issue("u1", "alice", "s1", &[], now, 300).unwrap();
        assert!(k.verify(&t, now).is_ok());
        assert!(k.verify(&t, now + 299).is_ok());
        for later in [300, 301, 3600] {
            assert_eq!(k.verify(&t, now + later), Err("token expired"), "{later}");
        }
    }

    /// At its cap the cache drops what has expired and keeps what has not (and never grows past
    /// the cap): half the entries expire, the other half and the new one stay.
    #[test]
    fn the_verified_token_cache_is_bounded_and_keeps_the_live_half() {
        let mut k = keys(&[generate_key(0)]);
        k.cache_max = 10;
        let now = crate::now();
        let mut live = Vec::new();
        for i in 0..k.cache_max {
            // Half expire at the second the cache fills up again (150 s on), half live 300 s.
            let ttl = if i % 2 == 0 { 150 } else { 300 };
            let t = k
                .issue(&format!("u{i}"), "alice", "s1", &[], now, ttl)
                .unwrap();
            k.verify(&t, now).unwrap();
            if ttl == 300 {
                live.push(t);
            }
        }
        assert_eq!(k.cache.lock().unwrap().len(), k.cache_max);
        let t = k.issue("new", "alice", "s1", &[], now + 150, 300).unwrap();
        k.verify(&t, now + 150).unwrap();
        live.push(t);
        let cache = k.cache.lock().unwrap();
        let mut kept: Vec<&String> = cache.keys().collect();
        kept.sort();
        live.sort();
        assert_eq!(kept, live.iter().collect::<Vec<_>>());
    }

    /// Each refusal says what it is (the log and the 401's detail carry it): a token past its
    /// `exp` by the library's own check, a token of another issuer, one for another audience.
    #[test]
    fn refusals_say_why() {
        let row = generate_key(0);
        let k = keys(std::slice::from_ref(&row));
        let now = crate::now();
        let old = k.issue("u1", "alice", "s1", &[], now - 1000, 300).unwrap();
        assert_eq!(k.verify(&old, now), Err("token expired"));
        let mut other = keys(std::slice::from_ref(&row));
        other.issuer = "http://elsewhere".into();
        let t = other.issue("u1", "alice", "s1", &[], now, 300).unwrap();
        assert_eq!(k.verify(&t, now), Err("token is from another issuer"));
        // Signed by this very key, for another audience (a token minted for another API with
        // a shared key): refused, and said so.
        let t = k.issue("u1", "alice", "s1", &[], now, 300).unwrap();
        let mut claims = k.verify(&t, now).unwrap();
        claims.aud = "another-api".into();
        let set = k.set.read().unwrap();
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(set.signing_kid.clone());
        header.typ = Some(ACCESS_TYP.to_owned());
        let t = jsonwebtoken::encode(&header, &claims, &set.signing).unwrap();
        drop(set);
        assert_eq!(k.verify(&t, now), Err("token is for another audience"));
    }

    /// A retired key verifies for one access lifetime after its retirement, not a second more.
    #[test]
    fn a_retired_key_verifies_for_one_access_lifetime() {
        let mut old = generate_key(0);
        old.retired_at = Some(1_000);
        let rows = [generate_key(1), old.clone()];
        let kids = |at: i64| -> Vec<String> {
            key_set(&rows, at, 300)
                .unwrap()
                .verifying
                .into_iter()
                .map(|v| v.kid)
                .collect()
        };
        assert!(kids(1_299).contains(&old.kid));
        assert!(!kids(1_300).contains(&old.kid));
    }

    #[test]
    fn another_keys_signature_is_refused() {
        let now = crate::now();
        let a = keys(&[generate_key(0)]);
        let mut other = generate_key(0);
        other.kid = a.signing_kid();
        let b = keys(&[other]);
        let forged = b.issue("u1", "alice", "s1", &[], now, 300).unwrap();
        assert_eq!(a.verify(&forged, now), Err("bad token signature"));
    }

    #[test]
    fn a_verification_racing_a_key_revocation_is_not_cached_past_it() {
        let row = generate_key(0);
        let k = keys(std::slice::from_ref(&row));
        let now = crate::now();
        let t = k.issue("u1", "alice", "s1", &[], now, 300).unwrap();
        // A request verifies under the old set…
        let (generation, claims) = k.verify_uncached(&t, now).unwrap();
        // …the key is revoked and the set reloaded before that request caches its result…
        let mut revoked = row.clone();
        revoked.retired_at = Some(now);
        revoked.revoked_at = Some(now);
        assert!(k
            .install(key_set(&[generate_key(1), revoked], now, 300).unwrap())
            .unwrap());
        k.cache
            .lock()
            .unwrap()
            .insert(t.clone(), (generation, claims));
        // …and the late entry is not trusted.
        assert_eq!(k.verify(&t, now), Err("unknown signing key"));
    }

    /// Entries cached under earlier key sets are not trusted once the set changed, however many
    /// reloads ago (generations 0 and 1, then 2 current).
    #[test]
    fn entries_of_earlier_key_sets_are_never_trusted() {
        let row = generate_key(0);
        let k = keys(std::slice::from_ref(&row));
        let now = crate::now();
        let t = k.issue("u1", "alice", "s1", &[], now, 300).unwrap();
        let mut stale = vec![k.verify_uncached(&t, now).unwrap()];
        let mut revoked = row.clone();
        revoked.retired_at = Some(now);
        revoked.revoked_at = Some(now);
        assert!(k
            .install(key_set(&[generate_key(1), revoked.clone()], now, 300).unwrap())
            .unwrap());
        // (generation 1: the set had changed; a verification made under it, for the record)
        let (g1, c1) = stale[0].clone();
        stale.push((g1 + 1, c1));
        assert!(k
            .install(key_set(&[generate_key(2), revoked], now, 300).unwrap())
            .unwrap());
        for (generation, claims) in stale {
            k.cache
                .lock()
                .unwrap()
                .insert(t.clone(), (generation, claims));
            assert_eq!(
                k.verify(&t, now),
                Err("unknown signing key"),
                "{generation}"
            );
        }
    }

    #[test]
    fn a_token_living_longer_than_we_issue_is_refused() {
        // Only someone holding the key (a leaked one) can make such a token.
        let k = keys(&[generate_key(0)]);
        let now = crate::now();
        let t = k.issue("admin", "root", "s1", &[], now, 86_400).unwrap();
        assert_eq!(
            k.verify(&t, now),
            Err("token lives longer than this server issues")
        );
        assert!(k
            .verify(&k.issue("u", "a", "s", &[], now, 300).unwrap(), now)
            .is_ok());
    }

    #[test]
    fn expired_tokens_are_refused_even_from_cache() {
        let k = keys(&[generate_key(0)]);
        let now = crate::now();
        let t = k.issue("u1", "alice", "s1", &[], now, 10).unwrap();
        assert!(k.verify(&t, now).is_ok());
        assert!(k.verify(&t, now + 10).is_err());
    }

    #[test]
    fn any_old_key_still_verifies_and_jwks_lists_all() {
        let old = generate_key(0);
        let mut old_retired = old.clone();
        old_retired.retired_at = Some(crate::now() - 10);
        let now = crate::now();
        let before = keys(&[old]);
        let t = before.issue("u", "a", "s", &[], now, 300).unwrap();
        let after = keys(&[generate_key(1), old_retired.clone()]);
        assert!(after.verify(&t, now).is_ok());
        assert_ne!(after.signing_kid(), before.signing_kid());
        assert_eq!(after.jwks()["keys"].as_array().unwrap().len(), 2);
        // Once every token it signed has expired, the old key verifies nothing and leaves JWKS.
        let mut long_retired = old_retired.clone();
        long_retired.retired_at = Some(crate::now() - 301);
        let later = keys(&[generate_key(1), long_retired]);
        assert_eq!(later.verify(&t, now), Err("unknown signing key"));
        assert_eq!(later.jwks()["keys"].as_array().unwrap().len(), 1);
    }
}
