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
//! ([`observe_server_date`]), so a browser whose clock is minutes off still works.

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

thread_local! {
    // One key per tab, made once: every caller awaits the same making, so two requests at
    // start-up cannot end up with two keys (a token bound to one, proofs by the other).
    static KEY: RefCell<Option<Making>> = const { RefCell::new(None) };
    // Server time minus this tab's time, in milliseconds (`None`: not read from the saved
    // preference yet).
    static SKEW_MS: Cell<Option<f64>> = const { Cell::new(None) };
    /// The server's current DPoP nonce (RFC 9449 §9), from the last answer that had one. Not a
    /// secret (every API answer carries it), so memory is the right place and nothing keeps it.
    static NONCE: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// This tab's key, made on first use.
pub async fn key() -> Result<Rc<Key>, String> {
    let making = KEY.with(|k| {
        k.borrow_mut()
            .get_or_insert_with(|| make_key().boxed_local().shared())
            .clone()
    });
    making.await
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

/// Learns the server's clock from an answer's `Date` header (whole seconds: the middle of that
/// second is the best guess). `true` if the estimate moved by more than a second, i.e. proofs
/// made before it were dated wrong.
pub fn observe_server_date(date: &str) -> bool {
    let at = js_sys::Date::parse(date);
    if !at.is_finite() {
        return false;
    }
    let skew = at + 500.0 - js_sys::Date::now();
    let moved = (skew_ms() - skew).abs() > 1500.0;
    SKEW_MS.with(|s| s.set(Some(skew)));
    if moved {
        crate::prefs::set_clock_skew_ms(skew);
    }
    moved
}

fn skew_ms() -> f64 {
    SKEW_MS.with(|s| match s.get() {
        Some(v) => v,
        None => {
            let v = crate::prefs::clock_skew_ms();
            s.set(Some(v));
            v
        }
    })
}

/// Keeps an answer's `DPoP-Nonce` for the proofs that follow. Only a plain base64url word is
/// taken: the nonce is written into the signed claims as it is, and anything else (a proxy's
/// junk, a quote) must not be able to change what the proof says. `true` if it is a new one.
pub fn observe_nonce(nonce: &str) -> bool {
    let plain = !nonce.is_empty()
        && nonce.len() <= 128
        && nonce
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    plain && NONCE.with(|n| n.replace(Some(nonce.to_owned())).as_deref() != Some(nonce))
}

/// Now by the server's clock, Unix seconds.
fn server_now() -> i64 {
    ((js_sys::Date::now() + skew_ms()) / 1000.0) as i64
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
    let nonce = NONCE.with(|n| {
        n.borrow()
            .as_ref()
            .map(|n| format!(r#","nonce":"{n}""#))
            .unwrap_or_default()
    });
    let claims = format!(
        r#"{{"jti":"{jti}","htm":"{method}","htu":{htu},"iat":{}{ath}{nonce}}}"#,
        server_now()
    );
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
    let key = key().await.ok()?;
    let origin = web_sys::window()?.location().origin().ok()?;
    proof_with(&key, method, &format!("{origin}{path}"), token)
        .await
        .ok()
}

#[cfg(test)]
mod tests {
    use super::b64url;

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
