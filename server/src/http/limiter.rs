//! Sign-in throttling by (client address, account), with a wait that grows fourfold per attempt.
//!
//! It replaces a lock that five failures for an email set for fifteen minutes, whoever sent them:
//! anyone could keep a lead out for good by guessing wrongly every few minutes. Here each
//! (address, account) pair has its own allowance, so a stranger's guesses slow down only the
//! stranger; the owner signing in from their own address is never held up by them.
//!
//! The allowance is a ladder of GCRA limiters (governor, keyed): level `i` lets `5 + i` attempts
//! through at once and one more every `4^i` seconds, and an attempt must pass every level. Alone,
//! each is a plain rate; together, they make the k-th attempt in a row wait about `4^(k-6)`
//! seconds: five at once, then after 1 s, 4 s, 16 s, 1 min, 4 min, then one per 17 min. Waiting
//! lets every level fill up again, so a person who mistyped a few times is soon back to five.
//! Attempts count, not failures — a limiter cannot tell beforehand which an attempt will be —
//! which no person signing in by hand comes near.
//!
//! Keys are a hash of the pair (16 bytes), and IPv6 clients count by their /64 network (one
//! machine commonly has a whole /64 to pick addresses from). Counted per process: replicas each
//! count their own. Memory stays bounded: every 1,024 attempts the levels drop keys whose state
//! is as good as new (`retain_recent`), and past [`MAX_KEYS`] live keys (an address spraying
//! invented emails) the ladder starts over, with a warning, rather than grow.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DashMapStateStore;
use governor::{Quota, RateLimiter};
use sha2::{Digest, Sha256};

/// A hash of (client network, email).
type Key = [u8; 16];
type Level<C> = RateLimiter<Key, DashMapStateStore<Key>, C, NoOpMiddleware<<C as Clock>::Instant>>;

/// Rungs of the ladder: periods 1 s, 4 s, … 1,024 s (17 min).
const LEVELS: u32 = 6;
/// Attempts at once on the first rung; each rung above allows one more.
const FIRST_BURST: u32 = 5;
/// Live keys at most (per rung; ~40 bytes each) before the ladder starts over.
pub const MAX_KEYS: usize = 100_000;
/// Attempts between two clean-ups of keys that are as good as new.
const CLEAN_EVERY: u64 = 1024;

pub struct SignInThrottle<C: Clock = DefaultClock> {
    inner: Arc<Inner<C>>,
}

struct Inner<C: Clock> {
    clock: C,
    levels: RwLock<Vec<Level<C>>>,
    attempts: AtomicU64,
}

impl<C: Clock> Clone for SignInThrottle<C> {
    fn clone(&self) -> Self {
        SignInThrottle { inner: self.inner.clone() }
    }
}

impl Default for SignInThrottle {
    fn default() -> Self {
        SignInThrottle::with_clock(DefaultClock::default())
    }
}

impl<C: Clock + Clone> SignInThrottle<C> {
    pub fn with_clock(clock: C) -> Self {
        let levels = RwLock::new(ladder(&clock));
        SignInThrottle { inner: Arc::new(Inner { clock, levels, attempts: AtomicU64::new(0) }) }
    }

    /// Counts an attempt to sign in as `email` from `client`: `Err(wait)` when it must wait
    /// (the attempt is refused and nothing else happens), `Ok` when it may go ahead.
    pub fn attempt(&self, client: IpAddr, email: &str) -> Result<(), Duration> {
        self.upkeep();
        let key = key(client, email);
        let levels = self.inner.levels.read().unwrap_or_else(|e| e.into_inner());
        // From the shortest rung up: a refusal low down costs the rungs above nothing.
        for level in levels.iter() {
            if let Err(not_until) = level.check_key(&key) {
                return Err(not_until.wait_time_from(self.inner.clock.now()));
            }
        }
        Ok(())
    }

    /// Live keys (the largest rung's count).
    pub fn tracked(&self) -> usize {
        let levels = self.inner.levels.read().unwrap_or_else(|e| e.into_inner());
        levels.iter().map(Level::len).max().unwrap_or(0)
    }

    fn upkeep(&self) {
        if self.inner.attempts.fetch_add(1, Ordering::Relaxed) % CLEAN_EVERY != CLEAN_EVERY - 1 {
            return;
        }
        self.clean(MAX_KEYS);
    }

    /// Drops keys that are as good as new; starts over when more than `max` remain.
    fn clean(&self, max: usize) {
        let mut levels = self.inner.levels.write().unwrap_or_else(|e| e.into_inner());
        for level in levels.iter() {
            level.retain_recent();
            level.shrink_to_fit();
        }
        if levels.iter().any(|l| l.len() > max) {
            tracing::warn!(keys = max, "sign-in throttling tracks too many (address, account) pairs; starting over");
            *levels = ladder(&self.inner.clock);
        }
    }
}

fn ladder<C: Clock + Clone>(clock: &C) -> Vec<Level<C>> {
    (0..LEVELS)
        .map(|i| {
            let period = Duration::from_secs(4u64.pow(i));
            let burst = NonZeroU32::new(FIRST_BURST + i).expect("a burst of at least one");
            let quota = Quota::with_period(period).expect("a period above zero").allow_burst(burst);
            RateLimiter::dashmap_with_clock(quota, clock.clone())
        })
        .collect()
}

/// The throttling key of an attempt: the client's address (IPv6: its /64) and the email.
fn key(client: IpAddr, email: &str) -> Key {
    let mut hash = Sha256::new();
    match client.to_canonical() {
        IpAddr::V4(v4) => hash.update(v4.octets()),
        IpAddr::V6(v6) => hash.update(&v6.octets()[..8]),
    }
    hash.update([0]);
    hash.update(email.as_bytes());
    let digest = hash.finalize();
    let mut key = [0u8; 16];
    key.copy_from_slice(&digest[..16]);
    key
}

#[cfg(test)]
mod tests {
    use super::*;
    use governor::clock::FakeRelativeClock;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// `n` attempts from `from` as fast as allowed: the wait before each, in whole seconds.
    fn waits(
        throttle: &SignInThrottle<FakeRelativeClock>,
        clock: &FakeRelativeClock,
        from: &str,
        n: usize,
    ) -> Vec<u64> {
        let mut out = Vec::new();
        for _ in 0..n {
            let mut waited = Duration::ZERO;
            while let Err(wait) = throttle.attempt(ip(from), "lead@x.org") {
                clock.advance(wait);
                waited += wait;
            }
            out.push(waited.as_secs_f64().round() as u64);
        }
        out
    }

    #[test]
    fn the_wait_grows_fourfold_per_attempt_and_comes_back_down() {
        let clock = FakeRelativeClock::default();
        let throttle = SignInThrottle::with_clock(clock.clone());
        let from = "192.0.2.1";
        assert_eq!(waits(&throttle, &clock, from, 13), [0, 0, 0, 0, 0, 1, 3, 12, 48, 192, 768, 1024, 1024]);
        // Three hours of quiet: five at once again.
        clock.advance(Duration::from_secs(3 * 3600));
        assert_eq!(waits(&throttle, &clock, from, 6), [0, 0, 0, 0, 0, 1]);
    }

    #[test]
    fn a_strangers_attempts_never_hold_up_the_owner_elsewhere() {
        let clock = FakeRelativeClock::default();
        let throttle = SignInThrottle::with_clock(clock.clone());
        waits(&throttle, &clock, "203.0.113.9", 9);
        let refused = throttle.attempt(ip("203.0.113.9"), "lead@x.org").unwrap_err();
        assert!(refused >= Duration::from_secs(60), "the stranger waits: {refused:?}");
        assert!(throttle.attempt(ip("198.51.100.7"), "lead@x.org").is_ok(), "the owner from elsewhere");
        assert!(throttle.attempt(ip("203.0.113.9"), "other@x.org").is_ok(), "another account");
        // One IPv6 network is one client: a fresh address in the same /64 is not a fresh start.
        for _ in 0..5 {
            throttle.attempt(ip("2001:db8:1:2::1"), "lead@x.org").unwrap();
        }
        assert!(throttle.attempt(ip("2001:db8:1:2::ffff"), "lead@x.org").is_err());
        assert!(throttle.attempt(ip("2001:db8:1:3::1"), "lead@x.org").is_ok());
    }

    #[test]
    fn keys_are_bounded_and_quiet_ones_are_dropped() {
        let clock = FakeRelativeClock::default();
        let throttle = SignInThrottle::with_clock(clock.clone());
        for i in 0..300 {
            throttle.attempt(ip("192.0.2.1"), &format!("user{i}@x.org")).unwrap();
        }
        assert_eq!(throttle.tracked(), 300);
        throttle.clean(100);
        assert_eq!(throttle.tracked(), 0, "past the bound the ladder starts over");
        for i in 0..50 {
            throttle.attempt(ip("192.0.2.1"), &format!("user{i}@x.org")).unwrap();
        }
        clock.advance(Duration::from_secs(3 * 3600));
        throttle.clean(100);
        assert_eq!(throttle.tracked(), 0, "keys as good as new are dropped");
    }
}
