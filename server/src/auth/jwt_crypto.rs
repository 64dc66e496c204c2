//! jsonwebtoken's cryptography (its own RustCrypto provider) with Ed25519 signing keys parsed
//! once.
//!
//! Why: jsonwebtoken builds a signer from the `EncodingKey`'s PKCS#8 bytes on every `encode`,
//! and ed25519-dalek's `SigningKey` derives its public key there, a scalar multiplication as
//! dear as the signature itself. Every refresh and login signs one access token, so every one
//! paid for two: `make profile ENDPOINT=refresh` showed the key's parsing at 6.6% of the server's
//! CPU, and `bench-dpop cost` measures one signature at 36.7 µs through the library's provider
//! and 19.0 µs through this one (2026-12-05, 2-core dev machine).
//!
//! How, without replacing the library: jsonwebtoken takes a process-wide `CryptoProvider` (its
//! documented extension point). This one signs Ed25519 with the same ed25519-dalek call
//! jsonwebtoken makes, on keys kept parsed, and passes everything else (other algorithms, every
//! verification, the JWK helpers) to jsonwebtoken's RustCrypto provider unchanged. A cached key
//! is the very value parsing its bytes again would give, found by those exact bytes, so nothing
//! changes but the repeated work. (Verification needs no such cache here: access tokens are
//! cached once verified, `tokens::Keys`, and DPoP proofs keep their decompressed keys,
//! `dpop::ed_key`.)
//!
//! One key is kept, the last one used: the server signs with one key at a time, and a key
//! rotated away (or revoked) leaves memory at the next signature, zeroed on drop like any
//! `SigningKey`. It is found by the SHA-256 of its PKCS#8 bytes, so no copy of the secret is
//! kept beside it.

use std::sync::{Mutex, Once};

use sha2::Digest;

use ed25519_dalek::{pkcs8::DecodePrivateKey, SigningKey};
use jsonwebtoken::signature::{self, Signer};
use jsonwebtoken::{
    crypto::{rust_crypto, CryptoProvider, JwkUtils, JwtSigner},
    errors::{ErrorKind, Result},
    Algorithm, EncodingKey,
};

static PROVIDER: CryptoProvider = CryptoProvider {
    signer_factory: signer,
    verifier_factory: rust_crypto::DEFAULT_PROVIDER.verifier_factory,
    // (Every field copied: `JwkUtils` is not `Copy`, its fields are.)
    jwk_utils: JwkUtils {
        ..rust_crypto::DEFAULT_PROVIDER.jwk_utils
    },
};

/// The last signing key used, by the SHA-256 of its PKCS#8 bytes.
struct LastKey(Option<([u8; 32], SigningKey)>);

impl LastKey {
    /// The key these PKCS#8 bytes hold: the kept one if it is theirs, else parsed and kept in
    /// its place (the previous one dropped, and zeroed, here).
    fn get(&mut self, der: &[u8]) -> Result<SigningKey> {
        let id: [u8; 32] = sha2::Sha256::digest(der).into();
        if let Some((_, k)) = self.0.as_ref().filter(|(d, _)| *d == id) {
            return Ok(k.clone());
        }
        let k = SigningKey::from_pkcs8_der(der).map_err(|_| ErrorKind::InvalidEddsaKey)?;
        self.0 = Some((id, k.clone()));
        Ok(k)
    }
}

static SIGNING: Mutex<LastKey> = Mutex::new(LastKey(None));

/// Makes this provider jsonwebtoken's, for the whole process. Call before the first token is
/// signed or checked (`Keys` does, when it is built); later calls do nothing. Returns whether it
/// is in place (false only if something installed another provider first).
pub fn install() -> bool {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = PROVIDER.install_default();
    });
    // Whichever provider is in place now answers the same; only speed differs.
    matches!(PROVIDER.install_default(), Err(p) if std::ptr::eq(p, &PROVIDER))
}

fn signer(alg: &Algorithm, key: &EncodingKey) -> Result<Box<dyn JwtSigner>> {
    if *alg != Algorithm::EdDSA {
        return (rust_crypto::DEFAULT_PROVIDER.signer_factory)(alg, key);
    }
    // The family check jsonwebtoken's own signer makes, first: an Ed25519 key for EdDSA, never
    // an HMAC secret whose bytes happen to be a key's.
    if key.family() != jsonwebtoken::AlgorithmFamily::Ed {
        return Err(ErrorKind::InvalidKeyFormat.into());
    }
    let k = SIGNING
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(key.inner())?;
    Ok(Box::new(EdSigner(k)))
}

struct EdSigner(SigningKey);

impl Signer<Vec<u8>> for EdSigner {
    fn try_sign(&self, msg: &[u8]) -> std::result::Result<Vec<u8>, signature::Error> {
        Ok(ed25519_dalek::Signer::sign(&self.0, msg)
            .to_bytes()
            .to_vec())
    }
}

impl JwtSigner for EdSigner {
    fn algorithm(&self) -> Algorithm {
        Algorithm::EdDSA
    }
}

#[cfg(test)]
mod tests {
    //! The factories are called directly: which provider a test process installed first
    //! depends on test order, and these tests hold this one to the library's answers.
    use super::*;
    use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
    use jsonwebtoken::DecodingKey;

    fn key(seed: [u8; 32]) -> (EncodingKey, DecodingKey) {
        let sk = SigningKey::from_bytes(&seed);
        let der = crate::auth::tokens::pkcs8_from_seed(&seed);
        let x = URL_SAFE_NO_PAD.encode(sk.verifying_key().as_bytes());
        (
            EncodingKey::from_ed_der(&der),
            DecodingKey::from_ed_components(&x).unwrap(),
        )
    }

    fn ours(enc: &EncodingKey, msg: &[u8]) -> Vec<u8> {
        signer(&Algorithm::EdDSA, enc)
            .unwrap()
            .try_sign(msg)
            .unwrap()
    }

    fn theirs(enc: &EncodingKey, msg: &[u8]) -> Vec<u8> {
        (rust_crypto::DEFAULT_PROVIDER.signer_factory)(&Algorithm::EdDSA, enc)
            .unwrap()
            .try_sign(msg)
            .unwrap()
    }

    fn verifies(dec: &DecodingKey, msg: &[u8], sig: &[u8]) -> bool {
        (PROVIDER.verifier_factory)(&Algorithm::EdDSA, dec)
            .unwrap()
            .verify(msg, &sig.to_vec())
            .is_ok()
    }

    /// Ed25519 signatures are deterministic: ours, from a cached key, are the library's own
    /// byte for byte, first time and every time after, for each of several keys (a cache that
    /// handed one key's signer out for another would differ here).
    #[test]
    fn signatures_are_the_librarys_own() {
        for seed in [1u8, 2, 3, 1, 2, 3] {
            let (enc, _) = key([seed; 32]);
            assert_eq!(ours(&enc, b"header.claims"), theirs(&enc, b"header.claims"));
        }
    }

    /// What the cached key signs, the library's own verification accepts; another key's
    /// signature and a bent message it refuses.
    #[test]
    fn the_library_verifies_what_the_cached_key_signs() {
        let (enc, dec) = key([7; 32]);
        let (_, other) = key([8; 32]);
        for _ in 0..3 {
            let sig = ours(&enc, b"a.b");
            assert!(verifies(&dec, b"a.b", &sig));
            assert!(!verifies(&dec, b"a.c", &sig));
            assert!(!verifies(&other, b"a.b", &sig));
        }
    }

    /// Another algorithm or another key family is the library's business, and an RSA key for
    /// EdDSA is refused as the library refuses it.
    #[test]
    fn other_algorithms_and_families_go_to_the_library() {
        let hmac = EncodingKey::from_secret(b"secret");
        assert!(signer(&Algorithm::EdDSA, &hmac).is_err());
        let s = signer(&Algorithm::HS256, &hmac).unwrap();
        assert_eq!(s.algorithm(), Algorithm::HS256);
        assert!((PROVIDER.verifier_factory)(
            &Algorithm::EdDSA,
            &DecodingKey::from_secret(b"secret")
        )
        .is_err());
    }

    /// One key is kept, the last one used: a key rotated away leaves at the next signature,
    /// and a key asked for again is its own, parsed anew.
    #[test]
    fn only_the_last_key_is_kept() {
        let id = |seed: [u8; 32]| -> [u8; 32] { sha2::Sha256::digest(key(seed).0.inner()).into() };
        let mut last = LastKey(None);
        let nine = last.get(key([9; 32]).0.inner()).unwrap();
        assert_eq!(last.0.as_ref().unwrap().0, id([9; 32]));
        let ten = last.get(key([10; 32]).0.inner()).unwrap();
        assert_eq!(last.0.as_ref().unwrap().0, id([10; 32]));
        assert_ne!(nine.to_bytes(), ten.to_bytes());
        assert_eq!(
            last.get(key([10; 32]).0.inner()).unwrap().to_bytes(),
            ten.to_bytes()
        );
        assert_eq!(
            last.get(key([9; 32]).0.inner()).unwrap().to_bytes(),
            nine.to_bytes()
        );
        assert_eq!(last.0.as_ref().unwrap().0, id([9; 32]));
    }

    /// An HMAC secret whose bytes are an Ed25519 key's PKCS#8 does not sign EdDSA, cached key
    /// or not, as the library refuses it.
    #[test]
    fn an_hmac_secret_with_a_keys_bytes_does_not_sign_eddsa() {
        let (enc, _) = key([11; 32]);
        ours(&enc, b"x");
        let hmac = EncodingKey::from_secret(enc.inner());
        assert!(signer(&Algorithm::EdDSA, &hmac).is_err());
    }
}
