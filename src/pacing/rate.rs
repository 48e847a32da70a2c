//! A destination's `rate_limit`, on governor's GCRA limiter.
//!
//! The quota has a burst of one: two deliveries are always at least
//! `interval` apart (50 ms at `"20/s"`, 100 ms at `"600/m"`), so any window
//! of one period holds at most the rate plus one (the window's two ends),
//! and a backlog that drains after a quiet spell starts at the rate, not
//! with a period's worth at once. A `"600/m"` limit is `"10/s"`, evenly.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use crate::routes::RateLimit;

/// What [`Limiter::take`] allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Taken {
    /// Deliveries that may start now.
    pub count: usize,
    /// With fewer than asked: how long until the next may.
    pub wait: Option<Duration>,
}

impl Taken {
    /// All of `wanted`, as without a rate limit.
    pub fn all(wanted: usize) -> Self {
        Self {
            count: wanted,
            wait: None,
        }
    }
}

/// One destination's limiter, and the rate it was built for.
pub(super) struct Limiter {
    rate: RateLimit,
    cells: DefaultDirectRateLimiter,
}

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiter").field("rate", &self.rate).finish()
    }
}

impl Limiter {
    pub fn new(rate: RateLimit) -> Self {
        let interval = rate.interval().max(Duration::from_nanos(1));
        let quota = Quota::with_period(interval)
            .expect("the interval is above zero")
            .allow_burst(NonZeroU32::MIN);
        Self {
            rate,
            cells: RateLimiter::direct(quota),
        }
    }

    /// The rate it enforces.
    pub fn rate(&self) -> RateLimit {
        self.rate
    }

    /// Takes up to `wanted` deliveries now (each one is spent: taken and
    /// not used, it is lost, never saved for a burst later).
    pub fn take(&self, wanted: usize) -> Taken {
        let mut count = 0;
        while count < wanted {
            match self.cells.check() {
                Ok(()) => count += 1,
                Err(not_until) => {
                    let wait = not_until.wait_time_from(DefaultClock::default().now());
                    return Taken {
                        count,
                        wait: Some(wait),
                    };
                }
            }
        }
        Taken::all(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn per_second(events: u32) -> RateLimit {
        RateLimit {
            events,
            period: Duration::from_secs(1),
        }
    }

    #[test]
    fn one_delivery_at_a_time_then_a_wait_of_at_most_the_interval() {
        let limiter = Limiter::new(per_second(5));

        let first = limiter.take(4);
        let second = limiter.take(4);

        assert_eq!(first.count, 1, "no burst: one, then the interval");
        assert_eq!(second.count, 0);
        let wait = second.wait.expect("a wait");
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_millis(200),
            "{wait:?}"
        );
    }

    #[test]
    fn taking_nothing_spends_nothing() {
        let limiter = Limiter::new(per_second(1));

        assert_eq!(limiter.take(0), Taken::all(0));
        assert_eq!(limiter.take(1).count, 1);
    }
}
