//! Device cookies (OWASP "Slow Down Online Guessing Attacks with Device Cookies"): a browser that
//! logged in to an account successfully gets a signed, HttpOnly cookie naming that account and a
//! random device id. Login attempts that present a valid one are counted against the device's
//! own guess budget instead of the account's (`auth::throttle::Budget`). So an attacker who
//! spends an account's budget from anywhere else cannot lock the owner out of the browser they
//! use, while guesses from everywhere else stay bounded per account.
//!
//! Value: `<device id>.<HMAC-SHA256(key, folded username, device id)>`, base64url. Nothing is
//! stored server-side; the MAC makes the cookie unforgeable, and binding it to the username
//! means a cookie earned on the attacker's own account does not help against anyone else's.
//! It is no credential: holding one lets you *try* a password, never skip it.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

/// How long a device stays trusted after its last successful login.
pub const DEVICE_COOKIE_MAX_AGE_SECS: i64 = 180 * 86_400;

fn hmac(key: &[u8; 32], folded_username: &str, device_id: &str) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(b"cloakroom device cookie\0");
    mac.update(folded_username.as_bytes());
    mac.update(b"\0");
    mac.update(device_id.as_bytes());
    mac
}

fn mac(key: &[u8; 32], folded_username: &str, device_id: &str) -> String {
    URL_SAFE_NO_PAD.encode(
        hmac(key, folded_username, device_id)
            .finalize()
            .into_bytes(),
    )
}

/// A new device cookie value for `folded_username`.
pub fn issue(key: &[u8; 32], folded_username: &str) -> String {
    let mut raw = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    let id = URL_SAFE_NO_PAD.encode(raw);
    let tag = mac(key, folded_username, &id);
    format!("{id}.{tag}")
}

/// The device id in `value` if it is a genuine device cookie for `folded_username`.
pub fn verify(key: &[u8; 32], folded_username: &str, value: &str) -> Option<String> {
    let (id, tag) = value.split_once('.')?;
    if id.len() != 22 || tag.len() != 43 {
        return None;
    }
    let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
    // `verify_slice` compares in constant time.
    hmac(key, folded_username, id).verify_slice(&tag).ok()?;
    Some(id.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cookie_is_valid_only_for_its_account_and_key() {
        let key = [7u8; 32];
        let c = issue(&key, "alice");
        assert!(verify(&key, "alice", &c).is_some());
        assert!(verify(&key, "mallory", &c).is_none());
        assert!(verify(&[8u8; 32], "alice", &c).is_none());
        let (id, _) = c.split_once('.').unwrap();
        let forged = format!("{id}.{}", mac(&key, "mallory", id));
        assert!(verify(&key, "alice", &forged).is_none());
        assert!(verify(&key, "alice", "junk").is_none());
        assert!(verify(&key, "alice", &format!("{c}x")).is_none());
    }

    #[test]
    fn issue_and_verify_agree_on_the_mac() {
        let key = [1u8; 32];
        let c = issue(&key, "bob");
        let (id, tag) = c.split_once('.').unwrap();
        assert_eq!(tag, mac(&key, "bob", id));
        assert_ne!(issue(&key, "bob"), c, "every login gets a new device id");
    }
}
