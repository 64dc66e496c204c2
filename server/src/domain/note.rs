//! Note fields: a title of 1–200 characters and a plain-text body of at most 64 KiB.

use api_types::{NOTE_BODY_MAX_BYTES, NOTE_TITLE_MAX_CHARS};

#[derive(Debug, Clone)]
pub struct NoteTitle(String);

impl NoteTitle {
    pub fn parse(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let n = t.chars().count();
        if n == 0 {
            return Err("title must not be empty".into());
        }
        if n > NOTE_TITLE_MAX_CHARS {
            return Err(format!(
                "title must be at most {NOTE_TITLE_MAX_CHARS} characters (got {n})"
            ));
        }
        if t.chars().any(char::is_control) {
            return Err("title must be a single line without control characters".into());
        }
        Ok(Self(t.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
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
    }

    #[test]
    fn body_bounds() {
        assert!(NoteBody::parse(&"b".repeat(64 * 1024)).is_ok());
        assert!(NoteBody::parse(&"b".repeat(64 * 1024 + 1)).is_err());
        assert!(NoteBody::parse("<script>alert(1)</script>").is_ok());
    }
}
