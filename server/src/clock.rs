//! The server's clock: Unix seconds from the wall clock, plus an offset that tests move forward.
//! Every expiry, grace window, idle timeout and lockout decision of a request reads it from the
//! state (`AppState::clock`), so a test can cross those boundaries exactly, without sleeping.

use std::sync::{
    atomic::{AtomicI64, Ordering},
    Arc,
};

#[derive(Clone, Debug)]
pub struct Clock {
    offset: Arc<AtomicI64>,
    /// `NOT_FROZEN`, or the second this clock stopped following the wall clock at.
    frozen_at: Arc<AtomicI64>,
}

const NOT_FROZEN: i64 = i64::MIN;

impl Default for Clock {
    fn default() -> Self {
        Self {
            offset: Arc::new(AtomicI64::new(0)),
            frozen_at: Arc::new(AtomicI64::new(NOT_FROZEN)),
        }
    }
}

impl Clock {
    /// The wall clock.
    pub fn system() -> Self {
        Self::default()
    }

    /// Seconds since the Unix epoch, as this clock sees them.
    pub fn now(&self) -> i64 {
        let base = match self.frozen_at.load(Ordering::Acquire) {
            NOT_FROZEN => crate::now(),
            at => at,
        };
        base + self.offset.load(Ordering::Acquire)
    }

    /// Stops following the wall clock: from now on only `advance` moves this clock, so a test
    /// can stand exactly one second before a boundary, then exactly on it.
    pub fn freeze(&self) {
        let _ = self.frozen_at.compare_exchange(
            NOT_FROZEN,
            crate::now(),
            Ordering::AcqRel,
            Ordering::Acquire,
        );
    }

    /// Whether only `advance` moves this clock.
    pub fn is_frozen(&self) -> bool {
        self.frozen_at.load(Ordering::Acquire) != NOT_FROZEN
    }

    /// Moves this clock (and every clone of it) `secs` forward.
    pub fn advance(&self, secs: i64) {
        self.offset.fetch_add(secs, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::Clock;

    #[test]
    fn advancing_moves_every_clone() {
        let c = Clock::system();
        let shared = c.clone();
        let before = shared.now();
        c.advance(3600);
        assert!(shared.now() >= before + 3600);
        assert!(shared.now() < before + 3600 + 60);
    }

    #[test]
    fn a_frozen_clock_moves_only_when_advanced() {
        let c = Clock::system();
        c.freeze();
        let t = c.now();
        assert_eq!(c.now(), t);
        c.advance(299);
        assert_eq!(c.now(), t + 299);
    }
}
