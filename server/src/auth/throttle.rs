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
//! The per-account and per-device budgets live in the database (`store::throttle`), so they hold
//! across instances (N instances behind one proxy still allow N guesses, not N × N) and across
//! restarts; a failed login already costs an argon2 verification, next to which the write is
//! small. Only validated, folded usernames (at most 32 bytes) or device ids become keys, and a
//! key holds at most N timestamps; budgets idle for a whole window are purged.
//! The per-IP bucket is in memory, per instance: N instances give an address N × the budget.

use std::{
    net::{IpAddr, Ipv6Addr, SocketAddr},
    num::NonZeroU32,
};

use axum::http::HeaderMap;
use governor::{clock::Clock, DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::{
    error::ApiError,
    store::{self, Db},
};

/// Whose budget a login attempt is counted against.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Budget {
    /// A client without a valid device cookie for the account: the folded username.
    Account(String),
    /// A browser holding a valid device cookie for the account: its device id.
    Device(String),
}

pub struct LoginThrottle {
    db: Db,
    max_failures: usize,
    window_secs: i64,
}

impl Budget {
    /// The budget's key in the store.
    fn key(&self) -> String {
        match self {
            Budget::Account(u) => format!("account:{u}"),
            Budget::Device(d) => format!("device:{d}"),
        }
    }
}

impl LoginThrottle {
    pub fn new(db: Db, max_failures: u32, window_secs: i64) -> Self {
        Self {
            db,
            max_failures: max_failures as usize,
            window_secs,
        }
    }

    /// Reserves one attempt on `budget` at `now`, or `Err(429)` if the budget is spent. The
    /// reservation counts as a failure only once `failed()` says so: dropped unsettled (the
    /// password was never checked: the request was cancelled, timed out, or the hash queue was
    /// full) it is refunded, so nobody is charged for a verdict nobody saw.
    pub async fn reserve(&self, budget: &Budget, now: i64) -> Result<Reservation, ApiError> {
        let (max, window) = (self.max_failures, self.window_secs);
        let verdict = store::throttle::update(&self.db, &budget.key(), now, |mut times| {
            times.retain(|t| t + window > now);
            if times.len() >= max {
                let retry = times.iter().min().map(|t| t + window - now).unwrap_or(1);
                return (times, Err(retry.max(1)));
            }
            times.push(now);
            (times, Ok(()))
        })
        .await?;
        if let Err(retry) = verdict {
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
        Ok(Reservation {
            db: self.db.clone(),
            budget: budget.clone(),
            at: now,
            settled: false,
        })
    }

    /// The accounts whose own budget is spent at `now` (their logins without a device cookie
    /// answer 429), by folded username, with when the budget frees up again.
    pub async fn locked_accounts(&self, now: i64) -> sqlx::Result<Vec<(String, i64)>> {
        let prefix = Budget::Account(String::new()).key();
        let budgets = store::throttle::with_prefix(&self.db, &prefix).await?;
        Ok(budgets
            .into_iter()
            .filter_map(|(key, mut times)| {
                times.retain(|t| t + self.window_secs > now);
                times.sort_unstable();
                // Free again once enough of the failures have left the window.
                let over = times.len().checked_sub(self.max_failures)?;
                Some((
                    key[prefix.len()..].to_owned(),
                    times[over] + self.window_secs,
                ))
            })
            .collect())
    }

    /// Forgets an account's failed logins (an admin's unlock, the account's deletion). Device
    /// budgets are the devices' own and stay.
    pub async fn forget_account(&self, folded_username: &str) -> sqlx::Result<()> {
        store::throttle::clear(&self.db, &Budget::Account(folded_username.into()).key()).await
    }

    /// Budgets kept (tests: no budget for usernames that cannot exist).
    pub async fn len(&self) -> sqlx::Result<i64> {
        store::throttle::count(&self.db).await
    }

    /// Forgets budgets whose newest attempt is a whole window old.
    pub async fn purge(&self, now: i64) -> sqlx::Result<u64> {
        store::throttle::purge(&self.db, now - self.window_secs).await
    }
}

/// Gives back one attempt made at `at`: the password was right (or was never checked).
async fn refund(db: &Db, budget: &Budget, at: i64) -> sqlx::Result<()> {
    store::throttle::settle(db, &budget.key(), &store::throttle::Settle::Refund(at)).await
}

/// One reserved login attempt (see `LoginThrottle::reserve`).
#[must_use = "a reservation dropped unsettled is refunded"]
pub struct Reservation {
    db: Db,
    budget: Budget,
    at: i64,
    settled: bool,
}

impl Reservation {
    /// The password was wrong: the attempt stays counted.
    pub fn failed(mut self) {
        self.settled = true;
    }

    /// The password was right: the attempt is to be given back, and on the owner's own device
    /// every earlier typo forgiven too, by [`Success::apply`] or inside the caller's own
    /// transaction (a login, in the commit that creates its session: one durable commit
    /// fewer). The reservation is settled from here on: a [`Success`] dropped unapplied leaves
    /// the attempt counted, the safe side (a login that failed after its password was checked
    /// costs its owner one attempt, and can never hand an attacker a free one).
    pub fn success(mut self) -> Success {
        self.settled = true;
        Success {
            budget: self.budget.key(),
            how: match self.budget {
                Budget::Device(_) => store::throttle::Settle::Clear,
                Budget::Account(_) => store::throttle::Settle::Refund(self.at),
            },
        }
    }
}

/// A right password's settlement of its reserved attempt, for the caller to apply inside its
/// own transaction (`store::throttle::settle_in`; see [`Reservation::success`]). Not `Clone`:
/// applied once, by whoever holds it.
#[derive(Debug, PartialEq, Eq)]
pub struct Success {
    /// The budget's key in the store.
    pub budget: String,
    pub how: store::throttle::Settle,
}

impl Success {
    /// Applies the settlement in a transaction of its own.
    pub async fn apply(self, db: &Db) -> sqlx::Result<()> {
        store::throttle::settle(db, &self.budget, &self.how).await
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if !self.settled {
            // Drop cannot wait: the refund runs on its own (a request cancelled mid-check is
            // gone; nobody waits for its answer).
            let (db, budget, at) = (self.db.clone(), self.budget.clone(), self.at);
            tokio::spawn(async move {
                if let Err(e) = refund(&db, &budget, at).await {
                    tracing::warn!(error = %e, "refunding an unchecked login attempt failed");
                }
            });
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

/// `d` in whole seconds, rounded up: a `Retry-After` that is never early.
fn whole_secs_up(d: std::time::Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
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
            let secs = whole_secs_up(wait);
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
    #[test]
    fn lock_times_read_as_people_say_them() {
        assert_eq!(super::human_secs(1), "1 seconds");
        assert_eq!(super::human_secs(119), "119 seconds");
        assert_eq!(super::human_secs(120), "2 minutes");
        assert_eq!(super::human_secs(121), "3 minutes");
    }

    #[test]
    fn waits_round_up_to_whole_seconds() {
        use std::time::Duration;
        assert_eq!(super::whole_secs_up(Duration::from_secs(2)), 2);
        assert_eq!(super::whole_secs_up(Duration::from_millis(2001)), 3);
        assert_eq!(super::whole_secs_up(Duration::from_nanos(1)), 1);
        assert_eq!(super::whole_secs_up(Duration::ZERO), 0);
    }

    use super::*;
    use axum::http::HeaderValue;

    fn acct(s: &str) -> Budget {
        Budget::Account(s.into())
    }

    async fn throttle(max: u32) -> (LoginThrottle, tempfile::TempDir) {
        let dir = tempfile::TempDir::new().unwrap();
        let db = Db::open(dir.path()).await.unwrap();
        (LoginThrottle::new(db, max, 900), dir)
    }

    #[tokio::test]
    async fn locks_after_max_failures_and_unlocks_after_window() {
        let (t, _dir) = throttle(3).await;
        for i in 0..3 {
            t.reserve(&acct("bob"), 1000 + i).await.unwrap().failed();
        }
        match t.reserve(&acct("bob"), 1010).await {
            Err(ApiError::TooManyRequests {
                retry_after_secs, ..
            }) => assert_eq!(retry_after_secs, 890),
            Err(other) => panic!("expected 429, got {other:?}"),
            Ok(_) => panic!("expected 429, got a reservation"),
        }
        assert!(t.reserve(&acct("alice"), 1010).await.is_ok());
        assert!(
            t.reserve(&acct("bob"), 1900).await.is_ok(),
            "oldest failure aged out"
        );
    }

    #[tokio::test]
    async fn only_a_wrong_password_is_charged() {
        let (t, _dir) = throttle(2).await;
        t.reserve(&acct("bob"), 1).await.unwrap().failed();
        // Right password, and an attempt dropped unchecked (cancelled, timed out, shed): free.
        t.reserve(&acct("bob"), 2)
            .await
            .unwrap()
            .success()
            .apply(&t.db)
            .await
            .unwrap();
        drop(t.reserve(&acct("bob"), 3).await.unwrap());
        // (The dropped one's refund runs on its own task: let it.)
        for _ in 0..100 {
            tokio::task::yield_now().await;
        }
        t.reserve(&acct("bob"), 4).await.unwrap().failed();
        assert!(
            t.reserve(&acct("bob"), 5).await.is_err(),
            "two failures charged"
        );
    }

    /// A login gives its right password's attempt back in the commit that creates its session
    /// (`store::sessions::create_settling`), and not at all when no session is made (the
    /// password changed while it was checked: the login is refused as wrong).
    #[tokio::test]
    async fn a_login_s_attempt_is_given_back_with_its_session_and_only_with_it() {
        use crate::store::{sessions, users};
        let (t, _dir) = throttle(2).await;
        let life = sessions::Lifetimes {
            refresh_idle: 60,
            session_max: 600,
            reuse_grace: 10,
        };
        let login = |name: &'static str, hash: &'static str, at: i64| {
            let t = &t;
            async move {
                let users::CreateUser::Created(user) =
                    users::create(&t.db, name, "the-hash", 0).await.unwrap()
                else {
                    unreachable!("a fresh name")
                };
                let success = t.reserve(&acct(name), at).await.unwrap().success();
                let new = sessions::NewSession {
                    user_id: &user.id,
                    password_hash: hash,
                    persistent: false,
                    dpop_bound: false,
                    user_agent: None,
                    ip: None,
                    oidc: None,
                };
                let budget = Some((success.budget.as_str(), &success.how));
                sessions::create_settling(&t.db, &new, budget, name, "", &[at as u8; 32], at, life)
                    .await
                    .unwrap()
            }
        };
        // Bob's password is right and his session is made: his attempt is given back, so after
        // one earlier failure he still has one guess left.
        t.reserve(&acct("bob"), 1).await.unwrap().failed();
        assert!(login("bob", "the-hash", 2).await.is_some());
        t.reserve(&acct("bob"), 3).await.unwrap().failed();
        assert!(t.reserve(&acct("bob"), 4).await.is_err(), "two failures");
        // Carol's password changed meanwhile (her row no longer holds the hash that was
        // checked): no session, and the attempt stays counted.
        t.reserve(&acct("carol"), 1).await.unwrap().failed();
        assert!(login("carol", "an-older-hash", 2).await.is_none());
        assert!(
            t.reserve(&acct("carol"), 3).await.is_err(),
            "a failure and the refused login"
        );
    }

    #[tokio::test]
    async fn a_device_has_its_own_budget_and_its_owner_is_forgiven_on_success() {
        let (t, _dir) = throttle(2).await;
        t.reserve(&acct("bob"), 1).await.unwrap().failed();
        t.reserve(&acct("bob"), 2).await.unwrap().failed();
        assert!(t.reserve(&acct("bob"), 3).await.is_err());
        let dev = Budget::Device("d1".into());
        t.reserve(&dev, 3).await.unwrap().failed();
        t.reserve(&dev, 4)
            .await
            .unwrap()
            .success()
            .apply(&t.db)
            .await
            .unwrap();
        t.reserve(&dev, 5).await.unwrap().failed();
        t.reserve(&dev, 6).await.unwrap().failed();
        assert!(t.reserve(&dev, 7).await.is_err());
    }

    #[tokio::test]
    async fn budgets_survive_a_restart_and_idle_ones_are_purged() {
        let dir = tempfile::TempDir::new().unwrap();
        let t = LoginThrottle::new(Db::open(dir.path()).await.unwrap(), 2, 900);
        t.reserve(&acct("bob"), 1000).await.unwrap().failed();
        t.reserve(&acct("bob"), 1001).await.unwrap().failed();
        t.reserve(&acct("carol"), 1500).await.unwrap().failed();
        // Another process on the same database (a restart, or a second instance).
        let again = LoginThrottle::new(Db::open(dir.path()).await.unwrap(), 2, 900);
        assert!(again.reserve(&acct("bob"), 1002).await.is_err());
        assert_eq!(
            again.purge(1901).await.unwrap(),
            1,
            "bob's newest failure is a window old"
        );
        assert_eq!(again.len().await.unwrap(), 1, "carol's is not");
        assert!(again.reserve(&acct("bob"), 1902).await.is_ok());
    }

    #[tokio::test]
    async fn concurrent_guesses_cannot_all_pass_the_check() {
        let (t, _dir) = throttle(3).await;
        let t = std::sync::Arc::new(t);
        let tries = (0..20).map(|_| {
            let t = t.clone();
            tokio::spawn(async move {
                t.reserve(&acct("bob"), 50)
                    .await
                    .map(Reservation::failed)
                    .is_ok()
            })
        });
        let mut granted = 0;
        for h in tries {
            granted += usize::from(h.await.unwrap());
        }
        assert_eq!(granted, 3);
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
