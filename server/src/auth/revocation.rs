//! The in-memory set of revoked session ids, checked on every Bearer request so an access token
//! of a revoked session stops working at once instead of living out its `exp`.
//!
//! Entries are only needed while access tokens of the session can still be unexpired: one
//! access-token lifetime after revocation. The set is loaded from the store at start (so a
//! restart forgets nothing) and pruned past that horizon.

use std::{collections::HashMap, sync::RwLock};

pub struct RevokedSessions {
    by_session: RwLock<HashMap<String, i64>>,
    horizon_secs: i64,
}

impl RevokedSessions {
    pub fn new(initial: Vec<(String, i64)>, access_ttl_secs: i64) -> Self {
        Self {
            by_session: RwLock::new(initial.into_iter().collect()),
            horizon_secs: access_ttl_secs,
        }
    }

    pub fn contains(&self, session_id: &str) -> bool {
        self.by_session
            .read()
            .map(|m| m.contains_key(session_id))
            .unwrap_or(true)
    }

    pub fn insert(&self, session_id: &str, at: i64) {
        if let Ok(mut m) = self.by_session.write() {
            m.insert(session_id.to_owned(), at);
        }
    }

    /// Drops entries whose access tokens have all expired; returns how many remain.
    pub fn prune(&self, now: i64) -> usize {
        match self.by_session.write() {
            Ok(mut m) => {
                m.retain(|_, at| *at + self.horizon_secs >= now);
                m.len()
            }
            Err(_) => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_live_one_access_lifetime() {
        let r = RevokedSessions::new(vec![("a".into(), 100)], 300);
        r.insert("b", 350);
        assert!(r.contains("a") && r.contains("b") && !r.contains("c"));
        assert_eq!(r.prune(401), 1);
        assert!(!r.contains("a") && r.contains("b"));
    }
}
