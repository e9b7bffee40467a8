//! When and how long to wait before retrying a request.
//!
//! Decisions are plain functions so that they can be tested without a network:
//! [`is_retryable_status`] says which HTTP statuses are transient, [`parse_retry_after`]
//! reads `Retry-After`, and [`RetryPolicy`] bounds attempts, per-retry backoff and the
//! total time spent.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::{Duration, SystemTime};

/// Bounds on retrying one request: attempts, exponential backoff with jitter, total time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    max_attempts: u32,
    base_delay: Duration,
    max_delay: Duration,
    max_elapsed: Duration,
    max_retry_after: Duration,
}

impl Default for RetryPolicy {
    /// Five attempts, backoff from 200 ms doubling up to 10 s, at most 2 minutes in all,
    /// and a server's `Retry-After` honoured up to 60 s.
    fn default() -> Self {
        Self {
            max_attempts: 5,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(10),
            max_elapsed: Duration::from_secs(120),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// A policy for tests: the default attempts and `Retry-After` handling, but backoff
    /// of a few milliseconds so that fault-injection tests run quickly.
    pub fn fast() -> Self {
        Self {
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
            ..Self::default()
        }
    }

    /// A policy that makes every request exactly once.
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// Sets the number of attempts, including the first one (at least 1).
    #[must_use]
    pub fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// Sets the delay before the first retry and the cap of the doubling delay.
    #[must_use]
    pub fn with_backoff(mut self, base: Duration, max: Duration) -> Self {
        self.base_delay = base;
        self.max_delay = max.max(base);
        self
    }

    /// Sets the total time after which no further attempt starts. It also bounds each
    /// attempt of a request for a document (manifest, token, tag page, config headers): one
    /// still unanswered then fails with [`crate::RegistryError::TimedOut`]. Blob bodies are
    /// not bounded by it (a large layer takes what it takes; stalls end with the read timeout).
    #[must_use]
    pub fn with_max_elapsed(mut self, max: Duration) -> Self {
        self.max_elapsed = max;
        self
    }

    /// Sets the longest `Retry-After` the client is willing to wait; a server asking for
    /// longer makes the request fail at once.
    #[must_use]
    pub fn with_max_retry_after(mut self, max: Duration) -> Self {
        self.max_retry_after = max;
        self
    }

    /// The number of attempts, including the first one.
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The total time after which no further attempt starts.
    pub fn max_elapsed(&self) -> Duration {
        self.max_elapsed
    }

    /// The delay before retry number `retry` (1 for the first retry): `base · 2^(retry-1)`
    /// capped at the maximum, then "equal jitter": a uniformly random point in its upper
    /// half, so that concurrent clients spread out but never retry immediately.
    /// `unit` is a random number in `[0, 1)`.
    pub fn backoff(&self, retry: u32, unit: f64) -> Duration {
        let exponent = retry.saturating_sub(1).min(30);
        let delay = self
            .base_delay
            .saturating_mul(1 << exponent)
            .min(self.max_delay);
        let half = delay / 2;
        half + half.mul_f64(unit.clamp(0.0, 1.0))
    }

    /// Decides whether to make attempt `attempts + 1` and how long to wait first.
    ///
    /// `elapsed` is the time since the first attempt started and `retry_after` what the
    /// server asked for, if anything. Returns `None` when the attempts or the total time
    /// are used up, or when the server asks for a longer wait than the policy allows.
    pub fn next_delay(
        &self,
        attempts: u32,
        elapsed: Duration,
        retry_after: Option<Duration>,
    ) -> Option<Duration> {
        if attempts >= self.max_attempts {
            return None;
        }
        let backoff = self.backoff(attempts, random_unit());
        let delay = match retry_after {
            Some(asked) if asked > self.max_retry_after => return None,
            Some(asked) => asked.max(backoff),
            None => backoff,
        };
        if elapsed.saturating_add(delay) > self.max_elapsed {
            return None;
        }
        Some(delay)
    }
}

/// Whether an HTTP status is worth retrying: request timeout (408), too many requests
/// (429) and the transient server errors 500, 502, 503 and 504. Every other status,
/// in particular 400, 401, 403 and 404, is final.
pub fn is_retryable_status(status: u16) -> bool {
    matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
}

/// Parses a `Retry-After` value: either delay seconds (`120`) or an HTTP date, which is
/// turned into the time left from `now` (zero when it is in the past). Returns `None`
/// for anything else.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return value.parse::<u64>().ok().map(Duration::from_secs);
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

/// A random number in `[0, 1)` for jitter, from the standard library's randomly keyed
/// hasher (no cryptographic quality needed, no extra dependency).
fn random_unit() -> f64 {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(0x9e37_79b9_7f4a_7c15);
    let bits = hasher.finish() >> 11; // 53 random bits fit an f64 mantissa exactly
    #[allow(clippy::cast_precision_loss)]
    let unit = bits as f64 / (1_u64 << 53) as f64;
    unit
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn retryable_statuses_are_exactly_the_transient_ones() {
        let retryable: Vec<u16> = (100..=599).filter(|s| is_retryable_status(*s)).collect();
        assert_eq!(retryable, vec![408, 429, 500, 502, 503, 504]);
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(parse_retry_after("1", now), Some(Duration::from_secs(1)));
        assert_eq!(
            parse_retry_after(" 120 ", now),
            Some(Duration::from_secs(120))
        );
        let later = httpdate::fmt_http_date(now + Duration::from_secs(30));
        assert_eq!(
            parse_retry_after(&later, now),
            Some(Duration::from_secs(30))
        );
        let earlier = httpdate::fmt_http_date(now - Duration::from_secs(30));
        assert_eq!(parse_retry_after(&earlier, now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("-1", now), None);
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("", now), None);
    }

    #[test]
    fn backoff_doubles_with_jitter_in_upper_half_and_caps() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.backoff(1, 0.0), Duration::from_millis(100));
        assert_eq!(policy.backoff(1, 1.0), Duration::from_millis(200));
        assert_eq!(policy.backoff(2, 0.0), Duration::from_millis(200));
        assert_eq!(policy.backoff(3, 0.5), Duration::from_millis(600));
        assert_eq!(policy.backoff(40, 1.0), Duration::from_secs(10));
        let random = policy.backoff(2, random_unit());
        assert!(random >= Duration::from_millis(200) && random <= Duration::from_millis(400));
    }

    #[test]
    fn next_delay_bounds_attempts_time_and_retry_after() {
        let policy = RetryPolicy::fast().with_max_attempts(3);
        assert!(policy.next_delay(1, Duration::ZERO, None).is_some());
        assert!(policy.next_delay(2, Duration::ZERO, None).is_some());
        assert_eq!(policy.next_delay(3, Duration::ZERO, None), None);
        // Retry-After is honoured even when it exceeds the backoff…
        assert_eq!(
            policy.next_delay(1, Duration::ZERO, Some(Duration::from_secs(2))),
            Some(Duration::from_secs(2))
        );
        // …but not beyond the policy's cap or the total time.
        assert_eq!(
            policy.next_delay(1, Duration::ZERO, Some(Duration::from_secs(61))),
            None
        );
        let short = RetryPolicy::fast().with_max_elapsed(Duration::from_secs(1));
        assert_eq!(
            short.next_delay(1, Duration::from_millis(500), Some(Duration::from_secs(1))),
            None
        );
        assert_eq!(
            RetryPolicy::none().next_delay(1, Duration::ZERO, None),
            None
        );
    }

    #[test]
    fn random_unit_is_in_range() {
        for _ in 0..100 {
            let unit = random_unit();
            assert!((0.0..1.0).contains(&unit));
        }
    }
}
