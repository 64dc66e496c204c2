//! When to refresh proactively.
//!
//! At about 80% of the token's lifetime: late enough not to waste refreshes, early enough that
//! a slow network or a throttled background timer still lands before expiry (and if it does
//! not, the API client's 401 → refresh → retry is the safety net).

/// Milliseconds from `now_ms` until the proactive refresh of a token issued at `issued_ms`
/// that lives `lifetime_secs`. Never negative; at least one second, so a clock oddity can't
/// make a refresh loop.
pub fn refresh_delay_ms(issued_ms: f64, lifetime_secs: u64, now_ms: f64) -> f64 {
    let lifetime_ms = lifetime_secs as f64 * 1000.0;
    let at = issued_ms + lifetime_ms * 0.8;
    (at - now_ms).max(1000.0_f64.min(lifetime_ms * 0.1))
}

/// On returning to a tab (timers are throttled in background tabs): refresh now if the token
/// is past its 80% point or already expired.
pub fn due_on_wake(issued_ms: f64, lifetime_secs: u64, now_ms: f64) -> bool {
    now_ms >= issued_ms + lifetime_secs as f64 * 1000.0 * 0.8
}

/// Whole seconds left of a token issued at `issued_ms` that lives `lifetime_secs`, for the
/// countdown: never more than the lifetime (the page's "now" ticks once a second and can lag
/// a token that arrived since), 0 once expired.
pub fn seconds_left(issued_ms: f64, lifetime_secs: u64, now_ms: f64) -> u64 {
    let left = (issued_ms + lifetime_secs as f64 * 1000.0 - now_ms) / 1000.0;
    (left.ceil().max(0.0) as u64).min(lifetime_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refreshes_at_eighty_percent() {
        assert_eq!(refresh_delay_ms(0.0, 300, 0.0), 240_000.0);
        assert_eq!(refresh_delay_ms(0.0, 300, 100_000.0), 140_000.0);
        assert_eq!(refresh_delay_ms(0.0, 5, 0.0), 4_000.0);
    }

    #[test]
    fn overdue_refreshes_soon_but_not_in_a_tight_loop() {
        assert_eq!(refresh_delay_ms(0.0, 300, 299_000.0), 1_000.0);
        assert_eq!(refresh_delay_ms(0.0, 300, 1e9), 1_000.0);
        // Very short lifetimes get a proportionally small floor, not the one-second one.
        assert_eq!(refresh_delay_ms(0.0, 5, 10_000.0), 500.0);
    }

    #[test]
    fn wake_and_countdown() {
        assert!(!due_on_wake(0.0, 300, 200_000.0));
        assert!(due_on_wake(0.0, 300, 240_000.0));
        assert_eq!(seconds_left(0.0, 10, 8_500.0), 2);
        assert_eq!(seconds_left(0.0, 10, 12_000.0), 0);
        // A "now" from before the token arrived: the full lifetime, not one second more.
        assert_eq!(seconds_left(100_000.0, 300, 99_400.0), 300);
        assert_eq!(seconds_left(100_000.0, 300, 100_000.0), 300);
        assert_eq!(seconds_left(100_000.0, 300, 100_001.0), 300);
        assert_eq!(seconds_left(100_000.0, 300, 101_000.0), 299);
    }
}
