//! Non-secret preferences, the only thing this app keeps in web storage (via gloo-storage).
//!
//! Stored as plain text through gloo-storage's raw `Storage`, not its JSON `get`/`set`: those
//! would bring serde_json's reader into the download (about 10 KB brotli of a 150 KB budget) for
//! two short values. The texts stay what the JSON calls wrote (`"dark"` in quotes, the skew as
//! a number), so a browser that stored them before reads them the same.

use gloo_storage::{LocalStorage, Storage};

fn read(key: &str) -> Option<String> {
    LocalStorage::raw().get_item(key).ok().flatten()
}

fn write(key: &str, value: &str) {
    let _ = LocalStorage::raw().set_item(key, value);
}

const THEME_KEY: &str = "cloakroom.theme";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Theme {
    Light,
    Dark,
}

/// The chosen theme, or, with none chosen, the system's (`prefers-color-scheme`).
pub fn theme() -> Theme {
    match read(THEME_KEY).as_deref() {
        Some("\"dark\"" | "dark") => Theme::Dark,
        Some(_) => Theme::Light,
        None => match web_sys::window()
            .and_then(|w| w.match_media("(prefers-color-scheme: dark)").ok().flatten())
        {
            Some(q) if q.matches() => Theme::Dark,
            _ => Theme::Light,
        },
    }
}

/// Runs `logout` (a request whose answer carries `Clear-Site-Data: "storage"`) and puts the
/// stored theme choice back afterwards: the header empties web storage (nothing of a session may
/// survive it), and a dark-theme user should not get a bright screen for it. The theme is the
/// one non-secret value restored; the clock skew is measured again.
pub async fn keeping_theme<T>(logout: impl std::future::Future<Output = T>) -> T {
    let stored = read(THEME_KEY);
    let answer = logout.await;
    if let Some(t) = stored {
        write(THEME_KEY, &t);
    }
    answer
}

pub fn set_theme(t: Theme) {
    write(
        THEME_KEY,
        if t == Theme::Dark {
            "\"dark\""
        } else {
            "\"light\""
        },
    );
    apply_theme(t);
}

pub fn apply_theme(t: Theme) {
    if let Some(root) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.document_element())
    {
        let _ = root.set_attribute(
            "data-theme",
            if t == Theme::Dark { "dark" } else { "light" },
        );
    }
}

const SKEW_KEY: &str = "cloakroom.clock-skew-ms";

/// How far the server's clock is from this browser's, in milliseconds, as last measured (the
/// DPoP proofs' `iat`, `api::dpop`). Not secret: the server's `Date` header tells anyone.
/// Kept so a reload's first proof is dated right on a machine whose clock is off.
pub fn clock_skew_ms() -> f64 {
    read(SKEW_KEY).map_or(0.0, |s| parse_ms(&s))
}

pub fn set_clock_skew_ms(ms: f64) {
    write(SKEW_KEY, &(ms.round() as i64).to_string());
}

/// Whole milliseconds from the stored text (`1234`, or `1234.0` as the JSON writer stored it);
/// anything else is no skew. Integers only: a float parser would cost the download more than
/// the sub-millisecond part is worth.
fn parse_ms(s: &str) -> f64 {
    let whole = s.split_once('.').map_or(s, |(w, _)| w);
    whole.trim().parse::<i64>().map_or(0.0, |ms| ms as f64)
}

#[cfg(test)]
mod tests {
    #[test]
    fn stored_skews_read_back() {
        use super::parse_ms;
        assert_eq!(parse_ms("1234"), 1234.0);
        assert_eq!(parse_ms("-86400000"), -86_400_000.0);
        assert_eq!(parse_ms("1234.0"), 1234.0);
        assert_eq!(parse_ms("nonsense"), 0.0);
        assert_eq!(parse_ms(""), 0.0);
    }
}
