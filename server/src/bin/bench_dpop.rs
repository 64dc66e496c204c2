//! DPoP proofs for `make bench` (the `/api/me` with DPoP row): wrk cannot sign, so the proofs
//! are made up front, one per request, by keys derived from a seed. Many keys, because the
//! server remembers at most 1,000 live proof ids per key (`auth::dpop`).
//!
//!     bench-dpop login  <seed-hex> <url> <keys> <iat>            one login proof per key
//!     bench-dpop proofs <seed-hex> <url> <per-key> <iat> [nonce] < tokens
//!                                                      "token proof" lines, keys in turn
//!     bench-dpop refresh <seed-hex> <url> <keys> <iat> [nonce] < cookies
//!                                                      "cookie proof" lines, keys in turn
//!
//!     bench-dpop cost <n>                           in-process cost of each step of a DPoP check
//!     bench-dpop argon2 <m-kib> <secs>              password hashes per second, in process
//!
//! `tokens` has key i's access token on line i (from logging in with its proof); `nonce` is the
//! server's current `DPoP-Nonce` (the run must end within two nonce periods). `refresh` pairs
//! each refresh cookie of DPoP-bound sessions (`bench-seed … dpop`) with a POST proof for the
//! refresh URL, as a browser's refresh carries (the cookie is not bound to a key: any of the
//! `keys` will do, each used for at most 1,000 proofs). `cost` prints the
//! microseconds of one Ed25519 `verify_strict` and of each step the server takes for a proof
//! (`auth::dpop::verify`, the replay cache, the nonce), each the median of 5 runs of `n`, so the
//! figures come from one run on one machine (`make bench` prints them beside the HTTP ones).

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

/// Median microseconds per call of `f` over `n` calls, of 5 runs.
fn per_call(n: usize, mut f: impl FnMut(usize)) -> f64 {
    let mut runs: Vec<f64> = (0..5)
        .map(|_| {
            let t = std::time::Instant::now();
            for i in 0..n {
                f(i);
            }
            t.elapsed().as_secs_f64() * 1e6 / n as f64
        })
        .collect();
    runs.sort_by(f64::total_cmp);
    runs[2]
}

fn cost(n: usize) {
    use cloakroom::auth::dpop;
    // As the server does before its first token (`auth::jwt_crypto`).
    assert!(cloakroom::auth::jwt_crypto::install());
    let url = "https://bench.test/api/me";
    let token = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJiZW5jaCJ9.c2lnbmF0dXJl";
    let nonces = dpop::Nonces::new([7; 32], std::time::Duration::from_secs(30));
    let now = 1_800_000_000;
    let nonce = nonces.current(now);
    // Many keys: the replay cache holds at most 1,000 live proofs of one key.
    let keys: Vec<SigningKey> = (0..64).map(|i| key("cost", i)).collect();
    let proofs: Vec<String> = (0..n)
        .map(|i| {
            proof(
                &keys[i % 64],
                "GET",
                url,
                now,
                Some(token),
                nonce.as_deref(),
            )
        })
        .collect();
    let parts: Vec<(String, ed25519_dalek::Signature)> = proofs
        .iter()
        .map(|p| {
            let (input, sig) = p.rsplit_once('.').unwrap();
            let sig: [u8; 64] = B64.decode(sig).unwrap().try_into().unwrap();
            (input.to_owned(), ed25519_dalek::Signature::from_bytes(&sig))
        })
        .collect();
    let vks: Vec<_> = keys.iter().map(SigningKey::verifying_key).collect();
    let verify_strict = per_call(n, |i| {
        vks[i % 64]
            .verify_strict(parts[i].0.as_bytes(), &parts[i].1)
            .unwrap();
    });
    let expect = dpop::Expect {
        method: "GET",
        url,
        access_token: Some(token),
        now,
    };
    let check = per_call(n, |i| {
        dpop::verify(&proofs[i], &expect).unwrap();
    });
    let checked: Vec<dpop::Checked> = proofs
        .iter()
        .map(|p| dpop::verify(p, &expect).unwrap())
        .collect();
    // A fresh cache per run: the same jti twice would be a replay.
    let mut cache = dpop::ReplayCache::default();
    let mut runs = 0;
    let replay = per_call(n, |i| {
        if i == 0 {
            cache = dpop::ReplayCache::default();
            runs += 1;
        }
        cache.record(&checked[i], now).unwrap();
    });
    let nonce_check = per_call(n, |_| {
        assert!(nonces.accepts(nonce.as_deref(), now));
    });
    println!("verify_strict (one Ed25519 signature)  {verify_strict:.1} µs");
    println!(
        "auth::dpop::verify (whole proof)       {check:.1} µs  ({:.2}x verify_strict)",
        check / verify_strict
    );
    println!("replay cache record                    {replay:.1} µs");
    // Signing one access token's input: jsonwebtoken's RustCrypto provider (which parses the
    // PKCS#8 key, deriving its public key, on every call) against the provider the server
    // installs (`auth::jwt_crypto`: the same ed25519-dalek signature, the key parsed once).
    let enc =
        jsonwebtoken::EncodingKey::from_ed_der(&cloakroom::auth::tokens::pkcs8_from_seed(&[3; 32]));
    let msg = parts[0].0.as_bytes();
    let sign_library = per_call(n, |_| {
        let s = (jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER.signer_factory)(
            &jsonwebtoken::Algorithm::EdDSA,
            &enc,
        )
        .unwrap();
        jsonwebtoken::signature::Signer::try_sign(&*s, msg).unwrap();
    });
    let sign_ours = per_call(n, |_| {
        jsonwebtoken::crypto::sign(msg, &enc, jsonwebtoken::Algorithm::EdDSA).unwrap();
    });
    println!(
        "sign an access token: library {sign_library:.1} µs, key parsed once {sign_ours:.1} µs ({:.2}x)",
        sign_ours / sign_library
    );
    println!("nonce check                            {nonce_check:.1} µs");
    println!(
        "in-process DPoP total                  {:.1} µs  ({:.2}x verify_strict)",
        check + replay + nonce_check,
        (check + replay + nonce_check) / verify_strict
    );
}

/// The argon2 limit: hashes per second through the server's own `Hasher` (one hash per core,
/// its own parameters), kept full for `secs`. A login checks one hash, so this is the most
/// logins per second the machine can check.
fn argon2_rate(m_kib: u32, secs: u64) -> anyhow::Result<()> {
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let hasher = std::sync::Arc::new(cloakroom::auth::password::Hasher::new(m_kib)?);
        let password = std::sync::Arc::new(
            cloakroom::domain::Password::parse_new("a bench passphrase 42", "bench")
                .map_err(anyhow::Error::msg)?,
        );
        let until = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        let workers = 2 * std::thread::available_parallelism().map_or(1, |n| n.get());
        let start = std::time::Instant::now();
        let tasks: Vec<_> = (0..workers)
            .map(|_| {
                let (hasher, password) = (hasher.clone(), password.clone());
                tokio::spawn(async move {
                    let mut n = 0u64;
                    while std::time::Instant::now() < until {
                        if hasher.hash(&password).await.is_ok() {
                            n += 1;
                        }
                    }
                    n
                })
            })
            .collect();
        let mut total = 0;
        for t in tasks {
            total += t.await?;
        }
        println!(
            "argon2 limit: {:.1} hashes/s ({m_kib} KiB, the server's hasher, {secs} s)",
            total as f64 / start.elapsed().as_secs_f64()
        );
        anyhow::Ok(())
    })
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("argon2") {
        let m = args.get(1).map_or(Ok(19456), |m| m.parse())?;
        let secs = args.get(2).map_or(Ok(4), |s| s.parse())?;
        return argon2_rate(m, secs);
    }
    if args.first().map(String::as_str) == Some("cost") {
        cost(args.get(1).map_or(Ok(2000), |n| n.parse())?);
        return Ok(());
    }
    let usage = "usage: bench-dpop login|proofs|refresh <seed> <url> <n> <iat> [nonce]";
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
        "refresh" => {
            let keys: Vec<SigningKey> = (0..n).map(|i| key(seed, i)).collect();
            for (i, cookie) in std::io::stdin().lock().lines().enumerate() {
                let k = &keys[i % n];
                writeln!(
                    out,
                    "{} {}",
                    cookie?,
                    proof(k, "POST", url, iat, None, nonce)
                )?;
            }
        }
        _ => anyhow::bail!("{usage}"),
    }
    Ok(())
}
