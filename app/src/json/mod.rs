//! JSON for the API client and the token display, with readable error lines.
//!
//! Reading is [`parse`]: a small parser into a tree, then serde over the tree, on the host and in
//! the browser alike, so the unit tests run the code that ships. Writing (request bodies) is
//! serde_json's compact serializer, which costs the download little.
//!
//! Pretty-printing a token's header and claims for the inspector is the browser's own
//! `JSON.stringify(…, null, 2)`: going through `serde_json::Value` instead would add its
//! generic deserializer and printer to the download, which has a size budget (`make size`
//! measures it). The host build, where unit tests run, uses serde_json for that.

pub mod parse;

use serde::{de::DeserializeOwned, Serialize};

/// Parses `text` into `T`; the error is a readable line.
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, String> {
    T::deserialize(parse::parse(text)?).map_err(|e| e.to_string())
}

/// Serializes `value` as compact JSON text.
pub fn to_string<T: Serialize>(value: &T) -> Result<String, String> {
    serde_json::to_string(value).map_err(|e| e.to_string())
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

    #[derive(serde::Deserialize, serde::Serialize, Debug, PartialEq)]
    struct Shape {
        a: u64,
        b: Option<String>,
    }

    #[test]
    fn round_trips_and_reports_errors() {
        let s: Shape = from_str(r#"{"a":3,"b":null,"extra":true}"#).unwrap();
        assert_eq!(s, Shape { a: 3, b: None });
        assert_eq!(to_string(&s).unwrap(), r#"{"a":3,"b":null}"#);
        assert!(from_str::<Shape>(r#"{"a":"three"}"#).is_err());
        from_str::<()>("null").unwrap();
    }

    /// Every api-types answer the client reads, as the server writes it (serde_json), read back
    /// by this module's parser: the two must agree on each.
    #[test]
    fn reads_what_the_server_writes() {
        fn same<T>(v: T)
        where
            T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug,
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
        same(api_types::Me {
            id: "u1".into(),
            username: "alice".into(),
            roles: vec!["admin".into()],
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
            roles: vec![],
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
        same(Some(-5i64));
        #[derive(serde::Deserialize, serde::Serialize, Debug, PartialEq)]
        struct Id(String);
        same(Id("x".into()));
        same(Vec::<Option<bool>>::from([Some(true), None]));
    }

    #[test]
    fn reports_type_errors_readably_and_skips_unknown_members() {
        let e = from_str::<Shape>(r#"{"a":-1}"#).unwrap_err();
        assert!(
            e.contains("invalid value") || e.contains("invalid type"),
            "{e}"
        );
        let e = from_str::<Shape>(r#"{"a":1.5}"#).unwrap_err();
        assert!(e.contains("fractional"), "{e}");
        let e = from_str::<Shape>(r#"{"b":"x"}"#).unwrap_err();
        assert!(e.contains("missing field `a`"), "{e}");
        let e = from_str::<Shape>(r#"{"a":1,"a":2}"#).unwrap_err();
        assert!(e.contains("duplicate field `a`"), "{e}");
        let e = from_str::<Shape>(r#"{"a":1"#).unwrap_err();
        assert!(e.contains("at byte 6"), "{e}");
        // Unknown members are skipped whatever they hold, fractions included.
        let s: Shape = from_str(r#"{"x":{"y":[1.5e9,null]},"a":7,"z":-2.5}"#).unwrap();
        assert_eq!(s, Shape { a: 7, b: None });
        let e = from_str::<Vec<u64>>("[1,2,3]").map(|v| v.len());
        assert_eq!(e, Ok(3));
        assert!(
            from_str::<(u64,)>("[1,2]").is_err(),
            "trailing tuple items are refused"
        );
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
