//! Usernames: 3–32 characters of `[A-Za-z0-9_.-]`, unique case-insensitively.

/// A well-formed username, as the user typed it (case kept for display).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    pub fn parse(s: &str) -> Result<Self, String> {
        let len = s.chars().count();
        if !(3..=32).contains(&len) {
            return Err(format!(
                "username must be 3 to 32 characters long (got {len})"
            ));
        }
        if let Some(bad) = s
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || "_.-".contains(*c)))
        {
            return Err(format!(
                "username may contain only letters A-Z, digits, '_', '.' and '-' (found {bad:?})"
            ));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key that uniqueness and login throttling use.
    pub fn folded(&self) -> String {
        fold(&self.0)
    }
}

/// [`Username::folded`] of a name already stored (so already valid): an admin's view of an
/// account's guess budget.
pub fn fold(name: &str) -> String {
    name.to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_allowed_alphabet() {
        for ok in ["abc", "Alice_1", "a.b-c", &"x".repeat(32)] {
            assert!(Username::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn rejects_length_and_characters() {
        for bad in [
            "",
            "ab",
            &"x".repeat(33),
            "has space",
            "émile",
            "a/b",
            "semi;colon",
        ] {
            assert!(Username::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn folding_is_case_insensitive() {
        assert_eq!(Username::parse("AlIcE").unwrap().folded(), "alice");
    }
}
