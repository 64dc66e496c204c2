//! Decoding an access token's header and claims for display (the inspector, the countdown).
//! Never used to trust anything: the server verifies every token; the client only reads.

use crate::json::{
    field, from_members,
    parse::{parse, Value},
    FromJson,
};

/// Decodes unpadded base64url (RFC 4648 §5), the JWT segment encoding.
pub fn base64url_decode(input: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(input.len() * 3 / 4);
    let mut buf: u32 = 0;
    let mut bits = 0;
    for c in input.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            b'=' => break,
            _ => return None,
        };
        buf = (buf << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
            buf &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// The readable parts of a JWT: the segments as the token carries them (JSON text, for
/// display) and the few fields the app reads.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    pub header_json: String,
    pub claims_json: String,
    pub header: Header,
    pub claims: Claims,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    pub alg: Option<String>,
    pub kid: Option<String>,
    pub typ: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Claims {
    pub sub: Option<String>,
    pub preferred_username: Option<String>,
    pub exp: Option<i64>,
    pub iat: Option<i64>,
    pub roles: Vec<String>,
    /// DPoP binding (RFC 9449 §6): the thumbprint of the key every use must prove.
    pub cnf: Option<Cnf>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Cnf {
    pub jkt: String,
}

from_members! { Cnf { jkt } }

pub fn decode(token: &str) -> Option<Decoded> {
    let mut parts = token.split('.');
    let (h, c, _sig) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let header_json = String::from_utf8(base64url_decode(h)?).ok()?;
    let claims_json = String::from_utf8(base64url_decode(c)?).ok()?;
    let (Value::Obj(h), Value::Obj(c)) = (parse(&header_json).ok()?, parse(&claims_json).ok()?)
    else {
        return None;
    };
    // Read by hand from the parsed tree (`json::FromJson`), not by a serde derive: that cost
    // the download 2.4 KB brotli for these six fields. A member of the wrong type reads as
    // absent, which is all a display needs.
    let int = |key: &str| field::<u64>(&c, key).and_then(|n| i64::try_from(n).ok());
    Some(Decoded {
        header: Header {
            alg: field(&h, "alg"),
            kid: field(&h, "kid"),
            typ: field(&h, "typ"),
        },
        claims: Claims {
            sub: field(&c, "sub"),
            preferred_username: field(&c, "preferred_username"),
            exp: int("exp"),
            iat: int("iat"),
            roles: field(&c, "roles").unwrap_or_default(),
            cnf: field(&c, "cnf"),
        },
        header_json,
        claims_json,
    })
}

/// Whether `s` has the shape of a JWT (three base64url segments, the first decoding to a JSON
/// object with `alg`): used by the storage audit to spot tokens under any key name.
pub fn looks_like_jwt(s: &str) -> bool {
    let s = s.trim().trim_matches('"');
    decode(s).is_some_and(|d| d.header.alg.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    // {"alg":"EdDSA","typ":"at+jwt","kid":"k1"} . {"sub":"u1","exp":2000,"iat":1700,"roles":["admin"]} . sig
    const TOKEN: &str = "eyJhbGciOiJFZERTQSIsInR5cCI6ImF0K2p3dCIsImtpZCI6ImsxIn0.eyJzdWIiOiJ1MSIsImV4cCI6MjAwMCwiaWF0IjoxNzAwLCJyb2xlcyI6WyJhZG1pbiJdfQ.c2ln";

    #[test]
    fn base64url_round_trips_known_vectors() {
        assert_eq!(base64url_decode("").unwrap(), b"");
        assert_eq!(base64url_decode("Zg").unwrap(), b"f");
        assert_eq!(base64url_decode("Zm9vYmFy").unwrap(), b"foobar");
        assert_eq!(base64url_decode("-_8").unwrap(), vec![0xfb, 0xff]);
        assert_eq!(
            base64url_decode("Zg==").unwrap(),
            b"f",
            "padding, if any, ends it"
        );
        assert!(
            base64url_decode("a+b/").is_none(),
            "standard alphabet is not base64url"
        );
    }

    #[test]
    fn decodes_header_and_claims() {
        let d = decode(TOKEN).unwrap();
        assert_eq!(d.header.alg.as_deref(), Some("EdDSA"));
        assert_eq!(d.header.kid.as_deref(), Some("k1"));
        assert_eq!(d.claims.exp, Some(2000));
        assert_eq!(d.claims.iat, Some(1700));
        assert_eq!(d.claims.sub.as_deref(), Some("u1"));
        assert_eq!(d.claims.preferred_username, None);
        assert_eq!(d.claims.roles, vec!["admin".to_string()]);
        assert!(d.claims_json.contains(r#""roles":["admin"]"#));
        assert_eq!(d.claims.cnf, None);
    }

    #[test]
    fn reads_the_dpop_binding_and_ignores_members_of_the_wrong_type() {
        // {"cnf":{"jkt":"abc"},"exp":"soon","roles":"admin","sub":7}
        let claims =
            "eyJjbmYiOnsiamt0IjoiYWJjIn0sImV4cCI6InNvb24iLCJyb2xlcyI6ImFkbWluIiwic3ViIjo3fQ";
        let d = decode(&format!("eyJhbGciOiJFZERTQSJ9.{claims}.c2ln")).unwrap();
        assert_eq!(d.claims.cnf, Some(Cnf { jkt: "abc".into() }));
        assert_eq!(
            (d.claims.exp, d.claims.sub, d.claims.roles.len()),
            (None, None, 0)
        );
        assert!(
            decode("eyJhbGciOiJFZERTQSJ9.WzFd.c2ln").is_none(),
            "claims that are no object"
        );
    }

    #[test]
    fn rejects_non_jwts() {
        assert!(decode("abc").is_none());
        assert!(decode("a.b.c.d").is_none());
        assert!(!looks_like_jwt("dark"));
        assert!(!looks_like_jwt("a.b.c"));
        assert!(looks_like_jwt(TOKEN));
        assert!(looks_like_jwt(&format!("\"{TOKEN}\"")));
    }
}
