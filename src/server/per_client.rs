//! A request rate per client address: at most `per_second` requests in any
//! one-second window, counted in a concurrent cache (no global lock).
//!
//! For the public documents (`/docs`, `/openapi.*`): each answer is large
//! (the docs page is 1.7 MB), so a few looping clients would otherwise take
//! the webhooks' capacity, rendering once per generation notwithstanding.

use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Addresses remembered at once.
const REMEMBERED: u64 = 100_000;

/// Requests per second per address.
#[derive(Debug)]
pub struct PerClientRate {
    per_second: u32,
    started: Instant,
    /// The address's current window (seconds since `started`) and its count.
    windows: moka::sync::Cache<IpAddr, (u64, u32)>,
}

impl PerClientRate {
    /// At most `per_second` requests per address.
    pub fn new(per_second: u32) -> Self {
        let windows = moka::sync::Cache::builder()
            .max_capacity(REMEMBERED)
            .time_to_idle(Duration::from_secs(2))
            .build();
        Self {
            per_second,
            started: Instant::now(),
            windows,
        }
    }

    /// Counts a request from `client`; whether it is within the rate.
    pub fn admit(&self, client: Option<IpAddr>) -> bool {
        let Some(ip) = client else { return true };
        let now = self.started.elapsed().as_secs();
        let entry = self.windows.entry(ip).and_upsert_with(|window| {
            match window.map(|entry| entry.into_value()) {
                Some((second, count)) if second == now => (now, count.saturating_add(1)),
                _ => (now, 1),
            }
        });
        entry.into_value().1 <= self.per_second
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_past_its_rate_is_refused_and_another_is_not() {
        let rate = PerClientRate::new(2);
        let one = Some("192.0.2.1".parse().unwrap());
        let other = Some("192.0.2.2".parse().unwrap());

        let first: Vec<bool> = (0..3).map(|_| rate.admit(one)).collect();

        assert_eq!(first, [true, true, false]);
        assert!(rate.admit(other));
    }
}
