//! The sign-in rate limit: five failed attempts for one email in fifteen minutes lock it for the
//! rest of that window. Counted per process (replicas each count their own).
//!
//! The failures live in a bounded cache (moka) whose entries expire once an email has been quiet
//! for the window, so the map cannot grow with every address an attacker tries.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use moka::sync::Cache;

const MAX_FAILURES: usize = 5;
const FAILURE_WINDOW: Duration = Duration::from_secs(15 * 60);
/// Emails tracked at most; beyond it the least recently used are forgotten first.
const MAX_EMAILS: u64 = 100_000;

#[derive(Clone)]
pub struct LoginLimiter {
    failures: Cache<String, Arc<Mutex<Vec<Instant>>>>,
}

impl Default for LoginLimiter {
    fn default() -> Self {
        LoginLimiter { failures: Cache::builder().max_capacity(MAX_EMAILS).time_to_idle(FAILURE_WINDOW).build() }
    }
}

impl LoginLimiter {
    /// How long until `email` may try again, if it is locked.
    pub fn locked_for(&self, email: &str) -> Option<Duration> {
        let list = self.failures.get(email)?;
        let mut list = list.lock().unwrap_or_else(|e| e.into_inner());
        list.retain(|t| t.elapsed() < FAILURE_WINDOW);
        (list.len() >= MAX_FAILURES).then(|| FAILURE_WINDOW.saturating_sub(list[0].elapsed()))
    }

    pub fn failed(&self, email: &str) {
        let list = self.failures.get_with(email.to_string(), Default::default);
        list.lock().unwrap_or_else(|e| e.into_inner()).push(Instant::now());
    }

    pub fn succeeded(&self, email: &str) {
        self.failures.invalidate(email);
    }

    /// Emails currently tracked (after pending evictions ran).
    pub fn tracked(&self) -> u64 {
        self.failures.run_pending_tasks();
        self.failures.entry_count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limiter_locks_after_five_failures() {
        let l = LoginLimiter::default();
        for _ in 0..4 {
            l.failed("a@x.org");
        }
        assert!(l.locked_for("a@x.org").is_none());
        l.failed("a@x.org");
        assert!(l.locked_for("a@x.org").is_some());
        assert!(l.locked_for("b@x.org").is_none(), "per email");
        l.succeeded("a@x.org");
        assert!(l.locked_for("a@x.org").is_none());
    }

    #[test]
    fn the_limiter_is_bounded() {
        let l = LoginLimiter { failures: Cache::builder().max_capacity(100).time_to_idle(FAILURE_WINDOW).build() };
        for i in 0..1000 {
            l.failed(&format!("user{i}@x.org"));
        }
        assert!(l.tracked() <= 100, "tracked {}", l.tracked());
    }
}
