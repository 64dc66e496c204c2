//! Opaque refresh tokens: 256 random bits, base64url, stored only as SHA-256.
//!
//! Why opaque rather than a JWT: the server must look the token up anyway (rotation, reuse
//! detection, revocation), so a self-contained format would only add a way to be wrong. Why
//! only the hash is stored: a leaked database then yields no usable token; SHA-256 (not a slow
//! hash) suffices because the input is 256 bits of randomness, not a guessable password.
//!
//! Deterministic successors. A token's successor is `HMAC-SHA256(server secret, token)`, not a
//! fresh random value. So every presentation of one token — a burst from two tabs, a retry after
//! the answer was lost on the way (network drop, proxy 504, tab closed mid-request) — is answered
//! with the *same* successor, and whichever `Set-Cookie` the browser keeps last is a live token.
//! Nothing extra is stored (the successor's hash is derived from the presented token), and
//! "the successor has been used" stays a well-defined state:
//!
//! - presented token current → rotate; answer with its successor;
//! - presented token rotated, successor never presented → a duplicate or a retry: answer with
//!   the same successor again (recorded as `refresh_retry`, a benign event);
//! - presented token rotated, successor already used, within the short grace window → a
//!   straggler of a race, or a replay: an access token, no cookie, nothing revoked (recorded as
//!   `refresh_grace`);
//! - after that window → theft: the whole session is revoked (`refresh_token_reuse`).
//!
//! The successor is unpredictable without the server secret, which never leaves the database;
//! an attacker holding the database *and* a live plaintext token could compute that token's
//! future successors, but such an attacker can already mint access tokens with the signing keys.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use rand::RngCore;
use sha2::{Digest, Sha256};

/// A newly minted refresh token and its hash.
pub struct NewRefresh {
    pub token: String,
    pub hash: [u8; 32],
}

pub fn generate() -> NewRefresh {
    let mut raw = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    let token = URL_SAFE_NO_PAD.encode(raw);
    let hash = hash(&token);
    NewRefresh { token, hash }
}

/// The successor of `token` under `key`: always the same token for the same presented token.
pub fn successor(key: &[u8; 32], token: &str) -> NewRefresh {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(b"cloakroom refresh successor\0");
    mac.update(token.as_bytes());
    let token = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    let hash = hash(&token);
    NewRefresh { token, hash }
}

pub fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Whether a string could be one of our refresh tokens (43 base64url chars); anything else is
/// refused before touching the database.
pub fn looks_valid(token: &str) -> bool {
    token.len() == 43
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unique_and_well_formed() {
        let a = generate();
        let b = generate();
        assert_ne!(a.token, b.token);
        assert!(looks_valid(&a.token));
        assert_eq!(a.hash, hash(&a.token));
        assert!(!looks_valid("short"));
        assert!(!looks_valid(&"=".repeat(43)));
    }

    #[test]
    fn successors_are_deterministic_per_key_and_well_formed() {
        let t = generate().token;
        let (k1, k2) = ([1u8; 32], [2u8; 32]);
        let a = successor(&k1, &t);
        assert_eq!(a.token, successor(&k1, &t).token);
        assert_ne!(a.token, successor(&k2, &t).token);
        assert_ne!(a.token, successor(&k1, &generate().token).token);
        assert!(looks_valid(&a.token));
        assert_eq!(a.hash, hash(&a.token));
        // A chain never loops back onto itself.
        assert_ne!(successor(&k1, &a.token).token, a.token);
    }
}
