//! How fast a destination's queue is delivered, and when it is held back
//! altogether: its `rate_limit` and its circuit breaker's settings.

use std::fmt;
use std::time::Duration;

/// `rate_limit = "20/s"` or `"600/m"`: deliveries started at most, evenly
/// spaced (no burst: see `pacing::rate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Deliveries per `period`, at least 1.
    pub events: u32,
    /// One second or one minute.
    pub period: Duration,
}

impl RateLimit {
    /// The least time between two deliveries.
    pub fn interval(&self) -> Duration {
        self.period / self.events.max(1)
    }
}

impl fmt::Display for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = if self.period == Duration::from_secs(60) {
            "m"
        } else {
            "s"
        };
        write!(f, "{}/{unit}", self.events)
    }
}

/// `breaker = { failures, cooldown, max_cooldown }`: when a destination is
/// taken for down, and how often it is probed then.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerSettings {
    /// Failed attempts in a row (across events) that open the breaker.
    pub failures: u32,
    /// The wait before the first probe; doubled after each failed probe.
    pub cooldown: Duration,
    /// The longest wait between two probes.
    pub max_cooldown: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_limit_spaces_deliveries_evenly_over_its_period() {
        let per_second = RateLimit {
            events: 20,
            period: Duration::from_secs(1),
        };
        let per_minute = RateLimit {
            events: 600,
            period: Duration::from_secs(60),
        };

        assert_eq!(per_second.interval(), Duration::from_millis(50));
        assert_eq!(per_minute.interval(), Duration::from_millis(100));
        assert_eq!(
            (per_second.to_string(), per_minute.to_string()),
            ("20/s".into(), "600/m".into())
        );
    }
}
