//! Brute-force brakes for login and signup.
//!
//! - Per account: at most N password checks that failed within a window, whatever the number
//!   of client addresses. The attempt is *reserved* before argon2 runs, in one critical section
//!   with the check, so a burst of concurrent guesses cannot all pass the check before any
//!   failure is recorded; it stays charged only if the password was checked and wrong
//!   (`Reservation`). While an account's budget is
//!   spent its logins answer 429 whatever password is offered (otherwise the lock would be an
//!   oracle: "429 unless the password is right").
//! - Per device (OWASP "device cookies"): a browser that has logged in to an account before
//!   holds a signed, HttpOnly device cookie for it (`auth::device`). Its attempts are counted
//!   against its own budget, never the account's, so an attacker who spends the account's
//!   budget from elsewhere does not lock the owner out of their own browser, and guesses from
//!   everywhere else stay bounded per account.
//! - Per IP: a token bucket (the `governor` crate) on signup and login, against one client
//!   sweeping many usernames. IPv6 clients are keyed on their /64, the block one subscriber
//!   usually holds, so rotating through addresses of one's own block buys nothing.
//!
//! Memory is bounded: keys are validated, folded usernames (at most 32 bytes) or device ids, a
//! key holds at most N timestamps, and past `MAX_KEYS` the entries with the fewest (then the
//! oldest) failures are dropped first, so a spray of few-failure budgets cannot push out an
//! account under attack.
//! All of it is in memory: a restart forgets it, which at worst grants one more window of N
//! guesses, a fair trade against a database write on every failed login.

use std::{
    collections::{HashMap, VecDeque},
    net::{IpAddr, Ipv6Addr, SocketAddr},
    num::NonZeroU32,
    sync::Mutex,
};

use axum::http::HeaderMap;
use governor::{clock::Clock, DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::error::ApiError;

/// Whose budget a login attempt is counted against.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Budget {
    /// A client without a valid device cookie for the account: the folded username.
    Account(String),
    /// A browser holding a valid device cookie for the account: its device id.
    Device(String),
}

/// Keys kept before the least-failed ones are dropped.
pub const MAX_KEYS: usize = 100_000;

pub struct LoginThrottle {
    failures: Mutex<HashMap<Budget, VecDeque<i64>>>,
    max_failures: usize,
    window_secs: i64,
    max_keys: usize,
}

impl LoginThrottle {
    pub fn new(max_failures: u32, window_secs: i64) -> Self {
        Self::with_capacity(max_failures, window_secs, MAX_KEYS)
    }

    pub fn with_capacity(max_failures: u32, window_secs: i64, max_keys: usize) -> Self {
        Self {
            failures: Mutex::new(HashMap::new()),
            max_failures: max_failures as usize,
            window_secs,
            max_keys: max_keys.max(2),
        }
    }

    /// Reserves one attempt on `budget` at `now`, or `Err(429)` if the budget is spent. The
    /// reservation counts as a failure only once `failed()` says so: dropped unsettled (the
    /// password was never checked: the request was cancelled, timed out, or the hash queue was
    /// full) it is refunded, so nobody is charged for a verdict nobody saw.
    pub fn reserve(&self, budget: &Budget, now: i64) -> Result<Reservation<'_>, ApiError> {
        let mut map = self
            .failures
            .lock()
            .map_err(|_| anyhow::anyhow!("throttle poisoned"))?;
        if let Some(q) = map.get_mut(budget) {
            while q.front().is_some_and(|t| *t + self.window_secs <= now) {
                q.pop_front();
            }
            if q.len() >= self.max_failures {
                let retry = q
                    .front()
                    .map(|t| t + self.window_secs - now)
                    .unwrap_or(1)
                    .max(1);
                let whose = match budget {
                    Budget::Account(_) => "this account",
                    Budget::Device(_) => "this account on this device",
                };
                return Err(ApiError::TooManyRequests {
                    detail: format!(
                        "too many failed logins for {whose}; try again in {}",
                        human_secs(retry)
                    ),
                    retry_after_secs: retry as u64,
                });
            }
        } else if map.len() >= self.max_keys {
            self.make_room(&mut map, now);
        }
        map.entry(budget.clone()).or_default().push_back(now);
        Ok(Reservation {
            throttle: self,
            budget: budget.clone(),
            at: now,
            settled: false,
        })
    }

    /// Gives back a reservation made at `at`: the password was right (or was never checked).
    pub fn refund(&self, budget: &Budget, at: i64) {
        if let Ok(mut map) = self.failures.lock() {
            if let Some(q) = map.get_mut(budget) {
                if let Some(i) = q.iter().rposition(|t| *t == at) {
                    q.remove(i);
                }
                if q.is_empty() {
                    map.remove(budget);
                }
            }
        }
    }

    /// Forgets every failure on `budget` (the owner's device logged in: its typos are forgiven).
    pub fn clear(&self, budget: &Budget) {
        if let Ok(mut map) = self.failures.lock() {
            map.remove(budget);
        }
    }

    /// How many budgets are tracked (memory-bound tests).
    pub fn len(&self) -> usize {
        self.failures.lock().map(|m| m.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops aged entries; if that is not enough, keeps the half with the most failures (ties:
    /// the most recent failure stays), so a spray of few-failure budgets cannot push out one
    /// that is under attack.
    fn make_room(&self, map: &mut HashMap<Budget, VecDeque<i64>>, now: i64) {
        let w = self.window_secs;
        map.retain(|_, q| q.back().is_some_and(|t| *t + w > now));
        if map.len() < self.max_keys {
            return;
        }
        let mut ranked: Vec<(usize, i64, Budget)> = map
            .iter()
            .map(|(b, q)| (q.len(), q.back().copied().unwrap_or(0), b.clone()))
            .collect();
        ranked.sort_unstable_by_key(|(n, last, _)| (*n, *last));
        let drop = ranked.len() - self.max_keys / 2;
        for (_, _, b) in ranked.into_iter().take(drop) {
            map.remove(&b);
        }
    }
}

/// One reserved login attempt (see `LoginThrottle::reserve`).
#[must_use = "a reservation dropped unsettled is refunded"]
pub struct Reservation<'a> {
    throttle: &'a LoginThrottle,
    budget: Budget,
    at: i64,
    settled: bool,
}

impl Reservation<'_> {
    /// The password was wrong: the attempt stays counted.
    pub fn failed(mut self) {
        self.settled = true;
    }

    /// The password was right: the attempt is given back, and on the owner's own device every
    /// earlier typo is forgiven too.
    pub fn succeeded(mut self) {
        self.settled = true;
        match &self.budget {
            Budget::Device(_) => self.throttle.clear(&self.budget),
            Budget::Account(_) => self.throttle.refund(&self.budget, self.at),
        }
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if !self.settled {
            self.throttle.refund(&self.budget, self.at);
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
        self.limiter.check_key(&bucket_of(ip)).map_err(|not_until| {
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

/// The key an address is budgeted under: IPv4 as it is, IPv6 by its /64 (an IPv4-mapped IPv6
/// address counts as the IPv4 address it maps).
pub fn bucket_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
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

    fn acct(s: &str) -> Budget {
        Budget::Account(s.into())
    }

    #[test]
    fn locks_after_max_failures_and_unlocks_after_window() {
        let t = LoginThrottle::new(3, 900);
        for i in 0..3 {
            t.reserve(&acct("bob"), 1000 + i).unwrap().failed();
        }
        match t.reserve(&acct("bob"), 1010) {
            Err(ApiError::TooManyRequests {
                retry_after_secs, ..
            }) => assert_eq!(retry_after_secs, 890),
            Err(other) => panic!("expected 429, got {other:?}"),
            Ok(_) => panic!("expected 429, got a reservation"),
        }
        assert!(t.reserve(&acct("alice"), 1010).is_ok());
        assert!(
            t.reserve(&acct("bob"), 1900).is_ok(),
            "oldest failure aged out"
        );
    }

    #[test]
    fn only_a_wrong_password_is_charged() {
        let t = LoginThrottle::new(2, 900);
        t.reserve(&acct("bob"), 1).unwrap().failed();
        // Right password, and an attempt dropped unchecked (cancelled, timed out, shed): free.
        t.reserve(&acct("bob"), 2).unwrap().succeeded();
        drop(t.reserve(&acct("bob"), 3).unwrap());
        t.reserve(&acct("bob"), 4).unwrap().failed();
        assert!(t.reserve(&acct("bob"), 5).is_err(), "two failures charged");
    }

    #[test]
    fn a_device_has_its_own_budget_and_its_owner_is_forgiven_on_success() {
        let t = LoginThrottle::new(2, 900);
        t.reserve(&acct("bob"), 1).unwrap().failed();
        t.reserve(&acct("bob"), 2).unwrap().failed();
        assert!(t.reserve(&acct("bob"), 3).is_err());
        let dev = Budget::Device("d1".into());
        t.reserve(&dev, 3).unwrap().failed();
        t.reserve(&dev, 4).unwrap().succeeded();
        t.reserve(&dev, 5).unwrap().failed();
        t.reserve(&dev, 6).unwrap().failed();
        assert!(t.reserve(&dev, 7).is_err());
    }

    #[test]
    fn memory_is_bounded_and_a_spray_cannot_evict_an_account_under_attack() {
        let t = LoginThrottle::with_capacity(5, 900, 100);
        for i in 5..9 {
            t.reserve(&acct("victim"), i).unwrap().failed();
        }
        // A spray whose budgets are as spent as the victim's, but older: still the victim stays.
        for i in 0..60 {
            for k in 0..4 {
                t.reserve(&acct(&format!("old{i}")), k).unwrap().failed();
            }
        }
        for i in 0..1000 {
            t.reserve(&acct(&format!("spray{i}")), 10).unwrap().failed();
        }
        assert!(t.len() <= 100, "{} keys", t.len());
        t.reserve(&acct("victim"), 11).unwrap().failed();
        assert!(
            t.reserve(&acct("victim"), 12).is_err(),
            "the victim's failures survived the spray"
        );
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
    fn ipv6_clients_share_their_64() {
        let l = IpLimiter::per_minute(2);
        assert!(l.check("2001:db8:1:2::1".parse().unwrap()).is_ok());
        assert!(l.check("2001:db8:1:2:ffff::9".parse().unwrap()).is_ok());
        assert!(matches!(
            l.check("2001:db8:1:2:abcd::7".parse().unwrap()),
            Err(ApiError::TooManyRequests { .. })
        ));
        assert!(l.check("2001:db8:1:3::1".parse().unwrap()).is_ok());
        assert_eq!(
            bucket_of("::ffff:192.0.2.1".parse().unwrap()),
            "192.0.2.1".parse::<IpAddr>().unwrap()
        );
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
