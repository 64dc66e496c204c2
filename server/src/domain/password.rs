//! Passwords: 12–256 characters, not a well-known one. Wrapped so `Debug` and logs can never
//! print the value.

use std::{collections::HashSet, fmt, sync::OnceLock};

/// Django's `CommonPasswordValidator` list (BSD-3-Clause, from Royce Williams' breach corpus),
/// reduced to the entries of 12 or more characters, since shorter ones are already refused by
/// length. Compared case-insensitively, like Django does.
const COMMON: &str = include_str!("common-passwords.txt");

fn common() -> &'static HashSet<String> {
    static SET: OnceLock<HashSet<String>> = OnceLock::new();
    SET.get_or_init(|| {
        COMMON
            .lines()
            .map(|l| l.trim().to_lowercase())
            .filter(|l| !l.is_empty())
            .collect()
    })
}

pub struct Password(String);

impl Password {
    /// Parses a new password (signup, reset). `username` is refused as a password too.
    pub fn parse_new(s: &str, username: &str) -> Result<Self, String> {
        let len = s.chars().count();
        if len < 12 {
            return Err(format!(
                "password must be at least 12 characters long (got {len})"
            ));
        }
        if len > 256 {
            return Err("password must be at most 256 characters long".into());
        }
        let lower = s.to_lowercase();
        if common().contains(&lower) {
            return Err(
                "this password is in a list of commonly used passwords; choose another".into(),
            );
        }
        let mut chars = s.chars();
        let first = chars.next();
        if chars.all(|c| Some(c) == first) {
            return Err("password must not be one character repeated".into());
        }
        // The username is public, so it adds nothing to guess: what is left without it (every
        // occurrence, any case) must itself be a password of the minimum length. The old rule
        // ("the username is more than half of it") let `qa_fredqa_fred` through for `qa_fred`.
        let name = username.to_lowercase();
        let rest = if name.is_empty() {
            lower.clone()
        } else {
            lower.replace(&name, "")
        };
        if rest.chars().count() < 12 {
            return Err("password must not be mostly your username: without it, at least 12 characters must remain".into());
        }
        Ok(Self(s.to_owned()))
    }

    /// Wraps a password offered at login: only the length cap applies (an over-long value
    /// would only cost argon2 time), so old passwords keep working if rules tighten.
    pub fn for_login(s: &str) -> Self {
        Self(s.to_owned())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_rules() {
        assert!(Password::parse_new("short", "bob")
            .unwrap_err()
            .contains("at least 12"));
        assert!(Password::parse_new(&"ab".repeat(129), "bob")
            .unwrap_err()
            .contains("at most 256"));
        assert!(Password::parse_new("correct horse battery", "bob").is_ok());
    }

    #[test]
    fn common_passwords_are_refused_case_insensitively() {
        let err = Password::parse_new("Q1W2E3R4T5Y6", "bob").unwrap_err();
        assert!(err.contains("commonly used"), "{err}");
    }

    #[test]
    fn trivial_passwords_are_refused() {
        assert!(Password::parse_new("aaaaaaaaaaaaaa", "bob").is_err());
        assert!(Password::parse_new("longusername1!", "longusername").is_err());
        assert!(Password::parse_new("qa_fredqa_fred", "qa_fred").is_err());
        assert!(Password::parse_new("QA_Fred-qa_fred-QA_FRED!", "qa_fred").is_err());
        assert!(Password::parse_new("qa_fred likes long walks", "qa_fred").is_ok());
    }

    #[test]
    fn debug_never_prints_the_secret() {
        let p = Password::for_login("hunter2hunter2");
        assert!(!format!("{p:?}").contains("hunter2"));
    }
}
