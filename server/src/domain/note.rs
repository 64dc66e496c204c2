//! Note fields: a title of 1–200 characters and a plain-text body of at most 64 KiB.

use api_types::{NOTE_BODY_MAX_BYTES, NOTE_TITLE_MAX_CHARS};

#[derive(Debug, Clone)]
pub struct NoteTitle(String);

impl NoteTitle {
    /// The rules are exactly those of `NoteInput.title`'s schema in the OpenAPI document (its
    /// pattern spells the same character sets), so what the contract allows, the server takes.
    pub fn parse(s: &str) -> Result<Self, String> {
        if s.chars().any(char::is_control) {
            return Err("title must be a single line without control characters".into());
        }
        if s.chars().all(is_blank) {
            return Err("title must not be empty".into());
        }
        let n = s.chars().count();
        if n > NOTE_TITLE_MAX_CHARS {
            return Err(format!(
                "title must be at most {NOTE_TITLE_MAX_CHARS} characters (got {n})"
            ));
        }
        Ok(Self(s.trim_matches(is_blank).to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Blank as JSON Schema (ECMA-262 `\s`) counts it, control characters aside, and the
/// zero-width characters.
pub(crate) fn is_blank(c: char) -> bool {
    matches!(
        c,
        ' ' | '\u{a0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200a}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202f}'
                | '\u{205f}'
                | '\u{3000}'
                | '\u{feff}'
                // Not `\s` in JSON Schema, but they show nothing: a title of only these would be
                // an invisible note (zero-width space, non-joiner, joiner, word joiner).
                | '\u{200b}'..='\u{200d}'
                | '\u{2060}'
    )
}

#[derive(Debug, Clone)]
pub struct NoteBody(String);

impl NoteBody {
    pub fn parse(s: &str) -> Result<Self, String> {
        if s.len() > NOTE_BODY_MAX_BYTES {
            return Err(format!(
                "body must be at most {} KiB of text (got {} bytes)",
                NOTE_BODY_MAX_BYTES / 1024,
                s.len()
            ));
        }
        if s.contains('\0') {
            return Err("body must be plain text (found a NUL character)".into());
        }
        Ok(Self(s.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn title_bounds() {
        assert!(NoteTitle::parse("   ").is_err());
        assert!(NoteTitle::parse(&"t".repeat(201)).is_err());
        assert_eq!(
            NoteTitle::parse("  Shopping  ").unwrap().as_str(),
            "Shopping"
        );
        assert!(NoteTitle::parse("two\nlines").is_err());
        // The same sets as the schema's pattern: a leading tab is a control character, a
        // byte-order mark alone is blank, and the length counts what was sent.
        assert!(NoteTitle::parse("\tTabbed").is_err());
        assert!(NoteTitle::parse("\u{feff}\u{3000}").is_err());
        assert!(NoteTitle::parse(&format!(" {} ", "t".repeat(199))).is_err());
        assert_eq!(NoteTitle::parse("\u{a0}x").unwrap().as_str(), "x");
        // Only zero-width characters: a title nobody can see.
        assert!(NoteTitle::parse("\u{200b}").is_err());
        assert!(NoteTitle::parse("\u{200b}\u{2060} \u{200d}").is_err());
        assert_eq!(NoteTitle::parse("\u{200b}x").unwrap().as_str(), "x");
    }

    /// The schema's pattern (as the OpenAPI document states it) and `NoteTitle::parse` accept
    /// the same titles: every code point alone, and between letters or blanks.
    #[test]
    fn title_rules_are_exactly_the_schemas() {
        use utoipa::PartialSchema;
        let schema = serde_json::to_value(api_types::NoteInput::schema()).unwrap();
        let pattern = schema["properties"]["title"]["pattern"].as_str().unwrap();
        // The one construct the regex crate lacks: "(?![\s\S])" is its "$" (end of text).
        let rust = pattern.replace("(?![\\s\\S])", "$");
        assert_ne!(rust, pattern);
        let re = regex::Regex::new(&rust).unwrap();
        let max = schema["properties"]["title"]["maxLength"].as_u64().unwrap() as usize;
        let min = schema["properties"]["title"]["minLength"].as_u64().unwrap() as usize;
        let agree = |t: &str| {
            let n = t.chars().count();
            let by_schema = re.is_match(t) && (min..=max).contains(&n);
            assert_eq!(by_schema, NoteTitle::parse(t).is_ok(), "{t:?}");
        };
        for c in (0..=0x10FFFFu32).filter_map(char::from_u32) {
            agree(&c.to_string());
            if c.is_whitespace() || c.is_control() || (c as u32) < 0x3100 {
                agree(&format!("a{c}b"));
                agree(&format!(" {c} "));
                agree(&format!("{c}x"));
            }
        }
        agree(&"t".repeat(200));
        agree(&"t".repeat(201));
    }

    #[test]
    fn body_bounds() {
        assert!(NoteBody::parse(&"b".repeat(64 * 1024)).is_ok());
        assert!(NoteBody::parse(&"b".repeat(64 * 1024 + 1)).is_err());
        assert!(NoteBody::parse("<script>alert(1)</script>").is_ok());
    }
}
