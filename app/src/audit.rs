//! The storage audit: every key the page can see in localStorage, sessionStorage and
//! document.cookie, each with a verdict on whether it holds a credential. Pure logic here; the
//! inspector page reads the browser and renders the result.

/// Where an entry was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    LocalStorage,
    SessionStorage,
    Cookie,
    IndexedDb,
}

impl Place {
    pub fn label(self) -> &'static str {
        match self {
            Place::LocalStorage => "localStorage",
            Place::SessionStorage => "sessionStorage",
            Place::Cookie => "document.cookie",
            Place::IndexedDb => "IndexedDB",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub place: Place,
    pub key: String,
    pub credential: bool,
    pub reason: String,
}

/// Judges one entry. `access_token` is the token currently in memory, if any: its exact value
/// anywhere is a failure, and so is anything shaped like a JWT or named like a token.
pub fn judge(place: Place, key: &str, value: &str, access_token: Option<&str>) -> Finding {
    let lower = key.to_ascii_lowercase();
    let (credential, reason) = if access_token.is_some_and(|t| !t.is_empty() && value.contains(t)) {
        (true, "contains the current access token".to_owned())
    } else if crate::auth::jwt::looks_like_jwt(value) {
        (true, "value is a JWT".to_owned())
    } else if ["token", "jwt", "bearer", "refresh", "session", "auth"]
        .iter()
        .any(|w| lower.contains(w))
    {
        (true, "key is named like a credential".to_owned())
    } else {
        (false, "not a credential".to_owned())
    };
    Finding {
        place,
        key: key.to_owned(),
        credential,
        reason,
    }
}

/// Splits `document.cookie` into (name, value) pairs.
pub fn parse_cookie_string(s: &str) -> Vec<(String, String)> {
    s.split(';')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (k.trim().to_owned(), v.trim().to_owned()),
            None => (String::new(), p.to_owned()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preferences_pass_and_tokens_fail() {
        assert!(
            !judge(
                Place::LocalStorage,
                "cloakroom.theme",
                "\"dark\"",
                Some("abc.def.ghi")
            )
            .credential
        );
        assert!(
            judge(
                Place::LocalStorage,
                "x",
                "prefix abc.def.ghi suffix",
                Some("abc.def.ghi")
            )
            .credential
        );
        assert!(judge(Place::SessionStorage, "access_token", "whatever", None).credential);
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln";
        assert!(judge(Place::Cookie, "innocent", jwt, None).credential);
    }

    #[test]
    fn cookie_string_parsing() {
        assert_eq!(
            parse_cookie_string("a=1; b=two=2;  "),
            vec![("a".into(), "1".into()), ("b".into(), "two=2".into())]
        );
        assert!(parse_cookie_string("").is_empty());
    }
}
