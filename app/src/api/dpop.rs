//! DPoP (RFC 9449) in the browser: every request this tab sends carries a proof signed by a key
//! the page can use but never read.
//!
//! The key pair is made with WebCrypto at start-up, **non-extractable**: the private key is a
//! `CryptoKey` handle whose bytes no script can export, not even this program. Ed25519 where the
//! browser has it, ECDSA P-256 (ES256) otherwise. It lives in this tab's memory only; a reload
//! makes a new one and the refresh cookie brings a token bound to it, so nothing is stored. Each
//! tab has its own key (tokens never travel between tabs either).
//!
//! What it buys (docs/security.md, "Attack lab"): an access token copied out of the page — a
//! memory scan, a log, a proxy — is useless elsewhere, because every use needs a fresh proof of
//! this key for that method, URL and token. What it does not: a script running in the page
//! while it is open can ask this very code to sign, or make a key of its own and ask
//! `/api/auth/refresh` for a token bound to that (the browser attaches the cookie). CSP is the
//! barrier against that script.
//!
//! Proofs are dated by the server's clock, learned from the `Date` of every answer
//! ([`ClientState::observe_server_time`]), so a browser whose clock is minutes off still works.

use std::{
    cell::{Cell, RefCell},
    rc::Rc,
};

use futures::future::{FutureExt, LocalBoxFuture, Shared};
use js_sys::{Array, Object, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{CryptoKey, SubtleCrypto};

/// This tab's key: the private half as an opaque handle, the public half as the JWK that goes
/// into every proof's header.
pub struct Key {
    private: CryptoKey,
    /// JWS `alg`: `EdDSA` or `ES256`.
    pub alg: &'static str,
    /// The public key as JSON (`{"crv":…,"kty":…,"x":…}`): no private member, ever.
    pub jwk: String,
}

impl Key {
    /// Whether the browser says the private key can be exported (it must say no).
    pub fn extractable(&self) -> bool {
        self.private.extractable()
    }
}

type Making = Shared<LocalBoxFuture<'static, Result<Rc<Key>, String>>>;

/// What the API client keeps between requests, in one value: this tab's key, its estimate of
/// the server's clock, and the server's current DPoP nonce. The app uses the tab's one
/// ([`client`]); a test makes its own with `default()`.
#[derive(Default)]
pub struct ClientState {
    /// The key, made once: every caller awaits the same making, so two requests at start-up
    /// cannot end up with two keys (a token bound to one, proofs by the other).
    key: RefCell<Option<Making>>,
    /// Server time minus this tab's time, in milliseconds (`None`: not read from the saved
    /// preference yet).
    skew_ms: Cell<Option<f64>>,
    /// The server's current nonce (RFC 9449 §9), from the last answer that had one. Not a
    /// secret (every API answer carries it), so memory is the right place and nothing keeps it.
    nonce: RefCell<Option<String>>,
    /// Whether the clock estimate is kept in the preferences (a reload then dates its first
    /// proof right): the tab's state does, a test's does not.
    saved: bool,
}

thread_local! {
    // The tab's client state: a per-document value (the wasm module runs on one thread).
    static CLIENT: Rc<ClientState> = Rc::new(ClientState {
        saved: true,
        ..Default::default()
    });
}

/// The tab's API client state.
pub fn client() -> Rc<ClientState> {
    CLIENT.with(Rc::clone)
}

/// This tab's key, made on first use.
pub async fn key() -> Result<Rc<Key>, String> {
    client().key().await
}

impl ClientState {
    /// This state's key, made on first use.
    pub async fn key(&self) -> Result<Rc<Key>, String> {
        let making = self
            .key
            .borrow_mut()
            .get_or_insert_with(|| make_key().boxed_local().shared())
            .clone();
        making.await
    }

    /// Learns the server's clock from an answer's `Date` (`server_ms`, whole seconds: the
    /// middle of that second is the best guess) read at `now_ms` here. `true` if the estimate
    /// moved by more than a second, i.e. proofs made before it were dated wrong.
    pub fn observe_server_time(&self, server_ms: f64, now_ms: f64) -> bool {
        if !server_ms.is_finite() {
            return false;
        }
        let skew = server_ms + 500.0 - now_ms;
        let moved = (self.skew_ms() - skew).abs() > 1500.0;
        self.skew_ms.set(Some(skew));
        if moved && self.saved {
            crate::prefs::set_clock_skew_ms(skew);
        }
        moved
    }

    fn skew_ms(&self) -> f64 {
        self.skew_ms.get().unwrap_or_else(|| {
            let v = if self.saved {
                crate::prefs::clock_skew_ms()
            } else {
                0.0
            };
            self.skew_ms.set(Some(v));
            v
        })
    }

    /// Keeps an answer's `DPoP-Nonce` for the proofs that follow. Only a plain base64url word
    /// is taken: the nonce is written into the signed claims as it is, and anything else (a
    /// proxy's junk, a quote) must not be able to change what the proof says. `true` if it is
    /// a new one.
    pub fn observe_nonce(&self, nonce: &str) -> bool {
        let plain = !nonce.is_empty()
            && nonce.len() <= 128
            && nonce
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        plain && self.nonce.replace(Some(nonce.to_owned())).as_deref() != Some(nonce)
    }

    /// Now by the server's clock, Unix seconds.
    fn server_now(&self, now_ms: f64) -> i64 {
        ((now_ms + self.skew_ms()) / 1000.0) as i64
    }

    /// The claims of a proof made at `now_ms` for `method` on `htu` (already a JSON string),
    /// with `ath` (a member or nothing) and this state's nonce, if any.
    fn claims(&self, jti: &str, method: &str, htu: &str, ath: &str, now_ms: f64) -> String {
        let nonce = self
            .nonce
            .borrow()
            .as_ref()
            .map(|n| format!(r#","nonce":"{n}""#))
            .unwrap_or_default();
        format!(
            r#"{{"jti":"{jti}","htm":"{method}","htu":{htu},"iat":{}{ath}{nonce}}}"#,
            self.server_now(now_ms)
        )
    }
}

fn subtle() -> Result<SubtleCrypto, String> {
    let crypto = web_sys::window()
        .ok_or("no window")?
        .crypto()
        .map_err(|_| "no WebCrypto")?;
    // `crypto.subtle` is undefined outside a secure context (plain http on a LAN name).
    let subtle = Reflect::get(&crypto, &"subtle".into()).map_err(|_| "no WebCrypto")?;
    if subtle.is_undefined() {
        return Err("WebCrypto needs a secure context (https or localhost)".into());
    }
    Ok(subtle.unchecked_into())
}

fn object(pairs: &[(&str, &str)]) -> Object {
    let o = Object::new();
    for (k, v) in pairs {
        let _ = Reflect::set(&o, &(*k).into(), &(*v).into());
    }
    o
}

fn get(o: &JsValue, k: &str) -> Option<String> {
    Reflect::get(o, &k.into()).ok()?.as_string()
}

/// A new non-extractable signing key pair: Ed25519, or P-256 where the browser lacks Ed25519.
pub async fn make_key() -> Result<Rc<Key>, String> {
    let subtle = subtle()?;
    let usages = Array::of1(&"sign".into());
    for (alg, params) in [
        ("EdDSA", object(&[("name", "Ed25519")])),
        (
            "ES256",
            object(&[("name", "ECDSA"), ("namedCurve", "P-256")]),
        ),
    ] {
        // `false`: not extractable. The browser keeps the private key's bytes to itself.
        let Ok(promise) = subtle.generate_key_with_object(&params, false, &usages) else {
            continue;
        };
        let Ok(pair) = JsFuture::from(promise).await else {
            continue;
        };
        let private: CryptoKey = Reflect::get(&pair, &"privateKey".into())
            .map_err(|_| "no private key")?
            .unchecked_into();
        let public: CryptoKey = Reflect::get(&pair, &"publicKey".into())
            .map_err(|_| "no public key")?
            .unchecked_into();
        let exported = subtle
            .export_key("jwk", &public)
            .map_err(|_| "cannot export the public key")?;
        let jwk = JsFuture::from(exported)
            .await
            .map_err(|_| "cannot export the public key")?;
        let (kty, crv, x) = (get(&jwk, "kty"), get(&jwk, "crv"), get(&jwk, "x"));
        let (Some(kty), Some(crv), Some(x)) = (kty, crv, x) else {
            return Err("the public key has no JWK".into());
        };
        // Only the public members, named one by one: nothing private can slip in.
        let jwk = match get(&jwk, "y") {
            Some(y) => format!(r#"{{"crv":"{crv}","kty":"{kty}","x":"{x}","y":"{y}"}}"#),
            None => format!(r#"{{"crv":"{crv}","kty":"{kty}","x":"{x}"}}"#),
        };
        return Ok(Rc::new(Key { private, alg, jwk }));
    }
    Err("this browser can make neither an Ed25519 nor a P-256 key".into())
}

/// base64url without padding (RFC 7515).
pub fn b64url(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

async fn promised_bytes(p: Result<js_sys::Promise, JsValue>) -> Result<Vec<u8>, String> {
    let v = JsFuture::from(p.map_err(|_| "WebCrypto refused")?)
        .await
        .map_err(|_| "WebCrypto failed")?;
    Ok(Uint8Array::new(&v).to_vec())
}

/// A proof of `key` for `method` on `url`, bound to `token` (`ath`) when one is sent with it.
pub async fn proof_with(
    key: &Key,
    method: &str,
    url: &str,
    token: Option<&str>,
) -> Result<String, String> {
    let subtle = subtle()?;
    let ath = match token {
        Some(t) => format!(
            r#","ath":"{}""#,
            b64url(
                &promised_bytes(subtle.digest_with_str_and_u8_array("SHA-256", t.as_bytes()))
                    .await?
            )
        ),
        None => String::new(),
    };
    let jti = web_sys::window()
        .ok_or("no window")?
        .crypto()
        .map_err(|_| "no WebCrypto")?
        .random_uuid();
    let header = format!(
        r#"{{"typ":"dpop+jwt","alg":"{}","jwk":{}}}"#,
        key.alg, key.jwk
    );
    let htu = crate::json::to_string(&url)?;
    let claims = client().claims(&jti, method, &htu, &ath, js_sys::Date::now());
    let input = format!(
        "{}.{}",
        b64url(header.as_bytes()),
        b64url(claims.as_bytes())
    );
    let algorithm = match key.alg {
        "EdDSA" => object(&[("name", "Ed25519")]),
        // WebCrypto's ECDSA signature is r‖s, exactly JWS's ES256 form.
        _ => object(&[("name", "ECDSA"), ("hash", "SHA-256")]),
    };
    let sig = promised_bytes(subtle.sign_with_object_and_u8_array(
        &algorithm,
        &key.private,
        input.as_bytes(),
    ))
    .await?;
    Ok(format!("{input}.{}", b64url(&sig)))
}

/// A proof of this tab's key for `method` on `path` of this origin, or `None` when the browser
/// cannot make keys (then the tab works with plain Bearer tokens, as before DPoP).
pub async fn proof(method: &str, path: &str, token: Option<&str>) -> Option<String> {
    let key = client().key().await.ok()?;
    let origin = web_sys::window()?.location().origin().ok()?;
    proof_with(&key, method, &format!("{origin}{path}"), token)
        .await
        .ok()
}

#[cfg(test)]
mod tests {
    use super::{b64url, ClientState};

    #[test]
    fn a_nonce_is_kept_only_when_plain_and_said_new_only_when_new() {
        let c = ClientState::default();
        assert!(c.observe_nonce("abc-_9"));
        assert!(
            !c.observe_nonce("abc-_9"),
            "the same nonce again teaches nothing"
        );
        for junk in ["", "a\"b", "a b", "a,b", &"n".repeat(129)] {
            assert!(!c.observe_nonce(junk), "{junk:?}");
        }
        let claims = c.claims("j", "GET", "\"https://x/api\"", "", 0.0);
        assert!(claims.ends_with(r#","nonce":"abc-_9"}"#), "{claims}");
        assert!(c.observe_nonce("other"));
    }

    #[test]
    fn proofs_are_dated_by_the_servers_clock() {
        let c = ClientState::default();
        // The server says 10:00:00 while this machine says 09:55:00: off by five minutes.
        assert!(c.observe_server_time(600_000_000.0, 599_700_000.0));
        let claims = c.claims("j", "POST", "\"u\"", "", 599_700_000.0);
        assert!(claims.contains(r#""iat":600000"#), "{claims}");
        // Within a second of what it thought: not a move (no retry is owed).
        assert!(!c.observe_server_time(600_001_000.0, 599_701_400.0));
        assert!(!c.observe_server_time(f64::NAN, 0.0));
        assert!(!claims.contains("nonce"), "no nonce before one is seen");
    }

    #[test]
    fn base64url_without_padding() {
        assert_eq!(b64url(b""), "");
        assert_eq!(b64url(b"f"), "Zg");
        assert_eq!(b64url(b"fo"), "Zm8");
        assert_eq!(b64url(b"foo"), "Zm9v");
        assert_eq!(b64url(b"foob"), "Zm9vYg");
        assert_eq!(b64url(&[0xfb, 0xff]), "-_8");
    }
}
