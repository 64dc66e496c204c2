//! Opaque refresh tokens: 256 random bits, base64url, stored only as SHA-256.
//!
//! Why opaque rather than a JWT: the server must look the token up anyway (rotation, reuse
//! detection, revocation), so a self-contained format would only add a way to be wrong. Why
//! only the hash is stored: a leaked database then yields no usable token; SHA-256 (not a slow
//! hash) suffices because the input is 256 bits of randomness, not a guessable password.
//!
//! Reuse grace: when two tabs (or a retried request) present the same token at once, the first
//! rotates it and the second arrives with a token that is, strictly, already used. Treating that
//! as theft would log the user out for doing nothing wrong (the auth0-spa-js/supabase-js
//! multi-tab bug). So within a short window after a token's own rotation, a repeat gets a fresh
//! access token but no new refresh token and revokes nothing. The window is short (10 s by
//! default) because during it a thief holding the same old token would also get an access
//! token; after it, a repeat revokes the whole session.

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
}
