//! JSON for the API client and the token display: one place that turns serde_json's errors
//! into readable lines.
//!
//! Pretty-printing a token's header and claims for the inspector is the browser's own
//! `JSON.stringify(…, null, 2)`: going through `serde_json::Value` instead would add its
//! generic deserializer and printer to the download, which has a size budget (`make size`
//! measures it). The host build, where unit tests run, uses serde_json for that.

use serde::{de::DeserializeOwned, Serialize};

/// Parses `text` into `T`; the error is a readable line.
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, String> {
    serde_json::from_str(text).map_err(|e| e.to_string())
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

    #[test]
    fn pretty_prints_with_two_spaces() {
        assert_eq!(
            pretty(r#"{"x":[1]}"#).unwrap(),
            "{\n  \"x\": [\n    1\n  ]\n}"
        );
        assert!(pretty("{nope").is_none());
    }
}
