//! The retry schedule: exponential backoff with jitter, capped, and a
//! downstream's `Retry-After`.

use std::time::{Duration, SystemTime};

use poem::http::StatusCode;

use crate::routes::RetryPolicy;

/// The longest `Retry-After` taken from a downstream.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);

/// The wait after the `failures`-th failed attempt (1 after the first).
///
/// `initial_backoff · 2^(failures - 1)`, capped at `max_backoff`, then a
/// random point between half of it and all of it (`jitter` in `[0, 1)`), so
/// that events which failed together do not all retry together. A `hint`
/// (the downstream's `Retry-After`) replaces the computed wait.
///
/// ```
/// use std::time::Duration;
/// use hookgate::queue::backoff::next_wait;
/// use hookgate::routes::RetryPolicy;
///
/// let policy = RetryPolicy {
///     max_attempts: 16,
///     initial_backoff: Duration::from_secs(5),
///     max_backoff: Duration::from_secs(3600),
/// };
/// assert_eq!(next_wait(&policy, 3, 0.999_999, None).as_secs(), 19); // 20 s, jittered
/// assert_eq!(next_wait(&policy, 3, 0.0, None), Duration::from_secs(10));
/// assert_eq!(next_wait(&policy, 30, 0.0, None), Duration::from_secs(1800));
/// ```
pub fn next_wait(
    policy: &RetryPolicy,
    failures: u32,
    jitter: f64,
    hint: Option<Duration>,
) -> Duration {
    if let Some(hint) = hint {
        return hint.min(MAX_RETRY_AFTER);
    }
    let doublings = failures.saturating_sub(1).min(31);
    let full = policy
        .initial_backoff
        .saturating_mul(1 << doublings)
        .min(policy.max_backoff);
    full.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0))
}

/// Whether a downstream status asks the caller to come back later, so its
/// `Retry-After` is honoured.
pub fn is_throttle(status: StatusCode) -> bool {
    matches!(
        status,
        StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
    )
}

/// A `Retry-After` value, delta-seconds or an HTTP date, as a wait from `now`
/// (zero for a date in the past); `None` when it is neither.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(initial_ms: u64, max_ms: u64) -> RetryPolicy {
        RetryPolicy {
            max_attempts: 10,
            initial_backoff: Duration::from_millis(initial_ms),
            max_backoff: Duration::from_millis(max_ms),
        }
    }

    #[test]
    fn the_wait_doubles_after_each_failure_up_to_max_backoff() {
        let policy = policy(100, 1000);
        let longest: Vec<u128> = (1..=6)
            .map(|n| next_wait(&policy, n, 1.0, None).as_millis())
            .collect();
        assert_eq!(longest, [100, 200, 400, 800, 1000, 1000]);
    }

    #[test]
    fn jitter_keeps_the_wait_between_half_and_all_of_the_backoff() {
        let policy = policy(1000, 60_000);
        for jitter in [0.0, 0.25, 0.5, 0.999] {
            let wait = next_wait(&policy, 2, jitter, None);
            assert!(wait >= Duration::from_millis(1000), "{wait:?}");
            assert!(wait <= Duration::from_millis(2000), "{wait:?}");
        }
    }

    #[test]
    fn a_huge_failure_count_does_not_overflow() {
        let policy = policy(5000, 36_000_000);
        assert_eq!(
            next_wait(&policy, u32::MAX, 1.0, None),
            Duration::from_secs(36_000)
        );
    }

    #[test]
    fn a_retry_after_hint_replaces_the_backoff_within_a_day() {
        let policy = policy(100, 200);
        let hint = Some(Duration::from_secs(30));
        assert_eq!(next_wait(&policy, 1, 0.0, hint), Duration::from_secs(30));
        let absurd = Some(Duration::from_secs(10 * 24 * 3600));
        assert_eq!(next_wait(&policy, 1, 0.0, absurd), MAX_RETRY_AFTER);
    }

    #[test]
    fn retry_after_is_read_as_seconds_or_as_an_http_date() {
        let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        let parse = |v| parse_retry_after(v, now);
        assert_eq!(parse(" 120 "), Some(Duration::from_secs(120)));
        assert_eq!(
            parse("Sun, 06 Nov 1994 08:50:37 GMT"),
            Some(Duration::from_secs(60))
        );
        assert_eq!(parse("Sun, 06 Nov 1994 08:00:00 GMT"), Some(Duration::ZERO));
        assert_eq!(parse("soon"), None);
        assert_eq!(parse("-5"), None);
    }

    #[test]
    fn only_429_and_503_are_throttles() {
        assert!(is_throttle(StatusCode::TOO_MANY_REQUESTS));
        assert!(is_throttle(StatusCode::SERVICE_UNAVAILABLE));
        assert!(!is_throttle(StatusCode::INTERNAL_SERVER_ERROR));
    }
}
