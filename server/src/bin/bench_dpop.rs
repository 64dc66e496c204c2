//! DPoP proofs for `make bench` (the `/api/me` with DPoP row): wrk cannot sign, so the proofs
//! are made up front, one per request, by keys derived from a seed. Many keys, because the
//! server remembers at most 1,000 live proof ids per key (`auth::dpop`).
//!
//!     bench-dpop login  <seed-hex> <url> <keys> <iat>            one login proof per key
//!     bench-dpop proofs <seed-hex> <url> <per-key> <iat> [nonce] < tokens
//!                                                      "token proof" lines, keys in turn
//!
//! `tokens` has key i's access token on line i (from logging in with its proof); `nonce` is the
//! server's current `DPoP-Nonce` (the run must end within two nonce periods).

use std::io::{BufRead, Write};

use base64::{engine::general_purpose::URL_SAFE_NO_PAD as B64, Engine};
use ed25519_dalek::{Signer, SigningKey};
use sha2::{Digest, Sha256};

fn key(seed: &str, i: usize) -> SigningKey {
    let bytes: [u8; 32] = Sha256::digest(format!("{seed}/{i}")).into();
    SigningKey::from_bytes(&bytes)
}

fn proof(
    k: &SigningKey,
    htm: &str,
    htu: &str,
    iat: i64,
    token: Option<&str>,
    nonce: Option<&str>,
) -> String {
    let x = B64.encode(k.verifying_key().as_bytes());
    let header = format!(
        r#"{{"typ":"dpop+jwt","alg":"EdDSA","jwk":{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}}}"#
    );
    let ath = token
        .map(|t| format!(r#","ath":"{}""#, B64.encode(Sha256::digest(t.as_bytes()))))
        .unwrap_or_default();
    let nonce = nonce
        .map(|n| format!(r#","nonce":"{n}""#))
        .unwrap_or_default();
    let claims = format!(
        r#"{{"jti":"{}","htm":"{htm}","htu":"{htu}","iat":{iat}{ath}{nonce}}}"#,
        uuid::Uuid::new_v4()
    );
    let input = format!("{}.{}", B64.encode(header), B64.encode(claims));
    let sig = k.sign(input.as_bytes());
    format!("{input}.{}", B64.encode(sig.to_bytes()))
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: bench-dpop login|proofs <seed> <url> <n> <iat> [nonce]";
    anyhow::ensure!(args.len() == 5 || args.len() == 6, "{usage}");
    let nonce = args.get(5).map(String::as_str);
    let (seed, url, n, iat): (&str, &str, usize, i64) =
        (&args[1], &args[2], args[3].parse()?, args[4].parse()?);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    match args[0].as_str() {
        "login" => {
            for i in 0..n {
                writeln!(
                    out,
                    "{}",
                    proof(&key(seed, i), "POST", url, iat, None, None)
                )?;
            }
        }
        "proofs" => {
            let tokens: Vec<String> = std::io::stdin().lock().lines().collect::<Result<_, _>>()?;
            let keys: Vec<SigningKey> = (0..tokens.len()).map(|i| key(seed, i)).collect();
            for _ in 0..n {
                for (k, t) in keys.iter().zip(&tokens) {
                    writeln!(out, "{t} {}", proof(k, "GET", url, iat, Some(t), nonce))?;
                }
            }
        }
        _ => anyhow::bail!("{usage}"),
    }
    Ok(())
}
