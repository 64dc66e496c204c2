//! Brute-force brakes for login and signup.
//!
//! - Per username: after N failed logins within a window, that username's logins answer 429
//!   until the oldest failure ages out, whatever password is offered (otherwise the lock would
//!   be an oracle: "429 unless the password is right"). This caps online guessing against one
//!   account at N per window regardless of how many IPs the attacker has.
//! - Per IP: a token bucket (the `governor` crate) on signup and login, against one client
//!   sweeping many usernames.
//!
//! Both are in memory: a restart forgets them, which at worst grants one more window of N
//! guesses, a fair trade against a database write on every failed login.

use std::{
    collections::{HashMap, VecDeque},
    net::{IpAddr, SocketAddr},
    num::NonZeroU32,
    sync::Mutex,
};

use axum::http::HeaderMap;
use governor::{clock::Clock, DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::error::ApiError;

pub struct LoginThrottle {
    failures: Mutex<HashMap<String, VecDeque<i64>>>,
    max_failures: usize,
    window_secs: i64,
}

impl LoginThrottle {
    pub fn new(max_failures: u32, window_secs: i64) -> Self {
        Self {
            failures: Mutex::new(HashMap::new()),
            max_failures: max_failures as usize,
            window_secs,
        }
    }

    /// `Err(429)` while `username` is locked.
    pub fn check(&self, username: &str, now: i64) -> Result<(), ApiError> {
        let mut map = self
            .failures
            .lock()
            .map_err(|_| anyhow::anyhow!("throttle poisoned"))?;
        if let Some(q) = map.get_mut(username) {
            while q.front().is_some_and(|t| *t + self.window_secs <= now) {
                q.pop_front();
            }
            if q.len() >= self.max_failures {
                let retry = q
                    .front()
                    .map(|t| t + self.window_secs - now)
                    .unwrap_or(1)
                    .max(1);
                return Err(ApiError::TooManyRequests {
                    detail: format!(
                        "too many failed logins for this account; try again in {}",
                        human_secs(retry)
                    ),
                    retry_after_secs: retry as u64,
                });
            }
            if q.is_empty() {
                map.remove(username);
            }
        }
        Ok(())
    }

    pub fn record_failure(&self, username: &str, now: i64) {
        if let Ok(mut map) = self.failures.lock() {
            // Bound memory under a spray of random usernames: drop fully aged entries first.
            if map.len() > 100_000 {
                let w = self.window_secs;
                map.retain(|_, q| q.back().is_some_and(|t| *t + w > now));
            }
            let q = map.entry(username.to_owned()).or_default();
            q.push_back(now);
            while q.len() > self.max_failures {
                q.pop_front();
            }
        }
    }

    pub fn record_success(&self, username: &str) {
        if let Ok(mut map) = self.failures.lock() {
            map.remove(username);
        }
    }
}

fn human_secs(s: i64) -> String {
    if s >= 120 {
        format!("{} minutes", (s + 59) / 60)
    } else {
        format!("{s} seconds")
    }
}

/// Per-IP token bucket for the credential-taking routes.
pub struct IpLimiter {
    limiter: DefaultKeyedRateLimiter<IpAddr>,
}

impl IpLimiter {
    pub fn per_minute(n: u32) -> Self {
        let n = NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN);
        Self {
            limiter: RateLimiter::keyed(Quota::per_minute(n)),
        }
    }

    pub fn check(&self, ip: IpAddr) -> Result<(), ApiError> {
        self.limiter.check_key(&ip).map_err(|not_until| {
            let wait = not_until.wait_time_from(governor::clock::DefaultClock::default().now());
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            ApiError::TooManyRequests {
                detail: format!(
                    "too many attempts from your network; try again in {} seconds",
                    secs.max(1)
                ),
                retry_after_secs: secs.max(1),
            }
        })
    }

    pub fn prune(&self) {
        self.limiter.retain_recent();
    }
}

/// The client's IP: the peer address, unless the peer is a trusted proxy, in which case the
/// right-most `X-Forwarded-For` entry that is not itself a trusted proxy. Trusting the header
/// from anyone would let a client pick its own IP and walk around every per-IP limit.
pub fn client_ip(peer: SocketAddr, headers: &HeaderMap, trusted: &[IpAddr]) -> IpAddr {
    let peer_ip = peer.ip();
    if !trusted.contains(&peer_ip) {
        return peer_ip;
    }
    let chain: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    chain
        .into_iter()
        .rev()
        .find(|ip| !trusted.contains(ip))
        .unwrap_or(peer_ip)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn locks_after_max_failures_and_unlocks_after_window() {
        let t = LoginThrottle::new(3, 900);
        for i in 0..3 {
            assert!(t.check("bob", 1000 + i).is_ok());
            t.record_failure("bob", 1000 + i);
        }
        match t.check("bob", 1010) {
            Err(ApiError::TooManyRequests {
                retry_after_secs, ..
            }) => assert_eq!(retry_after_secs, 890),
            other => panic!("expected 429, got {other:?}"),
        }
        assert!(t.check("alice", 1010).is_ok());
        assert!(t.check("bob", 1900).is_ok(), "oldest failure aged out");
    }

    #[test]
    fn success_clears_failures() {
        let t = LoginThrottle::new(2, 900);
        t.record_failure("bob", 1);
        t.record_success("bob");
        t.record_failure("bob", 2);
        assert!(t.check("bob", 3).is_ok());
    }

    #[test]
    fn ip_limiter_answers_429_past_the_budget() {
        let l = IpLimiter::per_minute(2);
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        assert!(l.check(ip).is_ok() && l.check(ip).is_ok());
        assert!(matches!(l.check(ip), Err(ApiError::TooManyRequests { .. })));
        assert!(l.check("10.0.0.2".parse().unwrap()).is_ok());
    }

    #[test]
    fn forwarded_for_only_from_trusted_proxies() {
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_static("6.6.6.6, 203.0.113.9"),
        );
        let proxy: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let trusted = ["127.0.0.1".parse().unwrap()];
        assert_eq!(
            client_ip(proxy, &h, &trusted),
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            client_ip(proxy, &h, &[]),
            "127.0.0.1".parse::<IpAddr>().unwrap()
        );
    }
}
