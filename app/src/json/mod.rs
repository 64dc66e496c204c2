//! JSON for the API client and the token display.
//!
//! Reading is [`from_str`]: a small parser into a tree ([`parse`]), then [`FromJson`], which
//! takes each API type's fields from the tree by hand, on the host and in the browser alike, so
//! the unit tests run the code that ships. Writing (request bodies) is serde_json's compact
//! serializer, which costs the download little.
//!
//! Why by hand and not serde's derived `Deserialize` over the tree (which this module did
//! before): serde's visitors, one per type and per field name, were 20 KB of the wasm; these
//! impls are a few calls each (the client went from 154.3 to 150.x KB brotli, measured
//! 2026-12-05 with `make size`). The API types keep their serde derives for the server.
//!
//! Pretty-printing a token's header and claims for the inspector is the browser's own
//! `JSON.stringify(…, null, 2)`: going through `serde_json::Value` instead would add its
//! generic deserializer and printer to the download, which has a size budget (`make size`
//! measures it). The host build, where unit tests run, uses serde_json for that.

pub mod parse;

use api_types::{
    AdminUserInfo, Note, OidcProvider, Problem, SecurityEvent, SessionInfo, TokenResponse,
    UserCreated,
};
use parse::Value;
use serde::Serialize;

/// A value the client reads from an answer. An object's unknown members are skipped and a
/// missing one reads as `null` (so it fits an `Option` field and fails any other): what serde's
/// derive did with these types, without its code.
pub trait FromJson: Sized {
    fn from_json(v: &Value) -> Option<Self>;
}

/// Parses `text` into `T`; the error is a readable line.
pub fn from_str<T: FromJson>(text: &str) -> Result<T, String> {
    T::from_json(&parse::parse(text)?)
        .ok_or_else(|| "the answer has another shape than this app expects".to_owned())
}

/// The member `key` of an object's `members` read as `T` (`null` when absent).
pub(crate) fn field<T: FromJson>(members: &[(String, Value)], key: &str) -> Option<T> {
    T::from_json(
        members
            .iter()
            .find(|(k, _)| k == key)
            .map_or(&Value::Null, |(_, v)| v),
    )
}

impl FromJson for String {
    fn from_json(v: &Value) -> Option<Self> {
        match v {
            Value::Str(s) => Some(s.clone()),
            _ => None,
        }
    }
}

impl FromJson for bool {
    fn from_json(v: &Value) -> Option<Self> {
        match v {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }
}

impl FromJson for u64 {
    fn from_json(v: &Value) -> Option<Self> {
        match v {
            Value::Uint(n) => Some(*n),
            _ => None,
        }
    }
}

impl FromJson for u32 {
    fn from_json(v: &Value) -> Option<Self> {
        u64::from_json(v).and_then(|n| n.try_into().ok())
    }
}

impl FromJson for u16 {
    fn from_json(v: &Value) -> Option<Self> {
        u64::from_json(v).and_then(|n| n.try_into().ok())
    }
}

/// A 204's empty answer, which `api` reads as `null`.
impl FromJson for () {
    fn from_json(v: &Value) -> Option<Self> {
        matches!(v, Value::Null).then_some(())
    }
}

impl<T: FromJson> FromJson for Option<T> {
    fn from_json(v: &Value) -> Option<Self> {
        match v {
            Value::Null => Some(None),
            v => T::from_json(v).map(Some),
        }
    }
}

impl<T: FromJson> FromJson for Vec<T> {
    fn from_json(v: &Value) -> Option<Self> {
        match v {
            Value::Arr(items) => items.iter().map(T::from_json).collect(),
            _ => None,
        }
    }
}

/// `FromJson` for a struct whose fields are the object's members of the same names.
macro_rules! from_members {
    ($($t:ident { $($f:ident),* })*) => {$(
        impl FromJson for $t {
            fn from_json(v: &Value) -> Option<Self> {
                let Value::Obj(m) = v else { return None };
                Some($t { $($f: field(m, stringify!($f))?),* })
            }
        }
    )*};
}

pub(crate) use from_members;

from_members! {
    Note { id, title, body, created_at, updated_at, version }
    SessionInfo { id, created_at, last_used_at, user_agent, device, ip, current }
    AdminUserInfo { id, username, roles, created_at, last_login_at, locked_until, live_sessions }
    SecurityEvent { at, kind, reason, detail, user_id, session_id, ip }
    TokenResponse { access_token, token_type, expires_in, rotation }
    UserCreated { id, username }
    OidcProvider { name, refusal, sign_out }
}

/// A problem's `type` is `about:blank` when absent (RFC 9457 §4.2.1), and its member is named
/// `type`, which no Rust field can be.
impl FromJson for Problem {
    fn from_json(v: &Value) -> Option<Self> {
        let Value::Obj(m) = v else { return None };
        Some(Problem {
            type_: field::<Option<String>>(m, "type")?.unwrap_or_else(|| "about:blank".into()),
            title: field(m, "title")?,
            status: field(m, "status")?,
            detail: field(m, "detail")?,
            instance: field(m, "instance")?,
            retry_after: field(m, "retry_after")?,
        })
    }
}

/// Serializes `value` as compact JSON text.
///
/// The failure is a fixed sentence, not serde_json's message: its `Display` would bring every
/// parse-error message and `std::io`'s error texts into the download (about 200 bytes brotli),
/// and the client only serializes plain structs, for which serde_json does not fail.
pub fn to_string<T: Serialize>(value: &T) -> Result<String, String> {
    serde_json::to_string(value)
        .map_err(|_| "This request could not be written as JSON.".to_owned())
}

/// `text` re-printed with two-space indentation, or `None` if it is not JSON.
#[cfg(target_arch = "wasm32")]
pub fn pretty(text: &str) -> Option<String> {
    use wasm_bindgen::JsValue;
    let v = js_sys::JSON::parse(text).ok()?;
    js_sys::JSON::stringify_with_replacer_and_space(&v, &JsValue::NULL, &JsValue::from(2))
        .ok()
        .map(String::from)
}

/// `text` re-printed with two-space indentation, or `None` if it is not JSON.
#[cfg(not(target_arch = "wasm32"))]
pub fn pretty(text: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    serde_json::to_string_pretty(&v).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Serialize, Debug, PartialEq)]
    struct Shape {
        a: u64,
        b: Option<String>,
    }
    from_members! { Shape { a, b } }

    #[test]
    fn round_trips_and_reports_errors() {
        let s: Shape = from_str(r#"{"a":3,"b":null,"extra":true}"#).unwrap();
        assert_eq!(s, Shape { a: 3, b: None });
        assert_eq!(to_string(&s).unwrap(), r#"{"a":3,"b":null}"#);
        assert!(from_str::<Shape>(r#"{"a":"three"}"#).is_err());
        from_str::<()>("null").unwrap();
        assert!(from_str::<()>("{}").is_err());
    }

    /// Every api-types answer the client reads, as the server writes it (serde_json), read back
    /// by this module: the two must agree on each.
    #[test]
    fn reads_what_the_server_writes() {
        fn same<T>(v: T)
        where
            T: Serialize + FromJson + PartialEq + std::fmt::Debug,
        {
            let text = serde_json::to_string(&v).unwrap();
            assert_eq!(from_str::<T>(&text).unwrap(), v, "{text}");
        }
        let problem: api_types::Problem = serde_json::from_str(
            r#"{"type":"/api/problems/throttled","title":"Too many","status":429,"detail":"wait","retry_after":60}"#,
        )
        .unwrap();
        same(problem);
        same(api_types::TokenResponse {
            access_token: "eyJ.x.y".into(),
            token_type: "DPoP".into(),
            expires_in: 300,
            rotation: Some("rotated".into()),
        });
        same(api_types::TokenResponse {
            access_token: "eyJ.x.y".into(),
            token_type: "Bearer".into(),
            expires_in: 0,
            rotation: None,
        });
        same(vec![
            Shape {
                a: u64::MAX,
                b: Some("ü \"q\" \n".into()),
            },
            Shape { a: 0, b: None },
        ]);
        same(api_types::UserCreated {
            id: "u1".into(),
            username: "alice".into(),
        });
        same(vec![api_types::SessionInfo {
            id: "s1".into(),
            created_at: "2026-12-05T04:00:00Z".into(),
            last_used_at: "2026-12-05T04:01:00Z".into(),
            user_agent: None,
            device: "Chrome 156 on Linux".into(),
            ip: Some("::1".into()),
            current: true,
        }]);
        same(vec![api_types::Note {
            id: "n1".into(),
            title: "\u{1F9E5} coat".into(),
            body: "line\nline\t\"quoted\" \\".into(),
            created_at: "2026-12-05T04:00:00Z".into(),
            updated_at: "2026-12-05T04:00:00Z".into(),
            version: 42,
        }]);
        same(vec![api_types::AdminUserInfo {
            id: "u1".into(),
            username: "alice".into(),
            roles: vec!["admin".into(), "user".into()],
            created_at: "2026-12-05T04:00:00Z".into(),
            last_login_at: Some("2026-12-05T04:01:00Z".into()),
            locked_until: None,
            live_sessions: u32::MAX,
        }]);
        same(vec![api_types::SecurityEvent {
            at: "2026-12-05T04:00:00Z".into(),
            kind: "refresh_token_reuse".into(),
            reason: Some("replay_after_successor_used".into()),
            detail: None,
            user_id: Some("u1".into()),
            session_id: None,
            ip: None,
        }]);
        same(Vec::<Option<bool>>::from([Some(true), None]));
    }

    /// Answers of the wrong shape are refused, never read as something else: a missing required
    /// member, a member of the wrong type, a number out of the field's range or fractional, an
    /// array for an object. Unknown members are skipped whatever they hold.
    #[test]
    fn refuses_other_shapes_and_skips_unknown_members() {
        for bad in [
            r#"{"b":"x"}"#,
            r#"{"a":-1}"#,
            r#"{"a":1.5}"#,
            r#"{"a":"1"}"#,
            r#"{"a":1,"b":2}"#,
            r#"[1]"#,
            "null",
        ] {
            assert!(from_str::<Shape>(bad).is_err(), "{bad}");
        }
        let e = from_str::<Shape>(r#"{"a":1"#).unwrap_err();
        assert!(e.contains("at byte 6"), "{e}");
        let s: Shape = from_str(r#"{"x":{"y":[1.5e9,null]},"a":7,"z":-2.5}"#).unwrap();
        assert_eq!(s, Shape { a: 7, b: None });
        assert_eq!(from_str::<Vec<u64>>("[1,2,3]").map(|v| v.len()), Ok(3));
        assert!(
            from_str::<Vec<u64>>("[1,-2]").is_err(),
            "one bad item fails the list"
        );
        assert_eq!(from_str::<u32>("4294967295"), Ok(u32::MAX));
        assert!(from_str::<u32>("4294967296").is_err());
        assert!(from_str::<u16>("65536").is_err());
        assert_eq!(from_str::<bool>("false"), Ok(false));
        // A problem without `type` is about:blank; with a `type` of another kind, refused.
        let p: Problem = from_str(r#"{"title":"Nope","status":404}"#).unwrap();
        assert_eq!(
            (p.type_.as_str(), p.status, p.detail),
            ("about:blank", 404, None)
        );
        assert!(from_str::<Problem>(r#"{"type":5,"title":"x","status":400}"#).is_err());
        assert!(from_str::<Problem>(r#"{"title":"x","status":"400"}"#).is_err());
    }

    #[test]
    fn pretty_prints_with_two_spaces() {
        assert_eq!(
            pretty(r#"{"x":[1]}"#).unwrap(),
            "{\n  \"x\": [\n    1\n  ]\n}"
        );
        assert!(pretty("{nope").is_none());
    }
}
