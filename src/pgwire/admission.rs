//! Admission: the `[limits]` rates, enforced with `governor` (GCRA) per
//! client address (and user), so one misbehaving client is slowed down
//! without touching the others.
//!
//! - `connections_per_second`, per client address: excess startups are
//!   refused with FATAL `53300`.
//! - `statements_per_second`, per client address and user: excess
//!   statements get `53400` (held back until the next would be admitted)
//!   and the connection stays usable.
//! - `failed_logins_per_minute`, per client address: beyond it the
//!   address is locked out for `failed_login_lockout`; its startups are
//!   refused with FATAL `53300` until then.
//!
//! A rate of 0 turns its limit off (the default: no cost at all). Each
//! refusal is counted (`stemedb_rate_limited_total{limit}`) and logged.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::clock::Clock;
use governor::{DefaultKeyedRateLimiter, Quota};

use crate::error::{Error, Result};
use crate::monitor;

/// SQLSTATE of a statement over its rate (configuration_limit_exceeded).
pub const RATE_LIMITED: &str = crate::error::sqlstate::CONFIGURATION_LIMIT_EXCEEDED;

/// The rates, as configured (0 = no limit).
#[derive(Debug, Clone, Default)]
pub struct Rates {
    pub connections_per_second: u32,
    pub statements_per_second: u32,
    pub failed_logins_per_minute: u32,
    pub failed_login_lockout: Duration,
}

/// A limiter of `rate` per key, or none for a rate of 0.
fn limiter<K: Hash + Eq + Clone>(
    rate: u32,
    quota: fn(NonZeroU32) -> Quota,
) -> Option<DefaultKeyedRateLimiter<K>> {
    NonZeroU32::new(rate).map(|n| DefaultKeyedRateLimiter::keyed(quota(n)))
}

#[derive(Default)]
pub struct Admission {
    rates: Rates,
    connections: Option<DefaultKeyedRateLimiter<IpAddr>>,
    statements: Option<DefaultKeyedRateLimiter<(IpAddr, String)>>,
    failed_logins: Option<DefaultKeyedRateLimiter<IpAddr>>,
    /// Addresses locked out, until when.
    locked: Mutex<HashMap<IpAddr, Instant>>,
}

impl Admission {
    pub fn new(rates: Rates) -> Admission {
        Admission {
            connections: limiter(rates.connections_per_second, Quota::per_second),
            statements: limiter(rates.statements_per_second, Quota::per_second),
            failed_logins: limiter(rates.failed_logins_per_minute, Quota::per_minute),
            locked: Mutex::default(),
            rates,
        }
    }

    fn locked(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Instant>> {
        self.locked.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A client at `ip` starts a connection: the reason and message to
    /// refuse it with, if it must be.
    pub fn admit_connection(&self, ip: IpAddr) -> Result<(), (&'static str, String)> {
        if self.failed_logins.is_some() {
            let mut locked = self.locked();
            match locked.get(&ip) {
                Some(until) if *until > Instant::now() => {
                    monitor::connection_refused("locked_out");
                    let left = until.saturating_duration_since(Instant::now());
                    return Err((
                        "locked_out",
                        format!(
                            "too many failed logins from {ip}: locked out for another {}s",
                            left.as_secs().max(1)
                        ),
                    ));
                }
                Some(_) => {
                    locked.remove(&ip);
                }
                None => {}
            }
        }
        if let Some(limiter) = &self.connections
            && limiter.check_key(&ip).is_err()
        {
            monitor::rate_limited("connections");
            monitor::connection_refused("rate_limit");
            return Err((
                "rate_limit",
                format!(
                    "too many connections from {ip}: more than {} per second ([limits] connections_per_second)",
                    self.rates.connections_per_second
                ),
            ));
        }
        Ok(())
    }

    /// A login from `ip` failed; past the rate, the address is locked out.
    pub fn login_failed(&self, ip: IpAddr) {
        if let Some(limiter) = &self.failed_logins
            && limiter.check_key(&ip).is_err()
        {
            monitor::rate_limited("failed_logins");
            let until = Instant::now() + self.rates.failed_login_lockout;
            tracing::warn!(
                target: "stemedb::audit",
                client = %ip,
                lockout = ?self.rates.failed_login_lockout,
                "too many failed logins: address locked out"
            );
            self.locked().insert(ip, until);
        }
    }

    /// Whether statements are limited at all.
    pub fn limits_statements(&self) -> bool {
        self.statements.is_some()
    }

    /// `user` at `ip` sends a statement: beyond its rate, `53400` and how
    /// long to hold that answer back — until the client's next statement
    /// would be admitted (at most a second). A client that waits for each
    /// answer is thus slowed to its rate instead of spinning on refusals,
    /// which would take CPU from everyone else.
    pub fn admit_statement(&self, ip: IpAddr, user: &str) -> Result<(), (Error, Duration)> {
        let Some(limiter) = &self.statements else {
            return Ok(());
        };
        let not_until = match limiter.check_key(&(ip, user.to_string())) {
            Ok(_) => return Ok(()),
            Err(not_until) => not_until,
        };
        monitor::rate_limited("statements");
        tracing::debug!(client = %ip, user, "statement over the rate limit");
        let wait = not_until
            .wait_time_from(limiter.clock().now())
            .min(Duration::from_secs(1));
        let error = Error::new(
            RATE_LIMITED,
            format!(
                "rate limit exceeded: more than {} statements per second from {ip} as \"{user}\" \
                 ([limits] statements_per_second); retry later",
                self.rates.statements_per_second
            ),
        );
        Err((error, wait))
    }

    /// Forgets the state of clients that have been quiet (bounded memory
    /// however many addresses come and go).
    pub fn forget_quiet(&self) {
        for limiter in [&self.connections, &self.failed_logins]
            .into_iter()
            .flatten()
        {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        if let Some(limiter) = &self.statements {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        let now = Instant::now();
        self.locked().retain(|_, until| *until > now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, last])
    }

    #[test]
    fn statements_over_the_rate_are_refused_per_address_and_user() {
        let admission = Admission::new(Rates {
            statements_per_second: 5,
            ..Rates::default()
        });
        let refused = (0..50)
            .filter(|_| admission.admit_statement(ip(1), "a").is_err())
            .count();
        assert!(refused >= 40, "{refused} of 50 refused");
        let (error, wait) = admission.admit_statement(ip(1), "a").unwrap_err();
        assert_eq!(error.code, RATE_LIMITED);
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_millis(200),
            "{wait:?}"
        );
        // Another address, or another user, has its own budget.
        assert!(admission.admit_statement(ip(2), "a").is_ok());
        assert!(admission.admit_statement(ip(1), "b").is_ok());
    }

    #[test]
    fn failed_logins_lock_the_address_out() {
        let admission = Admission::new(Rates {
            failed_logins_per_minute: 3,
            failed_login_lockout: Duration::from_secs(60),
            ..Rates::default()
        });
        for _ in 0..3 {
            admission.login_failed(ip(1));
            assert!(admission.admit_connection(ip(1)).is_ok());
        }
        admission.login_failed(ip(1));
        let (reason, message) = admission.admit_connection(ip(1)).unwrap_err();
        assert_eq!(reason, "locked_out");
        assert!(message.contains("locked out"), "{message}");
        assert!(admission.admit_connection(ip(2)).is_ok());
    }

    #[test]
    fn no_limits_by_default() {
        let admission = Admission::new(Rates::default());
        for _ in 0..1000 {
            assert!(admission.admit_statement(ip(1), "a").is_ok());
            assert!(admission.admit_connection(ip(1)).is_ok());
            admission.login_failed(ip(1));
        }
    }
}
