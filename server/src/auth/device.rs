//! Device cookies (OWASP "Slow Down Online Guessing Attacks with Device Cookies"): a browser that
//! logged in to an account successfully gets a signed, HttpOnly cookie naming that account, the
//! time it was issued and a random device id. Login attempts that present a valid one are
//! counted against the device's own guess budget instead of the account's
//! (`auth::throttle::Budget`). So an attacker who spends an account's budget from anywhere else
//! cannot lock the owner out of the browser they use, while guesses from everywhere else stay
//! bounded per account.
//!
//! Value: `<device id>.<issued at>.<HMAC-SHA256(key, user id, password hash, issued at, id)>`.
//! Nothing is stored server-side; the MAC makes the cookie unforgeable, and what it covers
//! bounds what a cookie is worth:
//! - the user id: a cookie earned on the attacker's own account does not help against anyone
//!   else's;
//! - the stored password hash (which changes, with its salt, at every password change): someone
//!   who once knew the password and collected cookies then (one per login) loses every one of
//!   them, and with them every extra budget, the moment the owner changes it;
//! - the issue time: a cookie is refused after `DEVICE_COOKIE_MAX_AGE_SECS` whatever the browser
//!   kept.
//!
//! It is no credential: holding one lets you *try* a password, never skip it.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

/// How long a device stays trusted after its last successful login.
pub const DEVICE_COOKIE_MAX_AGE_SECS: i64 = 180 * 86_400;

/// What a device cookie is bound to.
pub struct Account<'a> {
    pub user_id: &'a str,
    pub password_hash: &'a str,
}

fn hmac(key: &[u8; 32], account: &Account, issued_at: i64, device_id: &str) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    for part in [
        "cloakroom device cookie",
        account.user_id,
        account.password_hash,
        &issued_at.to_string(),
        device_id,
    ] {
        mac.update(part.as_bytes());
        mac.update(b"\0");
    }
    mac
}

fn mac(key: &[u8; 32], account: &Account, issued_at: i64, device_id: &str) -> String {
    URL_SAFE_NO_PAD.encode(
        hmac(key, account, issued_at, device_id)
            .finalize()
            .into_bytes(),
    )
}

/// A new device cookie value for `account`, issued at `now`.
pub fn issue(key: &[u8; 32], account: &Account, now: i64) -> String {
    let mut raw = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    let id = URL_SAFE_NO_PAD.encode(raw);
    let tag = mac(key, account, now, &id);
    format!("{id}.{now}.{tag}")
}

/// The device id in `value` if it is a genuine, unexpired device cookie for `account`.
pub fn verify(key: &[u8; 32], account: &Account, now: i64, value: &str) -> Option<String> {
    let mut parts = value.split('.');
    let (id, issued, tag) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || id.len() != 22 || tag.len() != 43 {
        return None;
    }
    let issued: i64 = issued.parse().ok()?;
    // (A minute of leeway for an instance whose clock runs behind the one that issued it.)
    if issued > now + 60 || now - issued >= DEVICE_COOKIE_MAX_AGE_SECS {
        return None;
    }
    let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
    // `verify_slice` compares in constant time.
    hmac(key, account, issued, id).verify_slice(&tag).ok()?;
    Some(id.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE: Account = Account {
        user_id: "u-alice",
        password_hash: "$argon2id$v=19$m=64,t=2,p=1$c2FsdA$aGFzaA",
    };

    #[test]
    fn a_cookie_is_valid_only_for_its_account_and_key() {
        let key = [7u8; 32];
        let c = issue(&key, &ALICE, 1000);
        assert!(verify(&key, &ALICE, 1000, &c).is_some());
        let mallory = Account {
            user_id: "u-mallory",
            ..ALICE
        };
        assert!(verify(&key, &mallory, 1000, &c).is_none());
        assert!(verify(&[8u8; 32], &ALICE, 1000, &c).is_none());
        let mut parts = c.split('.');
        let id = parts.next().unwrap();
        let forged = format!("{id}.1000.{}", mac(&key, &mallory, 1000, id));
        assert!(verify(&key, &ALICE, 1000, &forged).is_none());
        assert!(verify(&key, &ALICE, 1000, "junk").is_none());
        assert!(verify(&key, &ALICE, 1000, &format!("{c}x")).is_none());
        assert!(verify(&key, &ALICE, 1000, &format!("{c}.x")).is_none());
    }

    /// The shape is checked before the MAC: an id or tag of another length is refused even
    /// with a MAC that matches it (the key holder's own forgery, say), so a cookie is always
    /// one 16-byte id, a time and a 32-byte tag.
    #[test]
    fn only_the_exact_shape_is_accepted() {
        let key = [3u8; 32];
        for id in ["short", "an-id-that-is-much-longer-than-22"] {
            let tag = URL_SAFE_NO_PAD.encode(hmac(&key, &ALICE, 1000, id).finalize().into_bytes());
            assert!(
                verify(&key, &ALICE, 1000, &format!("{id}.1000.{tag}")).is_none(),
                "{id}"
            );
        }
        let id = "a".repeat(22);
        let tag = URL_SAFE_NO_PAD.encode(hmac(&key, &ALICE, 1000, &id).finalize().into_bytes());
        assert!(verify(&key, &ALICE, 1000, &format!("{id}.1000.{tag}")).is_some());
    }

    #[test]
    fn a_password_change_or_age_ends_a_cookie() {
        let key = [1u8; 32];
        let c = issue(&key, &ALICE, 1000);
        let changed = Account {
            password_hash: "$argon2id$v=19$m=64,t=2,p=1$bmV3$bmV3aGFzaA",
            ..ALICE
        };
        assert!(verify(&key, &changed, 1000, &c).is_none());
        assert!(verify(&key, &ALICE, 1000 + DEVICE_COOKIE_MAX_AGE_SECS - 1, &c).is_some());
        assert!(verify(&key, &ALICE, 1000 + DEVICE_COOKIE_MAX_AGE_SECS, &c).is_none());
        assert!(
            verify(&key, &ALICE, 940, &c).is_some(),
            "a minute of clock skew"
        );
        assert!(
            verify(&key, &ALICE, 939, &c).is_none(),
            "issued in the future"
        );
        // The issue time is covered by the MAC: it cannot be moved forward to extend a cookie.
        let (id, rest) = c.split_once('.').unwrap();
        let tag = rest.split_once('.').unwrap().1;
        let moved = format!("{id}.5000.{tag}");
        assert!(verify(&key, &ALICE, 5000, &moved).is_none());
        assert_ne!(
            issue(&key, &ALICE, 1000),
            c,
            "every login gets a new device id"
        );
    }
}
