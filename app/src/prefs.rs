//! Non-secret preferences, the only thing this app keeps in web storage (via gloo-storage).

use gloo_storage::{LocalStorage, Storage};

const THEME_KEY: &str = "cloakroom.theme";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Theme {
    Light,
    Dark,
}

pub fn theme() -> Theme {
    match LocalStorage::get::<String>(THEME_KEY).ok().as_deref() {
        Some("dark") => Theme::Dark,
        _ => Theme::Light,
    }
}

pub fn set_theme(t: Theme) {
    let _ = LocalStorage::set(THEME_KEY, if t == Theme::Dark { "dark" } else { "light" });
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
    LocalStorage::get::<f64>(SKEW_KEY).unwrap_or(0.0)
}

pub fn set_clock_skew_ms(ms: f64) {
    let _ = LocalStorage::set(SKEW_KEY, ms.round());
}
